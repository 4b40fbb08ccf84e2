//! How request bodies are encoded: the SDK's parsers, each behind its cargo feature.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How GrowingIO request bodies are encoded (the SDK's `data_parser`).
///
/// # Examples
///
/// ```
/// use trackflow::backend::growingio::GrowingIoCodec;
/// let c: GrowingIoCodec = serde_json::from_str(r#""snappy_crypt""#)?;
/// assert_eq!(c, GrowingIoCodec::SnappyCrypt);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrowingIoCodec {
    /// `JsonParser`: compact JSON (the default).
    #[default]
    Json,
    /// `SnappyParser(crypt_data=False)`: raw snappy of the JSON. Needs the `snappy` feature.
    Snappy,
    /// `SnappyParser(crypt_data=True)`: snappy, then XOR with `stm & 0xff`. Needs the
    /// `snappy` feature.
    SnappyCrypt,
    /// `ProtobufParser`: `EventV3List` / `ItemDtoList`. Needs the `protobuf` feature.
    Protobuf,
}

impl GrowingIoCodec {
    #[cfg_attr(
        not(feature = "growingio"),
        allow(dead_code, reason = "only the client checks")
    )]
    pub(crate) fn check_available(self) -> Result<()> {
        let missing = match self {
            GrowingIoCodec::Json => None,
            GrowingIoCodec::Snappy | GrowingIoCodec::SnappyCrypt => {
                (!cfg!(feature = "snappy")).then_some("snappy")
            }
            GrowingIoCodec::Protobuf => (!cfg!(feature = "protobuf")).then_some("protobuf"),
        };
        match missing {
            Some(f) => Err(Error::Config(format!(
                "growingio codec {self:?} needs trackflow's `{f}` cargo feature"
            ))),
            None => Ok(()),
        }
    }
}
