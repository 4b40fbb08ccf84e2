//! The wire shape: request bodies as the SDK's JSON, written straight into a buffer.

use super::client::GrowingIo;
use crate::codec::json;
use crate::event::{Event, EventKind};
use crate::value::{Properties, Value};

/// One request body: the events at `idx` as a JSON array, as event or as item messages.
pub(super) struct Body<'a> {
    pub(super) gio: &'a GrowingIo,
    pub(super) batch: &'a [Event],
    pub(super) idx: &'a [usize],
    pub(super) items: bool,
}

impl<'a> Body<'a> {
    /// A body of every event at `idx`, for the codec tests.
    #[cfg(all(test, feature = "protobuf"))]
    pub(super) fn of(gio: &'a GrowingIo, batch: &'a [Event], idx: &'a [usize], items: bool) -> Self {
        Body {
            gio,
            batch,
            idx,
            items,
        }
    }

    pub(super) fn events(&self) -> impl Iterator<Item = &'a Event> + '_ {
        self.idx.iter().map(|&i| &self.batch[i])
    }

    /// The JSON array, written straight into `out`: keys in the SDK's order
    /// (`data_parser.py` L46-81), compact, non-ASCII escaped (`ensure_ascii`).
    pub(super) fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (n, e) in self.events().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            if self.items {
                self.gio.write_item(out, e);
            } else {
                self.gio.write_event(out, e);
            }
        }
        out.push(b']');
    }
}

impl GrowingIo {
    /// Renders the constant parts of every message once, escaped as the SDK escapes them.
    pub(super) fn with_fragments(mut self) -> Self {
        let head = |event_type: &str| {
            let mut b = br#"{"eventType":"#.to_vec();
            json::write_str(&mut b, event_type, true);
            b.extend_from_slice(br#","sdkVersion":"#);
            json::write_str(&mut b, &self.sdk_version, true);
            b.extend_from_slice(br#","platform":"#);
            json::write_str(&mut b, &self.platform, true);
            b.extend_from_slice(br#","timestamp":"#);
            b
        };
        self.prefix_custom = head("CUSTOM");
        self.prefix_user = head("LOGIN_USER_ATTRIBUTES");
        let mut tail = br#","dataSourceId":"#.to_vec();
        json::write_str(&mut tail, &self.data_source_id, true);
        tail.extend_from_slice(br#","projectKey":"#);
        json::write_str(&mut tail, &self.project_key, true);
        tail.push(b'}');
        self.suffix = tail;
        self
    }

    fn write_event(&self, out: &mut Vec<u8>, e: &Event) {
        // Not `e.name()`: that would check the name's UTF-8 again, for nothing.
        let track = matches!(e.kind, EventKind::Track { .. });
        out.extend_from_slice(if track {
            &self.prefix_custom
        } else {
            &self.prefix_user
        });
        json::write_i64(out, e.time);
        if let EventKind::Track { name } = &e.kind {
            out.extend_from_slice(br#","eventName":"#);
            json::write_quoted(out, name.as_bytes(), true);
        }
        let id = &e.identity;
        for (key, v) in [
            (&br#","deviceId":"#[..], &id.anonymous_id),
            (br#","userKey":"#, &id.user_key),
            (br#","userId":"#, &id.user_id),
        ] {
            if let Some(v) = v {
                out.extend_from_slice(key);
                json::write_str(out, v, true);
            }
        }
        if !e.properties.is_empty() {
            out.extend_from_slice(br#","attributes":"#);
            write_attrs(out, &e.properties, true);
        }
        // The SDK sends sendTime only when the caller gave the event time, and then equal to
        // it (message.py L68-72).
        if e.time_given {
            out.extend_from_slice(br#","sendTime":"#);
            json::write_i64(out, e.time);
        }
        out.extend_from_slice(&self.suffix);
    }

    /// An item message: no eventType, timestamp or sdkVersion.
    fn write_item(&self, out: &mut Vec<u8>, e: &Event) {
        let EventKind::Item { item_type, item_id } = &e.kind else {
            return;
        };
        out.extend_from_slice(br#"{"key":"#);
        json::write_str(out, item_type, true);
        out.extend_from_slice(br#","id":"#);
        json::write_str(out, item_id, true);
        if !e.properties.is_empty() {
            out.extend_from_slice(br#","attributes":"#);
            write_attrs(out, &e.properties, false);
        }
        out.extend_from_slice(&self.suffix);
    }
}

/// Attributes as a JSON object: for events and users, lists become one `||`-joined string.
fn write_attrs(out: &mut Vec<u8>, p: &Properties, join_lists: bool) {
    out.push(b'{');
    for (n, (k, v)) in p.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        json::write_str(out, k, true);
        out.push(b':');
        match v {
            Value::List(l) if join_lists => write_joined(out, l),
            v => write_value(out, v),
        }
    }
    out.push(b'}');
}

/// A value as GrowingIO wants it: times as ms integers, the rest as JSON.
fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) | Value::Time(i) => json::write_i64(out, *i),
        Value::Float(f) => json::write_f64(out, *f),
        Value::String(s) => json::write_quoted(out, s.as_bytes(), true),
        Value::List(l) => {
            out.push(b'[');
            for (n, x) in l.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_value(out, x);
            }
            out.push(b']');
        }
        Value::Object(p) => write_attrs(out, p, false),
    }
}

/// `"a||b||3"`: the list's elements joined with `||`, nulls and empty strings dropped
/// (`message.py` L95-103); strings as they are, everything else as its JSON text.
fn write_joined(out: &mut Vec<u8>, l: &[Value]) {
    out.push(b'"');
    let mut first = true;
    for v in l {
        match v {
            Value::Null => continue,
            Value::String(s) if s.is_empty() => continue,
            _ => {}
        }
        if !first {
            out.extend_from_slice(b"||");
        }
        first = false;
        match v {
            Value::String(s) => json::write_utf8_content(out, s.as_bytes(), true),
            v => {
                // Numbers, bools and times have no character to escape; nested lists and
                // objects do, as text inside a string.
                let mut text = Vec::new();
                write_value(&mut text, v);
                json::write_str_content(out, std::str::from_utf8(&text).unwrap_or_default(), true);
            }
        }
    }
    out.push(b'"');
}

/// Appends a value as attribute text (protobuf attributes): strings as they are,
/// everything else as its JSON text (`9.9`, `true`); lists `||`-joined when `join_lists`
/// (nulls and empty strings dropped), else JSON text. `false` for null, which is left out.
#[cfg(feature = "protobuf")]
pub(crate) fn write_text(out: &mut Vec<u8>, v: &Value, join_lists: bool) -> bool {
    match v {
        Value::Null => return false,
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::List(l) if join_lists => {
            let mut first = true;
            for x in l {
                if matches!(x, Value::Null) || x.as_str() == Some("") {
                    continue;
                }
                if !first {
                    out.extend_from_slice(b"||");
                }
                first = false;
                match x {
                    Value::String(s) => out.extend_from_slice(s.as_bytes()),
                    x => write_value(out, x),
                }
            }
        }
        v => write_value(out, v),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_drops_nulls_and_empties() {
        let l = vec![
            Value::from("red"),
            Value::from(""),
            Value::Null,
            Value::from("blue"),
            Value::Int(3),
            Value::Float(2.0),
            Value::Bool(true),
        ];
        let mut out = Vec::new();
        write_joined(&mut out, &l);
        assert_eq!(out, br#""red||blue||3||2.0||true""#);
    }
}
