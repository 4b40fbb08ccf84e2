//! GrowingIO's protobuf messages (`event_v3.proto`, package `growingio_tracker_protobuf`),
//! written as prost derives so no `protoc` is needed at build time. Only the fields the
//! official SDK sets are declared; proto3 leaves the others off the wire either way.
//!
//! # Examples
//!
//! ```
//! use prost::Message;
//! use trackflow::backend::growingio::proto::{EventV3Dto, EventV3List};
//! let list = EventV3List { values: vec![EventV3Dto { event_name: "buy".into(), ..Default::default() }] };
//! let back = EventV3List::decode(&list.encode_to_vec()[..]).unwrap();
//! assert_eq!(back.values[0].event_name, "buy");
//! ```

use std::collections::BTreeMap;

#[cfg(feature = "growingio")]
use super::wire::{write_text, Body};
#[cfg(feature = "growingio")]
use crate::event::{Event, EventKind};
#[cfg(feature = "growingio")]
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

/// `EventType`; the server SDK sends `Custom` and `LoginUserAttributes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EventType {
    /// A visit.
    Visit = 0,
    /// A custom event.
    Custom = 1,
    /// Visitor attributes.
    VisitorAttributes = 2,
    /// Login-user attributes.
    LoginUserAttributes = 3,
}

#[derive(Clone, PartialEq, prost::Message)]
/// One event or user message.
pub struct EventV3Dto {
    #[prost(string, tag = "1")]
    /// Anonymous (device) id.
    pub device_id: String,
    #[prost(string, tag = "2")]
    /// Login user id.
    pub user_id: String,
    #[prost(string, tag = "5")]
    /// Data source id.
    pub data_source_id: String,
    #[prost(enumeration = "EventType", tag = "6")]
    /// [`EventType`] as its number.
    pub event_type: i32,
    #[prost(string, tag = "7")]
    /// Platform name.
    pub platform: String,
    #[prost(int64, tag = "8")]
    /// Event time, ms.
    pub timestamp: i64,
    #[prost(string, tag = "19")]
    /// SDK version.
    pub sdk_version: String,
    #[prost(string, tag = "22")]
    /// Custom event name.
    pub event_name: String,
    #[prost(btree_map = "string, string", tag = "24")]
    /// Attributes, all as text.
    pub attributes: BTreeMap<String, String>,
    #[prost(string, tag = "53")]
    /// Project key.
    pub project_key: String,
    #[prost(int64, tag = "54")]
    /// Send time, ms (0: not sent).
    pub send_time: i64,
    #[prost(string, tag = "55")]
    /// Login user key (type of the id).
    pub user_key: String,
}

#[derive(Clone, PartialEq, prost::Message)]
/// A batch of events (`values` is field 1).
pub struct EventV3List {
    #[prost(message, repeated, tag = "1")]
    /// The events.
    pub values: Vec<EventV3Dto>,
}

#[derive(Clone, PartialEq, prost::Message)]
/// One item.
pub struct ItemDto {
    #[prost(string, tag = "1")]
    /// Item id.
    pub id: String,
    #[prost(string, tag = "2")]
    /// Item key (type).
    pub key: String,
    #[prost(btree_map = "string, string", tag = "3")]
    /// Attributes, all as text.
    pub attributes: BTreeMap<String, String>,
    #[prost(string, tag = "4")]
    /// Data source id.
    pub data_source_id: String,
    #[prost(string, tag = "5")]
    /// Project key.
    pub project_key: String,
}

/// Note the field number: `values` is 2 here, 1 in `EventV3List`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ItemDtoList {
    #[prost(message, repeated, tag = "2")]
    /// The items.
    pub values: Vec<ItemDto>,
}

/// One field of a message as written: proto3 leaves empty strings and zeros off the wire.
#[cfg(feature = "growingio")]
enum Field<'a> {
    Str(u32, &'a str),
    Int(u32, i64),
    /// A `map<string, string>`: entries sorted by key (prost's BTreeMap order), the text of
    /// each value at `start..end` of the scratch buffer.
    Map(u32, &'a [(&'a str, usize, usize)], &'a [u8]),
}

