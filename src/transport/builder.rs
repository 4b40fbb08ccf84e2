//! How an [`HttpTransport`] is built: timeouts, retries, roots of trust, a client of your own.

use std::time::Duration;

use super::client::UreqClient;
use super::{HttpClient, HttpTransport, RetryPolicy, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT};
use crate::error::{Error, Result};

/// Idle connections kept per host: as many as a consumer's requests in flight may reach by
/// default (`delivery::DEFAULT_MAX_IN_FLIGHT`), so each answer's connection serves the next.
const IDLE_PER_HOST: usize = 128;

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

impl Default for HttpTransport {
    fn default() -> Self {
        HttpTransport::builder().build()
    }
}

impl HttpTransport {
    /// A builder with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use trackflow::delivery::{Cancel, DeliveryCtx};
    /// use trackflow::transport::{classify_status, HttpTransport, Request, RetryPolicy};
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let judge = |r: &trackflow::transport::Response| classify_status(r.status, r.retry_after.as_deref(), &r.body);
    /// // A collector on loopback that takes the connection and never answers.
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let url = format!("http://{}/collect", listener.local_addr()?);
    /// let t = HttpTransport::builder().read_timeout(Duration::from_millis(200)).retry(RetryPolicy::none()).build();
    /// let start = Instant::now();
    /// let (result, _) = t.post(&Request { url: &url, query: &[], headers: &[], body: b"[]" }, &ctx, &judge);
    /// assert!(result.is_err());
    /// assert!(start.elapsed() < Duration::from_secs(5), "gave up after the read timeout");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> HttpTransportBuilder {
        HttpTransportBuilder::new()
    }
}

impl HttpTransportBuilder {
    fn new() -> Self {
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

    /// Timeout to establish a connection. Defaults to 5 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use trackflow::delivery::{Cancel, DeliveryCtx};
    /// use trackflow::transport::{classify_status, HttpTransport, Request, RetryPolicy};
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let t = HttpTransport::builder().connect_timeout(Duration::from_secs(2)).retry(RetryPolicy::none()).build();
    /// // Nothing listens on port 1: refused at once, well within the connect timeout.
    /// let start = Instant::now();
    /// let (result, _) = t.post(&Request { url: "http://127.0.0.1:1/c", query: &[], headers: &[], body: b"[]" }, &ctx,
    ///     &|r| classify_status(r.status, r.retry_after.as_deref(), &r.body));
    /// assert!(result.is_err() && start.elapsed() < Duration::from_secs(2));
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
    /// use std::time::{Duration, Instant};
    /// use trackflow::delivery::{Cancel, DeliveryCtx};
    /// use trackflow::transport::{classify_status, HttpTransport, Request, RetryPolicy};
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let judge = |r: &trackflow::transport::Response| classify_status(r.status, r.retry_after.as_deref(), &r.body);
    /// // A collector on loopback that takes the connection and never answers.
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let url = format!("http://{}/collect", listener.local_addr()?);
    /// let t = HttpTransport::builder().read_timeout(Duration::from_millis(200)).retry(RetryPolicy::none()).build();
    /// let start = Instant::now();
    /// let (result, _) = t.post(&Request { url: &url, query: &[], headers: &[], body: b"[]" }, &ctx, &judge);
    /// assert!(result.is_err());
    /// assert!(start.elapsed() < Duration::from_secs(5), "gave up after the read timeout");
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
    /// # use std::sync::{Arc, Mutex};
    /// # use trackflow::transport::{HttpClient, HttpRequest, Response, Verdict};
    /// # #[derive(Debug, Default, Clone)]
    /// # struct Unavailable(Arc<Mutex<usize>>);
    /// # impl HttpClient for Unavailable {
    /// #     fn send(&self, _: &HttpRequest, _: Option<std::time::Duration>) -> Result<Response, Verdict> {
    /// #         *self.0.lock().unwrap() += 1;
    /// #         Ok(Response { status: 503, ..Response::default() })
    /// #     }
    /// # }
    /// use trackflow::delivery::{Cancel, DeliveryCtx};
    /// use trackflow::transport::{classify_status, HttpTransport, Request, RetryPolicy};
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let judge = |r: &trackflow::transport::Response| classify_status(r.status, r.retry_after.as_deref(), &r.body);
    /// let collector = Unavailable::default();
    /// let t = HttpTransport::builder().client(collector.clone()).retry(RetryPolicy::none()).build();
    /// let (result, retries) = t.post(&Request { url: "http://collector/c", query: &[], headers: &[], body: b"[]" }, &ctx, &judge);
    /// // A 503 is worth a retry, but this policy allows none: one request, then the error.
    /// assert!(result.is_err());
    /// assert_eq!((retries, *collector.0.lock().unwrap()), (0, 1));
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
    /// use trackflow::delivery::{Cancel, DeliveryCtx};
    /// use trackflow::transport::{classify_status, HttpTransport, Request, RetryPolicy};
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let judge = |r: &trackflow::transport::Response| classify_status(r.status, r.retry_after.as_deref(), &r.body);
    /// let t = HttpTransport::builder().max_body_bytes(16).build();
    /// // Refused before anything is sent, naming the size.
    /// let (result, _) = t.post(&Request { url: "http://127.0.0.1:1/c", query: &[], headers: &[], body: &[b' '; 64] }, &ctx, &judge);
    /// assert!(matches!(result, Err(trackflow::Error::TooLarge { bytes: 64 })));
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
    /// # use trackflow::delivery::{Cancel, DeliveryCtx};
    /// # use trackflow::transport::{classify_status, Request};
    /// # let cancel = Cancel::default();
    /// let req = Request { url: "https://collector.example.com/c", query: &[], headers: &[], body: b"[]" };
    /// let (result, _) = t.post(&req, &DeliveryCtx::new(&cancel), &|r| classify_status(r.status, None, &r.body));
    /// // No network: the client answered.
    /// assert_eq!(result?.status, 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// use trackflow::delivery::{Cancel, DeliveryCtx};
    /// use trackflow::transport::{classify_status, HttpTransport, Request, RetryPolicy};
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let judge = |r: &trackflow::transport::Response| classify_status(r.status, r.retry_after.as_deref(), &r.body);
    /// let t = HttpTransport::builder().retry(RetryPolicy::none()).build();
    /// // Nothing listens on port 1: the error says so, and no retry was made.
    /// let (result, retries) = t.post(&Request { url: "http://127.0.0.1:1/c", query: &[], headers: &[], body: b"[]" }, &ctx, &judge);
    /// assert!(result.is_err());
    /// assert_eq!(retries, 0);
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
            // ureq keeps 3 idle connections per host by default: with more requests in flight
            // than that, every answer would close one and the next request open another.
            .max_idle_connections_per_host(IDLE_PER_HOST)
            .max_idle_connections(IDLE_PER_HOST * 2)
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
