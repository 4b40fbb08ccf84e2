//! WHEN events are sent.
//!
//! ```text
//!                 ┌ Immediate ── deliver now, on the caller's thread, return the result
//! Tracker ─Event─►├ Buffered ─── collect on the caller's thread; deliver at max_batch / flush
//!                 ├ Background ─ bounded queue ─► worker thread; max_batch or flush_interval
//!                 └ Debug ────── strict checks; log every request; optional dry run
//!                                      │
//!                                      ▼ &[Event]
//!                                   Backend
//! ```
//!
//! Every consumer counts what happens to each event in its [`Stats`](crate::stats::Stats) and hands
//! batches that fail for good to its error callback, so nothing is lost without a count.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::Backend;
use crate::delivery::DeliveryCtx;
use crate::delivery::{Delivery, Failure};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::ReplayReport;
use crate::stats::StatsSnapshot;

mod background;
mod buffered;
mod debug;
mod gate;
mod immediate;
mod reporter;

pub use crate::spool::DEFAULT_MAX_DISK_BYTES;
pub use background::{
    BackgroundConsumer, BackgroundConsumerBuilder, Durability, Overflow, DEFAULT_FLUSH_INTERVAL,
    DEFAULT_MAX_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY,
};
pub use buffered::{BufferedConsumer, BufferedConsumerBuilder};
pub use debug::{DebugConsumer, DebugConsumerBuilder};
pub use immediate::ImmediateConsumer;
pub(crate) use reporter::Reporter;

/// Default deadline of [`Tracker::flush`](crate::Tracker::flush) and of a consumer dropped
/// without shutdown.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long past its deadline a shutdown waits for cancelled work to finish spooling (local
/// writes only: every network wait has been cancelled by then).
pub(crate) const SETTLE_GRACE: Duration = Duration::from_secs(2);

/// Called with each batch that failed for good and the reason.
pub type ErrorCallback = Arc<dyn Fn(&Error, &[Event]) + Send + Sync>;

/// Called with the backend's name and the events of each request its collector
/// acknowledged, once per event (see `on_delivered` on each consumer's builder).
pub type DeliveredCallback = Arc<dyn Fn(&str, &[Event]) + Send + Sync>;

/// What a shutdown achieved.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Properties, Tracker};
///
/// let tracker = Tracker::builder()
///     .consumer(BackgroundConsumer::builder(MemoryBackend::new()).build())
///     .build()?;
/// tracker.track(&Identity::user("u1"), "open", Properties::new())?;
/// let report = tracker.shutdown(Duration::from_secs(2))?;
/// assert_eq!((report.stats.delivered, report.left), (1, 0));
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The counters after shutdown.
    pub stats: StatsSnapshot,
    /// Events not delivered because the deadline passed: failed with [`Error::Cancelled`]
    /// (and reported to the error callback), or still in flight when the caller gave up.
    pub left: u64,
    /// Whether everything finished before the deadline.
    pub completed: bool,
}

impl std::ops::Add for ShutdownReport {
    type Output = ShutdownReport;
    fn add(self, o: ShutdownReport) -> ShutdownReport {
        ShutdownReport {
            stats: self.stats + o.stats,
            left: self.left + o.left,
            completed: self.completed && o.completed,
        }
    }
}

/// A strategy for when to deliver.
///
/// Consumers are shared across threads by the tracker.
pub trait Consumer: Send + Sync + fmt::Debug {
    /// Whether this consumer's backend can carry `event` (called at the call, before
    /// [`consume`](Self::consume)).
    ///
    /// # Errors
    ///
    /// The backend's [`Error::Unsupported`] or [`Error::InvalidInput`].
    fn check(&self, event: &Event) -> Result<()>;

    /// Takes an event. What the result means depends on the consumer: the Immediate consumer
    /// returns the delivery result, queueing consumers return whether the event was accepted.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyShutdown`], [`Error::QueueFull`], or a delivery error.
    fn consume(&self, event: Event) -> Result<()>;

    /// [`consume`](Self::consume), told the event's [`Event::weight`] (the tracker has it
    /// from validation), so a queue with a byte budget need not compute it again.
    #[doc(hidden)]
    fn consume_with_weight(&self, event: Event, weight: usize) -> Result<()> {
        let _ = weight;
        self.consume(event)
    }

