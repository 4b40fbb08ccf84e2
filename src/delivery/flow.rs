//! A consumer's budget of requests: how many may be in flight at once, how many may start
//! per second, and a pause that every request honours after the collector said "too many".
//!
//! ```text
//!  lane / fan-out thread ──acquire()──► paused? wait ─► token (≤ limit in flight) ─► rate slot
//!        │                                                    ▲
//!        └─ attempt ─► 429 / Throttling ──throttled(wait)─────┤ pause all for a wait the
//!                   │                                         │ collector named
//!                   └─ every answer ────observe(rtt)──────────┘ limit learned per window
//!                                                               (delivery/adaptive.rs)
//! ```
//!
//! Every wait honours the consumer's [`Cancel`]: at a shutdown no new attempt starts. No lock
//! is held while waiting or sending: the state's lock covers a few integer updates.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

use super::adaptive::{Adaptive, Outcome};
use super::circuit::{Admit, Circuit, CircuitState};
use super::condition::Condition;
use super::threads::{ThreadSlot, Threads};
use crate::cancel::Cancel;
use crate::error::Error;
use crate::transport::{Response, RetryPolicy, Verdict};

/// Default for [`Flow::new`]'s ceiling, as the Background consumer uses it: the limit of
/// requests in flight adapts between 1 and this.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 128;

/// Where the limit starts: low, raised as answers come back in their usual time.
const INITIAL_LIMIT: usize = 2;

/// Default first wait before delivering again what failed for a transient reason.
pub const DEFAULT_REDELIVERY_INITIAL: Duration = Duration::from_secs(1);
/// Default longest wait between deliveries of what keeps failing for a transient reason.
pub const DEFAULT_REDELIVERY_MAX: Duration = Duration::from_secs(300);

fn default_redelivery() -> RetryPolicy {
    RetryPolicy::default()
        .initial_backoff(DEFAULT_REDELIVERY_INITIAL)
        .max_backoff(DEFAULT_REDELIVERY_MAX)
}

/// A consumer's shared budget of HTTP requests: at most `max_in_flight` at once, optionally
/// at most `rate` starting per second, and a pause for all of them after a throttling reply
/// (HTTP 429, or AWS's `ThrottlingException`). Cloning shares the budget.
///
/// The transport takes a permit for each attempt (a retry is an attempt), so the limits
/// count what reaches the collector. A [`Flow::new`] limit is fixed but for throttling, which
/// halves it (down to one) until answers raise it back; a [`Flow::adaptive`] one is learned
/// from every answer's time and pushback (throttling included). Lanes and the helpers a
/// batch fans out to take their threads from one budget of `max_in_flight`.
///
/// # Examples
///
/// ```
/// use trackflow::delivery::{Cancel, Flow};
/// let flow = Flow::new(2).rate_limit(Some(1000.0));
/// let cancel = Cancel::default();
/// let a = flow.acquire(&cancel).expect("a permit");
/// let _b = flow.acquire(&cancel).expect("a second permit");
/// assert_eq!(flow.in_flight(), 2);
/// drop(a);
/// assert_eq!(flow.in_flight(), 1);
/// cancel.stop();
/// assert!(flow.acquire(&cancel).is_none(), "nothing new starts once stopped");
/// ```
#[derive(Clone)]
pub struct Flow {
    inner: Arc<Inner>,
}

struct Inner {
    max: usize,
    // Tokens: one per request that may be in flight. Their number follows `State::limit`.
    give: Sender<()>,
    take: Receiver<()>,
    state: Mutex<State>,
    redelivery: Mutex<RetryPolicy>,
    // The threads carrying requests (lanes and their helpers), at most `max` at once.
    threads: Arc<Threads>,
    #[cfg(feature = "metrics")]
    instruments: Arc<crate::observe::metrics::Instruments>,
}

