//! One event as one disk-queue record: a compact binary form that a producer writes in a few
//! hundred instructions (the neutral JSON form costs ~7,500) and that round-trips exactly.
//!
//! ```text
//!  flags u8        bit 0: the caller gave the time; bit 1: binary (else neutral JSON follows)
//!  kind  u8        0 track (str name) │ 1 profile (u8 op) │ 2 item (str type, str id)
//!  time  i64 LE
//!  id    u8        0 none │ 1 uuid (u128 LE) │ 2 text (str)
//!  who   u8        bitmask of anonymous, user, key, session; each present one a str
//!  props varint n, then n × (str key, value)
//!  value u8 tag    0 null │ 1 false │ 2 true │ 3 int i64 │ 4 float f64 │ 5 str │ 6 time i64
//!                  │ 7 list (varint n, values) │ 8 object (varint n, (str, value)*)
//!  inter u8        0 none │ 1 the interaction block as JSON (str): rare, so kept simple
//!  str   = varint length, UTF-8 bytes
//! ```
//!
//! Decoding takes any bytes: what is not a record is an error, never a panic.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::clock::InsertId;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, Identity, ProfileOp};
use crate::text::Text;
use crate::value::{Key, Properties, Value};

/// Keys kept by `Reader::known_key`: at most this many places in a map, this long, and this
/// many bytes in all for the life of the process, so that no stream of distinct keys can
/// grow it.
const MAX_KEPT_SLOTS: usize = 64;
const MAX_KEPT_KEY: usize = 64;
const MAX_KEPT_KEY_BYTES: usize = 256 << 10;

static KEPT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static KEYS: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

const TIME_GIVEN: u8 = 1;
const BINARY: u8 = 2;
/// Deeper nesting is refused on decode (the tracker's own limit is far lower).
const MAX_DEPTH: usize = 64;

/// The record of one event, appended to `out`.
pub(crate) fn encode_event(e: &Event, out: &mut Vec<u8>) {
    out.push(BINARY | u8::from(e.time_given));
    match &e.kind {
        EventKind::Track { name } => {
            out.push(0);
            put_str(out, name);
        }
        EventKind::Profile(op) => {
            out.push(1);
            out.push(ProfileOp::ALL.iter().position(|o| o == op).unwrap_or(0) as u8);
        }
        EventKind::Item { item_type, item_id } => {
            out.push(2);
            put_str(out, item_type);
            put_str(out, item_id);
        }
    }
    out.extend_from_slice(&e.time.to_le_bytes());
    put_id(out, &e.insert_id);
    let who = &e.identity;
    let ids = [&who.anonymous_id, &who.user_id, &who.user_key, &who.session_id];
    out.push(
        ids.iter()
            .enumerate()
            .fold(0, |m, (i, v)| m | (u8::from(v.is_some()) << i)),
    );
    for v in ids.into_iter().flatten() {
        put_str(out, v);
    }
    put_props(out, &e.properties);
    match &e.interaction {
        None => out.push(0),
        Some(i) => {
            out.push(1);
            put_str(out, &serde_json::to_string(i).unwrap_or_default());
        }
    }
}

