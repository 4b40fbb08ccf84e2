//! The neutral [`Event`]: what every backend needs, in one shape.
//!
//! # JSON form
//!
//! One event is one JSON object; the File backend writes one per line and `trackflow send`
//! reads the same lines back. Keys with no value are left out. The form is stable: new keys may
//! be added, existing ones keep their meaning.
//!
//! ```json
//! {"type":"track","event":"purchase","time":1700000000500,
//!  "insert_id":"6f1c…","anonymous_id":"device-001","user_id":"user-001","user_key":"email",
//!  "session_id":"s-1","properties":{"price":9.9,"qty":2,"at":{"$time":1700000000000}},
//!  "interaction":{"items":[{"id":"sku-1","quantity":2,"price":4.95}],"value":9.9}}
//! {"type":"profile","op":"set","time":…,"insert_id":"…","user_id":"user-001","properties":{…}}
//! {"type":"item","item_type":"book","item_id":"item-001","time":…,"insert_id":"…","properties":{…}}
//! ```
//!
//! | key | meaning |
//! |---|---|
//! | `type` | `track`, `profile` or `item` |
//! | `event` | event name (`track` only) |
//! | `op` | `set`, `set_once`, `increment`, `max`, `min`, `append`, `uniq_append`, `unset`, `delete` (`profile` only) |
//! | `item_type`, `item_id` | the item (`item` only) |
//! | `time` | event time, ms since the Unix epoch; when absent on read, the time of reading |
//! | `insert_id` | unique id of the event; when absent on read, a new one is made |
//! | `anonymous_id`, `user_id`, `user_key`, `session_id` | the [`Identity`] |
//! | `properties` | the ordered [`Properties`], values in the [`Value`](crate::Value) JSON form |
//! | `interaction` | the optional [`Interaction`] block |

use std::fmt;
use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::clock::InsertId;
use crate::text::Text;
use crate::value::Properties;

/// The operation of a profile (user) event.
///
/// # Examples
///
/// ```
/// use trackflow::ProfileOp;
/// assert_eq!(ProfileOp::UniqAppend.as_str(), "uniq_append");
/// assert_eq!("set_once".parse::<ProfileOp>(), Ok(ProfileOp::SetOnce));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProfileOp {
    /// Set properties, overwriting.
    Set,
    /// Set properties only where not yet set.
    SetOnce,
    /// Add numbers to numeric properties.
    Increment,
    /// Keep the larger of the stored and the given number.
    Max,
    /// Keep the smaller of the stored and the given number.
    Min,
    /// Append to list properties.
    Append,
    /// Append to list properties, skipping values already present.
    UniqAppend,
    /// Remove the named properties (values are ignored).
    Unset,
    /// Delete the whole user profile.
    Delete,
}

impl ProfileOp {
    /// Every operation, in declaration order.
    pub const ALL: [ProfileOp; 9] = [
        ProfileOp::Set,
        ProfileOp::SetOnce,
        ProfileOp::Increment,
        ProfileOp::Max,
        ProfileOp::Min,
        ProfileOp::Append,
        ProfileOp::UniqAppend,
        ProfileOp::Unset,
        ProfileOp::Delete,
    ];

    /// The snake_case name used in the JSON form.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::ProfileOp::Max.as_str(), "max");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileOp::Set => "set",
            ProfileOp::SetOnce => "set_once",
            ProfileOp::Increment => "increment",
            ProfileOp::Max => "max",
            ProfileOp::Min => "min",
            ProfileOp::Append => "append",
            ProfileOp::UniqAppend => "uniq_append",
            ProfileOp::Unset => "unset",
            ProfileOp::Delete => "delete",
        }
    }

    /// The name of the tracker method that makes this operation, for error messages.
    pub(crate) fn method(self) -> &'static str {
        match self {
            ProfileOp::Set => "user_set",
            ProfileOp::SetOnce => "user_set_once",
            ProfileOp::Increment => "user_increment",
            ProfileOp::Max => "user_max",
            ProfileOp::Min => "user_min",
            ProfileOp::Append => "user_append",
            ProfileOp::UniqAppend => "user_uniq_append",
            ProfileOp::Unset => "user_unset",
            ProfileOp::Delete => "user_delete",
        }
    }
}

impl std::str::FromStr for ProfileOp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProfileOp::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| format!("unknown profile op `{s}`"))
    }
}