struct State {
    // The limit of requests in flight, learned from the answers (delivery/adaptive.rs).
    adaptive: Adaptive,
    // Tokens in existence: in the channel or held by a request in flight.
    tokens: usize,
    held: usize,
    paused_until: Option<Instant>,
    next_start: Option<Instant>,
    // The shortest time between two starts, from the rate limit.
    spacing: Option<Duration>,
    throttled: u64,
    peak: usize,
    circuit: Circuit,
    condition: Condition,
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.state.lock();
        f.debug_struct("Flow")
            .field("max_in_flight", &self.inner.max)
            .field("limit", &s.adaptive.limit())
            .field("in_flight", &s.held)
            .field("threads", &self.inner.threads.busy())
            .field("spacing", &s.spacing)
            .finish()
    }
}

/// One request's place in a [`Flow`]; given back when dropped.
///
/// # Examples
///
/// ```
/// let flow = trackflow::delivery::Flow::new(1);
/// let p = flow.acquire(&trackflow::delivery::Cancel::default()).unwrap();
/// drop(p);
/// assert_eq!(flow.in_flight(), 0);
/// ```
#[must_use = "the permit is given back when dropped"]
pub struct Permit {
    flow: Arc<Inner>,
    // The one request a half-open circuit lets through.
    probe: bool,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permit")
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut s = self.flow.state.lock();
        s.held -= 1;
        if self.probe {
            // Its outcome, if it had one, was reported before the permit went.
            s.circuit.probe_abandoned();
        }
        // Past a lowered limit the token is retired instead of given back.
        if s.tokens > s.adaptive.limit() {
            s.tokens -= 1;
        } else {
            let _ = self.flow.give.try_send(());
        }
    }
}

impl Flow {
    /// A budget of `max_in_flight` requests at once (at least 1), without a rate limit: a
    /// fixed limit, halved by a throttling reply and raised back by answers.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::delivery::Flow::new(0).max_in_flight(), 1);
    /// assert_eq!(trackflow::delivery::Flow::new(8).limit(), 8);
    /// ```
    pub fn new(max_in_flight: usize) -> Flow {
        let max = max_in_flight.max(1);
        Flow::with(Adaptive::fixed(max))
    }

    /// A budget that finds the collector's limit by itself: it starts at 2 requests in flight
    /// and moves between 1 and `ceiling` as the answers come (see `delivery/adaptive.rs`).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = trackflow::delivery::Flow::adaptive(64);
    /// assert_eq!((f.limit(), f.max_in_flight()), (2, 64));
    /// ```
    pub fn adaptive(ceiling: usize) -> Flow {
        Flow::with(Adaptive::new(INITIAL_LIMIT, ceiling.max(1)))
    }

    fn with(adaptive: Adaptive) -> Flow {
        let (max, limit) = (adaptive.ceiling(), adaptive.limit());
        let (give, take) = bounded(max);
        for _ in 0..limit {
            let _ = give.try_send(());
        }
        Flow {
            inner: Arc::new(Inner {
                max,
                give,
                take,
                state: Mutex::new(State {
                    adaptive,
                    tokens: limit,
                    held: 0,
                    paused_until: None,
                    next_start: None,
                    spacing: None,
                    throttled: 0,
                    peak: 0,
                    circuit: Circuit::new(default_redelivery()),
                    condition: Condition::default(),
                }),
                redelivery: Mutex::new(default_redelivery()),
                threads: Threads::new(max),
                #[cfg(feature = "metrics")]
                instruments: Arc::default(),
            }),
        }
    }

