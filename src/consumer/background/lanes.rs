//! The worker's delivery lanes: threads that each carry one batch at a time to the backend,
//! so that up to `max_in_flight` batches are on their way while the worker fills the next.
//!
//! ```text
//!  worker ──Job{seq, batch}──► [ lane 1 … lane n ] ──Backend::deliver (Flow: permits, rate)──►
//!    ▲                                  │
//!    └──────────Done{seq, batch, delivery}◄┘  the worker reports, frees, and acknowledges
//!                                            the disk queue over the finished prefix
//! ```
//!
//! Lanes start on demand, up to the width, and end when the worker drops its sender. A lane
//! that cannot start leaves its batch to the worker's own thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crossbeam_channel::{unbounded, Receiver, Sender};

use super::Shared;
use crate::backend::{Delivery, Failure};
use crate::error::Error;
use crate::event::Event;
use crate::transport::{Cancel, DeliveryCtx, Flow, Turns};

/// A batch on its way to a lane.
pub(super) struct Job {
    pub(super) seq: u64,
    pub(super) batch: Vec<Event>,
    pub(super) weights: Vec<usize>,
}

/// A batch back from a lane, with its outcome.
pub(super) struct Done {
    pub(super) seq: u64,
    pub(super) batch: Vec<Event>,
    pub(super) weights: Vec<usize>,
    pub(super) delivery: Delivery,
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
    jobs: Option<Sender<Job>>,
    jobs_rx: Receiver<Job>,
    done_tx: Sender<Done>,
    pub(super) done: Receiver<Done>,
    threads: usize,
    // Jobs sent whose Done has not been received.
    pub(super) running: usize,
}

impl Lanes {
    pub(super) fn new(shared: Arc<Shared>, cancel: Cancel, flow: Flow) -> Lanes {
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
            done_tx,
            done,
            threads: 0,
            running: 0,
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.running >= self.width
    }

    /// Hands a batch to an idle lane, starting one if none is idle. Where no lane can start,
    /// delivers it here and returns its outcome at once.
    pub(super) fn start(&mut self, job: Job) -> Option<Done> {
        // Where lanes exist but none could start, the job waits for one of them.
        if self.running >= self.threads && !self.spawn() && self.threads == 0 {
            return Some(self.runner.run(job));
        }
        let jobs = self.jobs.as_ref()?;
        match jobs.send(job) {
            Ok(()) => {
                self.running += 1;
                None
            }
            // The receiving end is ours: cannot happen, but the batch must not vanish.
            Err(e) => Some(self.runner.run(e.into_inner())),
        }
    }

    /// Takes one finished batch back.
    pub(super) fn received(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    fn spawn(&mut self) -> bool {
        let runner = self.runner.clone();
        let (jobs, done) = (self.jobs_rx.clone(), self.done_tx.clone());
        let started = std::thread::Builder::new()
            .name("trackflow-lane".into())
            .spawn(move || {
                for job in jobs {
                    if done.send(runner.run(job)).is_err() {
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

impl Runner {
    /// Delivers one batch; a panicking backend fails the batch instead of killing the lane.
    /// Either way the batch's turn passes, so the batches after it never wait on it.
    fn run(&self, job: Job) -> Done {
        let ctx = DeliveryCtx::new(&self.cancel)
            .with_flow(&self.flow)
            .with_turn(&self.turns, job.seq);
        let backend = &self.shared.backend;
        let batch = &job.batch;
        let delivery = catch_unwind(AssertUnwindSafe(|| {
            crate::consumer::deliver_split(&**backend, batch, &ctx)
        }))
        .unwrap_or_else(|_| {
            log::error!(
                "trackflow: the {} backend panicked delivering {} events",
                backend.name(),
                batch.len()
            );
            Delivery {
                retries: 0,
                failures: vec![Failure {
                    error: Error::Transport(format!("the {} backend panicked", backend.name()).into()),
                    events: (0..batch.len()).collect(),
                }],
            }
        });
        self.turns.pass(job.seq);
        Done {
            seq: job.seq,
            batch: job.batch,
            weights: job.weights,
            delivery,
        }
    }
}
