//! The wire shape: events grouped by envelope (`client_id` and the `#` preset keys), written
//! as the SDK's Python `json.dumps` writes them.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::client::{ClientId, Gravity};
use super::{LIB, LIB_VERSION, PRESET_KEYS};
use crate::clock::format_datetime_ms;
use crate::codec::{gzip, json};
use crate::error::Result;
use crate::event::{Event, EventKind, ProfileOp};
use crate::value::{Properties, Value};

impl Gravity {
    pub(super) fn client_id<'e>(&self, e: &'e Event) -> &'e str {
        let (anonymous, user) = (e.identity.anonymous_id.as_deref(), e.identity.user_id.as_deref());
        match self.client_id {
            ClientId::AnonymousFirst => anonymous.or(user),
            ClientId::UserFirst => user.or(anonymous),
        }
        .unwrap_or_default()
    }

    /// The envelope's identity: client id and preset values, as one comparable key.
    pub(super) fn envelope_key(&self, e: &Event) -> String {
        let mut key = self.client_id(e).to_owned();
        if self.uuid_from_insert_id && e.properties.get("#uuid").is_none() {
            key.push('\u{0}');
            key.push_str(&e.insert_id.to_string());
        }
        for p in PRESET_KEYS {
            key.push('\u{0}');
            if let Some(v) = self.preset(e, p) {
                key.push_str(&serde_json::to_string(&v).unwrap_or_default());
            }
        }
        key
    }

    pub(super) fn preset<'a>(&'a self, e: &'a Event, key: &str) -> Option<GeValue<'a>> {
        e.properties.get(key).map(|v| GeValue {
            v,
            tz: self.utc_offset_minutes,
        })
    }

    /// Appends the JSON envelope that would carry `events` (all of one client and preset
    /// keys), in Python's `json.dumps` layout, gzipped when compression is on. For inspecting
    /// what goes on the wire, and for benchmarks.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) if it cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Identity};
    /// use trackflow::backend::gravity::Gravity;
    /// let ge = Gravity::builder("http://127.0.0.1:9/c/?access_token=t").compress(false).build()?;
    /// let e = Event::track("buy").with_identity(Identity::anonymous("c1")).with_time(5);
    /// let mut out = Vec::new();
    /// ge.encode_envelope(&[&e], &mut out)?;
    /// assert!(out.starts_with(br#"{"client_id": "c1", "event_list": [{"type": "track""#));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn encode_envelope(&self, events: &[&Event], out: &mut Vec<u8>) -> Result<()> {
        let mut text = Vec::new();
        json::encode_into(
            &Envelope { ge: self, events },
            json::Style::PythonAscii,
            &mut text,
        )?;
        if self.compress {
            let mut zipped = Vec::new();
            gzip::compress_into(&text, &mut zipped)?;
            out.extend_from_slice(&zipped);
        } else {
            out.extend_from_slice(&text);
        }
        Ok(())
    }
}

pub(super) fn profile_event(op: ProfileOp) -> &'static str {
    match op {
        ProfileOp::Set => "profile_set",
        ProfileOp::SetOnce => "profile_set_once",
        ProfileOp::Increment => "profile_increment",
        ProfileOp::Max => "profile_number_max",
        ProfileOp::Min => "profile_number_min",
        ProfileOp::Append => "profile_append",
        ProfileOp::UniqAppend => "profile_uniq_append",
        ProfileOp::Unset => "profile_unset",
        ProfileOp::Delete => "profile_delete",
    }
}

/// `{"#ip": …, …, "client_id": …, "event_list": [...]}` for events that share an envelope.
pub(super) struct Envelope<'a> {
    pub(super) ge: &'a Gravity,
    pub(super) events: &'a [&'a Event],
}

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let first = self.events[0];
        let mut m = s.serialize_map(None)?;
        for p in PRESET_KEYS {
            if let Some(v) = self.ge.preset(first, p) {
                m.serialize_entry(p, &v)?;
            } else if p == "#uuid" && self.ge.uuid_from_insert_id {
                // The envelope key holds the insert id, so this envelope has one event.
                m.serialize_entry(p, &first.insert_id)?;
            }
        }
        m.serialize_entry("client_id", self.ge.client_id(first))?;
        m.serialize_entry("event_list", &EventList(self))?;
        m.end()
    }
}

pub(super) struct EventList<'a>(&'a Envelope<'a>);

impl Serialize for EventList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.events.len()))?;
        for e in self.0.events {
            seq.serialize_element(&GeEvent { ge: self.0.ge, e })?;
        }
        seq.end()
    }
}

pub(super) struct GeEvent<'a> {
    pub(super) ge: &'a Gravity,
    pub(super) e: &'a Event,
}

impl Serialize for GeEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let e = self.e;
        let (ty, name) = match &e.kind {
            EventKind::Track { name } => ("track", name.as_str()),
            EventKind::Profile(op) => ("profile", profile_event(*op)),
            EventKind::Item { .. } => return Err(serde::ser::Error::custom("gravity carries no items")),
        };
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("type", ty)?;
        m.serialize_entry("event", name)?;
        m.serialize_entry("time", &e.time)?;
        m.serialize_entry("time_free", &false)?;
        m.serialize_entry("properties", &GeProps { ge: self.ge, e })?;
        m.end()
    }
}

pub(super) struct GeProps<'a> {
    pub(super) ge: &'a Gravity,
    pub(super) e: &'a Event,
}

impl Serialize for GeProps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let e = self.e;
        let tz = self.ge.utc_offset_minutes;
        let mut m = s.serialize_map(None)?;
        let track = matches!(e.kind, EventKind::Track { .. });
        if track {
            m.serialize_entry("$lib", LIB)?;
            m.serialize_entry("$lib_version", LIB_VERSION)?;
        }
        let op = match e.kind {
            EventKind::Profile(op) => Some(op),
            _ => None,
        };
        if op == Some(ProfileOp::Delete) {
            return m.end();
        }
        for (k, v) in e.properties.iter() {
            if k.starts_with('#') || (track && (k == "$lib" || k == "$lib_version")) {
                continue;
            }
            if op == Some(ProfileOp::Unset) {
                // The SDK's user_unset sends each key with 0.
                m.serialize_entry(k, &0)?;
            } else {
                m.serialize_entry(k, &GeValue { v, tz })?;
            }
        }
        m.end()
    }
}

/// A value as Gravity wants it: times as `YYYY-mm-dd HH:MM:SS.mmm` text.
pub(super) struct GeValue<'a> {
    pub(super) v: &'a Value,
    pub(super) tz: i32,
}

impl Serialize for GeValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.v {
            Value::Time(t) => s.serialize_str(&format_datetime_ms(*t, self.tz)),
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(&GeValue { v, tz: self.tz })?;
                }
                seq.end()
            }
            Value::Object(p) => GeObject { p, tz: self.tz }.serialize(s),
            v => v.serialize(s),
        }
    }
}

pub(super) struct GeObject<'a> {
    pub(super) p: &'a Properties,
    pub(super) tz: i32,
}

impl Serialize for GeObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.p.len()))?;
        for (k, v) in self.p.iter() {
            m.serialize_entry(k, &GeValue { v, tz: self.tz })?;
        }
        m.end()
    }
}
