//! The wire shape: request bodies as botocore lays them out (Python's `json.dumps`), with
//! `properties` as a JSON string.

use std::collections::HashMap;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::client::Personalize;
use super::rules::Op;
use super::MAX_PER_CALL;
use crate::codec::json;
use crate::error::Result;
use crate::event::{Event, EventKind, Interaction};
use crate::value::{Properties, Value};

impl Personalize {
    pub(super) fn properties_json(&self, p: &Properties) -> Result<Option<String>> {
        if p.is_empty() {
            return Ok(None);
        }
        let mut buf = Vec::new();
        json::encode_into(&PzProps(p), json::Style::PythonAscii, &mut buf)?;
        Ok(Some(String::from_utf8(buf).unwrap_or_default()))
    }
}

impl Personalize {
    /// The PutEvents bodies that would carry `batch` (grouped by user and session, ten events
    /// per call), as botocore lays them out. For inspecting what goes on the wire, and for
    /// benchmarks; other kinds of event are left out.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) if a body cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Identity};
    /// use trackflow::auth::aws::Credentials;
    /// use trackflow::backend::personalize::Personalize;
    /// let p = Personalize::builder().region("us-east-1").tracking_id("t")
    ///     .credentials(Credentials::new("AK", "SK", None)).build()?;
    /// let events: Vec<Event> = (0..25)
    ///     .map(|i| Event::track("click").with_identity(Identity::user("u").with_session("s")).with_time(i))
    ///     .collect();
    /// assert_eq!(p.put_events_bodies(&events)?.len(), 3);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn put_events_bodies(&self, batch: &[Event]) -> Result<Vec<Vec<u8>>> {
        let mut groups: Vec<Vec<&Event>> = Vec::new();
        let mut index: HashMap<(Option<&str>, Option<&str>), usize> = HashMap::new();
        for e in batch.iter().filter(|e| self.op(e).ok() == Some(Op::Events)) {
            let g = *index
                .entry((e.identity.user_id.as_deref(), Self::session_id(e)))
                .or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
            groups[g].push(e);
        }
        groups
            .iter()
            .flat_map(|g| g.chunks(MAX_PER_CALL))
            .map(|c| self.body(Op::Events, c))
            .collect()
    }

    pub(super) fn body(&self, op: Op, events: &[&Event]) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(512);
        let body = Body { pz: self, op, events };
        json::encode_into(&body, json::Style::PythonAscii, &mut buf)?;
        Ok(buf)
    }
}

/// Epoch seconds, an integer when whole (as botocore writes timestamps).
pub(super) struct Seconds(i64);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

pub(super) struct Body<'a> {
    pub(super) pz: &'a Personalize,
    pub(super) op: Op,
    pub(super) events: &'a [&'a Event],
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let pz = self.pz;
        let first = self.events[0];
        let mut m = s.serialize_map(None)?;
        let list = Records {
            pz,
            op: self.op,
            events: self.events,
        };
        match self.op {
            Op::Events => {
                m.serialize_entry("trackingId", &pz.tracking_id)?;
                if let Some(u) = &first.identity.user_id {
                    m.serialize_entry("userId", u)?;
                }
                m.serialize_entry("sessionId", &Personalize::session_id(first))?;
                m.serialize_entry("eventList", &list)?;
            }
            Op::ActionInteractions => {
                m.serialize_entry("trackingId", &pz.tracking_id)?;
                m.serialize_entry("actionInteractions", &list)?;
            }
            Op::Users => {
                m.serialize_entry("datasetArn", &pz.users_arn)?;
                m.serialize_entry("users", &list)?;
            }
            Op::Items => {
                m.serialize_entry("datasetArn", &pz.items_arn)?;
                m.serialize_entry("items", &list)?;
            }
            Op::Actions => {
                m.serialize_entry("datasetArn", &pz.actions_arn)?;
                m.serialize_entry("actions", &list)?;
            }
        }
        m.end()
    }
}

pub(super) struct Records<'a> {
    pub(super) pz: &'a Personalize,
    pub(super) op: Op,
    pub(super) events: &'a [&'a Event],
}

impl Serialize for Records<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.events.len()))?;
        for e in self.events {
            seq.serialize_element(&Record {
                pz: self.pz,
                op: self.op,
                e,
            })?;
        }
        seq.end()
    }
}

