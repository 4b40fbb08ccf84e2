//! JSON-lines files of neutral events, rotated by size and by day or hour: the embedded
//! default, which needs no server.
//!
//! Files are only ever appended to, a whole line at a time, and never renamed or truncated,
//! so a log shipper tailing `events-*.jsonl` sees every line exactly once. Rotation starts a
//! new file:
//!
//! ```text
//! events-2023-11-14.jsonl        first file of the day
//! events-2023-11-14.1.jsonl      after it reached max_bytes
//! events-2023-11-15.jsonl        next day (Rotation::Daily)
//! events-2023-11-14T22.jsonl     Rotation::Hourly
//! events.jsonl, events.1.jsonl   Rotation::Never (size only)
//! ```

mod builder;
mod client;
mod requests;
mod rotation;
mod settings;

pub use builder::FileBackendBuilder;
pub use client::FileBackend;
pub use settings::FileSettings;

/// Default for [`FileBackendBuilder::max_bytes`]: 128 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 128 << 20;
/// Default for [`FileBackendBuilder::prefix`].
pub const DEFAULT_PREFIX: &str = "events";
