//! The backend itself: where it posts, how it lays out and signs a body.

use std::fmt;

use ring::hmac;

use crate::transport::HttpTransport;

/// How a batch is laid out in the body.
///
/// # Examples
///
/// ```
/// use trackflow::backend::webhook::WebhookFormat;
/// assert_eq!(WebhookFormat::default(), WebhookFormat::JsonArray);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WebhookFormat {
    /// `[{…},{…}]`, `Content-Type: application/json` (the default).
    #[default]
    JsonArray,
    /// One event per line, `Content-Type: application/x-ndjson`.
    JsonLines,
}

/// The webhook backend. See the [module docs](super) for the wire format and how to verify it.
///
/// # Examples
///
/// ```
/// use trackflow::backend::webhook::{Webhook, WebhookFormat};
/// let hook = Webhook::builder("https://events.example.com/in")
///     .format(WebhookFormat::JsonLines)
///     .header("Authorization", "Bearer t0ken")
///     .secret("shared-secret")
///     .build()?;
/// assert!(!format!("{hook:?}").contains("t0ken"));
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct Webhook {
    pub(super) url: String,
    pub(super) format: WebhookFormat,
    pub(super) gzip: bool,
    pub(super) headers: Vec<(String, String)>,
    pub(super) key: Option<hmac::Key>,
    pub(super) max_batch: usize,
    pub(super) transport: HttpTransport,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &crate::transport::mask::mask_url(&self.url))
            .field("format", &self.format)
            .field("gzip", &self.gzip)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| (k, "***")).collect::<Vec<_>>(),
            )
            .field("signed", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
