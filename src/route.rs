//! Which events go to which consumer in a fan-out.
//!
//! ```text
//!  Tracker ──event──► for each consumer: Route admits it? ─no─► counted `not_routed`
//!                                           │ yes
//!                                           ▼
//!                          backend can carry it (check)? ─no─► counted `skipped`
//!                                           │ yes
//!                                           ▼
//!                                        consumed
//! ```
//!
//! An event one backend cannot carry still reaches the others; the call fails only when no
//! consumer it was routed to could take it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind, ProfileOp};

/// A kind of event a [`Route`] admits, named as the tracker call that makes it.
///
/// # Examples
///
/// ```
/// use trackflow::{Event, Route, RouteKind};
/// let profiles_only = Route::new().kinds([RouteKind::User]);
/// assert!(profiles_only.admits(&Event::profile(trackflow::ProfileOp::Set)));
/// assert!(!profiles_only.admits(&Event::track("open")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RouteKind {
    /// `track`.
    Track,
    /// Every `user_*` call.
    User,
    /// `user_set`.
    UserSet,
    /// `user_set_once`.
    UserSetOnce,
    /// `user_increment`.
    UserIncrement,
    /// `user_max`.
    UserMax,
    /// `user_min`.
    UserMin,
    /// `user_append`.
    UserAppend,
    /// `user_uniq_append`.
    UserUniqAppend,
    /// `user_unset`.
    UserUnset,
    /// `user_delete`.
    UserDelete,
    /// `item_set`.
    ItemSet,
}

const TRACK_BIT: u16 = 1;
const ITEM_BIT: u16 = 1 << 10;
const ALL_BITS: u16 = TRACK_BIT | USER_BITS | ITEM_BIT;
const USER_BITS: u16 = 0b11_1111_1110;

fn op_bit(op: ProfileOp) -> u16 {
    1 << (1 + op as u16)
}

impl RouteKind {
    fn bits(self) -> u16 {
        match self {
            RouteKind::Track => TRACK_BIT,
            RouteKind::User => USER_BITS,
            RouteKind::UserSet => op_bit(ProfileOp::Set),
            RouteKind::UserSetOnce => op_bit(ProfileOp::SetOnce),
            RouteKind::UserIncrement => op_bit(ProfileOp::Increment),
            RouteKind::UserMax => op_bit(ProfileOp::Max),
            RouteKind::UserMin => op_bit(ProfileOp::Min),
            RouteKind::UserAppend => op_bit(ProfileOp::Append),
            RouteKind::UserUniqAppend => op_bit(ProfileOp::UniqAppend),
            RouteKind::UserUnset => op_bit(ProfileOp::Unset),
            RouteKind::UserDelete => op_bit(ProfileOp::Delete),
            RouteKind::ItemSet => ITEM_BIT,
        }
    }
}

fn event_bit(kind: &EventKind) -> u16 {
    match kind {
        EventKind::Track { .. } => TRACK_BIT,
        EventKind::Profile(op) => op_bit(*op),
        EventKind::Item { .. } => ITEM_BIT,
    }
}

/// What one consumer of a fan-out is given, and the name its counters carry.
///
/// By default a consumer is given every event. Kinds narrow it to some tracker calls; names
/// and exceptions narrow the `track` events among them (other kinds have no name).
///
/// # Examples
///
/// ```
/// use trackflow::{ImmediateConsumer, MemoryBackend, Identity, Properties, Route, RouteKind, Tracker};
///
/// let all = MemoryBackend::new();
/// let purchases = MemoryBackend::new();
/// let tracker = Tracker::builder()
///     .consumer(ImmediateConsumer::new(all.clone()))
///     .routed(
///         ImmediateConsumer::new(purchases.clone()),
///         Route::new().kinds([RouteKind::Track]).names(["purchase"]).label("purchases"),
///     )
///     .build()?;
/// let who = Identity::user("u1");
/// tracker.track(&who, "purchase", Properties::new())?;
/// tracker.track(&who, "view", Properties::new())?;
/// tracker.user_set(&who, [("plan", "pro")])?;
/// assert_eq!((all.events().len(), purchases.events().len()), (3, 1));
/// let stats = tracker.backend_stats();
/// assert_eq!((stats[1].name.as_str(), stats[1].not_routed), ("purchases", 2));
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    kinds: Option<u16>,
    names: Option<HashSet<String>>,
    except: HashSet<String>,
    label: Option<String>,
}

