//! Gravity Engine: `{client_id, event_list}` envelopes, gzip, and the debug mode, as
//! gravity-python-sdk 1.0.9 sends them, without its bugs.
//!
//! ```text
//!  batch ──group by envelope (client_id + # preset keys)──► one request per group
//!    {"#ip": …, "#time": …, "client_id": "c1", "event_list": [{"type": "track", "event": …,
//!     "time": …, "time_free": false, "properties": {"$lib": "trackflow", …}}, …]}
//!    ──json (", " / ": ", ASCII) ──gzip──► POST {url with ?access_token=…}
//! ```
//!
//! Where the SDK is wrong we do what it meant:
//!
//! * A batch never merges users. The SDK concatenates every queued event into the *first*
//!   envelope, crediting all of them to its `client_id`; we send one envelope per client and
//!   preset keys.
//! * Retries back off (the SDK spins with none) and follow the transport's policy.
//! * Property names are checked with the anchored rule the SDK's regex meant.
//!
//! Order, with requests in flight side by side: one client's envelopes of a batch go one
//! after another, and a batch holding a client's profile operations starts only when no
//! batch in flight holds that client's (its [`Backend::order_key`]), so `user_set` then
//! `user_unset` land in that order. Track events carry their own time and may overtake.

use std::collections::HashMap;
use std::fmt;

use parking_lot::Mutex;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::Backend;
use crate::clock::format_datetime_ms;
use crate::codec::{gzip, json};
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, ProfileOp};
use crate::transport::mask::mask_url;
use crate::transport::{classify_status, HttpTransport, Request, Response, Verdict};
use crate::value::{Properties, Value};

/// The SDK's largest batch, and our clamp.
pub const MAX_BATCH: usize = 200;
/// Default for [`GravityBuilder::max_batch`] (the SDK's default `batch`).
pub const DEFAULT_MAX_BATCH: usize = 20;
/// What trackflow sends as `$lib` and in `GE-Integration-Type`.
pub const LIB: &str = "trackflow";
/// What trackflow sends as `$lib_version` and in `GE-Integration-Version`.
pub const LIB_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Property keys that travel in the envelope, not in the event, in this order.
pub const PRESET_KEYS: [&str; 5] = ["#ip", "#first_check_id", "#app_id", "#time", "#uuid"];

/// Which id of an identity becomes Gravity's `client_id` when both are set.
///
/// # Examples
///
/// ```
/// use trackflow::backend::gravity::{ClientId, Gravity};
/// let ge = Gravity::builder("https://h/c/?access_token=t").client_id(ClientId::UserFirst).build()?;
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientId {
    /// The anonymous (device) id, else the user id: one device is one Gravity user, before and
    /// after login (the default).
    #[default]
    AnonymousFirst,
    /// The user id, else the anonymous id: one account is one Gravity user across devices.
    UserFirst,
}

