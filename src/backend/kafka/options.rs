//! What a producer is asked for: compression and acknowledgements.

use serde::{Deserialize, Serialize};

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
    pub(super) fn name(self) -> &'static str {
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
    pub(super) fn value(self) -> &'static str {
        match self {
            KafkaAcks::All => "all",
            KafkaAcks::Leader => "1",
            KafkaAcks::None => "0",
        }
    }
}
