//! A webhook: batches of neutral events (the File backend's JSON form) POSTed to any URL, as
//! a JSON array or JSON lines, optionally gzipped, with headers of your own and an
//! HMAC-SHA256 signature a receiver can verify.
//!
//! ```text
//!  batch ──serde JSON per event──► [e1,e2,…]  or  e1\ne2\n…  ──gzip?──► body
//!  X-Trackflow-Timestamp: <ms since the epoch>
//!  X-Trackflow-Signature: sha256=<hex(HMAC-SHA256(secret, "<timestamp>." + body))>
//!  ──POST──► url (retries, spool and error callback as every backend)
//! ```
//!
//! # Verifying a request (receiver side)
//!
//! 1. Read the body as received, before any decompression (the signature covers the bytes
//!    on the wire).
//! 2. Compute `HMAC-SHA256(secret, timestamp + "." + body)`, where `timestamp` is the
//!    `X-Trackflow-Timestamp` header's text, and compare its lowercase hex, in constant
//!    time, with the `X-Trackflow-Signature` header after `sha256=`.
//! 3. Refuse timestamps too far from your clock (say 5 minutes) so an old request cannot be
//!    replayed.
//!
//! [`verify`] does steps 1–2 for a receiver written in Rust. A receiver that refuses
//! answers 401 or 403: the batch fails for good (no retry) and goes to the spool.

mod builder;
mod client;
mod requests;
mod settings;
mod signing;
mod wire;

pub use builder::WebhookBuilder;
pub use client::{Webhook, WebhookFormat};
pub use settings::WebhookSettings;
pub use signing::verify;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Trackflow-Signature";
/// The header carrying the signed timestamp (ms since the Unix epoch).
pub const TIMESTAMP_HEADER: &str = "X-Trackflow-Timestamp";
/// Default for [`WebhookBuilder::max_batch`].
pub const DEFAULT_MAX_BATCH: usize = 500;
