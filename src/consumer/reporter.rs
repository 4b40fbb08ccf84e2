//! How every consumer accounts for what a delivery came to: the counters, the dead letters,
//! the error callback, and the delivered callback.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::{DeliveredCallback, DiskGate, ErrorCallback};
use crate::backend::Backend;
use crate::delivery::Delivery;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::{ReplayReport, Spool};
use crate::stats::Stats;

/// Stats plus callbacks: how every consumer accounts for a delivery.
#[derive(Clone, Default)]
pub(crate) struct Reporter {
    pub(crate) stats: Arc<Stats>,
    on_error: Option<ErrorCallback>,
    on_delivered: Option<DeliveredCallback>,
    // The delivery-delay histogram (feature `metrics`), shared with the consumer's flow.
    #[cfg(feature = "metrics")]
    instruments: Option<Arc<crate::observe::metrics::Instruments>>,
    pub(crate) spool: Option<Arc<Spool>>,
    backend: &'static str,
    // Spool writes stop when the consumer's shutdown has given up waiting.
    pub(crate) gate: Option<Arc<DiskGate>>,
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporter")
            .field("stats", &self.stats.snapshot())
            .field("on_error", &self.on_error.is_some())
            .field("on_delivered", &self.on_delivered.is_some())
            .field("spool", &self.spool.as_ref().map(|s| s.dir().to_path_buf()))
            .finish()
    }
}

impl Reporter {
    pub(crate) fn with_error_callback(mut self, f: ErrorCallback) -> Self {
        self.on_error = Some(f);
        self
    }

    /// Records each acknowledged event's delay in the consumer's histogram.
    #[cfg(feature = "metrics")]
    pub(crate) fn with_instruments(mut self, i: Arc<crate::observe::metrics::Instruments>) -> Self {
        self.instruments = Some(i);
        self
    }

    pub(crate) fn with_delivered_callback(mut self, f: DeliveredCallback) -> Self {
        self.on_delivered = Some(f);
        self
    }

    /// Whether acknowledged events are wanted one by one (the delivered callback, the
    /// metrics' delivery delay); otherwise only counted.
    pub(crate) fn watches_deliveries(&self) -> bool {
        #[cfg(feature = "metrics")]
        if self.instruments.as_ref().is_some_and(|i| i.is_bound()) {
            return true;
        }
        self.on_delivered.is_some()
    }

    /// Events a collector acknowledged (each once, already counted): to the delivery-delay
    /// histogram and the delivered callback.
    pub(crate) fn acknowledged(&self, events: &[&Event]) {
        #[cfg(feature = "metrics")]
        if let Some(i) = &self.instruments {
            i.delivered(crate::clock::Clock::now_ms(&crate::clock::SystemClock), events);
        }
        let Some(cb) = &self.on_delivered else {
            return;
        };
        if events.is_empty() {
            return;
        }
        let owned: Vec<Event> = events.iter().map(|&e| e.clone()).collect();
        // A panicking callback must not take the lane with it.
        if catch_unwind(AssertUnwindSafe(|| cb(self.backend, &owned))).is_err() {
            log::error!(
                "trackflow: the delivered callback panicked on {} events",
                owned.len()
            );
        }
    }

    pub(crate) fn with_spool(mut self, spool: Spool) -> Self {
        self.spool = Some(Arc::new(spool));
        self
    }

    pub(crate) fn for_backend(mut self, name: &'static str) -> Self {
        self.backend = name;
        self
    }

    /// Replays the spool into `backend`; nothing without a spool.
    pub(crate) fn replay(&self, backend: &dyn Backend) -> Result<ReplayReport> {
        match &self.spool {
            Some(s) => s.replay(backend),
            None => Ok(ReplayReport::default()),
        }
    }

    /// Replays the spool's dead letters only (a live consumer delivers its queue itself).
    pub(crate) fn replay_dead(&self, backend: &dyn Backend) -> Result<ReplayReport> {
        match &self.spool {
            Some(s) => s.replay_dead(
                backend,
                &crate::spool::replay_flow(backend),
                ReplayReport::default(),
                &mut |_| {},
            ),
            None => Ok(ReplayReport::default()),
        }
    }

    /// Counts the outcome of delivering `batch`, hands failures to the callback, and returns
    /// the first failure's error (what the Immediate consumer gives its caller). Leaves
    /// `batch` empty, its allocation kept for the next one.
    pub(crate) fn report(&self, batch: &mut Vec<Event>, d: Delivery) -> Option<Error> {
        if d.failures.is_empty() {
            self.succeeded(batch.len(), d.retries);
            if self.watches_deliveries() {
                self.acknowledged(&batch.iter().collect::<Vec<_>>());
            }
            batch.clear();
            return None;
        }
        let mut slots: Vec<Option<Event>> = batch.drain(..).map(Some).collect();
        let mut failed = 0;
        let mut first = None;
        for f in d.failures {
            // An index out of range, or named twice, takes nothing.
            let events: Vec<Event> = f
                .events
                .iter()
                .filter_map(|&i| slots.get_mut(i)?.take())
                .collect();
            failed += events.len();
            self.failed(&f.error, &events);
            first.get_or_insert(f.error);
        }
        self.succeeded(slots.len() - failed, d.retries);
        if self.watches_deliveries() {
            self.acknowledged(&slots.iter().flatten().collect::<Vec<_>>());
        }
        first
    }

    /// Counts `events` as failed for `error`, then spools them and tells the callback.
    pub(crate) fn failed(&self, error: &Error, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        self.count_failed(events.len());
        self.fail(error, events);
    }

    /// As [`failed`](Self::failed), where nothing can keep them (no spool, or it failed).
    pub(crate) fn failed_unstored(&self, error: &Error, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        self.count_failed(events.len());
        self.tell(error, events);
    }

    fn count_failed(&self, n: usize) {
        self.stats.add_failed(n as u64);
    }

    /// Counts `n` events delivered after `retries` retries.
    pub(crate) fn succeeded(&self, n: usize, retries: u32) {
        self.stats.add_retried(retries as u64);
        self.stats.add_delivered(n as u64);
    }

    /// Counts `events` as failed for `error`, spools them, and tells the callback (or the log).
    pub(crate) fn fail(&self, error: &Error, events: &[Event]) {
        if let Some(spool) = &self.spool {
            let write = || spool.write(events, error, self.backend);
            let written = match &self.gate {
                Some(g) => g.write(write),
                None => Some(write()),
            };
            match written {
                Some(Ok(())) => self.stats.add_spooled(events.len() as u64),
                Some(Err(e)) => log::error!("trackflow: could not spool {} failed events: {e}", events.len()),
                None => log::error!(
                    "trackflow: {} failed events not spooled: the shutdown deadline had passed",
                    events.len()
                ),
            }
        }
        self.tell(error, events);
    }

    /// Hands failed events to the error callback, or to the log without one.
    pub(crate) fn tell(&self, error: &Error, events: &[Event]) {
        match &self.on_error {
            Some(cb) => {
                // A panicking callback must not take the worker down with it.
                if catch_unwind(AssertUnwindSafe(|| cb(error, events))).is_err() {
                    log::error!(
                        "trackflow: the error callback panicked on {} failed events",
                        events.len()
                    );
                }
            }
            None => log::error!("trackflow: {} events failed for good: {error}", events.len()),
        }
    }
}