/// One record, keys in the order boto3 users write them (and the goldens show).
pub(super) struct Record<'a> {
    pub(super) pz: &'a Personalize,
    pub(super) op: Op,
    pub(super) e: &'a Event,
}

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (pz, e) = (self.pz, self.e);
        let fields = Fields {
            e,
            i: e.interaction.as_deref(),
            event_id: pz.event_id_from_insert_id.then(|| e.insert_id.to_string()),
            props: pz
                .properties_json(&e.properties)
                .map_err(serde::ser::Error::custom)?,
        };
        let mut m = s.serialize_map(None)?;
        match self.op {
            Op::Events => fields.event(&mut m)?,
            Op::ActionInteractions => fields.action_interaction(&mut m)?,
            Op::Users => {
                m.serialize_entry("userId", &e.identity.user_id)?;
                fields.properties(&mut m)?;
            }
            Op::Items | Op::Actions => {
                let EventKind::Item { item_id, .. } = &e.kind else {
                    return Err(serde::ser::Error::custom("not an item"));
                };
                let key = if self.op == Op::Items {
                    "itemId"
                } else {
                    "actionId"
                };
                m.serialize_entry(key, item_id)?;
                fields.properties(&mut m)?;
            }
        }
        m.end()
    }
}

/// What a record's entries are made of.
struct Fields<'a> {
    e: &'a Event,
    i: Option<&'a Interaction>,
    event_id: Option<String>,
    props: Option<String>,
}

impl Fields<'_> {
    fn properties<M: SerializeMap>(&self, m: &mut M) -> std::result::Result<(), M::Error> {
        match &self.props {
            Some(p) => m.serialize_entry("properties", p),
            None => Ok(()),
        }
    }

    /// `recommendationId` and `impression`, which both interaction records carry.
    fn recommendation<M: SerializeMap>(&self, m: &mut M) -> std::result::Result<(), M::Error> {
        if let Some(r) = self.i.and_then(|i| i.recommendation_id.as_ref()) {
            m.serialize_entry("recommendationId", r)?;
        }
        match self.i.map(|i| &i.impressions).filter(|v| !v.is_empty()) {
            Some(imp) => m.serialize_entry("impression", imp),
            None => Ok(()),
        }
    }

    /// A PutEvents event.
    fn event<M: SerializeMap>(&self, m: &mut M) -> std::result::Result<(), M::Error> {
        let (e, i) = (self.e, self.i);
        if let Some(id) = &self.event_id {
            m.serialize_entry("eventId", id)?;
        }
        m.serialize_entry("eventType", e.name().unwrap_or_default())?;
        if let Some(v) = i.and_then(|i| i.value) {
            m.serialize_entry("eventValue", &v)?;
        }
        if let Some(item) = i.and_then(|i| i.items.first()) {
            m.serialize_entry("itemId", &item.id)?;
        }
        self.properties(m)?;
        m.serialize_entry("sentAt", &Seconds(e.time))?;
        self.recommendation(m)?;
        match i.and_then(|i| i.attribution_source.as_ref()) {
            Some(src) => m.serialize_entry("metricAttribution", &Attribution(src)),
            None => Ok(()),
        }
    }

    /// A PutActionInteractions record.
    fn action_interaction<M: SerializeMap>(&self, m: &mut M) -> std::result::Result<(), M::Error> {
        let (e, i) = (self.e, self.i);
        m.serialize_entry("actionId", &i.and_then(|i| i.action_id.as_ref()))?;
        if let Some(u) = &e.identity.user_id {
            m.serialize_entry("userId", u)?;
        }
        m.serialize_entry("sessionId", &Personalize::session_id(e))?;
        m.serialize_entry("timestamp", &Seconds(e.time))?;
        m.serialize_entry("eventType", e.name().unwrap_or_default())?;
        if let Some(id) = &self.event_id {
            m.serialize_entry("eventId", id)?;
        }
        self.recommendation(m)?;
        self.properties(m)
    }
}

pub(super) struct Attribution<'a>(&'a str);

impl Serialize for Attribution<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("eventAttributionSource", self.0)?;
        m.end()
    }
}

/// Properties as Personalize reads them: lists `|`-joined, times as epoch seconds.
pub(super) struct PzProps<'a>(&'a Properties);

impl Serialize for PzProps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, &PzValue(v))?;
        }
        m.end()
    }
}

pub(super) struct PzValue<'a>(&'a Value);

impl Serialize for PzValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Value::Time(t) => Seconds(*t).serialize(s),
            Value::List(l) => {
                let parts: Vec<String> = l
                    .iter()
                    .filter(|v| !matches!(v, Value::Null))
                    .map(|v| match v {
                        Value::String(s) => s.to_string(),
                        v => serde_json::to_string(&PzValue(v)).unwrap_or_default(),
                    })
                    .collect();
                s.serialize_str(&parts.join("|"))
            }
            Value::Object(p) => PzProps(p).serialize(s),
            v => v.serialize(s),
        }
    }
}
