//! The paths off the memory queue: spilling to disk (the default when it is full), waiting,
//! dropping, and what happens when no worker will take the event.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::consumer::{BackgroundConsumer, BLOCK_SLICE};
use super::queued::Ctl;
use crate::disk::AppendError;
use crate::error::{Error, Result};
use crate::event::Event;

/// How recently the worker must have taken from the memory queue for a producer that finds
/// it full to wait for room: a worker that took nothing for longer waits on something else
/// (a lane, an order key, a backend that holds no place in flight).
const TAKING: Duration = Duration::from_millis(20);
/// How recently the worker must have taken for a producer past the queue's hot part to
/// wait: takes that far apart leave room soon (on loopback a batch of 500 goes every half
/// millisecond); rarer ones mean the worker waits on the network, and the queue is for that.
const HOT_TAKING: Duration = Duration::from_millis(5);
/// The longest wait for room between looks at the collector and the worker.
const ROOM_SLICE: Duration = Duration::from_millis(1);

impl BackgroundConsumer {
    /// `Overflow::Spill`'s way into the memory queue: at once up to its hot part; past it,
    /// after a short wait while the CPU is the bound; else as far as the queue holds, and
    /// once full, after a wait while the CPU is the bound. `None`: queued; otherwise the
    /// event comes back, to spill.
    pub(super) fn queue_or_hold(&self, event: Event, weight: usize) -> Option<Event> {
        let event = if self.below_hot(weight) {
            self.try_queue(event, weight)?
        } else {
            let event = self.wait_while_taken(event, weight, true)?;
            self.try_queue(event, weight)?
        };
        self.wait_while_taken(event, weight, false)
    }

    /// Whether `weight` more bytes keep the memory queue within its hot part (see `Hot`).
    fn below_hot(&self, weight: usize) -> bool {
        let queued = self.shared.queued_bytes.load(Ordering::Acquire);
        self.hot.admits(queued, weight, || self.tx.len())
    }

    /// The memory queue is past its hot part (`hot`; the worker took within [`HOT_TAKING`])
    /// or full (the worker took within [`TAKING`]) while the collector answers (see
    /// `Flow::answering`): the CPU, not the network, is behind; a longer queue would only
    /// let its events go cold, and a spill would add to its work (an event spilled costs
    /// its encoding, its read-back and its decoding, about three times what the queue costs).
    /// Waits for room while that holds; gives the event back as soon as it does not.
    fn wait_while_taken(&self, mut event: Event, weight: usize, hot: bool) -> Option<Event> {
        let window = if hot { HOT_TAKING } else { TAKING };
        loop {
            // Without a disk queue too: the wait spares a drop.
            let spilling = self.shared.spill.as_ref().is_some_and(|s| s.is_spilling());
            if spilling
                || self.gate.is_closed()
                || !self.shared.worker_alive()
                || !self.shared.taken_within(window)
                || !self.flow.answering()
            {
                return Some(event);
            }
            let queue = || {
                if !hot || self.below_hot(weight) {
                    self.try_queue(event, weight)
                } else {
                    Some(event)
                }
            };
            match self.shared.wait_for_room(ROOM_SLICE, queue) {
                None => return None,
                Some(e) => event = e,
            }
        }
    }

    /// Appends to the disk queue, or drops (counted) where that cannot be done.
    pub(super) fn spill(&self, event: Event) -> Result<()> {
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
    pub(super) fn send_blocking(
        &self,
        mut event: Event,
        weight: usize,
        limit: Option<Duration>,
    ) -> Result<()> {
        let until = limit.map(|d| Instant::now() + d);
        loop {
            if self.gate.is_closed() || !self.shared.worker_alive() {
                // Shutdown is waiting for this producer: hand the event over another way.
                return self.settle_refused(event);
            }
            let slice = until.map_or(BLOCK_SLICE, |u| {
                u.saturating_duration_since(Instant::now()).min(BLOCK_SLICE)
            });
            match self.shared.wait_for_room(slice, || self.try_queue(event, weight)) {
                None => return Ok(()),
                Some(e) => event = e,
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Err(self.dropped("the queue stayed full for the block timeout"));
            }
        }
    }

    /// An accepted event that cannot enter the memory queue any more: to the disk queue if
    /// there is one, else failed (counted, and told to the callback).
    pub(super) fn settle_refused(&self, event: Event) -> Result<()> {
        if let Some(spill) = &self.shared.spill
            && spill.push(&event).is_ok()
        {
            self.shared.reporter.stats.add_spilled(1);
            return Ok(());
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
    pub(super) fn worker_gone(&self, event: Option<Event>) -> Error {
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

    pub(super) fn dropped(&self, why: &str) -> Error {
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
}
