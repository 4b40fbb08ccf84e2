//! A webhook: batches of neutral events (the File backend's JSON form) POSTed to any URL, as
//! a JSON array or JSON lines, optionally gzipped, with headers of your own and an
//! HMAC-SHA256 signature a receiver can verify.
//!
//! ```text
//!  batch ──serde JSON per event──► [e1,e2,…]  or  e1\ne2\n…  ──gzip?──► body
//!  X-Trackflow-Timestamp: <ms since the epoch>
//!  X-Trackflow-Signature: sha256=<hex(HMAC-SHA256(secret, "<timestamp>." + body))>
//!  ──POST──► url (retries, spool and error callback as every backend)
//! ```
//!
//! # Verifying a request (receiver side)
//!
//! 1. Read the body as received, before any decompression (the signature covers the bytes
//!    on the wire).
//! 2. Compute `HMAC-SHA256(secret, timestamp + "." + body)`, where `timestamp` is the
//!    `X-Trackflow-Timestamp` header's text, and compare its lowercase hex, in constant
//!    time, with the `X-Trackflow-Signature` header after `sha256=`.
//! 3. Refuse timestamps too far from your clock (say 5 minutes) so an old request cannot be
//!    replayed.
//!
//! [`verify`] does steps 1–2 for a receiver written in Rust. A receiver that refuses
//! answers 401 or 403: the batch fails for good (no retry) and goes to the spool.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use ring::hmac;

use super::Backend;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::transport::{classify_status, HttpTransport, Request};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Trackflow-Signature";
/// The header carrying the signed timestamp (ms since the Unix epoch).
pub const TIMESTAMP_HEADER: &str = "X-Trackflow-Timestamp";
/// Default for [`WebhookBuilder::max_batch`].
pub const DEFAULT_MAX_BATCH: usize = 500;

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

/// The webhook backend. See the [module docs](self) for the wire format and how to verify it.
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
    url: String,
    format: WebhookFormat,
    gzip: bool,
    headers: Vec<(String, String)>,
    key: Option<hmac::Key>,
    max_batch: usize,
    transport: HttpTransport,
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

/// Builder of [`Webhook`].
///
/// | setting | default |
/// |---|---|
/// | `format` | [`WebhookFormat::JsonArray`] |
/// | `gzip` | `false` |
/// | `header` | none (values never shown in `Debug`) |
/// | `secret` | none: requests are not signed |
/// | `max_batch` | 500 |
/// | `transport` | [`HttpTransport::default`] |
#[derive(Debug)]
pub struct WebhookBuilder {
    url: String,
    secret_url: bool,
    format: WebhookFormat,
    gzip: bool,
    headers: Vec<(String, String)>,
    secret: Option<crate::auth::Secret>,
    max_batch: usize,
    transport: Option<HttpTransport>,
}

impl WebhookBuilder {
    /// The body's layout. Defaults to a JSON array.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::backend::webhook::{Webhook, WebhookFormat};
    /// let b = Webhook::builder("https://h/in").format(WebhookFormat::JsonLines);
    /// ```
    pub fn format(mut self, f: WebhookFormat) -> Self {
        self.format = f;
        self
    }
    /// Gzips the body (`Content-Encoding: gzip`). Defaults to `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::webhook::Webhook::builder("https://h/in").gzip(true);
    /// ```
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }
    /// Adds a request header (an `Authorization`, say); its value is never shown in `Debug`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::webhook::Webhook::builder("https://h/in").header("X-Team", "growth");
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Signs every request with HMAC-SHA256 under this shared secret.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::webhook::Webhook::builder("https://h/in").secret("s3cret");
    /// ```
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(crate::auth::Secret::new(secret));
        self
    }
    /// Events per request. Defaults to 500; at least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::webhook::Webhook::builder("https://h/in").max_batch(100);
    /// ```
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }
    /// The HTTP transport (timeouts, retries, TLS).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::webhook::Webhook::builder("https://h/in")
    ///     .transport(trackflow::transport::HttpTransport::default());
    /// ```
    pub fn transport(mut self, t: HttpTransport) -> Self {
        self.transport = Some(t);
        self
    }

    /// The URL's path is a secret (a token in it, as in `https://hooks.example.com/T01/B02/x9Y…`):
    /// it is shown as `***` wherever trackflow shows a URL or an error (`Debug`, errors, logs,
    /// dead letters). A token in the query or user information is masked anyway. Defaults
    /// to `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// let hook = trackflow::backend::webhook::Webhook::builder("https://h.example/T01/B02/s3cr3tT0ken")
    ///     .secret_url(true)
    ///     .build()?;
    /// assert!(!format!("{hook:?}").contains("s3cr3tT0ken"));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn secret_url(mut self, yes: bool) -> Self {
        self.secret_url = yes;
        self
    }

    /// Builds the backend.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL that is not http(s), an empty secret, or a header name
    /// that is not a token.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::backend::webhook::Webhook::builder("ftp://h").build().is_err());
    /// ```
    pub fn build(self) -> Result<Webhook> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "webhook.url must start with http:// or https://, got {}",
                crate::transport::mask::mask_url(&self.url)
            )));
        }
        if self.secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
            return Err(Error::Config("webhook.secret must not be empty".into()));
        }
        if self.secret_url {
            // Everything after the host: the path and the query.
            let after_scheme = self.url.split_once("://").map_or("", |(_, r)| r);
            if let Some(i) = after_scheme.find('/') {
                crate::transport::mask::mark_secret(&after_scheme[i + 1..]);
            }
        }
        for (name, _) in &self.headers {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return Err(Error::Config(format!(
                    "webhook.headers: `{name}` is not a header name (letters, digits and !#$%&'*+-.^_`|~)"
                )));
            }
        }
        Ok(Webhook {
            url: self.url,
            format: self.format,
            gzip: self.gzip,
            headers: self.headers,
            key: self
                .secret
                .map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.expose().as_bytes())),
            max_batch: self.max_batch,
            transport: self.transport.unwrap_or_default(),
        })
    }
}

