//! How a producer reaches its brokers: TLS and SASL.

use rdkafka::config::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::settings::SecretString;

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
    pub(super) fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
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

/// Sets the security protocol, TLS and SASL of a client (producer or the relay's consumer).
pub(crate) fn apply_security(c: &mut ClientConfig, tls: Option<&KafkaTls>, sasl: Option<&KafkaSasl>) {
    let protocol = match (tls.is_some(), sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    c.set("security.protocol", protocol);
    if let Some(tls) = tls {
        tls.apply(c);
    }
    if let Some(sasl) = sasl {
        c.set("sasl.mechanisms", sasl.mechanism.name())
            .set("sasl.username", &sasl.username)
            .set("sasl.password", &sasl.password.0);
    }
}

/// `text` with every secret of these settings masked: librdkafka quotes a value it refuses.
pub(crate) fn redact<'a>(
    mut text: String,
    tls: Option<&'a KafkaTls>,
    sasl: Option<&'a KafkaSasl>,
    properties: impl Iterator<Item = &'a SecretString>,
) -> String {
    let sasl = sasl.map(|s| &s.password);
    let key = tls.and_then(|t| t.key_password.as_ref());
    for secret in sasl.into_iter().chain(key).chain(properties) {
        if !secret.0.is_empty() {
            text = text.replace(&secret.0, "***");
        }
    }
    text
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
