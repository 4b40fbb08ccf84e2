//! Google Cloud Talent Solution client events: v4 by default, v3 for `extraInfo` and
//! `parentEventId`, which v4 lacks.
//!
//! A batch's events (one request each) go out side by side within the consumer's
//! `max_in_flight`; each carries its `createTime`.
//!
//! ```text
//! v4: POST /v4/{parent=projects/*/tenants/*}/clientEvents?$alt=json;enum-encoding=int
//!     {requestId, eventId, createTime, jobEvent{type: <int>, jobs}, eventNotes}
//! v3: POST /v3/{parent=projects/*}/clientEvents?alt=json
//!     {"clientEvent": {requestId, eventId, parentEventId, createTime, jobEvent{type: "NAME", jobs}, extraInfo}}
//! ```
//!
//! From the neutral event: the name is the job event type (`VIEW`, `impression`, …, any
//! case), the insert id the `eventId`, the time the `createTime`; the interaction block gives
//! the `requestId` (its recommendation id; optional, as in the
//! API, though Google strongly recommends it), the jobs (its item
//! ids; a bare id becomes `{parent}/jobs/{id}`) and, in v3, the `parentEventId`. The property
//! `event_notes` is v4's `eventNotes`; in v3 the properties are `extraInfo` (≤ 20 keys, ≤ 2 KB,
//! checked at the call).

use std::fmt;

use serde::Serialize;
use serde_json::Value as Json;

use super::google::{self, ALT_QUERY};
use super::Backend;
use crate::auth::google::Tokens;
use crate::clock::format_rfc3339_ms;
use crate::codec::json;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::transport::HttpTransport;
use crate::value::Value;

/// The endpoint of the Talent API.
pub const DEFAULT_ENDPOINT: &str = "https://jobs.googleapis.com";
/// The property that carries v4's `eventNotes`.
pub const EVENT_NOTES: &str = "event_notes";

/// Job event types, by their enum number (v3 adds `NOT_INTERESTED`).
pub const JOB_EVENT_TYPES: [&str; 17] = [
    "JOB_EVENT_TYPE_UNSPECIFIED",
    "IMPRESSION",
    "VIEW",
    "VIEW_REDIRECT",
    "APPLICATION_START",
    "APPLICATION_FINISH",
    "APPLICATION_QUICK_SUBMISSION",
    "APPLICATION_REDIRECT",
    "APPLICATION_START_FROM_SEARCH",
    "APPLICATION_REDIRECT_FROM_SEARCH",
    "APPLICATION_COMPANY_SUBMIT",
    "BOOKMARK",
    "NOTIFICATION",
    "HIRED",
    "SENT_CV",
    "INTERVIEW_GRANTED",
    "NOT_INTERESTED",
];

/// Which API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TalentVersion {
    /// v4 (the default): tenants, integer enums, `eventNotes`.
    #[default]
    V4,
    /// v3: `extraInfo` and `parentEventId`.
    V3,
}

/// The Google Cloud Talent client events backend.
///
/// # Examples
///
/// ```
/// use trackflow::backend::talent::{Talent, TalentVersion};
/// let t = Talent::builder("projects/p/tenants/t").build()?;
/// assert_eq!(t.version(), TalentVersion::V4);
/// assert!(Talent::builder("projects/p").build().is_err(), "v4 needs a tenant");
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct Talent {
    endpoint: String,
    parent: String,
    version: TalentVersion,
    tokens: Option<Tokens>,
    quota_project: Option<String>,
    transport: HttpTransport,
}

impl fmt::Debug for Talent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Talent")
            .field("endpoint", &crate::transport::mask::mask_url(&self.endpoint))
            .field("parent", &self.parent)
            .field("version", &self.version)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

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
    inner: Talent,
}

impl TalentBuilder {
    /// Another endpoint (`scheme://host[:port]`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").endpoint("http://127.0.0.1:8080");
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
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").version(trackflow::backend::talent::TalentVersion::V4);
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
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").tokens(trackflow::auth::google::Tokens::new(trackflow::auth::google::StaticToken::new("ya29.x")));
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
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").quota_project("billing-project");
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
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").transport(trackflow::transport::HttpTransport::default());
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
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t");
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

    /// The API version in use.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").build()?;
    /// assert_eq!(t.version(), trackflow::backend::talent::TalentVersion::V4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn version(&self) -> TalentVersion {
        self.version
    }

    fn event_type(&self, e: &Event) -> Option<usize> {
        let name = e.name()?.to_ascii_uppercase();
        let max = if self.version == TalentVersion::V3 { 16 } else { 15 };
        JOB_EVENT_TYPES
            .iter()
            .position(|t| *t == name)
            .filter(|&n| (1..=max).contains(&n))
    }

    fn job_name(&self, id: &str) -> String {
        if id.contains('/') {
            id.to_owned()
        } else {
            format!("{}/jobs/{id}", self.parent)
        }
    }

    fn client_event<'e>(&self, e: &'e Event) -> ClientEvent<'e> {
        let i = e.interaction.as_deref();
        let n = self.event_type(e).unwrap_or(0);
        let v3 = self.version == TalentVersion::V3;
        ClientEvent {
            request_id: i.and_then(|i| i.recommendation_id.as_deref()),
            event_id: e.insert_id.to_string(),
            parent_event_id: i.and_then(|i| i.parent_event_id.as_deref()).filter(|_| v3),
            create_time: format_rfc3339_ms(e.time),
            job_event: JobEvent {
                ty: if v3 { JOB_EVENT_TYPES[n].into() } else { n.into() },
                jobs: i
                    .map(|i| i.items.iter().map(|it| self.job_name(&it.id)).collect())
                    .unwrap_or_default(),
            },
            event_notes: match e.properties.get(EVENT_NOTES) {
                Some(Value::String(notes)) if !v3 => Some(notes.as_str()),
                _ => None,
            },
            extra_info: (v3 && !e.properties.is_empty()).then_some(ExtraInfo(&e.properties)),
        }
    }
}