/// What an event is.
///
/// # Examples
///
/// ```
/// use trackflow::{EventKind, ProfileOp};
/// let k = EventKind::Profile(ProfileOp::Set);
/// assert_eq!(k.to_string(), "user_set");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A custom event with a name.
    Track {
        /// The event name.
        name: Text,
    },
    /// A change to a user profile.
    Profile(ProfileOp),
    /// A fact about an item (a catalog entry or dimension row).
    Item {
        /// The item type (GrowingIO item key, Personalize item type).
        item_type: String,
        /// The item's id.
        item_id: String,
    },
}

impl fmt::Display for EventKind {
    /// The tracker call that makes this kind, as named in errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Track { .. } => f.write_str("track"),
            EventKind::Profile(op) => f.write_str(op.method()),
            EventKind::Item { .. } => f.write_str("item_set"),
        }
    }
}

/// Who did it: the ids a backend maps to its own user fields.
///
/// At least one of `anonymous_id` and `user_id` is required for track and profile events.
/// The ids are shared strings: cloning an identity for each event allocates nothing.
///
/// # Examples
///
/// ```
/// use trackflow::Identity;
/// let who = Identity::anonymous("device-001").with_user("user-001").with_user_key("email");
/// assert_eq!(who.user_id.as_deref(), Some("user-001"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Identity {
    /// Device, visitor or client id (GrowingIO `deviceId`, Gravity `client_id`, Retail
    /// `visitorId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<Arc<str>>,
    /// The logged-in user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Arc<str>>,
    /// The type of `user_id` (GrowingIO `userKey`, e.g. `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key: Option<Arc<str>>,
    /// The session the event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Arc<str>>,
}

impl Identity {
    /// A logged-in user.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Identity::user("u1").user_id.as_deref(), Some("u1"));
    /// ```
    pub fn user(user_id: impl Into<Arc<str>>) -> Self {
        Identity {
            user_id: Some(user_id.into()),
            ..Identity::default()
        }
    }

    /// An anonymous visitor or device.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Identity::anonymous("d1").anonymous_id.as_deref(), Some("d1"));
    /// ```
    pub fn anonymous(anonymous_id: impl Into<Arc<str>>) -> Self {
        Identity {
            anonymous_id: Some(anonymous_id.into()),
            ..Identity::default()
        }
    }

    /// Sets the user id.
    ///
    /// # Examples
    ///
    /// ```
    /// let who = trackflow::Identity::anonymous("d1").with_user("u1");
    /// assert!(who.anonymous_id.is_some() && who.user_id.is_some());
    /// ```
    pub fn with_user(mut self, user_id: impl Into<Arc<str>>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Sets the anonymous id.
    ///
    /// # Examples
    ///
    /// ```
    /// let who = trackflow::Identity::user("u1").with_anonymous("d1");
    /// assert_eq!(who.anonymous_id.as_deref(), Some("d1"));
    /// ```
    pub fn with_anonymous(mut self, anonymous_id: impl Into<Arc<str>>) -> Self {
        self.anonymous_id = Some(anonymous_id.into());
        self
    }

    /// Sets the user key (the type of the user id).
    ///
    /// # Examples
    ///
    /// ```
    /// let who = trackflow::Identity::user("a@b.c").with_user_key("email");
    /// assert_eq!(who.user_key.as_deref(), Some("email"));
    /// ```
    pub fn with_user_key(mut self, user_key: impl Into<Arc<str>>) -> Self {
        self.user_key = Some(user_key.into());
        self
    }

    /// Sets the session id.
    ///
    /// # Examples
    ///
    /// ```
    /// let who = trackflow::Identity::user("u1").with_session("s1");
    /// assert_eq!(who.session_id.as_deref(), Some("s1"));
    /// ```
    pub fn with_session(mut self, session_id: impl Into<Arc<str>>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Whether neither an anonymous id nor a user id is set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::Identity::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.anonymous_id.is_none() && self.user_id.is_none()
    }

    /// `Ok` when an anonymous id or a user id is given, else the error naming `backend`,
    /// for backends that key every event on one of them.
    #[cfg(any(feature = "growingio", feature = "gravity"))]
    pub(crate) fn require_anonymous_or_user(&self, backend: &str) -> crate::error::Result<()> {
        if self.is_empty() {
            return Err(crate::error::Error::invalid(
                "identity",
                format!("{backend} needs an anonymous_id or a user_id"),
            ));
        }
        Ok(())
    }
}

/// One item involved in an interaction.
///
/// # Examples
///
/// ```
/// let item = trackflow::InteractionItem::new("sku-1").quantity(2).price(4.95);
/// assert_eq!(item.quantity, Some(2));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InteractionItem {
    /// The item id.
    pub id: String,
    /// How many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// Unit price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
}

