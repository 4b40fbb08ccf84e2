//! The builder of [`BackgroundConsumer`]: settings, defaults, and where the spool lives.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use parking_lot::Mutex;

use super::consumer::BackgroundConsumer;
use super::flusher::Flusher;
use super::hot::Hot;
use super::lanes::Lanes;
use super::policy::{Durability, Overflow};
use super::shared::{Shared, TO_FREE_CAPACITY};
use super::spill::{self, Spill};
use super::worker::{AliveGuard, Worker};
use crate::backend::Backend;
use crate::consumer::gate::Gate;
use crate::consumer::Reporter;
use crate::delivery::{Cancel, Flow, DEFAULT_MAX_IN_FLIGHT};
use crate::disk::Reader;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::{Spool, DEFAULT_MAX_DISK_BYTES};

/// Default for [`BackgroundConsumerBuilder::flush_interval`].
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Default for [`BackgroundConsumerBuilder::queue_capacity`].
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Default for [`BackgroundConsumerBuilder::max_queue_bytes`]: 32 MiB.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 32 << 20;
/// The longest `flush_interval` taken; a longer one is clamped.
const MAX_FLUSH_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The spool and the spill with its reader, each where it could be opened.
type Opened = (Option<Spool>, Option<(Spill, Reader)>);

/// Where the consumer keeps its spool and spill.
enum SpoolSetting {
    Default,
    Off,
    Given(Spool),
}

/// Builder of [`BackgroundConsumer`].
///
/// | setting | default |
/// |---|---|
/// | `queue_capacity` | 10 000 events |
/// | `max_queue_bytes` | 32 MiB (as [`Event::weight`] measures) |
/// | `max_batch` | 500 (Gravity 5,000: its batches wait on each other while they share a client's profile), clamped to the backend's maximum and the queue capacity |
/// | `flush_interval` | 1 s |
/// | `overflow` | [`Overflow::Spill`] |
/// | `max_disk_bytes` | 1 GiB |
/// | `durability` | [`Durability::Memory`] |
/// | `max_in_flight` | adaptive: from 2 up to 128 requests at once ([`DEFAULT_MAX_IN_FLIGHT`]), learned from the answers; fewer where the backend needs (File, Memory: 1) |
/// | `rate_limit` | none (requests per second) |
/// | `redelivery` | 1 s doubling to 5 min: the wait before what failed for a transient reason goes again |
/// | `spool` | the default state directory (see [`crate::spool`]) |
/// | `thread_name` | `trackflow-worker` |
/// | `on_error` | log at `error` |
pub struct BackgroundConsumerBuilder {
    backend: Arc<dyn Backend>,
    capacity: usize,
    max_queue_bytes: usize,
    // Unset: the backend's default.
    max_batch: Option<usize>,
    interval: Duration,
    overflow: Overflow,
    max_disk_bytes: u64,
    durability: Durability,
    // Set: a fixed limit. Unset: adaptive, up to DEFAULT_MAX_IN_FLIGHT.
    max_in_flight: Option<usize>,
    // The adaptive limit's ceiling, where `max_in_flight` is unset.
    ceiling: usize,
    rate_limit: Option<f64>,
    redelivery: crate::transport::RetryPolicy,
    thread_name: String,
    reporter: Reporter,
    spool: SpoolSetting,
}

impl fmt::Debug for BackgroundConsumerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundConsumerBuilder")
            .field("capacity", &self.capacity)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("max_batch", &self.max_batch)
            .field("interval", &self.interval)
            .field("overflow", &self.overflow)
            .field("max_disk_bytes", &self.max_disk_bytes)
            .field("durability", &self.durability)
            .field("max_in_flight", &self.max_in_flight)
            .field("ceiling", &self.ceiling)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

