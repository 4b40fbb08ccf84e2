//! # trackflow
//!
//! Record what the users of a server application do, and deliver it — batched, retried, never
//! silently lost — to analytics and personalization backends.
//!
//! ```text
//!  app code
//!     │  tracker.track(...) / user_set(...) / item_set(...)
//!     ▼
//!  Tracker ── validates, stamps time + insert_id, merges super properties ──► Event
//!     │  (one Tracker may feed several consumers: fan-out to several backends)
//!     ▼
//!  Consumer ── WHEN to send ─ Immediate | Buffered | Background (timer + size) | Debug
//!     │  batches of Event
//!     ▼
//!  Backend ── WHERE and in what shape ─ GrowingIo | Gravity | Personalize | Retail | Talent | File
//!     │  wire structs ──► Codec ── HOW the bytes look ─ Json | Snappy(+xor) | Protobuf | Gzip
//!     ▼
//!  Transport ── ureq agent, timeouts, retry with backoff, status classification
//!     │
//!     ▼
//!  collector (HTTP)            or            local files (File backend: the embedded default)
//! ```
//!
//! # Quick start
//!
//! ```
//! use trackflow::{BackgroundConsumer, FileBackend, Identity, Properties, Tracker};
//!
//! # let dir = std::env::temp_dir().join(format!("trackflow-lib-{}", std::process::id()));
//! let tracker = Tracker::builder()
//!     .consumer(BackgroundConsumer::builder(FileBackend::builder(&dir).build()?).build())
//!     .build()?;
//! let _guard = tracker.guard(); // flushes and stops when it goes out of scope
//!
//! let who = Identity::anonymous("device-001").with_user("user-001");
//! tracker.track(&who, "purchase", Properties::new().with("product", "book").with("price", 9.9))?;
//! tracker.user_set(&who, [("plan", "pro")])?;
//! // The event's own time, insert id or interaction block, on any call:
//! tracker
//!     .with(trackflow::EventOptions::new().time(1_700_000_000_000).insert_id("order-981"))
//!     .track(&who, "refund", [("amount", 9.9)])?;
//! drop(_guard); // delivered: three JSON lines in `dir`
//! # let mut lines = 0;
//! # for f in std::fs::read_dir(&dir)? { lines += std::fs::read_to_string(f?.path())?.lines().count(); }
//! assert_eq!(lines, 3);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), trackflow::Error>(())
//! ```
//!
//! # In async services
//!
//! `track()`, `user_*()` and `item_set()` never wait on the network: on the Background
//! consumer they hand the event to a queue (spilling to disk when it is full), so call them
//! directly from async handlers. What does wait, for a bounded time, is flushing and shutting
//! down. With the `tokio` feature:
//!
//! - `Tracker::flush_async`, `flush_timeout_async` and `shutdown_async` run those waits on
//!   tokio's blocking pool and await them;
//! - a [`TrackerGuard`] or the last `Tracker` dropped on a runtime thread hands its shutdown
//!   to the blocking pool and returns at once (the runtime waits for it when dropped);
//! - a blocking call made on a runtime thread anyway is logged once and counted by
//!   `blocking_calls_on_runtime()`, for a self-test to assert on.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # #[tokio::main]
//! # async fn main() -> Result<(), trackflow::Error> {
//! use std::time::Duration;
//! use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Properties, Tracker};
//!
//! let memory = MemoryBackend::new();
//! let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(memory.clone()).build()).build()?;
//! // Request handlers track directly, on the executor (examples/axum_service.rs does it in axum).
//! let handlers: Vec<_> = (0..8)
//!     .map(|i| {
//!         let t = tracker.clone();
//!         tokio::spawn(async move { t.track(&Identity::user(format!("u{i}")), "open", Properties::new()) })
//!     })
//!     .collect();
//! for h in handlers {
//!     h.await.expect("handler")?;
//! }
//! // After the server stops: the wait runs on the blocking pool.
//! let report = tracker.shutdown_async(Duration::from_secs(5)).await?;
//! assert_eq!(report.stats.delivered, 8);
//! assert_eq!(trackflow::blocking_calls_on_runtime(), 0);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `file` | yes | [`FileBackend`]: JSON-lines files with rotation |
//! | `growingio` | yes | [`GrowingIo`] with the JSON codec |
//! | `snappy` | no | GrowingIO's Snappy codec, with the XOR crypt (snap) |
//! | `protobuf` | no | GrowingIO's protobuf codec (prost) |
//! | `gzip` | with `gravity` | gzip request bodies (flate2) |
//! | `gravity` | no | the Gravity Engine backend |
//! | `personalize` | no | the AWS Personalize Events backend and SigV4 (hmac, sha2) |
//! | `google` | with `retail`, `talent` | Google bearer tokens; service-account JWTs signed with ring |
//! | `retail` | no | the Google Cloud Retail user events backend |
//! | `talent` | no | the Google Cloud Talent client events backend |
//! | `webhook` | no | [`Webhook`]: neutral events POSTed to any URL, HMAC-SHA256 signed (ring) |
//! | `kafka` | no | `Kafka`: each event a message on a topic, keyed by user (rdkafka, librdkafka built from source) |
//! | `tokio` | no | `flush_async`, `shutdown_async`; drops that never block an executor thread |
//! | `native-roots` | no | TLS verified against the platform's trust store |
//! | `toml` | with `cli` | [`Config::from_toml_str`] and [`Config::from_toml_file`] |
//! | `cli` | no | the `trackflow` command-line tool (clap) |
//!
//! With the default features, `cargo tree -p trackflow -e normal` lists 42 crates.
//!
//! A backend of your own is usable from a config like these: declare its settings and how
//! to build it ([`backend::BackendSettings`]) and register its kind once
//! ([`backend::register`]); see [`backend::registry`].
//!
//! # Architecture
//!
//! Every event walks one path, and each layer imports only the layers below it (CI checks
//! that no two files of `src/` import each other, directly or around a circle:
//! `python3 scripts/imports.py`).
//!
//! ```text
//!  app ─► tracker/      Tracker: validates (validate), stamps time and insert id, fans out
//!           │           Event, Identity, Properties (event, value): the neutral event
//!           ▼
//!         consumer/     WHEN: Immediate │ Buffered │ Background │ Debug
//!           │           background/: the store — memory queue, disk queue (disk/, spool/),
//!           │           worker, lanes; an event leaves only when acknowledged or refused
//!           ▼
//!         delivery/     the consumer→backend contract: DeliveryCtx (cancel, flow, fan-out,
//!           │           per-request acknowledgement), Delivery, Flow (in-flight budget,
//!           │           circuit breaker, turns)
//!           ▼
//!         backend/<kind>/   WHERE and in what shape; one folder per backend, files by role:
//!           │           client (the backend), builder, settings (config), rules (checks at
//!           │           the call), wire (bytes of a request), requests (deliver, judge)
//!           ▼
//!         codec/        HOW the bytes look: json │ snappy │ protobuf │ gzip
//!           ▼
//!         transport/    HTTP only: one client, retries, status classification, masking
//!
//!  beside them: settings/ (secrets, auth and transport settings, below both config/ and
//!  the backends), config/ (TOML, the backend registry), auth/ (AWS and Google credentials,
//!  fetched through the backend's transport), clock, stats
//! ```
//!
//! A new backend is one folder under `backend/`, its `pub mod` line, one line in the
//! registry's `builtins!` table (and its cargo feature), and its tests. A backend outside the
//! crate needs no line at all: [`backend::register`].
//!
//! # Logging
//!
//! trackflow logs through the `log` crate: `error` for events that failed for good with no
//! error callback set and for panics caught in callbacks; `warn` for the first drop by the
//! overflow policy, the drop total at shutdown, and shutdowns that left events behind;
//! `debug` for each retry; `info` on target `trackflow::debug` for each request the Debug
//! consumer sends (secrets masked).

