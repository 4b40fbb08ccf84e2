//! Where "now" comes from, and unique insert ids.
//!
//! Every timestamp trackflow writes (event times, GrowingIO's `stm`, file rotation) comes from
//! one [`Clock`], so tests and golden comparisons can freeze it.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in ms since the Unix epoch.
///
/// # Examples
///
/// ```
/// use trackflow::{clock::Clock, clock::FixedClock};
/// assert_eq!(FixedClock(1700000000500).now_ms(), 1700000000500);
/// ```
pub trait Clock: Send + Sync + Debug {
    /// Now, in ms since the Unix epoch.
    fn now_ms(&self) -> i64;
}

impl<T: Clock + ?Sized> Clock for Arc<T> {
    fn now_ms(&self) -> i64 {
        (**self).now_ms()
    }
}

/// The system's wall clock (the default).
///
/// # Examples
///
/// ```
/// use trackflow::{clock::Clock, clock::SystemClock};
/// assert!(SystemClock.now_ms() > 1_600_000_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock that never moves.
///
/// # Examples
///
/// ```
/// use trackflow::{clock::Clock, clock::FixedClock};
/// let c = FixedClock(42);
/// assert_eq!(c.now_ms(), c.now_ms());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

/// A clock moved by hand (for tests of time-based behaviour such as file rotation).
///
/// # Examples
///
/// ```
/// use trackflow::{clock::Clock, clock::ManualClock};
/// let c = ManualClock::new(1000);
/// c.advance_ms(500);
/// assert_eq!(c.now_ms(), 1500);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading `ms`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{clock::Clock, clock::ManualClock};
    /// assert_eq!(ManualClock::new(5).now_ms(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(ms: i64) -> Self {
        ManualClock(AtomicI64::new(ms))
    }
    /// Moves the clock forward by `ms`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{clock::Clock, clock::ManualClock};
    /// let c = ManualClock::new(5);
    /// c.advance_ms(10);
    /// assert_eq!(c.now_ms(), 15);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::Relaxed);
    }
    /// Sets the clock to `ms`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{clock::Clock, clock::ManualClock};
    /// let c = ManualClock::new(5);
    /// c.set_ms(1);
    /// assert_eq!(c.now_ms(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A shared clock, as held by trackers and backends.
pub type SharedClock = Arc<dyn Clock>;

pub(crate) fn system() -> SharedClock {
    Arc::new(SystemClock)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // RandomState is seeded from the OS once per thread; mixing in the thread's address keeps
    // two threads created in the same instant apart.
    let mut h = RandomState::new().build_hasher();
    h.write_usize(&h as *const _ as usize);
    h.finish() | 1
}

/// A fast per-thread pseudo-random number (xorshift64*); not for cryptography.
pub(crate) fn random_u64() -> u64 {
    RNG.with(|c| {
        let mut x = c.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        c.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// A random (version 4 layout) UUID, the default insert id.
///
/// # Examples
///
/// ```
/// let id = trackflow::clock::new_insert_id();
/// assert_eq!(id.to_string().len(), 36);
/// assert_ne!(id, trackflow::clock::new_insert_id());
/// ```
pub fn new_insert_id() -> InsertId {
    let hi = (random_u64() & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (random_u64() & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    InsertId(IdRepr::Uuid(((hi as u128) << 64) | lo as u128))
}

/// The unique id of an event, for dedupe and as the event id where a backend has one.
///
/// Generated ids are kept as 16 bytes and written out as UUID text only when encoded, so
/// stamping an event costs no allocation; ids given by the caller are kept as text.
///
/// # Examples
///
/// ```
/// use trackflow::clock::InsertId;
/// let id = InsertId::from("order-42");
/// assert_eq!(id, "order-42");
/// assert_eq!(serde_json::to_string(&id)?, r#""order-42""#);
/// let uuid: InsertId = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f".into();
/// assert_eq!(uuid.to_string(), "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct InsertId(IdRepr);

// Every constructor stores canonical UUID text as `Uuid`, so equal text means equal repr and
// the derived PartialEq and Hash agree with comparing text.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
enum IdRepr {
    #[default]
    Empty,
    Uuid(u128),
    Custom(Box<str>),
}

impl InsertId {
    /// Whether no id is set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::clock::InsertId::default().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self.0, IdRepr::Empty)
    }

    /// Length of the text form, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::clock::new_insert_id().len(), 36);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        match &self.0 {
            IdRepr::Empty => 0,
            IdRepr::Uuid(_) => 36,
            IdRepr::Custom(s) => s.len(),
        }
    }

    /// The 16 bytes of a generated (UUID) id, if it is one: the compact form the disk queue
    /// stores.
    pub(crate) fn as_uuid(&self) -> Option<u128> {
        match self.0 {
            IdRepr::Uuid(v) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn from_uuid(v: u128) -> Self {
        InsertId(IdRepr::Uuid(v))
    }

    fn from_text(s: &str) -> Self {
        if s.is_empty() {
            return InsertId(IdRepr::Empty);
        }
        match parse_uuid(s) {
            Some(v) => InsertId(IdRepr::Uuid(v)),
            None => InsertId(IdRepr::Custom(s.into())),
        }
    }
}

fn format_uuid(v: u128) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut n = 0;
    for (i, slot) in out.iter_mut().enumerate() {
        if !matches!(i, 8 | 13 | 18 | 23) {
            *slot = HEX[((v >> (124 - 4 * n)) & 0xf) as usize];
            n += 1;
        }
    }
    out
}

/// Canonical (lowercase, dashed) UUID text only.
fn parse_uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | d as u128;
    }
    Some(v)
}

impl std::fmt::Display for InsertId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            IdRepr::Empty => Ok(()),
            IdRepr::Uuid(v) => {
                let text = format_uuid(*v);
                // Only ASCII hex digits and dashes were written.
                f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?)
            }
            IdRepr::Custom(s) => f.write_str(s),
        }
    }
}

