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
//!   ([`DeliveryCtx::in_order`]) and librdkafka keeps a partition's order across its retries,
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

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig};
use rdkafka::ClientContext;
use serde::{Deserialize, Serialize};

use super::Backend;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result, TransportError};
use crate::event::Event;
use crate::settings::SecretString;

/// Default for [`KafkaBuilder::delivery_timeout`]: librdkafka retries a message this long.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a purged batch waits for the reports of its purged messages.
const PURGE_WAIT: Duration = Duration::from_secs(1);

/// Message compression (`compression.type`).
///
/// # Examples
///
/// ```
/// use trackflow::backend::kafka::KafkaCompression;
/// assert_eq!(KafkaCompression::default(), KafkaCompression::Lz4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KafkaCompression {
    /// None.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4 (the default: cheap, and every broker and consumer reads it).
    #[default]
    Lz4,
    /// Zstandard.
    Zstd,
}

impl KafkaCompression {
    fn name(self) -> &'static str {
        match self {
            KafkaCompression::None => "none",
            KafkaCompression::Gzip => "gzip",
            KafkaCompression::Snappy => "snappy",
            KafkaCompression::Lz4 => "lz4",
            KafkaCompression::Zstd => "zstd",
        }
    }
}

/// Which acknowledgement a message waits for (`acks`).
///
/// # Examples
///
/// ```
/// use trackflow::backend::kafka::KafkaAcks;
/// let acks: KafkaAcks = serde_json::from_str(r#""1""#)?;
/// assert_eq!(acks, KafkaAcks::Leader);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum KafkaAcks {
    /// Every in-sync replica (`"all"`, the default; the idempotent producer needs it).
    #[default]
    #[serde(rename = "all", alias = "-1")]
    All,
    /// The partition leader only (`"1"`).
    #[serde(rename = "1")]
    Leader,
    /// None (`"0"`): a message counts as delivered once sent.
    #[serde(rename = "0")]
    None,
}

impl KafkaAcks {
    fn value(self) -> &'static str {
        match self {
            KafkaAcks::All => "all",
            KafkaAcks::Leader => "1",
            KafkaAcks::None => "0",
        }
    }
}

/// A SASL mechanism librdkafka has built in.
///
/// # Examples
///
/// ```
/// use trackflow::backend::kafka::SaslMechanism;
/// let m: SaslMechanism = serde_json::from_str(r#""SCRAM-SHA-512""#)?;
/// assert_eq!(m, SaslMechanism::ScramSha512);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// `PLAIN` (use it over TLS).
    #[serde(rename = "PLAIN")]
    Plain,
    /// `SCRAM-SHA-256`.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// `SCRAM-SHA-512`.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// Builds a [`Kafka`] backend.
#[derive(Debug)]
#[must_use]
pub struct KafkaBuilder {
    brokers: String,
    topic: String,
    compression: KafkaCompression,
    acks: KafkaAcks,
    idempotent: bool,
    delivery_timeout: Duration,
    linger: Duration,
    client_id: String,
    tls: Option<KafkaTls>,
    sasl: Option<KafkaSasl>,
    properties: BTreeMap<String, SecretString>,
}

