//! Building a [`Gravity`]: its builder and defaults.

use std::fmt;

use parking_lot::Mutex;

use super::client::{ClientId, Gravity};
use super::{DEFAULT_MAX_BATCH, MAX_BATCH};
use crate::error::{Error, Result};
use crate::transport::mask::mask_url;
use crate::transport::HttpTransport;

/// Builder of [`Gravity`].
///
/// | setting | default |
/// |---|---|
/// | `compress` (gzip, `Gravity-Content-Compress: gzip`) | `true` |
/// | `max_batch` (events per envelope) | 20, clamped to 1..=200 |
/// | `utc_offset_minutes` (how times are written as text) | 0 (UTC) |
/// | `uuid_from_insert_id` (send the insert id as `#uuid`) | `false` |
/// | `client_id` (which id first) | [`ClientId::AnonymousFirst`] |
/// | `debug_mode` (Gravity's debug collector mode) | `false` |
/// | `transport` | [`HttpTransport::default`] |
pub struct GravityBuilder {
    pub(super) url: String,
    pub(super) compress: bool,
    pub(super) max_batch: usize,
    pub(super) utc_offset_minutes: i32,
    pub(super) uuid_from_insert_id: bool,
    pub(super) client_id: ClientId,
    pub(super) debug_mode: bool,
    pub(super) transport: Option<HttpTransport>,
}