/// The Gravity Engine backend.
///
/// The identity maps to `client_id`: by default the anonymous id, or the user id when there
/// is none ([`ClientId`] chooses the other order).
///
/// # Examples
///
/// ```
/// use trackflow::backend::gravity::Gravity;
/// let ge = Gravity::builder("https://backend.gravity-engine.com/event_center/api/v1/event/collect/?access_token=SECRET")
///     .build()?;
/// assert!(!format!("{ge:?}").contains("SECRET"));
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct Gravity {
    url: String,
    compress: bool,
    max_batch: usize,
    utc_offset_minutes: i32,
    uuid_from_insert_id: bool,
    client_id: ClientId,
    debug_mode: bool,
    transport: HttpTransport,
    buffers: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl fmt::Debug for Gravity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gravity")
            .field("url", &mask_url(&self.url))
            .field("compress", &self.compress)
            .field("max_batch", &self.max_batch)
            .field("utc_offset_minutes", &self.utc_offset_minutes)
            .field("uuid_from_insert_id", &self.uuid_from_insert_id)
            .field("client_id", &self.client_id)
            .field("debug_mode", &self.debug_mode)
            .finish_non_exhaustive()
    }
}

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
    url: String,
    compress: bool,
    max_batch: usize,
    utc_offset_minutes: i32,
    uuid_from_insert_id: bool,
    client_id: ClientId,
    debug_mode: bool,
    transport: Option<HttpTransport>,
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
    /// let b = trackflow::backend::gravity::Gravity::builder("https://h/c/?access_token=t").compress(false);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compress(mut self, v: bool) -> Self {
        self.compress = v;
        self
    }
    /// Most events in one envelope. Defaults to 20; clamped to 1..=200 as the SDK does.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::gravity::Gravity::builder("https://h/c/?access_token=t").max_batch(100);
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
    /// let b = trackflow::backend::gravity::Gravity::builder("https://h/c/?access_token=t").utc_offset_minutes(480);
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
    /// let b = trackflow::backend::gravity::Gravity::builder("https://h/c/?access_token=t").uuid_from_insert_id(true);
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
    /// let b = Gravity::builder("https://h/c/?access_token=t").client_id(ClientId::UserFirst);
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
    /// let b = trackflow::Gravity::builder("https://h/c/?access_token=t").debug_mode(true);
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
    /// let b = trackflow::backend::gravity::Gravity::builder("https://h/c/?access_token=t").transport(trackflow::transport::HttpTransport::default());
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
    /// let b = trackflow::backend::gravity::Gravity::builder("https://backend.gravity-engine.com/event_center/api/v1/event/collect/?access_token=TOKEN");
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

    fn client_id<'e>(&self, e: &'e Event) -> &'e str {
        let (anonymous, user) = (e.identity.anonymous_id.as_deref(), e.identity.user_id.as_deref());
        match self.client_id {
            ClientId::AnonymousFirst => anonymous.or(user),
            ClientId::UserFirst => user.or(anonymous),
        }
        .unwrap_or_default()
    }

    /// The envelope's identity: client id and preset values, as one comparable key.
    fn envelope_key(&self, e: &Event) -> String {
        let mut key = self.client_id(e).to_owned();
        if self.uuid_from_insert_id && e.properties.get("#uuid").is_none() {
            key.push('\u{0}');
            key.push_str(&e.insert_id.to_string());
        }
        for p in PRESET_KEYS {
            key.push('\u{0}');
            if let Some(v) = self.preset(e, p) {
                key.push_str(&serde_json::to_string(&v).unwrap_or_default());
            }
        }
        key
    }

    fn preset<'a>(&'a self, e: &'a Event, key: &str) -> Option<GeValue<'a>> {
        e.properties.get(key).map(|v| GeValue {
            v,
            tz: self.utc_offset_minutes,
        })
    }

    /// Appends the JSON envelope that would carry `events` (all of one client and preset
    /// keys), in Python's `json.dumps` layout, gzipped when compression is on. For inspecting
    /// what goes on the wire, and for benchmarks.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if it cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Identity};
    /// use trackflow::backend::gravity::Gravity;
    /// let ge = Gravity::builder("http://127.0.0.1:9/c/?access_token=t").compress(false).build()?;
    /// let e = Event::track("buy").with_identity(Identity::anonymous("c1")).with_time(5);
    /// let mut out = Vec::new();
    /// ge.encode_envelope(&[&e], &mut out)?;
    /// assert!(out.starts_with(br#"{"client_id": "c1", "event_list": [{"type": "track""#));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn encode_envelope(&self, events: &[&Event], out: &mut Vec<u8>) -> Result<()> {
        let mut text = Vec::new();
        json::encode_into(
            &Envelope { ge: self, events },
            json::Style::PythonAscii,
            &mut text,
        )?;
        if self.compress {
            let mut zipped = Vec::new();
            gzip::compress_into(&text, &mut zipped)?;
            out.extend_from_slice(&zipped);
        } else {
            out.extend_from_slice(&text);
        }
        Ok(())
    }

    fn send(&self, group: &[&Event], ctx: &DeliveryCtx<'_>) -> (Result<()>, u32) {
        let (mut text, mut zipped) = self.buffers.lock().pop().unwrap_or_default();
        text.clear();
        let envelope = Envelope {
            ge: self,
            events: group,
        };
        let r = json::encode_into(&envelope, json::Style::PythonAscii, &mut text).and_then(|()| {
            // Debug mode's requests are what GEDebugConsumer sends: one plain envelope and the
            // debug header only.
            let mut headers = vec![("Content-Type", json::CONTENT_TYPE.to_owned())];
            if self.debug_mode {
                headers.push(("Turbo-Debug-Mode", "1".to_owned()));
                return Ok((false, headers));
            }
            headers.splice(
                0..0,
                [
                    ("GE-Integration-Type", LIB.to_owned()),
                    ("GE-Integration-Version", LIB_VERSION.to_owned()),
                    ("GE-Integration-Count", group.len().to_string()),
                ],
            );
            if self.compress {
                gzip::compress_into(&text, &mut zipped)?;
                headers.push(("Gravity-Content-Compress", "gzip".to_owned()));
            }
            Ok((self.compress, headers))
        });
        let out = match r {
            Ok((zip, headers)) => {
                let body = if zip { &zipped } else { &text };
                let req = Request {
                    url: &self.url,
                    query: &[],
                    headers: &headers,
                    body,
                };
                let (r, retries) = self.transport.post(&req, ctx, &judge);
                (r.map(drop), retries)
            }
            Err(e) => (Err(e), 0),
        };
        self.buffers.lock().push((text, zipped));
        out
    }
}

