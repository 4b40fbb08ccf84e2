//! Google Cloud Retail v2 user events: `write` per event through the consumers, and the admin
//! calls `collect`, `import`, `purge` and `rejoin` on the backend.
//!
//! A batch's writes go out side by side within the consumer's `max_in_flight` (each event
//! carries its `eventTime`). The admin calls run on the caller's thread, outside the
//! consumer's lanes, so a long import never holds up event delivery.
//!
//! ```text
//! track ─► UserEvent ─► POST /v2/{parent}/userEvents:write?$alt=json;enum-encoding=int[&writeAsync=true]
//! Retail::collect  ─► GET  /v2/{parent}/userEvents:collect?userEvent=<json>&uri=…&ets=…
//! Retail::import   ─► POST /v2/{parent}/userEvents:import   (inline source, in chunks) ─► Operation, polled
//! Retail::purge    ─► POST /v2/{parent}/userEvents:purge    {filter, force}            ─► Operation, polled
//! Retail::rejoin   ─► POST /v2/{parent}/userEvents:rejoin   {userEventRejoinScope}     ─► Operation, polled
//! ```
//!
//! The neutral event maps to a UserEvent: the event name is the `eventType`, the anonymous id
//! the `visitorId` (else the user id), the user id `userInfo.userId`, the interaction block the
//! product details, purchase transaction, search fields, page and attribution; every other
//! property becomes a custom attribute (`text` or `numbers`). Retail's rules are checked at the
//! call.

mod admin;
mod builder;
mod client;
mod requests;
mod rules;
mod settings;
mod wire;

use std::time::Duration;

pub use admin::{Collect, ImportProgress, RejoinScope};
pub use builder::RetailBuilder;
pub use client::Retail;
pub use settings::RetailSettings;

/// The endpoint of the Retail API.
pub const DEFAULT_ENDPOINT: &str = "https://retail.googleapis.com";
/// The user event types Retail knows.
pub const EVENT_TYPES: [&str; 8] = [
    "add-to-cart",
    "remove-from-cart",
    "category-page-view",
    "detail-page-view",
    "home-page-view",
    "purchase-complete",
    "search",
    "shopping-cart-page-view",
];
/// Default for [`RetailBuilder::import_chunk`].
pub const DEFAULT_IMPORT_CHUNK: usize = 5_000;
/// Default deadline of a long-running operation.
pub const DEFAULT_OPERATION_DEADLINE: Duration = Duration::from_secs(600);
