//! Building a [`Personalize`]: its builder, the region and credential defaults, and the
//! checks on endpoints and dataset ARNs.

use std::sync::Arc;

use super::client::Personalize;
use super::DEFAULT_ACTION_ITEM_TYPE;
use crate::auth::aws::{
    CachedCredentials, Credentials, CredentialsProvider, DefaultChain, StaticCredentials,
};
use crate::clock::{Clock, SharedClock};
use crate::error::{Error, Result};
use crate::transport::HttpTransport;

/// Builder of [`Personalize`].
///
/// | setting | default |
/// |---|---|
/// | `region` | `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region` in `~/.aws/config`, instance metadata |
/// | `credentials` | the AWS chain, cached and refreshed before expiry: environment, web identity, profile (keys, `credential_process`, roles), container endpoint, instance metadata (see [`crate::auth::aws`]) |
/// | `endpoint` | `https://personalize-events.{region}.amazonaws.com` |
/// | `tracking_id` | none: needed for track events |
/// | `users_dataset_arn`, `items_dataset_arn`, `actions_dataset_arn` | none: needed for `user_set`, `item_set` |
/// | `action_item_type` | `action`: `item_set` of this type goes to PutActions |
/// | `event_id_from_insert_id` | `true`: each event's insert id is its `eventId` |
/// | `clock` (the signing time) | the system clock |
#[derive(Debug, Default)]
pub struct PersonalizeBuilder {
    pub(super) region: Option<String>,
    pub(super) credentials: Option<CachedCredentials>,
    pub(super) endpoint: Option<String>,
    pub(super) tracking_id: Option<String>,
    pub(super) users_arn: Option<String>,
    pub(super) items_arn: Option<String>,
    pub(super) actions_arn: Option<String>,
    pub(super) action_item_type: Option<String>,
    pub(super) event_id_from_insert_id: Option<bool>,
    pub(super) clock: Option<SharedClock>,
    pub(super) transport: Option<HttpTransport>,
}

