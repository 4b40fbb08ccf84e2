//! Building a [`Retail`]: its builder, defaults and the check on the catalog path.

use std::time::Duration;

use super::client::Retail;
use super::{DEFAULT_ENDPOINT, DEFAULT_IMPORT_CHUNK, DEFAULT_OPERATION_DEADLINE};
use crate::auth::google::Tokens;
use crate::delivery::Cancel;
use crate::error::{Error, Result};
use crate::transport::HttpTransport;

/// Builder of [`Retail`].
///
/// | setting | default |
/// |---|---|
/// | `endpoint` | `https://retail.googleapis.com` |
/// | `tokens` | none: anonymous (no `authorization` header) |
/// | `quota_project` (`x-goog-user-project`) | none |
/// | `write_async` | `false` |
/// | `import_chunk` (events per import request) | 5 000 (Retail recommends ≤ 10 000) |
/// | `operation_deadline` | 600 s |
/// | `poll_interval` | 1 s |
/// | `transport` | [`HttpTransport::default`] |
#[derive(Debug)]
pub struct RetailBuilder {
    pub(super) inner: Retail,
}

impl RetailBuilder {
    /// Another endpoint (`scheme://host[:port]`).
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
    /// #         Ok(Response { status: 200, body: b"{}".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::retail::Retail;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let retail = Retail::builder("projects/1/locations/global/catalogs/c").endpoint("http://127.0.0.1:8080").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(retail)).build()?;
    /// tracker.track(&Identity::anonymous("v1"), "home-page-view", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = &header;
    /// assert_eq!(r.url, "http://127.0.0.1:8080/v2/projects/1/locations/global/catalogs/c/userEvents:write");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.inner.endpoint = url.into().trim_end_matches('/').to_owned();
        self
    }
    /// Where bearer tokens come from. Without, requests are anonymous.
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
    /// #         Ok(Response { status: 200, body: b"{}".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::retail::Retail;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let retail = Retail::builder("projects/1/locations/global/catalogs/c").tokens(trackflow::auth::google::Tokens::new(trackflow::auth::google::StaticToken::new("ya29.x"))).transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(retail)).build()?;
    /// tracker.track(&Identity::anonymous("v1"), "home-page-view", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = &header;
    /// assert_eq!(header("authorization").as_deref(), Some("Bearer ya29.x"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tokens(mut self, t: Tokens) -> Self {
        self.inner.tokens = Some(t);
        self
    }
    /// The project billed for quota (`x-goog-user-project`).
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
    /// #         Ok(Response { status: 200, body: b"{}".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::retail::Retail;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let retail = Retail::builder("projects/1/locations/global/catalogs/c").quota_project("billing-project").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(retail)).build()?;
    /// tracker.track(&Identity::anonymous("v1"), "home-page-view", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = &header;
    /// assert_eq!(header("x-goog-user-project").as_deref(), Some("billing-project"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn quota_project(mut self, p: impl Into<String>) -> Self {
        self.inner.quota_project = Some(p.into());
        self
    }
    /// Ask Retail to write asynchronously (`writeAsync=true`). Defaults to `false`.
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
    /// #         Ok(Response { status: 200, body: b"{}".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::retail::Retail;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let retail = Retail::builder("projects/1/locations/global/catalogs/c").write_async(true).transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(retail)).build()?;
    /// tracker.track(&Identity::anonymous("v1"), "home-page-view", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = &header;
    /// assert!(r.query.contains(&("writeAsync".to_owned(), "true".to_owned())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_async(mut self, v: bool) -> Self {
        self.inner.write_async = v;
        self
    }
    /// Events per import request. Defaults to 5 000; clamped to 1..=10 000.
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
    /// #         Ok(Response { status: 200, body: br#"{"name": "operations/1", "done": true}"#.to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::retail::Retail;
    /// use trackflow::{Event, Identity};
    /// let retail = Retail::builder("projects/1/locations/global/catalogs/c").import_chunk(2).transport(transport).build()?;
    /// let events = (0..5).map(|i| Event::track("home-page-view").with_identity(Identity::anonymous("v1")).with_time(i));
    /// retail.import(events, None, |_| {})?;
    /// // Five events in chunks of two: three import requests.
    /// assert_eq!(sent().len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn import_chunk(mut self, n: usize) -> Self {
        self.inner.import_chunk = n.clamp(1, 10_000);
        self
    }
    /// How long to wait for a long-running operation. Defaults to 600 s.
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
    /// #         Ok(Response { status: 200, body: br#"{"name": "operations/1"}"#.to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use std::time::Duration;
    /// use trackflow::backend::retail::Retail;
    /// let retail = Retail::builder("projects/1/locations/global/catalogs/c")
    ///     .operation_deadline(Duration::from_millis(200))
    ///     .poll_interval(Duration::from_millis(20))
    ///     .transport(transport)
    ///     .build()?;
    /// // An operation that never finishes: polled every 20 ms, given up after 200 ms.
    /// assert!(retail.purge("*", true).is_err());
    /// assert!(sent().len() > 2, "{} requests", sent().len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn operation_deadline(mut self, d: Duration) -> Self {
        self.inner.operation_deadline = d;
        self
    }
    /// How often to poll a long-running operation. Defaults to 1 s.
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
    /// #         Ok(Response { status: 200, body: br#"{"name": "operations/1"}"#.to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use std::time::Duration;
    /// use trackflow::backend::retail::Retail;
    /// let retail = Retail::builder("projects/1/locations/global/catalogs/c")
    ///     .operation_deadline(Duration::from_millis(200))
    ///     .poll_interval(Duration::from_millis(20))
    ///     .transport(transport)
    ///     .build()?;
    /// // An operation that never finishes: polled every 20 ms, given up after 200 ms.
    /// assert!(retail.purge("*", true).is_err());
    /// assert!(sent().len() > 2, "{} requests", sent().len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.inner.poll_interval = d;
        self
    }
    /// A cancellation for the admin calls (import, purge, rejoin): when it fires, their
    /// requests, token fetches and polling stop. Each admin call also stops at
    /// `operation_deadline`. Defaults to one that never fires.
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
    /// use trackflow::backend::retail::Retail;
    /// let stop = trackflow::delivery::Cancel::default();
    /// let retail = Retail::builder("projects/1/locations/global/catalogs/c").cancel(stop.clone()).transport(transport).build()?;
    /// stop.cancel(); // e.g. from a signal handler's thread
    /// assert!(retail.purge("*", true).is_err());
    /// assert!(sent().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel(mut self, c: Cancel) -> Self {
        self.inner.cancel = c;
        self
    }
    /// The HTTP transport. Defaults to [`HttpTransport::default`].
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
    /// #         Ok(Response { status: 200, body: b"{}".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::backend::retail::Retail;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let retail = Retail::builder("projects/1/locations/global/catalogs/c").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(retail)).build()?;
    /// tracker.track(&Identity::anonymous("v1"), "home-page-view", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = &header;
    /// // Requests go through the transport given (here one that records them).
    /// assert!(r.url.ends_with("userEvents:write"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transport(mut self, t: HttpTransport) -> Self {
        self.inner.transport = t;
        self
    }
    /// Builds the backend.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `parent` is not `projects/*/locations/*/catalogs/*`.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").build()?;
    /// assert!(trackflow::backend::retail::Retail::builder("projects/1").build().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Retail> {
        let parts: Vec<&str> = self.inner.parent.split('/').collect();
        let ok = parts.len() == 6
            && parts[0] == "projects"
            && parts[2] == "locations"
            && parts[4] == "catalogs"
            && parts.iter().all(|p| !p.is_empty());
        if !ok {
            return Err(Error::Config(format!(
                "retail parent `{}`: must be projects/PROJECT/locations/LOCATION/catalogs/CATALOG",
                self.inner.parent
            )));
        }
        let mut retail = self.inner;
        // Tokens are fetched with this backend's transport settings (CA file, roots, timeouts).
        retail.tokens = retail.tokens.map(|t| t.for_transport(&retail.transport));
        Ok(retail)
    }
}

impl Retail {
    /// A builder for the catalog `parent` (`projects/*/locations/*/catalogs/*`).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = trackflow::backend::retail::Retail::builder("projects/123/locations/global/catalogs/default_catalog").build()?;
    /// assert_eq!(trackflow::Backend::name(&r), "retail");
    /// // A parent that is not a catalog path is refused when built.
    /// assert!(trackflow::backend::retail::Retail::builder("catalogs/c").build().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(parent: impl Into<String>) -> RetailBuilder {
        RetailBuilder {
            inner: Retail {
                endpoint: DEFAULT_ENDPOINT.into(),
                parent: parent.into(),
                tokens: None,
                quota_project: None,
                write_async: false,
                import_chunk: DEFAULT_IMPORT_CHUNK,
                operation_deadline: DEFAULT_OPERATION_DEADLINE,
                poll_interval: Duration::from_secs(1),
                cancel: Cancel::default(),
                transport: HttpTransport::default(),
            },
        }
    }
}
