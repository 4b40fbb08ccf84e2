//! Property values and the ordered [`Properties`] map.
//!
//! Values are typed (string, integer, float, bool, time, list, object) so that each backend can
//! render them the way its wire format wants: GrowingIO joins lists with `||`, protobuf turns
//! everything into text, Retail splits text from numbers.
//!
//! # JSON form
//!
//! A value is written as the matching JSON value. Floats always carry a fraction or exponent
//! (`2.0`), integers never do, so the type survives a round trip. A time is the one-key object
//! `{"$time": <ms since the Unix epoch>}`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
pub use crate::text::Text;

/// The key that marks a time in the JSON form: `{"$time": 1700000000500}`.
pub const TIME_KEY: &str = "$time";

/// One typed property value.
///
/// # Examples
///
/// ```
/// use trackflow::Value;
/// assert_eq!(Value::from("book"), Value::String("book".into()));
/// assert_eq!(Value::from(2), Value::Int(2));
/// assert_eq!(Value::from(vec!["a", "b"]).to_string(), r#"["a","b"]"#);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum Value {
    /// No value. Used by `user_unset` for the keys to remove.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A finite 64-bit float (non-finite floats are rejected at the call).
    Float(f64),
    /// UTF-8 text (short text is stored inline, without allocation).
    String(Text),
    /// An instant, in milliseconds since the Unix epoch.
    Time(i64),
    /// An ordered list.
    List(Vec<Value>),
    /// A nested object.
    Object(Properties),
}

/// What a value costs beyond its inline slot, plus that slot: the measure of queue byte
/// budgets and of the per-event size limit (nested values included).
const SLOT: usize = std::mem::size_of::<Value>();

impl Value {
    /// Approximate bytes this value occupies, nested values included.
    // Inlined for scalars, which most values are: validation weighs every property of every
    // event, and a call per scalar cost more than the sum. The nested case is out of line,
    // so this is not recursive and can be inlined.
    #[inline]
    pub(crate) fn weight(&self) -> usize {
        match self {
            Value::String(t) => SLOT + t.len(),
            Value::List(_) | Value::Object(_) => self.nested_weight(),
            _ => SLOT,
        }
    }

    #[inline(never)]
    fn nested_weight(&self) -> usize {
        match self {
            Value::List(v) => SLOT + v.iter().map(Value::weight).sum::<usize>(),
            Value::Object(p) => SLOT + p.weight(),
            _ => self.weight(),
        }
    }

    /// Whether this is an integer or a float (bools are not numbers).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::Value;
    /// assert!(Value::Int(1).is_number() && Value::Float(1.5).is_number());
    /// assert!(!Value::Bool(true).is_number());
    /// ```
    pub fn is_number(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Float(_))
    }

    /// The text of a string value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Value::from("x").as_str(), Some("x"));
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The name of this value's type, as used in error messages.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Value::from(true).type_name(), "bool");
    /// ```
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Time(_) => "time",
            Value::List(_) => "list",
            Value::Object(_) => "object",
        }
    }

    /// Converts a `serde_json::Value`, objects in the order of their `Map` (sorted by key
    /// unless the program turns on serde_json's `preserve_order` feature; trackflow does not).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::Value;
    /// let v = Value::from_json(serde_json::json!({"$time": 5}));
    /// assert_eq!(v, Value::Time(5));
    /// ```
    pub fn from_json(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s.into()),
            serde_json::Value::Array(a) => Value::List(a.into_iter().map(Value::from_json).collect()),
            serde_json::Value::Object(m) => {
                if m.len() == 1
                    && let Some(t) = m.get(TIME_KEY).and_then(|t| t.as_i64())
                {
                    return Value::Time(t);
                }
                Value::Object(m.into_iter().map(|(k, v)| (k, Value::from_json(v))).collect())
            }
        }
    }
}

