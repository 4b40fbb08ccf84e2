//! The circuit breaker of one consumer's backend: after repeated failures, one probe per
//! backoff period instead of every request; on the first answer, full width again.
//!
//! ```text
//!            failures ≥ THRESHOLD            backoff passed
//!  Closed ─────────────────────────► Open ─────────────────► HalfOpen: one probe goes
//!    ▲                                 ▲                        │
//!    │ an answer (any status)          └── the probe failed ◄───┤ (backoff doubles)
//!    └──────────────────────────────────── the probe answered ◄─┘
//! ```
//!
//! Failures are attempts that got no answer worth the name: I/O errors, timeouts, 408 and
//! 5xx. A throttling reply (429) is an answer: the collector is up, and the flow's pause
//! handles it. The state is a plain struct behind the flow's lock, tested on its own.

use std::time::{Duration, Instant};

use crate::transport::RetryPolicy;

/// Consecutive failed attempts that open the circuit.
pub(crate) const THRESHOLD: u32 = 5;

/// What the circuit lets through now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CircuitState {
    /// Requests go as usual.
    Closed,
    /// The backend keeps failing: no request starts until the backoff has passed.
    Open,
    /// The backoff has passed: one probe request is allowed; its answer closes the circuit.
    HalfOpen,
}

/// What a request may do, as the circuit decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Go.
    Go,
    /// Go, as the one probe of a half-open circuit.
    Probe,
    /// Wait this long, then ask again.
    Wait(Duration),
}

/// The breaker's state.
#[derive(Debug)]
pub(crate) struct Circuit {
    policy: RetryPolicy,
    failures: u32,
    // Consecutive openings: how far the backoff has grown.
    opened: u32,
    open_until: Option<Instant>,
    probing: bool,
    // Since when the circuit has been open, for health.
    since: Option<Instant>,
    // Times it closed after being open: lanes waiting to deliver again wake on a change.
    recoveries: u64,
}

/// How often a request waiting on another's probe looks again.
const PROBE_POLL: Duration = Duration::from_millis(50);

impl Circuit {
    pub(crate) fn new(policy: RetryPolicy) -> Circuit {
        Circuit {
            policy,
            failures: 0,
            opened: 0,
            open_until: None,
            probing: false,
            since: None,
            recoveries: 0,
        }
    }

    /// Whether a request may start at `now`.
    pub(crate) fn admit(&mut self, now: Instant) -> Admit {
        match self.open_until {
            None => Admit::Go,
            Some(t) if now < t => Admit::Wait(t - now),
            Some(_) if self.probing => Admit::Wait(PROBE_POLL),
            Some(_) => {
                self.probing = true;
                Admit::Probe
            }
        }
    }

    /// An attempt got an answer: the backend is up.
    pub(crate) fn answered(&mut self) {
        self.failures = 0;
        if self.open_until.take().is_some() {
            self.recoveries += 1;
        }
        self.opened = 0;
        self.probing = false;
        self.since = None;
    }

    /// An attempt failed for a transient reason at `now`.
    pub(crate) fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let reopen = self.probing;
        if reopen || (self.open_until.is_none() && self.failures >= THRESHOLD) {
            self.probing = false;
            self.opened = self.opened.saturating_add(1);
            self.open_until = Some(now + self.policy.backoff(self.opened - 1));
            self.since.get_or_insert(now);
        }
    }

    /// A probe ended without an outcome (cancelled): another may go.
    pub(crate) fn probe_abandoned(&mut self) {
        self.probing = false;
    }

    pub(crate) fn state(&self, now: Instant) -> CircuitState {
        match self.open_until {
            None => CircuitState::Closed,
            Some(t) if now < t && !self.probing => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    /// Since when the circuit has been open, if it is.
    pub(crate) fn open_since(&self) -> Option<Instant> {
        self.since
    }

    pub(crate) fn recoveries(&self) -> u64 {
        self.recoveries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circuit() -> Circuit {
        Circuit::new(
            RetryPolicy::default()
                .initial_backoff(Duration::from_secs(1))
                .max_backoff(Duration::from_secs(300)),
        )
    }

    #[test]
    fn it_opens_after_the_threshold_and_lets_one_probe_through_after_the_backoff() {
        let mut c = circuit();
        let t0 = Instant::now();
        for _ in 0..THRESHOLD - 1 {
            c.failed(t0);
        }
        assert_eq!(c.admit(t0), Admit::Go, "below the threshold");
        c.failed(t0);
        assert_eq!(c.state(t0), CircuitState::Open);
        let Admit::Wait(w) = c.admit(t0) else {
            panic!("open: wait")
        };
        assert!(
            w >= Duration::from_millis(500) && w <= Duration::from_secs(1),
            "{w:?}"
        );
        let later = t0 + Duration::from_secs(1);
        assert_eq!(c.admit(later), Admit::Probe);
        assert_eq!(c.admit(later), Admit::Wait(PROBE_POLL), "one probe at a time");
        assert_eq!(c.state(later), CircuitState::HalfOpen);
        c.answered();
        assert_eq!(c.admit(later), Admit::Go);
        assert_eq!((c.state(later), c.recoveries()), (CircuitState::Closed, 1));
    }

    #[test]
    fn a_failed_probe_doubles_the_backoff_up_to_the_cap() {
        let mut c = circuit();
        let mut now = Instant::now();
        for _ in 0..THRESHOLD {
            c.failed(now);
        }
        let mut last = Duration::ZERO;
        for round in 0..12 {
            let Admit::Wait(w) = c.admit(now) else {
                panic!("round {round}: open")
            };
            assert!(w <= Duration::from_secs(300), "capped: {w:?}");
            if round < 8 {
                assert!(w > last, "round {round}: grows ({w:?} after {last:?})");
            }
            last = w;
            now += w;
            assert_eq!(c.admit(now), Admit::Probe);
            c.failed(now);
        }
        assert!(
            last >= Duration::from_secs(150),
            "reaches the cap's range: {last:?}"
        );
        assert!(c.open_since().is_some());
    }

    #[test]
    fn an_abandoned_probe_lets_another_go() {
        let mut c = circuit();
        let now = Instant::now();
        for _ in 0..THRESHOLD {
            c.failed(now);
        }
        let later = now + Duration::from_secs(2);
        assert_eq!(c.admit(later), Admit::Probe);
        c.probe_abandoned();
        assert_eq!(c.admit(later), Admit::Probe);
    }
}
