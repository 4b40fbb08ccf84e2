//! The GrowingIO client: builder, request building and delivery.

use std::sync::Arc;

use parking_lot::Mutex;

use super::{GrowingIoCodec, DEFAULT_PLATFORM, DEFAULT_SDK_VERSION, MAX_BATCH};
use crate::backend::{Backend, DEFAULT_MAX_BATCH};
use crate::clock::{Clock, SharedClock};
use crate::codec::json;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, ProfileOp};
use crate::transport::{classify_status, HttpTransport, Request};
use crate::value::{Properties, Value};

/// The GrowingIO CDP backend (JSON codec).
///
/// `sdkVersion` and `platform` default to the official SDK's values (`1.0.5`, `python`) so
/// the CDP treats our data exactly as it treats that SDK's; both can be set.
///
/// # Examples
///
/// ```
/// use trackflow::{GrowingIo, Backend};
/// let gio = GrowingIo::builder("https://collect.example.com/", "bcc3b6e0b6d7a1b2", "a5f1c2d3e4b5a6c7")
///     .build()?;
/// assert_eq!(gio.collect_url(), "https://collect.example.com/v3/projects/bcc3b6e0b6d7a1b2/collect");
/// assert_eq!(gio.name(), "growingio");
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct GrowingIo {
    collect_url: String,
    item_url: String,
    pub(super) project_key: String,
    pub(super) data_source_id: String,
    pub(super) platform: String,
    pub(super) sdk_version: String,
    max_batch: usize,
    codec: GrowingIoCodec,
    transport: HttpTransport,
    clock: SharedClock,
    buffers: Mutex<Vec<Buffers>>,
    // The JSON every message of this backend starts and ends with, rendered once.
    prefix_custom: Vec<u8>,
    prefix_user: Vec<u8>,
    suffix: Vec<u8>,
}

impl std::fmt::Debug for GrowingIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mask = crate::transport::mask::mask_url;
        f.debug_struct("GrowingIo")
            .field("collect_url", &mask(&self.collect_url))
            .field("item_url", &mask(&self.item_url))
            .field("project_key", &self.project_key)
            .field("data_source_id", &self.data_source_id)
            .field("codec", &self.codec)
            .field("max_batch", &self.max_batch)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Encoding scratch space, reused across requests.
#[derive(Default)]
struct Buffers {
    json: Vec<u8>,
    out: Vec<u8>,
    #[cfg(feature = "snappy")]
    snappy: Option<snap::raw::Encoder>,
}