impl KafkaBuilder {
    /// Compression of message batches. Defaults to LZ4.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::backend::kafka::{Kafka, KafkaCompression};
    /// let k = Kafka::builder("127.0.0.1:9092", "events").compression(KafkaCompression::Zstd).build()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn compression(mut self, c: KafkaCompression) -> Self {
        self.compression = c;
        self
    }

    /// Which acknowledgement counts as delivered. Defaults to `all`; anything else needs
    /// [`idempotent(false)`](Self::idempotent).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::backend::kafka::{Kafka, KafkaAcks};
    /// let err = Kafka::builder("127.0.0.1:9092", "events").acks(KafkaAcks::Leader).build().unwrap_err();
    /// assert!(err.to_string().contains("acks"), "{err}");
    /// let k = Kafka::builder("127.0.0.1:9092", "events").acks(KafkaAcks::Leader).idempotent(false).build()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn acks(mut self, acks: KafkaAcks) -> Self {
        self.acks = acks;
        self
    }

    /// The idempotent producer: librdkafka's retries never write a message twice. Defaults
    /// to `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9092", "events").idempotent(true).build()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn idempotent(mut self, on: bool) -> Self {
        self.idempotent = on;
        self
    }

    /// How long librdkafka keeps retrying a message before it fails (to the spool).
    /// Defaults to [`DEFAULT_DELIVERY_TIMEOUT`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9092", "events")
    ///     .delivery_timeout(Duration::from_secs(30))
    ///     .build()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn delivery_timeout(mut self, d: Duration) -> Self {
        self.delivery_timeout = d;
        self
    }

    /// How long librdkafka waits to fill a message batch (`linger.ms`). Defaults to 5 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9092", "events")
    ///     .linger(Duration::from_millis(20))
    ///     .build()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }

    /// The `client.id` brokers log. Defaults to `trackflow`.
    ///
    /// # Examples
    ///
    /// ```
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9092", "events").client_id("checkout").build()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// TLS, verifying brokers against the CA certificates in `path` (PEM).
    ///
    /// # Examples
    ///
    /// ```
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9093", "events").tls_ca_file("/etc/ssl/certs/ca-certificates.crt");
    /// ```
    pub fn tls_ca_file(mut self, path: impl Into<String>) -> Self {
        self.tls.get_or_insert_with(KafkaTls::default).ca_file = Some(path.into());
        self
    }

    /// TLS with a client certificate and its key (PEM files), for brokers that ask for one.
    ///
    /// # Examples
    ///
    /// ```
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9093", "events").tls_client_cert("/etc/kafka/me.pem", "/etc/kafka/me.key");
    /// ```
    pub fn tls_client_cert(mut self, cert: impl Into<String>, key: impl Into<String>) -> Self {
        let tls = self.tls.get_or_insert_with(KafkaTls::default);
        tls.cert_file = Some(cert.into());
        tls.key_file = Some(key.into());
        self
    }

    /// SASL `PLAIN` (send it over TLS: the password crosses in the clear otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9093", "events").sasl_plain("tracker", "s3cr3t-pw").build()?;
    /// assert!(!format!("{k:?}").contains("s3cr3t"));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn sasl_plain(self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.sasl(SaslMechanism::Plain, username, password)
    }

    /// SASL `SCRAM-SHA-512`.
    ///
    /// # Examples
    ///
    /// ```
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9093", "events").sasl_scram_sha_512("tracker", "pw").build()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn sasl_scram_sha_512(self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.sasl(SaslMechanism::ScramSha512, username, password)
    }

    /// SASL with `mechanism`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::backend::kafka::{Kafka, SaslMechanism};
    /// let k = Kafka::builder("127.0.0.1:9093", "events").sasl(SaslMechanism::ScramSha256, "tracker", "pw").build()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn sasl(
        mut self,
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.sasl = Some(KafkaSasl {
            mechanism,
            username: username.into(),
            password: SecretString(password.into()),
        });
        self
    }

    /// Any other librdkafka producer property (`queue.buffering.max.kbytes`, …), set last so
    /// it wins. Values are masked in `Debug`.
    ///
    /// # Examples
    ///
    /// ```
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9092", "events")
    ///     .property("batch.size", "262144")
    ///     .build()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), SecretString(value.into()));
        self
    }

    /// Builds the producer (it connects in the background, on first use).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting: no brokers, a topic name Kafka refuses, acks
    /// other than `all` with the idempotent producer, a property librdkafka refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9092", "bad topic").build().unwrap_err();
    /// assert!(err.to_string().contains("topic"), "{err}");
    /// ```
    pub fn build(self) -> Result<Kafka> {
        self.check()?;
        let producer: BaseProducer<Reports> = self
            .client_config()
            .create_with_context(Reports)
            .map_err(|e| Error::Config(self.redact(format!("kafka: {e}"))))?;
        Ok(Kafka {
            producer,
            shown: self.shown(),
            topic: self.topic,
            wait: self.delivery_timeout + PURGE_WAIT,
        })
    }

    fn check(&self) -> Result<()> {
        if self.brokers.trim().is_empty() {
            return Err(Error::Config(
                "kafka brokers: give at least one `host:port`".into(),
            ));
        }
        let topic_ok = !self.topic.is_empty()
            && self.topic.len() <= 249
            && self.topic != "."
            && self.topic != ".."
            && self
                .topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !topic_ok {
            return Err(Error::Config(format!(
                "kafka topic `{}`: 1–249 of a–z, A–Z, 0–9, `.`, `_`, `-` (not `.` or `..`)",
                self.topic
            )));
        }
        if self.idempotent && self.acks != KafkaAcks::All {
            return Err(Error::Config(format!(
                "kafka acks `{}`: the idempotent producer needs `all` (set idempotent = false to use it)",
                self.acks.value()
            )));
        }
        if self.delivery_timeout.is_zero() || self.delivery_timeout > Duration::from_secs(24 * 3600) {
            return Err(Error::Config(
                "kafka delivery_timeout: between 1 ms and a day".into(),
            ));
        }
        Ok(())
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set("compression.type", self.compression.name())
            .set("acks", self.acks.value())
            .set(
                "enable.idempotence",
                if self.idempotent { "true" } else { "false" },
            )
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            )
            .set("linger.ms", self.linger.as_millis().to_string())
            .set("security.protocol", self.security_protocol());
        if let Some(tls) = &self.tls {
            tls.apply(&mut c);
        }
        if let Some(sasl) = &self.sasl {
            c.set("sasl.mechanisms", sasl.mechanism.name())
                .set("sasl.username", &sasl.username)
                .set("sasl.password", &sasl.password.0);
        }
        for (k, v) in &self.properties {
            c.set(k, &v.0);
        }
        c
    }

    /// `text` with every secret setting's value masked: librdkafka quotes a value it refuses.
    fn redact(&self, mut text: String) -> String {
        let sasl = self.sasl.iter().map(|s| &s.password);
        let key = self.tls.iter().filter_map(|t| t.key_password.as_ref());
        for secret in sasl.chain(key).chain(self.properties.values()) {
            if !secret.0.is_empty() {
                text = text.replace(&secret.0, "***");
            }
        }
        text
    }

    fn security_protocol(&self) -> &'static str {
        match (self.tls.is_some(), self.sasl.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        }
    }

    fn shown(&self) -> String {
        let sasl = self
            .sasl
            .as_ref()
            .map(|s| format!(" sasl={}:{}", s.mechanism.name(), s.username));
        format!(
            "brokers={} topic={} {} compression={} acks={} idempotent={}{}",
            self.brokers,
            self.topic,
            self.security_protocol(),
            self.compression.name(),
            self.acks.value(),
            self.idempotent,
            sasl.unwrap_or_default(),
        )
    }
}

