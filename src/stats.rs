//! Counters of what happened to events, readable at any time.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A value alone on its cache line (128 bytes: adjacent-line prefetch pairs lines).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T = AtomicU64>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Live counters of one consumer. Every accepted event ends up counted exactly once as
/// delivered, failed or dropped (or is still pending: in the store, in memory or on disk).
#[derive(Debug, Default)]
pub struct Stats {
    // Producers bump `accepted` on every call and the worker bumps `delivered` per batch:
    // on separate cache lines, neither stalls the other.
    accepted: Padded,
    delivered: Padded,
    retried: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    spooled: AtomicU64,
    spilled: AtomicU64,
    recovered: AtomicU64,
    spill_unavailable: AtomicU64,
    spill_full: AtomicU64,
}

/// A point-in-time copy of [`Stats`], ready for a metrics exporter.
///
/// # Examples
///
/// ```
/// use trackflow::{ImmediateConsumer, MemoryBackend, Tracker};
/// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
/// let s = tracker.stats();
/// assert_eq!(s.pending(), 0);
/// assert_eq!(serde_json::to_value(s).unwrap()["delivered"], 0);
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Events handed to the consumer.
    pub accepted: u64,
    /// Events the backend confirmed.
    pub delivered: u64,
    /// Requests sent again after a transient failure.
    pub retried: u64,
    /// Events that failed for good (reported to the error callback).
    pub failed: u64,
    /// Events given up by the overflow policy (never handed to a backend).
    pub dropped: u64,
    /// Failed events written to the spool (part of `failed`): dead letters, and for the
    /// Immediate and Buffered consumers, events kept in the spool's queue for a later tracker.
    pub spooled: u64,
    /// Events that went to the disk queue because the memory queue was full
    /// ([`Overflow::Spill`](crate::Overflow::Spill)).
    pub spilled: u64,
    /// Events an earlier process left in the disk queue, read back by this one (part of
    /// `accepted`).
    pub recovered: u64,
    /// Events dropped because the queue was full and no spill directory could be used (part
    /// of `dropped`): a read-only file system, or spilling turned off.
    pub spill_unavailable: u64,
    /// Events dropped because the queue was full and the disk budget was reached (part of
    /// `dropped`).
    pub spill_full: u64,
    /// Gauge: events this process put in its disk queue (spilled, or journaled and not
    /// copied to memory) that wait to be read back and delivered. What an earlier process
    /// left there is counted in `disk_bytes` until it is read (then in `recovered`).
    pub disk_events: u64,
    /// Gauge: bytes the consumer keeps on disk (its queue and its dead letters), which its
    /// disk budget bounds.
    pub disk_bytes: u64,
    /// Gauge: how old (by its time) the oldest event out for delivery is, in milliseconds;
    /// 0 when none is. It grows during an outage, while the store holds what cannot go.
    pub oldest_age_ms: u64,
}

impl StatsSnapshot {
    /// Accepted events not yet delivered, failed or dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = trackflow::StatsSnapshot::default();
    /// (s.accepted, s.delivered, s.failed) = (10, 7, 1);
    /// assert_eq!(s.pending(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending(&self) -> u64 {
        self.accepted
            .saturating_sub(self.delivered + self.failed + self.dropped)
    }
}

impl std::ops::Add for StatsSnapshot {
    type Output = StatsSnapshot;
    fn add(self, o: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            accepted: self.accepted + o.accepted,
            delivered: self.delivered + o.delivered,
            retried: self.retried + o.retried,
            failed: self.failed + o.failed,
            dropped: self.dropped + o.dropped,
            spooled: self.spooled + o.spooled,
            spilled: self.spilled + o.spilled,
            recovered: self.recovered + o.recovered,
            spill_unavailable: self.spill_unavailable + o.spill_unavailable,
            spill_full: self.spill_full + o.spill_full,
            disk_events: self.disk_events + o.disk_events,
            disk_bytes: self.disk_bytes + o.disk_bytes,
            oldest_age_ms: self.oldest_age_ms.max(o.oldest_age_ms),
        }
    }
}

