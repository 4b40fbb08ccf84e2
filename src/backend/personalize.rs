//! AWS Personalize Events: PutEvents, PutUsers, PutItems, PutActions and
//! PutActionInteractions, signed with our own SigV4, equal to boto3 on the wire.
//!
//! A batch's calls (one per user and session, ten records at most) go out side by side within
//! the consumer's `max_in_flight`; no order is kept between them, as each record carries its
//! `sentAt`. To stay under the PutEvents quota of a tracking id, set the consumer's
//! `rate_limit`.
//!
//! ```text
//! track                          ─► PutEvents            POST /events               {trackingId, userId?, sessionId, eventList[≤10]}
//! track with interaction.action_id ► PutActionInteractions POST /action-interactions {trackingId, actionInteractions[≤10]}
//! user_set                       ─► PutUsers             POST /users                {datasetArn, users[≤10]}
//! item_set                       ─► PutItems             POST /items                {datasetArn, items[≤10]}
//! item_set of the action type    ─► PutActions           POST /actions              {datasetArn, actions[≤10]}
//! ```
//!
//! Events are grouped by (userId, sessionId) and every call carries at most 10 records. Bodies
//! are Python's `json.dumps` layout, as botocore sends them, so the same call signs to the same
//! `Authorization`. `properties` travel as a JSON *string*; lists in them are `|`-joined, the
//! form Personalize reads multi-valued categorical fields in.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::Backend;
use crate::auth::aws::{
    CachedCredentials, Credentials, CredentialsProvider, DefaultChain, StaticCredentials,
};
use crate::auth::sigv4::{sign, SignInput};
use crate::clock::{Clock, SharedClock};
use crate::codec::json;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, ProfileOp};
use crate::transport::{classify, HttpTransport, Request, Response, Verdict};
use crate::value::{Properties, Value};

/// SigV4 signing name (not the endpoint prefix `personalize-events`).
pub const SIGNING_NAME: &str = "personalize";
/// Records per call, for every operation.
pub const MAX_PER_CALL: usize = 10;
/// Default for [`PersonalizeBuilder::action_item_type`].
pub const DEFAULT_ACTION_ITEM_TYPE: &str = "action";

/// The AWS Personalize Events backend.
///
/// # Examples
///
/// ```
/// use trackflow::auth::aws::Credentials;
/// use trackflow::backend::personalize::Personalize;
///
/// let p = Personalize::builder()
///     .region("us-east-1")
///     .credentials(Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None))
///     .tracking_id("tracking-0001")
///     .build()?;
/// assert_eq!(p.endpoint(), "https://personalize-events.us-east-1.amazonaws.com");
/// assert!(!format!("{p:?}").contains("wJalr"));
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct Personalize {
    endpoint: String,
    host: String,
    region: String,
    credentials: CachedCredentials,
    tracking_id: Option<String>,
    users_arn: Option<String>,
    items_arn: Option<String>,
    actions_arn: Option<String>,
    action_item_type: String,
    event_id_from_insert_id: bool,
    clock: SharedClock,
    transport: HttpTransport,
}

impl fmt::Debug for Personalize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Personalize")
            .field("endpoint", &crate::transport::mask::mask_url(&self.endpoint))
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .field("tracking_id", &self.tracking_id)
            .finish_non_exhaustive()
    }
}

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
    region: Option<String>,
    credentials: Option<CachedCredentials>,
    endpoint: Option<String>,
    tracking_id: Option<String>,
    users_arn: Option<String>,
    items_arn: Option<String>,
    actions_arn: Option<String>,
    action_item_type: Option<String>,
    event_id_from_insert_id: Option<bool>,
    clock: Option<SharedClock>,
    transport: Option<HttpTransport>,
}

