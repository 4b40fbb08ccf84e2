//! The HTTP client every backend shares: one ureq [`Agent`](ureq::Agent) per transport, so
//! connections are pooled and reused across batches.

use std::fmt;
use std::time::Duration;

use super::retry::{is_throttling_code, RetryPolicy, Verdict};
use super::Cancel;
use super::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT};
use crate::error::{Error, Result, TransportError};

/// Largest response body read; collectors answer with a few bytes of JSON at most.
const MAX_RESPONSE_BODY: u64 = 1 << 20;

/// The HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// POST, with the body.
    Post,
    /// GET, body ignored.
    Get,
    /// PUT, with the body (instance metadata's session token).
    Put,
}

/// One request as a backend builds it. The body is already encoded. `Debug` masks secret
/// query values and headers.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The URL without query string.
    pub url: &'a str,
    /// Query parameters, percent-encoded on the wire.
    pub query: &'a [(&'a str, String)],
    /// Request headers.
    pub headers: &'a [(&'a str, String)],
    /// The encoded body.
    pub body: &'a [u8],
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = |k: &str, v: &str| {
            if is_secret_name(k) {
                "***".to_owned()
            } else {
                v.to_owned()
            }
        };
        f.debug_struct("Request")
            .field("url", &mask_url(self.url))
            .field(
                "query",
                &self
                    .query
                    .iter()
                    .map(|(k, v)| (*k, mask(k, v)))
                    .collect::<Vec<_>>(),
            )
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, v)| (*k, mask(k, v)))
                    .collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After`, when the server sent one.
    pub retry_after: Option<String>,
    /// Every response header, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body (at most 1 MiB is read).
    pub body: Vec<u8>,
}

/// How a delivery should be carried out; passed from the consumer through the backend to the
/// transport.
///
/// # Examples
///
/// ```
/// use trackflow::transport::{Cancel, DeliveryCtx, Flow};
/// let cancel = Cancel::default();
/// let flow = Flow::new(4);
/// let ctx = DeliveryCtx::new(&cancel).with_flow(&flow);
/// // Independent requests of one batch go out side by side, within the flow's budget.
/// let squares = ctx.fan_out(10, |i| i * i);
/// assert_eq!(squares[9], 81);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DeliveryCtx<'a> {
    /// Cancelled when a shutdown deadline passes: retries stop.
    pub cancel: &'a Cancel,
    /// Log each request (method, URL with secrets masked, headers, body) at `info`.
    pub debug: bool,
    /// Build and log requests but do not send them; each counts as delivered.
    pub dry_run: bool,
    /// The consumer's request budget (in flight, rate, throttling pause); `None`: one
    /// request at a time, unlimited.
    pub flow: Option<&'a super::Flow>,
    /// This batch's turn among those handed out, for [`in_order`](Self::in_order).
    turn: Option<(&'a super::Turns, u64)>,
    /// Where each request's delivered events are acknowledged as it completes.
    acks: Option<&'a dyn Acks>,
}

/// Takes the acknowledgement of events as each request that carried them succeeds, so the
/// store lets them go at once (indices into the batch given to the backend).
pub(crate) trait Acks: Sync + fmt::Debug {
    fn delivered(&self, events: &[usize]);
}

/// Acknowledges into a larger batch: index `i` of the part is `map[i]` of the whole.
#[derive(Debug)]
pub(crate) struct Remap<'a> {
    pub(crate) map: &'a [usize],
    pub(crate) inner: &'a dyn Acks,
}

impl Acks for Remap<'_> {
    fn delivered(&self, events: &[usize]) {
        let whole: Vec<usize> = events.iter().filter_map(|&i| self.map.get(i).copied()).collect();
        self.inner.delivered(&whole);
    }
}

impl<'a> DeliveryCtx<'a> {
    /// A context that sends for real, without logging, one request at a time.
    ///
    /// # Examples
    ///
    /// ```
    /// let cancel = trackflow::transport::Cancel::default();
    /// let ctx = trackflow::transport::DeliveryCtx::new(&cancel);
    /// assert!(!ctx.debug && !ctx.dry_run && ctx.flow.is_none());
    /// ```
    pub fn new(cancel: &'a Cancel) -> Self {
        DeliveryCtx {
            cancel,
            debug: false,
            dry_run: false,
            flow: None,
            turn: None,
            acks: None,
        }
    }

