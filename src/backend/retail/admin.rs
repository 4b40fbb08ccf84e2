//! The admin calls on the caller's thread, outside the consumer's lanes: `collect`, `import`,
//! `purge` and `rejoin`, and the long-running operations they start.

use std::time::Instant;

use serde_json::{json, Value as Json};

use super::client::Retail;
use super::rules::check_user_event;
use super::wire::user_event;
use crate::backend::google::{self, Operation, ALT_QUERY};
use crate::delivery::Cancel;
use crate::error::{Error, Result};
use crate::event::Event;

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
    /// An admin call with this backend's headers, stopping when `cancel` fires.
    /// `routing`: the parent for `x-goog-request-params`.
    pub(super) fn admin(
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
    pub(super) fn admin_cancel(&self) -> Cancel {
        self.cancel
            .with_deadline(Instant::now() + self.operation_deadline)
    }
}

impl Retail {
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

    pub(super) fn start_operation(&self, method: &str, body: &Json) -> Result<Operation> {
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
    pub(super) fn wait(&self, op: Operation, cancel: &Cancel) -> Result<Operation> {
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
