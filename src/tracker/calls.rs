//! The tracker's calls beyond `track`: user profile operations and item facts, each also
//! with options through [`Tracker::with`].

use super::{EventOptions, Tracker, WithOptions};
use crate::error::Result;
use crate::event::Identity;
use crate::value::Properties;

impl Tracker {
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
    /// # use trackflow::{EventKind, ImmediateConsumer, MemoryBackend, ProfileOp, Tracker, Identity, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// tracker.user_set(&Identity::user("u1"), [("plan", "pro")])?;
    /// let e = &memory.events()[0];
    /// assert!(matches!(e.kind, EventKind::Profile(ProfileOp::Set)));
    /// assert!(e.properties.get("plan").is_some());
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
    /// # use trackflow::{EventKind, ImmediateConsumer, MemoryBackend, ProfileOp, Tracker, Identity, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// tracker.user_set_once(&Identity::user("u1"), [("first_seen", "2023-11-14")])?;
    /// let e = &memory.events()[0];
    /// assert!(matches!(e.kind, EventKind::Profile(ProfileOp::SetOnce)));
    /// assert!(e.properties.get("first_seen").is_some());
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_set_once(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.plain().user_set_once(who, props)
    }

    /// Adds to numeric profile properties. Values must be numbers (not bools).
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track); [`Error::InvalidInput`](crate::Error::InvalidInput) for a non-number.
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
    /// # use trackflow::{EventKind, ImmediateConsumer, MemoryBackend, ProfileOp, Tracker, Identity, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// tracker.user_max(&Identity::user("u1"), [("best_score", 97)])?;
    /// let e = &memory.events()[0];
    /// assert!(matches!(e.kind, EventKind::Profile(ProfileOp::Max)));
    /// assert!(e.properties.get("best_score").is_some());
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
    /// # use trackflow::{EventKind, ImmediateConsumer, MemoryBackend, ProfileOp, Tracker, Identity, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// tracker.user_min(&Identity::user("u1"), [("fastest_ms", 812)])?;
    /// let e = &memory.events()[0];
    /// assert!(matches!(e.kind, EventKind::Profile(ProfileOp::Min)));
    /// assert!(e.properties.get("fastest_ms").is_some());
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_min(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.plain().user_min(who, props)
    }

    /// Appends to list profile properties. Values must be lists.
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track); [`Error::InvalidInput`](crate::Error::InvalidInput) for a non-list.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{EventKind, ImmediateConsumer, MemoryBackend, ProfileOp, Tracker, Identity, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// tracker.user_append(&Identity::user("u1"), [("tags", vec!["vip"])])?;
    /// let e = &memory.events()[0];
    /// assert!(matches!(e.kind, EventKind::Profile(ProfileOp::Append)));
    /// assert!(e.properties.get("tags").is_some());
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
    /// # use trackflow::{EventKind, ImmediateConsumer, MemoryBackend, ProfileOp, Tracker, Identity, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// tracker.user_uniq_append(&Identity::user("u1"), [("tags", vec!["vip"])])?;
    /// let e = &memory.events()[0];
    /// assert!(matches!(e.kind, EventKind::Profile(ProfileOp::UniqAppend)));
    /// assert!(e.properties.get("tags").is_some());
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn user_uniq_append(&self, who: &Identity, props: impl Into<Properties>) -> Result<()> {
        self.plain().user_uniq_append(who, props)
    }

    /// Removes the named profile properties.
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track); [`Error::InvalidInput`](crate::Error::InvalidInput) with no keys.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{EventKind, ImmediateConsumer, MemoryBackend, ProfileOp, Tracker, Identity, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// tracker.user_unset(&Identity::user("u1"), ["coupon", "trial_end"])?;
    /// let e = &memory.events()[0];
    /// assert!(matches!(e.kind, EventKind::Profile(ProfileOp::Unset)));
    /// assert!(e.properties.get("coupon").is_some());
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
    /// # use trackflow::{EventKind, ImmediateConsumer, MemoryBackend, ProfileOp, Tracker, Identity, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// tracker.user_delete(&Identity::user("u1"))?;
    /// let e = &memory.events()[0];
    /// assert!(matches!(e.kind, EventKind::Profile(ProfileOp::Delete)));
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
    /// # use trackflow::{EventKind, ImmediateConsumer, MemoryBackend, ProfileOp, Tracker, Identity, Properties};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(ImmediateConsumer::new(memory.clone())).build()?;
    /// tracker.item_set("book", "item-001", Properties::new().with("title", "Rust").with("price", 42))?;
    /// let e = &memory.events()[0];
    /// assert!(matches!(e.kind, EventKind::Item { .. }));
    /// assert!(e.properties.get("title").is_some());
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn item_set(&self, item_type: &str, item_id: &str, props: impl Into<Properties>) -> Result<()> {
        self.plain().item_set(item_type, item_id, props)
    }
}