    /// Acknowledges each request's delivered events to `acks` as it completes.
    pub(crate) fn with_acks(mut self, acks: &'a dyn Acks) -> Self {
        self.acks = Some(acks);
        self
    }

    /// This context for a part of the batch whose index `i` is index `map[i]` of the whole:
    /// acknowledgements are translated through `remap`, built over `map` (see [`Remap`]).
    pub(crate) fn for_part<'b>(&self, remap: &'b Option<Remap<'b>>) -> DeliveryCtx<'b>
    where
        'a: 'b,
    {
        DeliveryCtx {
            cancel: self.cancel,
            debug: self.debug,
            dry_run: self.dry_run,
            flow: self.flow,
            turn: self.turn,
            acks: remap.as_ref().map(|r| r as &dyn Acks),
        }
    }

    /// A [`Remap`] of this context's acknowledgements for the part at `map`, if it has any.
    pub(crate) fn remap<'b>(&self, map: &'b [usize]) -> Option<Remap<'b>>
    where
        'a: 'b,
    {
        self.acks.map(|inner| Remap { map, inner })
    }

    /// Records the outcome of one request carrying the events at `events` (indices into the
    /// batch), as [`Delivery::record`](crate::Delivery::record) does, and acknowledges them
    /// to the consumer's store at once when it succeeded: the store lets them go and counts
    /// them delivered without waiting for the rest of the batch. Backends that make several
    /// requests per batch call this for each.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{transport::{Cancel, DeliveryCtx}, Delivery, Error};
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let mut d = Delivery::default();
    /// ctx.record(&mut d, Ok(()), 0, &[0, 1]);
    /// ctx.record(&mut d, Err(Error::Transport("reset".into())), 3, &[2]);
    /// assert_eq!((d.failed(), d.retries), (1, 3));
    /// ```
    pub fn record(&self, d: &mut crate::Delivery, result: Result<()>, retries: u32, events: &[usize]) {
        if let (Ok(()), Some(acks)) = (&result, self.acks) {
            acks.delivered(events);
        }
        d.record(result, retries, || events.to_vec());
    }

    /// Gives this batch turn `seq` among the batches handed out.
    pub(crate) fn with_turn(mut self, turns: &'a super::Turns, seq: u64) -> Self {
        self.turn = Some((turns, seq));
        self
    }

    /// Runs `f` once every batch handed out before this one has run its `in_order` part
    /// (or finished), then lets the next one go. For a backend whose requests must *start*
    /// in the order its batches were handed out while they *finish* side by side: Kafka
    /// gives the producer each batch's messages in turn, then waits for the broker with the
    /// other batches in flight. Outside the Background consumer's lanes it runs `f` at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let cancel = trackflow::transport::Cancel::default();
    /// let ctx = trackflow::transport::DeliveryCtx::new(&cancel);
    /// assert_eq!(ctx.in_order(|| 7), 7);
    /// ```
    pub fn in_order<T>(&self, f: impl FnOnce() -> T) -> T {
        let Some((turns, seq)) = self.turn else {
            return f();
        };
        turns.wait(seq, self.cancel);
        let out = f();
        turns.pass(seq);
        out
    }

    /// Logs each request at `info` (secrets masked).
    ///
    /// # Examples
    ///
    /// ```
    /// let cancel = trackflow::transport::Cancel::default();
    /// assert!(trackflow::transport::DeliveryCtx::new(&cancel).debug(true).debug);
    /// ```
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// Builds requests without sending them.
    ///
    /// # Examples
    ///
    /// ```
    /// let cancel = trackflow::transport::Cancel::default();
    /// assert!(trackflow::transport::DeliveryCtx::new(&cancel).dry_run(true).dry_run);
    /// ```
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// Sends within `flow`'s budget, and lets [`fan_out`](Self::fan_out) use it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::transport::{Cancel, DeliveryCtx, Flow};
    /// let (cancel, flow) = (Cancel::default(), Flow::new(2));
    /// assert!(DeliveryCtx::new(&cancel).with_flow(&flow).flow.is_some());
    /// ```
    pub fn with_flow(mut self, flow: &'a super::Flow) -> Self {
        self.flow = Some(flow);
        self
    }

    /// Runs `job(0..n)` side by side, as many at once as the flow allows in flight (one
    /// at a time without a flow), and returns the results in index order. For the
    /// independent requests of one batch; the flow still bounds the requests themselves.
    ///
    /// # Examples
    ///
    /// ```
    /// let cancel = trackflow::transport::Cancel::default();
    /// let ctx = trackflow::transport::DeliveryCtx::new(&cancel);
    /// assert_eq!(ctx.fan_out(3, |i| i + 1), vec![1, 2, 3]);
    /// ```
    pub fn fan_out<T: Send>(&self, n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
        let width = self.flow.map_or(1, |f| f.max_in_flight()).min(n);
        if width <= 1 {
            return (0..n).map(job).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = parking_lot::Mutex::new(Vec::with_capacity(n));
        let work = || {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                mine.push((i, job(i)));
            }
            results.lock().extend(mine);
        };
        std::thread::scope(|scope| {
            for _ in 1..width {
                // A helper that cannot start leaves its share to the others (this thread
                // is one of them).
                let _ = std::thread::Builder::new()
                    .name("trackflow-fan".into())
                    .spawn_scoped(scope, work);
            }
            work();
        });
        let mut results = results.into_inner();
        results.sort_unstable_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }
}