impl std::fmt::Debug for Buffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffers")
            .field("json", &self.json.capacity())
            .field("out", &self.out.capacity())
            .finish_non_exhaustive()
    }
}

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
    /// let b = trackflow::GrowingIo::builder("https://collector.example.com", "p", "d").platform("java");
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
    /// let b = trackflow::GrowingIo::builder("https://collector.example.com", "p", "d").sdk_version("2.0.0");
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
    /// let b = trackflow::GrowingIo::builder("https://collector.example.com", "p", "d").max_batch(100);
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
    /// let b = trackflow::GrowingIo::builder("https://collector.example.com", "p", "d").codec(trackflow::backend::growingio::GrowingIoCodec::Json);
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
    /// let b = trackflow::GrowingIo::builder("https://collector.example.com", "p", "d").transport(trackflow::transport::HttpTransport::default());
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
    /// let b = trackflow::GrowingIo::builder("https://collector.example.com", "p", "d").clock(trackflow::FixedClock(1_700_000_000_000));
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
    /// let b = trackflow::GrowingIo::builder("https://collector.example.com", "bcc3b6e0b6d7a1b2", "a5f1c2d3e4b5a6c7");
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

    /// The URL for events and user attributes.
    ///
    /// # Examples
    ///
    /// ```
    /// let gio = trackflow::GrowingIo::builder("https://c.example.com/", "p", "d").build()?;
    /// assert_eq!(gio.collect_url(), "https://c.example.com/v3/projects/p/collect");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn collect_url(&self) -> &str {
        &self.collect_url
    }

    /// The URL for items.
    ///
    /// # Examples
    ///
    /// ```
    /// let gio = trackflow::GrowingIo::builder("https://c.example.com", "p", "d").build()?;
    /// assert_eq!(gio.item_url(), "https://c.example.com/projects/p/collect/item");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn item_url(&self) -> &str {
        &self.item_url
    }

    /// The codec in use.
    ///
    /// # Examples
    ///
    /// ```
    /// let gio = trackflow::GrowingIo::builder("https://c.example.com", "p", "d").build()?;
    /// assert_eq!(gio.codec(), trackflow::backend::growingio::GrowingIoCodec::Json);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn codec(&self) -> GrowingIoCodec {
        self.codec
    }

    /// Appends to `out` the body that would carry the events and user messages of `batch`
    /// (items go to another endpoint and are left out) if sent at `stm`, with the configured
    /// codec. For inspecting what goes on the wire, and for benchmarks.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the body cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, GrowingIo, Identity};
    /// let gio = GrowingIo::builder("http://127.0.0.1:9", "p", "d").build()?;
    /// let batch = [Event::track("open").with_time(5).with_identity(Identity::anonymous("d1"))];
    /// let mut out = Vec::new();
    /// gio.encode_events(&batch, 5, &mut out)?;
    /// assert!(out.starts_with(br#"[{"eventType":"CUSTOM""#));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn encode_events(&self, batch: &[Event], stm: i64, out: &mut Vec<u8>) -> Result<()> {
        let idx: Vec<usize> = (0..batch.len())
            .filter(|&i| !matches!(batch[i].kind, EventKind::Item { .. }))
            .collect();
        let body = Body {
            gio: self,
            batch,
            idx: &idx,
            items: false,
        };
        let mut bufs = self.buffers.lock().pop().unwrap_or_default();
        let r = self
            .encode(&body, stm, &mut bufs)
            .map(|(payload, _, _)| out.extend_from_slice(payload));
        self.buffers.lock().push(bufs);
        r
    }

    fn send(&self, url: &str, body: &Body<'_>, ctx: &DeliveryCtx<'_>) -> (Result<()>, u32) {
        // A small pool instead of one set of buffers: Immediate and Buffered consumers deliver
        // from many caller threads at once, and none of them may wait on another's request.
        let mut bufs = self.buffers.lock().pop().unwrap_or_default();
        let stm = self.clock.now_ms();
        let r = match self.encode(body, stm, &mut bufs) {
            Ok((payload, query, headers)) => {
                let req = Request {
                    url,
                    query: &query,
                    headers: &headers,
                    body: payload,
                };
                let (r, retries) = self.transport.post(&req, ctx, &|resp| {
                    classify_status(resp.status, resp.retry_after.as_deref(), &resp.body)
                });
                (r.map(drop), retries)
            }
            Err(e) => (Err(e), 0),
        };
        self.buffers.lock().push(bufs);
        r
    }

    /// Encodes `body` with the configured codec; returns the payload, query and headers.
    #[allow(
        clippy::type_complexity,
        reason = "a private return tuple read once by the caller"
    )]
    fn encode<'b>(
        &self,
        body: &Body<'_>,
        stm: i64,
        bufs: &'b mut Buffers,
    ) -> Result<(&'b [u8], Vec<(&'static str, String)>, Vec<(&'static str, String)>)> {
        let json_headers = || vec![("content-type", json::CONTENT_TYPE.to_owned())];
        let stm_query = || vec![("stm", stm.to_string())];
        bufs.json.clear();
        match self.codec {
            GrowingIoCodec::Json => {
                body.write_json(&mut bufs.json);
                Ok((&bufs.json, stm_query(), json_headers()))
            }
            #[cfg(feature = "snappy")]
            GrowingIoCodec::Snappy | GrowingIoCodec::SnappyCrypt => {
                use crate::codec::snappy;
                body.write_json(&mut bufs.json);
                let enc = bufs.snappy.get_or_insert_with(snap::raw::Encoder::new);
                snappy::compress_into(enc, &bufs.json, &mut bufs.out)?;
                let mut headers = json_headers();
                headers.push(("X-Compress-Codec", "2".to_owned()));
                if self.codec == GrowingIoCodec::SnappyCrypt {
                    snappy::xor_in_place(&mut bufs.out, (stm & 0xff) as u8);
                    headers.push(("X-Crypt-Codec", "1".to_owned()));
                }
                Ok((&bufs.out, stm_query(), headers))
            }
            #[cfg(feature = "protobuf")]
            GrowingIoCodec::Protobuf => {
                use crate::codec::protobuf;
                bufs.out.clear();
                if body.items {
                    super::proto::write_items(body, &mut bufs.out);
                } else {
                    super::proto::write_events(body, &mut bufs.out);
                }
                // The SDK's ProtobufParser sends no query string at all.
                Ok((
                    &bufs.out,
                    Vec::new(),
                    vec![("content-type", protobuf::CONTENT_TYPE.to_owned())],
                ))
            }
            #[allow(unreachable_patterns, reason = "reachable only with a codec feature off")]
            other => Err(Error::Config(format!(
                "growingio codec {other:?} is not compiled in"
            ))),
        }
    }
}

