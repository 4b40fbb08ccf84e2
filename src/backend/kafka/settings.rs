//! The settings a config gives Kafka (`kind = "kafka"`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::builder::KafkaBuilder;
use super::client::Kafka;
use super::options::{KafkaAcks, KafkaCompression};
use super::security::{KafkaSasl, KafkaTls};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::settings::SecretString;

/// Kafka's config settings (`kind = "kafka"`).
///
/// ```toml
/// [backend]
/// kind = "kafka"
/// brokers = "10.0.0.5:9092,10.0.0.6:9092"
/// topic = "events"
/// compression = "zstd"                       # none, gzip, snappy, lz4 (default), zstd
/// acks = "all"                               # all (default), "1", "0" (with idempotent = false)
/// tls = { ca_file = "/etc/kafka/ca.pem" }
/// sasl = { mechanism = "SCRAM-SHA-512", username = "tracker", password = "${KAFKA_PASSWORD}" }
/// properties = { "queue.buffering.max.kbytes" = "65536" }
/// ```
///
/// # Examples
///
/// ```
/// let cfg = trackflow::config::BackendConfig::kafka("127.0.0.1:9092", "events")
///     .set("sasl", serde_json::json!({"mechanism": "PLAIN", "username": "u", "password": "pw-123"}));
/// assert!(!format!("{cfg:?}").contains("pw-123"));
/// assert_eq!(cfg.build(&Default::default())?.name(), "kafka");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KafkaSettings {
    /// `host:port,…` of one or more brokers.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// Defaults to `lz4`.
    pub compression: Option<KafkaCompression>,
    /// Defaults to `all`.
    pub acks: Option<KafkaAcks>,
    /// Defaults to `true`.
    pub idempotent: Option<bool>,
    /// How long a message is retried before it fails to the spool. Defaults to 60,000.
    pub delivery_timeout_ms: Option<u64>,
    /// `linger.ms`. Defaults to 5.
    pub linger_ms: Option<u64>,
    /// `client.id`. Defaults to `trackflow`.
    pub client_id: Option<String>,
    /// TLS; absent means plaintext.
    pub tls: Option<KafkaTls>,
    /// SASL; absent means none.
    pub sasl: Option<KafkaSasl>,
    /// Other librdkafka properties (values masked in `Debug` and when written back out).
    #[serde(default)]
    pub properties: BTreeMap<String, SecretString>,
}

impl crate::backend::kind::BackendSettings for KafkaSettings {
    const KIND: &'static str = "kafka";

    fn build(self, _: &crate::backend::kind::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        Ok(Box::new(self.builder().build()?))
    }

    fn check(&self, label: &str, _: &crate::Route) -> Result<()> {
        self.clone()
            .builder()
            .check()
            .map_err(|e| Error::Config(format!("backend `{label}`: {e}")))
    }
}

impl KafkaSettings {
    pub(super) fn builder(self) -> KafkaBuilder {
        let mut b = Kafka::builder(self.brokers, self.topic);
        b.compression = self.compression.unwrap_or_default();
        b.acks = self.acks.unwrap_or_default();
        b.idempotent = self.idempotent.unwrap_or(true);
        if let Some(ms) = self.delivery_timeout_ms {
            b.delivery_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = self.linger_ms {
            b.linger = Duration::from_millis(ms);
        }
        if let Some(id) = self.client_id {
            b.client_id = id;
        }
        b.tls = self.tls;
        b.sasl = self.sasl;
        b.properties = self.properties;
        b
    }
}