impl PersonalizeBuilder {
    /// The AWS region.
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
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).tracking_id("t").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.track(&Identity::user("u1").with_session("s1"), "click", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// assert_eq!(r.url, "https://personalize-events.us-east-1.amazonaws.com/events");
    /// assert!(r.headers.iter().find(|(k, _)| k == "Authorization").map(|(_, v)| v.as_str()).unwrap_or_default().contains("/us-east-1/personalize/aws4_request"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn region(mut self, r: impl Into<String>) -> Self {
        self.region = Some(r.into());
        self
    }
    /// Explicit credentials.
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
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).tracking_id("t").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.track(&Identity::user("u1").with_session("s1"), "click", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// // Signed with the key id given; the secret never shows.
    /// assert!(r.headers.iter().find(|(k, _)| k == "Authorization").map(|(_, v)| v.as_str()).unwrap_or_default().contains("Credential=AKID/"));
    /// assert!(!format!("{r:?}").contains("SECRET"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = Some(CachedCredentials::new(StaticCredentials(c)));
        self
    }
    /// Where credentials come from (your own [`CredentialsProvider`], or one of
    /// [`crate::auth::aws`]'s); cached and refreshed before they expire. Defaults to
    /// [`DefaultChain`].
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::aws::{Credentials, StaticCredentials};
    /// use trackflow::backend::personalize::Personalize;
    /// // Any provider: a vault, a sidecar; here fixed keys. The AWS chain is the default.
    /// let p = Personalize::builder()
    ///     .region("us-east-1")
    ///     .credentials_provider(StaticCredentials(Credentials::new("AKID", "SECRET", None)))
    ///     .tracking_id("t")
    ///     .build()?;
    /// assert!(!format!("{p:?}").contains("SECRET"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn credentials_provider(mut self, p: impl CredentialsProvider + 'static) -> Self {
        self.credentials = Some(CachedCredentials::new(p));
        self
    }
    /// Another endpoint (`scheme://host[:port]`), e.g. a VPC endpoint or a local collector.
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
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).endpoint("http://127.0.0.1:8080").tracking_id("t").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.track(&Identity::user("u1").with_session("s1"), "click", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// assert_eq!(r.url, "http://127.0.0.1:8080/events");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }
    /// The event tracker's id, for PutEvents and PutActionInteractions.
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
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).tracking_id("tracking-0001").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.track(&Identity::user("u1").with_session("s1"), "click", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// assert!(body.contains(r#""trackingId": "tracking-0001""#), "{body}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tracking_id(mut self, id: impl Into<String>) -> Self {
        self.tracking_id = Some(id.into());
        self
    }
    /// The users dataset, for `user_set`.
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
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).users_dataset_arn("arn:aws:personalize:us-east-1:123456789012:dataset/g/USERS").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.user_set(&Identity::user("u1"), [("plan", "pro")])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// assert_eq!(r.url, "https://personalize-events.us-east-1.amazonaws.com/users");
    /// assert!(body.contains("dataset/g/USERS"), "{body}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn users_dataset_arn(mut self, arn: impl Into<String>) -> Self {
        self.users_arn = Some(arn.into());
        self
    }
    /// The items dataset, for `item_set`.
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
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).items_dataset_arn("arn:aws:personalize:us-east-1:123456789012:dataset/g/ITEMS").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.item_set("book", "b-1", [("genre", "sf")])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// assert_eq!(r.url, "https://personalize-events.us-east-1.amazonaws.com/items");
    /// assert!(body.contains("dataset/g/ITEMS"), "{body}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn items_dataset_arn(mut self, arn: impl Into<String>) -> Self {
        self.items_arn = Some(arn.into());
        self
    }
    /// The actions dataset, for `item_set` of the action item type.
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
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).actions_dataset_arn("arn:aws:personalize:us-east-1:123456789012:dataset/g/ACTIONS").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.item_set("action", "a-1", [("name", "upgrade")])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// assert_eq!(r.url, "https://personalize-events.us-east-1.amazonaws.com/actions");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn actions_dataset_arn(mut self, arn: impl Into<String>) -> Self {
        self.actions_arn = Some(arn.into());
        self
    }
    /// The item type that means an action. Defaults to `action`.
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
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).actions_dataset_arn("arn:aws:personalize:us-east-1:123456789012:dataset/g/ACTIONS").action_item_type("offer").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.item_set("offer", "o-1", [("name", "free month")])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// // Items of this type are actions.
    /// assert_eq!(r.url, "https://personalize-events.us-east-1.amazonaws.com/actions");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn action_item_type(mut self, t: impl Into<String>) -> Self {
        self.action_item_type = Some(t.into());
        self
    }
    /// Send each event's insert id as its `eventId`. Defaults to `true`; with `false`
    /// Personalize makes the ids.
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
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).tracking_id("t").event_id_from_insert_id(false).transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.track(&Identity::user("u1").with_session("s1"), "click", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// // Personalize makes up the event id itself.
    /// assert!(!body.contains("eventId"), "{body}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn event_id_from_insert_id(mut self, v: bool) -> Self {
        self.event_id_from_insert_id = Some(v);
        self
    }
    /// The clock for signing. Defaults to the system clock.
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
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).tracking_id("t").clock(trackflow::clock::FixedClock(1_700_000_000_000)).transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.track(&Identity::user("u1").with_session("s1"), "click", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// // The clock is the signing time.
    /// assert_eq!(r.headers.iter().find(|(k, _)| k == "X-Amz-Date").map(|(_, v)| v.as_str()).unwrap_or_default(), "20231114T221320Z");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock(mut self, c: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(c));
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
    /// #         Ok(Response { status: 200, body: b"".to_vec(), ..Response::default() })
    /// #     }
    /// # }
    /// # let capture = Capture::default();
    /// # let transport = HttpTransport::builder().client(capture.clone()).build();
    /// # let sent = || capture.0.lock().unwrap().clone();
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// use trackflow::{Identity, ImmediateConsumer, Tracker};
    /// let p = Personalize::builder().region("us-east-1").credentials(Credentials::new("AKID", "SECRET", None)).tracking_id("t").transport(transport).build()?;
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(p)).build()?;
    /// tracker.track(&Identity::user("u1").with_session("s1"), "click", [("n", 1)])?;
    /// let r = &sent()[0];
    /// let body = String::from_utf8(r.body.clone())?;
    /// // Requests go through the transport given (here one that records them).
    /// assert!(r.url.ends_with("/events"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transport(mut self, t: HttpTransport) -> Self {
        self.transport = Some(t);
        self
    }

    /// Resolves region and credentials and builds the backend.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when no region is found, the endpoint is not a URL, or a dataset ARN
    /// is malformed. Credentials are fetched when the first request is signed (on EC2, ECS or
    /// EKS they come over the network), and refreshed before they expire.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// let p = Personalize::builder()
    ///     .region("us-east-1")
    ///     .credentials(Credentials::new("AKID", "SECRET", None))
    ///     .tracking_id("t")
    ///     .build()?;
    /// assert_eq!(p.endpoint(), "https://personalize-events.us-east-1.amazonaws.com");
    /// // A dataset ARN that cannot be one is refused when built, naming the setting.
    /// let bad = Personalize::builder().region("us-east-1").users_dataset_arn("users").build();
    /// assert!(bad.unwrap_err().to_string().contains("users"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Personalize> {
        let region = match self.region {
            Some(r) => r,
            None => DefaultChain::new().region().ok_or_else(|| {
                Error::Config("personalize: no region: set AWS_REGION or give one with .region()".into())
            })?,
        };
        let transport = self.transport.unwrap_or_default();
        // Credential calls go through this backend's transport (CA file, roots, timeouts).
        let credentials = self
            .credentials
            .unwrap_or_else(|| CachedCredentials::new(DefaultChain::new()))
            .transport(transport.clone());
        let endpoint = self
            .endpoint
            .unwrap_or_else(|| format!("https://personalize-events.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_owned();
        let host = host_for_signing(&endpoint)?;
        for (name, arn) in [
            ("users_dataset_arn", &self.users_arn),
            ("items_dataset_arn", &self.items_arn),
            ("actions_dataset_arn", &self.actions_arn),
        ] {
            if let Some(arn) = arn {
                check_arn(name, arn)?;
            }
        }
        if let Some(t) = &self.tracking_id
            && (t.is_empty() || t.len() > 256)
        {
            return Err(Error::Config(
                "personalize tracking_id: 1 to 256 characters".into(),
            ));
        }
        Ok(Personalize {
            endpoint,
            host,
            region,
            credentials,
            tracking_id: self.tracking_id,
            users_arn: self.users_arn,
            items_arn: self.items_arn,
            actions_arn: self.actions_arn,
            action_item_type: self
                .action_item_type
                .unwrap_or_else(|| DEFAULT_ACTION_ITEM_TYPE.to_owned()),
            event_id_from_insert_id: self.event_id_from_insert_id.unwrap_or(true),
            clock: self.clock.unwrap_or_else(crate::clock::system),
            transport,
        })
    }
}

