//! The settings a config gives the webhook (`kind = "webhook"`).

use super::client::{Webhook, WebhookFormat};
use crate::backend::Backend;
use crate::error::Result;

/// The webhook's config settings (`kind = "webhook"`). Put secrets in the environment:
/// `secret = "${WEBHOOK_SECRET}"`.
///
/// # Examples
///
/// ```
/// let cfg = trackflow::config::BackendConfig::webhook("https://events.example.com/in")
///     .set("secret", "s3cret")
///     .set("format", "json_lines");
/// assert!(!format!("{cfg:?}").contains("s3cret"));
/// assert_eq!(cfg.build(&Default::default())?.name(), "webhook");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhookSettings {
    /// Where to POST (a token in its query is masked in `Debug`).
    pub url: crate::settings::SecretUrl,
    /// The URL's path is a secret (a token in it): masked everywhere. Defaults to `false`.
    pub secret_url: Option<bool>,
    /// `json_array` (default) or `json_lines`.
    pub format: Option<WebhookFormat>,
    /// Gzip bodies. Defaults to `false`.
    pub gzip: Option<bool>,
    /// Request headers (values masked in `Debug` and when written back out).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, crate::settings::SecretString>,
    /// The shared HMAC-SHA256 secret (masked in `Debug` and when written back out).
    pub secret: Option<crate::settings::SecretString>,
    /// Events per request. Defaults to 500.
    pub max_batch: Option<usize>,
}

impl crate::backend::kind::BackendSettings for WebhookSettings {
    const KIND: &'static str = "webhook";

    fn check(&self, _: &str, _: &crate::Route) -> Result<()> {
        // Marked at load, so that the config's own `Debug` masks the path from then on.
        if self.secret_url == Some(true)
            && let Some((_, path)) = self.url.0.split_once("://").and_then(|(_, r)| r.split_once('/'))
        {
            crate::transport::mask::mark_secret(path);
        }
        Ok(())
    }

    fn build(self, ctx: &crate::backend::kind::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        let mut b = Webhook::builder(&self.url.0)
            .transport(ctx.http()?)
            .secret_url(self.secret_url.unwrap_or(false));
        if let Some(f) = self.format {
            b = b.format(f);
        }
        if let Some(g) = self.gzip {
            b = b.gzip(g);
        }
        for (k, v) in &self.headers {
            b = b.header(k, &v.0);
        }
        if let Some(s) = self.secret {
            b = b.secret(&s.0);
        }
        if let Some(n) = self.max_batch {
            b = b.max_batch(n);
        }
        Ok(Box::new(b.build()?))
    }
}
