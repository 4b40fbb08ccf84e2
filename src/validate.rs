//! The rules every event must pass at the call, whatever the backend.
//!
//! Backends add their own limits on top (see [`Backend::check`](crate::Backend::check)); the
//! Debug consumer adds the strict rules of [`Limits::strict`].

use crate::error::{Error, Result};
use crate::event::{Event, EventKind, ProfileOp};
use crate::value::{Properties, Value};

/// Default for [`Limits::max_name_len`].
pub const DEFAULT_MAX_NAME_LEN: usize = 128;
/// Default for [`Limits::max_id_len`].
pub const DEFAULT_MAX_ID_LEN: usize = 256;
/// Default for [`Limits::max_string_len`].
pub const DEFAULT_MAX_STRING_LEN: usize = 8192;
/// Default for [`Limits::max_properties`].
pub const DEFAULT_MAX_PROPERTIES: usize = 300;
/// Default for [`Limits::max_list_len`].
pub const DEFAULT_MAX_LIST_LEN: usize = 1000;
/// Default for [`Limits::max_depth`].
pub const DEFAULT_MAX_DEPTH: usize = 5;
/// Default for [`Limits::max_event_bytes`]: 1 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

/// Size and shape limits checked at the call.
///
/// | limit | default |
/// |---|---|
/// | `max_name_len` (event names, property keys, bytes) | 128 |
/// | `max_id_len` (identity fields, item type and id, insert id) | 256 |
/// | `max_string_len` (string values, bytes) | 8192 |
/// | `max_properties` (per event) | 300 |
/// | `max_list_len` | 1000 |
/// | `max_depth` (nested lists and objects) | 5 |
/// | `max_event_bytes` (the whole event, nested values included, see [`Event::weight`]) | 1 MiB |
/// | `strict` | `false` |
///
/// # Examples
///
/// ```
/// let mut limits = trackflow::validate::Limits::default();
/// limits.max_properties = 10;
/// assert_eq!(limits.max_name_len, trackflow::validate::DEFAULT_MAX_NAME_LEN);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest event name or property key, in bytes.
    pub max_name_len: usize,
    /// Longest identity field, item type, item id or insert id, in bytes.
    pub max_id_len: usize,
    /// Longest string value, in bytes.
    pub max_string_len: usize,
    /// Most properties on one event.
    pub max_properties: usize,
    /// Most elements in one list value.
    pub max_list_len: usize,
    /// Deepest nesting of lists and objects.
    pub max_depth: usize,
    /// Largest event, nested values included, as [`Event::weight`] measures it: what one
    /// event may take of a queue's byte budget.
    pub max_event_bytes: usize,
    /// Strict mode (the Debug consumer): property keys must be identifiers
    /// (`[A-Za-z_$#][A-Za-z0-9_$]*`), no `null` values, integers within ±2^53.
    pub strict: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_name_len: DEFAULT_MAX_NAME_LEN,
            max_id_len: DEFAULT_MAX_ID_LEN,
            max_string_len: DEFAULT_MAX_STRING_LEN,
            max_properties: DEFAULT_MAX_PROPERTIES,
            max_list_len: DEFAULT_MAX_LIST_LEN,
            max_depth: DEFAULT_MAX_DEPTH,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            strict: false,
        }
    }
}

impl Limits {
    /// The default limits with `strict` on.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::validate::Limits::strict().strict);
    /// ```
    pub fn strict() -> Self {
        Limits {
            strict: true,
            ..Limits::default()
        }
    }

    /// Checks `event` against these limits and the rules of its kind.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the first field that breaks a rule.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, EventKind, Identity, validate::Limits, Value};
    /// let mut e = Event::new(EventKind::Track { name: "buy".into() });
    /// e.identity = Identity::user("u1");
    /// e.properties.insert("price", f64::NAN);
    /// let err = Limits::default().check(&e).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid input: properties.price: must be a finite number, not NaN");
    /// ```
    pub fn check(&self, event: &Event) -> Result<()> {
        self.check_weighed(event).map(drop)
    }

