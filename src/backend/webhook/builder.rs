//! Building a [`Webhook`]: its builder, and the checks on its URL, headers and secret.

use ring::hmac;

use super::client::{Webhook, WebhookFormat};
use super::DEFAULT_MAX_BATCH;
use crate::error::{Error, Result};
use crate::transport::HttpTransport;

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
    pub(super) url: String,
    pub(super) secret_url: bool,
    pub(super) format: WebhookFormat,
    pub(super) gzip: bool,
    pub(super) headers: Vec<(String, String)>,
    pub(super) secret: Option<crate::auth::Secret>,
    pub(super) max_batch: usize,
    pub(super) transport: Option<HttpTransport>,
}

impl WebhookBuilder {
    /// The body's layout. Defaults to a JSON array.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use trackflow::transport::{HttpClient, HttpRequest, HttpTransport, Response, Verdict};
    /// # #[derive(Debug, Default, Clone)]
    /// # struct Capture(Arc<Mutex<Vec<HttpRequest>>>);
    /// # impl HttpClient for Capture {
    /// #     fn send(&self, r: &HttpRequest, _: Option<std::time::Duration>) -> Result<Response, Verdict> {
    /// #         self.0.lock().unwrap().push(r.clone());
    /// #         Ok(Response { status: 200, body: b"".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::webhook::{Webhook, WebhookFormat};
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let hook = Webhook::builder("https://h/in").format(WebhookFormat::JsonLines).transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(hook)).build()?;
    /// tracker.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = (&header, WebhookFormat::JsonArray);
    /// // One JSON object per line, no array around them.
    /// assert!(r.body.starts_with(b"{") && r.body.ends_with(b"\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # use std::sync::{Arc, Mutex};
    /// # use trackflow::transport::{HttpClient, HttpRequest, HttpTransport, Response, Verdict};
    /// # #[derive(Debug, Default, Clone)]
    /// # struct Capture(Arc<Mutex<Vec<HttpRequest>>>);
    /// # impl HttpClient for Capture {
    /// #     fn send(&self, r: &HttpRequest, _: Option<std::time::Duration>) -> Result<Response, Verdict> {
    /// #         self.0.lock().unwrap().push(r.clone());
    /// #         Ok(Response { status: 200, body: b"".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::webhook::{Webhook, WebhookFormat};
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let hook = Webhook::builder("https://h/in").gzip(true).transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(hook)).build()?;
    /// tracker.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = (&header, WebhookFormat::JsonArray);
    /// assert_eq!(header("content-encoding").as_deref(), Some("gzip"));
    /// assert!(r.body.starts_with(&[0x1f, 0x8b]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # use std::sync::{Arc, Mutex};
    /// # use trackflow::transport::{HttpClient, HttpRequest, HttpTransport, Response, Verdict};
    /// # #[derive(Debug, Default, Clone)]
    /// # struct Capture(Arc<Mutex<Vec<HttpRequest>>>);
    /// # impl HttpClient for Capture {
    /// #     fn send(&self, r: &HttpRequest, _: Option<std::time::Duration>) -> Result<Response, Verdict> {
    /// #         self.0.lock().unwrap().push(r.clone());
    /// #         Ok(Response { status: 200, body: b"".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::webhook::{Webhook, WebhookFormat};
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let hook = Webhook::builder("https://h/in").header("X-Team", "growth").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(hook)).build()?;
    /// tracker.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = (&header, WebhookFormat::JsonArray);
    /// assert_eq!(header("X-Team").as_deref(), Some("growth"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # use std::sync::{Arc, Mutex};
    /// # use trackflow::transport::{HttpClient, HttpRequest, HttpTransport, Response, Verdict};
    /// # #[derive(Debug, Default, Clone)]
    /// # struct Capture(Arc<Mutex<Vec<HttpRequest>>>);
    /// # impl HttpClient for Capture {
    /// #     fn send(&self, r: &HttpRequest, _: Option<std::time::Duration>) -> Result<Response, Verdict> {
    /// #         self.0.lock().unwrap().push(r.clone());
    /// #         Ok(Response { status: 200, body: b"".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::webhook::{Webhook, WebhookFormat};
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let hook = Webhook::builder("https://h/in").secret("s3cret").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(hook)).build()?;
    /// tracker.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = (&header, WebhookFormat::JsonArray);
    /// let (ts, sig) = (header("X-Trackflow-Timestamp").unwrap(), header("X-Trackflow-Signature").unwrap());
    /// // What a receiver checks:
    /// assert!(trackflow::backend::webhook::verify("s3cret", &ts, &r.body, &sig));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// use trackflow::backend::webhook::Webhook;
    /// use trackflow::Backend;
    /// let hook = Webhook::builder("https://h/in").max_batch(100).build()?;
    /// // Consumers cut batches to what the backend takes.
    /// assert_eq!(hook.max_batch(), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # use std::sync::{Arc, Mutex};
    /// # use trackflow::transport::{HttpClient, HttpRequest, HttpTransport, Response, Verdict};
    /// # #[derive(Debug, Default, Clone)]
    /// # struct Capture(Arc<Mutex<Vec<HttpRequest>>>);
    /// # impl HttpClient for Capture {
    /// #     fn send(&self, r: &HttpRequest, _: Option<std::time::Duration>) -> Result<Response, Verdict> {
    /// #         self.0.lock().unwrap().push(r.clone());
    /// #         Ok(Response { status: 200, body: b"".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::webhook::{Webhook, WebhookFormat};
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let hook = Webhook::builder("https://h/in").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(hook)).build()?;
    /// tracker.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = (&header, WebhookFormat::JsonArray);
    /// // Requests go through the transport given (here one that records them).
    /// assert_eq!(r.url, "https://h/in");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// assert_eq!(trackflow::Backend::name(&hook), "webhook");
    /// // A URL that is not http(s) is refused when built.
    /// assert!(trackflow::backend::webhook::Webhook::builder("ftp://h/in").build().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
}
