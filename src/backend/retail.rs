//! Google Cloud Retail v2 user events: `write` per event through the consumers, and the admin
//! calls `collect`, `import`, `purge` and `rejoin` on the backend.
//!
//! A batch's writes go out side by side within the consumer's `max_in_flight` (each event
//! carries its `eventTime`). The admin calls run on the caller's thread, outside the
//! consumer's lanes, so a long import never holds up event delivery.
//!
//! ```text
//! track ─► UserEvent ─► POST /v2/{parent}/userEvents:write?$alt=json;enum-encoding=int[&writeAsync=true]
//! Retail::collect  ─► GET  /v2/{parent}/userEvents:collect?userEvent=<json>&uri=…&ets=…
//! Retail::import   ─► POST /v2/{parent}/userEvents:import   (inline source, in chunks) ─► Operation, polled
//! Retail::purge    ─► POST /v2/{parent}/userEvents:purge    {filter, force}            ─► Operation, polled
//! Retail::rejoin   ─► POST /v2/{parent}/userEvents:rejoin   {userEventRejoinScope}     ─► Operation, polled
//! ```
//!
//! The neutral event maps to a UserEvent: the event name is the `eventType`, the anonymous id
//! the `visitorId` (else the user id), the user id `userInfo.userId`, the interaction block the
//! product details, purchase transaction, search fields, page and attribution; every other
//! property becomes a custom attribute (`text` or `numbers`). Retail's rules are checked at the
//! call.

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value as Json};

use super::google::{self, Operation, ALT_QUERY};
use super::Backend;
use crate::auth::google::Tokens;
use crate::clock::format_rfc3339_ms;
use crate::delivery::Delivery;
use crate::delivery::{Cancel, DeliveryCtx};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::transport::HttpTransport;
use crate::value::Value;

/// The endpoint of the Retail API.
pub const DEFAULT_ENDPOINT: &str = "https://retail.googleapis.com";
/// The user event types Retail knows.
pub const EVENT_TYPES: [&str; 8] = [
    "add-to-cart",
    "remove-from-cart",
    "category-page-view",
    "detail-page-view",
    "home-page-view",
    "purchase-complete",
    "search",
    "shopping-cart-page-view",
];
/// Default for [`RetailBuilder::import_chunk`].
pub const DEFAULT_IMPORT_CHUNK: usize = 5_000;
/// Default deadline of a long-running operation.
pub const DEFAULT_OPERATION_DEADLINE: Duration = Duration::from_secs(600);

/// Which events `rejoin` re-joins with the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejoinScope {
    /// All events (the API default).
    #[default]
    Unspecified = 0,
    /// Only events already joined with a product.
    JoinedEvents = 1,
    /// Only events not joined with any product.
    UnjoinedEvents = 2,
}

/// The Google Cloud Retail user events backend.
///
/// # Examples
///
/// ```
/// use trackflow::auth::google::{StaticToken, Tokens};
/// use trackflow::backend::retail::Retail;
/// let retail = Retail::builder("projects/123/locations/global/catalogs/default_catalog")
///     .tokens(Tokens::new(StaticToken::new("ya29.x")))
///     .build()?;
/// assert!(!format!("{retail:?}").contains("ya29"));
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct Retail {
    endpoint: String,
    parent: String,
    tokens: Option<Tokens>,
    quota_project: Option<String>,
    write_async: bool,
    import_chunk: usize,
    operation_deadline: Duration,
    poll_interval: Duration,
    transport: HttpTransport,
    // Admin calls (import, purge, rejoin) stop when it fires, and at the operation deadline.
    cancel: Cancel,
}

impl fmt::Debug for Retail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retail")
            .field("endpoint", &crate::transport::mask::mask_url(&self.endpoint))
            .field("parent", &self.parent)
            .field("tokens", &self.tokens)
            .field("write_async", &self.write_async)
            .finish_non_exhaustive()
    }
}

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
    inner: Retail,
}

