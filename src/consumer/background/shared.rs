//! What the consumer (on the callers' threads) and its worker share.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use parking_lot::{Condvar, Mutex};

use super::queued::Queued;
use super::spill::Spill;
use crate::backend::Backend;
use crate::consumer::{DiskGate, Reporter};
use crate::error::Error;
use crate::event::Event;
use crate::stats::Padded;

/// Delivered events waiting to be freed by producer threads.
pub(super) const TO_FREE_CAPACITY: usize = 4096;
/// Larger delivered events are freed by the worker, so the return path holds at most
/// `TO_FREE_CAPACITY × TO_FREE_MAX_WEIGHT` bytes (16 MiB); a typical event weighs about 1 KiB.
pub(super) const TO_FREE_MAX_WEIGHT: usize = 4096;
/// What the consumer and its worker share.
pub(super) struct Shared {
    pub(super) backend: Arc<dyn Backend>,
    pub(super) reporter: Reporter,
    // The queue's other end, to take what a dead worker left.
    pub(super) queue: Receiver<Queued>,
    pub(super) queued_bytes: Padded<AtomicUsize>,
    pub(super) max_queue_bytes: usize,
    pub(super) spill: Option<Spill>,
    pub(super) alive: AtomicBool,
    // When a shutdown stops waiting for lanes and takes back what they hold.
    pub(super) hand_back_at: Mutex<Option<Instant>>,
    // Closed when a shutdown gives up waiting: no write to disk after that.
    pub(super) disk_gate: Arc<DiskGate>,
    // Events the worker handed back to the front of the disk queue.
    pub(super) handed_back: AtomicU64,
    // Write the hand-back through to the disk (Fsync durability).
    pub(super) sync_hand_back: bool,
    // The time of the oldest event out on a lane (ms; 0 when none).
    pub(super) oldest_ms: AtomicI64,
    // Bit 0: warned of a drop; bit 1: of a dead worker.
    pub(super) warned: AtomicUsize,
    // When the worker last took events from the memory queue, in ms after `born`.
    born: Instant,
    taken_at: AtomicU64,
    // Producers waiting for room (see `wait_for_room`), and where they wait: the worker
    // wakes them once for each time it takes, not once for each event it takes.
    room_waiters: AtomicUsize,
    room: (Mutex<()>, Condvar),
}

impl Shared {
    /// The state of a consumer about to start; `queue` is the memory queue's other end.
    pub(super) fn new(
        backend: Arc<dyn Backend>,
        mut reporter: Reporter,
        queue: Receiver<Queued>,
        max_queue_bytes: usize,
        spill: Option<Spill>,
        sync_hand_back: bool,
    ) -> Arc<Shared> {
        let gate = Arc::new(DiskGate::default());
        reporter.gate = Some(gate.clone());
        Arc::new(Shared {
            backend,
            reporter,
            queue,
            queued_bytes: Default::default(),
            max_queue_bytes,
            spill,
            alive: AtomicBool::new(true),
            hand_back_at: Mutex::new(None),
            disk_gate: gate,
            handed_back: AtomicU64::new(0),
            sync_hand_back,
            oldest_ms: AtomicI64::new(0),
            warned: AtomicUsize::new(0),
            born: Instant::now(),
            taken_at: AtomicU64::new(0),
            room_waiters: AtomicUsize::new(0),
            room: (Mutex::new(()), Condvar::new()),
        })
    }

    /// The worker took events from the memory queue just now: waiting producers have room.
    pub(super) fn note_taken(&self) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.taken_at.store(ms, Ordering::Relaxed);
        if self.room_waiters.load(Ordering::SeqCst) > 0 {
            let _held = self.room.0.lock();
            self.room.1.notify_all();
        }
    }

    /// Waits at most `slice` for the worker to take from the memory queue, trying `queue`
    /// first under the lock it wakes waiters with (so no wake-up falls between the two).
    /// `queue` gives back what it could not queue.
    pub(super) fn wait_for_room<T>(&self, slice: Duration, queue: impl FnOnce() -> Option<T>) -> Option<T> {
        self.room_waiters.fetch_add(1, Ordering::SeqCst);
        let mut held = self.room.0.lock();
        let back = queue();
        if back.is_some() {
            self.room.1.wait_for(&mut held, slice);
        }
        drop(held);
        self.room_waiters.fetch_sub(1, Ordering::SeqCst);
        back
    }

    /// Whether the worker took events from the memory queue within `window`.
    pub(super) fn taken_within(&self, window: Duration) -> bool {
        let now = self.born.elapsed().as_millis();
        now.saturating_sub(u128::from(self.taken_at.load(Ordering::Relaxed))) <= window.as_millis()
    }

    pub(super) fn worker_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    pub(super) fn unqueue(&self, weight: usize) {
        if weight > 0 {
            self.queued_bytes.fetch_sub(weight, Ordering::AcqRel);
        }
    }

    /// Fails what the memory queue holds.
    /// Keeps what the memory queue holds when no worker will take it: in the disk queue
    /// (a journal record is there already), for the next tracker; failed where it cannot be.
    pub(super) fn keep_queued(&self, error: &Error) {
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
    pub(super) fn keep(&self, error: &Error, events: &[Event]) {
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

    pub(super) fn hand_back_at(&self) -> Option<Instant> {
        *self.hand_back_at.lock()
    }

    pub(super) fn warn_once(&self, bit: usize) -> bool {
        self.warned.fetch_or(bit, Ordering::AcqRel) & bit == 0
    }
}
