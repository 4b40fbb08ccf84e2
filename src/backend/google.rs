//! What the Google backends (Retail, Talent) share: bearer headers, the `$alt` query, the error
//! envelope and long-running operations.

#[cfg(feature = "retail")]
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::auth::google::Tokens;
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::transport::{classify, HttpTransport, Pacing, Request, Response, Verdict};

/// The query every gapic REST call carries: enums as integers.
pub(crate) const ALT_QUERY: (&str, &str) = ("$alt", "json;enum-encoding=int");

/// Authorization and quota-project headers, plus the routing header for `parent`. The token
/// fetch, if one is due, gives up when `cancel` fires.
pub(crate) fn headers(
    tokens: Option<&Tokens>,
    quota_project: Option<&str>,
    routing: Option<&str>,
    content_type: bool,
    cancel: &Cancel,
) -> Result<Vec<(&'static str, String)>> {
    let mut h = Vec::with_capacity(4);
    if content_type {
        h.push(("Content-Type", "application/json".to_owned()));
    }
    if let Some(parent) = routing {
        h.push(("x-goog-request-params", format!("parent={parent}")));
    }
    if let Some(t) = tokens {
        h.push((
            "authorization",
            format!(
                "Bearer {}",
                t.bearer_with(cancel).map_err(Error::credentials)?.expose()
            ),
        ));
    }
    if let Some(q) = quota_project {
        h.push(("x-goog-user-project", q.to_owned()));
    }
    Ok(h)
}

/// The shared classification ([`classify`]); errors carry the `{"error": {code, message,
/// status}}` envelope.
pub(crate) fn judge(resp: &Response) -> Verdict {
    if (200..300).contains(&resp.status) {
        return Verdict::Success;
    }
    #[derive(Deserialize, Default)]
    struct Envelope {
        #[serde(default)]
        error: Inner,
    }
    #[derive(Deserialize, Default)]
    struct Inner {
        #[serde(default)]
        message: String,
        #[serde(default)]
        status: String,
    }
    let e: Envelope = serde_json::from_slice(&resp.body).unwrap_or_default();
    let code = if e.error.status.is_empty() {
        resp.status.to_string()
    } else {
        e.error.status
    };
    let message = if e.error.message.is_empty() {
        String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)])
            .trim()
            .to_owned()
    } else {
        e.error.message
    };
    classify(resp.status, resp.retry_after.as_deref(), || Error::Api {
        status: resp.status,
        code,
        message,
    })
}

/// A `google.longrunning.Operation`.
#[cfg(feature = "retail")]
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
#[non_exhaustive]
pub struct Operation {
    /// The operation's resource name.
    pub name: String,
    /// Whether it finished.
    pub done: bool,
    /// Progress or result metadata (typed by `@type`).
    pub metadata: serde_json::Value,
    /// The result, when done without error.
    pub response: serde_json::Value,
    /// The error, when done with one.
    pub error: Option<OperationError>,
}

/// The error of a failed operation (`google.rpc.Status`).
#[cfg(feature = "retail")]
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
#[non_exhaustive]
pub struct OperationError {
    /// The gRPC code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
}

/// One request of a Google backend: bearer headers from `headers` (which may fetch a token),
/// the shared classification, and after a 401 with a token, the cached token dropped, a new
/// one fetched, and one more try (a token revoked or rotated before its stated expiry).
pub(crate) struct Call<'a> {
    pub(crate) get: bool,
    pub(crate) url: &'a str,
    pub(crate) query: &'a [(&'a str, String)],
    pub(crate) body: &'a [u8],
}

impl Call<'_> {
    pub(crate) fn send(
        &self,
        transport: &HttpTransport,
        ctx: &dyn Pacing,
        tokens: Option<&Tokens>,
        headers: impl Fn() -> Result<Vec<(&'static str, String)>>,
    ) -> (Result<Response>, u32) {
        let mut retries = 0;
        let mut refreshed = false;
        loop {
            let h = match headers() {
                Ok(h) => h,
                Err(e) => return (Err(e), retries),
            };
            let req = Request {
                url: self.url,
                query: self.query,
                headers: &h,
                body: self.body,
            };
            let (r, n) = if self.get {
                transport.get(&req, ctx, &judge)
            } else {
                transport.post(&req, ctx, &judge)
            };
            retries += n;
            match (&r, tokens) {
                (Err(Error::Api { status: 401, .. }), Some(t)) if !refreshed => {
                    t.invalidate();
                    refreshed = true;
                    retries += 1;
                }
                _ => return (r, retries),
            }
        }
    }
}

/// Polls `op` at `interval` until it is done or `cancel` fires (its deadline: the
/// operation deadline).
#[cfg(feature = "retail")]
pub(crate) fn wait(
    mut op: Operation,
    cancel: &Cancel,
    interval: Duration,
    mut poll: impl FnMut(&str) -> Result<Operation>,
) -> Result<Operation> {
    let start = Instant::now();
    while !op.done {
        if cancel.sleep(interval) {
            return Err(Error::Timeout(start.elapsed()));
        }
        op = poll(&op.name)?;
    }
    match &op.error {
        Some(e) => Err(Error::Api {
            status: 200,
            code: format!("operation error {}", e.code),
            message: e.message.clone(),
        }),
        None => Ok(op),
    }
}

#[cfg(feature = "retail")]
pub(crate) fn parse_operation(resp: &Response) -> Result<Operation> {
    serde_json::from_slice(&resp.body)
        .map_err(|e| Error::Transport(format!("reply is not a long-running operation: {e}").into()))
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
    fn the_error_envelope_is_read() {
        let resp = Response {
            status: 500,
            body: br#"{"error":{"code":500,"message":"boom","status":"INTERNAL"}}"#.to_vec(),
            ..Response::default()
        };
        match judge(&resp) {
            Verdict::Retry {
                error: Error::Api { code, message, .. },
                ..
            } => {
                assert_eq!((code.as_str(), message.as_str()), ("INTERNAL", "boom"));
            }
            v => panic!("{v:?}"),
        }
    }
}
