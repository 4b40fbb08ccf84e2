//! The settings a config gives Retail (`kind = "retail"`).

use super::client::Retail;
use crate::backend::Backend;
use crate::error::Result;

/// Retail's config settings (`kind = "retail"`).
///
/// # Examples
///
/// ```
/// use trackflow::config::{BackendConfig, TransportConfig};
/// let cfg = BackendConfig::retail("projects/1/locations/global/catalogs/c")
///     .set("auth", serde_json::json!({"kind": "anonymous"}));
/// let retail = cfg.build_retail(&TransportConfig::default())?;
/// assert_eq!(trackflow::Backend::name(&retail), "retail");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetailSettings {
    /// `projects/*/locations/*/catalogs/*`.
    pub parent: String,
    /// Another endpoint. Defaults to `https://retail.googleapis.com`.
    pub endpoint: Option<String>,
    /// `writeAsync=true`. Defaults to `false`.
    pub write_async: Option<bool>,
    /// `x-goog-user-project`.
    pub quota_project: Option<String>,
    /// Where tokens come from. Defaults to [`GoogleAuth::Default`](crate::config::GoogleAuth::Default).
    #[serde(default)]
    pub auth: crate::settings::GoogleAuth,
}

impl RetailSettings {
    /// The Retail backend these settings describe, for its admin calls too.
    pub(crate) fn retail(self, ctx: &crate::backend::kind::BuildCtx<'_>) -> Result<Retail> {
        let mut b = Retail::builder(&self.parent).transport(ctx.http()?);
        if let Some(e) = self.endpoint {
            b = b.endpoint(e);
        }
        if let Some(w) = self.write_async {
            b = b.write_async(w);
        }
        if let Some(q) = self.quota_project {
            b = b.quota_project(q);
        }
        if let Some(t) = self.auth.tokens()? {
            b = b.tokens(t);
        }
        b.build()
    }
}

impl crate::backend::kind::BackendSettings for RetailSettings {
    const KIND: &'static str = "retail";

    fn build(self, ctx: &crate::backend::kind::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        Ok(Box::new(self.retail(ctx)?))
    }
}
