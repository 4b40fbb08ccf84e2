//! The store of one consumer: a bounded memory queue, a disk queue behind it, and one
//! worker thread. The caller only enqueues, and never waits on the network; an event leaves
//! the store only when its backend acknowledged it or refused it for good.
//!
//! ```text
//!  track() ─► gate ─► [ memory queue: count + bytes ] ──────────────► worker thread
//!     │        │ full? ─ Spill (default) ─► [ disk queue ] ─────────►   │ memory first, then disk
//!     │        │       └ Block / BlockTimeout / DropNewest (counted)    │ batch of max_batch,
//!  flush()/shutdown() ─► [ control ] ──────────────────────────────►    │ or every flush_interval
//!                                                                       ▼
//!                                 lanes: Backend::deliver, each request acknowledged as it ends;
//!                                 transient failures wait (backoff, circuit) and go again
//! ```
//!
//! The caller's thread does no network I/O and holds no lock a sender could wait on; a
//! spilled event costs it one local append into a shared memory map (in the page cache when
//! `track()` returns). With `Durability::Process`/`Fsync` every event is also appended to
//! that memory-mapped journal first (a copy still goes to memory, in journal order), so what
//! was accepted survives the death of the process. Flush and shutdown travel on their own
//! channel, so they are not stuck behind a full queue. `shutdown` closes the gate (so nothing
//! enters after the worker's last look), lets the worker deliver until shortly before the
//! deadline, then cancels: requests in flight are abandoned, and everything not acknowledged
//! goes to the front of the disk queue in one write before `shutdown` returns (see
//! `handback`). The next tracker on the directory delivers it first.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;

use super::gate::Gate;
use super::{DiskGate, Reporter, ShutdownReport, DEFAULT_FLUSH_TIMEOUT, SETTLE_GRACE};
use crate::backend::Backend;
use crate::delivery::Cancel;
use crate::disk::AppendError;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::ReplayReport;
use crate::stats::{Padded, StatsSnapshot};
use crate::Consumer;

mod builder;
mod flight;
mod handback;
mod lanes;
mod spill;
mod worker;

pub use builder::{
    BackgroundConsumerBuilder, DEFAULT_MAX_DISK_BYTES, DEFAULT_MAX_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY,
};
use spill::Spill;
use worker::{Ctl, Queued};

/// Default for [`BackgroundConsumerBuilder::flush_interval`].
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Delivered events waiting to be freed by producer threads.
const SPENT_CAPACITY: usize = 4096;
/// Larger delivered events are freed by the worker, so the return path holds at most
/// `SPENT_CAPACITY × SPENT_MAX_WEIGHT` bytes (16 MiB); a typical event weighs about 1 KiB.
const SPENT_MAX_WEIGHT: usize = 4096;
/// How often a producer blocked by [`Overflow::Block`] looks up from its wait.
const BLOCK_SLICE: Duration = Duration::from_millis(20);

/// What `track()` does when the memory queue is full (in count or in bytes).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackflow::Overflow;
/// let p = Overflow::BlockTimeout(Duration::from_millis(5));
/// assert_ne!(p, Overflow::default());
/// assert_eq!(Overflow::default(), Overflow::Spill);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Append the event to the disk queue (the default): the caller never waits on the
    /// network, nothing is dropped while the disk budget lasts, and the worker delivers the
    /// spilled events in order as the backend recovers. Past the budget, or without a usable
    /// spool directory, the event is dropped and counted ([`Error::QueueFull`]).
    #[default]
    Spill,
    /// Wait for room: nothing is dropped, the caller slows to the delivery rate, and waits
    /// as long as the collector does. Not for an async executor's threads.
    Block,
    /// Wait at most this long, then drop the event and return [`Error::QueueFull`].
    BlockTimeout(Duration),
    /// Drop the event at once and return [`Error::QueueFull`].
    DropNewest,
}