    /// At most `per_second` requests start per second (evenly spaced; `None`, zero, negative
    /// or not finite: no limit). Clones share the setting.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = trackflow::delivery::Flow::new(8).rate_limit(Some(50.0));
    /// assert_eq!(f.rate(), Some(50.0));
    /// ```
    pub fn rate_limit(self, per_second: Option<f64>) -> Flow {
        let spacing = per_second
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| Duration::from_secs_f64((1.0 / r).min(3600.0)));
        self.inner.state.lock().spacing = spacing;
        self
    }

    /// The most requests in flight at once.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::delivery::Flow::new(8).max_in_flight(), 8);
    /// ```
    pub fn max_in_flight(&self) -> usize {
        self.inner.max
    }

    /// A place for one more thread carrying this flow's requests, if its budget (the
    /// ceiling) has one.
    pub(crate) fn thread_slot(&self) -> Option<ThreadSlot> {
        self.inner.threads.slot()
    }

    /// Threads carrying this flow's requests now (lanes busy and their helpers).
    #[cfg(test)]
    pub(crate) fn threads_busy(&self) -> usize {
        self.inner.threads.busy()
    }

    /// The rate limit, in requests per second.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::delivery::Flow::new(8).rate(), None);
    /// ```
    pub fn rate(&self) -> Option<f64> {
        self.inner.state.lock().spacing.map(|s| 1.0 / s.as_secs_f64())
    }

    /// Requests in flight now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::delivery::Flow::new(8).in_flight(), 0);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.inner.state.lock().held
    }

    /// The most requests that were in flight at once so far.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::delivery::Flow::new(8).peak(), 0);
    /// ```
    pub fn peak(&self) -> usize {
        self.inner.state.lock().peak
    }

    /// Throttling replies seen so far.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::delivery::Flow::new(8).throttled_count(), 0);
    /// ```
    pub fn throttled_count(&self) -> u64 {
        self.inner.state.lock().throttled
    }

    /// The requests allowed in flight now, between 1 and `max_in_flight`: learned from the
    /// answers (see `delivery/adaptive.rs`), or fixed and halved by a throttling reply.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = trackflow::delivery::Flow::new(8);
    /// f.throttled(std::time::Duration::ZERO);
    /// assert_eq!(f.limit(), 4);
    /// ```
    pub fn limit(&self) -> usize {
        self.inner.state.lock().adaptive.limit()
    }

    /// The mean response time of the last window of answers, as the limit was learned from.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::delivery::Flow::new(4).rtt(), None);
    /// ```
    pub fn rtt(&self) -> Option<Duration> {
        self.inner.state.lock().adaptive.rtt()
    }

    /// One attempt's answer: how long it took and what it says of the collector's load, with
    /// how many requests were in flight when it started. Moves the limit at each window's end.
    pub(crate) fn observe(&self, rtt: Duration, pushback: bool, in_flight: usize) {
        self.observe_at(rtt, pushback, in_flight, Instant::now());
    }

    /// [`observe`](Self::observe) of an answer come at `now` (tests keep a clock of their
    /// own).
    pub(crate) fn observe_at(&self, rtt: Duration, pushback: bool, in_flight: usize, now: Instant) {
        #[cfg(feature = "metrics")]
        self.inner.instruments.latency(rtt);
        let outcome = if pushback {
            Outcome::Pushback
        } else {
            Outcome::Answered
        };
        let mut s = self.inner.state.lock();
        if s.adaptive.observe(rtt, outcome, in_flight, now).is_some() {
            self.fit_tokens(&mut s);
        }
    }

    /// Brings the tokens in existence to the limit: new ones now, retired ones from the
    /// channel now and from requests in flight as they end.
    fn fit_tokens(&self, s: &mut State) {
        let limit = s.adaptive.limit();
        while s.tokens < limit {
            s.tokens += 1;
            let _ = self.inner.give.try_send(());
        }
        while s.tokens > limit && self.inner.take.try_recv().is_ok() {
            s.tokens -= 1;
        }
    }

    /// Waits for the pause, a place in flight and a start slot; `None` once `cancel` is
    /// stopped (nothing new starts then).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = trackflow::delivery::Flow::new(1);
    /// assert!(f.acquire(&trackflow::delivery::Cancel::default()).is_some());
    /// ```
    pub fn acquire(&self, cancel: &Cancel) -> Option<Permit> {
        let inner = &self.inner;
        loop {
            let paused = inner.state.lock().paused_until;
            match paused.map(|t| t.saturating_duration_since(Instant::now())) {
                Some(wait) if !wait.is_zero() => {
                    if cancel.sleep(wait) {
                        return None;
                    }
                }
                _ => break,
            }
        }
        let probe = self.admitted(cancel)?;
        loop {
            match cancel.wait_to_start(&inner.take, Duration::from_secs(3600)) {
                Ok(Some(())) => break,
                Ok(None) => continue,
                Err(()) => {
                    if probe {
                        inner.state.lock().circuit.probe_abandoned();
                    }
                    return None;
                }
            }
        }
        let start = {
            let mut s = inner.state.lock();
            s.held += 1;
            s.peak = s.peak.max(s.held);
            let spacing = s.spacing;
            spacing.map(|gap| {
                let now = Instant::now();
                let at = s.next_start.map_or(now, |t| t.max(now));
                s.next_start = Some(at + gap);
                at
            })
        };
        let permit = Permit {
            flow: inner.clone(),
            probe,
        };
        if let Some(at) = start {
            // The slot is to_free even if cancelled now: the permit goes back as it drops.
            if cancel.sleep(at.saturating_duration_since(Instant::now())) {
                return None;
            }
        }
        Some(permit)
    }

    /// How long lanes wait before delivering again what failed for a transient reason, and
    /// how long an open circuit stays open: `policy`'s backoff (its retry count is not used).
    /// Defaults to 1 s doubling to 5 min, jittered.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::transport::RetryPolicy;
    /// use trackflow::delivery::Flow;
    /// let f = Flow::new(4).redelivery(RetryPolicy::default().initial_backoff(Duration::from_millis(10)));
    /// assert_eq!(f.circuit(), trackflow::delivery::CircuitState::Closed);
    /// ```
    pub fn redelivery(self, policy: RetryPolicy) -> Flow {
        self.inner.state.lock().circuit = Circuit::new(policy.clone());
        *self.inner.redelivery.lock() = policy;
        self
    }

    /// Waits until the circuit lets a request start; `Some(true)` for the one probe of a
    /// half-open circuit, `None` when cancelled first.
    fn admitted(&self, cancel: &Cancel) -> Option<bool> {
        loop {
            let admit = self.inner.state.lock().circuit.admit(Instant::now());
            match admit {
                Admit::Go => return Some(false),
                Admit::Probe => return Some(true),
                Admit::Wait(w) => {
                    if cancel.sleep(w) {
                        return None;
                    }
                }
            }
        }
    }

    /// An attempt failed for a transient reason (no answer, a timeout, 408, 5xx): enough of
    /// them in a row open the circuit.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = trackflow::delivery::Flow::new(2);
    /// for _ in 0..5 {
    ///     f.failed();
    /// }
    /// assert_eq!(f.circuit(), trackflow::delivery::CircuitState::Open);
    /// f.answered();
    /// assert_eq!(f.circuit(), trackflow::delivery::CircuitState::Closed);
    /// ```
    pub fn failed(&self) {
        self.inner.state.lock().circuit.failed(Instant::now());
    }

    /// An attempt got an answer (whatever its status): the circuit closes.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = trackflow::delivery::Flow::new(2);
    /// f.answered();
    /// assert_eq!(f.circuit(), trackflow::delivery::CircuitState::Closed);
    /// ```
    pub fn answered(&self) {
        self.inner.state.lock().circuit.answered();
    }

    /// Tells the circuit what an attempt came to: an answer of any kind closes it, a
    /// transient failure without one (a reset, a timeout) counts towards opening it, and a
    /// cancelled or throttled attempt says nothing of the collector's health.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::delivery::{CircuitState, Flow};
    /// use trackflow::transport::Verdict;
    /// let f = Flow::new(2);
    /// for _ in 0..5 {
    ///     f.learn(&Verdict::Retry { error: trackflow::Error::Transport("reset".into()), after: None }, None);
    /// }
    /// assert_eq!(f.circuit(), CircuitState::Open);
    /// ```
    pub fn learn(&self, verdict: &Verdict, response: Option<&Response>) {
        let throttled = crate::transport::retry::is_throttled(verdict, response);
        let mut s = self.inner.state.lock();
        match verdict {
            Verdict::Permanent(Error::Cancelled) => {}
            Verdict::Retry { .. } if throttled => {
                s.condition.throttled();
                s.circuit.answered();
            }
            Verdict::Retry { error, .. } => {
                s.condition.transient(error);
                s.circuit.failed(Instant::now());
            }
            Verdict::Permanent(error) => {
                s.condition.refused(error);
                if response.is_some() {
                    s.circuit.answered();
                }
            }
            Verdict::Success => {
                s.condition.succeeded();
                s.circuit.answered();
            }
        }
    }

    /// The consumer's histograms (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub(crate) fn instruments(&self) -> &Arc<crate::observe::metrics::Instruments> {
        &self.inner.instruments
    }

    /// What the requests have lately come to, for a health verdict.
    pub(crate) fn condition(&self) -> Condition {
        self.inner.state.lock().condition.clone()
    }

    /// The circuit's state now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::delivery::Flow::new(1).circuit(), trackflow::delivery::CircuitState::Closed);
    /// ```
    pub fn circuit(&self) -> CircuitState {
        self.inner.state.lock().circuit.state(Instant::now())
    }

    /// How long the circuit has been open (or half open), if it is.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::delivery::Flow::new(1).open_for(), None);
    /// ```
    pub fn open_for(&self) -> Option<Duration> {
        self.inner.state.lock().circuit.open_since().map(|t| t.elapsed())
    }

    /// Waits before delivery attempt `attempt` (0-based) of events that failed for a
    /// transient reason: the redelivery backoff, cut short when the circuit closes after
    /// being open (another request got through). Returns true when cancelled.
    pub(crate) fn wait_redelivery(&self, attempt: u32, cancel: &Cancel) -> bool {
        let until = Instant::now() + self.inner.redelivery.lock().backoff(attempt);
        let seen = self.inner.state.lock().circuit.recoveries();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if cancel.sleep(left.min(Duration::from_millis(100))) {
                return true;
            }
            if self.inner.state.lock().circuit.recoveries() != seen {
                return false;
            }
        }
    }

    /// The collector asked to slow down: every request waits `wait` (the wait the collector
    /// named, zero if none) before its next start. A fixed limit halves (down to one); an
    /// adaptive one learns of it from the answer itself, a pushback that cuts it by a tenth
    /// at once and not again for the answers already on their way, so a quota is followed
    /// closely rather than undershot by half.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let f = trackflow::delivery::Flow::new(2);
    /// f.throttled(Duration::from_millis(1));
    /// assert_eq!((f.limit(), f.throttled_count()), (1, 1));
    /// ```
    pub fn throttled(&self, wait: Duration) {
        let mut s = self.inner.state.lock();
        s.throttled += 1;
        if !wait.is_zero() {
            let until = Instant::now() + wait;
            s.paused_until = Some(s.paused_until.map_or(until, |t| t.max(until)));
        }
        // An adaptive limit learns of it from the answer (a pushback: a tenth fewer at the
        // window's end); a fixed one is halved at once.
        if s.adaptive.is_fixed() {
            let half = s.adaptive.limit() / 2;
            s.adaptive.set_limit(half);
            self.fit_tokens(&mut s);
        }
    }

    /// A request succeeded: the circuit closes. (The limit learns from every answer's
    /// response time, measured around each admitted attempt.)
    ///
    /// # Examples
    ///
    /// ```
    /// let f = trackflow::delivery::Flow::new(2);
    /// f.succeeded();
    /// assert_eq!(f.circuit(), trackflow::delivery::CircuitState::Closed);
    /// ```
    pub fn succeeded(&self) {
        self.inner.state.lock().circuit.answered();
    }

    /// Whether the collector answers as asked: the circuit closed, no request failing, no
    /// throttling in the last second and no pause asked for (see `Overflow::Spill`).
    pub(crate) fn answering(&self) -> bool {
        let now = Instant::now();
        let s = self.inner.state.lock();
        s.circuit.state(now) == CircuitState::Closed
            && s.condition.failing_since.is_none()
            && !s.condition.throttled_within(Duration::from_secs(1))
            && s.paused_until.is_none_or(|t| t <= now)
    }

    /// Requests in flight now, for an answer's record of the load it met.
    pub(crate) fn held(&self) -> usize {
        self.inner.state.lock().held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answering_until_a_failure_a_pause_or_an_open_circuit_and_again_after_a_success() {
        let flow = Flow::adaptive(8);
        assert!(flow.answering());
        let failure = || Verdict::Retry {
            error: Error::Timeout(Duration::from_secs(1)),
            after: None,
        };
        flow.learn(&failure(), None);
        assert!(!flow.answering(), "a request failing");
        flow.learn(&Verdict::Success, None);
        assert!(flow.answering(), "a success ends the failing run");
        flow.throttled(Duration::from_millis(200));
        assert!(!flow.answering(), "a pause the collector asked for");
        let fresh = Flow::adaptive(8);
        for _ in 0..20 {
            fresh.failed();
        }
        assert_ne!(fresh.circuit(), CircuitState::Closed);
        assert!(!fresh.answering(), "an open circuit");
    }

    #[test]
    fn never_more_in_flight_than_the_limit() {
        let flow = Flow::new(3);
        let cancel = Cancel::default();
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let (flow, cancel) = (flow.clone(), cancel.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let p = flow.acquire(&cancel).unwrap();
                        assert!(flow.in_flight() <= 3);
                        std::thread::yield_now();
                        drop(p);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(flow.peak() <= 3);
        assert_eq!(flow.in_flight(), 0);
    }

    /// Answers in their usual time with the limit reached, as many a second as are in
    /// flight (on a clock of its own): the limit grows per window (each spans at least one
    /// response time, longer than the shortest window).
    fn steady(flow: &Flow, windows: usize) {
        let rtt = Duration::from_millis(60);
        let mut now = Instant::now();
        for _ in 0..windows {
            let limit = flow.limit();
            for _ in 0..limit.max(crate::delivery::adaptive::MIN_WINDOW) {
                now += rtt / limit as u32;
                flow.observe_at(rtt, false, limit, now);
            }
        }
    }

    #[test]
    fn throttling_halves_a_fixed_limit_and_steady_answers_raise_it_back() {
        let flow = Flow::new(8);
        let cancel = Cancel::default();
        let held: Vec<_> = (0..8).map(|_| flow.acquire(&cancel).unwrap()).collect();
        flow.throttled(Duration::ZERO);
        flow.throttled(Duration::ZERO);
        assert_eq!(flow.limit(), 2);
        drop(held);
        let two: Vec<_> = (0..2).map(|_| flow.acquire(&cancel).unwrap()).collect();
        let c = cancel.with_deadline(Instant::now() + Duration::from_millis(50));
        assert!(flow.acquire(&c).is_none(), "a third is over the lowered limit");
        drop(two);
        steady(&flow, 10);
        assert_eq!(flow.limit(), 8);
        let all: Vec<_> = (0..8).map(|_| flow.acquire(&cancel).unwrap()).collect();
        assert_eq!(all.len(), 8);
    }

    #[test]
    fn throttled_answers_cut_an_adaptive_limit_by_a_tenth_at_once_and_once_per_window() {
        let flow = Flow::adaptive(40);
        assert_eq!(flow.limit(), INITIAL_LIMIT);
        steady(&flow, 10);
        assert_eq!(flow.limit(), 40);
        // The first throttled answer cuts at once; the answers to requests that started
        // before the cut do not cut again; one after them does.
        let throttled = |n: usize| {
            for _ in 0..n {
                flow.throttled(Duration::ZERO);
                flow.observe(Duration::from_millis(1), true, 40);
            }
        };
        throttled(1);
        assert_eq!(flow.limit(), 36);
        throttled(36);
        assert_eq!((flow.limit(), flow.throttled_count()), (36, 37));
        throttled(1);
        assert_eq!(flow.limit(), 32);
        // Without a wait named by the collector, nothing pauses.
        let t = Instant::now();
        drop(flow.acquire(&Cancel::default()).unwrap());
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_pause_holds_every_start() {
        let flow = Flow::new(4);
        flow.throttled(Duration::from_millis(80));
        let t = Instant::now();
        drop(flow.acquire(&Cancel::default()).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(80));
    }

    #[test]
    fn the_rate_limit_spaces_starts() {
        let flow = Flow::new(4).rate_limit(Some(100.0));
        let cancel = Cancel::default();
        let t = Instant::now();
        for _ in 0..11 {
            drop(flow.acquire(&cancel).unwrap());
        }
        // Ten gaps of 10 ms.
        assert!(t.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn odd_rates_mean_no_limit() {
        for r in [Some(0.0), Some(-1.0), Some(f64::NAN), Some(f64::INFINITY), None] {
            assert_eq!(Flow::new(1).rate_limit(r).rate(), None);
        }
    }
}
