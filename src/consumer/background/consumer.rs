//! The consumer on the callers' threads: taking an event into the memory queue (or the
//! journal), and the calls of [`Consumer`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;

use super::flusher::Flusher;
use super::hot::Hot;
use super::policy::{Durability, Overflow};
use super::queued::{Ctl, Queued};
use super::shared::Shared;
use super::spill::Spill;
use crate::backend::Backend;
use crate::consumer::gate::Gate;
use crate::consumer::{ShutdownReport, DEFAULT_FLUSH_TIMEOUT};
use crate::delivery::Cancel;
use crate::disk::AppendError;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::ReplayReport;
use crate::stats::StatsSnapshot;
use crate::Consumer;

/// How often a producer blocked by [`Overflow::Block`] looks up from its wait.
pub(super) const BLOCK_SLICE: Duration = Duration::from_millis(20);
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
    pub(super) tx: Sender<Queued>,
    pub(super) ctl: Sender<Ctl>,
    pub(super) shared: Arc<Shared>,
    pub(super) durability: Durability,
    pub(super) flusher: Option<Flusher>,
    pub(super) overflow: Overflow,
    pub(super) capacity: usize,
    pub(super) hot: Hot,
    pub(super) gate: Gate,
    pub(super) cancel: Cancel,
    pub(super) flow: crate::delivery::Flow,
    pub(super) worker: Mutex<Option<JoinHandle<()>>>,
    pub(super) done: Receiver<()>,
    pub(super) to_free: Receiver<Event>,
    // Set by an interrupt: a shutdown under way skips to handing back.
    pub(super) hurry: AtomicBool,
    // Why the consumer takes no event (a durability it cannot honour, no worker thread).
    pub(super) broken: Option<String>,
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
    pub(super) fn bytes_fit(&self, weight: usize) -> bool {
        let q = self.shared.queued_bytes.load(Ordering::Acquire);
        q == 0 || q + weight <= self.shared.max_queue_bytes
    }

    /// Tries the memory queue once; gives the event back when it does not fit.
    pub(super) fn try_queue(&self, event: Event, weight: usize) -> Option<Event> {
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

    // One call site, on every track(): kept in the caller, as before the file split.
    #[inline(always)]
    fn spill_or_queue(&self, event: Event, weight: usize) -> Result<()> {
        let spilling = self.shared.spill.as_ref().is_some_and(Spill::is_spilling);
        let event = if spilling {
            event
        } else {
            match self.queue_or_hold(event, weight) {
                None => return Ok(()),
                Some(e) => e,
            }
        };
        self.spill(event)
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
        self.consume_with_weight(event, weight)
    }

    fn consume_with_weight(&self, event: Event, weight: usize) -> Result<()> {
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
            match self.to_free.try_recv() {
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
        self.shut_down(timeout)
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