/// What an accepted event survives: when `track()` returns `Ok`, where is the event?
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackflow::Durability;
/// assert_eq!(Durability::default(), Durability::Memory);
/// let d = Durability::Fsync { interval: Duration::from_millis(100) };
/// assert_ne!(d, Durability::Process);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// In memory (the default): it survives anything but the death of the process; what
    /// spilled to disk survives that too.
    #[default]
    Memory,
    /// In the journal, in the page cache: it survives the death of the process (a crash,
    /// kill -9, an OOM kill), not the loss of the machine's power.
    Process,
    /// As `Process`, and written through to the disk by a background flusher every
    /// `interval`: a power loss takes at most the last `interval`. `flush()` also writes the
    /// journal through before it returns.
    Fsync {
        /// How often the journal is written through (group commit).
        interval: Duration,
    },
}

/// Writes the journal through to the disk every interval, on a thread of its own.
struct Flusher {
    // Dropped to stop the thread: it wakes at once, writes through a last time, and ends.
    stop: Mutex<Option<Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    fn start(disk: Arc<crate::disk::DiskQueue>, interval: Duration) -> Flusher {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("trackflow-fsync".into())
            .spawn(move || loop {
                let last = matches!(
                    stopped.recv_timeout(interval),
                    Err(RecvTimeoutError::Disconnected)
                );
                if let Err(e) = disk.sync() {
                    log::error!("trackflow: cannot write the journal through: {e}");
                }
                if last {
                    return;
                }
            })
            .ok();
        Flusher {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(thread),
        }
    }

    /// Stops the thread after one last write-through.
    fn finish(&self) {
        self.stop.lock().take();
        let thread = self.thread.lock().take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// What the consumer and its worker share.
struct Shared {
    backend: Arc<dyn Backend>,
    reporter: Reporter,
    // The queue's other end, to take what a dead worker left.
    queue: Receiver<Queued>,
    queued_bytes: Padded<AtomicUsize>,
    max_queue_bytes: usize,
    spill: Option<Spill>,
    alive: AtomicBool,
    // When a shutdown stops waiting for lanes and takes back what they hold.
    hand_back_at: Mutex<Option<Instant>>,
    // Closed when a shutdown gives up waiting: no write to disk after that.
    disk_gate: Arc<DiskGate>,
    // Events the worker handed back to the front of the disk queue.
    handed_back: AtomicU64,
    // Write the hand-back through to the disk (Fsync durability).
    sync_hand_back: bool,
    // The time of the oldest event out on a lane (ms; 0 when none).
    oldest_ms: AtomicI64,
    // Bit 0: warned of a drop; bit 1: of a dead worker.
    warned: AtomicUsize,
}

impl Shared {
    fn worker_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    fn unqueue(&self, weight: usize) {
        if weight > 0 {
            self.queued_bytes.fetch_sub(weight, Ordering::AcqRel);
        }
    }

    /// Fails what the memory queue holds.
    /// Keeps what the memory queue holds when no worker will take it: in the disk queue
    /// (a journal record is there already), for the next tracker; failed where it cannot be.
    fn keep_queued(&self, error: &Error) {
        let mut weight = 0;
        let left: Vec<Event> = self
            .queue
            .try_iter()
            .filter_map(|q| {
                weight += q.weight;
                q.pos.is_none().then_some(q.event)
            })
            .collect();
        self.unqueue(weight);
        self.keep(error, &left);
    }

    /// Appends `events` to the disk queue, left for the next tracker; what cannot be is
    /// failed with `error` (counted, told).
    fn keep(&self, error: &Error, events: &[Event]) {
        let mut unkept = Vec::new();
        for e in events {
            let kept = self
                .disk_gate
                .write(|| self.spill.as_ref().is_some_and(|s| s.push(e).is_ok()));
            if kept == Some(true) {
                self.reporter.stats.add_spilled(1);
            } else {
                unkept.push(e.clone());
            }
        }
        self.reporter.failed_unstored(error, &unkept);
    }

    fn hand_back_at(&self) -> Option<Instant> {
        *self.hand_back_at.lock()
    }

    fn warn_once(&self, bit: usize) -> bool {
        self.warned.fetch_or(bit, Ordering::AcqRel) & bit == 0
    }
}

/// Queues events for a worker thread that delivers them in batches. Also known as the
/// GrowingIO SDK's `AsyncBufferedConsumer`.
///
/// By default a full queue spills to disk ([`Overflow::Spill`]) in the consumer's spool
/// directory (see [`crate::spool`] for where that is), so `track()` never waits on a slow
/// or dead collector and nothing is dropped while the disk budget lasts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Overflow, Properties, Tracker};
///
/// let memory = MemoryBackend::new();
/// let consumer = BackgroundConsumer::builder(memory.clone())
///     .max_batch(100)
///     .flush_interval(Duration::from_millis(200))
///     .overflow(Overflow::DropNewest)
///     .build();
/// let tracker = Tracker::builder().consumer(consumer).build()?;
/// tracker.track(&Identity::user("u1"), "open", Properties::new())?;
/// tracker.flush()?;
/// assert_eq!(memory.events().len(), 1);
/// # Ok::<(), trackflow::Error>(())
/// ```
#[doc(alias = "AsyncBufferedConsumer")]
pub struct BackgroundConsumer {
    tx: Sender<Queued>,
    ctl: Sender<Ctl>,
    shared: Arc<Shared>,
    durability: Durability,
    flusher: Option<Flusher>,
    overflow: Overflow,
    capacity: usize,
    gate: Gate,
    cancel: Cancel,
    flow: crate::delivery::Flow,
    worker: Mutex<Option<JoinHandle<()>>>,
    done: Receiver<()>,
    spent: Receiver<Event>,
    // Set by an interrupt: a shutdown under way skips to handing back.
    hurry: AtomicBool,
    // Why the consumer takes no event (a durability it cannot honour, no worker thread).
    broken: Option<String>,
}

impl fmt::Debug for BackgroundConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundConsumer")
            .field("backend", &self.shared.backend)
            .field("overflow", &self.overflow)
            .field("durability", &self.durability)
            .field("capacity", &self.capacity)
            .field("queued", &self.tx.len())
            .field(
                "spill",
                &self.shared.spill.as_ref().map(|s| s.disk.dir().to_path_buf()),
            )
            .field("stats", &self.shared.reporter.stats.snapshot())
            .finish_non_exhaustive()
    }
}