impl BackgroundConsumerBuilder {
    pub(super) fn new(backend: impl Backend + 'static) -> Self {
        BackgroundConsumerBuilder {
            reporter: Reporter::default().for_backend(backend.name()),
            backend: Arc::new(backend),
            capacity: DEFAULT_QUEUE_CAPACITY,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            max_batch: None,
            interval: DEFAULT_FLUSH_INTERVAL,
            overflow: Overflow::default(),
            max_disk_bytes: DEFAULT_MAX_DISK_BYTES,
            durability: Durability::Memory,
            max_in_flight: None,
            ceiling: DEFAULT_MAX_IN_FLIGHT,
            rate_limit: None,
            redelivery: crate::transport::RetryPolicy::default()
                .initial_backoff(crate::delivery::DEFAULT_REDELIVERY_INITIAL)
                .max_backoff(crate::delivery::DEFAULT_REDELIVERY_MAX),
            thread_name: "trackflow-worker".to_owned(),
            spool: SpoolSetting::Default,
        }
    }

    /// Events the memory queue holds. Defaults to 10 000; at least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).queue_capacity(1000).spool(None).build();
    /// for i in 0..3 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 3);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(1);
        self
    }
    /// Bytes the memory queue holds, as [`Event::weight`] measures them: past either bound
    /// the queue counts as full. Defaults to 32 MiB. One event is always taken when the queue
    /// is empty, however large.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).max_queue_bytes(8 << 20).spool(None).build();
    /// for i in 0..3 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 3);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn max_queue_bytes(mut self, n: usize) -> Self {
        self.max_queue_bytes = n;
        self
    }
    /// Events per delivery. Defaults to 500; clamped to the backend's maximum and the queue
    /// capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).max_batch(100).spool(None).build();
    /// for i in 0..250 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 250);
    /// // 250 events went out in batches of at most 100.
    /// assert_eq!(c.stats().delivered, 250);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = Some(n);
        self
    }
    /// Longest time the oldest event of a batch waits for the batch to fill. Defaults to 1 s;
    /// clamped to between 1 ms and 24 h.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).flush_interval(Duration::from_millis(50)).spool(None).build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// // No flush: the batch goes out by itself once the interval has passed.
    /// let start = Instant::now();
    /// while memory.events().is_empty() && start.elapsed() < Duration::from_secs(5) {
    ///     std::thread::sleep(Duration::from_millis(10));
    /// }
    /// assert_eq!(memory.events().len(), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.interval = d.clamp(Duration::from_millis(1), MAX_FLUSH_INTERVAL);
        self
    }
    /// What to do when the memory queue is full. Defaults to [`Overflow::Spill`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).overflow(trackflow::Overflow::DropNewest).spool(None).build();
    /// for i in 0..3 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 3);
    /// assert_eq!(c.stats().dropped, 0);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn overflow(mut self, o: Overflow) -> Self {
        self.overflow = o;
        self
    }
    /// The disk budget of the spill: past it, spilled events are dropped (counted in
    /// [`StatsSnapshot::spill_full`](crate::StatsSnapshot::spill_full) and logged once).
    /// Defaults to 1 GiB.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-disk-{}", std::process::id()));
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone())
    ///     .max_disk_bytes(256 << 20)
    ///     .spool(trackflow::spool::Spool::open(&dir)?)
    ///     .build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 1);
    /// # drop(c); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_disk_bytes(mut self, n: u64) -> Self {
        self.max_disk_bytes = n;
        self
    }
    /// What an accepted event survives. Defaults to [`Durability::Memory`]. `Process` and
    /// `Fsync` keep a journal in the spool directory (`queue/`), so they need one:
    /// [`try_build`](Self::try_build) refuses them without, and a consumer from
    /// [`build`](Self::build) takes no event and fails the tracker's build (never a quiet
    /// `Memory`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-durable-{}", std::process::id()));
    /// use trackflow::{BackgroundConsumer, Durability, MemoryBackend, spool::Spool};
    /// let c = BackgroundConsumer::builder(MemoryBackend::new())
    ///     .durability(Durability::Process)
    ///     .spool(Spool::open(&dir)?)
    ///     .try_build()?;
    /// assert_eq!(c.durability(), Durability::Process);
    /// # drop(c); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }
    /// Requests in flight at once: batches go out side by side on lanes, and a backend
    /// that makes several requests per batch (Personalize, Retail, Talent, Gravity with
    /// several clients) makes them side by side, all within this bound. Set, the limit is
    /// fixed at `n` (lowered only by throttling); unset, it adapts to the collector between 1
    /// and [`in_flight_ceiling`](Self::in_flight_ceiling), 128 by default (see
    /// [`Flow::adaptive`]). At least 1, and at most what the backend takes
    /// ([`Backend::max_in_flight`](crate::Backend::max_in_flight)).
    ///
    /// Order: events of one batch keep their order within a request, and a backend that
    /// needs more says so by an order key ([`Backend::order_key`](crate::Backend::order_key):
    /// Gravity keeps each client's profile operations in order). Otherwise batches may land
    /// in any order; every event carries its own time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).max_in_flight(32).spool(None).build();
    /// for i in 0..3 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 3);
    /// // The Memory backend takes one delivery at a time, whatever the consumer allows.
    /// assert_eq!(c.flow().max_in_flight(), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n.max(1));
        self
    }

    /// The most requests in flight the adaptive limit may reach (at least 1; default
    /// [`DEFAULT_MAX_IN_FLIGHT`], 128): it starts at 2 and follows the collector's answers
    /// up to here. The threads carrying requests (lanes and their helpers) stay within it
    /// too. Ignored where [`max_in_flight`](Self::max_in_flight) fixes the limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{BackgroundConsumer, GrowingIo};
    /// let gio = GrowingIo::builder("http://127.0.0.1:9", "p", "d").build()?;
    /// let c = BackgroundConsumer::builder(gio).in_flight_ceiling(16).spool(None).build();
    /// assert_eq!((c.flow().limit(), c.flow().max_in_flight()), (2, 16));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn in_flight_ceiling(mut self, n: usize) -> Self {
        self.ceiling = n.max(1);
        self
    }
    /// At most this many requests start per second (retries included), evenly spaced, to
    /// stay under a vendor's quota (Personalize's PutEvents per tracking id, say). Defaults
    /// to none. Whatever the limit, a throttling reply (HTTP 429, AWS's
    /// `ThrottlingException`) pauses every lane for its wait and halves the concurrency,
    /// which grows back as requests succeed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).rate_limit(200.0).spool(None).build();
    /// for i in 0..3 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 3);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn rate_limit(mut self, requests_per_second: f64) -> Self {
        self.rate_limit = Some(requests_per_second);
        self
    }
    /// How long events that failed for a transient reason (no answer, a timeout, 408, 429,
    /// 5xx, credentials unavailable) wait before they are sent again: `initial`, doubling
    /// up to `max`, jittered, for as long as the process runs. The same backoff paces the
    /// circuit breaker: after repeated failures only one probe request goes per period, and
    /// the first answer resumes full width. Defaults to 1 s and 5 min; `max` is at least
    /// `initial`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).redelivery(Duration::from_millis(200), Duration::from_secs(30)).spool(None).build();
    /// for i in 0..3 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 3);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn redelivery(mut self, initial: Duration, max: Duration) -> Self {
        self.redelivery = crate::transport::RetryPolicy::default()
            .initial_backoff(initial)
            .max_backoff(max.max(initial));
        self
    }
    /// The worker thread's name. Defaults to `trackflow-worker`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{BackgroundConsumer, Consumer, MemoryBackend};
    /// let c = BackgroundConsumer::builder(MemoryBackend::new()).thread_name("tracker").spool(None).build();
    /// // The worker thread carries the name (in a debugger, in `top -H`); the consumer runs.
    /// assert!(c.ready().is_ok());
    /// ```
    pub fn thread_name(mut self, n: impl Into<String>) -> Self {
        self.thread_name = n.into();
        self
    }
    /// Called on the worker thread with each batch that failed for good. Defaults to logging
    /// at `error`. A panic in it is caught and logged.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::delivery::{Delivery, DeliveryCtx};
    /// # use trackflow::{Backend, Error, Event};
    /// # #[derive(Debug)]
    /// # struct Refuses;
    /// # impl Backend for Refuses {
    /// #     fn name(&self) -> &'static str { "refuses" }
    /// #     fn check(&self, _: &Event) -> trackflow::Result<()> { Ok(()) }
    /// #     fn deliver(&self, batch: &[Event], _: &DeliveryCtx<'_>) -> Delivery {
    /// #         let mut d = Delivery::default();
    /// #         d.record(Err(Error::invalid("properties", "refused")), 0, || (0..batch.len()).collect());
    /// #         d
    /// #     }
    /// # }
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Identity};
    /// let refused = Arc::new(AtomicUsize::new(0));
    /// let seen = refused.clone();
    /// let c = BackgroundConsumer::builder(Refuses)
    ///     .on_error(move |_err, events| { seen.fetch_add(events.len(), Ordering::Relaxed); })
    ///     .spool(None)
    ///     .build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(refused.load(Ordering::Relaxed), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn on_error(mut self, f: impl Fn(&Error, &[Event]) + Send + Sync + 'static) -> Self {
        self.reporter = self.reporter.with_error_callback(Arc::new(f));
        self
    }

    /// Calls `f` with the backend's name and the events of each request its collector
    /// acknowledged (2xx, or the backend's own success), as each request completes: every
    /// delivered event once, never one that was not delivered. For an audit trail; it runs
    /// on the delivering thread, so it should be quick. Unset, nothing is collected.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let c = BackgroundConsumer::builder(MemoryBackend::new())
    ///     .on_delivered(move |backend, events| {
    ///         log.lock().unwrap().extend(events.iter().map(|e| format!("{backend}:{}", e.insert_id)));
    ///     })
    ///     .spool(None)
    ///     .build();
    /// let e = Event::track("open").with_identity(Identity::user("u1"));
    /// let id = e.insert_id.to_string();
    /// c.consume(e)?;
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(*seen.lock().unwrap(), vec![format!("memory:{id}")]);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn on_delivered(mut self, f: impl Fn(&str, &[Event]) + Send + Sync + 'static) -> Self {
        self.reporter = self.reporter.with_delivered_callback(Arc::new(f));
        self
    }
    /// Where failed batches (`pending/`, `dead/`) and the overflow spill (`queue/`) are kept.
    /// Defaults to this process's state directory (see [`crate::spool`]); `None` keeps none:
    /// failures are only reported, and [`Overflow::Spill`] drops what does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-bg-{}", std::process::id()));
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).spool(trackflow::spool::Spool::open(&dir)?).build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// let report = c.shutdown(Duration::from_secs(5))?;
    /// // Delivered: nothing left in the spool for the next start.
    /// assert_eq!((memory.events().len(), report.left), (1, 0));
    /// let quiet = BackgroundConsumer::builder(MemoryBackend::new()).spool(None).build();
    /// assert_eq!(quiet.spilled_bytes(), 0);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spool(mut self, spool: impl Into<Option<Spool>>) -> Self {
        self.spool = spool.into().map_or(SpoolSetting::Off, SpoolSetting::Given);
        self
    }

    /// Starts the worker thread. Where the spool or spill cannot be used (a read-only file
    /// system, a directory another tracker holds), warns once and goes on without: the
    /// stats then count what that costs
    /// ([`spill_unavailable`](crate::StatsSnapshot::spill_unavailable)). Where what was asked
    /// cannot be had (`Process` durability without a journal, no thread for the worker), the
    /// consumer takes no event and says why ([`Consumer::ready`](crate::Consumer::ready), which
    /// the tracker's build asks); [`try_build`](Self::try_build) returns that error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).spool(None).build();
    /// for i in 0..1 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn build(mut self) -> BackgroundConsumer {
        // Lenient: `open_spool` falls back to none rather than fail.
        let opened = self.open_spool(false).unwrap_or_default();
        self.assemble(opened)
    }

    /// As [`build`](Self::build), but a spool given with [`spool`](Self::spool) whose disk
    /// queue cannot be opened (another tracker holds it, no permission) is an error.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] saying which directory and why.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-bg-try-{}", std::process::id()));
    /// use trackflow::{BackgroundConsumer, MemoryBackend, spool::Spool};
    /// let first = BackgroundConsumer::builder(MemoryBackend::new()).spool(Spool::open(&dir)?).try_build()?;
    /// let second = BackgroundConsumer::builder(MemoryBackend::new()).spool(Spool::open(&dir)?).try_build();
    /// assert!(second.unwrap_err().to_string().contains("in use by another tracker"));
    /// # drop(first); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_build(mut self) -> Result<BackgroundConsumer> {
        let opened = self.open_spool(true)?;
        let consumer = self.assemble(opened);
        match &consumer.broken {
            Some(why) => Err(Error::Config(why.clone())),
            None => Ok(consumer),
        }
    }

    fn assemble(mut self, (spool, spill): Opened) -> BackgroundConsumer {
        // No silent downgrade: a durability that cannot be honoured refuses every event,
        // and says why at the tracker's build.
        let mut broken = None;
        if self.durability != Durability::Memory && !spill.as_ref().is_some_and(|(s, _)| s.is_journal()) {
            let why = format!(
                "the {} consumer cannot honour {:?} durability: its journal (in the spool directory) could not be opened; give it a writable spool, or choose Durability::Memory",
                self.backend.name(),
                self.durability
            );
            log::error!("trackflow: {why}");
            broken = Some(why);
        }
        if let Some(s) = spool {
            if let Some((spill, _)) = &spill {
                // One budget over the queue and the dead letters; what an earlier version
                // left in `pending/` joins the queue, delivered like the rest.
                s.attach(spill.disk.clone());
                match s.migrate_pending(&spill.disk) {
                    Ok(0) => {}
                    Ok(n) => log::info!("trackflow: {n} events of pending/ moved into the queue"),
                    Err(e) => log::error!("trackflow: moving pending/ into the queue: {e}"),
                }
            }
            self.reporter = self.reporter.with_spool(s);
        }
        let mut consumer = match spill {
            Some((s, r)) => self.start(Some(s), Some(r)),
            None => self.start(None, None),
        };
        if consumer.broken.is_none() {
            consumer.broken = broken;
        }
        consumer
    }

    /// The spool and spill as set, falling back to none (with a warning) unless `strict`.
    fn open_spool(&mut self, strict: bool) -> Result<Opened> {
        let name = self.backend.name();
        let journal = self.durability != Durability::Memory;
        match std::mem::replace(&mut self.spool, SpoolSetting::Off) {
            SpoolSetting::Off if journal && strict => Err(Error::Config(format!(
                "{:?} durability keeps a journal in the spool directory: give the {name} consumer a spool",
                self.durability
            ))),
            SpoolSetting::Off => Ok((None, None)),
            SpoolSetting::Default => match spill::open_default(name, self.max_disk_bytes, journal) {
                Ok((spool, s, r)) => Ok((Some(spool), Some((s, r)))),
                Err(e) if journal && strict => Err(e),
                Err(e) => {
                    log::warn!(
                        "trackflow: no spool for the {name} consumer ({e}); what cannot be delivered or queued is counted and dropped"
                    );
                    Ok((None, None))
                }
            },
            SpoolSetting::Given(spool) => match Spill::open(&spool.queue_dir(), self.max_disk_bytes, journal)
            {
                Ok((s, r)) => Ok((Some(spool), Some((s, r)))),
                Err(e) if strict => Err(Error::Io(e)),
                Err(e) => {
                    log::warn!(
                        "trackflow: no spill for the {name} consumer ({e}); a full queue drops what does not fit"
                    );
                    Ok((Some(spool), None))
                }
            },
        }
    }

    /// Events per batch: as set, within what the backend and the memory queue take.
    fn batch_size(&self) -> usize {
        self.max_batch
            .unwrap_or_else(|| self.backend.default_batch())
            .clamp(1, self.backend.max_batch().max(1))
            .min(self.capacity)
    }

    /// The request budget: `max_in_flight` as the backend allows, the rate limit, redelivery.
    fn flow_for(&self, backend: &dyn Backend) -> Flow {
        let cap = backend.max_in_flight().unwrap_or(usize::MAX);
        let flow = match self.max_in_flight {
            Some(n) => Flow::new(n.min(cap)),
            None => Flow::adaptive(self.ceiling.min(cap)),
        };
        flow.rate_limit(self.rate_limit)
            .redelivery(self.redelivery.clone())
    }

    fn start(self, spill: Option<Spill>, reader: Option<Reader>) -> BackgroundConsumer {
        let max_batch = self.batch_size();
        let flow = self.flow_for(&*self.backend);
        let reporter = with_histograms(self.reporter, &flow);
        let (tx, rx) = bounded(self.capacity);
        let (ctl, ctl_rx) = unbounded();
        let (done_tx, done) = bounded::<()>(0);
        let (to_free_tx, to_free) = bounded(TO_FREE_CAPACITY);
        let cancel = Cancel::default();
        let sync_hand_back = matches!(self.durability, Durability::Fsync { .. });
        let shared = Shared::new(
            self.backend,
            reporter,
            rx.clone(),
            self.max_queue_bytes,
            spill,
            sync_hand_back,
        );
        // As many events out on lanes as the queue holds, or four batches if more.
        let most = self.capacity.max(4 * max_batch);
        let lanes = Lanes::new(shared.clone(), cancel.clone(), flow.clone(), most);
        let worker = Worker {
            lanes,
            flights: Default::default(),
            _alive: AliveGuard(shared.clone()),
            shared: shared.clone(),
            rx,
            ctl: ctl_rx,
            cancel: cancel.clone(),
            max_batch,
            interval: self.interval,
            buf: Vec::with_capacity(max_batch),
            weights: Vec::with_capacity(max_batch),
            reader,
            from_disk: false,
            passed_in_memory: None,
            to_free: to_free_tx,
            stopping: false,
            _done: done_tx,
        };
        let (handle, broken) = spawn(self.thread_name, worker, shared.backend.name());
        let flusher = flusher(self.durability, &shared);
        BackgroundConsumer {
            tx,
            ctl,
            shared,
            durability: self.durability,
            flusher,
            overflow: self.overflow,
            capacity: self.capacity,
            hot: Hot::new(self.max_queue_bytes, self.capacity, max_batch),
            gate: Gate::default(),
            cancel,
            flow,
            worker: Mutex::new(handle),
            done,
            to_free,
            hurry: AtomicBool::new(false),
            broken,
        }
    }
}

