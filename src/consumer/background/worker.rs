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
//! Batches go out on lanes (see `lanes`), up to `max_in_flight` at once, while the worker
//! fills the next. Every event taken from a queue is settled (delivered, or failed into the
//! spool and the callback) before the worker exits; the disk queue is acknowledged only up
//! to the end of the oldest batch still on its way, so a crash re-reads what was in flight.
//! A batch holding an order key (see `Backend::order_key`) waits for batches in flight that
//! hold the same key. The worker never waits on the network without the consumer's
//! `Cancel`: at a shutdown deadline the requests in flight are abandoned, their batches
//! spooled, and what is still queued failed into the spool.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender, TryRecvError};

use super::lanes::{Done, Job, Lanes};
use super::{Shared, SPENT_MAX_WEIGHT};
use crate::disk::{Pos, Reader};
use crate::error::Error;
use crate::event::Event;
use crate::stats::Stats;
use crate::transport::Cancel;

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

/// A batch handed to a lane, in the order handed out.
struct Flight {
    seq: u64,
    // Hashes of the order keys it holds, sorted; emptied when it is done.
    keys: Vec<u64>,
    // Where the disk reader stood once this batch was read: acknowledged when this batch
    // and every earlier one are done.
    mark: Option<Pos>,
    done: bool,
}