impl Backend for GrowingIo {
    fn name(&self) -> &'static str {
        "growingio"
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn check(&self, event: &Event) -> Result<()> {
        match &event.kind {
            EventKind::Track { .. } => event.identity.require_anonymous_or_user("GrowingIO"),
            EventKind::Item { .. } => Ok(()),
            EventKind::Profile(ProfileOp::Set) if event.identity.user_id.is_none() => Err(Error::invalid(
                "identity.user_id",
                "GrowingIO user_set (login user attributes) needs a user_id",
            )),
            EventKind::Profile(ProfileOp::Set) => Ok(()),
            kind => Err(Error::Unsupported {
                backend: "growingio",
                what: format!("{kind} (GrowingIO carries track, user_set and item_set)"),
            }),
        }
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        let (mut events, mut items) = (Vec::new(), Vec::new());
        for (i, e) in batch.iter().enumerate() {
            match e.kind {
                EventKind::Item { .. } => items.push(i),
                _ => events.push(i),
            }
        }
        for (idx, url, items) in [
            (&events, &self.collect_url, false),
            (&items, &self.item_url, true),
        ] {
            for chunk in idx.chunks(self.max_batch) {
                let body = Body {
                    gio: self,
                    batch,
                    idx: chunk,
                    items,
                };
                let (r, retries) = self.send(url, &body, ctx);
                ctx.record(&mut d, r, retries, chunk);
            }
        }
        d
    }
}

/// One request body: the events at `idx` as a JSON array, as event or as item messages.
pub(super) struct Body<'a> {
    pub(super) gio: &'a GrowingIo,
    batch: &'a [Event],
    idx: &'a [usize],
    items: bool,
}

impl<'a> Body<'a> {
    /// A body of every event at `idx`, for the codec tests.
    #[cfg(all(test, feature = "protobuf"))]
    pub(super) fn of(gio: &'a GrowingIo, batch: &'a [Event], idx: &'a [usize], items: bool) -> Self {
        Body {
            gio,
            batch,
            idx,
            items,
        }
    }

    pub(super) fn events(&self) -> impl Iterator<Item = &'a Event> + '_ {
        self.idx.iter().map(|&i| &self.batch[i])
    }

    /// The JSON array, written straight into `out`: keys in the SDK's order
    /// (`data_parser.py` L46-81), compact, non-ASCII escaped (`ensure_ascii`).
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (n, e) in self.events().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            if self.items {
                self.gio.write_item(out, e);
            } else {
                self.gio.write_event(out, e);
            }
        }
        out.push(b']');
    }
}

