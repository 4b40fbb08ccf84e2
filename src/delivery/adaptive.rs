//! Adaptive concurrency: how many requests a consumer keeps in flight, found from the
//! collector's answers, after Vector's adaptive request concurrency (RFC 1858) and Netflix's
//! concurrency-limits. A window is one limit's worth of answers; at its end the limit grows
//! by one if the window's mean response time stayed near the baseline and the limit was
//! reached, and shrinks by a tenth if the mean rose past the baseline or the collector pushed
//! back (a timeout, a reset, a 5xx). Throttling replies halve it at once (see `Flow`).
//!
//! ```text
//!  answers ─► window of `limit` ─► mean RTT ≤ baseline × 1.5, limit reached ─► limit + 1
//!                               │   (× 2 until the first window that went badly)
//!                               └► mean RTT > baseline × 1.5, or pushed back ─► limit × 0.9
//!  baseline: moving average of the windows' means
//! ```

use std::time::Duration;

/// How far above the baseline a window's mean may be and still count as "near".
const TOLERANCE: f64 = 1.5;
/// What a window that went badly leaves of the limit.
const DECREASE: f64 = 0.9;
/// Weight of a new window's mean in the baseline.
const BASELINE_WEIGHT: f64 = 0.3;

/// What an answer says about the collector's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered in its own time (success, or a refusal of the request itself).
    Answered,
    /// Pushed back: no answer in time, a reset, a 5xx.
    Pushback,
}

/// The limit and what it is learned from.
#[derive(Debug, Clone)]
pub(crate) struct Adaptive {
    // A fixed limit (`max_in_flight` set by the user) only grows back after throttling.
    fixed: bool,
    // Until the first window that went badly the limit doubles (TCP's slow start), so a
    // collector that keeps up is reached in a few round trips, not one per step.
    slow_start: bool,
    ceiling: usize,
    limit: usize,
    // The window so far.
    answers: usize,
    rtt_sum: Duration,
    reached: bool,
    pushed_back: bool,
    // Seconds; `None` until the first window closes.
    baseline: Option<f64>,
    last_mean: Option<Duration>,
}

impl Adaptive {
    /// A limit starting at `initial`, kept within `1..=ceiling`.
    pub(crate) fn new(initial: usize, ceiling: usize) -> Adaptive {
        let ceiling = ceiling.max(1);
        Adaptive {
            fixed: false,
            slow_start: true,
            ceiling,
            limit: initial.clamp(1, ceiling),
            answers: 0,
            rtt_sum: Duration::ZERO,
            reached: false,
            pushed_back: false,
            baseline: None,
            last_mean: None,
        }
    }

    /// A limit of `limit`, lowered only by throttling (which halves it) and raised back by
    /// answers in their usual time.
    pub(crate) fn fixed(limit: usize) -> Adaptive {
        Adaptive {
            fixed: true,
            ..Adaptive::new(limit, limit)
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn ceiling(&self) -> usize {
        self.ceiling
    }

    /// The mean response time of the last window.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.last_mean
    }

    /// The limit, set from outside (a throttling reply halves it); the window starts over.
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit.clamp(1, self.ceiling);
        self.slow_start = false;
        self.reset_window();
    }

    /// One answer: its response time, what it says, and how many requests were in flight
    /// when it started. Returns the new limit when the window closed and the limit moved.
    pub(crate) fn observe(&mut self, rtt: Duration, outcome: Outcome, in_flight: usize) -> Option<usize> {
        self.answers += 1;
        self.rtt_sum += rtt;
        self.reached |= in_flight >= self.limit;
        self.pushed_back |= outcome == Outcome::Pushback;
        if self.answers < self.limit {
            return None;
        }
        let mean = self.rtt_sum / self.answers as u32;
        let secs = mean.as_secs_f64();
        let slow = self.baseline.is_some_and(|b| secs > b * TOLERANCE);
        let old = self.limit;
        if (self.pushed_back || slow) && !self.fixed {
            self.limit = ((self.limit as f64 * DECREASE) as usize).clamp(1, self.ceiling);
            self.slow_start = false;
        } else if self.reached || (self.fixed && !self.pushed_back) {
            let step = if self.slow_start { self.limit } else { 1 };
            self.limit = (self.limit + step).min(self.ceiling);
        }
        if !self.pushed_back {
            self.baseline = Some(match self.baseline {
                Some(b) => b + BASELINE_WEIGHT * (secs - b),
                None => secs,
            });
        }
        self.last_mean = Some(mean);
        self.reset_window();
        (self.limit != old).then_some(self.limit)
    }

    fn reset_window(&mut self) {
        self.answers = 0;
        self.rtt_sum = Duration::ZERO;
        self.reached = false;
        self.pushed_back = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds answers at `rtt`, each with the limit in flight, until `n` windows closed; the
    /// limits after each.
    fn run(a: &mut Adaptive, rtt: Duration, outcome: Outcome, windows: usize) -> Vec<usize> {
        let mut out = Vec::new();
        while out.len() < windows {
            let limit = a.limit();
            if let Some(l) = a.observe(rtt, outcome, limit) {
                out.push(l);
            } else if a.answers == 0 {
                out.push(a.limit());
            }
        }
        out
    }

    #[test]
    fn steady_response_times_raise_the_limit_to_the_ceiling() {
        let mut a = Adaptive::new(1, 16);
        // Doubling until the ceiling: nothing went badly.
        let limits = run(&mut a, Duration::from_millis(50), Outcome::Answered, 5);
        assert_eq!(limits, [2, 4, 8, 16, 16]);
        // After a bad window, one more per window.
        run(&mut a, Duration::from_millis(50), Outcome::Pushback, 1);
        assert_eq!(a.limit(), 14);
        let limits = run(&mut a, Duration::from_millis(50), Outcome::Answered, 3);
        assert_eq!(limits, [15, 16, 16]);
    }

    #[test]
    fn doubled_response_times_cut_the_limit_within_a_window() {
        let mut a = Adaptive::new(1, 64);
        run(&mut a, Duration::from_millis(50), Outcome::Answered, 30);
        let high = a.limit();
        assert!(high >= 30, "{high}");
        let after = run(&mut a, Duration::from_millis(100), Outcome::Answered, 1);
        assert!(after[0] < high, "{high} → {after:?}");
        // Latency that stays doubled becomes the new baseline: the limit stops falling.
        let settled = run(&mut a, Duration::from_millis(100), Outcome::Answered, 10);
        assert!(
            settled.windows(2).last().is_some_and(|w| w[1] >= w[0]),
            "{settled:?}"
        );
    }

    #[test]
    fn pushback_cuts_and_the_limit_never_leaves_its_bounds() {
        let mut a = Adaptive::new(8, 8);
        let limits = run(&mut a, Duration::from_millis(5), Outcome::Pushback, 40);
        assert_eq!(*limits.last().unwrap(), 1);
        assert!(limits.iter().all(|&l| (1..=8).contains(&l)));
        let back = run(&mut a, Duration::from_millis(5), Outcome::Answered, 20);
        assert_eq!(*back.last().unwrap(), 8);
    }

    #[test]
    fn a_limit_not_reached_is_not_raised() {
        let mut a = Adaptive::new(4, 64);
        for _ in 0..40 {
            a.observe(Duration::from_millis(5), Outcome::Answered, 1);
        }
        assert_eq!(a.limit(), 4);
    }
}