// Denied, not forbidden: src/disk/mapped.rs maps journal segments, with its safety argument.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod backend;
mod cancel;
pub mod clock;
pub mod codec;
pub mod config;
pub mod consumer;
pub mod delivery;
mod disk;
mod error;
mod event;
pub mod observe;
#[cfg(feature = "kafka")]
pub mod relay;
mod route;
#[cfg(feature = "tokio")]
mod runtime;
mod settings;
pub mod spool;
pub mod stats;
mod text;
pub mod tracker;
pub mod transport;
pub mod validate;
pub mod value;

// The crate root holds what a user touches first: the tracker, identities and properties,
// the consumers, errors, and the backends. The rest is reached through its module.
#[cfg(feature = "file")]
pub use backend::file::FileBackend;
#[cfg(feature = "gravity")]
pub use backend::gravity::Gravity;
#[cfg(feature = "growingio")]
pub use backend::growingio::GrowingIo;
#[cfg(feature = "kafka")]
pub use backend::kafka::Kafka;
#[cfg(feature = "personalize")]
pub use backend::personalize::Personalize;
#[cfg(feature = "retail")]
pub use backend::retail::Retail;
#[cfg(feature = "talent")]
pub use backend::talent::Talent;
#[cfg(feature = "webhook")]
pub use backend::webhook::Webhook;
pub use backend::{Backend, MemoryBackend};
pub use config::{BackendConfig, Config};
pub use consumer::{
    BackgroundConsumer, BufferedConsumer, Consumer, DebugConsumer, Durability, ImmediateConsumer, Overflow,
    ShutdownReport,
};
pub use error::{Error, Result, TransportError};
pub use event::{Event, EventKind, Identity, Interaction, InteractionItem, ProfileOp};
pub use route::{Route, RouteKind};
#[cfg(feature = "tokio")]
pub use runtime::blocking_calls_on_runtime;
pub use stats::StatsSnapshot;
pub use tracker::{EventOptions, Tracker, TrackerBuilder, TrackerGuard};
pub use value::{Properties, Value};

// The README's Rust examples are compiled with the doctests, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