impl PersonalizeBuilder {
    /// The AWS region.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::personalize::Personalize::builder().region("eu-west-1");
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
    /// let b = trackflow::backend::personalize::Personalize::builder().credentials(trackflow::auth::aws::Credentials::new("AKID", "SECRET", None));
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
    /// use trackflow::auth::aws::DefaultChain;
    /// let b = trackflow::Personalize::builder().credentials_provider(DefaultChain::new());
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
    /// let b = trackflow::backend::personalize::Personalize::builder().endpoint("http://127.0.0.1:8080");
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
    /// let b = trackflow::backend::personalize::Personalize::builder().tracking_id("tracking-0001");
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
    /// let b = trackflow::backend::personalize::Personalize::builder().users_dataset_arn("arn:aws:personalize:us-east-1:123456789012:dataset/g/USERS");
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
    /// let b = trackflow::backend::personalize::Personalize::builder().items_dataset_arn("arn:aws:personalize:us-east-1:123456789012:dataset/g/ITEMS");
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
    /// let b = trackflow::backend::personalize::Personalize::builder().actions_dataset_arn("arn:aws:personalize:us-east-1:123456789012:dataset/g/ACTIONS");
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
    /// let b = trackflow::backend::personalize::Personalize::builder().action_item_type("offer");
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
    /// let b = trackflow::backend::personalize::Personalize::builder().event_id_from_insert_id(false);
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
    /// let b = trackflow::backend::personalize::Personalize::builder().clock(trackflow::FixedClock(1_700_000_000_000));
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
    /// let b = trackflow::backend::personalize::Personalize::builder().transport(trackflow::transport::HttpTransport::default());
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
    /// let p = trackflow::backend::personalize::Personalize::builder()
    ///     .region("us-east-1")
    ///     .credentials(trackflow::auth::aws::Credentials::new("AKID", "SECRET", None))
    ///     .tracking_id("t")
    ///     .build()?;
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
        if let Some(t) = &self.tracking_id {
            if t.is_empty() || t.len() > 256 {
                return Err(Error::Config(
                    "personalize tracking_id: 1 to 256 characters".into(),
                ));
            }
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

/// `host` or `host:port` as SigV4 signs it: the port only when it is not the scheme's default.
fn host_for_signing(endpoint: &str) -> Result<String> {
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
fn check_arn(name: &str, arn: &str) -> Result<()> {
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

/// Which operation an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Events,
    ActionInteractions,
    Users,
    Items,
    Actions,
}

impl Op {
    fn path(self) -> &'static str {
        match self {
            Op::Events => "/events",
            Op::ActionInteractions => "/action-interactions",
            Op::Users => "/users",
            Op::Items => "/items",
            Op::Actions => "/actions",
        }
    }

    /// The longest `properties` JSON the operation takes.
    fn max_properties(self) -> usize {
        match self {
            Op::Events | Op::ActionInteractions => 1024,
            Op::Users => 24_000,
            Op::Items | Op::Actions => 32_000,
        }
    }
}

fn check_len(field: &str, v: &str, max: usize) -> Result<()> {
    if v.is_empty() || v.len() > max {
        return Err(Error::invalid(
            field,
            format!("Personalize takes 1 to {max} characters, got {}", v.len()),
        ));
    }
    Ok(())
}

impl Personalize {
    /// A builder; region and credentials default to the AWS chain.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::personalize::Personalize::builder().region("us-east-1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> PersonalizeBuilder {
        PersonalizeBuilder::default()
    }

    /// The endpoint requests go to.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = trackflow::backend::personalize::Personalize::builder().region("eu-west-1").credentials(trackflow::auth::aws::Credentials::new("AKID", "SECRET", None)).build()?;
    /// assert_eq!(p.endpoint(), "https://personalize-events.eu-west-1.amazonaws.com");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn op(&self, e: &Event) -> Result<Op> {
        Ok(match &e.kind {
            EventKind::Track { .. } if e.interaction.as_ref().is_some_and(|i| i.action_id.is_some()) => {
                Op::ActionInteractions
            }
            EventKind::Track { .. } => Op::Events,
            EventKind::Profile(ProfileOp::Set) => Op::Users,
            EventKind::Item { item_type, .. } if *item_type == self.action_item_type => Op::Actions,
            EventKind::Item { .. } => Op::Items,
            kind => {
                return Err(Error::Unsupported {
                    backend: "personalize",
                    what: format!("{kind} (Personalize carries track, user_set and item_set)"),
                })
            }
        })
    }

