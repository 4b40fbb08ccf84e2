//! GrowingIO's protobuf messages (`event_v3.proto`, package `growingio_tracker_protobuf`),
//! written as prost derives so no `protoc` is needed at build time. Only the fields the
//! official SDK sets are declared; proto3 leaves the others off the wire either way.

use std::collections::BTreeMap;

use super::client::{text_of, Body};
use crate::event::{Event, EventKind};

/// `EventType`; only the two values the server SDK sends are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(super) enum EventType {
    Visit = 0,
    Custom = 1,
    VisitorAttributes = 2,
    LoginUserAttributes = 3,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct EventV3Dto {
    #[prost(string, tag = "1")]
    pub device_id: String,
    #[prost(string, tag = "2")]
    pub user_id: String,
    #[prost(string, tag = "5")]
    pub data_source_id: String,
    #[prost(enumeration = "EventType", tag = "6")]
    pub event_type: i32,
    #[prost(string, tag = "7")]
    pub platform: String,
    #[prost(int64, tag = "8")]
    pub timestamp: i64,
    #[prost(string, tag = "19")]
    pub sdk_version: String,
    #[prost(string, tag = "22")]
    pub event_name: String,
    #[prost(btree_map = "string, string", tag = "24")]
    pub attributes: BTreeMap<String, String>,
    #[prost(string, tag = "53")]
    pub project_key: String,
    #[prost(int64, tag = "54")]
    pub send_time: i64,
    #[prost(string, tag = "55")]
    pub user_key: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct EventV3List {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<EventV3Dto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ItemDto {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub key: String,
    #[prost(btree_map = "string, string", tag = "3")]
    pub attributes: BTreeMap<String, String>,
    #[prost(string, tag = "4")]
    pub data_source_id: String,
    #[prost(string, tag = "5")]
    pub project_key: String,
}

/// Note the field number: `values` is 2 here, 1 in `EventV3List`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ItemDtoList {
    #[prost(message, repeated, tag = "2")]
    pub values: Vec<ItemDto>,
}

/// Every attribute value becomes text: JSON text for numbers and bools (`9.9`, `true`, not
/// Python's `True`), `||`-joined lists for events and users, JSON arrays for items (whose lists
/// JSON mode keeps as arrays); nulls are left out, as a string map cannot hold them.
fn attributes(e: &Event, join_lists: bool) -> BTreeMap<String, String> {
    e.properties
        .iter()
        .filter_map(|(k, v)| Some((k.to_owned(), text_of(v, join_lists)?.into_owned())))
        .collect()
}

fn owned(s: &Option<std::sync::Arc<str>>) -> String {
    s.as_deref().unwrap_or_default().to_owned()
}

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
