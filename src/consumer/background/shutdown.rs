//! A shutdown's waits: until the worker has delivered or handed back, within the deadline,
//! and what the report says at the end.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::consumer::BackgroundConsumer;
use super::queued::Ctl;
use crate::consumer::{ShutdownReport, SETTLE_GRACE};
use crate::error::{Error, Result};
use crate::stats::StatsSnapshot;
use crate::Consumer;

impl BackgroundConsumer {
    /// See [`Consumer::shutdown`].
    pub(super) fn shut_down(&self, timeout: Duration) -> Result<ShutdownReport> {
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
        if finished && let Some(h) = self.worker.lock().take() {
            let _ = h.join();
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

/// How often a shutdown's waits look for an interrupt.
const HURRY_SLICE: Duration = Duration::from_millis(20);

/// Waits until the worker thread has exited (its end of `done` dropped).
fn wait_done(done: &Receiver<()>, d: Duration) -> bool {
    matches!(done.recv_timeout(d), Err(RecvTimeoutError::Disconnected))
}