impl RetailBuilder {
    /// Another endpoint (`scheme://host[:port]`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").endpoint("http://127.0.0.1:8080");
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
    /// let b = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").tokens(trackflow::auth::google::Tokens::new(trackflow::auth::google::StaticToken::new("ya29.x")));
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
    /// let b = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").quota_project("billing-project");
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
    /// let b = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").write_async(true);
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
    /// let b = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").import_chunk(1000);
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
    /// let b = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").operation_deadline(std::time::Duration::from_secs(60));
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
    /// let b = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").poll_interval(std::time::Duration::from_secs(2));
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
    /// let stop = trackflow::delivery::Cancel::default();
    /// let b = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").cancel(stop.clone());
    /// stop.cancel(); // e.g. from a signal handler's thread
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
    /// let b = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").transport(trackflow::transport::HttpTransport::default());
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

/// What [`Retail::collect`] sends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Collect<'a> {
    /// The event (sent as the JSON of its UserEvent).
    pub user_event: Option<&'a Event>,
    /// The page URL, when the pixel cannot send a referrer (≤ 5000 characters).
    pub uri: Option<&'a str>,
    /// The event timestamp in ms, to detect duplicates.
    pub ets: Option<i64>,
    /// A prebuilt rule, e.g. `ga4_bq`, with `raw_json`.
    pub prebuilt_rule: Option<&'a str>,
    /// The raw event for the prebuilt rule.
    pub raw_json: Option<&'a str>,
}

/// Progress of [`Retail::import`], after each chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportProgress {
    /// Events sent so far.
    pub sent: u64,
    /// Events the finished operations counted as imported.
    pub succeeded: u64,
    /// Events the finished operations counted as failed.
    pub failed: u64,
    /// Chunks sent.
    pub chunks: u64,
}

impl Retail {
    /// A builder for the catalog `parent` (`projects/*/locations/*/catalogs/*`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::retail::Retail::builder("projects/123/locations/global/catalogs/default_catalog");
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

    fn url(&self, method: &str) -> String {
        format!("{}/v2/{}/userEvents:{method}", self.endpoint, self.parent)
    }

    /// An admin call with this backend's headers, stopping when `cancel` fires.
    /// `routing`: the parent for `x-goog-request-params`.
    fn admin(
        &self,
        call: &google::Call<'_>,
        routing: Option<&str>,
        cancel: &Cancel,
    ) -> Result<crate::transport::Response> {
        let (r, _) = call.send(&self.transport, cancel, self.tokens.as_ref(), || {
            google::headers(
                self.tokens.as_ref(),
                self.quota_project.as_deref(),
                routing,
                true,
                cancel,
            )
        });
        r
    }

    /// The admin calls' cancellation, with the operation deadline.
    fn admin_cancel(&self) -> Cancel {
        self.cancel
            .with_deadline(Instant::now() + self.operation_deadline)
    }