impl InteractionItem {
    /// An item by id.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::InteractionItem::new("a").id, "a");
    /// ```
    pub fn new(id: impl Into<String>) -> Self {
        InteractionItem {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Sets the quantity.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::InteractionItem::new("a").quantity(3).quantity, Some(3));
    /// ```
    pub fn quantity(mut self, q: i64) -> Self {
        self.quantity = Some(q);
        self
    }

    /// Sets the unit price.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::InteractionItem::new("a").price(1.5).price, Some(1.5));
    /// ```
    pub fn price(mut self, p: f64) -> Self {
        self.price = Some(p);
        self
    }
}

/// What recommendation backends (Personalize, Retail, Talent) need beyond name and properties.
///
/// Built with [`Interaction::new`] and one method per field.
///
/// # Examples
///
/// ```
/// use trackflow::{Interaction, InteractionItem};
/// let i = Interaction::new()
///     .item(InteractionItem::new("sku-1").quantity(1))
///     .value(9.9)
///     .currency("USD");
/// assert_eq!(i.items.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Interaction {
    /// Items involved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<InteractionItem>,
    /// The event's value (revenue, rating).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// ISO 4217 currency of `value` and prices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Purchase transaction id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The recommendation or search response this interaction came from, one concept that
    /// each backend writes to its own field: Personalize `recommendationId`, Retail
    /// `attributionToken`, Talent `requestId`.
    #[serde(skip_serializing_if = "Option::is_none", alias = "attribution_token")]
    pub recommendation_id: Option<String>,
    /// Ids of the items that were shown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub impressions: Vec<String>,
    /// Search query text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_query: Option<String>,
    /// Page URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_uri: Option<String>,
    /// Referrer URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer_uri: Option<String>,
    /// Page categories.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub page_categories: Vec<String>,
    /// Experiment ids the user is in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub experiment_ids: Vec<String>,
    /// The event this one follows from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_event_id: Option<String>,
    /// The action acted on (Personalize action interactions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    /// The source the event is attributed to (Personalize `metricAttribution`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution_source: Option<String>,
    /// Shopping cart id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cart_id: Option<String>,
    /// Tax of the purchase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax: Option<f64>,
    /// Cost of the purchase (for margins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Search filter expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Search result ordering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    /// Search result offset (pagination).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Id shared by the events of one page view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_view_id: Option<String>,
    /// The end user's IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The end user's browser user agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Whether the event comes straight from the end user's request (not a server-side job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_user_request: Option<bool>,
    /// The site or app the event belongs to (Retail `entity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
}

// One builder method per field, so that an Interaction is built without naming the fields a
// future version may add (the struct is non-exhaustive).
macro_rules! interaction_setters {
    ($($kind:ident $field:ident: $doc:literal),* $(,)?) => {
        impl Interaction {$(
            interaction_setters!(@one $kind $field $doc);
        )*}
    };
    (@one text $field:ident $doc:literal) => {
        #[doc = concat!("Sets ", $doc, ".\n\n# Examples\n\n```\nlet i = trackflow::Interaction::new().", stringify!($field), "(\"x\");\nassert_eq!(i.", stringify!($field), ".as_deref(), Some(\"x\"));\n```")]
        pub fn $field(mut self, v: impl Into<String>) -> Self {
            self.$field = Some(v.into());
            self
        }
    };
    (@one number $field:ident $doc:literal) => {
        #[doc = concat!("Sets ", $doc, ".\n\n# Examples\n\n```\nlet i = trackflow::Interaction::new().", stringify!($field), "(2.5);\nassert_eq!(i.", stringify!($field), ", Some(2.5));\n```")]
        pub fn $field(mut self, v: f64) -> Self {
            self.$field = Some(v);
            self
        }
    };
    (@one texts $field:ident $doc:literal) => {
        #[doc = concat!("Sets ", $doc, ".\n\n# Examples\n\n```\nlet i = trackflow::Interaction::new().", stringify!($field), "([\"a\", \"b\"]);\nassert_eq!(i.", stringify!($field), ", [\"a\", \"b\"]);\n```")]
        pub fn $field<S: Into<String>>(mut self, v: impl IntoIterator<Item = S>) -> Self {
            self.$field = v.into_iter().map(Into::into).collect();
            self
        }
    };
}