/// A client event, its keys in the order the official clients write them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClientEvent<'e> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'e str>,
    event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_event_id: Option<&'e str>,
    create_time: String,
    job_event: JobEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_notes: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_info: Option<ExtraInfo<'e>>,
}

#[derive(Serialize)]
struct JobEvent {
    #[serde(rename = "type")]
    ty: Json,
    jobs: Vec<String>,
}

/// The v3 body: `{"clientEvent": …}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest<'e> {
    client_event: ClientEvent<'e>,
}

/// The properties as `extraInfo`, in their own order.
struct ExtraInfo<'e>(&'e crate::value::Properties);

impl Serialize for ExtraInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, text(v))))
    }
}

/// A property as `extraInfo` text: strings as they are, everything else as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        v => v.to_string(),
    }
}

impl Backend for Talent {
    fn name(&self) -> &'static str {
        "talent"
    }

    fn max_batch(&self) -> usize {
        50
    }

    fn needs_identity(&self) -> bool {
        // A client event is about a job and a request, not a user.
        false
    }

    fn check(&self, e: &Event) -> Result<()> {
        if e.name().is_none() {
            return Err(Error::Unsupported {
                backend: "talent",
                what: format!(
                    "{} (Talent carries track events named by their job event type)",
                    e.kind
                ),
            });
        }
        if self.event_type(e).is_none() {
            let names = if self.version == TalentVersion::V3 {
                &JOB_EVENT_TYPES[1..]
            } else {
                &JOB_EVENT_TYPES[1..16]
            };
            return Err(Error::invalid(
                "event name",
                format!(
                    "Talent {:?} job event types are {}",
                    self.version,
                    names.join(", ")
                ),
            ));
        }
        // No requestId is allowed: the API calls it "strongly recommended", not required.
        let i = e.interaction.as_deref();
        if i.is_none_or(|i| i.items.is_empty()) {
            return Err(Error::invalid(
                "interaction.items",
                "Talent job events need at least one job",
            ));
        }
        match self.version {
            TalentVersion::V4 => {
                if i.is_some_and(|i| i.parent_event_id.is_some()) {
                    return Err(Error::Unsupported {
                        backend: "talent",
                        what: "parentEventId (v4 has none; use TalentVersion::V3)".into(),
                    });
                }
                if let Some((k, _)) = e.properties.iter().find(|(k, _)| *k != EVENT_NOTES) {
                    return Err(Error::Unsupported {
                        backend: "talent",
                        what: format!("property `{k}` (v4 carries only `{EVENT_NOTES}`; use TalentVersion::V3 for extraInfo)"),
                    });
                }
            }
            TalentVersion::V3 => {
                if e.properties.len() > 20 {
                    return Err(Error::invalid(
                        "properties",
                        format!(
                            "Talent extraInfo takes at most 20 keys, got {}",
                            e.properties.len()
                        ),
                    ));
                }
                let size: usize = e.properties.iter().map(|(k, v)| k.len() + text(v).len()).sum();
                if size > 2048 {
                    return Err(Error::invalid(
                        "properties",
                        format!("Talent extraInfo takes at most 2 KB of keys and values, got {size} bytes"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        let (url, query, routing) = match self.version {
            TalentVersion::V4 => (
                format!("{}/v4/{}/clientEvents", self.endpoint, self.parent),
                vec![(ALT_QUERY.0, ALT_QUERY.1.to_owned())],
                Some(self.parent.as_str()),
            ),
            TalentVersion::V3 => (
                format!("{}/v3/{}/clientEvents", self.endpoint, self.parent),
                vec![("alt", "json".to_owned())],
                None,
            ),
        };
        let headers = || {
            let mut h = google::headers(
                self.tokens.as_ref(),
                self.quota_project.as_deref(),
                routing,
                true,
                ctx.cancel,
            )?;
            if self.version == TalentVersion::V3 {
                h.push(("accept", "application/json".to_owned()));
            }
            Ok(h)
        };
        // One request per event: independent, so side by side within the flow.
        let outcomes = ctx.fan_out(batch.len(), |i| {
            let e = &batch[i];
            let body = match self.version {
                TalentVersion::V4 => {
                    serde_json::to_vec_pretty(&self.client_event(e)).map_err(|e| Error::Io(e.into()))
                }
                TalentVersion::V3 => {
                    // The discovery client's body: Python's json.dumps of the request.
                    let mut buf = Vec::new();
                    let request = CreateRequest {
                        client_event: self.client_event(e),
                    };
                    json::encode_into(&request, json::Style::PythonAscii, &mut buf).map(|()| buf)
                }
            };
            let (r, retries) = match body {
                Ok(body) => {
                    let call = google::Call {
                        get: false,
                        url: &url,
                        query: &query,
                        body: &body,
                    };
                    call.send(&self.transport, ctx, self.tokens.as_ref(), headers)
                }
                Err(err) => (Err(err), 0),
            };
            // Acknowledged as it ends: the store lets it go without waiting for the batch.
            let mut one = Delivery::default();
            ctx.record(&mut one, r.map(drop), retries, &[i]);
            one
        });
        for o in outcomes {
            d.merge(o);
        }
        d
    }
}

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

impl super::BackendSettings for TalentSettings {
    const KIND: &'static str = "talent";

    fn build(self, ctx: &super::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
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