    /// The UserEvent JSON of `e` (proto3 JSON names, field-number order, defaults left out).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Identity};
    /// let r = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").build()?;
    /// let e = Event::track("home-page-view").with_identity(Identity::anonymous("v1")).with_time(1_700_000_000_500);
    /// assert_eq!(r.user_event(&e)["visitorId"], "v1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn user_event(&self, e: &Event) -> Json {
        user_event(e)
    }

    /// Sends the collect pixel request (`GET …:collect`) for one event or a prebuilt rule.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a `uri` over 5000 characters or a user event over 2 000 000;
    /// the API's error otherwise.
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// use trackflow::backend::retail::{Collect, Retail};
    /// use trackflow::{Event, Identity};
    /// let r = Retail::builder("projects/1/locations/global/catalogs/c").build()?;
    /// let e = Event::track("home-page-view").with_identity(Identity::anonymous("v1"));
    /// r.collect(&Collect { user_event: Some(&e), ..Collect::default() })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn collect(&self, c: &Collect<'_>) -> Result<()> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(r) = c.raw_json {
            query.push(("rawJson", r.to_owned()));
        }
        if let Some(p) = c.prebuilt_rule {
            query.push(("prebuiltRule", p.to_owned()));
        }
        // Required in the http rule: sent empty when there is no event.
        let ue = match c.user_event {
            Some(e) => {
                check_user_event(e)?;
                serde_json::to_string(&user_event(e)).unwrap_or_default()
            }
            None => String::new(),
        };
        if ue.len() > 2_000_000 {
            return Err(Error::invalid(
                "user_event",
                "Retail collect takes at most 2 000 000 characters",
            ));
        }
        query.push(("userEvent", ue));
        if let Some(u) = c.uri {
            if u.len() > 5000 {
                return Err(Error::invalid("uri", "Retail takes at most 5000 characters"));
            }
            query.push(("uri", u.to_owned()));
        }
        if let Some(ets) = c.ets {
            query.push(("ets", ets.to_string()));
        }
        query.push((ALT_QUERY.0, ALT_QUERY.1.to_owned()));
        let url = self.url("collect");
        let call = google::Call {
            get: true,
            url: &url,
            query: &query,
            body: &[],
        };
        self.admin(&call, Some(&self.parent), &self.admin_cancel())
            .map(drop)
    }

    /// Imports events through inline sources, `import_chunk` events per request, waiting for
    /// each request's operation; `progress` is called after each chunk.
    ///
    /// # Errors
    ///
    /// The first invalid event (by its position), or the first failed request or operation.
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// use trackflow::backend::retail::Retail;
    /// let r = Retail::builder("projects/1/locations/global/catalogs/c").build()?;
    /// let events = trackflow::spool::read_events(std::path::Path::new("events.jsonl"))?;
    /// let done = r.import(events, None, |p| eprintln!("{} sent", p.sent))?;
    /// println!("{} imported", done.succeeded);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn import(
        &self,
        events: impl IntoIterator<Item = Event>,
        errors_gcs_prefix: Option<&str>,
        mut progress: impl FnMut(&ImportProgress),
    ) -> Result<ImportProgress> {
        let mut p = ImportProgress::default();
        let mut chunk: Vec<Json> = Vec::with_capacity(self.import_chunk);
        let mut events = events.into_iter().enumerate().peekable();
        while events.peek().is_some() {
            chunk.clear();
            for (i, e) in events.by_ref().take(self.import_chunk) {
                check_user_event(&e).map_err(|err| match err {
                    Error::InvalidInput { field, rule } => Error::InvalidInput {
                        field: format!("events[{i}].{field}"),
                        rule,
                    },
                    e => e,
                })?;
                chunk.push(user_event(&e));
            }
            let mut body = json!({"inputConfig": {"userEventInlineSource": {"userEvents": chunk}}});
            if let Some(prefix) = errors_gcs_prefix {
                body["errorsConfig"] = json!({ "gcsPrefix": prefix });
            }
            let op = self.start_operation("import", &body)?;
            let count = |k: &str| {
                op.metadata
                    .get(k)
                    .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()))
            };
            p.sent += chunk.len() as u64;
            p.chunks += 1;
            p.succeeded += count("successCount").unwrap_or(0);
            p.failed += count("failureCount").unwrap_or(0);
            progress(&p);
        }
        Ok(p)
    }

    /// Deletes the events matching `filter` (eventType, eventTime, visitorId, userId); with
    /// `force = false` it is a dry run that counts them. Waits for the operation.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty filter or one over 5000 characters; the API's error.
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// let r = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").build()?;
    /// let op = r.purge(r#"visitorId = "v1""#, false)?; // a dry run
    /// println!("{:?}", op.response);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn purge(&self, filter: &str, force: bool) -> Result<Operation> {
        if filter.trim().is_empty() || filter.len() > 5000 {
            return Err(Error::invalid(
                "filter",
                "Retail purge needs a filter of 1 to 5000 characters",
            ));
        }
        let mut body = json!({ "filter": filter });
        if force {
            body["force"] = true.into();
        }
        self.start_operation("purge", &body)
    }

    /// Re-joins events with the catalog. Waits for the operation.
    ///
    /// # Errors
    ///
    /// The API's error, or [`Error::Timeout`] past the operation deadline.
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// use trackflow::backend::retail::{RejoinScope, Retail};
    /// let r = Retail::builder("projects/1/locations/global/catalogs/c").build()?;
    /// r.rejoin(RejoinScope::UnjoinedEvents)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rejoin(&self, scope: RejoinScope) -> Result<Operation> {
        let body = match scope {
            RejoinScope::Unspecified => json!({}),
            s => json!({ "userEventRejoinScope": s as i32 }),
        };
        self.start_operation("rejoin", &body)
    }

    fn start_operation(&self, method: &str, body: &Json) -> Result<Operation> {
        let cancel = self.admin_cancel();
        let url = self.url(method);
        let body = serde_json::to_vec_pretty(body).unwrap_or_default();
        let query = [(ALT_QUERY.0, ALT_QUERY.1.to_owned())];
        let call = google::Call {
            get: false,
            url: &url,
            query: &query,
            body: &body,
        };
        let op = self
            .admin(&call, Some(&self.parent), &cancel)
            .and_then(|r| google::parse_operation(&r))
            .and_then(|op| self.wait(op, &cancel));
        // Cancelled by the operation deadline rather than by the caller: a timeout.
        op.map_err(|e| match e {
            Error::Cancelled | Error::Timeout(_) if !self.cancel.is_cancelled() => {
                Error::Timeout(self.operation_deadline)
            }
            e => e,
        })
    }

    /// Polls `op` until done (or the operation deadline).
    fn wait(&self, op: Operation, cancel: &Cancel) -> Result<Operation> {
        google::wait(op, cancel, self.poll_interval, |name| {
            let query = [(ALT_QUERY.0, ALT_QUERY.1.to_owned())];
            let url = format!("{}/v2/{name}", self.endpoint);
            let call = google::Call {
                get: true,
                url: &url,
                query: &query,
                body: &[],
            };
            google::parse_operation(&self.admin(&call, None, cancel)?)
        })
    }
}

