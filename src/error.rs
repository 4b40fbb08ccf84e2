//! The one error type of the crate.

use std::fmt;
use std::time::Duration;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in trackflow.
///
/// Errors at the call ([`Error::InvalidInput`], [`Error::Unsupported`]) mean nothing was
/// queued. Delivery errors reach the consumer's error callback and the stats.
///
/// # Examples
///
/// ```
/// use trackflow::{Error, Identity, ImmediateConsumer, MemoryBackend, Properties, Tracker};
///
/// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
/// let err = tracker.track(&Identity::user("u1"), "", Properties::new()).unwrap_err();
/// assert!(matches!(err, Error::InvalidInput { .. }));
/// assert_eq!(err.to_string(), "invalid input: event name: must not be empty");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The call was rejected before anything was queued: `field` broke `rule`.
    ///
    /// Fix the input; retrying the same call fails the same way.
    InvalidInput {
        /// The offending field, e.g. `properties.price` or `event name`.
        field: String,
        /// The rule it broke, e.g. `must be a finite number`.
        rule: String,
    },
    /// The backend cannot carry this kind of event (e.g. `user_increment` on GrowingIO).
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// What was asked of it.
        what: String,
    },
    /// The server answered with a status that will not change on retry (most 4xx), or
    /// retries were exhausted on a retryable one.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The start of the response body, for diagnosis.
        body: String,
    },
    /// The collector answered but refused the data with an application-level code (Gravity's
    /// `{"code": …}`). Permanent: the same data would be refused again.
    Rejected {
        /// The collector's code.
        code: i64,
        /// The collector's message.
        message: String,
    },
    /// An API refused the request with an error code and message (AWS `x-amzn-ErrorType`,
    /// Google's `error.status`).
    Api {
        /// The HTTP status.
        status: u16,
        /// The service's error code, e.g. `InvalidInputException`.
        code: String,
        /// The service's message.
        message: String,
    },
    /// A request was too large for the collector (HTTP 413 or the transport's byte limit)
    /// even after splitting its batch down to this one event.
    TooLarge {
        /// The request body's size.
        bytes: usize,
    },
    /// The background worker thread stopped unexpectedly (a panic outside delivery); events
    /// can no longer be accepted. Queued events were reported as failed.
    WorkerGone,
    /// The request could not be sent or its response not read (connection refused, reset,
    /// timeout, TLS) and retries were exhausted. The underlying I/O or TLS error is its
    /// [`source`](std::error::Error::source).
    Transport(TransportError),
    /// The collector answered with a redirect (3xx). Deliveries never follow one: a client
    /// that follows a 301, 302 or 303 resends a POST as a GET without its body, and would
    /// count the events delivered. The events are refused for good (dead letters); set the
    /// backend's URL to where the redirect points, then replay them.
    Redirected {
        /// The status (301, 302, 303, 307, 308, …).
        status: u16,
        /// Where it pointed (`Location`), secrets masked; empty when it named none.
        location: String,
    },
    /// The backend panicked delivering these events: a bug, reported, not sent again.
    Panicked {
        /// The backend's name.
        backend: &'static str,
    },
    /// Credentials or a token could not be had for the request (an instance-metadata or
    /// token endpoint that failed or refused for now, a credentials process that failed). A
    /// consumer with a store keeps the events and delivers them once credentials come back.
    Credentials(TransportError),
    /// A local file operation failed.
    Io(std::io::Error),
    /// The configuration is not usable; the message says which setting and why.
    Config(String),
    /// The queue was full and the overflow policy gave up on the event. It was counted in
    /// [`Stats::dropped`](crate::StatsSnapshot::dropped).
    QueueFull,
    /// The tracker or consumer was already shut down; the event was not accepted.
    AlreadyShutdown,
    /// A flush or shutdown did not finish within its deadline. Events still pending were
    /// reported as failed (see the shutdown report).
    Timeout(Duration),
    /// The delivery was abandoned because the consumer is shutting down past its deadline.
    Cancelled,
}