/// With `Fsync` durability, the thread that writes the journal through.
fn flusher(durability: Durability, shared: &Shared) -> Option<Flusher> {
    match durability {
        Durability::Fsync { interval } => shared.spill.as_ref().map(|s| {
            s.disk.write_through();
            Flusher::start(s.disk.clone(), interval)
        }),
        _ => None,
    }
}

/// Starts the worker on a thread of its own. Where the OS will not start a thread, the
/// consumer refuses events and says why (the second value).
fn spawn(name: String, worker: Worker, backend: &str) -> (Option<JoinHandle<()>>, Option<String>) {
    match std::thread::Builder::new().name(name).spawn(move || worker.run()) {
        Ok(h) => (Some(h), None),
        Err(e) => (
            None,
            Some(format!(
                "the {backend} consumer's worker thread could not start: {e}"
            )),
        ),
    }
}

impl BackgroundConsumer {
    /// A builder delivering to `backend`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BackgroundConsumer::builder(memory.clone()).spool(None).build();
    /// for i in 0..1 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn builder(backend: impl Backend + 'static) -> BackgroundConsumerBuilder {
        BackgroundConsumerBuilder::new(backend)
    }
}

/// The reporter, recording delivery delays in the flow's histograms (feature `metrics`).
fn with_histograms(reporter: Reporter, flow: &Flow) -> Reporter {
    #[cfg(feature = "metrics")]
    return reporter.with_instruments(flow.instruments().clone());
    #[cfg(not(feature = "metrics"))]
    {
        let _ = flow;
        reporter
    }
}