impl fmt::Debug for GravityBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GravityBuilder")
            .field("url", &mask_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl GravityBuilder {
    /// Gzip bodies. Defaults to `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::backend::gravity::Gravity;
    /// use trackflow::{Event, Identity};
    /// let ge = Gravity::builder("https://h/c/?access_token=t").compress(false).build()?;
    /// let e = Event::track("buy").with_identity(Identity::anonymous("c1")).with_time(0);
    /// let mut out = Vec::new();
    /// ge.encode_envelope(&[&e], &mut out)?;
    /// // Without compression the body is the JSON itself, not gzip.
    /// assert!(out.starts_with(b"{"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compress(mut self, v: bool) -> Self {
        self.compress = v;
        self
    }
    /// Most events in one envelope (one request). Defaults to 20; clamped to 1..=200 as the
    /// SDK does. It does not cut the consumer's batch: a delivery is split into envelopes, one
    /// client each, sent side by side.
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
    /// #         Ok(Response { status: 200, body: br#"{"code": 0}"#.to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::gravity::Gravity;
    /// use trackflow::{Event, Identity, ImmediateConsumer, Tracker};
    /// let ge = Gravity::builder("https://h/c/?access_token=t").max_batch(100).transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(trackflow::BufferedConsumer::builder(ge).max_batch(500).build()).build()?;
    /// for i in 0..250 {
    ///     tracker.track(&Identity::anonymous("c1"), "buy", [("n", i)])?;
    /// }
    /// tracker.flush()?;
    /// // One delivery of 250 events for one client: envelopes of at most 100.
    /// assert_eq!(sent().len(), 3);
    /// # let _ = (Event::track("x"), ImmediateConsumer::new(trackflow::MemoryBackend::new()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }
    /// The offset from UTC, in minutes, of the wall-clock text Gravity gets for time values
    /// (`YYYY-mm-dd HH:MM:SS.mmm`). Defaults to 0: UTC.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::backend::gravity::Gravity;
    /// use trackflow::{Event, Identity};
    /// let ge = Gravity::builder("https://h/c/?access_token=t").compress(false).utc_offset_minutes(480).build()?;
    /// let e = Event::track("buy").with_identity(Identity::anonymous("c1")).with_properties(trackflow::Properties::new().with("at", trackflow::Value::Time(0)));
    /// let mut out = Vec::new();
    /// ge.encode_envelope(&[&e], &mut out)?;
    /// let text = String::from_utf8(out)?;
    /// // Time values as Beijing wall-clock text.
    /// assert!(text.contains("1970-01-01 08:00:00.000"), "{text}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn utc_offset_minutes(mut self, m: i32) -> Self {
        self.utc_offset_minutes = m;
        self
    }
    /// Send each event's insert id as `#uuid` (unless the event sets one), so the collector can
    /// drop the duplicates an ambiguous retry may cause. `#uuid` belongs to the envelope, so
    /// this sends one request per event. Defaults to `false`, as the SDK.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::backend::gravity::Gravity;
    /// use trackflow::{Event, Identity};
    /// let ge = Gravity::builder("https://h/c/?access_token=t").compress(false).uuid_from_insert_id(true).build()?;
    /// let e = Event::track("buy").with_identity(Identity::anonymous("c1")).with_time(0);
    /// let mut out = Vec::new();
    /// ge.encode_envelope(&[&e], &mut out)?;
    /// let text = String::from_utf8(out)?;
    /// assert!(text.contains(&format!(r##""#uuid": "{}""##, e.insert_id)), "{text}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn uuid_from_insert_id(mut self, v: bool) -> Self {
        self.uuid_from_insert_id = v;
        self
    }
    /// Which id becomes `client_id` when an identity has both. Defaults to
    /// [`ClientId::AnonymousFirst`].
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::backend::gravity::{ClientId, Gravity};
    /// use trackflow::{Event, Identity};
    /// let ge = Gravity::builder("https://h/c/?access_token=t").compress(false).client_id(ClientId::UserFirst).build()?;
    /// let e = Event::track("buy").with_identity(Identity::anonymous("device-1").with_user("user-1"));
    /// let mut out = Vec::new();
    /// ge.encode_envelope(&[&e], &mut out)?;
    /// assert!(out.starts_with(br#"{"client_id": "user-1""#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn client_id(mut self, c: ClientId) -> Self {
        self.client_id = c;
        self
    }
    /// Gravity's debug mode, as the SDK's `GEDebugConsumer` sends it: one plain envelope per
    /// request with `Turbo-Debug-Mode: 1`, which the collector validates and answers in
    /// detail without storing. For development; a setting of the backend, whichever
    /// consumer delivers. Defaults to `false`.
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
    /// #         Ok(Response { status: 200, body: br#"{"code": 0}"#.to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::gravity::Gravity;
    /// use trackflow::{Consumer, Event, Identity, ImmediateConsumer};
    /// let ge = Gravity::builder("https://h/c/?access_token=t").debug_mode(true).transport(transport).build()?;
    /// ImmediateConsumer::new(ge).consume(Event::track("buy").with_identity(Identity::anonymous("c1")))?;
    /// let r = &sent()[0];
    /// assert!(r.headers.iter().any(|(k, v)| k == "Turbo-Debug-Mode" && v == "1"), "{:?}", r.headers);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn debug_mode(mut self, on: bool) -> Self {
        self.debug_mode = on;
        self
    }
    /// The HTTP transport (timeouts, retries). Defaults to [`HttpTransport::default`].
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
    /// #         Ok(Response { status: 200, body: br#"{"code": 0}"#.to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::gravity::Gravity;
    /// use trackflow::{Consumer, Event, Identity, ImmediateConsumer};
    /// let ge = Gravity::builder("https://h/c/?access_token=t").transport(transport).build()?;
    /// ImmediateConsumer::new(ge).consume(Event::track("buy").with_identity(Identity::anonymous("c1")))?;
    /// let r = &sent()[0];
    /// // Requests go through the transport given (here one that records them).
    /// assert!(r.url.starts_with("https://h/c/"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transport(mut self, t: HttpTransport) -> Self {
        self.transport = Some(t);
        self
    }
    /// Builds the backend.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL that is not `http://` or `https://`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ge = trackflow::backend::gravity::Gravity::builder("https://h/c/?access_token=t").build()?;
    /// assert!(trackflow::backend::gravity::Gravity::builder("ftp://h").build().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Gravity> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "gravity url `{}`: must start with http:// or https://",
                mask_url(&self.url)
            )));
        }
        Ok(Gravity {
            url: self.url,
            compress: self.compress,
            max_batch: self.max_batch.clamp(1, MAX_BATCH),
            utc_offset_minutes: self.utc_offset_minutes,
            uuid_from_insert_id: self.uuid_from_insert_id,
            client_id: self.client_id,
            debug_mode: self.debug_mode,
            transport: self.transport.unwrap_or_default(),
            buffers: Mutex::new(Vec::new()),
        })
    }
}

impl Gravity {
    /// A builder for the collect URL, used verbatim (the access token travels in its query:
    /// `…/event/collect/?access_token=TOKEN`). trackflow masks the token in its logs, errors
    /// and `Debug` output. ureq, the HTTP client, logs full URLs only at `trace` level on target
    /// `ureq`: keep that off in production.
    ///
    /// # Examples
    ///
    /// ```
    /// let ge = trackflow::Gravity::builder("https://backend.gravity-engine.com/event_center/api/v1/event/collect/?access_token=TOKEN").build()?;
    /// // The token travels in the URL and never shows.
    /// assert!(!format!("{ge:?}").contains("TOKEN"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(url: impl Into<String>) -> GravityBuilder {
        GravityBuilder {
            url: url.into(),
            compress: true,
            max_batch: DEFAULT_MAX_BATCH,
            utc_offset_minutes: 0,
            uuid_from_insert_id: false,
            client_id: ClientId::AnonymousFirst,
            debug_mode: false,
            transport: None,
        }
    }
}