/// What [`Error::Transport`] carries: a message with secrets masked, and the cause where it
/// holds no URL (I/O and TLS errors).
///
/// # Examples
///
/// ```
/// use std::error::Error as _;
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
/// let e = trackflow::Error::Transport(trackflow::TransportError::with_source("connection reset", io));
/// assert_eq!(e.to_string(), "transport: connection reset");
/// assert_eq!(e.source().unwrap().to_string(), "reset by peer");
/// ```
#[derive(Debug)]
pub struct TransportError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// A transport error caused by `source`.
    ///
    /// # Examples
    ///
    /// ```
    /// let io = std::io::Error::from(std::io::ErrorKind::TimedOut);
    /// let t = trackflow::TransportError::with_source("read timed out", io);
    /// assert_eq!(t.to_string(), "read timed out");
    /// ```
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        TransportError {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The message.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::TransportError::from("reset").message(), "reset");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<String> for TransportError {
    fn from(message: String) -> Self {
        TransportError {
            message,
            source: None,
        }
    }
}

impl From<&str> for TransportError {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    /// Builds an [`Error::InvalidInput`].
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trackflow::Error::invalid("properties.qty", "must be a number");
    /// assert_eq!(e.to_string(), "invalid input: properties.qty: must be a number");
    /// ```
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// The error of a credentials or token fetch, as a delivery sees it: a cancelled fetch
    /// stays [`Error::Cancelled`], anything else is [`Error::Credentials`] (transient: the
    /// events wait for credentials to come back).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::Error;
    /// let e = Error::credentials(Error::Status { code: 403, body: "from the instance metadata".into() });
    /// assert!(e.is_transient() && e.to_string().starts_with("credentials unavailable: http status: 403"));
    /// assert!(matches!(Error::credentials(Error::Cancelled), Error::Cancelled));
    /// ```
    pub fn credentials(e: Error) -> Error {
        match e {
            Error::Cancelled | Error::Credentials(_) => e,
            other => Error::Credentials(TransportError::with_source(other.to_string(), other)),
        }
    }

    /// Whether retrying the same request could succeed.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::Error;
    /// assert!(Error::Transport("connection reset".into()).is_transient());
    /// assert!(!Error::Status { code: 400, body: String::new() }.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport(_) | Error::Timeout(_) | Error::Credentials(_) => true,
            Error::Status { code, .. } | Error::Api { status: code, .. } => {
                matches!(code, 408 | 429 | 500..=599)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput { field, rule } => write!(f, "invalid input: {field}: {rule}"),
            Error::Unsupported { backend, what } => {
                write!(f, "unsupported by the {backend} backend: {what}")
            }
            Error::Status { code, body } if body.is_empty() => write!(f, "http status: {code}"),
            Error::Status { code, body } => write!(f, "http status: {code}: {body}"),
            Error::Rejected { code, message } => {
                write!(f, "rejected by the collector: code {code}: {message}")
            }
            Error::Api {
                status,
                code,
                message,
            } => write!(f, "http status: {status}: {code}: {message}"),
            Error::TooLarge { bytes } => {
                write!(
                    f,
                    "request too large: a single event makes a {bytes}-byte request the collector refuses"
                )
            }
            Error::WorkerGone => write!(f, "the background worker thread stopped; see the error log"),
            Error::Credentials(e) => write!(f, "credentials unavailable: {e}"),
            Error::Panicked { backend } => write!(f, "the {backend} backend panicked"),
            Error::Redirected { status, location } if location.is_empty() => write!(
                f,
                "http status {status}: the collector redirects (not followed for deliveries); set the backend's URL to the final one"
            ),
            Error::Redirected { status, location } => write!(
                f,
                "http status {status}: the collector redirects to {location} (not followed for deliveries); set the backend's URL to that"
            ),
            Error::Transport(m) => write!(f, "transport: {m}"),
            Error::Io(e) => write!(f, "io: {e}"),
            Error::Config(m) => write!(f, "config: {m}"),
            Error::QueueFull => write!(f, "queue full: event dropped"),
            Error::AlreadyShutdown => write!(f, "already shut down"),
            Error::Timeout(d) => write!(f, "timed out after {d:?}"),
            Error::Cancelled => write!(f, "cancelled by shutdown deadline"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Transport(TransportError { source: Some(s), .. })
            | Error::Credentials(TransportError { source: Some(s), .. }) => Some(&**s),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Errors travel through every Result on the hot path; keep them small.
    #[test]
    fn ensure_error_size() {
        assert!(
            std::mem::size_of::<Error>() <= 56,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
