//! Building a [`GrowingIo`]: its builder and the checks on what it is given.

use std::sync::Arc;

use parking_lot::Mutex;

use super::client::GrowingIo;
use super::codec::GrowingIoCodec;
use super::{DEFAULT_PLATFORM, DEFAULT_SDK_VERSION, MAX_BATCH};
use crate::backend::DEFAULT_MAX_BATCH;
use crate::clock::{Clock, SharedClock};
use crate::error::{Error, Result};
use crate::transport::HttpTransport;

/// Builder of [`GrowingIo`].
///
/// | setting | default |
/// |---|---|
/// | `platform` | `python` |
/// | `sdk_version` | `1.0.5` |
/// | `max_batch` | 500 (clamped to 1..=2000) |
/// | `codec` | [`GrowingIoCodec::Json`] |
/// | `transport` | [`HttpTransport::default`] |
/// | `clock` (for `stm`) | the system clock |
#[derive(Debug)]
pub struct GrowingIoBuilder {
    host: String,
    project_key: String,
    data_source_id: String,
    platform: String,
    sdk_version: String,
    max_batch: usize,
    codec: GrowingIoCodec,
    transport: Option<HttpTransport>,
    clock: SharedClock,
}

impl GrowingIoBuilder {
    /// The `platform` field. Defaults to `python`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, GrowingIo, Identity};
    /// let gio = GrowingIo::builder("https://collector.example.com", "p", "d").platform("java").build()?;
    /// let mut out = Vec::new();
    /// gio.encode_events(&[Event::track("open").with_identity(Identity::anonymous("d1"))], 5, &mut out)?;
    /// let body = String::from_utf8(out)?;
    /// assert!(body.contains(r#""platform":"java""#), "{body}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn platform(mut self, v: impl Into<String>) -> Self {
        self.platform = v.into();
        self
    }
    /// The `sdkVersion` field. Defaults to `1.0.5`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, GrowingIo, Identity};
    /// let gio = GrowingIo::builder("https://collector.example.com", "p", "d").sdk_version("2.0.0").build()?;
    /// let mut out = Vec::new();
    /// gio.encode_events(&[Event::track("open").with_identity(Identity::anonymous("d1"))], 5, &mut out)?;
    /// let body = String::from_utf8(out)?;
    /// assert!(body.contains(r#""sdkVersion":"2.0.0""#), "{body}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sdk_version(mut self, v: impl Into<String>) -> Self {
        self.sdk_version = v.into();
        self
    }
    /// Most events per request. Defaults to 500; clamped to 1..=2000 as the SDK does.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Backend, GrowingIo};
    /// let gio = GrowingIo::builder("https://collector.example.com", "p", "d").max_batch(100).build()?;
    /// // Consumers cut batches to what the backend takes; past the SDK's 2000 it is clamped.
    /// assert_eq!(gio.max_batch(), 100);
    /// let big = GrowingIo::builder("https://collector.example.com", "p", "d").max_batch(10_000).build()?;
    /// assert_eq!(big.max_batch(), 2000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }
    /// How bodies are encoded. Defaults to [`GrowingIoCodec::Json`].
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, GrowingIo, Identity};
    /// let gio = GrowingIo::builder("https://collector.example.com", "p", "d").codec(trackflow::backend::growingio::GrowingIoCodec::Json).build()?;
    /// let mut out = Vec::new();
    /// gio.encode_events(&[Event::track("open").with_identity(Identity::anonymous("d1"))], 5, &mut out)?;
    /// let body = String::from_utf8(out)?;
    /// assert!(body.starts_with(r#"[{"eventType":"CUSTOM""#), "{body}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn codec(mut self, c: GrowingIoCodec) -> Self {
        self.codec = c;
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
    /// #         Ok(Response { status: 200, body: b"".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::{Consumer, Event, GrowingIo, Identity, ImmediateConsumer};
    /// // Requests go through the transport given (here one that records them).
    /// let gio = GrowingIo::builder("https://collector.example.com", "p", "d").transport(transport).build()?;
    /// ImmediateConsumer::new(gio).consume(Event::track("open").with_identity(Identity::anonymous("d1")))?;
    /// assert_eq!(sent()[0].url, "https://collector.example.com/v3/projects/p/collect");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transport(mut self, t: HttpTransport) -> Self {
        self.transport = Some(t);
        self
    }
    /// The clock for the `stm` send-time parameter. Defaults to the system clock.
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
    /// use trackflow::{clock::FixedClock, Consumer, Event, GrowingIo, Identity, ImmediateConsumer};
    /// let gio = GrowingIo::builder("https://collector.example.com", "p", "d")
    ///     .clock(FixedClock(1_700_000_000_000))
    ///     .transport(transport)
    ///     .build()?;
    /// ImmediateConsumer::new(gio).consume(Event::track("open").with_identity(Identity::anonymous("d1")))?;
    /// // The clock stamps `stm`, the send time the collector reads.
    /// assert!(sent()[0].query.contains(&("stm".to_owned(), "1700000000000".to_owned())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock(mut self, c: impl Clock + 'static) -> Self {
        self.clock = Arc::new(c);
        self
    }
    /// Checks the settings and builds the backend.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty host, project key or data source id, a host that is
    /// not `http://` or `https://`, or a codec whose cargo feature is off.
    ///
    /// # Examples
    ///
    /// ```
    /// let gio = trackflow::GrowingIo::builder("https://collector.example.com", "p", "d").build()?;
    /// assert!(trackflow::GrowingIo::builder("collector.example.com", "p", "d").build().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<GrowingIo> {
        self.codec.check_available()?;
        // The SDK strips a trailing '/' but then builds URLs from the raw host, sending
        // `//v3/...`; we strip it for real.
        let host = self.host.trim().trim_end_matches('/');
        if !(host.starts_with("http://") || host.starts_with("https://")) {
            return Err(Error::Config(format!(
                "growingio host `{host}`: must start with http:// or https://"
            )));
        }
        for (name, v) in [
            ("project_key", &self.project_key),
            ("data_source_id", &self.data_source_id),
        ] {
            if v.is_empty() || v.contains(['/', '?', '#']) {
                return Err(Error::Config(format!(
                    "growingio {name} `{v}`: must be a non-empty id"
                )));
            }
        }
        Ok(GrowingIo {
            collect_url: format!("{host}/v3/projects/{}/collect", self.project_key),
            item_url: format!("{host}/projects/{}/collect/item", self.project_key),
            project_key: self.project_key,
            data_source_id: self.data_source_id,
            platform: self.platform,
            sdk_version: self.sdk_version,
            max_batch: self.max_batch.clamp(1, MAX_BATCH),
            codec: self.codec,
            transport: self.transport.unwrap_or_default(),
            clock: self.clock,
            buffers: Mutex::new(Vec::new()),
            prefix_custom: Vec::new(),
            prefix_user: Vec::new(),
            suffix: Vec::new(),
        }
        .with_fragments())
    }
}