    /// Delivers everything taken before this call, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when the deadline passed first.
    fn flush(&self, timeout: Duration) -> Result<()>;

    /// Flushes, stops, and reports. Later calls to `consume` fail with
    /// [`Error::AlreadyShutdown`].
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyShutdown`] on a second call.
    fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport>;

    /// The counters.
    fn stats(&self) -> StatsSnapshot;

    /// Delivers again what this consumer's spool holds (see [`Spool::replay`](crate::spool::Spool::replay)). Defaults to
    /// nothing, for consumers without a spool.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the spool cannot be read.
    fn replay_spool(&self) -> Result<ReplayReport> {
        Ok(ReplayReport::default())
    }

    /// The backend's [`Backend::name`], which labels this consumer's counters. Defaults to
    /// `"custom"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Consumer, ImmediateConsumer, MemoryBackend};
    /// assert_eq!(ImmediateConsumer::new(MemoryBackend::new()).backend_name(), "memory");
    /// ```
    fn backend_name(&self) -> &'static str {
        "custom"
    }

    /// Events taken and not yet handed to the backend (queued in memory, buffered, or spilled
    /// to disk and not read back). Defaults to 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{BufferedConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let c = BufferedConsumer::builder(MemoryBackend::new()).max_batch(10).build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// assert_eq!(c.queue_depth(), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    fn queue_depth(&self) -> u64 {
        0
    }

    /// Bytes this consumer's disk queue takes. Defaults to 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{BackgroundConsumer, Consumer, MemoryBackend};
    /// let c = BackgroundConsumer::builder(MemoryBackend::new()).spool(None).build();
    /// assert_eq!(Consumer::spilled_bytes(&c), 0);
    /// ```
    fn spilled_bytes(&self) -> u64 {
        0
    }

    /// Whether the consumer can take events; an error says why not (a durability it cannot
    /// honour, a worker thread the OS would not start). [`TrackerBuilder::build`](crate::TrackerBuilder::build)
    /// asks every consumer. Defaults to ready.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] saying what is wrong and what to change.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{BackgroundConsumer, Consumer, Durability, MemoryBackend};
    /// let c = BackgroundConsumer::builder(MemoryBackend::new())
    ///     .durability(Durability::Process)
    ///     .spool(None)
    ///     .build();
    /// assert!(c.ready().unwrap_err().to_string().contains("cannot honour Process durability"));
    /// ```
    fn ready(&self) -> Result<()> {
        Ok(())
    }

    /// Cuts a shutdown under way short: no more waiting for the network; what is not
    /// delivered is kept (handed back to the disk queue) and the shutdown returns. For a
    /// second Ctrl-C. Defaults to nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).spool(None).build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// c.interrupt();
    /// // The shutdown after an interrupt does not wait for the network; the books still balance.
    /// let report = c.shutdown(Duration::from_secs(5))?;
    /// let s = report.stats;
    /// assert_eq!(s.accepted, s.delivered + s.failed + s.dropped + report.left);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    fn interrupt(&self) {}

    /// The consumer's request budget, where it sends requests side by side (the
    /// Background consumer). Defaults to `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{BackgroundConsumer, Consumer, ImmediateConsumer, MemoryBackend};
    /// assert!(ImmediateConsumer::new(MemoryBackend::new()).flow().is_none());
    /// let c = BackgroundConsumer::builder(MemoryBackend::new()).spool(None).build();
    /// assert_eq!(Consumer::flow(&c).map(|f| f.in_flight()), Some(0));
    /// ```
    fn flow(&self) -> Option<&crate::delivery::Flow> {
        None
    }
}

// Shared and boxed consumers are consumers.
macro_rules! forward_consumer {
    ($($ptr:ident),*) => {$(
        impl<T: Consumer + ?Sized> Consumer for $ptr<T> {
            fn check(&self, event: &Event) -> Result<()> {
                (**self).check(event)
            }
            fn consume(&self, event: Event) -> Result<()> {
                (**self).consume(event)
            }
            fn consume_with_weight(&self, event: Event, weight: usize) -> Result<()> {
                (**self).consume_with_weight(event, weight)
            }
            fn flush(&self, timeout: Duration) -> Result<()> {
                (**self).flush(timeout)
            }
            fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport> {
                (**self).shutdown(timeout)
            }
            fn stats(&self) -> StatsSnapshot {
                (**self).stats()
            }
            fn replay_spool(&self) -> Result<ReplayReport> {
                (**self).replay_spool()
            }
            fn backend_name(&self) -> &'static str {
                (**self).backend_name()
            }
            fn queue_depth(&self) -> u64 {
                (**self).queue_depth()
            }
            fn spilled_bytes(&self) -> u64 {
                (**self).spilled_bytes()
            }
            fn flow(&self) -> Option<&crate::delivery::Flow> {
                (**self).flow()
            }
            fn interrupt(&self) {
                (**self).interrupt()
            }
            fn ready(&self) -> Result<()> {
                (**self).ready()
            }
        }
    )*};
}
forward_consumer!(Arc, Box);

