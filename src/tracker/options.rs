//! What a call may say beyond who, what and the properties: the event's own time, insert id
//! and interaction block, for every high-level call alike (`track`, `user_*`, `item_set`).
//! The session and the user key are part of [`Identity`]
//! ([`with_session`](Identity::with_session), [`with_user_key`](Identity::with_user_key)).

use std::time::SystemTime;

use super::Tracker;
use crate::clock::InsertId;
use crate::error::Result;
use crate::event::{EventKind, Identity, Interaction, ProfileOp};
use crate::value::{Key, Properties, Value};

/// Options for one call: the event's time, insert id and interaction block. Unset ones are
/// filled in as usual (the tracker's clock, a fresh id, none).
///
/// # Examples
///
/// ```
/// use trackflow::{EventOptions, Identity, ImmediateConsumer, Interaction, InteractionItem, MemoryBackend, Tracker};
///
/// let memory = MemoryBackend::new();
/// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
/// let who = Identity::user("u1").with_session("s-42");
/// let opts = EventOptions::new()
///     .time(1_700_000_000_000)
///     .insert_id("order-981")
///     .interaction(
///         Interaction::new()
///             .item(InteractionItem::new("sku-1").quantity(2))
///             .recommendation_id("rec-7"),
///     );
/// tracker.with(opts).track(&who, "purchase", [("coupon", "X1")])?;
///
/// let e = &memory.events()[0];
/// assert_eq!((e.time, e.time_given), (1_700_000_000_000, true));
/// assert_eq!(e.insert_id.to_string(), "order-981");
/// assert_eq!(e.identity.session_id.as_deref(), Some("s-42"));
/// assert_eq!(e.interaction.as_ref().unwrap().items[0].quantity, Some(2));
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EventOptions {
    time: Option<i64>,
    insert_id: Option<InsertId>,
    interaction: Option<Box<Interaction>>,
}

impl EventOptions {
    /// No options: every field filled in as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::EventOptions::new(), trackflow::EventOptions::default());
    /// ```
    pub fn new() -> Self {
        EventOptions::default()
    }

    /// The time the event happened, in ms since the Unix epoch (for events reported late).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{EventOptions, Identity, ImmediateConsumer, MemoryBackend, Tracker};
    /// let memory = MemoryBackend::new();
    /// let t = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// t.with(EventOptions::new().time(1_700_000_000_000)).track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// assert_eq!(memory.events()[0].time, 1_700_000_000_000);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn time(mut self, ms: i64) -> Self {
        self.time = Some(ms);
        self
    }

    /// The time the event happened. A time before 1970 is refused at the call (field
    /// `time`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let o = trackflow::EventOptions::new().at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    /// assert_eq!(o, trackflow::EventOptions::new().time(1_700_000_000_000));
    /// ```
    pub fn at(self, t: SystemTime) -> Self {
        let ms = match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            // Negative: the tracker's time rule names and refuses it.
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        };
        self.time(ms)
    }

    /// The insert id, for a backend that deduplicates by it (an order id, say, so that a
    /// retried request is counted once).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{EventOptions, Identity, ImmediateConsumer, MemoryBackend, Tracker};
    /// let memory = MemoryBackend::new();
    /// let t = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// // The same order reported twice carries the same id, so the backend counts it once.
    /// for _ in 0..2 {
    ///     t.with(EventOptions::new().insert_id("order-981")).track(&Identity::user("u1"), "purchase", [("n", 1)])?;
    /// }
    /// let ids: Vec<String> = memory.events().iter().map(|e| e.insert_id.to_string()).collect();
    /// assert_eq!(ids, ["order-981", "order-981"]);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn insert_id(mut self, id: impl Into<InsertId>) -> Self {
        self.insert_id = Some(id.into());
        self
    }

    /// The interaction block (items, value, recommendation id…) read by the personalization
    /// backends.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{EventOptions, Identity, ImmediateConsumer, Interaction, InteractionItem, MemoryBackend, Tracker};
    /// let memory = MemoryBackend::new();
    /// let t = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// let o = EventOptions::new().interaction(Interaction::new().item(InteractionItem::new("sku-1")));
    /// t.with(o).track(&Identity::user("u1"), "view", [("n", 1)])?;
    /// assert_eq!(memory.events()[0].interaction.as_ref().unwrap().items[0].id, "sku-1");
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn interaction(mut self, i: Interaction) -> Self {
        self.interaction = Some(Box::new(i));
        self
    }
}

/// The high-level calls of a [`Tracker`] with [`EventOptions`]; from [`Tracker::with`].
/// Each method is the tracker's method of the same name.
///
/// # Examples
///
/// ```
/// use trackflow::{EventOptions, Identity, ImmediateConsumer, MemoryBackend, Tracker};
///
/// let memory = MemoryBackend::new();
/// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
/// let late = tracker.with(EventOptions::new().time(1_700_000_000_000));
/// late.user_set(&Identity::user("u1"), [("plan", "pro")])?;
/// late.item_set("book", "b-1", [("title", "Rust")])?;
/// assert!(memory.events().iter().all(|e| e.time == 1_700_000_000_000));
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WithOptions<'a> {
    tracker: &'a Tracker,
    opts: EventOptions,
}

impl<'a> WithOptions<'a> {
    pub(crate) fn new(tracker: &'a Tracker, opts: EventOptions) -> Self {
        WithOptions { tracker, opts }
    }

