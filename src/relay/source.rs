//! The relay's source: which Kafka topics it reads, in which consumer group, and how it
//! connects (`[source]` in the relay's config).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::backend::kafka::{KafkaSasl, KafkaTls};
use crate::error::{Error, Result};
use crate::settings::SecretString;

/// Default for [`SourceSettings::max_waiting`].
pub const DEFAULT_MAX_WAITING: usize = 20_000;

/// The Kafka topics a relay reads (`[source]`).
///
/// ```toml
/// [source]
/// brokers = "10.0.0.5:9092"
/// topics = ["events"]
/// group_id = "trackflow-relay"
/// sasl = { mechanism = "SCRAM-SHA-512", username = "relay", password = "${KAFKA_PASSWORD}" }
/// ```
///
/// # Examples
///
/// ```
/// let s: trackflow::relay::SourceSettings = serde_json::from_value(serde_json::json!({
///     "brokers": "127.0.0.1:9092", "topics": ["events"], "group_id": "relays",
///     "sasl": {"mechanism": "PLAIN", "username": "u", "password": "pw-123"}
/// }))?;
/// assert_eq!(s.max_waiting(), trackflow::relay::DEFAULT_MAX_WAITING);
/// assert!(!format!("{s:?}").contains("pw-123"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SourceSettings {
    /// `host:port,…` of one or more brokers.
    pub brokers: String,
    /// The topics, in the Kafka backend's neutral JSON.
    pub topics: Vec<String>,
    /// The consumer group: relays of one group share the partitions.
    pub group_id: String,
    /// `client.id`. Defaults to `trackflow-relay`.
    pub client_id: Option<String>,
    /// TLS; absent means plaintext.
    pub tls: Option<KafkaTls>,
    /// SASL; absent means none.
    pub sasl: Option<KafkaSasl>,
    /// `session.timeout.ms`: how soon the group notices a member gone. Defaults to 10,000.
    pub session_timeout_ms: Option<u64>,
    /// Events read and not yet acknowledged by every sink above which the relay pauses its
    /// partitions (the lag grows in Kafka, not in memory). Defaults to 20,000.
    pub max_waiting: Option<usize>,
    /// How often acknowledged offsets are committed. Defaults to 1,000 ms.
    pub commit_interval_ms: Option<u64>,
    /// How long a revocation (or a shutdown) waits for what is in flight before it commits
    /// what was acknowledged and hands the rest over. Defaults to 10,000 ms.
    pub revoke_wait_ms: Option<u64>,
    /// Other librdkafka consumer properties (values masked in `Debug`).
    #[serde(default)]
    pub properties: BTreeMap<String, SecretString>,
}

impl SourceSettings {
    /// Source settings for `topics` in `group_id` through `brokers`, the rest at defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trackflow::relay::SourceSettings::new("127.0.0.1:9092", ["events"], "relays");
    /// assert_eq!((s.topics.len(), s.group_id.as_str()), (1, "relays"));
    /// ```
    pub fn new<T: Into<String>>(
        brokers: impl Into<String>,
        topics: impl IntoIterator<Item = T>,
        group_id: impl Into<String>,
    ) -> SourceSettings {
        SourceSettings {
            brokers: brokers.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            group_id: group_id.into(),
            client_id: None,
            tls: None,
            sasl: None,
            session_timeout_ms: None,
            max_waiting: None,
            commit_interval_ms: None,
            revoke_wait_ms: None,
            properties: BTreeMap::new(),
        }
    }

    /// Events waiting for acknowledgements above which partitions pause.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = trackflow::relay::SourceSettings::new("b:9092", ["t"], "g");
    /// s.max_waiting = Some(5);
    /// assert_eq!(s.max_waiting(), 5);
    /// ```
    pub fn max_waiting(&self) -> usize {
        self.max_waiting.unwrap_or(DEFAULT_MAX_WAITING).max(1)
    }

    pub(crate) fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms.unwrap_or(1_000).max(10))
    }

    pub(crate) fn revoke_wait(&self) -> Duration {
        Duration::from_millis(self.revoke_wait_ms.unwrap_or(10_000))
    }

    /// The rules the consumer's settings must meet, named.
    pub(crate) fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(format!("source.{m}")));
        if self.brokers.trim().is_empty() {
            return bad("brokers: give at least one host:port");
        }
        if self.topics.is_empty() || self.topics.iter().any(|t| t.trim().is_empty()) {
            return bad("topics: give at least one topic, none empty");
        }
        if self.group_id.trim().is_empty() {
            return bad("group_id: relays that share partitions share a group id; it cannot be empty");
        }
        Ok(())
    }

    /// The group consumer's settings: offsets committed by the relay only, from the earliest
    /// for a new group.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            .set(
                "client.id",
                self.client_id.as_deref().unwrap_or("trackflow-relay"),
            )
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "session.timeout.ms",
                self.session_timeout_ms.unwrap_or(10_000).to_string(),
            );
        crate::backend::kafka::apply_security(&mut c, self.tls.as_ref(), self.sasl.as_ref());
        for (k, v) in &self.properties {
            c.set(k, &v.0);
        }
        c
    }

    /// `text` with this source's secrets masked.
    pub(crate) fn redact(&self, text: String) -> String {
        let props = self.properties.values();
        crate::backend::kafka::redact(text, self.tls.as_ref(), self.sasl.as_ref(), props)
    }
}
