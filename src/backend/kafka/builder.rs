//! Building a [`Kafka`]: its builder, the librdkafka configuration it makes, and what its
//! `Debug` shows (never a secret).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::BaseProducer;

use super::client::Kafka;
use super::options::{KafkaAcks, KafkaCompression};
use super::produce::PURGE_WAIT;
use super::reports::Reports;
use super::security::{KafkaSasl, KafkaTls, SaslMechanism};
use super::DEFAULT_DELIVERY_TIMEOUT;
use crate::error::{Error, Result};
use crate::settings::SecretString;

/// Builds a [`Kafka`] backend.
#[derive(Debug)]
#[must_use]
pub struct KafkaBuilder {
    pub(super) brokers: String,
    pub(super) topic: String,
    pub(super) compression: KafkaCompression,
    pub(super) acks: KafkaAcks,
    pub(super) idempotent: bool,
    pub(super) delivery_timeout: Duration,
    pub(super) linger: Duration,
    pub(super) client_id: String,
    pub(super) tls: Option<KafkaTls>,
    pub(super) sasl: Option<KafkaSasl>,
    pub(super) properties: BTreeMap<String, SecretString>,
}

impl KafkaBuilder {
    /// Compression of message batches. Defaults to LZ4.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::backend::kafka::{Kafka, KafkaCompression};
    /// let k = Kafka::builder("127.0.0.1:9092", "events").compression(KafkaCompression::Zstd).build()?;
    /// assert!(format!("{k:?}").contains("compression=zstd"));
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
    /// use trackflow::backend::kafka::{Kafka, KafkaAcks};
    /// let k = Kafka::builder("127.0.0.1:9092", "events").idempotent(true).build()?;
    /// assert!(format!("{k:?}").contains("acks=all idempotent=true"));
    /// // Idempotence needs every replica's acknowledgement: acks=1 with it is refused.
    /// assert!(Kafka::builder("127.0.0.1:9092", "events").acks(KafkaAcks::Leader).build().is_err());
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
    /// use trackflow::backend::kafka::Kafka;
    /// let k = Kafka::builder("127.0.0.1:9092", "events").delivery_timeout(Duration::from_secs(30)).build();
    /// assert!(k.is_ok());
    /// // librdkafka needs the delivery timeout to cover the linger.
    /// let bad = Kafka::builder("127.0.0.1:9092", "events")
    ///     .linger(Duration::from_secs(60))
    ///     .delivery_timeout(Duration::from_secs(1))
    ///     .build();
    /// assert!(bad.is_err());
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
    /// use trackflow::backend::kafka::Kafka;
    /// assert!(Kafka::builder("127.0.0.1:9092", "events").linger(Duration::from_millis(20)).build().is_ok());
    /// // Past librdkafka's 900 s, refused when built.
    /// assert!(Kafka::builder("127.0.0.1:9092", "events").linger(Duration::from_secs(3600)).build().is_err());
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
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9092", "events").client_id("checkout").build();
    /// // The id brokers log and quota by.
    /// assert!(k.is_ok());
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
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9093", "events")
    ///     .tls_ca_file("/etc/ssl/certs/ca-certificates.crt")
    ///     .build();
    /// # if let Ok(k) = &k {
    /// assert!(format!("{k:?}").contains(" ssl "));
    /// # }
    /// # Ok::<(), trackflow::Error>(())
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
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9093", "events")
    ///     .tls_client_cert("/no/such/me.pem", "/no/such/me.key")
    ///     .build();
    /// // The files are read when the producer is made: missing ones fail the build.
    /// let err = k.unwrap_err().to_string();
    /// assert!(err.contains("ssl") || err.contains("certificate"), "{err}");
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
    /// let k = trackflow::backend::kafka::Kafka::builder("127.0.0.1:9093", "events").sasl_scram_sha_512("tracker", "pw-123").build()?;
    /// let shown = format!("{k:?}");
    /// assert!(shown.contains("sasl=SCRAM-SHA-512:tracker") && !shown.contains("pw-123"));
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
    /// let k = Kafka::builder("127.0.0.1:9093", "events").sasl(SaslMechanism::ScramSha256, "tracker", "pw-123").build()?;
    /// assert!(format!("{k:?}").contains("sasl=SCRAM-SHA-256:tracker"));
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
    /// use trackflow::backend::kafka::Kafka;
    /// assert!(Kafka::builder("127.0.0.1:9092", "events").property("batch.size", "262144").build().is_ok());
    /// // librdkafka checks each property when the producer is made; a bad one is named.
    /// let err = Kafka::builder("127.0.0.1:9092", "events").property("batch.size", "lots").build().unwrap_err();
    /// assert!(err.to_string().contains("batch.size"), "{err}");
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

    pub(super) fn check(&self) -> Result<()> {
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

    pub(super) fn client_config(&self) -> ClientConfig {
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
            .set("linger.ms", self.linger.as_millis().to_string());
        super::security::apply_security(&mut c, self.tls.as_ref(), self.sasl.as_ref());
        for (k, v) in &self.properties {
            c.set(k, &v.0);
        }
        c
    }

    /// `text` with every secret setting's value masked: librdkafka quotes a value it refuses.
    pub(super) fn redact(&self, text: String) -> String {
        let props = self.properties.values();
        super::security::redact(text, self.tls.as_ref(), self.sasl.as_ref(), props)
    }

    pub(super) fn security_protocol(&self) -> &'static str {
        match (self.tls.is_some(), self.sasl.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        }
    }

    pub(super) fn shown(&self) -> String {
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
}
