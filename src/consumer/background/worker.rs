//! The Background consumer's worker thread: a loop over the memory queue, the disk queue
//! and a control channel.
//!
//! ```text
//!            ┌ memory queue ─┐  (first: what is in memory is older, per producer, than what
//!  sources ──┤               ├─► batch ─► lane (see `lanes`) ─► back settled ─► ack the disk
//!            └ disk queue ───┘   it spilled after; an earlier process's records any time)
//!  control: Flush(reply) │ Wake (spilling began) │ Shutdown
//! ```
//!
//! The store owns every event it took until its backend acknowledged it or refused it for
//! good: the batches out on lanes ("flights") stay in the worker's books, and the disk queue
//! is acknowledged only up to the end of the oldest batch not yet settled, so a crash reads
//! again what was in flight. A batch holding an order key (see `Backend::order_key`) waits
//! for batches in flight that hold the same key. At a shutdown deadline the worker takes
//! back what the lanes have not delivered and, with what is still queued in memory, hands
//! it to the front of the disk queue in one write (see `handback`).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, RecvTimeoutError, Sender, TryRecvError};

use super::flight::InFlight;
use super::lanes::{Done, Job, Lanes};
use super::queued::{Ctl, Queued};
use super::shared::{Shared, TO_FREE_MAX_WEIGHT};
use crate::delivery::Cancel;
use crate::disk::{Pos, Reader};
use crate::event::Event;
use crate::stats::Stats;

/// How long the worker naps while events are flowing but its batch is not full.
const LINGER: Duration = Duration::from_micros(200);

/// What woke a blocked worker.
#[derive(Debug, PartialEq, Eq)]
enum Woke {
    /// An event, taken into the batch.
    Event,
    /// A command, a batch back, or the batch came due.
    Other,
    /// The consumer is going away.
    Stop,
}

/// A batch handed to a lane, in the order handed out.
pub(super) struct Flight {
    seq: u64,
    // Hashes of the order keys it holds, sorted; emptied when it is settled.
    keys: Vec<u64>,
    // Where the disk reader stood once this batch was read: acknowledged when this batch
    // and every earlier one are settled.
    mark: Option<Pos>,
    // The batch, shared with its lane; gone once settled and freed.
    pub(super) batch: Option<Arc<InFlight>>,
    settled: bool,
}

