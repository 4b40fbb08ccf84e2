//! What a backend is given to deliver one batch ([`DeliveryCtx`]): the shutdown's cancel,
//! the consumer's request budget, its turn among the batches in flight, and where each
//! request's events are acknowledged as it completes.

use std::fmt;

use super::{Delivery, Flow, Turns};
use crate::cancel::Cancel;
use crate::error::Result;
use crate::transport::{Attempt, Pacing};

/// How a delivery should be carried out; passed from the consumer through the backend to the
/// transport.
///
/// # Examples
///
/// ```
/// use trackflow::delivery::{Cancel, DeliveryCtx, Flow};
/// let cancel = Cancel::default();
/// let flow = Flow::new(4);
/// let ctx = DeliveryCtx::new(&cancel).with_flow(&flow);
/// // Independent requests of one batch go out side by side, within the flow's budget.
/// let squares = ctx.fan_out(10, |i| i * i);
/// assert_eq!(squares[9], 81);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DeliveryCtx<'a> {
    /// Cancelled when a shutdown deadline passes: retries stop.
    pub cancel: &'a Cancel,
    /// Log each request (method, URL with secrets masked, headers, body) at `info`.
    pub debug: bool,
    /// Build and log requests but do not send them; each counts as delivered.
    pub dry_run: bool,
    /// The consumer's request budget (in flight, rate, throttling pause); `None`: one
    /// request at a time, unlimited.
    pub flow: Option<&'a Flow>,
    /// This batch's turn among those handed out, for [`in_order`](Self::in_order).
    turn: Option<(&'a Turns, u64)>,
    /// Where each request's delivered events are acknowledged as it completes.
    acks: Option<&'a dyn Acks>,
}

/// Takes the acknowledgement of events as each request that carried them succeeds, so the
/// store lets them go at once (indices into the batch given to the backend).
pub(crate) trait Acks: Sync + fmt::Debug {
    fn delivered(&self, events: &[usize]);
}

/// Acknowledges into a larger batch: index `i` of the part is `map[i]` of the whole.
#[derive(Debug)]
pub(crate) struct Remap<'a> {
    pub(crate) map: &'a [usize],
    pub(crate) inner: &'a dyn Acks,
}

impl Acks for Remap<'_> {
    fn delivered(&self, events: &[usize]) {
        let whole: Vec<usize> = events.iter().filter_map(|&i| self.map.get(i).copied()).collect();
        self.inner.delivered(&whole);
    }
}

impl<'a> DeliveryCtx<'a> {
    /// A context that sends for real, without logging, one request at a time.
    ///
    /// # Examples
    ///
    /// ```
    /// let cancel = trackflow::delivery::Cancel::default();
    /// let ctx = trackflow::delivery::DeliveryCtx::new(&cancel);
    /// assert!(!ctx.debug && !ctx.dry_run && ctx.flow.is_none());
    /// ```
    pub fn new(cancel: &'a Cancel) -> Self {
        DeliveryCtx {
            cancel,
            debug: false,
            dry_run: false,
            flow: None,
            turn: None,
            acks: None,
        }
    }

    /// Acknowledges each request's delivered events to `acks` as it completes.
    pub(crate) fn with_acks(mut self, acks: &'a dyn Acks) -> Self {
        self.acks = Some(acks);
        self
    }

    /// This context for a part of the batch whose index `i` is index `map[i]` of the whole:
    /// acknowledgements are translated through `remap`, built over `map` (see [`Remap`]).
    pub(crate) fn for_part<'b>(&self, remap: &'b Option<Remap<'b>>) -> DeliveryCtx<'b>
    where
        'a: 'b,
    {
        DeliveryCtx {
            cancel: self.cancel,
            debug: self.debug,
            dry_run: self.dry_run,
            flow: self.flow,
            turn: self.turn,
            acks: remap.as_ref().map(|r| r as &dyn Acks),
        }
    }

