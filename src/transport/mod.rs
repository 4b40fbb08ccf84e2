//! HOW bytes travel: one ureq agent, timeouts, retries with backoff, and the classification of
//! responses.
//!
//! ```text
//!  Backend ──Request──► HttpTransport::send ──► HttpClient (ureq agent, or yours) ──► collector
//!                          │  ▲                     │
//!                          │  └── retry? ◄── judge(Response) / I/O error
//!                          ▼
//!                   Cancel (shutdown deadline) cuts backoff sleeps short and abandons
//!                   a request in flight (it runs on an I/O thread, see `pool`)
//! ```

mod builder;
mod client;
pub(crate) mod http;
pub(crate) mod mask;
mod pacing;
pub(crate) mod pool;
mod request;
pub(crate) mod retry;

pub use builder::HttpTransportBuilder;
pub use client::HttpClient;
pub use http::HttpTransport;
pub use pacing::{Attempt, Pacing};
pub use request::{HttpRequest, Method, Request, Response};
pub use retry::{
    classify, classify_status, parse_retry_after, RetryPolicy, Verdict, DEFAULT_INITIAL_BACKOFF,
    DEFAULT_MAX_BACKOFF, DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_AFTER,
};

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Default timeout for the response (headers and body) after the request was sent.
pub const DEFAULT_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Any reply a server could send (any status, body and error headers), for the property
/// tests of every backend's judge.
#[cfg(test)]
pub(crate) fn any_reply() -> impl proptest::strategy::Strategy<Value = Response> {
    use proptest::prelude::*;
    (100u16..600, prop::collection::vec(any::<u8>(), 0..300), ".{0,40}").prop_map(|(status, body, header)| {
        Response {
            status,
            retry_after: Some(header.clone()),
            headers: vec![("x-amzn-errortype".into(), header)],
            body,
        }
    })
}