#[cfg(feature = "growingio")]
fn str_len(tag: u32, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(n as u64) + n
    }
}

#[cfg(feature = "growingio")]
fn put_str(tag: u32, s: &[u8], out: &mut Vec<u8>) {
    if !s.is_empty() {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(s.len() as u64, out);
        out.extend_from_slice(s);
    }
}

#[cfg(feature = "growingio")]
impl Field<'_> {
    fn len(&self) -> usize {
        match *self {
            Field::Str(tag, s) => str_len(tag, s.len()),
            Field::Int(_, 0) => 0,
            Field::Int(tag, v) => key_len(tag) + encoded_len_varint(v as u64),
            Field::Map(tag, entries, _) => entries
                .iter()
                .map(|&(k, a, b)| {
                    let entry = str_len(1, k.len()) + str_len(2, b - a);
                    key_len(tag) + encoded_len_varint(entry as u64) + entry
                })
                .sum(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Field::Str(tag, s) => put_str(tag, s.as_bytes(), out),
            Field::Int(_, 0) => {}
            Field::Int(tag, v) => {
                encode_key(tag, WireType::Varint, out);
                encode_varint(v as u64, out);
            }
            Field::Map(tag, entries, text) => {
                for &(k, a, b) in entries {
                    encode_key(tag, WireType::LengthDelimited, out);
                    encode_varint((str_len(1, k.len()) + str_len(2, b - a)) as u64, out);
                    put_str(1, k.as_bytes(), out);
                    put_str(2, &text[a..b], out);
                }
            }
        }
    }
}