impl BackgroundConsumer {
    /// A builder delivering to `backend`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build();
    /// ```
    pub fn builder(backend: impl Backend + 'static) -> BackgroundConsumerBuilder {
        BackgroundConsumerBuilder::new(backend)
    }

    /// The consumer's request budget: its width (`max_in_flight` as the backend allows),
    /// the requests in flight now and at most so far, and the throttling replies seen.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).max_in_flight(4).build();
    /// // The Memory backend takes one delivery at a time.
    /// assert_eq!(c.flow().max_in_flight(), 1);
    /// ```
    pub fn flow(&self) -> &crate::delivery::Flow {
        &self.flow
    }

    /// What an accepted event survives: the durability asked for. Where it cannot be honoured
    /// (no journal could be opened) the consumer takes no event at all (see
    /// [`Consumer::ready`]), rather than run with less.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build();
    /// assert_eq!(c.durability(), trackflow::Durability::Memory);
    /// ```
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Appends to the journal: when this returns `Ok`, the event survives the process. A
    /// copy goes to the memory queue (bounded in count and bytes as ever), so the worker
    /// reads the journal back only after an overflow, or what a dead process left.
    fn journal(&self, spill: &Spill, event: Event, weight: usize) -> Result<()> {
        let fits = self.bytes_fit(weight);
        let sent = spill.journal(event, weight, |q| {
            if !fits {
                return Some(q);
            }
            self.shared.queued_bytes.fetch_add(weight, Ordering::AcqRel);
            match self.tx.try_send(q) {
                Ok(()) => None,
                Err(TrySendError::Full(q) | TrySendError::Disconnected(q)) => {
                    self.shared.unqueue(weight);
                    Some(q)
                }
            }
        });
        match sent {
            Ok((in_memory, began)) => {
                if !in_memory {
                    // Only in the journal: the worker reads it back.
                    self.shared.reporter.stats.add_spilled(1);
                }
                if began {
                    let _ = self.ctl.send(Ctl::Wake);
                }
                Ok(())
            }
            Err(AppendError::Full) => {
                self.shared.reporter.stats.add_spill_full(1);
                Err(self.dropped("the journal's disk budget is reached"))
            }
            Err(AppendError::Io(e)) => {
                self.shared.reporter.stats.add_spill_unavailable(1);
                let _ = self.dropped("the journal cannot be written");
                Err(Error::Io(e))
            }
        }
    }

