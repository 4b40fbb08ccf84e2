//! The seam between the transport and the wire ([`HttpClient`]), and the built-in client: a
//! pooled ureq agent.

use std::fmt;
use std::time::Duration;

use super::mask::mask_secrets;
use super::{HttpRequest, Method, Response, Verdict};
use crate::error::{Error, TransportError};

/// Largest response body read; collectors answer with a few bytes of JSON at most.
const MAX_RESPONSE_BODY: u64 = 1 << 20;

/// What sends one HTTP request and reads its response: the seam between trackflow's
/// transport (retries, backoff, deadlines, the judge of each backend) and the wire. The
/// built-in one is a pooled ureq agent; tests and embedders plug their own with
/// [`HttpTransportBuilder::client`](super::HttpTransportBuilder::client).
///
/// An error is a [`Verdict`]: `Retry` for what may work next time (a reset, a timeout),
/// `Permanent` for what will not (a malformed URL).
///
/// # Examples
///
/// ```
/// use trackflow::transport::{HttpClient, HttpRequest, Response, Verdict};
///
/// /// Answers every request with 503, as a collector in maintenance would.
/// #[derive(Debug)]
/// struct Maintenance;
/// impl HttpClient for Maintenance {
///     fn send(&self, _: &HttpRequest, _: Option<std::time::Duration>) -> Result<Response, Verdict> {
///         Ok(Response { status: 503, ..Response::default() })
///     }
/// }
/// # use trackflow::delivery::{Cancel, DeliveryCtx};
/// # use trackflow::transport::{classify_status, HttpTransport, Request, RetryPolicy};
/// let t = HttpTransport::builder().client(Maintenance).retry(RetryPolicy::none()).build();
/// # let cancel = Cancel::default();
/// let req = Request { url: "https://collector.example.com/c", query: &[], headers: &[], body: b"[]" };
/// let (result, _) = t.post(&req, &DeliveryCtx::new(&cancel), &|r| classify_status(r.status, None, &r.body));
/// // A 503 is transient: the events wait and go again.
/// assert!(result.unwrap_err().is_transient());
/// ```
pub trait HttpClient: Send + Sync + fmt::Debug {
    /// Sends `request`, giving up after `timeout` when one is given (what is left of a
    /// shutdown deadline).
    ///
    /// # Errors
    ///
    /// A [`Verdict`] saying whether a retry could succeed.
    fn send(
        &self,
        request: &HttpRequest,
        timeout: Option<Duration>,
    ) -> std::result::Result<Response, Verdict>;
}

/// `rb` with the request's query, headers and time limit.
fn prepare<B>(
    mut rb: ureq::RequestBuilder<B>,
    req: &HttpRequest,
    limit: Option<Duration>,
) -> ureq::RequestBuilder<B> {
    for (k, v) in &req.query {
        rb = rb.query(k, v);
    }
    for (k, v) in &req.headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    if limit.is_some() {
        rb = rb.config().timeout_global(limit).build();
    }
    rb
}

/// The built-in client: one pooled ureq agent.
#[derive(Debug)]
pub(super) struct UreqClient {
    pub(super) agent: ureq::Agent,
}

impl HttpClient for UreqClient {
    fn send(&self, req: &HttpRequest, limit: Option<Duration>) -> std::result::Result<Response, Verdict> {
        let agent = &self.agent;
        // The two builders have different types (with and without a body); one helper fills both.
        let mut resp = match req.method {
            Method::Post => prepare(agent.post(&req.url), req, limit).send(&req.body[..]),
            Method::Put => prepare(agent.put(&req.url), req, limit).send(&req.body[..]),
            Method::Get => prepare(agent.get(&req.url), req, limit).call(),
        }
        .map_err(classify_ureq)?;
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let retry_after = headers
            .iter()
            .find(|(k, _)| k == "retry-after")
            .map(|(_, v)| v.clone());
        // Read the whole body so the connection goes back to the pool.
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BODY)
            .read_to_vec()
            .map_err(classify_ureq)?;
        Ok(Response {
            status,
            retry_after,
            headers,
            body,
        })
    }
}

fn classify_ureq(e: ureq::Error) -> Verdict {
    use ureq::Error as U;
    // ureq's messages can quote the URL, and some collectors take their token in the query:
    // the message is masked, and only causes that hold no URL (I/O, TLS) are kept as source.
    let message = mask_secrets(&e.to_string());
    let permanent = matches!(
        e,
        // A malformed URL or a refused certificate will not fix itself.
        U::BadUri(_) | U::Http(_) | U::RequireHttpsOnly(_) | U::InvalidProxyUrl | U::Tls(_)
    );
    let error = Error::Transport(match e {
        U::Io(io) => TransportError::with_source(message, io),
        U::Rustls(tls) => TransportError::with_source(message, tls),
        _ => message.into(),
    });
    if permanent {
        Verdict::Permanent(error)
    } else {
        Verdict::Retry { error, after: None }
    }
}