    fn session_id(e: &Event) -> Option<&str> {
        e.identity
            .session_id
            .as_deref()
            .or(e.identity.anonymous_id.as_deref())
    }

    fn properties_json(&self, p: &Properties) -> Result<Option<String>> {
        if p.is_empty() {
            return Ok(None);
        }
        let mut buf = Vec::new();
        json::encode_into(&PzProps(p), json::Style::PythonAscii, &mut buf)?;
        Ok(Some(String::from_utf8(buf).unwrap_or_default()))
    }

    /// Sends one signed request; credentials that AWS calls expired before their stated time
    /// (rotated, revoked) are fetched anew and the request is sent once more.
    fn send(&self, op: Op, body: &[u8], ctx: &DeliveryCtx<'_>) -> (Result<()>, u32) {
        let first = self.send_signed(op, body, ctx);
        match &first.0 {
            Err(Error::Api { code, .. }) if is_expired_token(code) => {
                log::debug!("trackflow: personalize: {code}; fetching credentials anew");
                self.credentials.invalidate();
                let (r, retries) = self.send_signed(op, body, ctx);
                (r, first.1 + retries + 1)
            }
            _ => first,
        }
    }

    fn send_signed(&self, op: Op, body: &[u8], ctx: &DeliveryCtx<'_>) -> (Result<()>, u32) {
        let credentials = match self.credentials.get(ctx.cancel) {
            Ok(c) => c,
            Err(e) => return (Err(Error::credentials(e)), 0),
        };
        let signed = sign(
            &credentials,
            &SignInput {
                method: "POST",
                host: &self.host,
                path: op.path(),
                query: &[],
                headers: &[("Content-Type", json::CONTENT_TYPE)],
                body,
                time_ms: self.clock.now_ms(),
                region: &self.region,
                service: SIGNING_NAME,
            },
        );
        let mut headers = vec![
            ("Content-Type", json::CONTENT_TYPE.to_owned()),
            ("X-Amz-Date", signed.amz_date),
            ("Authorization", signed.authorization),
        ];
        if let Some(t) = signed.security_token {
            headers.push(("X-Amz-Security-Token", t));
        }
        let url = format!("{}{}", self.endpoint, op.path());
        let req = Request {
            url: &url,
            query: &[],
            headers: &headers,
            body,
        };
        let (r, retries) = self.transport.post(&req, ctx, &judge);
        (r.map(drop), retries)
    }

    /// The PutEvents bodies that would carry `batch` (grouped by user and session, ten events
    /// per call), as botocore lays them out. For inspecting what goes on the wire, and for
    /// benchmarks; other kinds of event are left out.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if a body cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Identity};
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// let p = Personalize::builder().region("us-east-1").tracking_id("t")
    ///     .credentials(Credentials::new("AK", "SK", None)).build()?;
    /// let events: Vec<Event> = (0..25)
    ///     .map(|i| Event::track("click").with_identity(Identity::user("u").with_session("s")).with_time(i))
    ///     .collect();
    /// assert_eq!(p.put_events_bodies(&events)?.len(), 3);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn put_events_bodies(&self, batch: &[Event]) -> Result<Vec<Vec<u8>>> {
        let mut groups: Vec<Vec<&Event>> = Vec::new();
        let mut index: HashMap<(Option<&str>, Option<&str>), usize> = HashMap::new();
        for e in batch.iter().filter(|e| self.op(e).ok() == Some(Op::Events)) {
            let g = *index
                .entry((e.identity.user_id.as_deref(), Self::session_id(e)))
                .or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
            groups[g].push(e);
        }
        groups
            .iter()
            .flat_map(|g| g.chunks(MAX_PER_CALL))
            .map(|c| self.body(Op::Events, c))
            .collect()
    }

    fn body(&self, op: Op, events: &[&Event]) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(512);
        let body = Body { pz: self, op, events };
        json::encode_into(&body, json::Style::PythonAscii, &mut buf)?;
        Ok(buf)
    }
}