    /// As [`check`](Self::check), returning the event's [`Event::weight`], which the check
    /// computes anyway (the queue's byte budget needs it too).
    pub(crate) fn check_weighed(&self, event: &Event) -> Result<usize> {
        match &event.kind {
            EventKind::Track { name } => {
                // Its bytes: `&str` through `Deref` would check its UTF-8 again, for nothing.
                self.check_name("event name", name.as_bytes())?;
                self.check_identity(event)?;
            }
            EventKind::Profile(op) => {
                self.check_identity(event)?;
                check_profile_values(*op, &event.properties)?;
            }
            EventKind::Item { item_type, item_id } => {
                self.check_id("item_type", item_type)?;
                self.check_id("item_id", item_id)?;
            }
        }
        if event.time < 0 {
            return Err(Error::invalid(
                "time",
                format!("must not be before 1970-01-01 ({} ms)", event.time),
            ));
        }
        if event.insert_id.len() > self.max_id_len {
            return Err(Error::invalid(
                "insert_id",
                format!(
                    "longer than {} bytes ({})",
                    self.max_id_len,
                    event.insert_id.len()
                ),
            ));
        }
        // A user_unset's keys carry null by construction: strict mode's rule against nulls
        // is about values, and does not apply to them.
        let unset = matches!(event.kind, EventKind::Profile(ProfileOp::Unset));
        // One walk checks the properties and weighs them: a second would cost as much.
        let weight = event.weight_besides_properties() + self.check_props(&event.properties, unset)?;
        debug_assert_eq!(weight, event.weight());
        if weight > self.max_event_bytes {
            return Err(Error::invalid(
                "event",
                format!(
                    "larger than {} bytes in all ({weight}, nested values included)",
                    self.max_event_bytes
                ),
            ));
        }
        if let Some(i) = &event.interaction {
            for (n, it) in i.items.iter().enumerate() {
                self.check_id(&format!("interaction.items[{n}].id"), &it.id)?;
                if let Some(p) = it.price {
                    check_finite(|| format!("interaction.items[{n}].price"), p)?;
                }
            }
            if let Some(v) = i.value {
                check_finite(|| "interaction.value".to_owned(), v)?;
            }
        }
        Ok(weight)
    }

    /// Checks a set of properties (e.g. super properties) on their own.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the first property that breaks a rule.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = trackflow::Properties::new().with("", 1);
    /// let err = trackflow::validate::Limits::default().check_properties(&p).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid input: properties: keys must not be empty");
    /// ```
    pub fn check_properties(&self, props: &Properties) -> Result<()> {
        self.check_props(props, false).map(drop)
    }

    /// Checks `props` and returns their weight (as [`Properties::weight`] counts it).
    fn check_props(&self, props: &Properties, nulls_ok: bool) -> Result<usize> {
        if props.len() > self.max_properties {
            return Err(Error::invalid(
                "properties",
                format!("at most {} properties, got {}", self.max_properties, props.len()),
            ));
        }
        let mut weight = 0;
        for (k, v) in props {
            self.check_key(k)?;
            // The path is only built on the slow path: formatting it for every property
            // would cost more than the rest of the call.
            let unset_marker = nulls_ok && matches!(v, Value::Null);
            let w = if unset_marker {
                Some(v.weight())
            } else {
                self.value_ok(v, 1)
            };
            let Some(w) = w else {
                let mut path = format!("properties.{k}");
                self.check_value(&mut path, v, 1)?;
                // check_value finds what value_ok did; this only keeps a slip between the
                // two from passing a value or panicking.
                return Err(Error::invalid(path, "not a value this library can send"));
            };
            weight += KEY_SLOT + k.len() + w;
        }
        Ok(weight)
    }

    fn check_key(&self, k: &str) -> Result<()> {
        if k.is_empty() {
            return Err(Error::invalid("properties", "keys must not be empty"));
        }
        if k.len() > self.max_name_len {
            return Err(Error::invalid(
                format!("properties.{}…", truncate(k, 32)),
                format!("key longer than {} bytes", self.max_name_len),
            ));
        }
        if has_control(k.as_bytes()) {
            return Err(control_error(&format!("properties.{}", k.escape_debug())));
        }
        if self.strict && !is_identifier(k) {
            return Err(Error::invalid(
                format!("properties.{k}"),
                "strict mode: key must match [A-Za-z_$#][A-Za-z0-9_$]*",
            ));
        }
        Ok(())
    }

    /// The rules of `check_value`, without building an error: the value's weight (as
    /// [`Value::weight`] counts it) if it keeps them.
    // Inlined for scalars, which most values are: a call per value, with the registers the
    // nested case saves, cost more than the checks themselves.
    #[inline]
    fn value_ok(&self, v: &Value, depth: usize) -> Option<usize> {
        let ok = match v {
            Value::Float(f) => f.is_finite(),
            Value::String(s) => s.len() <= self.max_string_len,
            Value::Null => !self.strict,
            Value::Int(i) => !self.strict || i.unsigned_abs() <= (1u64 << 53),
            Value::Bool(_) | Value::Time(_) => true,
            Value::List(_) | Value::Object(_) => return self.nested_ok(v, depth),
        };
        ok.then(|| v.weight())
    }