    /// Events waiting in the memory queue (not counting the batch being delivered).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build();
    /// assert_eq!(c.queued(), 0);
    /// ```
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// Events this process spilled to the disk queue that the worker has not read yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build();
    /// assert_eq!(c.spilled_pending(), 0);
    /// ```
    pub fn spilled_pending(&self) -> u64 {
        self.shared.spill.as_ref().map_or(0, |s| s.disk.unread())
    }

    /// What reading the disk queue (spill or journal) has found damaged so far: torn
    /// records, damaged regions, foreign files. Each was also logged.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).spool(None).build();
    /// assert_eq!(c.disk_damage().torn_tails, 0);
    /// ```
    pub fn disk_damage(&self) -> crate::spool::DiskDamage {
        self.shared
            .spill
            .as_ref()
            .map(|s| s.disk.damage())
            .unwrap_or_default()
    }

    /// Bytes the disk queue takes on disk.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).spool(None).build();
    /// assert_eq!(c.spilled_bytes(), 0);
    /// ```
    pub fn spilled_bytes(&self) -> u64 {
        self.shared.spill.as_ref().map_or(0, |s| s.disk.bytes())
    }

    /// Whether the memory queue has room for `weight` more bytes (an empty queue always has).
    fn bytes_fit(&self, weight: usize) -> bool {
        let q = self.shared.queued_bytes.load(Ordering::Acquire);
        q == 0 || q + weight <= self.shared.max_queue_bytes
    }

    /// Tries the memory queue once; gives the event back when it does not fit.
    fn try_queue(&self, event: Event, weight: usize) -> Option<Event> {
        if !self.bytes_fit(weight) {
            return Some(event);
        }
        // Counted before the send so that the worker never subtracts first.
        self.shared.queued_bytes.fetch_add(weight, Ordering::AcqRel);
        match self.tx.try_send(Queued {
            event,
            weight,
            pos: None,
        }) {
            Ok(()) => None,
            Err(TrySendError::Full(q) | TrySendError::Disconnected(q)) => {
                self.shared.unqueue(weight);
                Some(q.event)
            }
        }
    }

    fn spill_or_queue(&self, event: Event, weight: usize) -> Result<()> {
        let spilling = self.shared.spill.as_ref().is_some_and(Spill::is_spilling);
        let event = if spilling {
            event
        } else {
            match self.try_queue(event, weight) {
                None => return Ok(()),
                Some(e) => e,
            }
        };
        self.spill(event)
    }

    /// Appends to the disk queue, or drops (counted) where that cannot be done.
    fn spill(&self, event: Event) -> Result<()> {
        let stats = &self.shared.reporter.stats;
        let Some(spill) = &self.shared.spill else {
            stats.add_spill_unavailable(1);
            return Err(self.dropped("no spill directory could be used"));
        };
        match spill.push(&event) {
            Ok(began) => {
                stats.add_spilled(1);
                if began {
                    // The worker may be idle with an empty memory queue (an event larger
                    // than the byte budget): tell it to look at the disk.
                    let _ = self.ctl.send(Ctl::Wake);
                }
                Ok(())
            }
            Err(AppendError::Full) => {
                stats.add_spill_full(1);
                Err(self.dropped("the disk budget is reached"))
            }
            Err(AppendError::Io(e)) => {
                stats.add_spill_unavailable(1);
                log::error!("trackflow: cannot spill to {}: {e}", spill.disk.dir().display());
                Err(self.dropped("the disk queue cannot be written"))
            }
        }
    }

