//! Adaptive concurrency: how many requests a consumer keeps in flight, found from the
//! collector's answers, after Vector's adaptive request concurrency (RFC 1858) and Netflix's
//! concurrency-limits. A window is one limit's worth of answers (16 at least, over 50 ms at
//! least); at its end the limit grows by one if the window's mean response time stayed near
//! the baseline and the limit was reached, and shrinks by a tenth (not below 4) if the mean
//! rose past the baseline, or (down to 1) if the collector pushed back (a timeout, a reset,
//! a 5xx). Throttling replies halve it at once (see `Flow`).
//!
//! Past twice the machine's cores, a growth must pay: the window after the next (the next
//! mixes requests of both limits) must answer more requests a second, in proportion to
//! what was added. Where the answers only take longer as more are sent (this machine's
//! CPU, not the collector, is the bound: every request in flight is one more thread
//! sharing the same cores), the limit goes back to where it was and rests under the limit
//! that did not pay, probing it again now and then.
//!
//! ```text
//!  answers ─► window of `limit` ─► mean RTT ≤ baseline × 1.5, limit reached ─► limit + 1
//!                               │   (× 2 until the first window that went badly)
//!                               ├► mean RTT > baseline × 1.5, or pushed back ─► limit × 0.9
//!                               └► the last growth delivered < GAIN of its share ─► undone
//!  baseline: moving average of the windows' means
//! ```

use std::time::{Duration, Instant};