interaction_setters!(
    number value: "the event's value (revenue, rating)",
    text currency: "the ISO 4217 currency of `value` and prices",
    text transaction_id: "the purchase transaction id",
    text recommendation_id: "the recommendation or search response this came from",
    texts impressions: "the ids of the items that were shown",
    text search_query: "the search query text",
    text page_uri: "the page URI",
    text referrer_uri: "the referrer URI",
    texts page_categories: "the page categories",
    texts experiment_ids: "the experiment ids the user is in",
    text parent_event_id: "the event this one follows from",
    text action_id: "the action acted on",
    text attribution_source: "the source the event is attributed to",
    text cart_id: "the shopping cart id",
    number tax: "the tax of the purchase",
    number cost: "the cost of the purchase",
    text filter: "the search filter expression",
    text order_by: "the search result ordering",
    text page_view_id: "the id shared by the events of one page view",
    text ip_address: "the end user's IP address",
    text user_agent: "the end user's browser user agent",
    text entity: "the site or app the event belongs to",
);

impl Interaction {
    /// An empty interaction block, to fill with the builder methods.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Interaction, InteractionItem};
    /// let i = Interaction::new().item(InteractionItem::new("sku-1").quantity(2)).value(9.9).currency("USD");
    /// assert_eq!((i.items.len(), i.value), (1, Some(9.9)));
    /// ```
    pub fn new() -> Interaction {
        Interaction::default()
    }

    /// Adds an item.
    ///
    /// # Examples
    ///
    /// ```
    /// let i = trackflow::Interaction::new().item(trackflow::InteractionItem::new("a"));
    /// assert_eq!(i.items[0].id, "a");
    /// ```
    pub fn item(mut self, item: InteractionItem) -> Self {
        self.items.push(item);
        self
    }

    /// Sets the items.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Interaction, InteractionItem};
    /// let i = Interaction::new().items(["a", "b"].map(InteractionItem::new));
    /// assert_eq!(i.items.len(), 2);
    /// ```
    pub fn items(mut self, items: impl IntoIterator<Item = InteractionItem>) -> Self {
        self.items = items.into_iter().collect();
        self
    }

    /// Sets the search result offset.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Interaction::new().offset(20).offset, Some(20));
    /// ```
    pub fn offset(mut self, v: i64) -> Self {
        self.offset = Some(v);
        self
    }

    /// Sets whether the event comes straight from the end user's request.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Interaction::new().direct_user_request(true).direct_user_request, Some(true));
    /// ```
    pub fn direct_user_request(mut self, v: bool) -> Self {
        self.direct_user_request = Some(v);
        self
    }
}

/// One event, as it travels from the tracker through consumers to backends.
///
/// Events are made by the [`Tracker`](crate::Tracker) methods, or read from the JSON form
/// (see the module docs) and handed to [`Tracker::record`](crate::Tracker::record).
///
/// # Examples
///
/// ```
/// let line = r#"{"type":"track","event":"open","time":1700000000500,"insert_id":"a1","user_id":"u1"}"#;
/// let e: trackflow::Event = serde_json::from_str(line)?;
/// assert_eq!(e.name(), Some("open"));
/// assert_eq!(serde_json::to_string(&e)?, line);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// What it is.
    pub kind: EventKind,
    /// Event time, ms since the Unix epoch.
    pub time: i64,
    /// Whether the caller gave `time` (rather than the tracker stamping it). GrowingIO's
    /// `sendTime` depends on it. Not part of the JSON form: events read back are given.
    pub time_given: bool,
    /// Unique id, for dedupe and as the event id where a backend has one.
    pub insert_id: InsertId,
    /// Who did it.
    pub identity: Identity,
    /// Typed properties, in order.
    pub properties: Properties,
    /// For recommendation backends.
    pub interaction: Option<Box<Interaction>>,
}

impl Interaction {
    /// Approximate bytes, for queue budgets and the per-event size limit.
    pub(crate) fn weight(&self) -> usize {
        let opt = |o: &Option<String>| o.as_ref().map_or(0, String::len);
        let list = |l: &Vec<String>| l.iter().map(|s| s.len() + 24).sum::<usize>();
        std::mem::size_of::<Interaction>()
            + self
                .items
                .iter()
                .map(|i| std::mem::size_of::<InteractionItem>() + i.id.len())
                .sum::<usize>()
            + [
                &self.currency,
                &self.transaction_id,
                &self.recommendation_id,
                &self.search_query,
                &self.page_uri,
                &self.referrer_uri,
                &self.parent_event_id,
                &self.action_id,
                &self.attribution_source,
                &self.cart_id,
                &self.filter,
                &self.order_by,
                &self.page_view_id,
                &self.ip_address,
                &self.user_agent,
                &self.entity,
            ]
            .into_iter()
            .map(opt)
            .sum::<usize>()
            + list(&self.impressions)
            + list(&self.page_categories)
            + list(&self.experiment_ids)
    }
}

