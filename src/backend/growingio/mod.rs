//! GrowingIO CDP: custom events and login-user attributes to `/v3/projects/{P}/collect`,
//! items to `/projects/{P}/collect/item`, as growingio-tracker 1.0.5 sends them.
//!
//! ```text
//! track      ─► {"eventType":"CUSTOM", …, "eventName", "attributes", …}   ─► /v3/projects/P/collect?stm=
//! user_set   ─► {"eventType":"LOGIN_USER_ATTRIBUTES", …}                   ─► /v3/projects/P/collect?stm=
//! item_set   ─► {"key","id","attributes","dataSourceId","projectKey"}      ─► /projects/P/collect/item?stm=
//! ```
//!
//! Bodies are encoded by the codec chosen with [`GrowingIoBuilder::codec`]:
//!
//! | [`GrowingIoCodec`] | feature | headers | body |
//! |---|---|---|---|
//! | `Json` (default) | — | `content-type: application/json` | compact JSON array, non-ASCII as `\uXXXX` |
//! | `Snappy` | `snappy` | + `X-Compress-Codec: 2` | raw snappy block of that JSON |
//! | `SnappyCrypt` | `snappy` | + `X-Crypt-Codec: 1` | every byte of it XOR `stm & 0xff` |
//! | `Protobuf` | `protobuf` | `content-type: application/protobuf`, no `stm` query | `EventV3List` / `ItemDtoList` |
//!
//! Where the official SDK is wrong we do what it meant: a trailing `/` on the host is
//! stripped, transient failures are retried (the SDK's retry adapter never takes effect), and
//! protobuf attribute values are their JSON text (`true`), not Python's (`True`).

#[cfg(feature = "growingio")]
mod client;
#[cfg(feature = "protobuf")]
#[cfg_attr(docsrs, doc(cfg(feature = "protobuf")))]
pub mod proto;

use serde::{Deserialize, Serialize};

#[cfg(feature = "growingio")]
pub use client::{GrowingIo, GrowingIoBuilder};

use crate::error::{Error, Result};

/// The `sdkVersion` the official server SDK sends, and our default.
pub const DEFAULT_SDK_VERSION: &str = "1.0.5";
/// The `platform` the official server SDK sends, and our default.
pub const DEFAULT_PLATFORM: &str = "python";
/// The largest batch the SDK's buffered consumer allows, and our clamp.
pub const MAX_BATCH: usize = 2000;

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

/// GrowingIO's config settings (`kind = "growingio"`).
///
/// # Examples
///
/// ```
/// let cfg = trackflow::config::BackendConfig::growingio("https://c", "p", "d").set("codec", "json");
/// assert_eq!(cfg.build(&Default::default())?.name(), "growingio");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[cfg(feature = "growingio")]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GrowingIoSettings {
    /// Collector base URL.
    pub host: String,
    /// Project key (the SDK's `product_id`).
    pub project_key: String,
    /// Data source id.
    pub data_source_id: String,
    /// `platform` field. Defaults to `python`.
    pub platform: Option<String>,
    /// `sdkVersion` field. Defaults to `1.0.5`.
    pub sdk_version: Option<String>,
    /// `json` (default), `snappy`, `snappy_crypt` or `protobuf`.
    pub codec: Option<GrowingIoCodec>,
}

#[cfg(feature = "growingio")]
impl super::BackendSettings for GrowingIoSettings {
    const KIND: &'static str = "growingio";

    fn build(self, ctx: &super::BuildCtx<'_>) -> Result<Box<dyn super::Backend>> {
        let mut b =
            GrowingIo::builder(&self.host, &self.project_key, &self.data_source_id).transport(ctx.http()?);
        if let Some(p) = self.platform {
            b = b.platform(p);
        }
        if let Some(v) = self.sdk_version {
            b = b.sdk_version(v);
        }
        if let Some(c) = self.codec {
            b = b.codec(c);
        }
        Ok(Box::new(b.build()?))
    }
}