/// One request, owned, as an [`HttpClient`] sends it (on an I/O thread).
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// GET or POST.
    pub method: Method,
    /// The URL without query string.
    pub url: String,
    /// Query parameters, to be percent-encoded on the wire.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// The encoded body.
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = |v: &[(String, String)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if is_secret_name(k) {
                            "***".into()
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect()
        };
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &mask_url(&self.url))
            .field("query", &masked(&self.query))
            .field("headers", &masked(&self.headers))
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl HttpRequest {
    /// A request of `method` to `url` with `headers` and `body`, no query.
    #[cfg(feature = "personalize")]
    pub(crate) fn owned(method: Method, url: &str, headers: &[(&str, String)], body: &[u8]) -> Self {
        HttpRequest {
            method,
            url: url.to_owned(),
            query: Vec::new(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            body: body.to_vec(),
        }
    }

    fn new(method: Method, r: &Request<'_>) -> Self {
        let pairs = |v: &[(&str, String)]| v.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        HttpRequest {
            method,
            url: r.url.to_owned(),
            query: pairs(r.query),
            headers: pairs(r.headers),
            body: r.body.to_vec(),
        }
    }
}

/// What sends one HTTP request and reads its response: the seam between trackflow's
/// transport (retries, backoff, deadlines, the judge of each backend) and the wire. The
/// built-in one is a pooled ureq agent; tests and embedders plug their own with
/// [`HttpTransportBuilder::client`].
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
struct UreqClient {
    agent: ureq::Agent,
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
    client: std::sync::Arc<dyn HttpClient>,
    retry: RetryPolicy,
    max_body_bytes: Option<usize>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Default for HttpTransport {
    fn default() -> Self {
        HttpTransport::builder().build()
    }
}

/// Builder of [`HttpTransport`].
///
/// | setting | default |
/// |---|---|
/// | `connect_timeout` | 5 s |
/// | `read_timeout` (response headers, then body) | 10 s |
/// | `retry` | [`RetryPolicy::default`] |
/// | `max_body_bytes` | none |
/// | `ca_file` / `ca_certs_pem` | none: the built-in Mozilla roots (webpki-roots) |
/// | `native_roots` (feature `native-roots`) | `false` |
/// | `danger_disable_tls_verification` | `false`: certificates are verified |
#[derive(Debug, Clone)]
pub struct HttpTransportBuilder {
    connect_timeout: Duration,
    read_timeout: Duration,
    retry: RetryPolicy,
    max_body_bytes: Option<usize>,
    roots: Roots,
    insecure: bool,
    client: Option<std::sync::Arc<dyn HttpClient>>,
}

/// Which certificate authorities a TLS server must chain to.
#[derive(Debug, Clone, Default)]
enum Roots {
    /// Mozilla's, compiled in.
    #[default]
    WebPki,
    /// These, from a PEM bundle.
    Specific(std::sync::Arc<Vec<ureq::tls::Certificate<'static>>>),
    /// The platform's trust store.
    #[cfg(feature = "native-roots")]
    Native,
}

impl HttpTransportBuilder {
    /// Timeout to establish a connection. Defaults to 5 s.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::transport::HttpTransport::builder().connect_timeout(std::time::Duration::from_secs(2)).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Timeout to receive the response headers, and again its body. Defaults to 10 s.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::transport::HttpTransport::builder().read_timeout(std::time::Duration::from_secs(5)).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = d;
        self
    }
    /// Retry policy. Defaults to [`RetryPolicy::default`].
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::transport::HttpTransport::builder().retry(trackflow::transport::RetryPolicy::none()).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry(mut self, p: RetryPolicy) -> Self {
        self.retry = p;
        self
    }
    /// The largest request body the collector takes. A larger request is not sent: its
    /// batch is split in half and delivered again, down to single events. Defaults to none.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::transport::HttpTransport::builder().max_body_bytes(1 << 20).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = Some(n);
        self
    }
    /// Trusts the certificate authorities of a PEM bundle file instead of the built-in roots:
    /// a corporate CA, a private collector's. Give a whole bundle (e.g. the system's
    /// `/etc/ssl/certs/ca-certificates.crt` with your CA appended) when the same transport
    /// also reaches public endpoints. Verification stays on.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file when it cannot be read or holds no certificate.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trackflow::transport::HttpTransport::builder().ca_file("/nonexistent/ca.pem").unwrap_err();
    /// assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    /// ```
    pub fn ca_file(self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let pem =
            std::fs::read(path).map_err(|e| Error::Config(format!("ca_file {}: {e}", path.display())))?;
        self.ca_certs_pem(&pem)
            .map_err(|e| Error::Config(format!("ca_file {}: {e}", path.display())))
    }

    /// As [`ca_file`](Self::ca_file), from PEM text.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the text holds no certificate or a malformed one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::transport::HttpTransport::builder().ca_certs_pem(b"not pem").is_err());
    /// ```
    pub fn ca_certs_pem(mut self, pem: &[u8]) -> Result<Self> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            match item.map_err(|e| Error::Config(format!("not a PEM certificate bundle: {e}")))? {
                ureq::tls::PemItem::Certificate(c) => certs.push(c),
                _ => continue,
            }
        }
        if certs.is_empty() {
            return Err(Error::Config("no CERTIFICATE in the PEM bundle".into()));
        }
        self.roots = Roots::Specific(std::sync::Arc::new(certs));
        Ok(self)
    }

    /// Trusts the platform's certificate store (and its verifier) instead of the built-in
    /// roots. Defaults to `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::transport::HttpTransport::builder().native_roots(true).build();
    /// ```
    #[cfg(feature = "native-roots")]
    #[cfg_attr(docsrs, doc(cfg(feature = "native-roots")))]
    pub fn native_roots(mut self, on: bool) -> Self {
        self.roots = if on { Roots::Native } else { Roots::WebPki };
        self
    }

    /// Sends through `client` instead of the built-in ureq agent (the timeouts and TLS
    /// settings above are the agent's, so they no longer apply; retries, backoff, the
    /// cancellation of a shutdown deadline and the body limit still do).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::transport::{HttpClient, HttpRequest, HttpTransport, Response, Verdict};
    ///
    /// #[derive(Debug)]
    /// struct Accepting;
    /// impl HttpClient for Accepting {
    ///     fn send(&self, _: &HttpRequest, _: Option<std::time::Duration>) -> Result<Response, Verdict> {
    ///         Ok(Response { status: 200, ..Response::default() })
    ///     }
    /// }
    /// let t = HttpTransport::builder().client(Accepting).build();
    /// ```
    pub fn client(mut self, client: impl HttpClient + 'static) -> Self {
        self.client = Some(std::sync::Arc::new(client));
        self
    }

    /// Turns off TLS certificate verification. Only for a test collector with a self-signed
    /// certificate: anyone between you and the collector can then read and change the data.
    /// Defaults to `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::transport::HttpTransport::builder().danger_disable_tls_verification(false).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn danger_disable_tls_verification(mut self, v: bool) -> Self {
        self.insecure = v;
        self
    }
    /// Builds the transport and its connection pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::transport::HttpTransport::builder().build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> HttpTransport {
        if self.insecure {
            log::warn!("trackflow: TLS certificate verification is OFF for this transport");
        }
        let roots = match self.roots {
            Roots::WebPki => ureq::tls::RootCerts::WebPki,
            Roots::Specific(certs) => ureq::tls::RootCerts::Specific(certs),
            #[cfg(feature = "native-roots")]
            Roots::Native => ureq::tls::RootCerts::PlatformVerifier,
        };
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(roots)
            .disable_verification(self.insecure)
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_connect(Some(self.connect_timeout))
            .timeout_send_request(Some(self.read_timeout))
            .timeout_send_body(Some(self.read_timeout))
            .timeout_recv_response(Some(self.read_timeout))
            .timeout_recv_body(Some(self.read_timeout))
            .http_status_as_error(false)
            // A client following a 301/302/303 resends a POST as a body-less GET; the
            // judge refuses redirects instead (see `verdict_of`).
            .max_redirects(0)
            .user_agent(concat!("trackflow/", env!("CARGO_PKG_VERSION")))
            .build();
        let client: std::sync::Arc<dyn HttpClient> = match self.client {
            Some(c) => c,
            None => std::sync::Arc::new(UreqClient { agent: config.into() }),
        };
        HttpTransport {
            client,
            retry: self.retry,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

impl Response {
    /// The value of header `name` (case-insensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = trackflow::transport::Response { status: 200, retry_after: None, headers: vec![("x-a".into(), "1".into())], body: vec![] };
    /// assert_eq!(r.header("X-A"), Some("1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl HttpTransport {
    /// A builder with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::transport::HttpTransport::builder().read_timeout(std::time::Duration::from_secs(3)).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> HttpTransportBuilder {
        HttpTransportBuilder {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            retry: RetryPolicy::default(),
            max_body_bytes: None,
            roots: Roots::default(),
            insecure: false,
            client: None,
        }
    }

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
    /// use trackflow::transport::{classify_status, Cancel, DeliveryCtx, HttpTransport, Request};
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
        ctx: &DeliveryCtx<'_>,
        judge: &dyn Fn(&Response) -> Verdict,
    ) -> (Result<Response>, u32) {
        self.execute(Method::Post, req, ctx, judge)
    }

    /// As [`post`](Self::post), with GET (the body is ignored).
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// use trackflow::transport::{classify_status, Cancel, DeliveryCtx, HttpTransport, Request};
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
        ctx: &DeliveryCtx<'_>,
        judge: &dyn Fn(&Response) -> Verdict,
    ) -> (Result<Response>, u32) {
        self.execute(Method::Get, req, ctx, judge)
    }

    fn execute(
        &self,
        method: Method,
        req: &Request<'_>,
        ctx: &DeliveryCtx<'_>,
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
            if ctx.cancel.is_cancelled() {
                return (Err(Error::Cancelled), retries);
            }
            if ctx.debug {
                log_request(method, req, ctx.dry_run);
            }
            if ctx.dry_run {
                return (
                    Ok(Response {
                        status: 200,
                        ..Response::default()
                    }),
                    retries,
                );
            }
            let permit = match ctx.flow.map(|f| f.acquire(ctx.cancel)) {
                Some(None) => return (Err(Error::Cancelled), retries),
                Some(Some(p)) => Some(p),
                None => None,
            };
            let (verdict, resp) = match self.once(method, req, ctx.cancel) {
                Ok(resp) => (verdict_of(&resp, judge), Some(resp)),
                Err(e) => (e, None),
            };
            let too_many = resp.as_ref().is_some_and(|r| r.status == 429);
            if let Some(f) = ctx.flow {
                // Reported before the permit goes, so that a probe's outcome is the one the
                // circuit sees.
                circuit_outcome(f, &verdict, resp.as_ref(), too_many);
            }
            drop(permit);
            let (error, after) = match verdict {
                Verdict::Success => {
                    if let Some(f) = ctx.flow {
                        f.succeeded();
                    }
                    return (Ok(resp.unwrap_or_default()), retries);
                }
                // A 413 tells the size limit was hit; name the size that hit it.
                Verdict::Permanent(Error::TooLarge { .. }) => {
                    return (
                        Err(Error::TooLarge {
                            bytes: req.body.len(),
                        }),
                        retries,
                    )
                }
                Verdict::Permanent(e) => return (Err(e), retries),
                Verdict::Retry { error, after } => (error, after),
            };
            let wait = self.retry.wait(retries, after);
            let throttled = too_many || matches!(&error, Error::Api { code, .. } if is_throttling_code(code));
            if let Some(f) = ctx.flow.filter(|_| throttled) {
                // The collector is over its quota for this client, not for this request:
                // every lane of the consumer waits, and fewer go at once (also when this
                // request has no retry left).
                f.throttled(wait);
            }
            if retries >= self.retry.max_retries {
                return (Err(error), retries);
            }
            log::debug!(
                "trackflow: {} failed ({error}); retry {} in {wait:?}",
                mask_url(req.url),
                retries + 1
            );
            if ctx.cancel.sleep(wait) {
                return (Err(Error::Cancelled), retries);
            }
            retries += 1;
        }
    }

    /// One attempt of an owned request, within `limit`, on an I/O thread so that `cancel`
    /// can abandon it: the credential calls, which the credentials cache retries itself.
    #[cfg(feature = "personalize")]
    pub(crate) fn send_once(
        &self,
        request: HttpRequest,
        limit: Duration,
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

/// Tells the circuit what an attempt came to: an answer of any kind closes it, a transient
/// failure without one counts towards opening it, and a cancelled attempt says nothing.
fn circuit_outcome(flow: &super::Flow, verdict: &Verdict, resp: Option<&Response>, too_many: bool) {
    match verdict {
        Verdict::Permanent(Error::Cancelled) => {}
        Verdict::Retry { error, .. }
            if !too_many && !matches!(error, Error::Api { code, .. } if is_throttling_code(code)) =>
        {
            flow.failed()
        }
        _ if resp.is_some() => flow.answered(),
        _ => {}
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

/// Masks query values whose names suggest secrets.
/// Strings (URL paths that carry a token) masked wherever a URL or a message is shown, as
/// `***`: what [`mark_secret`] added. Few, and checked only where text is masked.
static SECRET_PARTS: parking_lot::RwLock<Vec<String>> = parking_lot::RwLock::new(Vec::new());

/// Masks `part` from now on wherever trackflow shows a URL or an error (`Debug`, errors,
/// logs, dead letters): for a URL whose path is itself a secret (a webhook's token). Parts
/// shorter than 8 bytes are not taken: they would mask ordinary words.
#[cfg_attr(not(feature = "webhook"), allow(dead_code))]
pub(crate) fn mark_secret(part: &str) {
    if part.len() >= 8 {
        let mut parts = SECRET_PARTS.write();
        if !parts.iter().any(|p| p == part) {
            parts.push(part.to_owned());
        }
    }
}

/// `text` with every part [`mark_secret`] added masked.
fn mask_marked(text: String) -> String {
    let parts = SECRET_PARTS.read();
    if parts.is_empty() {
        return text;
    }
    parts.iter().fold(text, |t, p| {
        if t.contains(p.as_str()) {
            t.replace(p.as_str(), "***")
        } else {
            t
        }
    })
}

pub(crate) fn mask_url(url: &str) -> String {
    mask_marked(mask_url_query(url))
}

fn mask_url_query(url: &str) -> String {
    let masked = mask_userinfo(url);
    let url: &str = &masked;
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_name(k) => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{base}?{}", masked.join("&"))
}

/// Masks `name=value` pairs with secret-looking names anywhere in `text` (an error message, a
/// URL): an unquoted value up to the next `&`, whitespace, quote, bracket or comma, a quoted
/// one up to its closing quote.
/// Every `scheme://user:password@host` in free text with its user information masked.
fn mask_all_userinfo(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = i + 3;
        out.push_str(&rest[..start]);
        let authority_end = rest[start..]
            .find(|c: char| "/?#".contains(c) || c.is_whitespace() || "\"'<>()[]".contains(c))
            .map_or(rest.len(), |e| start + e);
        match rest[start..authority_end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&rest[start + at..authority_end]);
            }
            None => out.push_str(&rest[start..authority_end]),
        }
        rest = &rest[authority_end..];
    }
    out.push_str(rest);
    out.into()
}

