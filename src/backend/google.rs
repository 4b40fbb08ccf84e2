//! What the Google backends (Retail, Talent) share: bearer headers, the `$alt` query, the error
//! envelope and long-running operations.

#[cfg(feature = "retail")]
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::auth::google::Tokens;
use crate::error::{Error, Result};
#[cfg(feature = "retail")]
use crate::transport::{Cancel, DeliveryCtx, HttpTransport, Request};
use crate::transport::{Response, Verdict};

/// The query every gapic REST call carries: enums as integers.
pub(crate) const ALT_QUERY: (&str, &str) = ("$alt", "json;enum-encoding=int");

/// Authorization and quota-project headers, plus the routing header for `parent`.
pub(crate) fn headers(
    tokens: Option<&Tokens>,
    quota_project: Option<&str>,
    routing: Option<&str>,
    content_type: bool,
) -> Result<Vec<(&'static str, String)>> {
    let mut h = Vec::with_capacity(4);
    if content_type {
        h.push(("Content-Type", "application/json".to_owned()));
    }
    if let Some(parent) = routing {
        h.push(("x-goog-request-params", format!("parent={parent}")));
    }
    if let Some(t) = tokens {
        h.push(("authorization", format!("Bearer {}", t.bearer()?.expose())));
    }
    if let Some(q) = quota_project {
        h.push(("x-goog-user-project", q.to_owned()));
    }
    Ok(h)
}

/// 2xx succeeds. Errors carry the `{"error": {code, message, status}}` envelope; 429, 503 and
/// 504 are retried, the rest are permanent.
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
    let error = Error::Api {
        status: resp.status,
        code,
        message,
    };
    if matches!(resp.status, 429 | 503 | 504) {
        Verdict::retry(error, resp.retry_after.as_deref())
    } else {
        Verdict::Permanent(error)
    }
}

/// A `google.longrunning.Operation`.
#[cfg(feature = "retail")]
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
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
pub struct OperationError {
    /// The gRPC code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
}

/// A synchronous call from an admin method (not through a consumer).
#[cfg(feature = "retail")]
pub(crate) fn call(transport: &HttpTransport, get: bool, req: &Request<'_>) -> Result<Response> {
    let cancel = Cancel::default();
    let ctx = DeliveryCtx {
        cancel: &cancel,
        debug: false,
        dry_run: false,
    };
    let (r, _) = if get {
        transport.get(req, &ctx, &judge)
    } else {
        transport.post(req, &ctx, &judge)
    };
    r
}

/// Polls `op` at `interval` until it is done or `deadline` passes.
#[cfg(feature = "retail")]
pub(crate) fn wait(
    mut op: Operation,
    deadline: Duration,
    interval: Duration,
    mut poll: impl FnMut(&str) -> Result<Operation>,
) -> Result<Operation> {
    let start = Instant::now();
    while !op.done {
        if start.elapsed() + interval > deadline {
            return Err(Error::Timeout(deadline));
        }
        std::thread::sleep(interval);
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
        .map_err(|e| Error::Transport(format!("reply is not a long-running operation: {e}")))
}