    /// A [`Remap`] of this context's acknowledgements for the part at `map`, if it has any.
    pub(crate) fn remap<'b>(&self, map: &'b [usize]) -> Option<Remap<'b>>
    where
        'a: 'b,
    {
        self.acks.map(|inner| Remap { map, inner })
    }

    /// Records the outcome of one request carrying the events at `events` (indices into the
    /// batch), as [`Delivery::record`] does, and acknowledges them
    /// to the consumer's store at once when it succeeded: the store lets them go and counts
    /// them delivered without waiting for the rest of the batch. Backends that make several
    /// requests per batch call this for each.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{delivery::{Cancel, DeliveryCtx}, delivery::Delivery, Error};
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let mut d = Delivery::default();
    /// ctx.record(&mut d, Ok(()), 0, &[0, 1]);
    /// ctx.record(&mut d, Err(Error::Transport("reset".into())), 3, &[2]);
    /// assert_eq!((d.failed(), d.retries), (1, 3));
    /// ```
    pub fn record(&self, d: &mut Delivery, result: Result<()>, retries: u32, events: &[usize]) {
        if let (Ok(()), Some(acks)) = (&result, self.acks) {
            acks.delivered(events);
        }
        d.record(result, retries, || events.to_vec());
    }

    /// Gives this batch turn `seq` among the batches handed out.
    pub(crate) fn with_turn(mut self, turns: &'a Turns, seq: u64) -> Self {
        self.turn = Some((turns, seq));
        self
    }

    /// Runs `f` once every batch handed out before this one has run its `in_order` part
    /// (or finished), then lets the next one go. For a backend whose requests must *start*
    /// in the order its batches were handed out while they *finish* side by side: Kafka
    /// gives the producer each batch's messages in turn, then waits for the broker with the
    /// other batches in flight. Outside the Background consumer's lanes it runs `f` at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let cancel = trackflow::delivery::Cancel::default();
    /// let ctx = trackflow::delivery::DeliveryCtx::new(&cancel);
    /// assert_eq!(ctx.in_order(|| 7), 7);
    /// ```
    pub fn in_order<T>(&self, f: impl FnOnce() -> T) -> T {
        let Some((turns, seq)) = self.turn else {
            return f();
        };
        turns.wait(seq, self.cancel);
        let out = f();
        turns.pass(seq);
        out
    }

    /// Logs each request at `info` (secrets masked).
    ///
    /// # Examples
    ///
    /// ```
    /// let cancel = trackflow::delivery::Cancel::default();
    /// assert!(trackflow::delivery::DeliveryCtx::new(&cancel).debug(true).debug);
    /// ```
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// Builds requests without sending them.
    ///
    /// # Examples
    ///
    /// ```
    /// let cancel = trackflow::delivery::Cancel::default();
    /// assert!(trackflow::delivery::DeliveryCtx::new(&cancel).dry_run(true).dry_run);
    /// ```
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// Sends within `flow`'s budget, and lets [`fan_out`](Self::fan_out) use it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::delivery::{Cancel, DeliveryCtx, Flow};
    /// let (cancel, flow) = (Cancel::default(), Flow::new(2));
    /// assert!(DeliveryCtx::new(&cancel).with_flow(&flow).flow.is_some());
    /// ```
    pub fn with_flow(mut self, flow: &'a Flow) -> Self {
        self.flow = Some(flow);
        self
    }

    /// Runs `job(0..n)` side by side, as many at once as the flow's limit of requests in
    /// flight allows now (one at a time without a flow), and returns the results in index
    /// order. For the independent requests of one batch: helper threads join as the limit
    /// grows, each taking a place in the flow's thread budget (its ceiling, shared with the
    /// consumer's lanes); the flow still bounds the requests themselves.
    ///
    /// # Examples
    ///
    /// ```
    /// let cancel = trackflow::delivery::Cancel::default();
    /// let ctx = trackflow::delivery::DeliveryCtx::new(&cancel);
    /// assert_eq!(ctx.fan_out(3, |i| i + 1), vec![1, 2, 3]);
    /// ```
    pub fn fan_out<T: Send>(&self, n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
        match self.flow {
            Some(flow) if n > 1 => super::fan::run(flow, n, &job),
            _ => (0..n).map(job).collect(),
        }
    }

    /// As [`fan_out`](Self::fan_out), for jobs that each send requests and record them with
    /// [`record`](Self::record) into the `Delivery` they are given: the jobs' deliveries,
    /// merged. The form every backend with several requests per batch uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::delivery::{Cancel, DeliveryCtx};
    /// let cancel = Cancel::default();
    /// let ctx = DeliveryCtx::new(&cancel);
    /// let d = ctx.deliver_each(3, |i, d| {
    ///     let r = if i == 1 { Err(trackflow::Error::invalid("x", "refused")) } else { Ok(()) };
    ///     ctx.record(d, r, 0, &[i]);
    /// });
    /// assert_eq!(d.failed(), 1);
    /// ```
    pub fn deliver_each(&self, n: usize, job: impl Fn(usize, &mut Delivery) + Sync) -> Delivery {
        let mut d = Delivery::default();
        for one in self.fan_out(n, |i| {
            let mut one = Delivery::default();
            job(i, &mut one);
            one
        }) {
            d.merge(one);
        }
        d
    }
}

// The transport paces each request of a delivery by the consumer's flow: an attempt waits
// for a permit, and tells the flow's circuit what it came to before letting the permit go.
/// What an attempt says of the collector's load: `Some(true)` pushed back (throttled, no
/// answer in time, a reset, a 5xx or 408), `Some(false)` answered in its own time, `None`
/// nothing (cancelled).
fn load_signal(done: &crate::transport::Attempt) -> Option<bool> {
    use crate::transport::Verdict;
    match &done.verdict {
        Verdict::Permanent(crate::Error::Cancelled) => None,
        Verdict::Retry { .. } => Some(true),
        _ => Some(done.is_throttled()),
    }
}

impl Pacing for DeliveryCtx<'_> {
    fn cancel(&self) -> &Cancel {
        self.cancel
    }

    fn debug(&self) -> bool {
        self.debug
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }

    fn admit(&self, attempt: &mut dyn FnMut() -> Attempt) -> Option<Attempt> {
        let Some(flow) = self.flow else {
            return Some(attempt());
        };
        let permit = flow.acquire(self.cancel)?;
        let (load, started) = (flow.held(), std::time::Instant::now());
        let done = attempt();
        // Before the permit goes, so that a probe's outcome is the one the circuit sees.
        flow.learn(&done.verdict, done.response.as_ref());
        if let Some(pushback) = load_signal(&done) {
            flow.observe(started.elapsed(), pushback, load);
        }
        if done.is_throttled() {
            // A refusal comes back at once: let go of its place at once and the next request
            // meets the same quota, and the next, a storm of refusals. Held for the time an
            // answer usually takes, the place sends at the rate the limit means.
            let usual = flow.rtt().unwrap_or_default();
            self.cancel.sleep(usual.saturating_sub(started.elapsed()));
        }
        drop(permit);
        Some(done)
    }

    fn throttled(&self, wait: std::time::Duration) {
        if let Some(flow) = self.flow {
            flow.throttled(wait);
        }
    }
}