/// Success is HTTP 200 with `{"code": 0}`. Another code is a permanent refusal; a reply that
/// is not JSON is retried (a proxy's error page, a half-started server).
fn judge(resp: &Response) -> Verdict {
    if resp.status != 200 {
        return match classify_status(resp.status, resp.retry_after.as_deref(), &resp.body) {
            Verdict::Success => Verdict::Permanent(Error::Status {
                code: resp.status,
                body: "Gravity answers 200 on success".into(),
            }),
            v => v,
        };
    }
    let reply: serde_json::Value = match serde_json::from_slice(&resp.body) {
        Ok(v) => v,
        Err(_) => {
            let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(100)]).into_owned();
            return Verdict::Retry {
                error: Error::Transport(format!("non-JSON reply: {text}").into()),
                after: None,
            };
        }
    };
    match reply.get("code").and_then(|c| c.as_i64()) {
        Some(0) => Verdict::Success,
        Some(code) => Verdict::Permanent(Error::Rejected {
            code,
            message: reply
                .get("msg")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_owned(),
        }),
        None => Verdict::Retry {
            error: Error::Transport(format!("reply without a code: {reply}").into()),
            after: None,
        },
    }
}

impl Backend for Gravity {
    fn name(&self) -> &'static str {
        "gravity"
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn check(&self, event: &Event) -> Result<()> {
        if let EventKind::Item { .. } = event.kind {
            return Err(Error::Unsupported {
                backend: "gravity",
                what: "item_set (Gravity carries track and the user_* operations)".into(),
            });
        }
        // Its client_id is one of them.
        event.identity.require_anonymous_or_user("Gravity")?;
        for (k, v) in event.properties.iter() {
            if k.starts_with('#') {
                if !PRESET_KEYS.contains(&k) {
                    return Err(Error::invalid(
                        format!("properties.{k}"),
                        format!("the only `#` keys Gravity takes are {}", PRESET_KEYS.join(", ")),
                    ));
                }
                if !matches!(v, Value::String(_) | Value::Time(_) | Value::Int(_)) {
                    return Err(Error::invalid(
                        format!("properties.{k}"),
                        "a preset key takes text or a time",
                    ));
                }
            } else if !valid_name(k) {
                return Err(Error::invalid(
                    format!("properties.{k}"),
                    "Gravity property names are `$`? then a letter then up to 49 letters, digits or \
                     underscores, or `__` then a letter then up to 50 (case-insensitive)",
                ));
            }
        }
        Ok(())
    }

    fn order_key<'e>(&self, event: &'e Event) -> Option<&'e str> {
        // A profile is the sum of its operations in order (a set then an unset is not an
        // unset then a set); track events carry their own time.
        matches!(event.kind, EventKind::Profile(_)).then(|| self.client_id(event))
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        // One envelope per client and preset values, in order of first appearance: the SDK
        // merged them all under the first, crediting every event to one user.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        // A client's envelopes go one after another (its profile operations stay in
        // order); different clients' side by side.
        let mut clients: Vec<Vec<usize>> = Vec::new();
        let mut client_index: HashMap<&str, usize> = HashMap::new();
        for (i, e) in batch.iter().enumerate() {
            let g = *index.entry(self.envelope_key(e)).or_insert_with(|| {
                groups.push(Vec::new());
                let c = *client_index.entry(self.client_id(e)).or_insert_with(|| {
                    clients.push(Vec::new());
                    clients.len() - 1
                });
                clients[c].push(groups.len() - 1);
                groups.len() - 1
            });
            groups[g].push(i);
        }
        let per_request = if self.debug_mode { 1 } else { self.max_batch };
        let outcomes = ctx.fan_out(clients.len(), |c| {
            let mut d = Delivery::default();
            for chunk in clients[c].iter().flat_map(|&g| groups[g].chunks(per_request)) {
                let events: Vec<&Event> = chunk.iter().map(|&i| &batch[i]).collect();
                let (r, retries) = self.send(&events, ctx);
                ctx.record(&mut d, r, retries, chunk);
            }
            d
        });
        for o in outcomes {
            d.merge(o);
        }
        d
    }
}

