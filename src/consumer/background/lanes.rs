//! The worker's delivery lanes: threads that each carry one batch at a time to the backend,
//! so that up to `max_in_flight` batches are on their way while the worker fills the next.
//!
//! ```text
//!  worker ──Job{seq, batch}──► lane: deliver ─► each request's events acknowledged as it ends
//!    ▲                               │  ▲
//!    │                               │  └─ transient failure: wait (backoff, circuit) and
//!    │                               │     deliver again what is still pending
//!    └──────────Done{seq, batch}◄────┘  every event delivered or refused for good, or the
//!                                       shutdown deadline stopped it (the rest is pending)
//! ```
//!
//! A lane keeps its batch until each event in it is delivered or refused for good: a
//! transient failure (no answer, a timeout, 408, 429, 5xx, credentials unavailable) is not a
//! failure, it is a wait. While lanes wait, the worker takes no new batch, the memory queue
//! fills and producers spill to disk: the outage's backlog sits in the store, in order.
//! Lanes start on demand, up to the width, and end when the worker drops its sender. A lane
//! that cannot start leaves its batch to the worker's own thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crossbeam_channel::{unbounded, Receiver, Sender};

use super::flight::{InFlight, LiveAcks};
use super::shared::Shared;
use crate::delivery::{Cancel, DeliveryCtx, Flow, ThreadSlot, Turns};
use crate::delivery::{Delivery, Failure};
use crate::error::Error;
use crate::event::Event;

/// A batch on its way to a lane.
pub(super) struct Job {
    pub(super) seq: u64,
    pub(super) flight: Arc<InFlight>,
}

/// A job and its place in the flow's thread budget, given back when the lane is done.
struct Carried {
    job: Job,
    slot: Option<ThreadSlot>,
}

/// A batch back from a lane: settled, or stopped by the shutdown deadline with events
/// still pending.
pub(super) struct Done {
    pub(super) seq: u64,
    pub(super) flight: Arc<InFlight>,
}

/// What every lane delivers with.
#[derive(Clone)]
pub(super) struct Runner {
    shared: Arc<Shared>,
    cancel: Cancel,
    pub(super) flow: Flow,
    /// Batch order, for backends that start batches in turn (`DeliveryCtx::in_order`).
    pub(super) turns: Arc<Turns>,
}

pub(super) struct Lanes {
    pub(super) runner: Runner,
    width: usize,
    jobs: Option<Sender<Carried>>,
    jobs_rx: Receiver<Carried>,
    // The thread budget's slot for the next job, taken when `is_full` said there was room.
    slot: Option<ThreadSlot>,
    done_tx: Sender<Done>,
    pub(super) done: Receiver<Done>,
    threads: usize,
    // Jobs sent whose Done has not been received, and the events they carry.
    pub(super) running: usize,
    events: usize,
    // The most events out on lanes at once: memory stays bounded whatever the limit.
    max_events: usize,
}

impl Lanes {
    pub(super) fn new(shared: Arc<Shared>, cancel: Cancel, flow: Flow, max_events: usize) -> Lanes {
        let (jobs, jobs_rx) = unbounded();
        let (done_tx, done) = unbounded();
        Lanes {
            width: flow.max_in_flight(),
            runner: Runner {
                shared,
                cancel,
                flow,
                turns: Arc::default(),
            },
            jobs: Some(jobs),
            jobs_rx,
            slot: None,
            done_tx,
            done,
            threads: 0,
            running: 0,
            events: 0,
            max_events,
        }
    }

    /// Whether no lane may take a batch now: as many run as the flow's limit of requests in
    /// flight (each carries at least one), they carry the most events allowed out at once,
    /// or the thread budget is spent by their helpers. One lane may always run.
    pub(super) fn is_full(&mut self) -> bool {
        if self.slot.is_some() || self.running == 0 {
            return false;
        }
        let flow = &self.runner.flow;
        if self.running >= self.width.min(flow.limit()) || self.events >= self.max_events {
            return true;
        }
        self.slot = flow.thread_slot();
        self.slot.is_none()
    }

    /// Hands a batch to an idle lane, starting one if none is idle. Where no lane can start,
    /// delivers it here and returns it at once.
    pub(super) fn start(&mut self, job: Job) -> Option<Done> {
        let slot = self.slot.take().or_else(|| self.runner.flow.thread_slot());
        // Where lanes exist but none could start, the job waits for one of them.
        if self.running >= self.threads && !self.spawn() && self.threads == 0 {
            return Some(self.runner.run(job));
        }
        let jobs = self.jobs.as_ref()?;
        let events = job.flight.events.len();
        match jobs.send(Carried { job, slot }) {
            Ok(()) => {
                self.running += 1;
                self.events += events;
                None
            }
            // The receiving end is ours: cannot happen, but the batch must not vanish.
            Err(e) => Some(self.runner.run(e.into_inner().job)),
        }
    }

    /// Takes one finished batch back.
    pub(super) fn received(&mut self, done: &Done) {
        self.running = self.running.saturating_sub(1);
        self.events = self.events.saturating_sub(done.flight.events.len());
    }

