//! The front end: validates each call, stamps time and insert id, merges super properties,
//! and hands the event to every consumer.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::clock::{new_insert_id, Clock, SharedClock};
use crate::consumer::{Consumer, ShutdownReport, DEFAULT_FLUSH_TIMEOUT};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, Identity};
use crate::guard::TrackerGuard;
use crate::options::{EventOptions, WithOptions};
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
            crate::asyncs::off_runtime(move || drop(consumers));
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

/// Builder of [`Tracker`].
///
/// | setting | default |
/// |---|---|
/// | `consumer` (one or more) | none: at least one is required |
/// | `super_properties` | none |
/// | `dynamic_super_properties` | none |
/// | `limits` | [`Limits::default`] |
/// | `clock` | the system clock |
pub struct TrackerBuilder {
    consumers: Vec<Box<dyn Consumer>>,
    routes: Vec<Route>,
    supers: Properties,
    dynamic: Option<DynamicSuperProperties>,
    clock: SharedClock,
    limits: Limits,
}

impl fmt::Debug for TrackerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackerBuilder")
            .field("consumers", &self.consumers)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl TrackerBuilder {
    /// Adds a consumer given every event. With several, every event goes to each (fan-out
    /// to several backends); an event one of them cannot carry still goes to the others, and
    /// is counted in that one's [`BackendStats::skipped`](crate::BackendStats::skipped). The
    /// call fails only when no consumer could take the event.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::Tracker::builder()
    ///     .consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new()))
    ///     .consumer(trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build())
    ///     .build()?;
    /// assert_eq!(t.consumer_stats().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn consumer(self, c: impl Consumer + 'static) -> Self {
        self.routed(c, Route::new())
    }

    /// Adds a consumer given only what `route` admits (see [`Route`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{ImmediateConsumer, MemoryBackend, Route, RouteKind, Tracker};
    /// let t = Tracker::builder()
    ///     .routed(ImmediateConsumer::new(MemoryBackend::new()), Route::new().kinds([RouteKind::Track]))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn routed(mut self, c: impl Consumer + 'static, route: Route) -> Self {
        self.consumers.push(Box::new(c));
        self.routes.push(route);
        self
    }
    /// Properties added to every track event (the event's own win on a clash).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::Tracker::builder()
    ///     .consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new()))
    ///     .super_properties([("app", "shop")])
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn super_properties(mut self, p: impl Into<Properties>) -> Self {
        self.supers = p.into();
        self
    }
    /// A callback whose properties are added to every track event, evaluated per event
    /// (after the static ones; the event's own still win). A panic in it is caught and logged,
    /// and the event goes out without them.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::Tracker::builder()
    ///     .consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new()))
    ///     .dynamic_super_properties(|| trackflow::Properties::new().with("region", "eu"))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dynamic_super_properties(mut self, f: impl Fn() -> Properties + Send + Sync + 'static) -> Self {
        self.dynamic = Some(Arc::new(f));
        self
    }
    /// The limits checked at every call. Defaults to [`Limits::default`].
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::Tracker::builder()
    ///     .consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new()))
    ///     .limits(trackflow::Limits::default())
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn limits(mut self, l: Limits) -> Self {
        self.limits = l;
        self
    }
    /// Where event times come from. Defaults to the system clock.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::Tracker::builder()
    ///     .consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new()))
    ///     .clock(trackflow::FixedClock(1_700_000_000_000))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock(mut self, c: impl Clock + 'static) -> Self {
        self.clock = Arc::new(c);
        self
    }
    /// Builds the tracker.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] without a consumer; [`Error::InvalidInput`] for bad super properties.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::Tracker::builder().build().is_err(), "a tracker needs a consumer");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Tracker> {
        if self.consumers.is_empty() {
            return Err(Error::Config(
                "no consumer: add one with TrackerBuilder::consumer".into(),
            ));
        }
        if self.consumers.len() > MAX_CONSUMERS {
            return Err(Error::Config(format!(
                "{} consumers: at most {MAX_CONSUMERS}",
                self.consumers.len()
            )));
        }
        self.limits.check_properties(&self.supers).map_err(super_error)?;
        for c in &self.consumers {
            c.ready()?;
        }
        let slots = slots(&self.consumers, self.routes);
        Ok(Tracker {
            inner: Arc::new(Inner {
                consumers: self.consumers,
                slots,
                has_supers: AtomicBool::new(!self.supers.is_empty()),
                supers: RwLock::new(self.supers),
                dynamic: self.dynamic,
                clock: self.clock,
                limits: self.limits,
                closed: AtomicBool::new(false),
            }),
        })
    }
}