/// The batches handed out, oldest first, until the oldest are settled.
#[derive(Default)]
pub(super) struct Flights {
    pub(super) queue: VecDeque<Flight>,
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
    pub(super) passed_in_memory: Option<(Pos, u64)>,
    // Delivered events on their way back to producer threads to be freed there.
    pub(super) to_free: Sender<Event>,
    pub(super) lanes: Lanes,
    pub(super) flights: Flights,
    // A shutdown came while a flush was waiting for its lanes.
    pub(super) stopping: bool,
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
            log::error!("trackflow: the background worker panicked; what it held goes back to the store");
        }
        self.finish();
    }

    fn main_loop(&mut self) {
        // When the oldest event of the current batch must go out, whatever the batch size.
        let mut due = Instant::now();
        while !self.stopping {
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
                if !self.idle(&mut due) {
                    return;
                }
                continue;
            }
            self.take_returned();
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
            if !self.linger(due) {
                return;
            }
        }
    }

    /// Nothing to send: blocks until an event, a command or a batch back from a lane.
    /// Returns whether to keep running.
    fn idle(&mut self, due: &mut Instant) -> bool {
        match self.block(None) {
            Woke::Event => {
                *due = Instant::now() + self.interval;
                true
            }
            Woke::Other => true,
            Woke::Stop => false,
        }
    }

    /// Events are flowing and the batch is not full. Naps rather than blocks: a blocked
    /// receiver makes every send pay a futex wake (microseconds on the caller's thread),
    /// while a napping worker costs the senders nothing. Returns whether to keep running.
    fn linger(&mut self, due: Instant) -> bool {
        let before = self.buf.len();
        std::thread::sleep(LINGER.min(due.saturating_duration_since(Instant::now())));
        self.fill();
        if self.buf.len() > before {
            return true;
        }
        // Nothing came during the nap: the flow has stopped. Block until more comes, a
        // command, a batch back, or the batch is due.
        self.block(Some(due)) != Woke::Stop
    }

    /// Blocks until an event comes (taken into the batch), a command, a batch back from a
    /// lane, or `until` passes (the batch is sent then).
    fn block(&mut self, until: Option<Instant>) -> Woke {
        let done = self.lanes.done.clone();
        let due = until.map_or_else(crossbeam_channel::never, crossbeam_channel::at);
        select! {
            recv(self.rx) -> msg => match msg {
                Ok(q) => {
                    self.take(q);
                    Woke::Event
                }
                Err(_) => Woke::Stop,
            },
            recv(self.ctl) -> msg => if self.command(msg.ok()) { Woke::Other } else { Woke::Stop },
            recv(done) -> d => {
                if let Ok(d) = d {
                    self.returned(d);
                }
                Woke::Other
            },
            recv(due) -> _ => {
                self.send();
                Woke::Other
            },
        }
    }

    /// Waits for a batch back from a lane, or a command; returns whether to keep running.
    fn await_lane(&mut self) -> bool {
        let done = self.lanes.done.clone();
        select! {
            recv(done) -> d => {
                if let Ok(d) = d {
                    self.returned(d);
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
                self.flush(reply);
                !self.stopping
            }
            Some(Ctl::Wake) => true,
            Some(Ctl::Shutdown) | None => false,
        }
    }

    /// Delivers everything queued now and waits for every batch out to settle, answering
    /// `reply` (and flushes that came meanwhile) with whether all settled. A shutdown that
    /// comes meanwhile ends the wait.
    fn flush(&mut self, reply: Sender<bool>) {
        let mut replies = vec![reply];
        while !replies.is_empty() {
            self.drain();
            let mut more = Vec::new();
            let settled = self.land_all_watching(&mut more);
            if let Err(e) = self.shared.backend.flush() {
                log::error!("trackflow: backend flush failed: {e}");
            }
            for r in replies.drain(..) {
                let _ = r.send(settled);
            }
            if self.stopping {
                for r in more {
                    let _ = r.send(false);
                }
                return;
            }
            replies = more;
        }
    }

    /// Waits for every batch out to come back, keeping flushes that come meanwhile in
    /// `more`; returns whether all came back settled (false when a shutdown came first).
    fn land_all_watching(&mut self, more: &mut Vec<Sender<bool>>) -> bool {
        while self.lanes.running > 0 {
            let done = self.lanes.done.clone();
            select! {
                recv(done) -> d => if let Ok(d) = d {
                    self.returned(d);
                },
                recv(self.ctl) -> msg => match msg {
                    Ok(Ctl::Flush(r)) => more.push(r),
                    Ok(Ctl::Wake) => {}
                    Ok(Ctl::Shutdown) | Err(_) => {
                        self.stopping = true;
                        return false;
                    }
                },
            }
        }
        self.flights.queue.iter().all(|f| f.settled)
    }

    fn take(&mut self, q: Queued) {
        self.shared.note_taken();
        self.shared.unqueue(q.weight);
        self.push(q);
    }

    fn push(&mut self, q: Queued) {
        if let Some(pos) = q.pos {
            let n = self.passed_in_memory.map_or(0, |(_, n)| n);
            self.passed_in_memory = Some((pos, n + 1));
            self.from_disk = true;
        }
        self.weights.push(q.weight);
        self.buf.push(q.event);
    }

    /// Moves the journal reader past the records whose copies came through memory.
    pub(super) fn pass(&mut self) {
        if let (Some((pos, n)), Some(r)) = (self.passed_in_memory.take(), self.reader.as_mut()) {
            r.advance_to(pos, n);
        }
    }

    /// Tops the batch up without blocking: memory first, then the disk queue.
    fn fill(&mut self) {
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
        if weight > 0 {
            self.shared.note_taken();
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
        let rx = &self.rx;
        let (buf, weights) = (&mut self.buf, &mut self.weights);
        let stats = &self.shared.reporter.stats;
        let mut read = 0;
        // Two rounds at most: the read that crosses from an earlier process's records to
        // this one's returns none of either.
        for _ in 0..2 {
            let recovered = reader.has_recovered();
            if !spill.is_spilling() && !recovered {
                break;
            }
            let room = self.max_batch.saturating_sub(buf.len());
            let r = spill.read(
                reader,
                room,
                || rx.is_empty(),
                |payload, recovered| {
                    read += 1;
                    take_record(payload, recovered, stats, buf, weights);
                },
            );
            if let Err(e) = r {
                log::error!("trackflow: cannot read the disk queue: {e}");
                break;
            }
            if read > 0 || !recovered || reader.has_recovered() {
                break;
            }
        }
        if read > 0 {
            self.from_disk = true;
        }
        read > 0
    }

    /// Delivers everything queued now (memory and disk), in full batches, unless cancelled.
    fn drain(&mut self) {
        while !self.cancel.is_cancelled() {
            self.fill();
            if self.buf.is_empty() && !self.from_disk {
                return;
            }
            self.send();
        }
    }

    /// On the way out: deliver what is queued while the deadline allows, wait for the lanes
    /// (past the deadline, only until the hand-back instant), then hand everything not
    /// acknowledged back to the store.
    fn finish(mut self) {
        if self.shared.worker_alive() {
            let drained = catch_unwind(AssertUnwindSafe(|| {
                self.drain();
                self.land_until_hand_back();
            }));
            if drained.is_err() {
                log::error!("trackflow: the background worker panicked draining its queue");
            }
        }
        self.hand_back();
        match catch_unwind(AssertUnwindSafe(|| self.shared.backend.flush())) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!("trackflow: backend flush failed: {e}"),
            Err(_) => log::error!(
                "trackflow: the {} backend panicked in flush",
                self.shared.backend.name()
            ),
        }
    }

    /// Waits for the batches out to come back: all of them, or once the consumer is
    /// cancelled, those that come back before the hand-back instant.
    fn land_until_hand_back(&mut self) {
        while self.lanes.running > 0 {
            let limit = if self.cancel.is_cancelled() {
                match self.shared.hand_back_at() {
                    Some(t) if Instant::now() >= t => return,
                    Some(t) => t.saturating_duration_since(Instant::now()),
                    None => Duration::from_millis(50),
                }
            } else {
                Duration::from_millis(50)
            };
            match self.lanes.done.recv_timeout(limit.min(Duration::from_millis(50))) {
                Ok(d) => self.returned(d),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
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
            if !self.wait_for_one_returned() {
                break;
            }
        }
        let seq = self.flights.next_seq;
        self.flights.next_seq += 1;
        if self.buf.is_empty() {
            // Only damaged records were read: nothing to deliver, but progress to record.
            self.flights.queue.push_back(Flight {
                seq,
                keys: Vec::new(),
                mark,
                batch: None,
                settled: true,
            });
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
        let batch = Arc::new(InFlight::new(
            std::mem::replace(&mut self.buf, buf),
            std::mem::replace(&mut self.weights, weights),
        ));
        self.flights.queue.push_back(Flight {
            seq,
            keys,
            mark,
            batch: Some(batch.clone()),
            settled: false,
        });
        self.note_oldest();
        if let Some(d) = self.lanes.start(Job { seq, flight: batch }) {
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
                .any(|f| !f.settled && f.keys.iter().any(|k| keys.binary_search(k).is_ok()))
    }

    /// Takes in every batch already back from the lanes.
    fn take_returned(&mut self) {
        while let Ok(d) = self.lanes.done.try_recv() {
            self.returned(d);
        }
    }

    /// Waits for one batch back from the lanes; false when none is out.
    fn wait_for_one_returned(&mut self) -> bool {
        if self.lanes.running == 0 {
            return false;
        }
        match self.lanes.done.recv() {
            Ok(d) => {
                self.returned(d);
                true
            }
            Err(_) => false,
        }
    }

    fn returned(&mut self, d: Done) {
        self.lanes.received(&d);
        self.settle(d);
    }

    /// A batch is back from its lane. Settled (every event delivered or refused for good):
    /// its events are freed and the disk queue acknowledged as far as every earlier batch is
    /// settled too. Not settled (the shutdown deadline stopped it): it stays in the books,
    /// for the hand-back.
    fn settle(&mut self, d: Done) {
        let Done { seq, flight } = d;
        let Some(f) = self.flights.queue.iter_mut().find(|f| f.seq == seq) else {
            return;
        };
        if !flight.is_settled() {
            return;
        }
        f.settled = true;
        f.keys = Vec::new();
        f.batch = None;
        if let Ok(batch) = Arc::try_unwrap(flight) {
            let (mut events, mut weights) = batch.into_parts();
            for (e, w) in events.drain(..).zip(weights.drain(..)) {
                // Small events go back to be freed by the thread that made them (see
                // `consume`); the return path is bounded in count and so in bytes.
                if w <= TO_FREE_MAX_WEIGHT {
                    let _ = self.to_free.try_send(e);
                }
            }
            events.clear();
            weights.clear();
            if self.flights.spare.len() < 2 {
                self.flights.spare.push((events, weights));
            }
        }
        self.ack_landed();
        self.note_oldest();
    }

    /// Acknowledges the disk queue up to the last mark of the settled prefix of flights.
    fn ack_landed(&mut self) {
        let mut mark = None;
        while self.flights.queue.front().is_some_and(|f| f.settled) {
            if let Some(m) = self.flights.queue.pop_front().and_then(|f| f.mark) {
                mark = Some(m);
            }
        }
        if let (Some(m), Some(r)) = (mark, self.reader.as_mut())
            && let Err(e) = r.ack_to(m)
        {
            log::error!("trackflow: cannot record progress in the disk queue: {e}");
        }
    }

    /// Publishes the time of the oldest event out on a lane, for the stats.
    fn note_oldest(&self) {
        let oldest = self
            .flights
            .queue
            .iter()
            .filter_map(|f| f.batch.as_ref())
            .map(|b| b.oldest_ms())
            .min()
            .unwrap_or(0);
        self.shared.oldest_ms.store(oldest, Ordering::Relaxed);
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
fn take_record(
    payload: &[u8],
    recovered: bool,
    stats: &Stats,
    buf: &mut Vec<Event>,
    weights: &mut Vec<usize>,
) {
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
            // Checksummed, so written by us, yet not an event: nothing can be delivered.
            log::error!("trackflow: dropped a disk queue record: {e}");
            stats.add_failed(1);
        }
    }
}