/// How far above the baseline a window's mean may be and still count as "near".
const TOLERANCE: f64 = 1.5;
/// What a window that went badly leaves of the limit.
const DECREASE: f64 = 0.9;
/// Weight of a new window's mean in the baseline.
const BASELINE_WEIGHT: f64 = 0.3;
/// The lowest limit answers that slow down can bring it to (pushback can bring it to one):
/// four requests in flight are a light load for any collector, and below that, on a machine
/// of few cores, a slower answer is as likely the machine's own scheduling (Netflix's
/// gradient limit keeps a floor of 20 for the same reason).
const SLOWED_FLOOR: usize = 4;
/// The fewest answers in a window: at a limit of one or two, a window of one limit's worth
/// would judge the collector, and a growth, by one or two response times.
pub(crate) const MIN_WINDOW: usize = 16;
/// The shortest window: on loopback sixteen answers take a few milliseconds, less than a
/// scheduler's time slice, and the rate of answers over so short a time is mostly noise.
const MIN_SPAN: Duration = Duration::from_millis(50);
/// Windows the limit rests at its plateau before it probes one step past it.
const PROBE_EVERY: usize = 20;
/// What share of its proportion a growth must add to the rate of answers to be kept: from
/// 4 to 8 in flight, at least 4 × 0.3 / 4 = 30% more answers a second.
const GAIN: f64 = 0.3;

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
    // When the window began (the last one's end), for its rate of answers.
    window_start: Option<Instant>,
    // The last growth, until a window after it says whether it paid: the limit before it
    // and the rate of answers there.
    judging: Option<(usize, f64)>,
    // The next window only passes: the one after a change mixes requests sent under both
    // limits, and says nothing of either.
    settling: bool,
    // Up to here a growth need not pay: each request in flight is a thread that encodes,
    // and up to about twice the cores they do not crowd each other out.
    free: usize,
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
            window_start: None,
            judging: None,
            settling: false,
            free: 2 * std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
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
        self.reset_window(None);
    }

    /// One answer, come `now`: its response time, what it says, and how many requests were
    /// in flight when it started. Returns the new limit when the window closed and the limit
    /// moved.
    pub(crate) fn observe(
        &mut self,
        rtt: Duration,
        outcome: Outcome,
        in_flight: usize,
        now: Instant,
    ) -> Option<usize> {
        let start = *self.window_start.get_or_insert(now);
        let old = self.limit;
        self.since_cut = self.since_cut.saturating_add(1);
        if outcome == Outcome::Pushback && !self.fixed {
            // At once, but once per window: the answers to requests that started before the
            // last cut say nothing new.
            if self.since_cut > self.limit {
                self.cut(false, now);
            }
            return (self.limit != old).then_some(self.limit);
        }
        self.answers += 1;
        self.rtt_sum += rtt;
        self.reached |= in_flight >= self.limit;
        self.pushed_back |= outcome == Outcome::Pushback;
        if self.answers < self.limit.max(MIN_WINDOW) || now.saturating_duration_since(start) < MIN_SPAN {
            return None;
        }
        let mean = self.rtt_sum / self.answers as u32;
        let secs = mean.as_secs_f64();
        // Answers a second over the window: what the requests in flight achieved, gaps
        // between them included (a lane encoding its next body has none in flight).
        let rate = self.answers as f64 / now.saturating_duration_since(start).as_secs_f64().max(1e-6);
        if self.baseline.is_some_and(|b| secs > b * TOLERANCE) && !self.fixed {
            self.cut(true, now);
        } else if self.fixed {
            // Only throttling lowers a fixed limit; answers in their time raise it back.
            if !self.pushed_back {
                self.limit = (self.limit + 1).min(self.ceiling);
            }
        } else if std::mem::take(&mut self.settling) {
            // Passed: see `settling`.
        } else if !self.undo_unpaid(rate) && self.reached {
            self.grow(rate);
        }
        self.baseline = Some(match self.baseline {
            Some(b) => b + BASELINE_WEIGHT * (secs - b),
            None => secs,
        });
        self.last_mean = Some(mean);
        self.reset_window(Some(now));
        (self.limit != old).then_some(self.limit)
    }

    /// Raises the limit as a window that went well allows, to be judged a window later.
    fn grow(&mut self, rate: f64) {
        let to = (self.limit + self.increase()).min(self.ceiling);
        if to > self.limit.max(self.free) {
            self.judging = Some((self.limit, rate));
            self.settling = true;
        }
        self.limit = to;
    }

    /// Goes back to the limit before the last growth if that growth added less than
    /// [`GAIN`] of its proportion to the rate of answers (see the module docs); the limit
    /// that did not pay becomes the plateau. Says whether it did.
    fn undo_unpaid(&mut self, rate: f64) -> bool {
        let Some((before, before_rate)) = self.judging.take() else {
            return false;
        };
        let added = self.limit.saturating_sub(before) as f64 / before.max(1) as f64;
        if rate >= before_rate * (1.0 + GAIN * added) {
            return false;
        }
        self.plateau = Some(self.limit);
        self.limit = before;
        self.slow_start = false;
        self.step = 1;
        self.resting = 0;
        self.settling = true;
        true
    }

    /// A tenth fewer; where it was is the plateau; a new window starts. After answers that
    /// slowed (`slowed`) while a growth was being judged: back to before the growth if that
    /// is lower, for the slowing is the growth's doing. (Pushback says the collector is
    /// loaded whatever this consumer did last: a tenth, as always.)
    fn cut(&mut self, slowed: bool, now: Instant) {
        self.plateau = Some(self.limit);
        let before = match self.judging.take() {
            Some((before, _)) if slowed => before,
            _ => usize::MAX,
        };
        // Answers that slow down never take the limit below SLOWED_FLOOR (a growth they
        // undo goes back all the way).
        let floor = if slowed { SLOWED_FLOOR.min(self.limit) } else { 1 };
        self.limit = ((self.limit as f64 * DECREASE) as usize)
            .max(floor)
            .min(before)
            .clamp(1, self.ceiling);
        self.slow_start = false;
        self.step = 1;
        self.since_cut = 0;
        self.reset_window(Some(now));
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

    /// A new window, from `start` (or from its first answer).
    fn reset_window(&mut self, start: Option<Instant>) {
        self.window_start = start;
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
        run_loaded(a, |_| rtt, outcome, windows)
    }

    /// Answers whose response time is `rtt(in flight)`, each with the limit in flight, so
    /// that they come `rtt / limit` apart (on a clock of the test's own), until `windows`
    /// windows closed; the limits after each.
    fn run_loaded(
        a: &mut Adaptive,
        rtt: impl Fn(usize) -> Duration,
        outcome: Outcome,
        windows: usize,
    ) -> Vec<usize> {
        let mut out = Vec::new();
        // The test's clock goes on from where the last run left it.
        let mut now = a.window_start.unwrap_or_else(Instant::now);
        while out.len() < windows {
            let limit = a.limit();
            let rtt = rtt(limit);
            now += rtt / limit as u32;
            if let Some(l) = a.observe(rtt, outcome, limit, now) {
                out.push(l);
            } else if a.answers == 0 {
                out.push(a.limit());
            }
        }
        out
    }

    /// The limits a trajectory passed through, each once.
    fn changes(limits: &[usize]) -> Vec<usize> {
        let mut out = limits.to_vec();
        out.dedup();
        out
    }

    #[test]
    fn steady_response_times_raise_the_limit_to_the_ceiling() {
        let mut a = Adaptive::new(1, 16);
        a.free = 1;
        // Doubling until the ceiling: nothing went badly, and each doubling doubled the
        // rate of answers (each is judged a window after the one that follows it).
        let limits = run(&mut a, Duration::from_millis(50), Outcome::Answered, 9);
        assert_eq!(limits, [2, 2, 4, 4, 8, 8, 16, 16, 16]);
        // After a bad window, one more per window up to just under where it went badly;
        // there it rests, and probes one step past it every PROBE_EVERY windows.
        run(&mut a, Duration::from_millis(50), Outcome::Pushback, 1);
        assert_eq!(a.limit(), 14);
        let limits = run(
            &mut a,
            Duration::from_millis(50),
            Outcome::Answered,
            2 + PROBE_EVERY,
        );
        assert_eq!(changes(&limits), [15, 16], "{limits:?}");
        let rested = limits.iter().filter(|&&l| l == 15).count();
        assert!((PROBE_EVERY..=PROBE_EVERY + 1).contains(&rested), "{limits:?}");
    }

    #[test]
    fn a_plateau_that_a_probe_passes_is_gone_and_growth_speeds_up() {
        let mut a = Adaptive::new(20, 200);
        a.free = 1;
        run(&mut a, Duration::from_millis(50), Outcome::Pushback, 1);
        assert_eq!(a.limit(), 18);
        // Up to 19, a rest, the probe to 20 (the plateau); then 21, 23, 26, 30: the quota
        // was lifted.
        let limits = run(
            &mut a,
            Duration::from_millis(50),
            Outcome::Answered,
            2 + PROBE_EVERY + 9,
        );
        assert_eq!(changes(&limits), [19, 20, 21, 23, 26, 30], "{limits:?}");
    }

    #[test]
    fn a_growth_that_only_lengthens_the_answers_is_undone() {
        // This machine's CPU is the bound: twice the requests in flight, twice the time
        // each takes, the same answers a second. The first doubling slows the answers and is
        // undone; no growth after it pays, and the limit rests where it started but for a
        // probe one past it every PROBE_EVERY windows.
        let mut a = Adaptive::new(2, 128);
        a.free = 2;
        let cpu_bound = |n: usize| Duration::from_micros(300 * n as u64);
        let limits = run_loaded(&mut a, cpu_bound, Outcome::Answered, 200);
        assert!(limits.iter().all(|&l| l <= 4), "{limits:?}");
        let resting = limits[100..].iter().filter(|&&l| l == 2).count();
        assert!(resting >= 85, "{limits:?}");
        // A collector of four workers sharing out its time: the rate grows up to four in
        // flight, and no further.
        let mut a = Adaptive::new(1, 128);
        a.free = 1;
        let four_workers = |n: usize| Duration::from_secs_f64(0.010 * (n as f64 / 4.0).max(1.0));
        let limits = run_loaded(&mut a, four_workers, Outcome::Answered, 200);
        assert!(limits[100..].iter().all(|&l| (4..=5).contains(&l)), "{limits:?}");
        // Up to twice the cores, growth is free: the CPU-bound limit rests there.
        let mut a = Adaptive::new(2, 128);
        a.free = 4;
        let limits = run_loaded(&mut a, cpu_bound, Outcome::Answered, 200);
        let at_free = limits[100..].iter().filter(|&&l| l == 4).count();
        assert!(at_free >= 85, "{limits:?}");
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
    fn a_window_spans_fifty_ms_however_many_answers_came() {
        // A thousand answers within 10 ms (loopback): one window, not sixty, and no change.
        let mut a = Adaptive::new(2, 64);
        a.free = 64;
        let start = Instant::now();
        let moved = (1..=1000u32)
            .filter_map(|i| {
                a.observe(
                    Duration::from_micros(10),
                    Outcome::Answered,
                    2,
                    start + Duration::from_micros(10) * i,
                )
            })
            .count();
        assert_eq!((moved, a.limit()), (0, 2));
        // The first answer 50 ms after the window's first closes it: the limit was reached
        // and the answers came in their time, so it grows (doubles: slow start).
        let moved = a.observe(
            Duration::from_micros(10),
            Outcome::Answered,
            2,
            start + Duration::from_micros(10) + MIN_SPAN,
        );
        assert_eq!((moved, a.limit()), (Some(4), 4));
    }

    #[test]
    fn slower_answers_cut_no_lower_than_four_and_pushback_to_one() {
        let mut a = Adaptive::new(8, 8);
        run(&mut a, Duration::from_millis(50), Outcome::Answered, 3);
        // Each window twice as slow as the one before: a tenth each time, down to 4.
        let mut limits = Vec::new();
        for k in 1..=12u32 {
            limits.extend(run(
                &mut a,
                Duration::from_millis(50) * 2u32.pow(k),
                Outcome::Answered,
                1,
            ));
        }
        assert_eq!(*limits.iter().min().unwrap(), 4, "{limits:?}");
        assert!(limits.windows(2).all(|w| w[1] <= w[0]), "{limits:?}");
        // Pushback is the collector saying so: it goes on to 1.
        let pushed = run(&mut a, Duration::from_millis(50), Outcome::Pushback, 20);
        assert_eq!(*pushed.last().unwrap(), 1, "{pushed:?}");
    }

    #[test]
    fn a_limit_not_reached_is_not_raised() {
        let mut a = Adaptive::new(4, 64);
        for _ in 0..40 {
            a.observe(Duration::from_millis(5), Outcome::Answered, 1, Instant::now());
        }
        assert_eq!(a.limit(), 4);
    }
}