/// Each consumer's slot, labelled by its route or its backend, repeats numbered.
fn slots(consumers: &[Box<dyn Consumer>], routes: Vec<Route>) -> Vec<Slot> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    consumers
        .iter()
        .zip(routes)
        .map(|(c, route)| {
            let label = crate::route::numbered(&mut seen, route.label_ref().unwrap_or(c.backend_name()));
            Slot {
                admits_all: route.is_all(),
                route,
                label,
                skipped: AtomicU64::new(0),
                not_routed: AtomicU64::new(0),
            }
        })
        .collect()
}

fn super_error(e: Error) -> Error {
    match e {
        Error::InvalidInput { field, rule } => Error::InvalidInput {
            field: format!("super_{field}"),
            rule,
        },
        e => e,
    }
}

impl Tracker {
    /// A builder.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::Tracker::builder()
    ///     .consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new()))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> TrackerBuilder {
        TrackerBuilder {
            consumers: Vec::new(),
            routes: Vec::new(),
            supers: Properties::new(),
            dynamic: None,
            clock: crate::clock::system(),
            limits: Limits::default(),
        }
    }

    /// The high-level calls with [`EventOptions`]: the event's own time, insert id or
    /// interaction block.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{EventOptions, Identity, ImmediateConsumer, MemoryBackend, Tracker};
    /// let memory = MemoryBackend::new();
    /// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// tracker
    ///     .with(EventOptions::new().time(1_700_000_000_000).insert_id("order-981"))
    ///     .track(&Identity::user("u1"), "purchase", [("price", 9.9)])?;
    /// assert_eq!(memory.events()[0].insert_id.to_string(), "order-981");
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn with(&self, opts: EventOptions) -> WithOptions<'_> {
        WithOptions::new(self, opts)
    }

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
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// #[derive(serde::Serialize)]
    /// struct Purchase { product: String, price: f64 }
    ///
    /// let who = Identity::user("user-001");
    /// tracker.track(&who, "purchase", Properties::new().with("price", 9.9))?;
    /// tracker.track(&who, "purchase", [("price", 9.9)])?;
    /// tracker.track(&who, "purchase",
    ///     Properties::from_serialize(&Purchase { product: "book".into(), price: 9.9 })?)?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn track(&self, who: &Identity, name: &str, props: impl Into<Properties>) -> Result<()> {
        // The hot path, kept direct: through `WithOptions` it costs ~100 instructions more
        // (callgrind) for options it does not have.
        self.dispatch(self.stamp(EventKind::Track { name: name.into() }, who, props.into()))
    }

    /// The calls without options: one implementation for both.
    fn plain(&self) -> WithOptions<'_> {
        WithOptions::new(self, EventOptions::default())
    }

    /// Sets user profile properties, overwriting.
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// tracker.user_set(&Identity::user("u1"), [("plan", "pro")])?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_set(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.plain().user_set(who, props)
    }

    /// Sets user profile properties that are not set yet.
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// tracker.user_set_once(&Identity::user("u1"), [("first_seen", "2023-11-14")])?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_set_once(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.plain().user_set_once(who, props)
    }

    /// Adds to numeric profile properties. Values must be numbers (not bools).
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track); [`Error::InvalidInput`] for a non-number.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// let who = Identity::user("u1");
    /// tracker.user_increment(&who, [("orders", 1)])?;
    /// assert!(tracker.user_increment(&who, [("orders", "one")]).is_err());
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_increment(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.plain().user_increment(who, props)
    }

    /// Keeps the larger of stored and given numbers.
    ///
    /// # Errors
    ///
    /// As [`user_increment`](Self::user_increment).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// tracker.user_max(&Identity::user("u1"), [("best_score", 97)])?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_max(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.plain().user_max(who, props)
    }

    /// Keeps the smaller of stored and given numbers.
    ///
    /// # Errors
    ///
    /// As [`user_increment`](Self::user_increment).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// tracker.user_min(&Identity::user("u1"), [("fastest_ms", 812)])?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_min(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.plain().user_min(who, props)
    }

    /// Appends to list profile properties. Values must be lists.
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track); [`Error::InvalidInput`] for a non-list.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// tracker.user_append(&Identity::user("u1"), [("tags", vec!["vip"])])?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_append(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.plain().user_append(who, props)
    }

    /// Appends to list profile properties, skipping values already there.
    ///
    /// # Errors
    ///
    /// As [`user_append`](Self::user_append).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// tracker.user_uniq_append(&Identity::user("u1"), [("tags", vec!["vip"])])?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_uniq_append(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.plain().user_uniq_append(who, props)
    }

    /// Removes the named profile properties.
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track); [`Error::InvalidInput`] with no keys.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// tracker.user_unset(&Identity::user("u1"), ["coupon", "trial_end"])?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_unset<K: Into<crate::value::Key>>(
        &self,
        who: &Identity,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<()> {
        self.plain().user_unset(who, keys)
    }

    /// Deletes the whole user profile.
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// tracker.user_delete(&Identity::user("u1"))?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_delete(&self, who: &Identity) -> Result<()> {
        self.plain().user_delete(who)
    }

    /// Records facts about an item (a catalog entry or dimension row).
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Identity, Properties};
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// tracker.item_set("book", "item-001", Properties::new().with("title", "Rust").with("price", 42))?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn item_set(&self, item_type: &str, item_id: &str, props: impl Into<Properties>) -> Result<()> {
        self.plain().item_set(item_type, item_id, props)
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
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// let e = Event::track("purchase")
    ///     .with_identity(Identity::user("u1"))
    ///     .with_time(1_699_999_999_123)
    ///     .with_properties(Properties::new().with("coupon", "X1"))
    ///     .with_interaction(Interaction::new().item(InteractionItem::new("sku-1").quantity(1).price(9.9)));
    /// tracker.record(e)?;
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

    /// Delivers everything tracked before this call, waiting at most 5 s
    /// ([`DEFAULT_FLUSH_TIMEOUT`]). Failures go to the error callbacks and stats.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if a consumer did not finish in time.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{BackgroundConsumer, MemoryBackend, Tracker};
    /// # let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(MemoryBackend::new()).build()).build()?;
    /// tracker.flush()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn flush(&self) -> Result<()> {
        self.flush_timeout(DEFAULT_FLUSH_TIMEOUT)
    }

    /// [`flush`](Self::flush) with a deadline of your choosing.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if a consumer did not finish in time; [`Error::AlreadyShutdown`]
    /// after [`shutdown`](Self::shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build()).build()?;
    /// t.flush_timeout(std::time::Duration::from_millis(500))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        #[cfg(feature = "tokio")]
        crate::asyncs::note_blocking("flush");
        if self.is_shut_down() {
            return Err(Error::AlreadyShutdown);
        }
        let results = self.each_consumer(|c| c.flush(timeout));
        results.into_iter().find_map(Result::err).map_or(Ok(()), Err)
    }

    /// Runs `f` on every consumer at once (the first on this thread), so each has the whole
    /// deadline and a slow one never delays another; results in consumer order.
    fn each_consumer<T: Send>(&self, f: impl Fn(&dyn Consumer) -> T + Sync) -> Vec<T> {
        let consumers = &self.inner.consumers;
        let Some((first, rest)) = consumers.split_first() else {
            return Vec::new();
        };
        std::thread::scope(|s| {
            let f = &f;
            let others: Vec<_> = rest.iter().map(|c| s.spawn(move || f(&**c))).collect();
            let mut out = vec![f(&**first)];
            for h in others {
                match h.join() {
                    Ok(r) => out.push(r),
                    Err(p) => std::panic::resume_unwind(p),
                }
            }
            out
        })
    }

    /// Flushes and stops every consumer within `timeout`, and reports what happened. Later
    /// calls on any clone fail with [`Error::AlreadyShutdown`].
    ///
    /// The consumers shut down at the same time, each with the whole deadline: a stalled
    /// backend does not take time from another.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyShutdown`] on a second call.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use trackflow::{BackgroundConsumer, MemoryBackend, Tracker, Error};
    /// # let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(MemoryBackend::new()).build()).build()?;
    /// let report = tracker.shutdown(Duration::from_secs(2))?;
    /// assert!(report.completed);
    /// assert!(matches!(tracker.shutdown(Duration::from_secs(2)), Err(Error::AlreadyShutdown)));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport> {
        #[cfg(feature = "tokio")]
        crate::asyncs::note_blocking("shutdown");
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::AlreadyShutdown);
        }
        let reports = self.each_consumer(|c| match c.shutdown(timeout) {
            Ok(r) => r,
            Err(e) => {
                log::warn!("trackflow: consumer shutdown: {e}");
                let stats = c.stats();
                ShutdownReport {
                    stats,
                    left: stats.pending(),
                    completed: false,
                }
            }
        });
        let report = reports.into_iter().reduce(|a, b| a + b);
        Ok(report.unwrap_or_default())
    }

    /// Cuts a [`shutdown`](Self::shutdown) under way on another thread short: the consumers
    /// stop waiting for the network, keep what is not delivered in their stores (on disk,
    /// for the next tracker) and the shutdown returns. What a second Ctrl-C does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, MemoryBackend, Tracker};
    /// let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(MemoryBackend::new()).spool(None).build()).build()?;
    /// tracker.interrupt();
    /// let report = tracker.shutdown(Duration::from_secs(30))?; // returns at once
    /// assert!(report.completed);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn interrupt(&self) {
        for c in self.inner.consumers.iter() {
            c.interrupt();
        }
    }

    /// Delivers again what the consumers' spools hold (see [`crate::Spool::replay`]): batches
    /// delivered in full are removed, refused ones move to the dead letters.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a spool cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{ImmediateConsumer, MemoryBackend, Tracker, Spool};
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

    /// Whether [`shutdown`](Self::shutdown) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new())).build()?;
    /// assert!(!t.is_shut_down());
    /// t.shutdown(std::time::Duration::from_secs(1))?;
    /// assert!(t.is_shut_down());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
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
                throttled: c.flow().map_or(0, |f| f.throttled_count()),
                circuit: c
                    .flow()
                    .map_or(crate::delivery::CircuitState::Closed, |f| f.circuit()),
            })
            .collect()
    }

    /// A guard that shuts this tracker down (2 s deadline) when dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{BackgroundConsumer, MemoryBackend, Tracker};
    /// let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(MemoryBackend::new()).build()).build()?;
    /// let _guard = tracker.guard();
    /// // … track for the life of the program; dropping `_guard` flushes and stops.
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn guard(&self) -> TrackerGuard {
        TrackerGuard::new(self.clone(), crate::guard::DEFAULT_GUARD_TIMEOUT)
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
        let inner = &*self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(Error::AlreadyShutdown);
        }
        if let EventKind::Track { .. } = event.kind {
            self.merge_supers(&mut event);
        }
        let weight = inner.limits.check_weighed(&event)?;
        if let ([only], [slot]) = (&inner.consumers[..], &inner.slots[..]) {
            if slot.admits_all {
                if let Err(e) = only.check(&event) {
                    slot.skipped.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
                return only.consume_weighed(event, weight);
            }
        }
        self.fan_out(event, weight)
    }

    /// Offers the event to every consumer its route admits; those whose backend cannot carry
    /// it are skipped (counted), the rest take it. Every taker gets the event even if an
    /// earlier one refused it (queue full); the first error is returned.
    fn fan_out(&self, event: Event, weight: usize) -> Result<()> {
        let inner = &*self.inner;
        let mut takers = 0u64;
        let mut refusal = None;
        for (i, (c, slot)) in inner.consumers.iter().zip(&inner.slots).enumerate() {
            if !slot.admits_all && !slot.route.admits(&event) {
                slot.not_routed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match c.check(&event) {
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
            return refusal.map_or(Ok(()), Err);
        }
        let last = (u64::BITS - 1 - takers.leading_zeros()) as usize;
        let mut first_err = None;
        for (i, c) in inner.consumers.iter().enumerate().take(last) {
            if takers & (1 << i) != 0 {
                if let Err(e) = c.consume_weighed(event.clone(), weight) {
                    first_err.get_or_insert(e);
                }
            }
        }
        let r = inner.consumers[last].consume_weighed(event, weight);
        first_err.map_or(r, Err)
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