/// The codes AWS answers when the session token has expired.
fn is_expired_token(code: &str) -> bool {
    matches!(code, "ExpiredTokenException" | "ExpiredToken")
}

/// 200 is success. Errors carry the code from `x-amzn-ErrorType` (before any `:`) or the body's
/// `__type`/`code`, and the body's `message`; throttling codes are retried at any status,
/// the rest as the shared classification ([`classify`]) says.
fn judge(resp: &Response) -> Verdict {
    if (200..300).contains(&resp.status) {
        return Verdict::Success;
    }
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let code = resp
        .header("x-amzn-ErrorType")
        .map(|t| t.split(':').next().unwrap_or_default().to_owned())
        .or_else(|| {
            body.get("__type")
                .and_then(|t| t.as_str())
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
        })
        .or_else(|| body.get("code").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_else(|| resp.status.to_string());
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| body.get(*k).and_then(|m| m.as_str()))
        .unwrap_or_default()
        .to_owned();
    let throttled = resp.status == 429 || crate::transport::retry::is_throttling_code(&code);
    let error = || Error::Api {
        status: resp.status,
        code,
        message,
    };
    if throttled {
        return Verdict::retry(error(), resp.retry_after.as_deref());
    }
    classify(resp.status, resp.retry_after.as_deref(), error)
}