/// Where a consumer's writes to disk meet its shutdown: once a shutdown has stopped waiting,
/// nothing more is written, so that nothing is written after it returned.
#[derive(Debug, Default)]
pub(crate) struct DiskGate {
    closed: parking_lot::Mutex<bool>,
}

impl DiskGate {
    /// Runs `write` unless the gate is closed; it cannot close while `write` runs.
    pub(crate) fn write<T>(&self, write: impl FnOnce() -> T) -> Option<T> {
        let closed = self.closed.lock();
        (!*closed).then(write)
    }

    /// Closes the gate, waiting at most `wait` for a write under way; false when one still
    /// runs.
    pub(crate) fn close(&self, wait: Duration) -> bool {
        match self.closed.try_lock_for(wait) {
            Some(mut closed) => {
                *closed = true;
                true
            }
            None => false,
        }
    }
}

/// Delivers `batch`, splitting any part refused as too large in half and delivering the
/// halves again, down to single events; a single event still too large fails with
/// [`Error::TooLarge`].
pub(crate) fn deliver_split(backend: &dyn Backend, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
    let mut d = backend.deliver(batch, ctx);
    // Indices come from the backend: drop any out of range or named twice, so that a
    // confused backend can neither panic this nor split for ever.
    let mut seen = vec![false; batch.len()];
    for f in &mut d.failures {
        f.events
            .retain(|&i| i < batch.len() && !std::mem::replace(&mut seen[i], true));
    }
    let (too_large, rest): (Vec<Failure>, Vec<Failure>) = d
        .failures
        .drain(..)
        .partition(|f| matches!(f.error, Error::TooLarge { .. }) && f.events.len() > 1);
    d.failures = rest;
    for f in too_large {
        let idx = f.events;
        let events: Vec<Event> = idx.iter().map(|&i| batch[i].clone()).collect();
        let (left, right) = events.split_at(events.len() / 2);
        for (half, offset) in [(left, 0), (right, left.len())] {
            // A half's requests acknowledge into the whole batch.
            let map = &idx[offset..offset + half.len()];
            let remap = ctx.remap(map);
            let sub = deliver_split(backend, half, &ctx.for_part(&remap));
            d.retries += sub.retries;
            for mut sf in sub.failures {
                sf.events = sf
                    .events
                    .iter()
                    .filter_map(|i| idx.get(i + offset).copied())
                    .collect();
                d.failures.push(sf);
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reports failures at indices it should not: out of range, and twice.
    #[derive(Debug)]
    struct Confused;

    impl Backend for Confused {
        fn name(&self) -> &'static str {
            "confused"
        }
        fn check(&self, _: &Event) -> Result<()> {
            Ok(())
        }
        fn deliver(&self, _: &[Event], _: &DeliveryCtx<'_>) -> Delivery {
            Delivery {
                retries: 0,
                failures: vec![
                    Failure {
                        error: Error::TooLarge { bytes: 1 },
                        events: vec![0, 7, 99],
                    },
                    Failure {
                        error: Error::Transport("x".into()),
                        events: vec![0, 1, 1, usize::MAX],
                    },
                ],
            }
        }
    }

    #[test]
    fn failure_indices_out_of_range_are_ignored() {
        let batch: Vec<Event> = (0..3).map(|_| Event::track("e")).collect();
        let cancel = crate::delivery::Cancel::default();
        let ctx = DeliveryCtx::new(&cancel);
        let d = deliver_split(&Confused, &batch, &ctx);
        let reporter = Reporter::default();
        let mut b = batch.clone();
        reporter.report(&mut b, d);
        let s = reporter.stats.snapshot();
        assert_eq!(s.delivered + s.failed, 3, "{s:?}");
    }
}
