//! What an HTTP call asks of the layer above it ([`Pacing`]): when to give up, whether to
//! log or only pretend, and the budget each attempt waits for and reports to. The transport
//! knows nothing of consumers; the delivery contract implements this for a batch.

use std::time::Duration;

use super::{Response, Verdict};
use crate::cancel::Cancel;

/// One attempt of a request: what it came to, and the response when there was one.
#[derive(Debug)]
#[non_exhaustive]
pub struct Attempt {
    /// Success, a failure to retry, or a refusal for good.
    pub verdict: Verdict,
    /// The collector's answer (none when the request never got one).
    pub response: Option<Response>,
}

impl Attempt {
    /// An attempt that came to `verdict`, with the `response` it got.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::transport::{Attempt, Verdict};
    /// let a = Attempt::new(Verdict::Success, None);
    /// assert!(matches!(a.verdict, Verdict::Success) && a.response.is_none());
    /// ```
    pub fn new(verdict: Verdict, response: Option<Response>) -> Self {
        Attempt { verdict, response }
    }

    /// Whether the collector refused it as over its quota (429, `ThrottlingException`).
    pub(crate) fn is_throttled(&self) -> bool {
        super::retry::is_throttled(&self.verdict, self.response.as_ref())
    }
}

/// How the requests of one call are paced and cut short. A [`Cancel`] alone is the simplest
/// pacing: no budget, no logging, real requests.
///
/// # Examples
///
/// ```
/// use trackflow::delivery::Cancel;
/// use trackflow::transport::{Attempt, Pacing, Verdict};
/// let cancel = Cancel::default();
/// let pacing: &dyn Pacing = &cancel;
/// let ran = pacing.admit(&mut || Attempt::new(Verdict::Success, None));
/// assert!(matches!(ran.map(|a| a.verdict), Some(Verdict::Success)));
/// cancel.cancel();
/// assert!(pacing.cancel().is_cancelled());
/// ```
pub trait Pacing: Sync {
    /// Cancelled when a deadline passes: no new attempt starts, a backoff sleep returns at
    /// once, a request in flight is abandoned.
    fn cancel(&self) -> &Cancel;

    /// Log each request (method, URL with secrets masked, headers, body) at `info`.
    /// Defaults to `false`.
    fn debug(&self) -> bool {
        false
    }

    /// Build and log requests but send none; each counts as a success. Defaults to `false`.
    fn dry_run(&self) -> bool {
        false
    }

    /// Runs `attempt` once the budget lets one more request go, and learns from what it came
    /// to; `None` when cancelled while waiting. Defaults to running it at once.
    fn admit(&self, attempt: &mut dyn FnMut() -> Attempt) -> Option<Attempt> {
        Some(attempt())
    }

    /// The collector said it is over its quota: hold every request for `wait`. Defaults to
    /// nothing (the retry's own backoff still waits).
    fn throttled(&self, wait: Duration) {
        let _ = wait;
    }
}

impl Pacing for Cancel {
    fn cancel(&self) -> &Cancel {
        self
    }
}