/// The batches handed out, oldest first, until the oldest are done.
#[derive(Default)]
pub(super) struct Flights {
    queue: VecDeque<Flight>,
    next_seq: u64,
    // Emptied batches back from the lanes, to be filled again.
    spare: Vec<(Vec<Event>, Vec<usize>)>,
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
    pub(super) lanes: Lanes,
    pub(super) flights: Flights,
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
            self.land_all();
            self.ack();
            return;
        }
        self.finish();
    }

    fn main_loop(&mut self) {
        // When the oldest event of the current batch must go out, whatever the batch size.
        let mut due = Instant::now();
        loop {
            if self.lanes.is_full() {
                // Every lane is busy: what waits stays in the queue, where overflow sees it,
                // rather than in a batch here.
                if !self.await_lane() {
                    return;
                }
                continue;
            }
            if self.buf.is_empty() {
                if self.fill_disk() {
                    // A backlog: send it as soon as a batch is full or nothing more comes.
                    due = Instant::now();
                    continue;
                }
                // Idle: block until an event, a command or a batch back from a lane.
                let done = self.lanes.done.clone();
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
                    recv(done) -> d => if let Ok(d) = d {
                        self.landed(d);
                    },
                }
                continue;
            }
            self.reap();
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
            // command, a batch back, or the batch is due.
            let done = self.lanes.done.clone();
            select! {
                recv(self.rx) -> msg => match msg {
                    Ok(q) => self.take(q),
                    Err(_) => return,
                },
                recv(self.ctl) -> msg => if !self.command(msg.ok()) {
                    return;
                },
                recv(done) -> d => if let Ok(d) = d {
                    self.landed(d);
                },
                default(due.saturating_duration_since(Instant::now())) => self.send(),
            }
        }
    }

    /// Waits for a batch back from a lane, or a command; returns whether to keep running.
    fn await_lane(&mut self) -> bool {
        let done = self.lanes.done.clone();
        select! {
            recv(done) -> d => {
                if let Ok(d) = d {
                    self.landed(d);
                }
                true
            },
            recv(self.ctl) -> msg => self.command(msg.ok()),
        }
    }

    /// Handles a command; returns whether to keep running.
    fn command(&mut self, cmd: Option<Ctl>) -> bool {
        match cmd {
            Some(Ctl::Flush(reply)) => {
                self.drain();
                self.land_all();
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
        self.land_all();
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

    /// Hands the batch to a lane, once one is free and no batch in flight holds one of its
    /// order keys.
    fn send(&mut self) {
        self.pass();
        let mark = std::mem::take(&mut self.from_disk)
            .then(|| self.reader.as_ref().map(Reader::position))
            .flatten();
        let keys = self.order_keys();
        while self.lanes.is_full() || self.conflicts(&keys) {
            if !self.land_one() {
                break;
            }
        }
        let seq = self.flights.next_seq;
        self.flights.next_seq += 1;
        let empty = self.buf.is_empty();
        self.flights.queue.push_back(Flight {
            seq,
            keys,
            mark,
            done: empty,
        });
        if empty {
            // Only damaged records were read: nothing to deliver, but progress to record.
            self.lanes.runner.turns.pass(seq);
            self.ack_landed();
            return;
        }
        let (buf, weights) = self.flights.spare.pop().unwrap_or_else(|| {
            (
                Vec::with_capacity(self.max_batch),
                Vec::with_capacity(self.max_batch),
            )
        });
        let job = Job {
            seq,
            batch: std::mem::replace(&mut self.buf, buf),
            weights: std::mem::replace(&mut self.weights, weights),
        };
        if let Some(d) = self.lanes.start(job) {
            self.settle(d);
        }
    }

    /// Hashes of the batch's order keys, sorted; empty when the backend keeps no order.
    fn order_keys(&self) -> Vec<u64> {
        let backend = &self.shared.backend;
        let mut keys: Vec<u64> = self
            .buf
            .iter()
            .filter_map(|e| backend.order_key(e))
            .map(hash_key)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    fn conflicts(&self, keys: &[u64]) -> bool {
        !keys.is_empty()
            && self
                .flights
                .queue
                .iter()
                .any(|f| !f.done && f.keys.iter().any(|k| keys.binary_search(k).is_ok()))
    }

    /// Takes in every batch already back from the lanes.
    fn reap(&mut self) {
        while let Ok(d) = self.lanes.done.try_recv() {
            self.landed(d);
        }
    }

    /// Waits for one batch back from the lanes; false when none is out.
    fn land_one(&mut self) -> bool {
        if self.lanes.running == 0 {
            return false;
        }
        match self.lanes.done.recv() {
            Ok(d) => {
                self.landed(d);
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for every batch in flight to come back.
    fn land_all(&mut self) {
        while self.land_one() {}
    }

    fn landed(&mut self, d: Done) {
        self.lanes.received();
        self.settle(d);
    }

    /// Reports a batch's outcome, frees or returns its events, and acknowledges the disk
    /// queue as far as every earlier batch is settled too.
    fn settle(&mut self, d: Done) {
        let Done {
            seq,
            mut batch,
            mut weights,
            delivery,
        } = d;
        let reporter = &self.shared.reporter;
        if delivery.failures.is_empty() {
            reporter.succeeded(batch.len(), delivery.retries);
            for (e, w) in batch.drain(..).zip(weights.drain(..)) {
                // Small events go back to be freed by the thread that made them (see
                // `consume`); the return path is bounded in count and so in bytes.
                if w <= SPENT_MAX_WEIGHT {
                    let _ = self.spent.try_send(e);
                }
            }
        } else {
            reporter.report(&mut batch, delivery);
        }
        batch.clear();
        weights.clear();
        if self.flights.spare.len() < 2 {
            self.flights.spare.push((batch, weights));
        }
        if let Some(f) = self.flights.queue.iter_mut().find(|f| f.seq == seq) {
            f.done = true;
            f.keys = Vec::new();
        }
        self.ack_landed();
    }

    /// Acknowledges the disk queue up to the last mark of the settled prefix of flights.
    fn ack_landed(&mut self) {
        let mut mark = None;
        while self.flights.queue.front().is_some_and(|f| f.done) {
            if let Some(m) = self.flights.queue.pop_front().and_then(|f| f.mark) {
                mark = Some(m);
            }
        }
        if let (Some(m), Some(r)) = (mark, self.reader.as_mut()) {
            if let Err(e) = r.ack_to(m) {
                log::error!("trackflow: cannot record progress in the disk queue: {e}");
            }
        }
    }
}

/// A 64-bit FNV-1a hash of an order key: keys are short ids, and a collision only makes
/// two batches wait for each other.
fn hash_key(k: &str) -> u64 {
    k.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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