fn put_id(out: &mut Vec<u8>, id: &InsertId) {
    if let Some(v) = id.as_uuid() {
        out.push(1);
        out.extend_from_slice(&v.to_le_bytes());
    } else if id.is_empty() {
        out.push(0);
    } else {
        out.push(2);
        put_str(out, &id.to_string());
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_props(out: &mut Vec<u8>, p: &Properties) {
    put_varint(out, p.len() as u64);
    for (k, v) in p.iter() {
        put_str(out, k);
        put_value(out, v);
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => out.push(1 + u8::from(*b)),
        Value::Int(i) => {
            out.push(3);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(4);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::String(t) => {
            out.push(5);
            put_varint(out, t.len() as u64);
            out.extend_from_slice(t.as_bytes());
        }
        Value::Time(t) => {
            out.push(6);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::List(l) => {
            out.push(7);
            put_varint(out, l.len() as u64);
            for x in l {
                put_value(out, x);
            }
        }
        Value::Object(p) => {
            out.push(8);
            put_props(out, p);
        }
    }
}

/// The event of one record (binary, or the neutral JSON of older records).
pub(crate) fn decode_event(b: &[u8]) -> Result<Event> {
    let (&flags, rest) = b.split_first().ok_or_else(|| bad("an empty record"))?;
    let mut e = if flags & BINARY == 0 {
        let text = std::str::from_utf8(rest).map_err(|_| bad("not an event: not UTF-8"))?;
        crate::codec::exact::from_str::<Event>(text).map_err(|err| bad(&format!("not an event: {err}")))?
    } else {
        let mut r = Reader(rest);
        let e = r.event()?;
        if !r.0.is_empty() {
            return Err(bad("bytes after the event"));
        }
        e
    };
    e.time_given = flags & TIME_GIVEN != 0;
    Ok(e)
}

fn bad(what: &str) -> Error {
    Error::Config(format!("a disk queue record: {what}"))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n).ok_or_else(|| bad("cut short"))?;
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        let (&b, rest) = self.0.split_first().ok_or_else(|| bad("cut short"))?;
        self.0 = rest;
        Ok(b)
    }

    fn i64(&mut self) -> Result<i64> {
        let (b, rest) = self.0.split_first_chunk::<8>().ok_or_else(|| bad("cut short"))?;
        self.0 = rest;
        Ok(i64::from_le_bytes(*b))
    }

    fn varint(&mut self) -> Result<usize> {
        // Nearly every length and count fits in one byte.
        let n = match self.0.split_first() {
            Some((&b, rest)) if b < 0x80 => {
                self.0 = rest;
                u64::from(b)
            }
            _ => self.long_varint()?,
        };
        // A length or count never exceeds what is left of the record (each element takes a
        // byte at least), which also bounds what a decoder allocates.
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.0.len())
            .ok_or_else(|| bad("a length past the record"))
    }

    #[cold]
    fn long_varint(&mut self) -> Result<u64> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(bad("a varint too long"))
    }

    fn str(&mut self) -> Result<&'a str> {
        let n = self.varint()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| bad("text that is not UTF-8"))
    }

    fn opt(&mut self, mask: u8, bit: u8) -> Result<Option<Arc<str>>> {
        Ok(if mask & (1 << bit) != 0 {
            Some(self.str()?.into())
        } else {
            None
        })
    }

    fn event(&mut self) -> Result<Event> {
        let kind = match self.u8()? {
            0 => EventKind::Track {
                name: Text::from(self.str()?),
            },
            1 => EventKind::Profile(
                *ProfileOp::ALL
                    .get(self.u8()? as usize)
                    .ok_or_else(|| bad("an unknown profile op"))?,
            ),
            2 => EventKind::Item {
                item_type: self.str()?.to_owned(),
                item_id: self.str()?.to_owned(),
            },
            _ => return Err(bad("an unknown kind")),
        };
        let time = self.i64()?;
        let insert_id = match self.u8()? {
            0 => InsertId::default(),
            1 => {
                let (b, rest) = self.0.split_first_chunk::<16>().ok_or_else(|| bad("cut short"))?;
                self.0 = rest;
                InsertId::from_uuid(u128::from_le_bytes(*b))
            }
            2 => InsertId::from(self.str()?),
            _ => return Err(bad("an unknown id form")),
        };
        let mask = self.u8()?;
        let identity = Identity {
            anonymous_id: self.opt(mask, 0)?,
            user_id: self.opt(mask, 1)?,
            user_key: self.opt(mask, 2)?,
            session_id: self.opt(mask, 3)?,
        };
        let properties = self.props(0)?;
        let interaction = match self.u8()? {
            0 => None,
            1 => Some(
                crate::codec::exact::from_str(self.str()?)
                    .map_err(|e| bad(&format!("the interaction: {e}")))?,
            ),
            _ => return Err(bad("an unknown interaction form")),
        };
        let mut e = Event::new(kind);
        e.time = time;
        e.insert_id = insert_id;
        e.identity = identity;
        e.properties = properties;
        e.interaction = interaction;
        Ok(e)
    }

    fn props(&mut self, depth: usize) -> Result<Properties> {
        let n = self.varint()?;
        let mut p = Properties::with_capacity(n.min(1024));
        if depth == 0 {
            // One borrow of the kept keys for the whole map: values below the top level do
            // not use them.
            KEYS.with(|cell| -> Result<()> {
                let mut keys = cell.borrow_mut();
                for slot in 0..n {
                    let k = self.known_key(&mut keys, slot)?;
                    let v = self.value(depth + 1)?;
                    p.push_decoded(k, v);
                }
                Ok(())
            })?;
        } else {
            for _ in 0..n {
                let k = Key::Owned(self.str()?.to_owned());
                let v = self.value(depth + 1)?;
                p.push_decoded(k, v);
            }
        }
        Ok(p)
    }

    /// A top-level property key, borrowed from the keys seen before at the same place in
    /// the map where it is one of them (events of a kind repeat their keys in order), else
    /// made once and kept for the life of the process (within `MAX_KEPT_KEY_BYTES`).
    fn known_key(&mut self, keys: &mut Vec<&'static str>, slot: usize) -> Result<Key> {
        let n = self.varint()?;
        let bytes = self.take(n)?;
        if let Some(k) = keys.get(slot).filter(|k| k.as_bytes() == bytes) {
            return Ok(Key::Borrowed(*k));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("a key that is not UTF-8"))?;
        let fits = slot < MAX_KEPT_SLOTS
            && bytes.len() <= MAX_KEPT_KEY
            && KEPT.fetch_add(bytes.len(), Ordering::Relaxed) + bytes.len() <= MAX_KEPT_KEY_BYTES;
        if !fits {
            return Ok(Key::Owned(text.to_owned()));
        }
        let kept: &'static str = Box::leak(text.into());
        if keys.len() <= slot {
            keys.resize(slot + 1, "");
        }
        keys[slot] = kept;
        Ok(Key::Borrowed(kept))
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(bad("values nested too deep"));
        }
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::Int(self.i64()?),
            4 => Value::Float(f64::from_bits(self.i64()? as u64)),
            5 => Value::String(Text::from(self.str()?)),
            6 => Value::Time(self.i64()?),
            7 => {
                let n = self.varint()?;
                let mut l = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    l.push(self.value(depth + 1)?);
                }
                Value::List(l)
            }
            8 => Value::Object(self.props(depth)?),
            _ => return Err(bad("an unknown value tag")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Interaction, InteractionItem};

    fn round_trip(e: &Event) {
        let mut b = Vec::new();
        encode_event(e, &mut b);
        assert_eq!(&decode_event(&b).unwrap(), e);
    }

    #[test]
    fn every_kind_and_field_round_trips() {
        let mut e = Event::track("buy")
            .with_identity(
                Identity::user("u")
                    .with_session("s")
                    .with_anonymous("a")
                    .with_user_key("k"),
            )
            .with_properties(
                Properties::new()
                    .with("price", 9.9)
                    .with("n", -3)
                    .with("ok", true)
                    .with("none", Value::Null)
                    .with("at", Value::Time(1_700_000_000_000))
                    .with("tags", vec!["a", "é中"])
                    .with("obj", Properties::new().with("x", 1)),
            )
            .with_insert_id("custom-id")
            .with_interaction(Interaction {
                items: vec![InteractionItem::new("sku").quantity(2).price(1.5)],
                ..Interaction::default()
            });
        e.time = 1_700_000_000_500;
        for given in [false, true] {
            e.time_given = given;
            round_trip(&e);
        }
        let mut p = Event::profile(ProfileOp::UniqAppend).with_identity(Identity::user("u"));
        p.insert_id = crate::clock::new_insert_id();
        round_trip(&p);
        round_trip(&Event::item("book", "b1"));
    }

    #[test]
    fn lengths_of_two_and_three_varint_bytes_round_trip() {
        let long = "x".repeat(20_000);
        let mut props = Properties::new().with("long", long.as_str());
        for i in 0..200 {
            props = props.with(format!("k{i}"), i);
        }
        let e = Event::track("n".repeat(300)).with_properties(props);
        round_trip(&e);
        let mut b = Vec::new();
        encode_event(&e, &mut b);
        // Cut anywhere: an error, never a panic or a wrong event.
        for cut in [1, 2, 10, 11, 300, b.len() / 2, b.len() - 1] {
            assert!(decode_event(&b[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn json_records_of_older_queues_still_read() {
        let e = Event::track("a").with_identity(Identity::user("u")).with_time(5);
        let mut b = vec![TIME_GIVEN];
        b.extend(serde_json::to_vec(&e).unwrap());
        assert_eq!(decode_event(&b).unwrap(), e);
    }

    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        crate::value::any_value()
    }

    proptest::proptest! {
        #[test]
        fn any_event_round_trips(name in ".{0,20}", t in proptest::prelude::any::<i64>(), user in proptest::option::of(".{0,10}"), v in value()) {
            let mut e = Event::track(name).with_properties(Properties::new().with("v", v));
            e.time = t;
            if let Some(u) = user {
                e.identity = Identity::user(u);
            }
            round_trip(&e);
        }

        #[test]
        fn any_bytes_decode_without_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = decode_event(&b);
            let mut binary = vec![BINARY];
            binary.extend(&b);
            let _ = decode_event(&binary);
        }
    }
}