    #[inline(never)]
    fn nested_ok(&self, v: &Value, depth: usize) -> Option<usize> {
        if depth > self.max_depth {
            return None;
        }
        let inner = match v {
            Value::List(l) if l.len() <= self.max_list_len => l
                .iter()
                .try_fold(0, |sum, x| Some(sum + self.value_ok(x, depth + 1)?))?,
            Value::Object(p) => p.into_iter().try_fold(0, |sum, (k, x)| {
                (!has_control(k.as_bytes())).then_some(())?;
                Some(sum + KEY_SLOT + k.len() + self.value_ok(x, depth + 1)?)
            })?,
            Value::List(_) => return None,
            _ => return self.value_ok(v, depth),
        };
        Some(VALUE_SLOT + inner)
    }

    fn check_value(&self, path: &mut String, v: &Value, depth: usize) -> Result<()> {
        match v {
            Value::Float(f) => check_finite(|| path.clone(), *f),
            Value::String(s) if s.len() > self.max_string_len => Err(Error::invalid(
                path.clone(),
                format!("string longer than {} bytes ({})", self.max_string_len, s.len()),
            )),
            Value::Null if self.strict => Err(Error::invalid(path.clone(), "strict mode: null value")),
            Value::Int(i) if self.strict && i.unsigned_abs() > (1u64 << 53) => Err(Error::invalid(
                path.clone(),
                "strict mode: integer beyond ±2^53 loses precision in JSON readers",
            )),
            Value::List(_) | Value::Object(_) if depth > self.max_depth => Err(Error::invalid(
                path.clone(),
                format!("nested deeper than {} levels", self.max_depth),
            )),
            Value::List(l) => {
                if l.len() > self.max_list_len {
                    return Err(Error::invalid(
                        path.clone(),
                        format!("list longer than {} elements ({})", self.max_list_len, l.len()),
                    ));
                }
                let base = path.len();
                for (i, x) in l.iter().enumerate() {
                    path.push_str(&format!("[{i}]"));
                    self.check_value(path, x, depth + 1)?;
                    path.truncate(base);
                }
                Ok(())
            }
            Value::Object(p) => {
                let base = path.len();
                for (k, x) in p {
                    if has_control(k.as_bytes()) {
                        return Err(control_error(&format!("{path}.{}", k.escape_debug())));
                    }
                    path.push('.');
                    path.push_str(k);
                    self.check_value(path, x, depth + 1)?;
                    path.truncate(base);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn check_name(&self, field: &str, name: &[u8]) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        if has_control(name) {
            return Err(control_error(field));
        }
        if name.len() > self.max_name_len {
            return Err(Error::invalid(
                field,
                format!("longer than {} bytes ({})", self.max_name_len, name.len()),
            ));
        }
        Ok(())
    }

    fn check_id(&self, field: &str, id: &str) -> Result<()> {
        if id.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        self.check_id_opt(field, Some(id))
    }

    fn check_id_opt(&self, field: &str, id: Option<&str>) -> Result<()> {
        match id {
            Some(id) if id.len() > self.max_id_len => Err(Error::invalid(
                field,
                format!("longer than {} bytes ({})", self.max_id_len, id.len()),
            )),
            _ => Ok(()),
        }
    }

    fn check_identity(&self, event: &Event) -> Result<()> {
        // Which ids an event needs is each backend's rule (Talent sends none, Personalize
        // takes a session alone); here only what holds everywhere: no empty id, none too long.
        let id = &event.identity;
        for (field, v) in [
            ("identity.anonymous_id", &id.anonymous_id),
            ("identity.user_id", &id.user_id),
            ("identity.user_key", &id.user_key),
            ("identity.session_id", &id.session_id),
        ] {
            if v.as_deref() == Some("") {
                return Err(Error::invalid(field, "must not be empty when given"));
            }
            self.check_id_opt(field, v.as_deref())?;
        }
        Ok(())
    }
}

/// Whether `s` holds a control character (NUL, a newline, DEL…): no backend takes one in a
/// name or key, and some cut the rest of a request at a NUL.
fn has_control(b: &[u8]) -> bool {
    // This runs for every key of every event, so it looks at a word at a time: from four
    // bytes on, overlapping reads cover every byte (a byte read twice cannot make a clean
    // word dirty).
    let (Some(head), Some(tail)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) else {
        return b.iter().any(|&c| c < 0x20 || c == 0x7f);
    };
    if b.len() <= 8 {
        let w = u64::from(u32::from_le_bytes(*head)) | u64::from(u32::from_le_bytes(*tail)) << 32;
        return word_has_control(w);
    }
    let (words, rest) = b.as_chunks::<8>();
    let last = b.last_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w));
    words.iter().any(|w| word_has_control(u64::from_le_bytes(*w)))
        || (!rest.is_empty() && word_has_control(last))
}

/// Whether any byte of `w` is below 0x20 or is 0x7f: the classic "has a byte less than n"
/// test, once for the low bytes and once for DEL (xor makes it zero); bytes of 0x80 and up
/// are excluded by `!w`.
fn word_has_control(w: u64) -> bool {
    const LOW: u64 = 0x2020_2020_2020_2020;
    const DEL: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let d = w ^ DEL;
    (w.wrapping_sub(LOW) & !w & HIGH) | (d.wrapping_sub(ONES) & !d & HIGH) != 0
}

/// What a key and a value weigh besides their text (see [`Event::weight`]).
const KEY_SLOT: usize = std::mem::size_of::<crate::value::Key>();
const VALUE_SLOT: usize = std::mem::size_of::<Value>();

fn control_error(field: &str) -> Error {
    Error::invalid(
        field,
        "must not contain control characters (NUL, newlines, tabs, DEL)",
    )
}

fn check_profile_values(op: ProfileOp, props: &Properties) -> Result<()> {
    let method = op.method();
    // An empty set or set_once still says who the user is (GrowingIO sends such login-user
    // messages); the other operations would do nothing.
    let needs_props = !matches!(op, ProfileOp::Delete | ProfileOp::Set | ProfileOp::SetOnce);
    if props.is_empty() && needs_props {
        return Err(Error::invalid(
            "properties",
            format!("{method} needs at least one property"),
        ));
    }
    for (k, v) in props.iter() {
        let rule = match op {
            ProfileOp::Increment | ProfileOp::Max | ProfileOp::Min if !v.is_number() => {
                format!("{method} takes numbers only, not {}", v.type_name())
            }
            ProfileOp::Append | ProfileOp::UniqAppend if !matches!(v, Value::List(_)) => {
                format!("{method} takes lists only, not {}", v.type_name())
            }
            ProfileOp::Delete => format!("{method} takes no properties"),
            _ => continue,
        };
        return Err(Error::invalid(format!("properties.{k}"), rule));
    }
    Ok(())
}

fn check_finite(field: impl FnOnce() -> String, f: f64) -> Result<()> {
    if f.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(
            field(),
            format!("must be a finite number, not {f}"),
        ))
    }
}