impl Backend for Retail {
    fn name(&self) -> &'static str {
        "retail"
    }

    fn max_batch(&self) -> usize {
        // One request per event: small batches keep a delivery short.
        50
    }

    fn check(&self, event: &Event) -> Result<()> {
        check_user_event(event)
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        let url = self.url("write");
        let mut query = Vec::with_capacity(2);
        if self.write_async {
            query.push(("writeAsync", "true".to_owned()));
        }
        query.push((ALT_QUERY.0, ALT_QUERY.1.to_owned()));
        let headers = || {
            google::headers(
                self.tokens.as_ref(),
                self.quota_project.as_deref(),
                Some(&self.parent),
                true,
                ctx.cancel,
            )
        };
        // One request per event: independent, so side by side within the flow.
        let outcomes = ctx.fan_out(batch.len(), |i| {
            let body = serde_json::to_vec_pretty(&user_event(&batch[i])).unwrap_or_default();
            let call = google::Call {
                get: false,
                url: &url,
                query: &query,
                body: &body,
            };
            let (r, retries) = call.send(&self.transport, ctx, self.tokens.as_ref(), headers);
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

fn visitor_id(e: &Event) -> Option<&str> {
    e.identity
        .anonymous_id
        .as_deref()
        .or(e.identity.user_id.as_deref())
}

/// Retail's limits count characters of UTF-8 text, not bytes.
fn too_long(field: &str, v: &str, max: usize) -> Result<()> {
    // Bytes bound characters from above: most values need no count.
    if v.len() > max && v.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("Retail takes at most {max} characters, got {}", v.chars().count()),
        ));
    }
    Ok(())
}

/// Retail's rules for a UserEvent (`user_event.py` L36-300).
fn check_user_event(e: &Event) -> Result<()> {
    let Some(ty) = e.name() else {
        return Err(Error::Unsupported {
            backend: "retail",
            what: format!(
                "{} (Retail carries track events, named by their eventType)",
                e.kind
            ),
        });
    };
    if !EVENT_TYPES.contains(&ty) {
        return Err(Error::invalid(
            "event name",
            format!("Retail event types are {}", EVENT_TYPES.join(", ")),
        ));
    }
    let visitor =
        visitor_id(e).ok_or_else(|| Error::invalid("identity", "Retail needs a visitor (anonymous) id"))?;
    too_long("identity.anonymous_id (visitorId)", visitor, 128)?;
    if let Some(s) = &e.identity.session_id {
        too_long("identity.session_id", s, 128)?;
    }
    let i = e.interaction.as_deref();
    let items = i.map_or(0, |i| i.items.len());
    if matches!(ty, "add-to-cart" | "detail-page-view" | "purchase-complete") && items == 0 {
        return Err(Error::invalid(
            "interaction.items",
            format!("Retail `{ty}` needs at least one product"),
        ));
    }
    if ty == "purchase-complete" && !i.is_some_and(|i| i.value.is_some() && i.currency.is_some()) {
        return Err(Error::invalid(
            "interaction.value",
            "Retail `purchase-complete` needs the revenue (value) and its currency",
        ));
    }
    if ty == "search" && !i.is_some_and(|i| i.search_query.is_some() || !i.page_categories.is_empty()) {
        return Err(Error::invalid(
            "interaction.search_query",
            "Retail `search` needs a search query or page categories",
        ));
    }
    if let Some(i) = i {
        for (f, v, max) in [
            ("interaction.search_query", &i.search_query, 5000),
            ("interaction.filter", &i.filter, 1000),
            ("interaction.order_by", &i.order_by, 1000),
            ("interaction.page_uri", &i.page_uri, 5000),
            ("interaction.referrer_uri", &i.referrer_uri, 5000),
        ] {
            if let Some(v) = v {
                too_long(f, v, max)?;
            }
        }
    }
    for (k, v) in e.properties.iter() {
        too_long(&format!("properties.{k} (key)"), k, 5000)?;
        let (texts, numbers) = attribute_values(v).ok_or_else(|| {
            Error::invalid(
                format!("properties.{k}"),
                "Retail attributes are text or numbers, not both or nested",
            )
        })?;
        if texts.len() > 400 || numbers.len() > 400 {
            return Err(Error::invalid(
                format!("properties.{k}"),
                "Retail takes at most 400 values per attribute",
            ));
        }
        for t in &texts {
            too_long(&format!("properties.{k}"), t, 256)?;
        }
    }
    Ok(())
}