impl GrowingIo {
    /// A builder for the project `project_key` (the SDK's `product_id`) and data source.
    ///
    /// # Examples
    ///
    /// ```
    /// let gio = trackflow::GrowingIo::builder("https://collector.example.com", "bcc3b6e0b6d7a1b2", "a5f1c2d3e4b5a6c7").build()?;
    /// assert_eq!(gio.collect_url(), "https://collector.example.com/v3/projects/bcc3b6e0b6d7a1b2/collect");
    /// assert_eq!(gio.item_url(), "https://collector.example.com/projects/bcc3b6e0b6d7a1b2/collect/item");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(
        host: impl Into<String>,
        project_key: impl Into<String>,
        data_source_id: impl Into<String>,
    ) -> GrowingIoBuilder {
        GrowingIoBuilder {
            host: host.into(),
            project_key: project_key.into(),
            data_source_id: data_source_id.into(),
            platform: DEFAULT_PLATFORM.to_owned(),
            sdk_version: DEFAULT_SDK_VERSION.to_owned(),
            max_batch: DEFAULT_MAX_BATCH,
            codec: GrowingIoCodec::Json,
            transport: None,
            clock: crate::clock::system(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_is_stripped_and_bad_hosts_rejected() {
        let g = GrowingIo::builder("http://h:1//", "p", "d").build().unwrap();
        assert_eq!(g.collect_url(), "http://h:1/v3/projects/p/collect");
        assert_eq!(g.item_url(), "http://h:1/projects/p/collect/item");
        assert!(GrowingIo::builder("h:1", "p", "d").build().is_err());
        assert!(GrowingIo::builder("http://h", "", "d").build().is_err());
    }
}