/// The anchored rule the SDK's regex meant:
/// `^\$?[a-z][a-z0-9_]{0,49}$` or `^__[a-z][a-z0-9_]{0,50}$`, case-insensitive.
fn valid_name(k: &str) -> bool {
    let (rest, max_tail) = if let Some(r) = k.strip_prefix("__") {
        (r, 50)
    } else {
        (k.strip_prefix('$').unwrap_or(k), 49)
    };
    let mut chars = rest.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && rest.len() <= 1 + max_tail
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn profile_event(op: ProfileOp) -> &'static str {
    match op {
        ProfileOp::Set => "profile_set",
        ProfileOp::SetOnce => "profile_set_once",
        ProfileOp::Increment => "profile_increment",
        ProfileOp::Max => "profile_number_max",
        ProfileOp::Min => "profile_number_min",
        ProfileOp::Append => "profile_append",
        ProfileOp::UniqAppend => "profile_uniq_append",
        ProfileOp::Unset => "profile_unset",
        ProfileOp::Delete => "profile_delete",
    }
}

/// `{"#ip": …, …, "client_id": …, "event_list": [...]}` for events that share an envelope.
struct Envelope<'a> {
    ge: &'a Gravity,
    events: &'a [&'a Event],
}

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let first = self.events[0];
        let mut m = s.serialize_map(None)?;
        for p in PRESET_KEYS {
            if let Some(v) = self.ge.preset(first, p) {
                m.serialize_entry(p, &v)?;
            } else if p == "#uuid" && self.ge.uuid_from_insert_id {
                // The envelope key holds the insert id, so this envelope has one event.
                m.serialize_entry(p, &first.insert_id)?;
            }
        }
        m.serialize_entry("client_id", self.ge.client_id(first))?;
        m.serialize_entry("event_list", &EventList(self))?;
        m.end()
    }
}

struct EventList<'a>(&'a Envelope<'a>);

impl Serialize for EventList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.events.len()))?;
        for e in self.0.events {
            seq.serialize_element(&GeEvent { ge: self.0.ge, e })?;
        }
        seq.end()
    }
}

struct GeEvent<'a> {
    ge: &'a Gravity,
    e: &'a Event,
}

impl Serialize for GeEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let e = self.e;
        let (ty, name) = match &e.kind {
            EventKind::Track { name } => ("track", name.as_str()),
            EventKind::Profile(op) => ("profile", profile_event(*op)),
            EventKind::Item { .. } => return Err(serde::ser::Error::custom("gravity carries no items")),
        };
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("type", ty)?;
        m.serialize_entry("event", name)?;
        m.serialize_entry("time", &e.time)?;
        m.serialize_entry("time_free", &false)?;
        m.serialize_entry("properties", &GeProps { ge: self.ge, e })?;
        m.end()
    }
}

struct GeProps<'a> {
    ge: &'a Gravity,
    e: &'a Event,
}

impl Serialize for GeProps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let e = self.e;
        let tz = self.ge.utc_offset_minutes;
        let mut m = s.serialize_map(None)?;
        let track = matches!(e.kind, EventKind::Track { .. });
        if track {
            m.serialize_entry("$lib", LIB)?;
            m.serialize_entry("$lib_version", LIB_VERSION)?;
        }
        let op = match e.kind {
            EventKind::Profile(op) => Some(op),
            _ => None,
        };
        if op == Some(ProfileOp::Delete) {
            return m.end();
        }
        for (k, v) in e.properties.iter() {
            if k.starts_with('#') || (track && (k == "$lib" || k == "$lib_version")) {
                continue;
            }
            if op == Some(ProfileOp::Unset) {
                // The SDK's user_unset sends each key with 0.
                m.serialize_entry(k, &0)?;
            } else {
                m.serialize_entry(k, &GeValue { v, tz })?;
            }
        }
        m.end()
    }
}