/// Writes a message of `fields` as field `tag` of its list: key, length, then the fields.
#[cfg(feature = "growingio")]
fn put_message(tag: u32, fields: &[Field<'_>], out: &mut Vec<u8>) {
    let len: usize = fields.iter().map(Field::len).sum();
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    for f in fields {
        f.write(out);
    }
}

/// Scratch space reused across the events of a body: attribute texts and their entries.
#[cfg(feature = "growingio")]
#[derive(Default)]
struct Scratch<'a> {
    text: Vec<u8>,
    entries: Vec<(&'a str, usize, usize)>,
}

#[cfg(feature = "growingio")]
impl<'a> Scratch<'a> {
    /// Every attribute value as text (JSON text for numbers and bools, `9.9` and `true`;
    /// `||`-joined lists for events and users, JSON arrays for items), sorted by key; nulls
    /// are left out, as a string map cannot hold them.
    fn attributes(&mut self, e: &'a Event, join_lists: bool) {
        self.text.clear();
        self.entries.clear();
        for (k, v) in e.properties.iter() {
            let start = self.text.len();
            if write_text(&mut self.text, v, join_lists) {
                self.entries.push((k, start, self.text.len()));
            }
        }
        self.entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
}

#[cfg(feature = "growingio")]
fn id(s: &Option<std::sync::Arc<str>>) -> &str {
    s.as_deref().unwrap_or_default()
}

/// `EventV3List`, written straight into `out` (as prost would encode the messages, byte for
/// byte, without building them).
#[cfg(feature = "growingio")]
pub(super) fn write_events(body: &Body<'_>, out: &mut Vec<u8>) {
    let g = body.gio;
    let mut scratch = Scratch::default();
    for e in body.events() {
        scratch.attributes(e, true);
        let kind = if e.name().is_some() {
            EventType::Custom
        } else {
            EventType::LoginUserAttributes
        };
        let fields = [
            Field::Str(1, id(&e.identity.anonymous_id)),
            Field::Str(2, id(&e.identity.user_id)),
            Field::Str(5, &g.data_source_id),
            Field::Int(6, kind as i64),
            Field::Str(7, &g.platform),
            Field::Int(8, e.time),
            Field::Str(19, &g.sdk_version),
            Field::Str(22, e.name().unwrap_or_default()),
            Field::Map(24, &scratch.entries, &scratch.text),
            Field::Str(53, &g.project_key),
            Field::Int(54, if e.time_given { e.time } else { 0 }),
            Field::Str(55, id(&e.identity.user_key)),
        ];
        put_message(1, &fields, out);
    }
}

/// `ItemDtoList` (its `values` is field 2), written straight into `out`.
#[cfg(feature = "growingio")]
pub(super) fn write_items(body: &Body<'_>, out: &mut Vec<u8>) {
    let g = body.gio;
    let mut scratch = Scratch::default();
    for e in body.events() {
        let EventKind::Item { item_type, item_id } = &e.kind else {
            continue;
        };
        scratch.attributes(e, false);
        let fields = [
            Field::Str(1, item_id),
            Field::Str(2, item_type),
            Field::Map(3, &scratch.entries, &scratch.text),
            Field::Str(4, &g.data_source_id),
            Field::Str(5, &g.project_key),
        ];
        put_message(2, &fields, out);
    }
}

#[cfg(all(test, feature = "growingio"))]
mod tests {
    use super::*;
    use crate::backend::growingio::GrowingIoCodec;
    use crate::{GrowingIo, Identity, Properties, Value};
    use prost::Message;

    fn text(v: &Value, join: bool) -> Option<String> {
        let mut b = Vec::new();
        write_text(&mut b, v, join).then(|| String::from_utf8(b).unwrap())
    }

    fn event(
        name: Option<String>,
        ids: (Option<String>, Option<String>),
        time: (i64, bool),
        props: Vec<(String, Value)>,
    ) -> Event {
        let mut p = Properties::new();
        for (k, v) in props {
            p.insert(k, v);
        }
        let who = Identity {
            anonymous_id: ids.0.map(Into::into),
            user_id: ids.1.map(Into::into),
            ..Identity::default()
        };
        let e = match name {
            Some(n) => Event::track(n),
            None => Event::profile(crate::ProfileOp::Set),
        };
        let mut e = e.with_identity(who).with_properties(p).with_time(time.0);
        e.time_given = time.1;
        e
    }

    proptest::proptest! {
        /// Written straight into the buffer, the bytes are what prost writes for the same
        /// messages (decoding them and encoding again changes nothing), and each field holds
        /// what the SDK sets.
        #[test]
        fn the_bytes_are_prosts(
            events in proptest::collection::vec((
                proptest::option::of(".{0,12}"),
                (proptest::option::of("[a-z0-9]{0,8}"), proptest::option::of(".{0,8}")),
                (proptest::prelude::any::<i64>(), proptest::prelude::any::<bool>()),
                proptest::collection::vec(("[a-z_]{0,6}", crate::value::any_value()), 0..6),
            ), 0..5),
        ) {
            let gio = GrowingIo::builder("http://127.0.0.1:9", "p", "d")
                .codec(GrowingIoCodec::Protobuf)
                .build()
                .unwrap();
            let batch: Vec<Event> = events.into_iter().map(|(n, ids, t, p)| event(n, ids, t, p)).collect();
            let idx: Vec<usize> = (0..batch.len()).collect();
            for items in [false, true] {
                let items_batch: Vec<Event> = batch
                    .iter()
                    .map(|e| {
                        let mut i = e.clone();
                        i.kind = EventKind::Item { item_type: "sku".into(), item_id: "i-1".into() };
                        i
                    })
                    .collect();
                let (b, which) = if items { (&items_batch, "items") } else { (&batch, "events") };
                let mut out = Vec::new();
                let body = Body::of(&gio, b, &idx, items);
                if items { write_items(&body, &mut out) } else { write_events(&body, &mut out) }
                let again = if items {
                    ItemDtoList::decode(&out[..]).unwrap().encode_to_vec()
                } else {
                    let list = EventV3List::decode(&out[..]).unwrap();
                    for (m, e) in list.values.iter().zip(b.iter()) {
                        let want: BTreeMap<String, String> = e
                            .properties
                            .iter()
                            .filter_map(|(k, v)| Some((k.to_owned(), text(v, true)?)))
                            .collect();
                        proptest::prop_assert_eq!(&m.attributes, &want);
                        proptest::prop_assert_eq!(m.timestamp, e.time);
                        proptest::prop_assert_eq!(&m.event_name, e.name().unwrap_or_default());
                    }
                    list.encode_to_vec()
                };
                proptest::prop_assert_eq!(&out, &again, "{}", which);
            }
        }
    }
}
