//! Gravity Engine: `{client_id, event_list}` envelopes, gzip, and the debug mode, as
//! gravity-python-sdk 1.0.9 sends them, without its bugs.
//!
//! ```text
//!  batch ──group by envelope (client_id + # preset keys)──► one request per group
//!    {"#ip": …, "#time": …, "client_id": "c1", "event_list": [{"type": "track", "event": …,
//!     "time": …, "time_free": false, "properties": {"$lib": "trackflow", …}}, …]}
//!    ──json (", " / ": ", ASCII) ──gzip──► POST {url with ?access_token=…}
//! ```
//!
//! Where the SDK is wrong we do what it meant:
//!
//! * A batch never merges users. The SDK concatenates every queued event into the *first*
//!   envelope, crediting all of them to its `client_id`; we send one envelope per client and
//!   preset keys.
//! * Retries back off (the SDK spins with none) and follow the transport's policy.
//! * Property names are checked with the anchored rule the SDK's regex meant.
//!
//! Order, with requests in flight side by side: one client's envelopes of a batch go one
//! after another, and a batch holding a client's profile operations starts only when no
//! batch in flight holds that client's (its [`Backend::order_key`](crate::Backend::order_key)), so `user_set` then
//! `user_unset` land in that order. Track events carry their own time and may overtake.

mod builder;
mod client;
mod requests;
mod rules;
mod settings;
mod wire;

pub use builder::GravityBuilder;
pub use client::{ClientId, Gravity};
pub use settings::GravitySettings;

/// The SDK's largest batch, and our clamp.
pub const MAX_BATCH: usize = 200;
/// Default for [`GravityBuilder::max_batch`] (the SDK's default `batch`).
pub const DEFAULT_MAX_BATCH: usize = 20;
/// The events a consumer's delivery takes for Gravity when its `max_batch` is not set
/// ([`Backend::default_batch`](crate::Backend::default_batch)).
pub const DEFAULT_CONSUMER_BATCH: usize = 5_000;
/// What trackflow sends as `$lib` and in `GE-Integration-Type`.
pub const LIB: &str = "trackflow";
/// What trackflow sends as `$lib_version` and in `GE-Integration-Version`.
pub const LIB_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Property keys that travel in the envelope, not in the event, in this order.
pub const PRESET_KEYS: [&str; 5] = ["#ip", "#first_check_id", "#app_id", "#time", "#uuid"];
