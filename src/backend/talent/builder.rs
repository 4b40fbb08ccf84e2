//! Building a [`Talent`]: its builder and defaults.

use super::client::{Talent, TalentVersion};
use super::DEFAULT_ENDPOINT;
use crate::auth::google::Tokens;
use crate::error::{Error, Result};
use crate::transport::HttpTransport;

/// Builder of [`Talent`].
///
/// | setting | default |
/// |---|---|
/// | `endpoint` | `https://jobs.googleapis.com` |
/// | `version` | [`TalentVersion::V4`] |
/// | `tokens` | none: anonymous |
/// | `quota_project` | none |
/// | `transport` | [`HttpTransport::default`] |
#[derive(Debug)]
pub struct TalentBuilder {
    pub(super) inner: Talent,
}

impl TalentBuilder {
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
    /// use trackflow::backend::talent::{Talent, TalentVersion};
    /// use trackflow::{Identity, ImmediateConsumer, Interaction, InteractionItem, Tracker};
    /// let talent = Talent::builder("projects/p/tenants/t").endpoint("http://127.0.0.1:8080").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(talent)).build()?;
    /// let opts = trackflow::EventOptions::new().interaction(Interaction::new().item(InteractionItem::new("job-1")));
    /// tracker.with(opts).track(&Identity::anonymous("v1"), "view", [("event_notes", "from search")])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = (&header, TalentVersion::V4);
    /// assert_eq!(r.url, "http://127.0.0.1:8080/v4/projects/p/tenants/t/clientEvents");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.inner.endpoint = url.into().trim_end_matches('/').to_owned();
        self
    }
    /// The API version. Defaults to v4.
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
    /// use trackflow::backend::talent::{Talent, TalentVersion};
    /// use trackflow::{Identity, ImmediateConsumer, Interaction, InteractionItem, Tracker};
    /// let talent = Talent::builder("projects/p/tenants/t").version(TalentVersion::V4).transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(talent)).build()?;
    /// let opts = trackflow::EventOptions::new().interaction(Interaction::new().item(InteractionItem::new("job-1")));
    /// tracker.with(opts).track(&Identity::anonymous("v1"), "view", [("event_notes", "from search")])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = (&header, TalentVersion::V4);
    /// assert!(r.url.contains("/v4/"));
    /// assert!(String::from_utf8(r.body.clone())?.contains("projects/p/tenants/t/jobs/job-1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn version(mut self, v: TalentVersion) -> Self {
        self.inner.version = v;
        self
    }
    /// Where bearer tokens come from.
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
    /// use trackflow::backend::talent::{Talent, TalentVersion};
    /// use trackflow::{Identity, ImmediateConsumer, Interaction, InteractionItem, Tracker};
    /// let talent = Talent::builder("projects/p/tenants/t").tokens(trackflow::auth::google::Tokens::new(trackflow::auth::google::StaticToken::new("ya29.x"))).transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(talent)).build()?;
    /// let opts = trackflow::EventOptions::new().interaction(Interaction::new().item(InteractionItem::new("job-1")));
    /// tracker.with(opts).track(&Identity::anonymous("v1"), "view", [("event_notes", "from search")])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = (&header, TalentVersion::V4);
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
    /// use trackflow::backend::talent::{Talent, TalentVersion};
    /// use trackflow::{Identity, ImmediateConsumer, Interaction, InteractionItem, Tracker};
    /// let talent = Talent::builder("projects/p/tenants/t").quota_project("billing-project").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(talent)).build()?;
    /// let opts = trackflow::EventOptions::new().interaction(Interaction::new().item(InteractionItem::new("job-1")));
    /// tracker.with(opts).track(&Identity::anonymous("v1"), "view", [("event_notes", "from search")])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = (&header, TalentVersion::V4);
    /// assert_eq!(header("x-goog-user-project").as_deref(), Some("billing-project"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn quota_project(mut self, p: impl Into<String>) -> Self {
        self.inner.quota_project = Some(p.into());
        self
    }
    /// The HTTP transport.
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
    /// use trackflow::backend::talent::{Talent, TalentVersion};
    /// use trackflow::{Identity, ImmediateConsumer, Interaction, InteractionItem, Tracker};
    /// let talent = Talent::builder("projects/p/tenants/t").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(talent)).build()?;
    /// let opts = trackflow::EventOptions::new().interaction(Interaction::new().item(InteractionItem::new("job-1")));
    /// tracker.with(opts).track(&Identity::anonymous("v1"), "view", [("event_notes", "from search")])?;
    /// let r = &sent()[0];
    /// let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    /// # let _ = (&header, TalentVersion::V4);
    /// // Requests go through the transport given (here one that records them).
    /// assert!(r.url.ends_with("/clientEvents"));
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
    /// [`Error::Config`] when `parent` does not fit the version: `projects/*/tenants/*` for v4,
    /// `projects/*` for v3.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").build()?;
    /// assert_eq!(t.version(), trackflow::backend::talent::TalentVersion::V4);
    /// // A parent that is not `projects/*/tenants/*` (v4) is refused when built.
    /// assert!(trackflow::backend::talent::Talent::builder("tenants/t").build().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Talent> {
        let parts: Vec<&str> = self.inner.parent.split('/').collect();
        let ok = parts.iter().all(|p| !p.is_empty())
            && match self.inner.version {
                TalentVersion::V4 => parts.len() == 4 && parts[0] == "projects" && parts[2] == "tenants",
                TalentVersion::V3 => parts.len() == 2 && parts[0] == "projects",
            };
        if !ok {
            let want = match self.inner.version {
                TalentVersion::V4 => "projects/PROJECT/tenants/TENANT",
                TalentVersion::V3 => "projects/PROJECT",
            };
            return Err(Error::Config(format!(
                "talent parent `{}`: {:?} needs {want}",
                self.inner.parent, self.inner.version
            )));
        }
        let mut talent = self.inner;
        // Tokens are fetched with this backend's transport settings (CA file, roots, timeouts).
        talent.tokens = talent.tokens.map(|t| t.for_transport(&talent.transport));
        Ok(talent)
    }
}

impl Talent {
    /// A builder for `parent` (`projects/*/tenants/*` for v4, `projects/*` for v3).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").build()?;
    /// assert_eq!(trackflow::Backend::name(&t), "talent");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(parent: impl Into<String>) -> TalentBuilder {
        TalentBuilder {
            inner: Talent {
                endpoint: DEFAULT_ENDPOINT.into(),
                parent: parent.into(),
                version: TalentVersion::V4,
                tokens: None,
                quota_project: None,
                transport: HttpTransport::default(),
            },
        }
    }
}
