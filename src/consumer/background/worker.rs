//! The Background consumer's worker thread: a loop over the memory queue, the disk queue
//! and a control channel.
//!
//! ```text
//!            ┌ memory queue ─┐  (first: what is in memory is older, per producer, than what
//!  sources ──┤               ├─► batch ─► Backend::deliver ─► report ─► ack the disk queue
//!            └ disk queue ───┘   it spilled after; an earlier process's records any time)
//!  control: Flush(reply) │ Wake (spilling began) │ Shutdown
//! ```
//!
//! Every event taken from a queue is settled here (delivered, or failed into the spool and
//! the callback) before the worker takes the next, and before it exits. The worker never
//! waits on the network without the consumer's `Cancel`: at a shutdown deadline the request
//! in flight is abandoned, its batch spooled, and what is still queued failed into the spool.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender, TryRecvError};

use super::{Shared, SPENT_MAX_WEIGHT};
use crate::backend::{Delivery, Failure};
use crate::disk::{Pos, Reader};
use crate::error::Error;
use crate::event::Event;
use crate::stats::Stats;
use crate::transport::{Cancel, DeliveryCtx};

/// How long the worker naps while events are flowing but its batch is not full.
const LINGER: Duration = Duration::from_micros(200);

pub(super) enum Ctl {
    Flush(Sender<()>),
    Wake,
    Shutdown,
}

/// An event in the memory queue, with its weight (counted against the byte budget) and,
/// with a journal, where its record ends there.
pub(super) struct Queued {
    pub(super) event: Event,
    pub(super) weight: usize,
    pub(super) pos: Option<Pos>,
}

/// Clears the flag when the worker ends, also when it ends by panicking.
pub(super) struct AliveGuard(pub(super) Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
    }
}

pub(super) struct Worker {
    pub(super) shared: Arc<Shared>,
    pub(super) rx: Receiver<Queued>,
    pub(super) ctl: Receiver<Ctl>,
    pub(super) cancel: Cancel,
    pub(super) max_batch: usize,
    pub(super) interval: Duration,
    pub(super) buf: Vec<Event>,
    // The weight of each event in `buf` (known from the memory queue; disk events are not
    // handed back, so theirs is not computed).
    pub(super) weights: Vec<usize>,
    pub(super) reader: Option<Reader>,
    // Records of the current batch came from the disk queue: acknowledge once it is settled.
    pub(super) from_disk: bool,
    // Journal records whose copies came through memory: the reader moves past them before it
    // reads the journal again, and before it acknowledges.
    pub(super) passed: Option<(Pos, u64)>,
    // Delivered events on their way back to producer threads to be freed there.
    pub(super) spent: Sender<Event>,
    // Dropped when the thread ends, which is how shutdown learns it has.
    pub(super) _done: Sender<()>,
    pub(super) _alive: AliveGuard,
}

impl Worker {
    pub(super) fn run(mut self) {
        let r = catch_unwind(AssertUnwindSafe(|| self.main_loop()));
        if r.is_err() {
            self.shared.alive.store(false, Ordering::Release);
            // What the worker held must not vanish with it.
            log::error!("trackflow: the background worker panicked; its batch is spooled");
            let held = std::mem::take(&mut self.buf);
            self.weights.clear();
            self.shared.reporter.failed(&Error::WorkerGone, &held);
            self.ack();
            return;
        }
        self.finish();
    }

    fn main_loop(&mut self) {
        // When the oldest event of the current batch must go out, whatever the batch size.
        let mut due = Instant::now();
        loop {
            if self.buf.is_empty() {
                if self.fill_disk() {
                    // A backlog: send it as soon as a batch is full or nothing more comes.
                    due = Instant::now();
                    continue;
                }
                // Idle: block until an event or a command.
                select! {
                    recv(self.rx) -> msg => match msg {
                        Ok(q) => {
                            self.take(q);
                            due = Instant::now() + self.interval;
                        }
                        Err(_) => return,
                    },
                    recv(self.ctl) -> msg => if !self.command(msg.ok()) {
                        return;
                    },
                }
                continue;
            }
            match self.ctl.try_recv() {
                Ok(cmd) => {
                    if !self.command(Some(cmd)) {
                        return;
                    }
                    continue;
                }
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {}
            }
            self.fill();
            if self.buf.len() >= self.max_batch || Instant::now() >= due {
                self.send();
                continue;
            }
            // Events are flowing and the batch is not full. Nap rather than block: a blocked
            // receiver makes every send pay a futex wake (microseconds on the caller's
            // thread), while a napping worker costs the senders nothing.
            let before = self.buf.len();
            std::thread::sleep(LINGER.min(due.saturating_duration_since(Instant::now())));
            self.fill();
            if self.buf.len() > before {
                continue;
            }
            // Nothing came during the nap: the flow has stopped. Block until more comes, a
            // command, or the batch is due.
            select! {
                recv(self.rx) -> msg => match msg {
                    Ok(q) => self.take(q),
                    Err(_) => return,
                },
                recv(self.ctl) -> msg => if !self.command(msg.ok()) {
                    return;
                },
                default(due.saturating_duration_since(Instant::now())) => self.send(),
            }
        }
    }