    /// Waits for room in slices, so that a dead worker or a shutdown is noticed.
    fn send_blocking(&self, mut event: Event, weight: usize, limit: Option<Duration>) -> Result<()> {
        let until = limit.map(|d| Instant::now() + d);
        loop {
            if self.gate.is_closed() || !self.shared.worker_alive() {
                // Shutdown is waiting for this producer: hand the event over another way.
                return self.settle_refused(event);
            }
            let slice = until.map_or(BLOCK_SLICE, |u| {
                u.saturating_duration_since(Instant::now()).min(BLOCK_SLICE)
            });
            if self.bytes_fit(weight) {
                self.shared.queued_bytes.fetch_add(weight, Ordering::AcqRel);
                let q = Queued {
                    event,
                    weight,
                    pos: None,
                };
                match self.tx.send_timeout(q, slice) {
                    Ok(()) => return Ok(()),
                    Err(SendTimeoutError::Timeout(q) | SendTimeoutError::Disconnected(q)) => {
                        self.shared.unqueue(weight);
                        event = q.event;
                    }
                }
            } else {
                std::thread::sleep(slice);
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Err(self.dropped("the queue stayed full for the block timeout"));
            }
        }
    }

    /// An accepted event that cannot enter the memory queue any more: to the disk queue if
    /// there is one, else failed (counted, and told to the callback).
    fn settle_refused(&self, event: Event) -> Result<()> {
        if let Some(spill) = &self.shared.spill {
            if spill.push(&event).is_ok() {
                self.shared.reporter.stats.add_spilled(1);
                return Ok(());
            }
        }
        let error = if self.shared.worker_alive() {
            Error::Cancelled
        } else {
            Error::WorkerGone
        };
        self.shared
            .reporter
            .failed_unstored(&error, std::slice::from_ref(&event));
        Err(error)
    }

    /// The worker died outside delivery: report it once, and keep in the disk queue what it
    /// left queued, and `event` if one was being handed over.
    fn worker_gone(&self, event: Option<Event>) -> Error {
        if self.shared.warn_once(2) {
            log::error!(
                "trackflow: the background worker thread stopped; what it had not delivered is kept in the disk queue for the next start"
            );
        }
        self.shared.keep_queued(&Error::WorkerGone);
        if let Some(e) = event {
            self.shared.keep(&Error::WorkerGone, std::slice::from_ref(&e));
        }
        Error::WorkerGone
    }

    fn dropped(&self, why: &str) -> Error {
        self.shared.reporter.stats.add_dropped(1);
        if self.shared.warn_once(1) {
            log::warn!(
                "trackflow: queue full ({} events), dropping per {:?}: {why}; further drops are only counted until shutdown",
                self.capacity,
                self.overflow
            );
        }
        Error::QueueFull
    }

    /// Waits until the worker thread has exited or `until` passes. An interrupt (see
    /// [`Consumer::interrupt`]) ends a wait for the network at once; the wait for the
    /// hand-back (`settle`: local writes) it shortens to the grace from now.
    fn wait_done(&self, until: Instant, settle: bool) -> bool {
        let mut until = until;
        loop {
            if self.hurry.load(Ordering::Acquire) {
                *self.shared.hand_back_at.lock() = Some(Instant::now());
                if !settle {
                    return wait_done(&self.done, Duration::ZERO);
                }
                until = until.min(Instant::now() + SETTLE_GRACE);
            }
            let left = until.saturating_duration_since(Instant::now());
            if wait_done(&self.done, left.min(HURRY_SLICE)) {
                return true;
            }
            if left.is_zero() {
                return false;
            }
        }
    }

    /// The worker has not finished by the deadline and its grace: what it holds is counted
    /// failed (cancelled) here, and its hand-back may not be written any more. A hand-back
    /// already being written is waited for, once more the grace.
    fn give_up(&self) -> bool {
        if !self.shared.disk_gate.close(SETTLE_GRACE) {
            log::error!(
                "trackflow: the {} consumer is still writing to disk past its shutdown deadline and grace",
                self.shared.backend.name()
            );
            return false;
        }
        if wait_done(&self.done, Duration::ZERO) {
            return true;
        }
        log::warn!(
            "trackflow: the {} consumer's worker did not finish by the shutdown deadline and its grace; what it held is reported as failed",
            self.shared.backend.name()
        );
        let stats = &self.shared.reporter.stats;
        let on_disk = self.shared.handed_back.load(Ordering::Acquire) + self.spilled_pending();
        let held = stats.snapshot().pending().saturating_sub(on_disk);
        stats.add_failed(held);
        false
    }