/// An attribute as (texts, numbers); `None` when it mixes both or nests.
fn attribute_values(v: &Value) -> Option<(Vec<String>, Vec<f64>)> {
    let mut texts = Vec::new();
    let mut numbers = Vec::new();
    let one = |v: &Value, texts: &mut Vec<String>, numbers: &mut Vec<f64>| -> Option<()> {
        match v {
            Value::String(s) => texts.push(s.to_string()),
            Value::Bool(b) => texts.push(b.to_string()),
            Value::Time(t) => texts.push(format_rfc3339_ms(*t)),
            Value::Int(i) => numbers.push(*i as f64),
            Value::Float(f) => numbers.push(*f),
            Value::Null => {}
            Value::List(_) | Value::Object(_) => return None,
        }
        Some(())
    };
    match v {
        Value::List(l) => {
            for x in l {
                one(x, &mut texts, &mut numbers)?;
            }
        }
        v => one(v, &mut texts, &mut numbers)?,
    }
    (texts.is_empty() || numbers.is_empty()).then_some((texts, numbers))
}

/// The UserEvent, fields in proto field-number order (what the client library writes).
fn user_event(e: &Event) -> Json {
    let mut m = Map::new();
    let i = e.interaction.as_deref();
    let put = |m: &mut Map<String, Json>, k: &str, v: Option<Json>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    put(&mut m, "eventType", e.name().map(Json::from));
    put(&mut m, "visitorId", visitor_id(e).map(Json::from));
    put(&mut m, "eventTime", Some(format_rfc3339_ms(e.time).into()));
    put(
        &mut m,
        "experimentIds",
        i.filter(|i| !i.experiment_ids.is_empty())
            .map(|i| json!(i.experiment_ids)),
    );
    put(
        &mut m,
        "attributionToken",
        i.and_then(|i| i.recommendation_id.clone()).map(Json::from),
    );
    if let Some(i) = i.filter(|i| !i.items.is_empty()) {
        let details: Vec<Json> = i
            .items
            .iter()
            .map(|it| {
                let mut product = json!({ "id": it.id });
                if let Some(price) = it.price {
                    let mut info = Map::new();
                    if let Some(c) = &i.currency {
                        info.insert("currencyCode".into(), c.clone().into());
                    }
                    info.insert("price".into(), price.into());
                    product["priceInfo"] = info.into();
                }
                let mut d = json!({ "product": product });
                if let Some(q) = it.quantity {
                    d["quantity"] = q.into();
                }
                d
            })
            .collect();
        m.insert("productDetails".into(), details.into());
    }
    if !e.properties.is_empty() {
        let attrs: Map<String, Json> = e
            .properties
            .iter()
            .filter_map(|(k, v)| {
                let (texts, numbers) = attribute_values(v)?;
                let a = if numbers.is_empty() {
                    json!({ "text": texts })
                } else {
                    json!({ "numbers": numbers })
                };
                Some((k.to_owned(), a))
            })
            .collect();
        m.insert("attributes".into(), attrs.into());
    }
    put(
        &mut m,
        "cartId",
        i.and_then(|i| i.cart_id.clone()).map(Json::from),
    );
    if let Some(i) = i.filter(|_| e.name() == Some("purchase-complete")) {
        let mut t = Map::new();
        if let Some(id) = &i.transaction_id {
            t.insert("id".into(), id.clone().into());
        }
        for (k, v) in [("revenue", i.value), ("tax", i.tax), ("cost", i.cost)] {
            if let Some(v) = v {
                t.insert(k.into(), v.into());
            }
        }
        if let Some(c) = &i.currency {
            t.insert("currencyCode".into(), c.clone().into());
        }
        m.insert("purchaseTransaction".into(), t.into());
    }
    put(
        &mut m,
        "searchQuery",
        i.and_then(|i| i.search_query.clone()).map(Json::from),
    );
    put(
        &mut m,
        "pageCategories",
        i.filter(|i| !i.page_categories.is_empty())
            .map(|i| json!(i.page_categories)),
    );
    let mut user = Map::new();
    if let Some(u) = &e.identity.user_id {
        user.insert("userId".into(), u.as_ref().into());
    }
    if let Some(i) = i {
        if let Some(ip) = &i.ip_address {
            user.insert("ipAddress".into(), ip.clone().into());
        }
        if let Some(ua) = &i.user_agent {
            user.insert("userAgent".into(), ua.clone().into());
        }
        if let Some(d) = i.direct_user_request {
            user.insert("directUserRequest".into(), d.into());
        }
    }
    if !user.is_empty() {
        m.insert("userInfo".into(), user.into());
    }
    put(&mut m, "uri", i.and_then(|i| i.page_uri.clone()).map(Json::from));
    put(
        &mut m,
        "referrerUri",
        i.and_then(|i| i.referrer_uri.clone()).map(Json::from),
    );
    put(
        &mut m,
        "pageViewId",
        i.and_then(|i| i.page_view_id.clone()).map(Json::from),
    );
    put(&mut m, "filter", i.and_then(|i| i.filter.clone()).map(Json::from));
    put(
        &mut m,
        "orderBy",
        i.and_then(|i| i.order_by.clone()).map(Json::from),
    );
    put(&mut m, "offset", i.and_then(|i| i.offset).map(Json::from));
    put(
        &mut m,
        "sessionId",
        e.identity.session_id.as_deref().map(Json::from),
    );
    put(&mut m, "entity", i.and_then(|i| i.entity.clone()).map(Json::from));
    Json::Object(m)
}