impl Event {
    /// Approximate bytes this event occupies in memory, nested values included: what the
    /// queue byte budget and [`Limits::max_event_bytes`](crate::validate::Limits::max_event_bytes)
    /// measure.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Properties};
    /// let small = Event::track("a");
    /// let big = Event::track("a").with_properties(Properties::new().with("text", "x".repeat(10_000)));
    /// assert!(big.weight() >= small.weight() + 10_000);
    /// ```
    pub fn weight(&self) -> usize {
        self.weight_besides_properties() + self.properties.weight()
    }

    /// [`Event::weight`] less the properties', which validation weighs as it walks them.
    pub(crate) fn weight_besides_properties(&self) -> usize {
        let id = |s: &Option<Arc<str>>| s.as_ref().map_or(0, |s| s.len());
        let kind = match &self.kind {
            EventKind::Track { name } => name.len(),
            EventKind::Profile(_) => 0,
            EventKind::Item { item_type, item_id } => item_type.len() + item_id.len(),
        };
        std::mem::size_of::<Event>()
            + kind
            + id(&self.identity.anonymous_id)
            + id(&self.identity.user_id)
            + id(&self.identity.user_key)
            + id(&self.identity.session_id)
            + self.interaction.as_ref().map_or(0, |i| i.weight())
    }
}

impl Event {
    /// The event name of a track event.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, EventKind};
    /// let e = Event::new(EventKind::Track { name: "open".into() });
    /// assert_eq!(e.name(), Some("open"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Track { name } => Some(name),
            _ => None,
        }
    }

    /// A bare event of `kind`, time 0 and no id: fill the fields, then hand it to
    /// [`Tracker::record`](crate::Tracker::record), which stamps what is missing.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, EventKind, Identity};
    /// let mut e = Event::new(EventKind::Track { name: "open".into() });
    /// e.identity = Identity::user("u1");
    /// assert_eq!(e.time, 0);
    /// ```
    pub fn new(kind: EventKind) -> Self {
        Event {
            kind,
            time: 0,
            time_given: false,
            insert_id: InsertId::default(),
            identity: Identity::default(),
            properties: Properties::new(),
            interaction: None,
        }
    }
}

impl Event {
    /// A track event named `name`, for [`Tracker::record`](crate::Tracker::record).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Event::track("open").name(), Some("open"));
    /// ```
    pub fn track(name: impl Into<String>) -> Self {
        Event::new(EventKind::Track {
            name: name.into().into(),
        })
    }

    /// A profile event.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, EventKind, ProfileOp};
    /// assert_eq!(Event::profile(ProfileOp::Set).kind, EventKind::Profile(ProfileOp::Set));
    /// ```
    pub fn profile(op: ProfileOp) -> Self {
        Event::new(EventKind::Profile(op))
    }

    /// An item event.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trackflow::Event::item("book", "item-001");
    /// assert!(matches!(e.kind, trackflow::EventKind::Item { .. }));
    /// ```
    pub fn item(item_type: impl Into<String>, item_id: impl Into<String>) -> Self {
        Event::new(EventKind::Item {
            item_type: item_type.into(),
            item_id: item_id.into(),
        })
    }

    /// Sets who did it.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trackflow::Event::track("a").with_identity(trackflow::Identity::user("u1"));
    /// assert_eq!(e.identity.user_id.as_deref(), Some("u1"));
    /// ```
    pub fn with_identity(mut self, who: Identity) -> Self {
        self.identity = who;
        self
    }

    /// Sets the event time (ms since the Unix epoch), marking it as given by the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trackflow::Event::track("a").with_time(5);
    /// assert!(e.time_given && e.time == 5);
    /// ```
    pub fn with_time(mut self, ms: i64) -> Self {
        self.time = ms;
        self.time_given = true;
        self
    }

    /// Sets the properties.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trackflow::Event::track("a").with_properties([("k", 1)]);
    /// assert_eq!(e.properties.len(), 1);
    /// ```
    pub fn with_properties(mut self, p: impl Into<Properties>) -> Self {
        self.properties = p.into();
        self
    }

