//! The settings a config gives Talent (`kind = "talent"`).

use serde::Serialize;

use super::client::{Talent, TalentVersion};
use crate::backend::Backend;
use crate::error::{Error, Result};

/// Talent's config settings (`kind = "talent"`).
///
/// # Examples
///
/// ```
/// let cfg = trackflow::config::BackendConfig::talent("projects/p/tenants/t").set("version", "v3");
/// assert_eq!(cfg.kind(), "talent");
/// ```
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TalentSettings {
    /// `projects/*/tenants/*` (v4) or `projects/*` (v3).
    pub parent: String,
    /// Another endpoint. Defaults to `https://jobs.googleapis.com`.
    pub endpoint: Option<String>,
    /// `v4` (default) or `v3`.
    pub version: Option<String>,
    /// `x-goog-user-project`.
    pub quota_project: Option<String>,
    /// Where tokens come from. Defaults to [`GoogleAuth::Default`](crate::config::GoogleAuth::Default).
    #[serde(default)]
    pub auth: crate::settings::GoogleAuth,
}

impl crate::backend::kind::BackendSettings for TalentSettings {
    const KIND: &'static str = "talent";

    fn build(self, ctx: &crate::backend::kind::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        let version = match self.version.as_deref() {
            None | Some("v4") => TalentVersion::V4,
            Some("v3") => TalentVersion::V3,
            Some(v) => return Err(Error::Config(format!("talent version `{v}`: v4 or v3"))),
        };
        let mut b = Talent::builder(&self.parent)
            .version(version)
            .transport(ctx.http()?);
        if let Some(e) = self.endpoint {
            b = b.endpoint(e);
        }
        if let Some(q) = self.quota_project {
            b = b.quota_project(q);
        }
        if let Some(t) = self.auth.tokens()? {
            b = b.tokens(t);
        }
        Ok(Box::new(b.build()?))
    }
}