/// A value as Gravity wants it: times as `YYYY-mm-dd HH:MM:SS.mmm` text.
struct GeValue<'a> {
    v: &'a Value,
    tz: i32,
}

impl Serialize for GeValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.v {
            Value::Time(t) => s.serialize_str(&format_datetime_ms(*t, self.tz)),
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(&GeValue { v, tz: self.tz })?;
                }
                seq.end()
            }
            Value::Object(p) => GeObject { p, tz: self.tz }.serialize(s),
            v => v.serialize(s),
        }
    }
}

struct GeObject<'a> {
    p: &'a Properties,
    tz: i32,
}

impl Serialize for GeObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.p.len()))?;
        for (k, v) in self.p.iter() {
            m.serialize_entry(k, &GeValue { v, tz: self.tz })?;
        }
        m.end()
    }
}

/// Gravity's config settings (`kind = "gravity"`).
///
/// # Examples
///
/// ```
/// let cfg = trackflow::config::BackendConfig::gravity("https://h/collect/?access_token=T0KEN");
/// assert!(!format!("{cfg:?}").contains("T0KEN"));
/// assert_eq!(cfg.build(&Default::default())?.name(), "gravity");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GravitySettings {
    /// The collect URL with its `?access_token=…` (masked in `Debug`).
    pub url: crate::settings::SecretUrl,
    /// Gzip bodies. Defaults to `true`.
    pub compress: Option<bool>,
    /// Events per envelope. Defaults to 20 (at most 200).
    pub max_batch: Option<usize>,
    /// Offset from UTC of time values written as text. Defaults to 0.
    pub utc_offset_minutes: Option<i32>,
    /// Send insert ids as `#uuid` (one request per event). Defaults to `false`.
    pub uuid_from_insert_id: Option<bool>,
    /// Which id becomes `client_id`: `anonymous_first` (default) or `user_first`.
    pub client_id: Option<ClientId>,
    /// Gravity's debug mode (`Turbo-Debug-Mode: 1`, one envelope per request). Defaults
    /// to `false`.
    pub debug_mode: Option<bool>,
}

impl super::BackendSettings for GravitySettings {
    const KIND: &'static str = "gravity";

    fn build(self, ctx: &super::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        let mut b = Gravity::builder(&self.url.0).transport(ctx.http()?);
        if let Some(v) = self.compress {
            b = b.compress(v);
        }
        if let Some(n) = self.max_batch {
            b = b.max_batch(n);
        }
        if let Some(m) = self.utc_offset_minutes {
            b = b.utc_offset_minutes(m);
        }
        if let Some(v) = self.uuid_from_insert_id {
            b = b.uuid_from_insert_id(v);
        }
        if let Some(c) = self.client_id {
            b = b.client_id(c);
        }
        if let Some(d) = self.debug_mode {
            b = b.debug_mode(d);
        }
        Ok(Box::new(b.build()?))
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
    fn names_follow_the_anchored_rule() {
        for ok in [
            "abc",
            "Abc",
            "$abc",
            "__abc",
            "a1_",
            &"a".repeat(50),
            &format!("__{}", "a".repeat(51)),
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "_abc",
            "1abc",
            "$",
            "$1",
            "#foo",
            "中文",
            "",
            "a-b c!",
            "a中文",
            &"a".repeat(51),
            "__1",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn unreachable_url_errors_do_not_carry_the_token() {
        let ge = Gravity::builder("http://127.0.0.1:1/collect/?access_token=TOPSECRET")
            .transport(
                HttpTransport::builder()
                    .retry(crate::transport::RetryPolicy::none())
                    .build(),
            )
            .build()
            .unwrap();
        let e = Event::track("a").with_identity(crate::Identity::anonymous("c"));
        let cancel = crate::delivery::Cancel::default();
        let d = ge.deliver(&[e], &DeliveryCtx::new(&cancel));
        let msg = d.failures[0].error.to_string();
        assert!(!msg.contains("TOPSECRET"), "{msg}");
        assert!(!format!("{ge:?}").contains("TOPSECRET"));
    }
}