impl Backend for Personalize {
    fn name(&self) -> &'static str {
        "personalize"
    }

    fn max_batch(&self) -> usize {
        // Larger batches are split into calls of ten; a few hundred keeps each delivery short.
        500
    }

    fn check(&self, e: &Event) -> Result<()> {
        let op = self.op(e)?;
        let need = |what: &Option<String>, setting: &str| {
            what.as_ref().map(drop).ok_or_else(|| {
                Error::Config(format!(
                    "personalize: {} needs `{setting}` on the backend",
                    e.kind
                ))
            })
        };
        let interaction = e.interaction.as_deref();
        match op {
            Op::Events | Op::ActionInteractions => {
                need(&self.tracking_id, "tracking_id")?;
                let session = Self::session_id(e).ok_or_else(|| {
                    Error::invalid(
                        "identity.session_id",
                        "Personalize needs a session_id (or an anonymous_id to use as one)",
                    )
                })?;
                check_len("identity.session_id", session, 256)?;
                if let Some(u) = &e.identity.user_id {
                    check_len("identity.user_id", u, 256)?;
                }
                check_len("event name (eventType)", e.name().unwrap_or_default(), 256)?;
                if self.event_id_from_insert_id {
                    check_len("insert_id (eventId)", &e.insert_id.to_string(), 256)?;
                }
                if let Some(i) = interaction {
                    if let Some(r) = &i.recommendation_id {
                        check_len("interaction.recommendation_id", r, 40)?;
                    }
                    if i.impressions.len() > 25 {
                        return Err(Error::invalid(
                            "interaction.impressions",
                            format!("Personalize takes at most 25, got {}", i.impressions.len()),
                        ));
                    }
                    for (n, id) in i.impressions.iter().enumerate() {
                        check_len(&format!("interaction.impressions[{n}]"), id, 256)?;
                    }
                    if i.items.len() > 1 {
                        // PutEvents has one itemId per event; sending the first alone would
                        // drop the rest without a word.
                        return Err(Error::invalid(
                            "interaction.items",
                            format!(
                                "Personalize takes one item per event, got {}: track one event per item, as AWS records multi-item interactions",
                                i.items.len()
                            ),
                        ));
                    }
                    if let Some(item) = i.items.first() {
                        check_len("interaction.items[0].id", &item.id, 256)?;
                    }
                    if let Some(a) = &i.action_id {
                        check_len("interaction.action_id", a, 256)?;
                    }
                    if let Some(s) = &i.attribution_source {
                        let printable =
                            s.bytes().all(|b| (0x20..=0x7e).contains(&b)) && s.bytes().any(|b| b != b' ');
                        if s.len() > 1024 || !printable {
                            return Err(Error::invalid(
                                "interaction.attribution_source",
                                "Personalize takes printable ASCII with a non-space, at most 1024 characters",
                            ));
                        }
                    }
                }
            }
            Op::Users => {
                need(&self.users_arn, "users_dataset_arn")?;
                let u = e.identity.user_id.as_deref().ok_or_else(|| {
                    Error::invalid(
                        "identity.user_id",
                        "Personalize user_set (PutUsers) needs a user_id",
                    )
                })?;
                check_len("identity.user_id", u, 256)?;
            }
            Op::Items | Op::Actions => {
                if op == Op::Items {
                    need(&self.items_arn, "items_dataset_arn")?;
                } else {
                    need(&self.actions_arn, "actions_dataset_arn")?;
                }
                if let EventKind::Item { item_id, .. } = &e.kind {
                    check_len("item_id", item_id, 256)?;
                }
            }
        }
        if let Some(p) = self.properties_json(&e.properties)? {
            if p.len() > op.max_properties() {
                return Err(Error::invalid(
                    "properties",
                    format!(
                        "Personalize takes at most {} characters of properties JSON here, got {}",
                        op.max_properties(),
                        p.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        // PutEvents carries one (userId, sessionId) per call; the others carry ids per record.
        let mut groups: Vec<(Op, Vec<usize>)> = Vec::new();
        let mut index: HashMap<(Op, Option<&str>, Option<&str>), usize> = HashMap::new();
        for (i, e) in batch.iter().enumerate() {
            let op = match self.op(e) {
                Ok(op) => op,
                Err(err) => {
                    d.record(Err(err), 0, || vec![i]);
                    continue;
                }
            };
            let key = match op {
                Op::Events => (op, e.identity.user_id.as_deref(), Self::session_id(e)),
                _ => (op, None, None),
            };
            let g = *index.entry(key).or_insert_with(|| {
                groups.push((op, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i);
        }
        let calls: Vec<(Op, &[usize])> = groups
            .iter()
            .flat_map(|(op, idx)| idx.chunks(MAX_PER_CALL).map(move |c| (*op, c)))
            .collect();
        // Calls are independent (each record carries its own time): side by side within
        // the flow.
        let outcomes = ctx.fan_out(calls.len(), |c| {
            let (op, chunk) = calls[c];
            let events: Vec<&Event> = chunk.iter().map(|&i| &batch[i]).collect();
            let (r, retries) = match self.body(op, &events) {
                Ok(body) => self.send(op, &body, ctx),
                Err(e) => (Err(e), 0),
            };
            // Acknowledged as it ends: the store lets it go without waiting for the batch.
            let mut one = Delivery::default();
            ctx.record(&mut one, r, retries, chunk);
            one
        });
        for o in outcomes {
            d.merge(o);
        }
        d
    }
}

/// Epoch seconds, an integer when whole (as botocore writes timestamps).
struct Seconds(i64);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

struct Body<'a> {
    pz: &'a Personalize,
    op: Op,
    events: &'a [&'a Event],
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let pz = self.pz;
        let first = self.events[0];
        let mut m = s.serialize_map(None)?;
        let list = Records {
            pz,
            op: self.op,
            events: self.events,
        };
        match self.op {
            Op::Events => {
                m.serialize_entry("trackingId", &pz.tracking_id)?;
                if let Some(u) = &first.identity.user_id {
                    m.serialize_entry("userId", u)?;
                }
                m.serialize_entry("sessionId", &Personalize::session_id(first))?;
                m.serialize_entry("eventList", &list)?;
            }
            Op::ActionInteractions => {
                m.serialize_entry("trackingId", &pz.tracking_id)?;
                m.serialize_entry("actionInteractions", &list)?;
            }
            Op::Users => {
                m.serialize_entry("datasetArn", &pz.users_arn)?;
                m.serialize_entry("users", &list)?;
            }
            Op::Items => {
                m.serialize_entry("datasetArn", &pz.items_arn)?;
                m.serialize_entry("items", &list)?;
            }
            Op::Actions => {
                m.serialize_entry("datasetArn", &pz.actions_arn)?;
                m.serialize_entry("actions", &list)?;
            }
        }
        m.end()
    }
}

struct Records<'a> {
    pz: &'a Personalize,
    op: Op,
    events: &'a [&'a Event],
}

impl Serialize for Records<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.events.len()))?;
        for e in self.events {
            seq.serialize_element(&Record {
                pz: self.pz,
                op: self.op,
                e,
            })?;
        }
        seq.end()
    }
}