/// TLS settings (`[backend.tls]`): the CA to verify brokers with, and a client certificate
/// for brokers that ask for one.
///
/// # Examples
///
/// ```
/// let tls: trackflow::backend::kafka::KafkaTls = serde_json::from_str(r#"{"ca_file": "/etc/kafka/ca.pem"}"#)?;
/// assert_eq!(tls.ca_file.as_deref(), Some("/etc/kafka/ca.pem"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KafkaTls {
    /// CA certificates (PEM). Defaults to the system's.
    pub ca_file: Option<String>,
    /// Client certificate (PEM).
    pub cert_file: Option<String>,
    /// The client certificate's private key (PEM).
    pub key_file: Option<String>,
    /// The key's password, if it has one (masked in `Debug`).
    pub key_password: Option<SecretString>,
}

impl KafkaTls {
    fn apply(&self, c: &mut ClientConfig) {
        let props = [
            ("ssl.ca.location", self.ca_file.as_ref()),
            ("ssl.certificate.location", self.cert_file.as_ref()),
            ("ssl.key.location", self.key_file.as_ref()),
            ("ssl.key.password", self.key_password.as_ref().map(|p| &p.0)),
        ];
        for (k, v) in props {
            if let Some(v) = v {
                c.set(k, v);
            }
        }
    }
}

/// SASL settings (`[backend.sasl]`).
///
/// # Examples
///
/// ```
/// let s: trackflow::backend::kafka::KafkaSasl = serde_json::from_str(
///     r#"{"mechanism": "SCRAM-SHA-256", "username": "tracker", "password": "s3cr3t-pw"}"#)?;
/// assert!(!format!("{s:?}").contains("s3cr3t"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KafkaSasl {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: SaslMechanism,
    /// The user.
    pub username: String,
    /// The password (masked in `Debug` and when written back out).
    pub password: SecretString,
}

