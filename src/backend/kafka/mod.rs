//! Kafka: each neutral event as one message (the File backend's JSON line) on a topic, keyed
//! by the user id, else the anonymous id, so that one user's events land in one partition in
//! the order they were tracked.
//!
//! ```text
//!  batch ──JSON per event──► rdkafka producer (idempotent, acks=all, lz4)
//!        ◄── delivery report per message: delivered, or failed ──► stats, spool, callback
//! ```
//!
//! Built on [rdkafka](https://docs.rs/rdkafka), the ecosystem's client (librdkafka, the C
//! client every Kafka tool is checked against), not on a protocol of our own. librdkafka
//! batches, compresses and retries by itself; a batch is delivered when every message has its
//! report, failed (to the spool) when a message's report is an error or its delivery timeout
//! passes.
//!
//! - **No duplicates from retries:** the producer is idempotent by default (which needs
//!   `acks = "all"`), so librdkafka's own retries never write a message twice.
//! - **Order:** batches are handed to the producer in the order the consumer handed them out
//!   ([`DeliveryCtx::in_order`](crate::delivery::DeliveryCtx::in_order)) and librdkafka keeps a partition's order across its retries,
//!   so per key the topic holds events in tracking order, while up to `max_in_flight`
//!   batches (8) wait for the broker side by side. A batch that fails and is replayed from
//!   the spool later arrives late.
//! - **Shutdown:** a batch in flight at the deadline is purged from the producer and its
//!   unconfirmed messages are spooled; the broker may have written some of them already, so
//!   a replay can repeat those (at least once, as every backend).
//!
//! # Examples
//!
//! ```no_run
//! use trackflow::backend::kafka::{Kafka, KafkaCompression};
//! let kafka = Kafka::builder("10.0.0.5:9092,10.0.0.6:9092", "events")
//!     .compression(KafkaCompression::Zstd)
//!     .sasl_scram_sha_512("tracker", std::env::var("KAFKA_PASSWORD")?)
//!     .tls_ca_file("/etc/kafka/ca.pem")
//!     .build()?;
//! let consumer = trackflow::BackgroundConsumer::builder(kafka).build();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
mod client;
mod options;
mod produce;
mod reports;
mod security;
mod settings;

use std::time::Duration;

pub use builder::KafkaBuilder;
pub use client::Kafka;
pub use options::{KafkaAcks, KafkaCompression};
pub(crate) use security::{apply_security, redact};
pub use security::{KafkaSasl, KafkaTls, SaslMechanism};
pub use settings::KafkaSettings;

/// Default for [`KafkaBuilder::delivery_timeout`]: librdkafka retries a message this long.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