impl GrowingIo {
    /// Renders the constant parts of every message once, escaped as the SDK escapes them.
    fn with_fragments(mut self) -> Self {
        let head = |event_type: &str| {
            let mut b = br#"{"eventType":"#.to_vec();
            json::write_str(&mut b, event_type, true);
            b.extend_from_slice(br#","sdkVersion":"#);
            json::write_str(&mut b, &self.sdk_version, true);
            b.extend_from_slice(br#","platform":"#);
            json::write_str(&mut b, &self.platform, true);
            b.extend_from_slice(br#","timestamp":"#);
            b
        };
        self.prefix_custom = head("CUSTOM");
        self.prefix_user = head("LOGIN_USER_ATTRIBUTES");
        let mut tail = br#","dataSourceId":"#.to_vec();
        json::write_str(&mut tail, &self.data_source_id, true);
        tail.extend_from_slice(br#","projectKey":"#);
        json::write_str(&mut tail, &self.project_key, true);
        tail.push(b'}');
        self.suffix = tail;
        self
    }

    fn write_event(&self, out: &mut Vec<u8>, e: &Event) {
        let name = e.name();
        out.extend_from_slice(if name.is_some() {
            &self.prefix_custom
        } else {
            &self.prefix_user
        });
        json::write_i64(out, e.time);
        if let EventKind::Track { name } = &e.kind {
            out.extend_from_slice(br#","eventName":""#);
            json::write_utf8_content(out, name.as_bytes(), true);
            out.push(b'"');
        }
        let id = &e.identity;
        for (key, v) in [
            (&br#","deviceId":"#[..], &id.anonymous_id),
            (br#","userKey":"#, &id.user_key),
            (br#","userId":"#, &id.user_id),
        ] {
            if let Some(v) = v {
                out.extend_from_slice(key);
                json::write_str(out, v, true);
            }
        }
        if !e.properties.is_empty() {
            out.extend_from_slice(br#","attributes":"#);
            write_attrs(out, &e.properties, true);
        }
        // The SDK sends sendTime only when the caller gave the event time, and then equal to
        // it (message.py L68-72).
        if e.time_given {
            out.extend_from_slice(br#","sendTime":"#);
            json::write_i64(out, e.time);
        }
        out.extend_from_slice(&self.suffix);
    }

    /// An item message: no eventType, timestamp or sdkVersion.
    fn write_item(&self, out: &mut Vec<u8>, e: &Event) {
        let EventKind::Item { item_type, item_id } = &e.kind else {
            return;
        };
        out.extend_from_slice(br#"{"key":"#);
        json::write_str(out, item_type, true);
        out.extend_from_slice(br#","id":"#);
        json::write_str(out, item_id, true);
        if !e.properties.is_empty() {
            out.extend_from_slice(br#","attributes":"#);
            write_attrs(out, &e.properties, false);
        }
        out.extend_from_slice(&self.suffix);
    }
}

/// Attributes as a JSON object: for events and users, lists become one `||`-joined string.
fn write_attrs(out: &mut Vec<u8>, p: &Properties, join_lists: bool) {
    out.push(b'{');
    for (n, (k, v)) in p.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        json::write_str(out, k, true);
        out.push(b':');
        match v {
            Value::List(l) if join_lists => write_joined(out, l),
            v => write_value(out, v),
        }
    }
    out.push(b'}');
}

/// A value as GrowingIO wants it: times as ms integers, the rest as JSON.
fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) | Value::Time(i) => json::write_i64(out, *i),
        Value::Float(f) => json::write_f64(out, *f),
        Value::String(s) => {
            out.push(b'"');
            json::write_utf8_content(out, s.as_bytes(), true);
            out.push(b'"');
        }
        Value::List(l) => {
            out.push(b'[');
            for (n, x) in l.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_value(out, x);
            }
            out.push(b']');
        }
        Value::Object(p) => write_attrs(out, p, false),
    }
}

/// `"a||b||3"`: the list's elements joined with `||`, nulls and empty strings dropped
/// (`message.py` L95-103); strings as they are, everything else as its JSON text.
fn write_joined(out: &mut Vec<u8>, l: &[Value]) {
    out.push(b'"');
    let mut first = true;
    for v in l {
        match v {
            Value::Null => continue,
            Value::String(s) if s.is_empty() => continue,
            _ => {}
        }
        if !first {
            out.extend_from_slice(b"||");
        }
        first = false;
        match v {
            Value::String(s) => json::write_utf8_content(out, s.as_bytes(), true),
            v => {
                // Numbers, bools and times have no character to escape; nested lists and
                // objects do, as text inside a string.
                let mut text = Vec::new();
                write_value(&mut text, v);
                json::write_str_content(out, std::str::from_utf8(&text).unwrap_or_default(), true);
            }
        }
    }
    out.push(b'"');
}

/// Appends a value as attribute text (protobuf attributes): strings as they are,
/// everything else as its JSON text (`9.9`, `true`); lists `||`-joined when `join_lists`
/// (nulls and empty strings dropped), else JSON text. `false` for null, which is left out.
#[cfg(feature = "protobuf")]
pub(crate) fn write_text(out: &mut Vec<u8>, v: &Value, join_lists: bool) -> bool {
    match v {
        Value::Null => return false,
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::List(l) if join_lists => {
            let mut first = true;
            for x in l {
                if matches!(x, Value::Null) || x.as_str() == Some("") {
                    continue;
                }
                if !first {
                    out.extend_from_slice(b"||");
                }
                first = false;
                match x {
                    Value::String(s) => out.extend_from_slice(s.as_bytes()),
                    x => write_value(out, x),
                }
            }
        }
        v => write_value(out, v),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_drops_nulls_and_empties() {
        let l = vec![
            Value::from("red"),
            Value::from(""),
            Value::Null,
            Value::from("blue"),
            Value::Int(3),
            Value::Float(2.0),
            Value::Bool(true),
        ];
        let mut out = Vec::new();
        write_joined(&mut out, &l);
        assert_eq!(out, br#""red||blue||3||2.0||true""#);
    }

    #[test]
    fn trailing_slash_is_stripped_and_bad_hosts_rejected() {
        let g = GrowingIo::builder("http://h:1//", "p", "d").build().unwrap();
        assert_eq!(g.collect_url(), "http://h:1/v3/projects/p/collect");
        assert_eq!(g.item_url(), "http://h:1/projects/p/collect/item");
        assert!(GrowingIo::builder("h:1", "p", "d").build().is_err());
        assert!(GrowingIo::builder("http://h", "", "d").build().is_err());
    }
}
