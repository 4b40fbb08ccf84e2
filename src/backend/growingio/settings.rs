//! The settings a config gives GrowingIO (`kind = "growingio"`).

use serde::{Deserialize, Serialize};

use super::client::GrowingIo;
use super::codec::GrowingIoCodec;
use crate::error::Result;

/// GrowingIO's config settings (`kind = "growingio"`).
///
/// # Examples
///
/// ```
/// let cfg = trackflow::config::BackendConfig::growingio("https://c", "p", "d").set("codec", "json");
/// assert_eq!(cfg.build(&Default::default())?.name(), "growingio");
/// # Ok::<(), trackflow::Error>(())
/// ```
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

impl crate::backend::kind::BackendSettings for GrowingIoSettings {
    const KIND: &'static str = "growingio";

    fn build(self, ctx: &crate::backend::kind::BuildCtx<'_>) -> Result<Box<dyn crate::backend::Backend>> {
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