impl Personalize {
    /// A builder; region and credentials default to the AWS chain.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::aws::Credentials;
    /// let p = trackflow::backend::personalize::Personalize::builder()
    ///     .region("us-east-1")
    ///     .credentials(Credentials::new("AKID", "SECRET", None))
    ///     .build()?;
    /// assert_eq!(p.endpoint(), "https://personalize-events.us-east-1.amazonaws.com");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> PersonalizeBuilder {
        PersonalizeBuilder::default()
    }
}

/// `host` or `host:port` as SigV4 signs it: the port only when it is not the scheme's default.
pub(super) fn host_for_signing(endpoint: &str) -> Result<String> {
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| Error::Config(format!("personalize endpoint `{endpoint}`: not a URL")))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let default_port = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => {
            return Err(Error::Config(format!(
                "personalize endpoint `{endpoint}`: http or https only"
            )))
        }
    };
    if authority.is_empty() {
        return Err(Error::Config(format!(
            "personalize endpoint `{endpoint}`: no host"
        )));
    }
    Ok(authority
        .strip_suffix(default_port)
        .unwrap_or(authority)
        .to_owned())
}

/// The model's pattern `arn:([a-z\d-]+):personalize:.*:.*:.+`, at most 256 characters.
pub(super) fn check_arn(name: &str, arn: &str) -> Result<()> {
    let bad = || {
        Error::Config(format!("personalize {name} `{arn}`: must match arn:PARTITION:personalize:REGION:ACCOUNT:RESOURCE (≤ 256 characters)"))
    };
    if arn.len() > 256 {
        return Err(bad());
    }
    let mut parts = arn.splitn(6, ':');
    let ok = parts.next() == Some("arn")
        && parts.next().is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && parts.next() == Some("personalize")
        && parts.next().is_some()
        && parts.next().is_some()
        && parts.next().is_some_and(|r| !r.is_empty());
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn signing_host_keeps_only_non_default_ports() {
        assert_eq!(
            host_for_signing("https://personalize-events.us-east-1.amazonaws.com").unwrap(),
            "personalize-events.us-east-1.amazonaws.com"
        );
        assert_eq!(host_for_signing("https://h:443/x").unwrap(), "h");
        assert_eq!(
            host_for_signing("http://127.0.0.1:18103").unwrap(),
            "127.0.0.1:18103"
        );
        assert!(host_for_signing("127.0.0.1").is_err());
    }

    #[test]
    pub(super) fn dataset_arns_follow_the_model_pattern() {
        assert!(check_arn("a", "arn:aws:personalize:us-east-1:123456789012:dataset/g/USERS").is_ok());
        assert!(check_arn("a", "arn:aws-cn:personalize:cn-north-1:1:dataset/x").is_ok());
        for bad in [
            "arn:aws:s3:::bucket",
            "arn:AWS:personalize:r:a:x",
            "arn:aws:personalize:r:a:",
            "nope",
        ] {
            assert!(check_arn("a", bad).is_err(), "{bad}");
        }
    }
}
