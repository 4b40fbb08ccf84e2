//! What a consumer's requests have lately come to, for [`Tracker::health`](crate::Tracker::health):
//! since when they fail for a transient reason (none while they succeed), the last error
//! (secrets masked), when the collector last throttled, and when they last recovered.

use std::time::{Duration, Instant, SystemTime};

use crate::error::Error;

/// The request outcomes a health verdict is made from.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    /// When the current run of transient failures began; `None` while requests succeed.
    pub(crate) failing_since: Option<SystemTime>,
    /// The last error a request met, masked: transient or a refusal.
    pub(crate) last_error: Option<(SystemTime, String)>,
    /// The last throttling reply.
    pub(crate) throttled_at: Option<Instant>,
    /// When requests last came back to succeeding (or the consumer started).
    pub(crate) well_since: SystemTime,
}

impl Default for Condition {
    fn default() -> Condition {
        Condition {
            failing_since: None,
            last_error: None,
            throttled_at: None,
            well_since: SystemTime::now(),
        }
    }
}

impl Condition {
    /// A request failed for a transient reason (no answer, a timeout, a 5xx).
    pub(crate) fn transient(&mut self, error: &Error) {
        let now = SystemTime::now();
        self.failing_since.get_or_insert(now);
        self.error(now, error);
    }

    /// A request was refused for good (a 4xx): the backend is up, the request was not.
    pub(crate) fn refused(&mut self, error: &Error) {
        self.error(SystemTime::now(), error);
    }

    pub(crate) fn throttled(&mut self) {
        self.throttled_at = Some(Instant::now());
    }

    /// A request succeeded: a run of failures, if any, is over.
    pub(crate) fn succeeded(&mut self) {
        if self.failing_since.take().is_some() {
            self.well_since = SystemTime::now();
        }
    }

    /// Whether the collector throttled within `window`.
    pub(crate) fn throttled_within(&self, window: Duration) -> bool {
        self.throttled_at.is_some_and(|t| t.elapsed() < window)
    }

    fn error(&mut self, at: SystemTime, error: &Error) {
        let text = crate::transport::mask::mask_secrets(&error.to_string());
        self.last_error = Some((at, text));
    }
}