impl Webhook {
    /// A builder posting to `url`.
    ///
    /// # Examples
    ///
    /// ```
    /// let hook = trackflow::backend::webhook::Webhook::builder("http://127.0.0.1:9/in").build()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn builder(url: impl Into<String>) -> WebhookBuilder {
        WebhookBuilder {
            url: url.into(),
            secret_url: false,
            format: WebhookFormat::default(),
            gzip: false,
            headers: Vec::new(),
            secret: None,
            max_batch: DEFAULT_MAX_BATCH,
            transport: None,
        }
    }

    /// The body for `batch`, before gzip.
    fn body(&self, batch: &[Event]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(batch.len() * 256);
        let array = self.format == WebhookFormat::JsonArray;
        if array {
            out.push(b'[');
        }
        for (i, e) in batch.iter().enumerate() {
            if array && i > 0 {
                out.push(b',');
            }
            crate::codec::json::write_event(&mut out, e)?;
            if !array {
                out.push(b'\n');
            }
        }
        if array {
            out.push(b']');
        }
        Ok(out)
    }

    fn headers(&self, body: &[u8]) -> Vec<(&str, String)> {
        let mut h: Vec<(&str, String)> = vec![(
            "content-type",
            match self.format {
                WebhookFormat::JsonArray => "application/json",
                WebhookFormat::JsonLines => "application/x-ndjson",
            }
            .to_owned(),
        )];
        if self.gzip {
            h.push(("content-encoding", "gzip".to_owned()));
        }
        if let Some(key) = &self.key {
            let ts = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                .to_string();
            h.push((SIGNATURE_HEADER, format!("sha256={}", sign(key, &ts, body))));
            h.push((TIMESTAMP_HEADER, ts));
        }
        h.extend(self.headers.iter().map(|(k, v)| (k.as_str(), v.clone())));
        h
    }
}

fn sign(key: &hmac::Key, timestamp: &str, body: &[u8]) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    crate::codec::hex(ctx.sign().as_ref())
}

/// Checks a webhook request as a receiver: `signature` is the `X-Trackflow-Signature`
/// header, `timestamp` the `X-Trackflow-Timestamp` header, `body` the bytes received.
/// Compares in constant time. The timestamp's age is left to the caller.
///
/// # Examples
///
/// ```
/// use trackflow::backend::webhook::verify;
/// // HMAC-SHA256("secret", "1700000000000.[]"), as any HMAC library computes it.
/// let sig = "sha256=851360622bbceafdf158fa3a464e245b922be337f0d5bd5dfbe6b77804214661";
/// assert!(verify("secret", "1700000000000", b"[]", sig));
/// assert!(!verify("secret", "1700000000001", b"[]", sig));
/// assert!(!verify("secret", "1700000000000", b"[]", "not a signature"));
/// ```
pub fn verify(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = crate::codec::unhex(hex) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut msg = Vec::with_capacity(timestamp.len() + 1 + body.len());
    msg.extend_from_slice(timestamp.as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(body);
    hmac::verify(&key, &msg, &tag).is_ok()
}

impl Backend for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn check(&self, _event: &Event) -> Result<()> {
        // Every neutral event has a JSON form.
        Ok(())
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        let body = self.body(batch).and_then(|plain| {
            if self.gzip {
                let mut z = Vec::new();
                crate::codec::gzip::compress_into(&plain, &mut z)?;
                Ok(z)
            } else {
                Ok(plain)
            }
        });
        let (r, retries) = match body {
            Ok(body) => {
                let headers = self.headers(&body);
                let req = Request {
                    url: &self.url,
                    query: &[],
                    headers: &headers,
                    body: &body,
                };
                let (r, retries) = self.transport.post(&req, ctx, &|r| {
                    classify_status(r.status, r.retry_after.as_deref(), &r.body)
                });
                (r.map(drop), retries)
            }
            Err(e) => (Err(e), 0),
        };
        // One request for the whole batch: its outcome is the batch's.
        d.record(r, retries, || (0..batch.len()).collect());
        d
    }
}

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

impl super::BackendSettings for WebhookSettings {
    const KIND: &'static str = "webhook";

    fn check(&self, _: &str, _: &crate::Route) -> Result<()> {
        // Marked at load, so that the config's own `Debug` masks the path from then on.
        if self.secret_url == Some(true) {
            if let Some((_, path)) = self.url.0.split_once("://").and_then(|(_, r)| r.split_once('/')) {
                crate::transport::mask::mark_secret(path);
            }
        }
        Ok(())
    }

    fn build(self, ctx: &super::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
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