    fn send(&self, kind: EventKind, who: &Identity, props: Properties) -> Result<()> {
        let mut e = self.tracker.stamp(kind, who, props);
        if let Some(t) = self.opts.time {
            e.time = t;
            e.time_given = true;
        }
        if let Some(id) = &self.opts.insert_id {
            e.insert_id = id.clone();
        }
        e.interaction.clone_from(&self.opts.interaction);
        self.tracker.dispatch(e)
    }

    fn profile(&self, op: ProfileOp, who: &Identity, props: Properties) -> Result<()> {
        self.send(EventKind::Profile(op), who, props)
    }

    /// [`Tracker::track`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Tracker::track`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().insert_id("o-1")).track(&trackflow::Identity::user("u1"), "purchase", [("price", 9.9)])?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Track { .. }));
    /// assert_eq!(e.insert_id.to_string(), "o-1");
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn track(&self, who: &Identity, name: &str, props: impl Into<Properties>) -> Result<()> {
        self.send(EventKind::Track { name: name.into() }, who, props.into())
    }

    /// [`Tracker::user_set`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Tracker::track`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().time(1)).user_set(&trackflow::Identity::user("u1"), [("plan", "pro")])?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Profile(trackflow::ProfileOp::Set)));
    /// assert_eq!(e.time, 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_set(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.profile(ProfileOp::Set, who, props.into())
    }

    /// [`Tracker::user_set_once`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Tracker::track`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().time(1)).user_set_once(&trackflow::Identity::user("u1"), [("first", "web")])?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Profile(trackflow::ProfileOp::SetOnce)));
    /// assert_eq!(e.time, 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_set_once(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.profile(ProfileOp::SetOnce, who, props.into())
    }

    /// [`Tracker::user_increment`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Tracker::user_increment`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().insert_id("inc-1")).user_increment(&trackflow::Identity::user("u1"), [("orders", 1)])?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Profile(trackflow::ProfileOp::Increment)));
    /// assert_eq!(e.insert_id.to_string(), "inc-1");
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_increment(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.profile(ProfileOp::Increment, who, props.into())
    }

    /// [`Tracker::user_max`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Tracker::user_increment`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().time(1)).user_max(&trackflow::Identity::user("u1"), [("best", 97)])?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Profile(trackflow::ProfileOp::Max)));
    /// assert_eq!(e.time, 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_max(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.profile(ProfileOp::Max, who, props.into())
    }

    /// [`Tracker::user_min`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Tracker::user_increment`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().time(1)).user_min(&trackflow::Identity::user("u1"), [("fastest", 812)])?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Profile(trackflow::ProfileOp::Min)));
    /// assert_eq!(e.time, 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_min(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.profile(ProfileOp::Min, who, props.into())
    }

    /// [`Tracker::user_append`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Tracker::user_append`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().time(1)).user_append(&trackflow::Identity::user("u1"), [("tags", vec!["vip"])])?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Profile(trackflow::ProfileOp::Append)));
    /// assert_eq!(e.time, 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_append(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.profile(ProfileOp::Append, who, props.into())
    }

    /// [`Tracker::user_uniq_append`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Tracker::user_append`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().time(1)).user_uniq_append(&trackflow::Identity::user("u1"), [("tags", vec!["vip"])])?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Profile(trackflow::ProfileOp::UniqAppend)));
    /// assert_eq!(e.time, 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_uniq_append(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.profile(ProfileOp::UniqAppend, who, props.into())
    }

    /// [`Tracker::user_unset`] with these options: the named properties are removed (each
    /// goes to the backend as a null).
    ///
    /// # Errors
    ///
    /// As [`Tracker::user_unset`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().time(1)).user_unset(&trackflow::Identity::user("u1"), ["coupon"])?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Profile(trackflow::ProfileOp::Unset)));
    /// assert_eq!(e.time, 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_unset<K: Into<Key>>(&self, who: &Identity, keys: impl IntoIterator<Item = K>) -> Result<()> {
        let props = keys.into_iter().map(|k| (k, Value::Null)).collect();
        self.profile(ProfileOp::Unset, who, props)
    }

    /// [`Tracker::user_delete`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Tracker::track`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().insert_id("del-1")).user_delete(&trackflow::Identity::user("u1"))?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Profile(trackflow::ProfileOp::Delete)));
    /// assert_eq!(e.insert_id.to_string(), "del-1");
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_delete(&self, who: &Identity) -> Result<()> {
        self.profile(ProfileOp::Delete, who, Properties::new())
    }

    /// [`Tracker::item_set`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Tracker::track`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let m = trackflow::MemoryBackend::new();
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(m.clone())).build()?;
    /// t.with(trackflow::EventOptions::new().time(1)).item_set("book", "b-1", [("title", "Rust")])?;
    /// let e = &m.events()[0];
    /// assert!(matches!(e.kind, trackflow::EventKind::Item { .. }));
    /// assert_eq!(e.time, 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn item_set(&self, item_type: &str, item_id: &str, props: impl Into<Properties>) -> Result<()> {
        let kind = EventKind::Item {
            item_type: item_type.to_owned(),
            item_id: item_id.to_owned(),
        };
        self.send(kind, &Identity::default(), props.into())
    }
}