    /// Handles a command; returns whether to keep running.
    fn command(&mut self, cmd: Option<Ctl>) -> bool {
        match cmd {
            Some(Ctl::Flush(reply)) => {
                self.drain();
                if let Err(e) = self.shared.backend.flush() {
                    log::error!("trackflow: backend flush failed: {e}");
                }
                let _ = reply.send(());
                true
            }
            Some(Ctl::Wake) => true,
            Some(Ctl::Shutdown) | None => false,
        }
    }

    fn take(&mut self, q: Queued) {
        self.shared.unqueue(q.weight);
        self.push(q);
    }

    fn push(&mut self, q: Queued) {
        if let Some(pos) = q.pos {
            let n = self.passed.map_or(0, |(_, n)| n);
            self.passed = Some((pos, n + 1));
            self.from_disk = true;
        }
        self.weights.push(q.weight);
        self.buf.push(q.event);
    }

    /// Moves the journal reader past the records whose copies came through memory.
    fn pass(&mut self) {
        if let (Some((pos, n)), Some(r)) = (self.passed.take(), self.reader.as_mut()) {
            r.advance_to(pos, n);
        }
    }

    /// Tops the batch up without blocking: memory first, then the disk queue.
    fn fill(&mut self) {
        if self.shared.abandoned.load(Ordering::Acquire) {
            return;
        }
        let mut weight = 0;
        while self.buf.len() < self.max_batch {
            match self.rx.try_recv() {
                Ok(q) => {
                    weight += q.weight;
                    self.push(q);
                }
                Err(_) => break,
            }
        }
        self.shared.unqueue(weight);
        if self.buf.len() < self.max_batch {
            self.fill_disk();
        }
    }

    /// Reads from the disk queue into the batch; returns whether it read anything.
    fn fill_disk(&mut self) -> bool {
        self.pass();
        let (Some(reader), Some(spill)) = (self.reader.as_mut(), self.shared.spill.as_ref()) else {
            return false;
        };
        if self.shared.abandoned.load(Ordering::Acquire) {
            return false;
        }
        if !spill.is_spilling() && !reader.has_recovered() {
            return false;
        }
        let rx = &self.rx;
        let room = self.max_batch.saturating_sub(self.buf.len());
        let (buf, weights) = (&mut self.buf, &mut self.weights);
        let stats = &self.shared.reporter.stats;
        let before = buf.len();
        let mut read = 0;
        let r = spill.read(
            reader,
            room,
            || rx.is_empty(),
            |payload, recovered| {
                read += 1;
                adopt(payload, recovered, stats, buf, weights);
            },
        );
        if let Err(e) = r {
            log::error!("trackflow: cannot read the disk queue: {e}");
        }
        if read > 0 {
            self.from_disk = true;
        }
        read > 0 || buf.len() > before
    }

    /// Delivers everything queued now (memory and disk), in full batches, unless cancelled.
    fn drain(&mut self) {
        while !self.cancel.is_cancelled() {
            self.fill();
            if self.buf.is_empty() {
                return;
            }
            self.send();
        }
    }

    /// On the way out: deliver what is left, or, past the deadline, spool it.
    fn finish(mut self) {
        self.drain();
        let mut left = std::mem::take(&mut self.buf);
        self.weights.clear();
        let mut weight = 0;
        for q in self.rx.try_iter() {
            weight += q.weight;
            left.push(q.event);
        }
        self.shared.unqueue(weight);
        if !left.is_empty() {
            self.shared.reporter.failed(&Error::Cancelled, &left);
        }
        self.ack();
        if let Err(e) = self.shared.backend.flush() {
            log::error!("trackflow: backend flush failed: {e}");
        }
    }

    fn ack(&mut self) {
        self.pass();
        if std::mem::take(&mut self.from_disk) {
            if let Some(r) = self.reader.as_mut() {
                if let Err(e) = r.ack() {
                    log::error!("trackflow: cannot record progress in the disk queue: {e}");
                }
            }
        }
    }

    fn send(&mut self) {
        let ctx = DeliveryCtx {
            cancel: &self.cancel,
            debug: false,
            dry_run: false,
        };
        let batch = &self.buf;
        let backend = &self.shared.backend;
        let d = catch_unwind(AssertUnwindSafe(|| {
            super::super::deliver_split(&**backend, batch, &ctx)
        }))
        .unwrap_or_else(|_| {
            // A panicking backend must not kill the worker and strand the queue.
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
        let reporter = &self.shared.reporter;
        if d.failures.is_empty() {
            reporter.succeeded(self.buf.len(), d.retries);
            for (e, w) in self.buf.drain(..).zip(self.weights.drain(..)) {
                // Small events go back to be freed by the thread that made them (see
                // `consume`); the return path is bounded in count and so in bytes.
                if w <= SPENT_MAX_WEIGHT {
                    let _ = self.spent.try_send(e);
                }
            }
        } else {
            reporter.report(&mut self.buf, d);
        }
        self.weights.clear();
        self.ack();
    }
}

/// Takes one record from the disk queue into the batch.
fn adopt(payload: &[u8], recovered: bool, stats: &Stats, buf: &mut Vec<Event>, weights: &mut Vec<usize>) {
    if recovered {
        stats.add_recovered(1);
    }
    match crate::disk::decode_event(payload) {
        Ok(e) => {
            // Not handed back to a producer: it was not made on one.
            weights.push(usize::MAX);
            buf.push(e);
        }
        Err(e) => {
            // Checksummed, so written by us, yet not an event: nothing can be spooled.
            log::error!("trackflow: dropped a disk queue record: {e}");
            stats.add_failed(1);
        }
    }
}