/// Events to a Kafka topic. See the [module docs](self).
pub struct Kafka {
    producer: BaseProducer<Reports>,
    topic: String,
    shown: String,
    /// The longest a batch waits for its reports: librdkafka fails a message by then.
    wait: Duration,
}

impl fmt::Debug for Kafka {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kafka({})", self.shown)
    }
}

impl Kafka {
    /// A producer to `topic` through `brokers` (`host:port,…`), idempotent, `acks=all`,
    /// LZ4, plaintext.
    ///
    /// # Examples
    ///
    /// ```
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9092", "events").build()?;
    /// assert_eq!(trackflow::Backend::name(&k), "kafka");
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn builder(brokers: impl Into<String>, topic: impl Into<String>) -> KafkaBuilder {
        KafkaBuilder {
            brokers: brokers.into(),
            topic: topic.into(),
            compression: KafkaCompression::default(),
            acks: KafkaAcks::default(),
            idempotent: true,
            delivery_timeout: DEFAULT_DELIVERY_TIMEOUT,
            linger: Duration::from_millis(5),
            client_id: "trackflow".into(),
            tls: None,
            sasl: None,
            properties: BTreeMap::new(),
        }
    }

    /// Every event's JSON, one after another, with where each ends (or why it could not be
    /// written). Done before the batch's turn, so that batches encode side by side.
    fn encode(batch: &[Event]) -> Encoded {
        let mut payloads = Vec::with_capacity(batch.len() * 320);
        let ends = batch
            .iter()
            .map(|event| {
                let start = payloads.len();
                crate::codec::json::write_event(&mut payloads, event)
                    .map(|()| payloads.len())
                    .inspect_err(|_| payloads.truncate(start))
            })
            .collect();
        (payloads, ends)
    }

    /// Hands the encoded events of `batch` to the producer; returns the tally its reports
    /// fill.
    fn produce(&self, batch: &[Event], (payloads, ends): Encoded, ctx: &DeliveryCtx<'_>) -> Arc<Tally> {
        let tally = Tally::new(batch.len());
        let mut start = 0;
        for (i, (event, end)) in batch.iter().zip(ends).enumerate() {
            let end = match end {
                Ok(end) => end,
                Err(e) => {
                    tally.set(i, Err(e));
                    continue;
                }
            };
            let slot = Box::new(Slot {
                tally: tally.clone(),
                index: i,
            });
            let mut record = BaseRecord::with_opaque_to(&self.topic, slot).payload(&payloads[start..end]);
            start = end;
            let identity = &event.identity;
            if let Some(key) = identity.user_id.as_deref().or(identity.anonymous_id.as_deref()) {
                record = record.key(key);
            }
            self.send(record, ctx, &tally, i);
        }
        tally
    }

    /// Sends one record, waiting (polling reports) while librdkafka's queue is full.
    fn send(
        &self,
        mut record: BaseRecord<'_, str, [u8], Box<Slot>>,
        ctx: &DeliveryCtx<'_>,
        tally: &Tally,
        i: usize,
    ) {
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if !ctx.cancel.is_aborted() =>
                {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return tally.set(i, Err(self.error(e))),
            }
        }
    }

    /// Polls reports until every message of the batch has one, or librdkafka's own delivery
    /// timeout has long passed. At the shutdown deadline every batch in flight is being
    /// given up, so the producer is purged (the reports of what it held then come at once,
    /// as failures).
    fn await_reports(&self, tally: &Tally, ctx: &DeliveryCtx<'_>) {
        let give_up = Instant::now() + self.wait;
        while !tally.complete() && Instant::now() < give_up {
            if ctx.cancel.is_aborted() {
                self.producer.purge(PurgeConfig::default().queue().inflight());
                let until = Instant::now() + PURGE_WAIT;
                while !tally.complete() && Instant::now() < until {
                    self.producer.poll(Duration::from_millis(10));
                }
                return;
            }
            self.producer.poll(Duration::from_millis(10));
        }
    }

    fn error(&self, e: KafkaError) -> Error {
        classify(format!("kafka topic `{}`: {e}", self.topic), e)
    }
}

