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
/// Windows the limit rests at its plateau before it probes one step past it.
const PROBE_EVERY: usize = 20;

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
    // The limit at which the collector last pushed back, until a probe passes it.
    plateau: Option<usize>,
    // Windows at the plateau since the last probe.
    resting: usize,
    // The next increase past the plateau (grows by one per window).
    step: usize,
    // Answers since the limit was last cut.
    since_cut: usize,
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
            plateau: None,
            resting: 0,
            step: 1,
            since_cut: usize::MAX,
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

    pub(crate) fn is_fixed(&self) -> bool {
        self.fixed
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
        let old = self.limit;
        self.since_cut = self.since_cut.saturating_add(1);
        if outcome == Outcome::Pushback && !self.fixed {
            // At once, but once per window: the answers to requests that started before the
            // last cut say nothing new.
            if self.since_cut > self.limit {
                self.cut();
            }
            return (self.limit != old).then_some(self.limit);
        }
        self.answers += 1;
        self.rtt_sum += rtt;
        self.reached |= in_flight >= self.limit;
        self.pushed_back |= outcome == Outcome::Pushback;
        if self.answers < self.limit {
            return None;
        }
        let mean = self.rtt_sum / self.answers as u32;
        let secs = mean.as_secs_f64();
        if self.baseline.is_some_and(|b| secs > b * TOLERANCE) && !self.fixed {
            self.cut();
        } else if self.fixed {
            // Only throttling lowers a fixed limit; answers in their time raise it back.
            if !self.pushed_back {
                self.limit = (self.limit + 1).min(self.ceiling);
            }
        } else if self.reached {
            self.limit = (self.limit + self.increase()).min(self.ceiling);
        }
        self.baseline = Some(match self.baseline {
            Some(b) => b + BASELINE_WEIGHT * (secs - b),
            None => secs,
        });
        self.last_mean = Some(mean);
        self.reset_window();
        (self.limit != old).then_some(self.limit)
    }

    /// A tenth fewer; where it was is the plateau; a new window starts.
    fn cut(&mut self) {
        self.plateau = Some(self.limit);
        self.limit = ((self.limit as f64 * DECREASE) as usize).clamp(1, self.ceiling);
        self.slow_start = false;
        self.step = 1;
        self.since_cut = 0;
        self.reset_window();
    }

    /// How much a window that went well adds: see the module's diagram.
    fn increase(&mut self) -> usize {
        if self.slow_start {
            return self.limit;
        }
        match self.plateau {
            Some(p) if self.limit + 1 < p => 1,
            Some(_) => {
                self.resting += 1;
                if self.resting < PROBE_EVERY {
                    return 0;
                }
                // The probe: if its window goes well, the plateau was lifted.
                self.resting = 0;
                self.plateau = None;
                1
            }
            None => {
                let step = self.step;
                self.step += 1;
                step
            }
        }
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
        // After a bad window, one more per window up to just under where it went badly;
        // there it rests, and probes one step past it every PROBE_EVERY windows.
        run(&mut a, Duration::from_millis(50), Outcome::Pushback, 1);
        assert_eq!(a.limit(), 14);
        let limits = run(
            &mut a,
            Duration::from_millis(50),
            Outcome::Answered,
            1 + PROBE_EVERY,
        );
        assert_eq!(limits[0], 15);
        assert!(limits[1..PROBE_EVERY].iter().all(|&l| l == 15), "{limits:?}");
        assert_eq!(limits[PROBE_EVERY], 16);
    }

    #[test]
    fn a_plateau_that_a_probe_passes_is_gone_and_growth_speeds_up() {
        let mut a = Adaptive::new(20, 200);
        run(&mut a, Duration::from_millis(50), Outcome::Pushback, 1);
        assert_eq!(a.limit(), 18);
        // Up to 19, a rest, the probe to 20 (the plateau); then 21, 23, 26, 30: the quota
        // was lifted.
        let limits = run(
            &mut a,
            Duration::from_millis(50),
            Outcome::Answered,
            1 + PROBE_EVERY + 4,
        );
        assert_eq!(limits[PROBE_EVERY], 20, "{limits:?}");
        assert_eq!(limits[PROBE_EVERY + 1..], [21, 23, 26, 30]);
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
        let back = run(
            &mut a,
            Duration::from_millis(5),
            Outcome::Answered,
            PROBE_EVERY + 10,
        );
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
