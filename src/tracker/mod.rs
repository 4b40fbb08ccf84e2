//! The front end: validates each call, stamps time and insert id, merges super properties,
//! and hands the event to every consumer.

#[cfg(feature = "tokio")]
mod asyncs;
mod builder;
mod calls;
mod guard;
mod lifecycle;
mod options;

pub use builder::TrackerBuilder;
pub use guard::{TrackerGuard, DEFAULT_GUARD_TIMEOUT};
pub use options::{EventOptions, WithOptions};

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::clock::{new_insert_id, Clock, SharedClock};
use crate::consumer::Consumer;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, Identity};
use crate::route::Route;
use crate::stats::{BackendStats, StatsSnapshot};
use crate::validate::Limits;
use crate::value::Properties;

/// Computes properties to add to every track event, evaluated per event.
pub type DynamicSuperProperties = Arc<dyn Fn() -> Properties + Send + Sync>;

/// Records what users do and hands it to consumers.
///
/// Cheap to clone (one `Arc`), `Send + Sync`: share one tracker across threads.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Properties, Tracker};
///
/// let memory = MemoryBackend::new();
/// let tracker = Tracker::builder()
///     .consumer(BackgroundConsumer::builder(memory.clone()).build())
///     .super_properties(Properties::new().with("app", "shop"))
///     .build()?;
///
/// let who = Identity::anonymous("device-001").with_user("user-001");
/// tracker.track(&who, "purchase", Properties::new().with("price", 9.9).with("qty", 2))?;
/// tracker.user_set(&who, Properties::new().with("plan", "pro"))?;
/// tracker.user_increment(&who, Properties::new().with("orders", 1))?;
/// tracker.item_set("book", "item-001", Properties::new().with("title", "Rust"))?;
///
/// let report = tracker.shutdown(Duration::from_secs(2))?;
/// assert_eq!(report.stats.delivered, 4);
/// assert_eq!(memory.events()[0].properties.get("app"), Some(&"shop".into()));
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Clone)]
pub struct Tracker {
    inner: Arc<Inner>,
}

struct Inner {
    consumers: Vec<Box<dyn Consumer>>,
    // One per consumer, same order: what it is given and what it was offered but never took.
    slots: Vec<Slot>,
    supers: RwLock<Properties>,
    // Lets track() skip the lock (a write to a shared cache line) when there are none.
    has_supers: AtomicBool,
    dynamic: Option<DynamicSuperProperties>,
    clock: SharedClock,
    limits: Limits,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle: each consumer's drop shuts it down, a bounded wait that must not
        // fall on an executor thread.
        #[cfg(feature = "tokio")]
        if !self.closed.load(Ordering::Acquire) {
            let consumers = std::mem::take(&mut self.consumers);
            crate::runtime::off_runtime(move || drop(consumers));
        }
    }
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("consumers", &self.inner.consumers)
            .field("super_properties", &self.inner.supers.read().len())
            .field("dynamic_super_properties", &self.inner.dynamic.is_some())
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// A consumer's place in the fan-out.
#[derive(Debug)]
struct Slot {
    route: Route,
    admits_all: bool,
    label: String,
    skipped: AtomicU64,
    not_routed: AtomicU64,
}

/// At most this many consumers: the fan-out marks takers in one `u64`.
const MAX_CONSUMERS: usize = 64;