fn is_identifier(k: &str) -> bool {
    let mut chars = k.chars();
    // A leading `#` marks preset keys (Gravity's `#ip`), which backends check by name.
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' || c == '#')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Identity;

    fn ev(kind: EventKind, props: Properties) -> Event {
        let mut e = Event::new(kind);
        e.identity = Identity::user("u1");
        e.properties = props;
        e
    }

    fn err(e: &Event, limits: &Limits) -> String {
        limits.check(e).unwrap_err().to_string()
    }

    #[test]
    fn control_characters_are_found_anywhere_and_nothing_else_is() {
        for bad in [
            "\0",
            "a\0",
            "\x1fkey",
            "keykeyke\x7f",
            "0123456789abcdef\n",
            "é\u{7f}",
        ] {
            assert!(has_control(bad.as_bytes()), "{bad:?}");
        }
        for good in [
            "",
            "key",
            "0123456789abcdef",
            "é中文 ~!",
            "\u{80}\u{ff}\u{a0}",
            "~~~~~~~~~",
        ] {
            assert!(!has_control(good.as_bytes()), "{good:?}");
        }
        // Every byte value at every place of every length the word reads split differently.
        for n in 0..=127u8 {
            for len in 1..=20 {
                for at in 0..len {
                    let mut s = vec![b'k'; len];
                    s[at] = n;
                    let s = String::from_utf8(s).unwrap();
                    assert_eq!(
                        has_control(s.as_bytes()),
                        n < 0x20 || n == 0x7f,
                        "{n} at {at} in {s:?}"
                    );
                }
            }
        }
        for c in ['\u{80}', 'é', '\u{7ff}', '中', '\u{10ffff}'] {
            assert!(!has_control(format!("key{c}{c}key").as_bytes()), "{c:?}");
        }
    }

    #[test]
    fn each_rule_names_field_and_rule() {
        let l = Limits::default();
        let track = |name: &str, p| ev(EventKind::Track { name: name.into() }, p);
        assert_eq!(
            err(&track("", Properties::new()), &l),
            "invalid input: event name: must not be empty"
        );
        assert_eq!(
            err(&track(&"x".repeat(129), Properties::new()), &l),
            "invalid input: event name: longer than 128 bytes (129)"
        );
        // Which ids are needed is each backend's rule; only empty ones are refused here.
        let mut anon = track("a", Properties::new());
        anon.identity = Identity::default();
        assert!(l.check(&anon).is_ok());
        anon.identity = Identity::default().with_session("");
        assert_eq!(
            err(&anon, &l),
            "invalid input: identity.session_id: must not be empty when given"
        );
        anon.identity = Identity::user("u1");
        anon.time = -1;
        assert_eq!(
            err(&anon, &l),
            "invalid input: time: must not be before 1970-01-01 (-1 ms)"
        );
        assert_eq!(
            err(
                &track(
                    "a",
                    Properties::new().with("tags", vec![Value::Float(1.0), Value::Float(f64::INFINITY)])
                ),
                &l
            ),
            "invalid input: properties.tags[1]: must be a finite number, not inf"
        );
        assert_eq!(
            err(&track("a", Properties::new().with("s", "y".repeat(8193))), &l),
            "invalid input: properties.s: string longer than 8192 bytes (8193)"
        );
        let many: Properties = (0..301).map(|i| (format!("k{i}"), i)).collect();
        assert_eq!(
            err(&track("a", many), &l),
            "invalid input: properties: at most 300 properties, got 301"
        );
        let inc = ev(
            EventKind::Profile(ProfileOp::Increment),
            Properties::new().with("n", true),
        );
        assert_eq!(
            err(&inc, &l),
            "invalid input: properties.n: user_increment takes numbers only, not bool"
        );
        let max = ev(
            EventKind::Profile(ProfileOp::Max),
            Properties::new().with("n", "3"),
        );
        assert_eq!(
            err(&max, &l),
            "invalid input: properties.n: user_max takes numbers only, not string"
        );
        let app = ev(
            EventKind::Profile(ProfileOp::Append),
            Properties::new().with("n", 1),
        );
        assert_eq!(
            err(&app, &l),
            "invalid input: properties.n: user_append takes lists only, not integer"
        );
        let empty = ev(EventKind::Profile(ProfileOp::Increment), Properties::new());
        assert_eq!(
            err(&empty, &l),
            "invalid input: properties: user_increment needs at least one property"
        );
        assert!(l
            .check(&ev(EventKind::Profile(ProfileOp::Set), Properties::new()))
            .is_ok());
        let item = ev(
            EventKind::Item {
                item_type: "book".into(),
                item_id: String::new(),
            },
            Properties::new(),
        );
        assert_eq!(err(&item, &l), "invalid input: item_id: must not be empty");
    }

    #[test]
    fn strict_mode_adds_rules() {
        let e = ev(
            EventKind::Track { name: "a".into() },
            Properties::new().with("bad key", 1),
        );
        assert!(Limits::default().check(&e).is_ok());
        assert!(err(&e, &Limits::strict()).contains("strict mode: key must match"));
        let e = ev(
            EventKind::Track { name: "a".into() },
            Properties::new().with("n", Value::Null),
        );
        assert!(err(&e, &Limits::strict()).contains("properties.n: strict mode: null value"));
    }

    #[test]
    fn depth_is_bounded() {
        let mut v = Value::Int(1);
        for _ in 0..6 {
            v = Value::List(vec![v]);
        }
        let e = ev(
            EventKind::Track { name: "a".into() },
            Properties::new().with("deep", v),
        );
        assert!(err(&e, &Limits::default()).contains("nested deeper than 5 levels"));
    }

    #[test]
    fn validation_weighs_as_event_weight_does() {
        let inner = Properties::new()
            .with("k", vec![1, 2])
            .with("s", "text")
            .with("o", Value::Object(Properties::new().with("deeper", "x")));
        let props = Properties::new()
            .with("o", Value::Object(inner))
            .with("l", vec!["a", "bb"])
            .with("n", Value::Null)
            .with("f", 1.5)
            .with("t", Value::Time(1));
        let unset = Properties::new().with("gone", Value::Null);
        for e in [
            ev(EventKind::Track { name: "a".into() }, props),
            ev(EventKind::Profile(ProfileOp::Unset), unset),
            ev(EventKind::Track { name: "empty".into() }, Properties::new()),
        ] {
            assert_eq!(Limits::default().check_weighed(&e).unwrap(), e.weight());
        }
    }
}
