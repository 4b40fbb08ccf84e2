//! How a [`Tracker`] is put together: its consumers (with their routes), super properties,
//! limits and clock.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use parking_lot::RwLock;

use super::{super_error, DynamicSuperProperties, Inner, Slot, Tracker, MAX_CONSUMERS};
use crate::clock::{Clock, SharedClock};
use crate::consumer::Consumer;
use crate::error::{Error, Result};
use crate::route::Route;
use crate::validate::Limits;
use crate::value::Properties;

impl Tracker {
    /// A builder.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Identity, ImmediateConsumer, MemoryBackend, Tracker};
    /// let memory = MemoryBackend::new();
    /// let t = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// t.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// assert_eq!(memory.events().len(), 1);
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
}

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
    /// is counted in that one's [`BackendStats::skipped`](crate::stats::BackendStats::skipped). The
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
    /// use trackflow::{Identity, ImmediateConsumer, MemoryBackend, Route, RouteKind, Tracker};
    /// let tracks = MemoryBackend::new();
    /// let everything = MemoryBackend::new();
    /// let t = Tracker::builder()
    ///     .routed(ImmediateConsumer::new(tracks.clone()), Route::new().kinds([RouteKind::Track]))
    ///     .consumer(ImmediateConsumer::new(everything.clone()))
    ///     .build()?;
    /// t.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// t.user_set(&Identity::user("u1"), [("plan", "pro")])?;
    /// assert_eq!((tracks.events().len(), everything.events().len()), (1, 2));
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
    /// use trackflow::{Identity, ImmediateConsumer, MemoryBackend, Tracker};
    /// let memory = MemoryBackend::new();
    /// let t = Tracker::builder()
    ///     .consumer(ImmediateConsumer::new(memory.clone()))
    ///     .super_properties([("app", "shop")])
    ///     .build()?;
    /// t.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// assert_eq!(memory.events()[0].properties.get("app").and_then(|v| v.as_str()), Some("shop"));
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
    /// use trackflow::{Identity, ImmediateConsumer, MemoryBackend, Properties, Tracker};
    /// let memory = MemoryBackend::new();
    /// let t = Tracker::builder()
    ///     .consumer(ImmediateConsumer::new(memory.clone()))
    ///     .dynamic_super_properties(|| Properties::new().with("region", "eu"))
    ///     .build()?;
    /// t.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// assert_eq!(memory.events()[0].properties.get("region").and_then(|v| v.as_str()), Some("eu"));
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
    /// use trackflow::validate::Limits;
    /// use trackflow::{Identity, ImmediateConsumer, MemoryBackend, Tracker};
    /// let mut limits = Limits::default();
    /// limits.max_properties = 1;
    /// let t = Tracker::builder()
    ///     .consumer(ImmediateConsumer::new(MemoryBackend::new()))
    ///     .limits(limits)
    ///     .build()?;
    /// assert!(t.track(&Identity::user("u1"), "open", [("a", 1), ("b", 2)]).is_err());
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
    /// use trackflow::{clock::FixedClock, Identity, ImmediateConsumer, MemoryBackend, Tracker};
    /// let memory = MemoryBackend::new();
    /// let t = Tracker::builder()
    ///     .consumer(ImmediateConsumer::new(memory.clone()))
    ///     .clock(FixedClock(1_700_000_000_000))
    ///     .build()?;
    /// t.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// assert_eq!(memory.events()[0].time, 1_700_000_000_000);
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
        let tracker = Tracker {
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
        };
        #[cfg(feature = "metrics")]
        tracker.start_publisher();
        Ok(tracker)
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