    fn spawn(&mut self) -> bool {
        let runner = self.runner.clone();
        let (jobs, done) = (self.jobs_rx.clone(), self.done_tx.clone());
        let started = std::thread::Builder::new()
            .name("trackflow-lane".into())
            .spawn(move || {
                for carried in jobs {
                    let finished = runner.run(carried.job);
                    // The slot goes back before the worker hears the lane is free.
                    drop(carried.slot);
                    if done.send(finished).is_err() {
                        return;
                    }
                }
            });
        match started {
            Ok(_) => {
                self.threads += 1;
                true
            }
            Err(e) => {
                log::warn!("trackflow: could not start a delivery lane ({e})");
                false
            }
        }
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        // Lanes end when the jobs channel closes.
        self.jobs.take();
    }
}

/// Whether the store keeps events a request could not deliver, to deliver them again:
/// transient failures and a shutdown's cancellation; everything else is a refusal for good.
fn keeps(e: &Error) -> bool {
    e.is_transient() || matches!(e, Error::Cancelled | Error::Io(_) | Error::WorkerGone)
}

impl Runner {
    /// Delivers one batch until every event in it is delivered or refused for good, waiting
    /// between deliveries of what failed for a transient reason; stops early only when the
    /// consumer is cancelled (a shutdown deadline), leaving the rest pending. The batch's
    /// turn passes after its first delivery, so the batches after it never wait on it.
    fn run(&self, job: Job) -> Done {
        let flight = &job.flight;
        let mut attempt = 0;
        let mut turn_passed = false;
        loop {
            // The first delivery takes the whole batch; later ones what is still pending.
            let pending = if turn_passed { flight.pending() } else { Vec::new() };
            if turn_passed && (pending.is_empty() || self.cancel.is_cancelled()) {
                break;
            }
            let again = self.deliver(flight, &pending, job.seq);
            if !turn_passed {
                self.turns.pass(job.seq);
                turn_passed = true;
            }
            if !again || self.cancel.is_cancelled() {
                break;
            }
            if attempt == 0 {
                log::warn!(
                    "trackflow: the {} backend could not take {} events for now; they stay queued and are sent again",
                    self.shared.backend.name(),
                    flight.pending().len()
                );
            }
            if self.flow.wait_redelivery(attempt, &self.cancel) {
                break;
            }
            attempt = attempt.saturating_add(1);
        }
        if !turn_passed {
            self.turns.pass(job.seq);
        }
        Done {
            seq: job.seq,
            flight: job.flight,
        }
    }

    /// Delivers the events at `pending` (empty: the whole batch), returning whether some
    /// stay pending for a transient reason.
    fn deliver(&self, flight: &InFlight, pending: &[usize], seq: u64) -> bool {
        let whole = pending.is_empty() || pending.len() == flight.events.len();
        let part: Vec<Event>;
        let (events, map) = if whole {
            (&flight.events[..], None)
        } else {
            part = pending.iter().map(|&i| flight.events[i].clone()).collect();
            (&part[..], Some(pending))
        };
        let reporter = &self.shared.reporter;
        let acks = LiveAcks {
            flight,
            map,
            reporter,
        };
        let ctx = DeliveryCtx::new(&self.cancel)
            .with_flow(&self.flow)
            .with_turn(&self.turns, seq)
            .with_acks(&acks);
        let backend = &self.shared.backend;
        let delivery = catch_unwind(AssertUnwindSafe(|| {
            crate::consumer::deliver_split(&**backend, events, &ctx)
        }));
        let delivery = match delivery {
            Ok(d) => d,
            Err(_) => {
                // A bug, not an outage: sending the same events again would panic again.
                log::error!(
                    "trackflow: the {} backend panicked delivering {} events",
                    backend.name(),
                    events.len()
                );
                let error = Error::Panicked {
                    backend: backend.name(),
                };
                self.refuse(flight, map, &error, 0..events.len());
                return false;
            }
        };
        self.settle(flight, map, events.len(), delivery)
    }

    /// Counts what a delivery came to: refusals for good to the dead letters, what no
    /// failure names as delivered; returns whether something stays for a transient reason.
    fn settle(&self, flight: &InFlight, map: Option<&[usize]>, n: usize, d: Delivery) -> bool {
        let stats = &self.shared.reporter.stats;
        stats.add_retried(u64::from(d.retries));
        let mut failed = vec![false; n];
        let mut again = false;
        for Failure { error, events } in d.failures {
            let events: Vec<usize> = events.into_iter().filter(|&i| i < n).collect();
            for &i in &events {
                failed[i] = true;
            }
            if keeps(&error) {
                again = true;
                log::debug!(
                    "trackflow: {} events wait to be sent again: {error}",
                    events.len()
                );
            } else {
                self.refuse(flight, map, &error, events);
            }
        }
        let to_batch = |i: usize| map.map_or(Some(i), |m| m.get(i).copied());
        let ok = (0..n).filter(|&i| !failed[i]).filter_map(to_batch);
        flight.acknowledge(ok, &self.shared.reporter);
        again
    }

    /// Refuses the events at `events` (indices into the part delivered) for good: counted
    /// failed, to the dead letters and the error callback.
    fn refuse(
        &self,
        flight: &InFlight,
        map: Option<&[usize]>,
        error: &Error,
        events: impl IntoIterator<Item = usize>,
    ) {
        let dead: Vec<Event> = events
            .into_iter()
            .filter_map(|i| map.map_or(Some(i), |m| m.get(i).copied()))
            .filter(|&b| flight.dead(b))
            .map(|b| flight.events[b].clone())
            .collect();
        self.shared.reporter.failed(error, &dead);
    }
}
