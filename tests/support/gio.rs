//! Decoding what a GrowingIO client sent, independently of trackflow's encoder: snappy (and
//! the XOR crypt) with the `snap` crate, protobuf with message definitions written here from
//! `event_v3.proto`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::Captured;

/// The `id` attribute of each event in a GrowingIO JSON body (events without one skipped).
pub fn attribute_ids(r: &Captured) -> Vec<String> {
    r.json()
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["attributes"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EventV3Dto {
    #[prost(string, tag = "1")]
    pub device_id: String,
    #[prost(string, tag = "2")]
    pub user_id: String,
    #[prost(string, tag = "3")]
    pub gio_id: String,
    #[prost(string, tag = "4")]
    pub session_id: String,
    #[prost(string, tag = "5")]
    pub data_source_id: String,
    #[prost(int32, tag = "6")]
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
pub struct EventV3List {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<EventV3Dto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ItemDto {
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

#[derive(Clone, PartialEq, prost::Message)]
pub struct ItemDtoList {
    #[prost(message, repeated, tag = "2")]
    pub values: Vec<ItemDto>,
}

const EVENT_TYPES: [&str; 11] = [
    "VISIT",
    "CUSTOM",
    "VISITOR_ATTRIBUTES",
    "LOGIN_USER_ATTRIBUTES",
    "CONVERSION_VARIABLES",
    "APP_CLOSED",
    "PAGE",
    "PAGE_ATTRIBUTES",
    "VIEW_CLICK",
    "VIEW_CHANGE",
    "FORM_SUBMIT",
];

/// The JSON text a JSON or Snappy request carried (undoing XOR and snappy as its headers say).
pub fn plain_json_text(r: &Captured) -> Vec<u8> {
    let mut body = r.body.clone();
    if r.header("X-Crypt-Codec") == Some("1") {
        let stm: i64 = r
            .query
            .strip_prefix("stm=")
            .and_then(|v| v.parse().ok())
            .expect("a crypted body needs the stm query");
        for b in &mut body {
            *b ^= (stm & 0xff) as u8;
        }
    }
    if r.header("X-Compress-Codec") == Some("2") {
        body = snap::raw::Decoder::new()
            .decompress_vec(&body)
            .expect("not a raw snappy block");
    }
    body
}

/// A protobuf body in the proto3 JSON mapping (defaults left out, int64 as strings, enum
/// names), as the golden captures show it. Panics if re-encoding the decoded message does not
/// give the same bytes: a field these definitions do not know would be lost on decode.
pub fn protobuf_json(r: &Captured, items: bool) -> Value {
    use prost::Message;
    let s = |v: &str| (!v.is_empty()).then(|| json!(v));
    let i = |v: i64| (v != 0).then(|| json!(v.to_string()));
    let attrs = |a: &BTreeMap<String, String>| (!a.is_empty()).then(|| json!(a));
    let obj = |fields: Vec<(&str, Option<Value>)>| {
        Value::Object(
            fields
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                .collect::<Map<_, _>>(),
        )
    };
    if items {
        let list = ItemDtoList::decode(&r.body[..]).expect("not an ItemDtoList");
        assert_eq!(list.encode_to_vec(), r.body, "fields outside ItemDtoList");
        let values: Vec<Value> = list
            .values
            .iter()
            .map(|v| {
                obj(vec![
                    ("id", s(&v.id)),
                    ("key", s(&v.key)),
                    ("attributes", attrs(&v.attributes)),
                    ("data_source_id", s(&v.data_source_id)),
                    ("project_key", s(&v.project_key)),
                ])
            })
            .collect();
        json!({ "values": values })
    } else {
        let list = EventV3List::decode(&r.body[..]).expect("not an EventV3List");
        assert_eq!(list.encode_to_vec(), r.body, "fields outside EventV3List");
        let values: Vec<Value> = list
            .values
            .iter()
            .map(|v| {
                obj(vec![
                    ("device_id", s(&v.device_id)),
                    ("user_id", s(&v.user_id)),
                    ("gio_id", s(&v.gio_id)),
                    ("session_id", s(&v.session_id)),
                    ("data_source_id", s(&v.data_source_id)),
                    ("event_type", Some(json!(EVENT_TYPES[v.event_type as usize]))),
                    ("platform", s(&v.platform)),
                    ("timestamp", i(v.timestamp)),
                    ("sdk_version", s(&v.sdk_version)),
                    ("event_name", s(&v.event_name)),
                    ("attributes", attrs(&v.attributes)),
                    ("project_key", s(&v.project_key)),
                    ("send_time", i(v.send_time)),
                    ("user_key", s(&v.user_key)),
                ])
            })
            .collect();
        json!({ "values": values })
    }
}
