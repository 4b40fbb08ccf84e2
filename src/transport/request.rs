//! One request and its response, as backends build them and clients send them.

use std::fmt;

use super::mask::{is_secret_name, mask_url};

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

/// One request, owned, as an [`HttpClient`](super::HttpClient) sends it (on an I/O thread).
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

    pub(super) fn new(method: Method, r: &Request<'_>) -> Self {
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
