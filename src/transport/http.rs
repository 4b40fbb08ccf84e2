//! The HTTP client every backend shares: one ureq [`Agent`](ureq::Agent) per transport, so
//! connections are pooled and reused across batches.

use std::fmt;

use super::mask::{is_secret_name, mask_url};
use super::pacing::{Attempt, Pacing};
use super::retry::{RetryPolicy, Verdict};
use super::{HttpClient, HttpRequest, Method, Request, Response};
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// Retrying HTTP client shared by the HTTP backends.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let t = trackflow::transport::HttpTransport::builder()
///     .connect_timeout(Duration::from_secs(2))
///     .build();
/// assert_eq!(t.retry_policy().max_retries, 3);
/// ```
#[derive(Clone)]
pub struct HttpTransport {
    pub(super) client: std::sync::Arc<dyn HttpClient>,
    pub(super) retry: RetryPolicy,
    pub(super) max_body_bytes: Option<usize>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// The retry policy in force.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::transport::HttpTransport::default();
    /// assert_eq!(t.retry_policy().max_retries, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// POSTs `req`, retrying transient failures. `judge` decides what a response means
    /// (most backends use [`classify_status`](super::classify_status)).
    ///
    /// Returns the final response or error, and how many retries it took.
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// use trackflow::transport::{classify_status, HttpTransport, Request};
    /// use trackflow::delivery::{Cancel, DeliveryCtx};
    /// let t = HttpTransport::default();
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let req = Request { url: "http://127.0.0.1:8080/collect", query: &[], headers: &[], body: b"[]" };
    /// let (result, retries) = t.post(&req, &ctx, &|r| classify_status(r.status, r.retry_after.as_deref(), &r.body));
    /// println!("{:?} after {retries} retries", result.map(|r| r.status));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn post(
        &self,
        req: &Request<'_>,
        ctx: &dyn Pacing,
        judge: &dyn Fn(&Response) -> Verdict,
    ) -> (Result<Response>, u32) {
        self.execute(Method::Post, req, ctx, judge)
    }

    /// As [`post`](Self::post), with GET (the body is ignored).
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// use trackflow::transport::{classify_status, HttpTransport, Request};
    /// use trackflow::delivery::{Cancel, DeliveryCtx};
    /// let t = HttpTransport::default();
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let req = Request { url: "http://127.0.0.1:8080/health", query: &[], headers: &[], body: &[] };
    /// let (result, _) = t.get(&req, &ctx, &|r| classify_status(r.status, r.retry_after.as_deref(), &r.body));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(
        &self,
        req: &Request<'_>,
        ctx: &dyn Pacing,
        judge: &dyn Fn(&Response) -> Verdict,
    ) -> (Result<Response>, u32) {
        self.execute(Method::Get, req, ctx, judge)
    }

    fn execute(
        &self,
        method: Method,
        req: &Request<'_>,
        ctx: &dyn Pacing,
        judge: &dyn Fn(&Response) -> Verdict,
    ) -> (Result<Response>, u32) {
        if self.max_body_bytes.is_some_and(|max| req.body.len() > max) {
            return (
                Err(Error::TooLarge {
                    bytes: req.body.len(),
                }),
                0,
            );
        }
        let mut retries = 0;
        loop {
            let (error, after, too_many) = match self.attempt(method, req, ctx, judge) {
                Step::Done(r) => return (r, retries),
                Step::Retry {
                    error,
                    after,
                    too_many,
                } => (error, after, too_many),
            };
            let wait = self.retry.wait(retries, after);
            if too_many {
                // The collector is over its quota for this client, not for this request:
                // fewer go at once, and where it named a wait every lane waits it (also when
                // this request has no retry left).
                ctx.throttled(after.unwrap_or_default());
            }
            if retries >= self.retry.max_retries {
                return (Err(error), retries);
            }
            log::debug!(
                "trackflow: {} failed ({error}); retry {} in {wait:?}",
                mask_url(req.url),
                retries + 1
            );
            if ctx.cancel().sleep(wait) {
                return (Err(Error::Cancelled), retries);
            }
            retries += 1;
        }
    }

    /// One attempt, admitted by the consumer's flow: what it came to, or what to retry.
    fn attempt(
        &self,
        method: Method,
        req: &Request<'_>,
        ctx: &dyn Pacing,
        judge: &dyn Fn(&Response) -> Verdict,
    ) -> Step {
        if ctx.cancel().is_cancelled() {
            return Step::Done(Err(Error::Cancelled));
        }
        if ctx.debug() {
            log_request(method, req, ctx.dry_run());
        }
        if ctx.dry_run() {
            return Step::Done(Ok(Response {
                status: 200,
                ..Response::default()
            }));
        }
        let Some(Attempt { verdict, response }) =
            ctx.admit(&mut || match self.once(method, req, ctx.cancel()) {
                Ok(resp) => Attempt::new(verdict_of(&resp, judge), Some(resp)),
                Err(e) => Attempt::new(e, None),
            })
        else {
            return Step::Done(Err(Error::Cancelled));
        };
        let too_many = super::retry::is_throttled(&verdict, response.as_ref());
        match verdict {
            Verdict::Success => Step::Done(Ok(response.unwrap_or_default())),
            // A 413 tells the size limit was hit; name the size that hit it.
            Verdict::Permanent(Error::TooLarge { .. }) => Step::Done(Err(Error::TooLarge {
                bytes: req.body.len(),
            })),
            Verdict::Permanent(e) => Step::Done(Err(e)),
            Verdict::Retry { error, after } => Step::Retry {
                error,
                after,
                too_many,
            },
        }
    }

    /// One attempt of an owned request, within `limit`, on an I/O thread so that `cancel`
    /// can abandon it: the credential calls, which the credentials cache retries itself.
    #[cfg(feature = "personalize")]
    pub(crate) fn send_once(
        &self,
        request: HttpRequest,
        limit: std::time::Duration,
        cancel: &Cancel,
    ) -> std::result::Result<Response, Verdict> {
        let client = self.client.clone();
        match super::pool::run(move || client.send(&request, Some(limit)), cancel) {
            Some(r) => r,
            None => Err(Verdict::Permanent(Error::Cancelled)),
        }
    }

    /// One attempt, carried out on an I/O thread so that `cancel` can abandon it.
    fn once(
        &self,
        method: Method,
        req: &Request<'_>,
        cancel: &Cancel,
    ) -> std::result::Result<Response, Verdict> {
        let owned = HttpRequest::new(method, req);
        let client = self.client.clone();
        // A deadline also bounds the request itself, so an abandoned thread does not
        // outlive it by a whole read timeout.
        let limit = cancel.remaining();
        match super::pool::run(move || client.send(&owned, limit), cancel) {
            Some(r) => r,
            None => Err(Verdict::Permanent(Error::Cancelled)),
        }
    }
}

