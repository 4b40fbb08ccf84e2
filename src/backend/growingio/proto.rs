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
use super::client::{text_of, Body};
#[cfg(feature = "growingio")]
use crate::event::{Event, EventKind};

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

/// Every attribute value becomes text: JSON text for numbers and bools (`9.9`, `true`, not
/// Python's `True`), `||`-joined lists for events and users, JSON arrays for items (whose lists
/// JSON mode keeps as arrays); nulls are left out, as a string map cannot hold them.
#[cfg(feature = "growingio")]
fn attributes(e: &Event, join_lists: bool) -> BTreeMap<String, String> {
    e.properties
        .iter()
        .filter_map(|(k, v)| Some((k.to_owned(), text_of(v, join_lists)?.into_owned())))
        .collect()
}

#[cfg(feature = "growingio")]
fn owned(s: &Option<std::sync::Arc<str>>) -> String {
    s.as_deref().unwrap_or_default().to_owned()
}

#[cfg(feature = "growingio")]
pub(super) fn events(body: &Body<'_>) -> EventV3List {
    let g = body.gio;
    let values = body
        .events()
        .map(|e| EventV3Dto {
            device_id: owned(&e.identity.anonymous_id),
            user_id: owned(&e.identity.user_id),
            data_source_id: g.data_source_id.clone(),
            event_type: if e.name().is_some() {
                EventType::Custom
            } else {
                EventType::LoginUserAttributes
            } as i32,
            platform: g.platform.clone(),
            timestamp: e.time,
            sdk_version: g.sdk_version.clone(),
            event_name: e.name().unwrap_or_default().to_owned(),
            attributes: attributes(e, true),
            project_key: g.project_key.clone(),
            send_time: if e.time_given { e.time } else { 0 },
            user_key: owned(&e.identity.user_key),
        })
        .collect();
    EventV3List { values }
}

#[cfg(feature = "growingio")]
pub(super) fn items(body: &Body<'_>) -> ItemDtoList {
    let g = body.gio;
    let values = body
        .events()
        .filter_map(|e| match &e.kind {
            EventKind::Item { item_type, item_id } => Some(ItemDto {
                id: item_id.clone(),
                key: item_type.clone(),
                attributes: attributes(e, false),
                data_source_id: g.data_source_id.clone(),
                project_key: g.project_key.clone(),
            }),
            _ => None,
        })
        .collect();
    ItemDtoList { values }
}
