//! The settings a config gives Gravity (`kind = "gravity"`).

use super::client::{ClientId, Gravity};
use crate::backend::Backend;
use crate::error::Result;

/// Gravity's config settings (`kind = "gravity"`).
///
/// # Examples
///
/// ```
/// let cfg = trackflow::config::BackendConfig::gravity("https://h/collect/?access_token=T0KEN");
/// assert!(!format!("{cfg:?}").contains("T0KEN"));
/// assert_eq!(cfg.build(&Default::default())?.name(), "gravity");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GravitySettings {
    /// The collect URL with its `?access_token=…` (masked in `Debug`).
    pub url: crate::settings::SecretUrl,
    /// Gzip bodies. Defaults to `true`.
    pub compress: Option<bool>,
    /// Events per envelope. Defaults to 20 (at most 200).
    pub max_batch: Option<usize>,
    /// Offset from UTC of time values written as text. Defaults to 0.
    pub utc_offset_minutes: Option<i32>,
    /// Send insert ids as `#uuid` (one request per event). Defaults to `false`.
    pub uuid_from_insert_id: Option<bool>,
    /// Which id becomes `client_id`: `anonymous_first` (default) or `user_first`.
    pub client_id: Option<ClientId>,
    /// Gravity's debug mode (`Turbo-Debug-Mode: 1`, one envelope per request). Defaults
    /// to `false`.
    pub debug_mode: Option<bool>,
}

impl crate::backend::kind::BackendSettings for GravitySettings {
    const KIND: &'static str = "gravity";

    fn build(self, ctx: &crate::backend::kind::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        let mut b = Gravity::builder(&self.url.0).transport(ctx.http()?);
        if let Some(v) = self.compress {
            b = b.compress(v);
        }
        if let Some(n) = self.max_batch {
            b = b.max_batch(n);
        }
        if let Some(m) = self.utc_offset_minutes {
            b = b.utc_offset_minutes(m);
        }
        if let Some(v) = self.uuid_from_insert_id {
            b = b.uuid_from_insert_id(v);
        }
        if let Some(c) = self.client_id {
            b = b.client_id(c);
        }
        if let Some(d) = self.debug_mode {
            b = b.debug_mode(d);
        }
        Ok(Box::new(b.build()?))
    }
}