    /// Sets the interaction block.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trackflow::Event::track("a").with_interaction(Default::default());
    /// assert!(e.interaction.is_some());
    /// ```
    pub fn with_interaction(mut self, i: Interaction) -> Self {
        self.interaction = Some(Box::new(i));
        self
    }

    /// Sets the insert id (otherwise a random UUID is made).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Event::track("a").with_insert_id("x1").insert_id, "x1");
    /// ```
    pub fn with_insert_id(mut self, id: impl Into<InsertId>) -> Self {
        self.insert_id = id.into();
        self
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match &self.kind {
            EventKind::Track { name } => {
                m.serialize_entry("type", "track")?;
                m.serialize_entry("event", name)?;
            }
            EventKind::Profile(op) => {
                m.serialize_entry("type", "profile")?;
                m.serialize_entry("op", op.as_str())?;
            }
            EventKind::Item { item_type, item_id } => {
                m.serialize_entry("type", "item")?;
                m.serialize_entry("item_type", item_type)?;
                m.serialize_entry("item_id", item_id)?;
            }
        }
        m.serialize_entry("time", &self.time)?;
        m.serialize_entry("insert_id", &self.insert_id)?;
        let id = &self.identity;
        for (k, v) in [
            ("anonymous_id", &id.anonymous_id),
            ("user_id", &id.user_id),
            ("user_key", &id.user_key),
            ("session_id", &id.session_id),
        ] {
            if let Some(v) = v {
                m.serialize_entry(k, v)?;
            }
        }
        if !self.properties.is_empty() {
            m.serialize_entry("properties", &self.properties)?;
        }
        if let Some(i) = &self.interaction {
            m.serialize_entry("interaction", i)?;
        }
        m.end()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventJson {
    #[serde(rename = "type")]
    ty: String,
    event: Option<String>,
    op: Option<ProfileOp>,
    item_type: Option<String>,
    item_id: Option<String>,
    time: Option<i64>,
    insert_id: Option<InsertId>,
    anonymous_id: Option<Arc<str>>,
    user_id: Option<Arc<str>>,
    user_key: Option<Arc<str>>,
    session_id: Option<Arc<str>>,
    #[serde(default)]
    properties: Properties,
    interaction: Option<Box<Interaction>>,
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        use serde::de::Error as _;
        let j = EventJson::deserialize(d)?;
        let kind = match j.ty.as_str() {
            "track" => EventKind::Track {
                name: j.event.ok_or_else(|| D::Error::missing_field("event"))?.into(),
            },
            "profile" => EventKind::Profile(j.op.ok_or_else(|| D::Error::missing_field("op"))?),
            "item" => EventKind::Item {
                item_type: j.item_type.ok_or_else(|| D::Error::missing_field("item_type"))?,
                item_id: j.item_id.ok_or_else(|| D::Error::missing_field("item_id"))?,
            },
            other => {
                return Err(D::Error::unknown_variant(other, &["track", "profile", "item"]));
            }
        };
        Ok(Event {
            kind,
            time: j.time.unwrap_or(0),
            time_given: j.time.is_some(),
            insert_id: j.insert_id.unwrap_or_default(),
            identity: Identity {
                anonymous_id: j.anonymous_id,
                user_id: j.user_id,
                user_key: j.user_key,
                session_id: j.session_id,
            },
            properties: j.properties,
            interaction: j.interaction,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn json_form_round_trips_every_kind() {
        let mut e = Event::new(EventKind::Item {
            item_type: "book".into(),
            item_id: "i1".into(),
        });
        e.time = 5;
        e.time_given = true;
        e.insert_id = "x".into();
        e.properties.insert("p", Value::List(vec![Value::Int(1)]));
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"type":"item","item_type":"book","item_id":"i1","time":5,"insert_id":"x","properties":{"p":[1]}}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);

        let mut p = Event::new(EventKind::Profile(ProfileOp::UniqAppend));
        p.identity = Identity::user("u").with_session("s");
        p.interaction = Some(Box::new(Interaction {
            value: Some(1.5),
            ..Interaction::default()
        }));
        p.time_given = true;
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains(r#""op":"uniq_append""#), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), p);
    }

    #[test]
    fn unknown_keys_and_types_are_errors() {
        assert!(serde_json::from_str::<Event>(r#"{"type":"track","event":"a","bogus":1}"#).is_err());
        assert!(serde_json::from_str::<Event>(r#"{"type":"nope"}"#).is_err());
        assert!(serde_json::from_str::<Event>(r#"{"type":"track"}"#).is_err());
    }
}