impl std::fmt::Debug for InsertId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl From<&str> for InsertId {
    fn from(s: &str) -> Self {
        InsertId::from_text(s)
    }
}

impl From<String> for InsertId {
    fn from(s: String) -> Self {
        InsertId::from_text(&s)
    }
}

impl PartialEq<str> for InsertId {
    fn eq(&self, other: &str) -> bool {
        match &self.0 {
            IdRepr::Empty => other.is_empty(),
            IdRepr::Uuid(v) => format_uuid(*v) == other.as_bytes(),
            IdRepr::Custom(s) => &**s == other,
        }
    }
}

impl PartialEq<&str> for InsertId {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl serde::Serialize for InsertId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for InsertId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(InsertId::from_text(&s))
    }
}

/// `YYYY-mm-dd HH:MM:SS.mmm` of a ms timestamp shifted by `offset_minutes` from UTC (the form
/// Python's SDKs give datetimes).
#[cfg(any(feature = "gravity", test))]
pub(crate) fn format_datetime_ms(ms: i64, offset_minutes: i32) -> String {
    let ms = ms + offset_minutes as i64 * 60_000;
    let (y, mo, d, h) = civil_utc(ms);
    let in_hour = ms.rem_euclid(3_600_000);
    format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{:02}:{:02}.{:03}",
        in_hour / 60_000,
        (in_hour / 1000) % 60,
        in_hour % 1000
    )
}

/// RFC 3339 in UTC with milliseconds when there are any: `2023-11-14T22:13:20.500Z`,
/// `2023-11-14T22:13:20Z` (the proto3 JSON form of a Timestamp).
#[cfg(any(feature = "retail", feature = "talent", test))]
pub(crate) fn format_rfc3339_ms(ms: i64) -> String {
    let (y, mo, d, h) = civil_utc(ms);
    let in_hour = ms.rem_euclid(3_600_000);
    let (mi, s, frac) = (in_hour / 60_000, (in_hour / 1000) % 60, in_hour % 1000);
    if frac == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:03}Z")
    }
}

/// Civil date and hour (UTC) of a ms timestamp: `(year, month, day, hour)`.
#[cfg_attr(
    not(any(
        feature = "file",
        feature = "gravity",
        feature = "personalize",
        feature = "retail",
        feature = "talent",
        test
    )),
    allow(
        dead_code,
        reason = "used by the file, gravity, personalize, retail and talent code"
    )
)]
pub(crate) fn civil_utc(ms: i64) -> (i64, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let hour = (secs.rem_euclid(86_400) / 3600) as u32;
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d, hour)
}

/// Milliseconds since the epoch of an RFC 3339 UTC time as AWS writes expirations
/// (`2026-11-29T23:41:07Z`, optionally with a fraction or a numeric offset); `None` for
/// anything else.
#[cfg(any(feature = "personalize", test))]
pub(crate) fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r| num_in(s, r);
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        ms = format!("{:0<3}", &frac[..n.min(3)]).parse().ok()?;
        rest = &frac[n..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (num_in(rest, 1..3)? * 60 + num_in(rest, 4..6)?)
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if mo > 2 { mo - 3 } else { mo + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

#[cfg(any(feature = "personalize", test))]
fn num_in(s: &str, r: std::ops::Range<usize>) -> Option<i64> {
    let t = s.get(r)?;
    t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_what_it_formats_and_what_aws_writes() {
        for ms in [
            0,
            1_700_000_000_000,
            1_700_000_000_500,
            951_782_400_000,
            4_102_444_799_999,
        ] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)), Some(ms), "{ms}");
        }
        assert_eq!(
            parse_rfc3339_ms("2023-11-14T22:13:20.5Z"),
            Some(1_700_000_000_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2023-11-14T22:13:20.123456Z"),
            Some(1_700_000_000_123)
        );
        for bad in [
            "",
            "2023-11-14",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20+0100",
            "２０２３-11-14T22:13:20Z",
            "2023-11-14T22:13:20.Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(format_rfc3339_ms(1_700_000_000_500), "2023-11-14T22:13:20.500Z");
        assert_eq!(format_rfc3339_ms(1_700_000_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            format_datetime_ms(1_700_000_000_123, 0),
            "2023-11-14 22:13:20.123"
        );
        assert_eq!(
            format_datetime_ms(1_699_920_000_000, 0),
            "2023-11-14 00:00:00.000"
        );
        assert_eq!(
            format_datetime_ms(1_700_000_000_123, 480),
            "2023-11-15 06:13:20.123"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_utc(0), (1970, 1, 1, 0));
        assert_eq!(civil_utc(1_700_000_000_500), (2023, 11, 14, 22));
        assert_eq!(civil_utc(951_782_400_000), (2000, 2, 29, 0));
        assert_eq!(civil_utc(-1), (1969, 12, 31, 23));
    }

    #[test]
    fn insert_ids_are_uuid_shaped_and_distinct() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| new_insert_id().to_string()).collect();
        assert_eq!(ids.len(), 10_000);
        let id = ids.iter().next().unwrap();
        assert_eq!(InsertId::from(id.as_str()).to_string(), *id);
        assert_eq!(InsertId::from(id.as_str()), *id.as_str());
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }
}