impl Tracker {
    /// Records a custom event `name` done by `who`. For its own time, insert id or
    /// interaction block, see [`with`](Self::with).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the field and rule; [`Error::Unsupported`] if a
    /// backend cannot carry it; what the consumer returns (see [`Consumer::consume`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// #[derive(serde::Serialize)]
    /// struct Purchase { product: String, price: f64 }
    ///
    /// let who = Identity::user("user-001");
    /// tracker.track(&who, "purchase", Properties::new().with("price", 9.9))?;
    /// tracker.track(&who, "purchase", [("price", 9.9)])?;
    /// tracker.track(&who, "purchase",
    ///     Properties::from_serialize(&Purchase { product: "book".into(), price: 9.9 })?)?;
    /// // Three ways to give properties, one event each.
    /// let events = memory.events();
    /// assert_eq!(events.len(), 3);
    /// assert!(events.iter().all(|e| e.name() == Some("purchase")));
    /// assert_eq!(events[2].properties.get("product").and_then(|v| v.as_str()), Some("book"));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn track(&self, who: &Identity, name: &str, props: impl Into<Properties>) -> Result<()> {
        // The hot path, kept direct: through `WithOptions` it costs ~100 instructions more
        // (callgrind) for options it does not have.
        self.dispatch(self.stamp(EventKind::Track { name: name.into() }, who, props.into()))
    }

    /// Records a prebuilt event: one read from the JSON form, or one with an explicit time,
    /// insert id or interaction block. A zero `time` (unless `time_given`) and an empty
    /// `insert_id` are filled in; super properties are merged into track events.
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker};
    /// use trackflow::{Event, Identity, Interaction, InteractionItem, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// let e = Event::track("purchase")
    ///     .with_identity(Identity::user("u1"))
    ///     .with_time(1_699_999_999_123)
    ///     .with_properties(Properties::new().with("coupon", "X1"))
    ///     .with_interaction(Interaction::new().item(InteractionItem::new("sku-1").quantity(1).price(9.9)));
    /// tracker.record(e)?;
    /// let got = &memory.events()[0];
    /// // The event's own time is kept; an insert id is added.
    /// assert_eq!(got.time, 1_699_999_999_123);
    /// assert!(!got.insert_id.to_string().is_empty());
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn record(&self, mut event: Event) -> Result<()> {
        if event.time == 0 && !event.time_given {
            event.time = self.inner.clock.now_ms();
        }
        if event.insert_id.is_empty() {
            event.insert_id = new_insert_id();
        }
        self.dispatch(event)
    }

    /// Replaces the static super properties.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `super_properties.…`) if they break the limits.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// tracker.set_super_properties(Properties::new().with("app_version", "2.1.0"))?;
    /// assert_eq!(tracker.super_properties().len(), 1);
    /// tracker.clear_super_properties();
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn set_super_properties(&self, props: impl Into<Properties>) -> Result<()> {
        let props = props.into();
        self.inner.limits.check_properties(&props).map_err(super_error)?;
        let mut supers = self.inner.supers.write();
        self.inner.has_supers.store(!props.is_empty(), Ordering::Release);
        *supers = props;
        Ok(())
    }

    /// Removes all static super properties.
    ///
    /// # Examples
    ///
    /// ```
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new())).super_properties([("a", 1)]).build()?;
    /// t.clear_super_properties();
    /// assert!(t.super_properties().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear_super_properties(&self) {
        let mut supers = self.inner.supers.write();
        self.inner.has_supers.store(false, Ordering::Release);
        *supers = Properties::new();
    }

    /// A copy of the static super properties.
    ///
    /// # Examples
    ///
    /// ```
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new())).super_properties([("a", 1)]).build()?;
    /// assert_eq!(t.super_properties().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn super_properties(&self) -> Properties {
        self.inner.supers.read().clone()
    }

    /// Delivers again what the consumers' spools hold (see [`crate::spool::Spool::replay`]): batches
    /// delivered in full are removed, refused ones move to the dead letters.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a spool cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, spool::Spool};
    /// # let dir = std::env::temp_dir().join(format!("trackflow-replay-doc-{}", std::process::id()));
    /// let tracker = Tracker::builder()
    ///     .consumer(ImmediateConsumer::new(MemoryBackend::new()).spool(Spool::open(&dir)?))
    ///     .build()?;
    /// let report = tracker.replay_spool()?;
    /// assert_eq!(report.files, 0);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn replay_spool(&self) -> Result<crate::spool::ReplayReport> {
        let mut total = crate::spool::ReplayReport::default();
        for c in &self.inner.consumers {
            total = total + c.replay_spool()?;
        }
        Ok(total)
    }

    /// Counters summed over all consumers (with fan-out, an event counts once per consumer).
    ///
    /// # Examples
    ///
    /// ```
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new())).build()?;
    /// t.track(&trackflow::Identity::user("u1"), "open", trackflow::Properties::new())?;
    /// assert_eq!(t.stats().delivered, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> StatsSnapshot {
        self.inner
            .consumers
            .iter()
            .map(|c| c.stats())
            .fold(StatsSnapshot::default(), |a, b| a + b)
    }

    /// Counters of each consumer, in the order they were added.
    ///
    /// # Examples
    ///
    /// ```
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new())).build()?;
    /// assert_eq!(t.consumer_stats()[0].accepted, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn consumer_stats(&self) -> Vec<StatsSnapshot> {
        self.inner.consumers.iter().map(|c| c.stats()).collect()
    }

    /// Each consumer's counters and gauges, labelled, in the order the consumers were added:
    /// what a metrics exporter reads.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Properties, Tracker};
    /// let t = Tracker::builder().consumer(BackgroundConsumer::builder(MemoryBackend::new()).build()).build()?;
    /// t.track(&Identity::user("u1"), "open", Properties::new())?;
    /// t.flush()?;
    /// let s = &t.backend_stats()[0];
    /// assert_eq!((s.name.as_str(), s.stats.delivered, s.queue_depth), ("memory", 1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backend_stats(&self) -> Vec<BackendStats> {
        let inner = &*self.inner;
        inner
            .consumers
            .iter()
            .zip(&inner.slots)
            .map(|(c, slot)| BackendStats {
                name: slot.label.clone(),
                backend: c.backend_name(),
                stats: c.stats(),
                skipped: slot.skipped.load(Ordering::Relaxed),
                not_routed: slot.not_routed.load(Ordering::Relaxed),
                queue_depth: c.queue_depth(),
                spilled_bytes: c.spilled_bytes(),
                in_flight: c.flow().map_or(0, |f| f.in_flight() as u64),
                max_in_flight: c.flow().map_or(1, |f| f.max_in_flight() as u64),
                limit: c.flow().map_or(1, |f| f.limit() as u64),
                rtt_ms: c.flow().and_then(|f| f.rtt()).map_or(0, |d| d.as_millis() as u64),
                throttled: c.flow().map_or(0, |f| f.throttled_count()),
                circuit: c
                    .flow()
                    .map_or(crate::delivery::CircuitState::Closed, |f| f.circuit()),
            })
            .collect()
    }

    /// Each backend's health and the worst of them: down while its circuit is open, degraded
    /// while its requests fail for a transient reason, the collector throttles, or events
    /// wait on disk; healthy otherwise. What a load balancer's or orchestrator's health
    /// check asks (the axum example serves it at `/health`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{BackgroundConsumer, MemoryBackend, Tracker};
    /// use trackflow::observe::Status;
    /// let t = Tracker::builder().consumer(BackgroundConsumer::builder(MemoryBackend::new()).spool(None).build()).build()?;
    /// let h = t.health();
    /// assert_eq!(h.status, Status::Healthy);
    /// assert_eq!((h.backends[0].backlog, h.backends[0].last_error.as_deref()), (0, None));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn health(&self) -> crate::observe::Health {
        use crate::observe::health::{judge, Signs};
        let inner = &*self.inner;
        let backends = inner
            .consumers
            .iter()
            .zip(&inner.slots)
            .map(|(c, slot)| {
                let stats = c.stats();
                let flow = c.flow();
                let signs = Signs {
                    circuit: flow.map_or(crate::delivery::CircuitState::Closed, |f| f.circuit()),
                    open_for: flow.and_then(|f| f.open_for()),
                    condition: flow.map(|f| f.condition()),
                    on_disk: stats.disk_events,
                    backlog: stats.pending(),
                };
                judge(slot.label.clone(), c.backend_name(), signs)
            })
            .collect();
        crate::observe::Health::of(backends)
    }

    /// Publishes once now and then every second from a thread of its own, until the tracker
    /// is shut down or its last handle dropped.
    #[cfg(feature = "metrics")]
    pub(crate) fn start_publisher(&self) {
        self.publish_metrics();
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("trackflow-metrics".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                let Some(inner) = weak.upgrade() else { return };
                if inner.closed.load(Ordering::Acquire) {
                    return;
                }
                Tracker { inner }.publish_metrics();
            });
        if let Err(e) = spawned {
            log::warn!("trackflow: no metrics publisher thread ({e}); call publish_metrics() yourself");
        }
    }

    /// Publishes every counter and gauge through the `metrics` facade now (feature
    /// `metrics`; see [`observe::METRICS`](crate::observe::METRICS)). A publisher thread does
    /// it every second by itself; call this right before rendering a scrape for figures of
    /// this instant.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Identity, ImmediateConsumer, MemoryBackend, Properties, Tracker};
    /// let t = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// t.track(&Identity::user("u1"), "open", Properties::new())?;
    /// let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    /// let scrape = recorder.handle();
    /// metrics::with_local_recorder(&recorder, || t.publish_metrics());
    /// assert!(scrape.render().contains(r#"trackflow_events_delivered_total{backend="memory"} 1"#));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    #[cfg(feature = "metrics")]
    pub fn publish_metrics(&self) {
        crate::observe::metrics::describe();
        let instruments: Vec<_> = self
            .inner
            .consumers
            .iter()
            .map(|c| c.flow().map(|f| &**f.instruments()))
            .collect();
        crate::observe::metrics::publish(&self.backend_stats(), &self.health(), &instruments);
    }

    pub(crate) fn stamp(&self, kind: EventKind, who: &Identity, properties: Properties) -> Event {
        Event {
            kind,
            time: self.inner.clock.now_ms(),
            time_given: false,
            insert_id: new_insert_id(),
            identity: who.clone(),
            properties,
            interaction: None,
        }
    }

    pub(crate) fn dispatch(&self, mut event: Event) -> Result<()> {
        let weight = self.prepare(&mut event)?;
        let inner = &*self.inner;
        if let ([only], [slot]) = (&inner.consumers[..], &inner.slots[..])
            && slot.admits_all
        {
            if let Err(e) = only.check(&event) {
                slot.skipped.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
            return only.consume_with_weight(event, weight);
        }
        self.fan_out(event, weight)
    }

    /// Offers the event to every consumer its route admits; those whose backend cannot carry
    /// it are skipped (counted), the rest take it. Every taker gets the event even if an
    /// earlier one refused it (queue full); the first error is returned.
    fn fan_out(&self, event: Event, weight: usize) -> Result<()> {
        let takers = self.takers_of(&event)?;
        self.give(event, weight, takers)
    }

    /// The consumers that take `event` (a bit per consumer, in the order added): those its
    /// route admits and whose backend can carry it; the others are counted (not routed,
    /// skipped). With none, the first skipping consumer's reason.
    fn takers_of(&self, event: &Event) -> Result<u64> {
        let inner = &*self.inner;
        let mut takers = 0u64;
        let mut refusal = None;
        for (i, (c, slot)) in inner.consumers.iter().zip(&inner.slots).enumerate() {
            if !slot.admits_all && !slot.route.admits(event) {
                slot.not_routed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match c.check(event) {
                Ok(()) => takers |= 1 << i,
                Err(e) => {
                    if slot.skipped.fetch_add(1, Ordering::Relaxed) == 0 && inner.consumers.len() > 1 {
                        log::warn!(
                            "trackflow: the {} consumer skips events it cannot carry (first: {e}); counted in backend_stats",
                            slot.label
                        );
                    }
                    refusal.get_or_insert(e);
                }
            }
        }
        if takers == 0 {
            return refusal.map_or(Ok(0), Err);
        }
        Ok(takers)
    }

    /// Hands `event` to the consumers of `takers`; the first error.
    pub(crate) fn give(&self, event: Event, weight: usize, takers: u64) -> Result<()> {
        let inner = &*self.inner;
        if takers == 0 {
            return Ok(());
        }
        let last = (u64::BITS - 1 - takers.leading_zeros()) as usize;
        let mut first_err = None;
        for (i, c) in inner.consumers.iter().enumerate().take(last) {
            if takers & (1 << i) != 0
                && let Err(e) = c.consume_with_weight(event.clone(), weight)
            {
                first_err.get_or_insert(e);
            }
        }
        let r = inner.consumers[last].consume_with_weight(event, weight);
        first_err.map_or(r, Err)
    }

    /// What every event goes through before a consumer sees it: refused once shut down,
    /// super properties merged into a track event, the limits checked; its weight.
    #[inline]
    fn prepare(&self, event: &mut Event) -> Result<usize> {
        let inner = &*self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(Error::AlreadyShutdown);
        }
        if let EventKind::Track { .. } = event.kind {
            self.merge_supers(event);
        }
        inner.limits.check_weighed(event)
    }

    /// For the relay, in two steps so that it can note who owes an acknowledgement before
    /// any can come: the event's weight and its takers, as `record` finds them; then
    /// [`give`](Self::give) hands it over.
    #[cfg(feature = "kafka")]
    pub(crate) fn offer(&self, event: &mut Event) -> Result<(usize, u64)> {
        let weight = self.prepare(event)?;
        Ok((weight, self.takers_of(event)?))
    }

    fn merge_supers(&self, event: &mut Event) {
        let inner = &*self.inner;
        let dynamic = inner
            .dynamic
            .as_ref()
            .and_then(|f| match catch_unwind(AssertUnwindSafe(|| f())) {
                Ok(p) => Some(p),
                Err(_) => {
                    log::error!(
                        "trackflow: the dynamic super properties callback panicked; event sent without them"
                    );
                    None
                }
            });
        if !inner.has_supers.load(Ordering::Acquire) && dynamic.is_none() {
            return;
        }
        let mut merged = inner.supers.read().clone();
        if let Some(d) = dynamic {
            merged.merge(d);
        }
        merged.merge(std::mem::take(&mut event.properties));
        event.properties = merged;
    }
}

pub(super) fn super_error(e: Error) -> Error {
    match e {
        Error::InvalidInput { field, rule } => Error::InvalidInput {
            field: format!("super_{field}"),
            rule,
        },
        e => e,
    }
}