/// `scheme://user:password@host…` with the user information masked (`scheme://***@host…`).
fn mask_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.into();
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]).into(),
        None => url.into(),
    }
}

/// `text` with what looks like a secret masked: the value of every `name=value` whose name
/// sounds secret (token, key, secret, password, …), and the user information of every URL.
pub(crate) fn mask_secrets(text: &str) -> String {
    mask_marked(mask_pairs(text))
}

fn mask_pairs(text: &str) -> String {
    let unmasked = mask_all_userinfo(text);
    let text: &str = &unmasked;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        // The name runs back to the last character that cannot be in one (which may be
        // several bytes long).
        let name_start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        out.push_str(before);
        out.push('=');
        let mut value = &after[1..];
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            out.push(q);
            value = &value[1..];
        }
        // A quote that never closes quotes nothing: a secret after it is still found.
        let end = quote.and_then(|q| value.find(q)).unwrap_or_else(|| {
            value
                .find(|c: char| c == '&' || c.is_whitespace() || "\"'<>()[],;".contains(c))
                .unwrap_or(value.len())
        });
        if is_secret_name(&before[name_start..]) && end > 0 {
            out.push_str("***");
        } else {
            out.push_str(&value[..end]);
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "key",
        "secret",
        "signature",
        "password",
        "authorization",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_query_values() {
        assert_eq!(
            mask_url("https://h/p?access_token=abc&x=1"),
            "https://h/p?access_token=***&x=1"
        );
        assert_eq!(mask_url("https://h/p"), "https://h/p");
        assert_eq!(
            mask_url("https://user:pa55@h:8/p?token=t"),
            "https://***@h:8/p?token=***"
        );
        assert_eq!(
            mask_url("https://h/p@x"),
            "https://h/p@x",
            "an @ in the path is no user"
        );
    }

    #[test]
    fn masks_user_information_in_any_text() {
        assert_eq!(
            mask_secrets("redirected to https://u:pw@h/x and http://a@b."),
            "redirected to https://***@h/x and http://***@b."
        );
        assert_eq!(mask_secrets("no url: user@host"), "no url: user@host");
    }

    #[test]
    fn masks_secrets_in_any_text() {
        assert_eq!(
            mask_secrets("http://h/p?access_token=abc123&x=1: connection refused"),
            "http://h/p?access_token=***&x=1: connection refused"
        );
        assert_eq!(mask_secrets("key=v, token=\"t t\""), "key=***, token=\"***\"");
        assert_eq!(mask_secrets("secret='a b c' x=1"), "secret='***' x=1");
        assert_eq!(mask_secrets("a = b"), "a = b");
        // A multi-byte character right before the name.
        assert_eq!(mask_secrets("étoken=abc"), "étoken=***");
        assert_eq!(mask_secrets("ééé=1 中token=x"), "ééé=1 中token=***");
    }

    proptest::proptest! {
        #[test]
        fn masking_never_panics_and_hides_token_values(prefix in ".{0,12}", v in "[a-zA-Z0-9]{1,12}") {
            let _ = mask_secrets(&prefix);
            let text = format!("{prefix} token={v}");
            let masked = mask_secrets(&text);
            proptest::prop_assert!(masked.ends_with("token=***"), "{}", masked);
        }
    }
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