/// One record, keys in the order boto3 users write them (and the goldens show).
struct Record<'a> {
    pz: &'a Personalize,
    op: Op,
    e: &'a Event,
}

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (pz, e) = (self.pz, self.e);
        let props = pz
            .properties_json(&e.properties)
            .map_err(serde::ser::Error::custom)?;
        let i = e.interaction.as_deref();
        let event_id = pz.event_id_from_insert_id.then(|| e.insert_id.to_string());
        let mut m = s.serialize_map(None)?;
        match self.op {
            Op::Events => {
                if let Some(id) = &event_id {
                    m.serialize_entry("eventId", id)?;
                }
                m.serialize_entry("eventType", e.name().unwrap_or_default())?;
                if let Some(v) = i.and_then(|i| i.value) {
                    m.serialize_entry("eventValue", &v)?;
                }
                if let Some(item) = i.and_then(|i| i.items.first()) {
                    m.serialize_entry("itemId", &item.id)?;
                }
                if let Some(p) = &props {
                    m.serialize_entry("properties", p)?;
                }
                m.serialize_entry("sentAt", &Seconds(e.time))?;
                if let Some(r) = i.and_then(|i| i.recommendation_id.as_ref()) {
                    m.serialize_entry("recommendationId", r)?;
                }
                if let Some(imp) = i.map(|i| &i.impressions).filter(|v| !v.is_empty()) {
                    m.serialize_entry("impression", imp)?;
                }
                if let Some(src) = i.and_then(|i| i.attribution_source.as_ref()) {
                    m.serialize_entry("metricAttribution", &Attribution(src))?;
                }
            }
            Op::ActionInteractions => {
                m.serialize_entry("actionId", &i.and_then(|i| i.action_id.as_ref()))?;
                if let Some(u) = &e.identity.user_id {
                    m.serialize_entry("userId", u)?;
                }
                m.serialize_entry("sessionId", &Personalize::session_id(e))?;
                m.serialize_entry("timestamp", &Seconds(e.time))?;
                m.serialize_entry("eventType", e.name().unwrap_or_default())?;
                if let Some(id) = &event_id {
                    m.serialize_entry("eventId", id)?;
                }
                if let Some(r) = i.and_then(|i| i.recommendation_id.as_ref()) {
                    m.serialize_entry("recommendationId", r)?;
                }
                if let Some(imp) = i.map(|i| &i.impressions).filter(|v| !v.is_empty()) {
                    m.serialize_entry("impression", imp)?;
                }
                if let Some(p) = &props {
                    m.serialize_entry("properties", p)?;
                }
            }
            Op::Users => {
                m.serialize_entry("userId", &e.identity.user_id)?;
                if let Some(p) = &props {
                    m.serialize_entry("properties", p)?;
                }
            }
            Op::Items | Op::Actions => {
                let EventKind::Item { item_id, .. } = &e.kind else {
                    return Err(serde::ser::Error::custom("not an item"));
                };
                m.serialize_entry(
                    if self.op == Op::Items {
                        "itemId"
                    } else {
                        "actionId"
                    },
                    item_id,
                )?;
                if let Some(p) = &props {
                    m.serialize_entry("properties", p)?;
                }
            }
        }
        m.end()
    }
}