impl Backend for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn check(&self, _event: &Event) -> Result<()> {
        Ok(())
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        if ctx.dry_run {
            log::info!("kafka (dry run): {} events to `{}`", batch.len(), self.topic);
            return Delivery::default();
        }
        // Handed to the producer in the order the batches were handed out, so one key's
        // events stay in order; the broker's acknowledgements are awaited side by side.
        let encoded = Self::encode(batch);
        let tally = ctx.in_order(|| self.produce(batch, encoded, ctx));
        self.await_reports(&tally, ctx);
        if ctx.debug {
            log::info!("kafka: {} events to `{}`", batch.len(), self.topic);
        }
        let aborted = ctx.cancel.is_aborted();
        tally.delivery(|| {
            if aborted {
                Error::Cancelled
            } else {
                Error::Timeout(self.wait)
            }
        })
    }
}

/// The outcome of each message of one batch, as its delivery reports arrive.
struct Tally {
    outcomes: Mutex<Vec<Option<Result<()>>>>,
    left: AtomicUsize,
}

impl Tally {
    fn new(n: usize) -> Arc<Tally> {
        Arc::new(Tally {
            outcomes: Mutex::new((0..n).map(|_| None).collect()),
            left: AtomicUsize::new(n),
        })
    }

    fn set(&self, i: usize, outcome: Result<()>) {
        let mut outcomes = self.outcomes.lock();
        if outcomes[i].is_none() {
            outcomes[i] = Some(outcome);
            self.left.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn complete(&self) -> bool {
        self.left.load(Ordering::Acquire) == 0
    }

    /// The batch's delivery: failures grouped by message; a message with no report failed
    /// with `unreported()`'s error.
    fn delivery(&self, unreported: impl Fn() -> Error) -> Delivery {
        let mut groups: BTreeMap<String, (Error, Vec<usize>)> = BTreeMap::new();
        for (i, outcome) in self.outcomes.lock().iter_mut().enumerate() {
            let error = match outcome.take() {
                Some(Ok(())) => continue,
                Some(Err(e)) => e,
                None => unreported(),
            };
            groups
                .entry(error.to_string())
                .or_insert_with(|| (error, Vec::new()))
                .1
                .push(i);
        }
        let mut d = Delivery::default();
        for (error, events) in groups.into_values() {
            d.record(Err(error), 0, || events);
        }
        d
    }
}

/// What a librdkafka error means for the events: refused for good (a message too large, a
/// topic it may not write, a message the broker calls invalid), cancelled (purged at the
/// shutdown deadline), or transient (the broker unreachable, a timeout): kept and sent again.
fn classify(message: String, e: KafkaError) -> Error {
    use RDKafkaErrorCode as C;
    match e.rdkafka_error_code() {
        Some(C::PurgeQueue | C::PurgeInflight) => Error::Cancelled,
        Some(
            code @ (C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidMessage
            | C::InvalidRecord
            | C::InvalidTopic
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::UnsupportedForMessageFormat
            | C::InvalidRequiredAcks
            | C::BadMessage
            | C::InvalidArgument
            | C::Fatal),
        ) => Error::Rejected {
            code: code as i64,
            message,
        },
        _ => Error::Transport(TransportError::with_source(message, e)),
    }
}

/// A batch's events as JSON, back to back, and where each one ends.
type Encoded = (Vec<u8>, Vec<Result<usize>>);

/// Which message of which batch a delivery report is for.
struct Slot {
    tally: Arc<Tally>,
    index: usize,
}

/// Routes each delivery report to its batch's tally.
struct Reports;

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<Slot>;

    fn delivery(&self, report: &DeliveryResult<'_>, slot: Box<Slot>) {
        let outcome = match report {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(classify(format!("kafka delivery report: {e}"), e.clone())),
        };
        slot.tally.set(slot.index, outcome);
    }
}

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

impl super::BackendSettings for KafkaSettings {
    const KIND: &'static str = "kafka";

    fn build(self, _: &super::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
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
    fn builder(self) -> KafkaBuilder {
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