/// What a response means: a redirect is a refusal for good here, whatever the backend's
/// judge would say (redirects are not followed, and only 2xx is success), naming where it
/// pointed; every other status is the judge's to decide.
fn verdict_of(resp: &Response, judge: &dyn Fn(&Response) -> Verdict) -> Verdict {
    if (300..400).contains(&resp.status) {
        return Verdict::Permanent(Error::Redirected {
            status: resp.status,
            location: resp.header("location").map(mask_url).unwrap_or_default(),
        });
    }
    judge(resp)
}

#[cfg(feature = "personalize")]
thread_local! {
    // The transport of the backend whose credentials are being fetched on this thread.
    static AUTH_TRANSPORT: std::cell::RefCell<Option<HttpTransport>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (a credentials fetch) with `transport` as the one its HTTP calls go through: a
/// backend's, so that its CA file, roots and timeouts apply to its credential endpoints.
#[cfg(feature = "personalize")]
pub(crate) fn with_auth_transport<T>(transport: Option<&HttpTransport>, f: impl FnOnce() -> T) -> T {
    let previous = AUTH_TRANSPORT.with(|t| t.replace(transport.cloned()));
    // Restored also when `f` panics.
    struct Restore(Option<HttpTransport>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let p = self.0.take();
            AUTH_TRANSPORT.with(|t| *t.borrow_mut() = p);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// The transport credential calls on this thread go through: the backend's (see
/// [`with_auth_transport`]), else one shared default.
#[cfg(feature = "personalize")]
pub(crate) fn auth_transport() -> HttpTransport {
    static DEFAULT: std::sync::OnceLock<HttpTransport> = std::sync::OnceLock::new();
    AUTH_TRANSPORT
        .with(|t| t.borrow().clone())
        .unwrap_or_else(|| DEFAULT.get_or_init(HttpTransport::default).clone())
}

fn log_request(method: Method, req: &Request<'_>, dry_run: bool) {
    if !log::log_enabled!(target: "trackflow::debug", log::Level::Info) {
        return;
    }
    let query: Vec<String> = req
        .query
        .iter()
        .map(|(k, v)| {
            if is_secret_name(k) {
                format!("{k}=***")
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    let headers: Vec<String> = req
        .headers
        .iter()
        .map(|(k, v)| {
            if is_secret_name(k) {
                format!("{k}: ***")
            } else {
                format!("{k}: {v}")
            }
        })
        .collect();
    let body = match std::str::from_utf8(req.body) {
        Ok(s) => s.to_owned(),
        Err(_) => format!("<{} bytes, binary>", req.body.len()),
    };
    log::info!(
        target: "trackflow::debug",
        "{}{} {}{}{} [{}] {}",
        if dry_run { "(dry run) " } else { "" },
        match method {
            Method::Post => "POST",
            Method::Get => "GET",
            Method::Put => "PUT",
        },
        mask_url(req.url),
        if query.is_empty() { "" } else { "?" },
        query.join("&"),
        headers.join(", "),
        body
    );
}

/// What one attempt came to.
enum Step {
    /// Final: the response, or the error to report.
    Done(Result<Response>),
    /// Worth another try, after `after` if the server said so; `too_many` when it was
    /// refused as over the quota (429, `ThrottlingException`).
    Retry {
        error: Error,
        after: Option<std::time::Duration>,
        too_many: bool,
    },
}