impl fmt::Display for Value {
    /// Writes the JSON form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(v as i64) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, isize);

impl From<u64> for Value {
    /// Integers beyond `i64::MAX` become floats.
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or(Value::Float(v as f64), Value::Int)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::from(v as u64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(v as f64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.into())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v.into())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::String(v.into())
    }
}
impl From<Text> for Value {
    fn from(v: Text) -> Self {
        Value::String(v)
    }
}
impl From<SystemTime> for Value {
    fn from(v: SystemTime) -> Self {
        let ms = match v.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        };
        Value::Time(ms)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Value> + Clone> From<&[T]> for Value {
    fn from(v: &[T]) -> Self {
        Value::List(v.iter().cloned().map(Into::into).collect())
    }
}
impl<T: Into<Value>, const N: usize> From<[T; N]> for Value {
    fn from(v: [T; N]) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}
impl From<Properties> for Value {
    fn from(v: Properties) -> Self {
        Value::Object(v)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(v) => s.serialize_str(v),
            Value::Time(t) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(TIME_KEY, t)?;
                m.end()
            }
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(p) => p.serialize(s),
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property value")
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Value, A::Error> {
        let props = PropertiesVisitor.visit_map(map)?;
        if props.len() == 1
            && props.0[0].0 == TIME_KEY
            && let Value::Int(t) = props.0[0].1
        {
            return Ok(Value::Time(t));
        }
        Ok(Value::Object(props))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// A property name: a `&'static str` literal costs no allocation, a `String` is kept as is.
pub type Key = Cow<'static, str>;

/// An ordered map of property names to [`Value`]s.
///
/// Insertion order is kept (backends write keys in the order given); setting a key that is
/// already present replaces its value in place. Keys are `&'static str` literals (no
/// allocation) or `String`s.
///
/// # Examples
///
/// ```
/// use trackflow::Properties;
///
/// let p = Properties::new()
///     .with("product", "book")
///     .with("price", 9.9)
///     .with("tags", vec!["red", "blue"]);
/// assert_eq!(p.len(), 3);
/// assert_eq!(p.get("product").and_then(|v| v.as_str()), Some("book"));
/// assert_eq!(serde_json::to_string(&p)?,
///            r#"{"product":"book","price":9.9,"tags":["red","blue"]}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Properties(Vec<(Key, Value)>);

impl Properties {
    /// Appends without looking for the key: for decoders of maps that were written from a
    /// `Properties` (keys already unique).
    pub(crate) fn push_decoded(&mut self, key: Key, value: Value) {
        self.0.push((key, value));
    }

    /// Approximate bytes of keys and values, nested values included.
    pub(crate) fn weight(&self) -> usize {
        self.0
            .iter()
            .map(|(k, v)| std::mem::size_of::<Key>() + k.len() + v.weight())
            .sum()
    }

    /// An empty map (no allocation).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::Properties::new().is_empty());
    /// ```
    pub const fn new() -> Self {
        Properties(Vec::new())
    }

    /// An empty map with room for `n` properties.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = trackflow::Properties::with_capacity(4);
    /// assert!(p.is_empty());
    /// ```
    pub fn with_capacity(n: usize) -> Self {
        Properties(Vec::with_capacity(n))
    }

    /// Builder form of [`insert`](Self::insert).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = trackflow::Properties::new().with("a", 1).with("a", 2);
    /// assert_eq!(p.get("a"), Some(&trackflow::Value::Int(2)));
    /// ```
    pub fn with(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets `key` to `value`, replacing (in place) any earlier value; returns the old one.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = trackflow::Properties::new();
    /// assert!(p.insert("a", 1).is_none());
    /// assert_eq!(p.insert("a", 2), Some(trackflow::Value::Int(1)));
    /// ```
    pub fn insert(&mut self, key: impl Into<Key>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// The value of `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::Properties::new().get("x").is_none());
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes `key`, keeping the order of the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = trackflow::Properties::new().with("a", 1).with("b", 2);
    /// assert_eq!(p.remove("a"), Some(trackflow::Value::Int(1)));
    /// assert_eq!(p.keys().collect::<Vec<_>>(), ["b"]);
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// How many properties there are.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Properties::new().with("a", 1).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::Properties::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The properties, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = trackflow::Properties::new().with("a", 1);
    /// for (k, v) in p.iter() {
    ///     assert_eq!((k, v), ("a", &trackflow::Value::Int(1)));
    /// }
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The keys, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = trackflow::Properties::new().with("b", 1).with("a", 2);
    /// assert_eq!(p.keys().collect::<Vec<_>>(), ["b", "a"]);
    /// ```
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    /// Sets every property of `other` on `self` (later wins, order of first appearance kept).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut base = trackflow::Properties::new().with("app", "shop").with("v", 1);
    /// base.merge(trackflow::Properties::new().with("v", 2));
    /// assert_eq!(base.get("v"), Some(&trackflow::Value::Int(2)));
    /// ```
    pub fn merge(&mut self, other: Properties) {
        if self.0.is_empty() {
            *self = other;
            return;
        }
        for (k, v) in other.0 {
            self.insert(k, v);
        }
    }

    /// Converts any `Serialize` value that serializes as a map or struct, keeping field order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `value` is not a map or struct, or cannot be serialized.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Order { sku: &'static str, qty: u32, price: f64 }
    ///
    /// let p = trackflow::Properties::from_serialize(&Order { sku: "book", qty: 2, price: 0.1 + 0.2 })?;
    /// assert_eq!(p.keys().collect::<Vec<_>>(), ["sku", "qty", "price"]);
    /// assert_eq!(p.get("price"), Some(&trackflow::Value::Float(0.1 + 0.2)));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Properties> {
        // Through JSON text, not serde_json::Value, whose map would sort the keys.
        let text = serde_json::to_string(value)
            .map_err(|e| Error::invalid("properties", format!("could not be serialized: {e}")))?;
        let parsed: Value = crate::codec::exact::from_str(&text)
            .map_err(|e| Error::invalid("properties", format!("could not be read back: {e}")))?;
        match parsed {
            Value::Object(p) => Ok(p),
            other => Err(Error::invalid(
                "properties",
                format!("must serialize as a map or struct, not {}", other.type_name()),
            )),
        }
    }
}

impl<K: Into<Key>, V: Into<Value>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut p = Properties::new();
        for (k, v) in iter {
            p.insert(k, v);
        }
        p
    }
}

impl<K: Into<Key>, V: Into<Value>> From<Vec<(K, V)>> for Properties {
    fn from(v: Vec<(K, V)>) -> Self {
        v.into_iter().collect()
    }
}

impl<K: Into<Key>, V: Into<Value>, const N: usize> From<[(K, V); N]> for Properties {
    fn from(v: [(K, V); N]) -> Self {
        v.into_iter().collect()
    }
}

impl<K: Into<Key>, V: Into<Value>, S> From<HashMap<K, V, S>> for Properties {
    /// A `HashMap` has no order; the properties follow its iteration order.
    fn from(m: HashMap<K, V, S>) -> Self {
        m.into_iter().collect()
    }
}

impl<K: Into<Key>, V: Into<Value>> From<BTreeMap<K, V>> for Properties {
    fn from(m: BTreeMap<K, V>) -> Self {
        m.into_iter().collect()
    }
}

impl From<()> for Properties {
    fn from(_: ()) -> Self {
        Properties::new()
    }
}

impl<'a> IntoIterator for &'a Properties {
    type Item = &'a (Key, Value);
    type IntoIter = std::slice::Iter<'a, (Key, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for Properties {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

struct PropertiesVisitor;

impl<'de> Visitor<'de> for PropertiesVisitor {
    type Value = Properties;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of properties")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Properties, A::Error> {
        let mut p = Properties::with_capacity(map.size_hint().unwrap_or(0).min(256));
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            if p.get(&k).is_some() {
                return Err(de::Error::custom(format_args!("duplicate property `{k}`")));
            }
            p.0.push((Cow::Owned(k), v));
        }
        Ok(p)
    }
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Properties, D::Error> {
        d.deserialize_map(PropertiesVisitor)
    }
}

/// Any value, nested a few levels: for the property tests of every codec.
#[cfg(test)]
pub(crate) fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-1e300f64..1e300).prop_map(Value::Float),
        ".{0,30}".prop_map(Value::from),
        any::<i64>().prop_map(Value::Time),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::vec(("[a-z]{1,6}", inner), 0..6).prop_map(|kv| {
                let mut p = Properties::new();
                for (k, v) in kv {
                    p.insert(k, v);
                }
                Value::Object(p)
            }),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_types_and_order() {
        let p = Properties::new()
            .with("s", "x")
            .with("i", 2)
            .with("f", 2.0)
            .with("b", true)
            .with("t", Value::Time(1700000000500))
            .with("l", vec![1, 2])
            .with("o", Properties::new().with("z", 1).with("a", 2))
            .with("n", Value::Null);
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(
            text,
            r#"{"s":"x","i":2,"f":2.0,"b":true,"t":{"$time":1700000000500},"l":[1,2],"o":{"z":1,"a":2},"n":null}"#
        );
        let back: Properties = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn duplicate_keys_are_rejected_on_read() {
        let err = serde_json::from_str::<Properties>(r#"{"a":1,"a":2}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate property `a`"), "{err}");
    }

    #[test]
    fn from_serialize_rejects_non_maps() {
        assert!(Properties::from_serialize(&5).is_err());
        assert!(Properties::from_serialize(&[1, 2]).is_err());
    }
}