    /// What the shutdown came to: `left` is what is on disk for the next tracker.
    fn report(&self, finished: bool) -> ShutdownReport {
        let stats = self.stats();
        self.report_drops(&stats);
        let left = self.shared.handed_back.load(Ordering::Acquire) + self.spilled_pending();
        if left > 0 {
            log::warn!(
                "trackflow: {left} events of the {} consumer stay in {} for the next start",
                self.shared.backend.name(),
                self.shared
                    .spill
                    .as_ref()
                    .map_or_else(|| "memory".into(), |s| s.disk.dir().display().to_string())
            );
        }
        ShutdownReport {
            stats,
            left,
            completed: finished && left == 0,
        }
    }

    fn report_drops(&self, s: &StatsSnapshot) {
        if s.dropped > 0 {
            log::warn!(
                "trackflow: {} events were dropped by the overflow policy ({} without a spill directory, {} past the disk budget)",
                s.dropped,
                s.spill_unavailable,
                s.spill_full
            );
        }
    }
}

impl Consumer for BackgroundConsumer {
    fn backend_name(&self) -> &'static str {
        self.shared.backend.name()
    }

    fn queue_depth(&self) -> u64 {
        self.queued() as u64 + self.spilled_pending()
    }

    fn spilled_bytes(&self) -> u64 {
        BackgroundConsumer::spilled_bytes(self)
    }

    fn check(&self, event: &Event) -> Result<()> {
        crate::backend::check(&*self.shared.backend, event)
    }

    fn consume(&self, event: Event) -> Result<()> {
        let weight = event.weight();
        self.consume_weighed(event, weight)
    }

    fn consume_weighed(&self, event: Event, weight: usize) -> Result<()> {
        if let Some(why) = &self.broken {
            return Err(Error::Config(why.clone()));
        }
        let Some(_inside) = self.gate.enter() else {
            return Err(Error::AlreadyShutdown);
        };
        // Free delivered events here, two per call (more than one keeps the backlog
        // shrinking). Memory freed on the thread that allocated it goes back to that
        // thread's cache; freed on the worker, every free and every malloc contend for the
        // same allocator arena lock, which cost 4x the whole call (see BENCHMARKS.md).
        for _ in 0..2 {
            match self.spent.try_recv() {
                Ok(e) => drop(e),
                Err(_) => break,
            }
        }
        // Counted before the hand-over so the worker can never count an outcome first.
        self.shared.reporter.stats.add_accepted(1);
        if !self.shared.worker_alive() {
            return Err(self.worker_gone(Some(event)));
        }
        if let Some(spill) = self.shared.spill.as_ref().filter(|s| s.is_journal()) {
            return self.journal(spill, event, weight);
        }
        match self.overflow {
            Overflow::Spill => self.spill_or_queue(event, weight),
            Overflow::Block => self.send_blocking(event, weight, None),
            Overflow::BlockTimeout(d) => self.send_blocking(event, weight, Some(d)),
            Overflow::DropNewest => match self.try_queue(event, weight) {
                None => Ok(()),
                Some(_) => Err(self.dropped("the policy is DropNewest")),
            },
        }
    }

    fn flush(&self, timeout: Duration) -> Result<()> {
        if self.gate.is_closed() {
            return Err(Error::AlreadyShutdown);
        }
        if !self.shared.worker_alive() {
            return Err(self.worker_gone(None));
        }
        if let (Durability::Fsync { .. }, Some(spill)) = (self.durability, &self.shared.spill) {
            spill.disk.sync()?;
        }
        let (reply, wait) = crossbeam_channel::bounded(1);
        self.ctl
            .send(Ctl::Flush(reply))
            .map_err(|_| self.worker_gone(None))?;
        match wait.recv_timeout(timeout) {
            Ok(true) => Ok(()),
            // A shutdown came while the flush waited for its lanes.
            Ok(false) => Err(Error::Cancelled),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
            // The worker dropped the reply without answering: it died during the flush. Say
            // so now, not when its thread has finished unwinding, so that the next call
            // already knows.
            Err(RecvTimeoutError::Disconnected) => {
                self.shared.alive.store(false, Ordering::Release);
                Err(self.worker_gone(None))
            }
        }
    }

    fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport> {
        if !self.gate.close() {
            return Err(Error::AlreadyShutdown);
        }
        let deadline = Instant::now() + timeout;
        // Nothing enters after this: the worker's drain sees every accepted event.
        self.gate.wait_empty(deadline);
        // Keep a margin of the deadline: at its start no new request starts (one in flight
        // may finish, so its events are delivered, not handed back and perhaps delivered
        // twice); at its middle the requests in flight are abandoned; at three quarters the
        // worker takes back what the lanes hold and writes it to the front of the disk queue.
        let margin = (timeout / 5).min(Duration::from_millis(250));
        let at = |before: Duration| deadline.checked_sub(before).unwrap_or(deadline);
        *self.shared.hand_back_at.lock() = Some(at(margin / 4));
        let _ = self.ctl.send(Ctl::Shutdown);
        let mut finished = self.wait_done(at(margin), false);
        if !finished {
            self.cancel.stop();
            finished = self.wait_done(at(margin / 2), false);
        }
        if !finished {
            self.cancel.cancel();
            // Handing back is local and quick, but it must finish before this returns: give
            // it the rest of the deadline and, past it, a bounded grace.
            finished = self.wait_done(deadline + SETTLE_GRACE, true);
        }
        if !finished {
            finished = self.give_up();
        }
        if let Some(f) = &self.flusher {
            f.finish();
        }
        if finished {
            if let Some(h) = self.worker.lock().take() {
                let _ = h.join();
            }
        }
        // A producer still inside the gate (a deadline too short to wait for it) hands its
        // event over after the worker's last look; producers that raced a dead worker too.
        self.gate.wait_empty(Instant::now() + SETTLE_GRACE);
        self.shared.keep_queued(&Error::Cancelled);
        let report = self.report(finished);
        // The directory is free for another tracker once this returns, whatever thread
        // (a lane still unwinding) holds the queue a moment longer.
        if let Some(spill) = &self.shared.spill {
            spill.disk.close();
        }
        Ok(report)
    }

    fn flow(&self) -> Option<&crate::delivery::Flow> {
        Some(&self.flow)
    }

    fn ready(&self) -> Result<()> {
        match &self.broken {
            Some(why) => Err(Error::Config(why.clone())),
            None => Ok(()),
        }
    }

    fn interrupt(&self) {
        self.hurry.store(true, Ordering::Release);
        self.cancel.cancel();
    }

    fn stats(&self) -> StatsSnapshot {
        let mut s = self.shared.reporter.stats.snapshot();
        if let Some(spill) = &self.shared.spill {
            s.disk_events = spill.disk.unread();
            s.disk_bytes = spill.disk.bytes();
        }
        let oldest = self.shared.oldest_ms.load(Ordering::Relaxed);
        if oldest > 0 {
            let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
            s.oldest_age_ms = u64::try_from(now.saturating_sub(oldest)).unwrap_or(0);
        }
        s
    }

    /// The dead letters only: the consumer delivers its queue by itself.
    fn replay_spool(&self) -> Result<ReplayReport> {
        self.shared.reporter.replay_dead(&*self.shared.backend)
    }
}

impl Drop for BackgroundConsumer {
    fn drop(&mut self) {
        if !self.gate.is_closed() {
            let _ = self.shutdown(DEFAULT_FLUSH_TIMEOUT);
        }
    }
}

/// How often a shutdown's waits look for an interrupt.
const HURRY_SLICE: Duration = Duration::from_millis(20);

/// Waits until the worker thread has exited (its end of `done` dropped).
fn wait_done(done: &Receiver<()>, d: Duration) -> bool {
    matches!(done.recv_timeout(d), Err(RecvTimeoutError::Disconnected))
}