impl Stats {
    /// Copies the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trackflow::stats::Stats::default();
    /// assert_eq!(s.snapshot(), trackflow::StatsSnapshot::default());
    /// ```
    pub fn snapshot(&self) -> StatsSnapshot {
        // Read the outcomes before `accepted` so a concurrent snapshot never shows more
        // outcomes than acceptances (pending() would underflow).
        let delivered = self.delivered.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        let dropped = self.dropped.load(Ordering::Acquire);
        let retried = self.retried.load(Ordering::Relaxed);
        let spooled = self.spooled.load(Ordering::Relaxed);
        StatsSnapshot {
            accepted: self.accepted.load(Ordering::Acquire),
            delivered,
            retried,
            failed,
            dropped,
            spooled,
            spilled: self.spilled.load(Ordering::Relaxed),
            recovered: self.recovered.load(Ordering::Relaxed),
            spill_unavailable: self.spill_unavailable.load(Ordering::Relaxed),
            spill_full: self.spill_full.load(Ordering::Relaxed),
            disk_events: 0,
            disk_bytes: 0,
            oldest_age_ms: 0,
        }
    }

    pub(crate) fn add_accepted(&self, n: u64) {
        self.accepted.fetch_add(n, Ordering::AcqRel);
    }
    pub(crate) fn add_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::AcqRel);
    }
    pub(crate) fn add_retried(&self, n: u64) {
        if n > 0 {
            self.retried.fetch_add(n, Ordering::Relaxed);
        }
    }
    pub(crate) fn add_failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::AcqRel);
    }
    pub(crate) fn add_spooled(&self, n: u64) {
        self.spooled.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_spilled(&self, n: u64) {
        self.spilled.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts `n` events read back from an earlier process's disk queue as accepted here.
    pub(crate) fn add_recovered(&self, n: u64) {
        self.recovered.fetch_add(n, Ordering::Relaxed);
        self.accepted.fetch_add(n, Ordering::AcqRel);
    }
    pub(crate) fn add_spill_unavailable(&self, n: u64) {
        self.spill_unavailable.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_spill_full(&self, n: u64) {
        self.spill_full.fetch_add(n, Ordering::Relaxed);
    }
    /// Returns the total dropped so far, including these.
    pub(crate) fn add_dropped(&self, n: u64) -> u64 {
        self.dropped.fetch_add(n, Ordering::AcqRel) + n
    }
}

/// One consumer's counters and gauges, labelled for a metrics exporter (see
/// [`Tracker::backend_stats`](crate::Tracker::backend_stats)).
///
/// `skipped` and `not_routed` count events the tracker offered and this consumer never took,
/// so they are not part of `stats.accepted`.
///
/// # Examples
///
/// ```
/// use trackflow::{ImmediateConsumer, MemoryBackend, Tracker};
/// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
/// let s = &tracker.backend_stats()[0];
/// assert_eq!((s.name.as_str(), s.backend, s.skipped), ("memory", "memory", 0));
/// assert_eq!(serde_json::to_value(s).unwrap()["delivered"], 0);
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BackendStats {
    /// The label: the route's, else the backend's name (`-2`, `-3`… for repeats).
    pub name: String,
    /// The backend's [`Backend::name`](crate::Backend::name).
    pub backend: &'static str,
    /// The consumer's counters.
    #[serde(flatten)]
    pub stats: StatsSnapshot,
    /// Events this backend could not carry: its check refused them at the call (with one
    /// consumer, the call returned that error; in a fan-out, the others still took them).
    pub skipped: u64,
    /// Events its [`Route`](crate::Route) did not admit.
    pub not_routed: u64,
    /// Events taken and not yet handed to the backend (memory queue, buffer, unread spill).
    pub queue_depth: u64,
    /// Bytes the disk queue takes.
    pub spilled_bytes: u64,
    /// Requests in flight now (Background consumer; 0 for the others).
    pub in_flight: u64,
    /// The most requests it sends at once (Background consumer; 1 for the others): the
    /// ceiling of `limit`.
    pub max_in_flight: u64,
    /// The requests it allows in flight now, as learned from the collector's answers
    /// (Background consumer; 1 for the others).
    pub limit: u64,
    /// The mean response time of its last window of answers, in ms (Background consumer,
    /// once answers came; 0 otherwise).
    pub rtt_ms: u64,
    /// Throttling replies (429, AWS `ThrottlingException`) that slowed the consumer down.
    pub throttled: u64,
    /// The circuit breaker of the consumer's requests (Background consumer; closed for the
    /// others): open while the backend keeps failing, when only a probe per backoff period
    /// goes.
    pub circuit: crate::delivery::CircuitState,
}