/// Retail's config settings (`kind = "retail"`).
///
/// # Examples
///
/// ```
/// use trackflow::config::{BackendConfig, TransportConfig};
/// let cfg = BackendConfig::retail("projects/1/locations/global/catalogs/c")
///     .set("auth", serde_json::json!({"kind": "anonymous"}));
/// let retail = cfg.build_retail(&TransportConfig::default())?;
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetailSettings {
    /// `projects/*/locations/*/catalogs/*`.
    pub parent: String,
    /// Another endpoint. Defaults to `https://retail.googleapis.com`.
    pub endpoint: Option<String>,
    /// `writeAsync=true`. Defaults to `false`.
    pub write_async: Option<bool>,
    /// `x-goog-user-project`.
    pub quota_project: Option<String>,
    /// Where tokens come from. Defaults to [`GoogleAuth::Default`](crate::config::GoogleAuth::Default).
    #[serde(default)]
    pub auth: crate::settings::GoogleAuth,
}

impl RetailSettings {
    /// The Retail backend these settings describe, for its admin calls too.
    pub(crate) fn retail(self, ctx: &super::BuildCtx<'_>) -> Result<Retail> {
        let mut b = Retail::builder(&self.parent).transport(ctx.http()?);
        if let Some(e) = self.endpoint {
            b = b.endpoint(e);
        }
        if let Some(w) = self.write_async {
            b = b.write_async(w);
        }
        if let Some(q) = self.quota_project {
            b = b.quota_project(q);
        }
        if let Some(t) = self.auth.tokens()? {
            b = b.tokens(t);
        }
        b.build()
    }
}

impl super::BackendSettings for RetailSettings {
    const KIND: &'static str = "retail";

    fn build(self, ctx: &super::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        Ok(Box::new(self.retail(ctx)?))
    }
}