impl Route {
    /// Every event (the route of [`TrackerBuilder::consumer`](crate::TrackerBuilder::consumer)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Route::new(), trackflow::Route::default());
    /// ```
    pub fn new() -> Route {
        Route::default()
    }

    /// Only these kinds of event.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Route, RouteKind};
    /// let r = Route::new().kinds([RouteKind::Track, RouteKind::ItemSet]);
    /// assert!(r.admits(&Event::track("open")) && r.admits(&Event::item("book", "b-1")));
    /// assert!(!r.admits(&Event::profile(trackflow::ProfileOp::Set)));
    /// ```
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = RouteKind>) -> Route {
        self.kinds = Some(kinds.into_iter().fold(0, |m, k| m | k.bits()));
        self
    }

    /// Only `track` events with these names (events of other admitted kinds still pass).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Route};
    /// let r = Route::new().names(["purchase", "refund"]);
    /// assert!(r.admits(&Event::track("refund")));
    /// assert!(!r.admits(&Event::track("open")));
    /// ```
    pub fn names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Route {
        self.names = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// No `track` events with these names.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Route};
    /// let r = Route::new().except(["heartbeat"]);
    /// assert!(!r.admits(&Event::track("heartbeat")));
    /// assert!(r.admits(&Event::track("open")));
    /// ```
    pub fn except<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Route {
        self.except = names.into_iter().map(Into::into).collect();
        self
    }

    /// The name this consumer's counters carry in
    /// [`Tracker::backend_stats`](crate::Tracker::backend_stats). Defaults to the backend's
    /// name (with `-2`, `-3`… for repeats).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = trackflow::Route::new().label("archive");
    /// ```
    pub fn label(mut self, label: impl Into<String>) -> Route {
        self.label = Some(label.into());
        self
    }

    pub(crate) fn label_ref(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Whether some `track` events pass.
    #[cfg_attr(not(feature = "personalize"), allow(dead_code))]
    pub(crate) fn admits_track(&self) -> bool {
        self.kinds.is_none_or(|k| k & TRACK_BIT != 0)
    }

    /// Whether every event passes, so the tracker can skip asking.
    pub(crate) fn is_all(&self) -> bool {
        self.kinds.is_none_or(|k| k == ALL_BITS) && self.names.is_none() && self.except.is_empty()
    }

    /// Whether `event` goes to this consumer.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Route, RouteKind};
    /// let r = Route::new().kinds([RouteKind::Track]).except(["ping"]);
    /// assert!(r.admits(&Event::track("buy")));
    /// assert!(!r.admits(&Event::track("ping")));
    /// ```
    pub fn admits(&self, event: &Event) -> bool {
        if self.kinds.is_some_and(|k| k & event_bit(&event.kind) == 0) {
            return false;
        }
        match &event.kind {
            EventKind::Track { name } => {
                self.names.as_ref().is_none_or(|n| n.contains(name.as_str()))
                    && !self.except.contains(name.as_str())
            }
            _ => true,
        }
    }
}

/// Labels `base`, `base-2`, `base-3`… for its first, second, third… use, counting in `seen`.
pub(crate) fn numbered(seen: &mut std::collections::HashMap<String, usize>, base: &str) -> String {
    let n = seen.entry(base.to_owned()).or_default();
    *n += 1;
    if *n == 1 {
        base.to_owned()
    } else {
        format!("{base}-{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_covers_every_profile_operation_and_nothing_else() {
        let every: u16 = ProfileOp::ALL.iter().fold(0, |m, op| m | op_bit(*op));
        assert_eq!(every, USER_BITS);
        assert_eq!(USER_BITS & (TRACK_BIT | ITEM_BIT), 0);
        let r = Route::new().kinds([RouteKind::User]);
        assert!(r.admits(&Event::new(EventKind::Profile(ProfileOp::Delete))));
        assert!(!r.admits(&Event::track("x")));
        assert!(!r.admits(&Event::new(EventKind::Item {
            item_type: "t".into(),
            item_id: "i".into()
        })));
    }

    #[test]
    fn names_narrow_track_events_only() {
        let r = Route::new().names(["buy"]);
        assert!(r.admits(&Event::track("buy")));
        assert!(!r.admits(&Event::track("view")));
        assert!(r.admits(&Event::new(EventKind::Profile(ProfileOp::Set))));
        assert!(Route::new()
            .kinds([RouteKind::Track, RouteKind::User, RouteKind::ItemSet])
            .is_all());
        assert!(!r.is_all());
    }
}