struct Attribution<'a>(&'a str);

impl Serialize for Attribution<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("eventAttributionSource", self.0)?;
        m.end()
    }
}

/// Properties as Personalize reads them: lists `|`-joined, times as epoch seconds.
struct PzProps<'a>(&'a Properties);

impl Serialize for PzProps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, &PzValue(v))?;
        }
        m.end()
    }
}

struct PzValue<'a>(&'a Value);

impl Serialize for PzValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Value::Time(t) => Seconds(*t).serialize(s),
            Value::List(l) => {
                let parts: Vec<String> = l
                    .iter()
                    .filter(|v| !matches!(v, Value::Null))
                    .map(|v| match v {
                        Value::String(s) => s.to_string(),
                        v => serde_json::to_string(&PzValue(v)).unwrap_or_default(),
                    })
                    .collect();
                s.serialize_str(&parts.join("|"))
            }
            Value::Object(p) => PzProps(p).serialize(s),
            v => v.serialize(s),
        }
    }
}

/// Personalize's config settings (`kind = "personalize"`). Credentials come from the AWS
/// chain (environment, then `~/.aws/credentials`), never from the config.
///
/// # Examples
///
/// ```
/// let cfg = trackflow::config::BackendConfig::personalize()
///     .set("region", "eu-west-1")
///     .set("tracking_id", "tracking-1");
/// assert_eq!(cfg.kind(), "personalize");
/// ```
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PersonalizeSettings {
    /// The region. Defaults to the AWS chain.
    pub region: Option<String>,
    /// Another endpoint. Defaults to `https://personalize-events.{region}.amazonaws.com`.
    pub endpoint: Option<String>,
    /// The event tracker, for track events.
    pub tracking_id: Option<String>,
    /// The users dataset, for `user_set`.
    pub users_dataset_arn: Option<String>,
    /// The items dataset, for `item_set`.
    pub items_dataset_arn: Option<String>,
    /// The actions dataset, for `item_set` of the action type.
    pub actions_dataset_arn: Option<String>,
    /// The item type that means an action. Defaults to `action`.
    pub action_item_type: Option<String>,
}

/// Applies one optional setting to the builder.
type Setter = fn(PersonalizeBuilder, String) -> PersonalizeBuilder;

impl super::BackendSettings for PersonalizeSettings {
    const KIND: &'static str = "personalize";

    fn build(self, ctx: &super::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        let mut b = Personalize::builder().transport(ctx.http()?);
        let fields: [(Option<String>, Setter); 7] = [
            (self.region, |b, v| b.region(v)),
            (self.endpoint, |b, v| b.endpoint(v)),
            (self.tracking_id, |b, v| b.tracking_id(v)),
            (self.users_dataset_arn, |b, v| b.users_dataset_arn(v)),
            (self.items_dataset_arn, |b, v| b.items_dataset_arn(v)),
            (self.actions_dataset_arn, |b, v| b.actions_dataset_arn(v)),
            (self.action_item_type, |b, v| b.action_item_type(v)),
        ];
        for (value, set) in fields {
            if let Some(v) = value {
                b = set(b, v);
            }
        }
        Ok(Box::new(b.build()?))
    }

    fn check(&self, label: &str, route: &crate::Route) -> Result<()> {
        if self.tracking_id.is_none() && route.admits_track() {
            return Err(Error::Config(format!(
                "backend `{label}` (personalize): tracking_id is required for track events; set it, \
                 or route only user and item events there (route = {{ kinds = [\"user\", \"item_set\"] }})"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // Whatever the collector answers, judging it never panics.
        #[test]
        fn replies_never_panic(resp in crate::transport::any_reply()) {
            let _ = judge(&resp);
        }
    }

    #[test]
    fn signing_host_keeps_only_non_default_ports() {
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
    fn dataset_arns_follow_the_model_pattern() {
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
