//! JSON in the layouts the official SDKs send: compact, compact with every non-ASCII character
//! escaped as `\uXXXX` (Python's `ensure_ascii=True`, GrowingIO), and Python's default
//! `json.dumps` layout, `", "` and `": "` separators, ASCII-escaped (Gravity).

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::error::{Error, Result};

/// The `Content-Type` of JSON bodies.
pub const CONTENT_TYPE: &str = "application/json";

/// The layout of the JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `{"a":1,"b":"é"}`
    Compact,
    /// `{"a":1,"b":"\u00e9"}`: what Python's `json.dumps(..., separators=(',', ':'))` sends.
    CompactAscii,
    /// `{"a": 1, "b": "\u00e9"}`: Python's `json.dumps` defaults.
    PythonAscii,
}

/// Serializes `value` in `style`, appending to `buf` (which callers reuse across batches).
///
/// # Errors
///
/// [`Error::InvalidInput`] if `value` cannot be serialized (e.g. a map with non-string keys).
///
/// # Examples
///
/// ```
/// let mut buf = Vec::new();
/// use trackflow::codec::json::{encode_into, Style};
/// encode_into(&serde_json::json!({"cn": "中文"}), Style::CompactAscii, &mut buf)?;
/// assert_eq!(buf, br#"{"cn":"\u4e2d\u6587"}"#);
/// buf.clear();
/// encode_into(&serde_json::json!({"a": [1, 2]}), Style::PythonAscii, &mut buf)?;
/// assert_eq!(buf, br#"{"a": [1, 2]}"#);
/// # Ok::<(), trackflow::Error>(())
/// ```
pub fn encode_into<T: Serialize + ?Sized>(value: &T, style: Style, buf: &mut Vec<u8>) -> Result<()> {
    let python = match style {
        Style::Compact => {
            return value
                .serialize(&mut serde_json::Serializer::new(&mut *buf))
                .map_err(|e| Error::invalid("body", format!("cannot be encoded as JSON: {e}")));
        }
        Style::CompactAscii => false,
        Style::PythonAscii => true,
    };
    let r = value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut *buf,
        AsciiFormatter { python },
    ));
    r.map_err(|e| Error::invalid("body", format!("cannot be encoded as JSON: {e}")))
}

/// Non-ASCII escaped, UTF-16 surrogate pairs beyond the BMP; compact (the trait's defaults)
/// or with Python's default separators.
struct AsciiFormatter {
    python: bool,
}

impl Formatter for AsciiFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        match (first, self.python) {
            (true, _) => Ok(()),
            (false, true) => w.write_all(b", "),
            (false, false) => w.write_all(b","),
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.begin_array_value(w, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(if self.python { b": " } else { b":" })
    }

    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        // Nearly all text on the wire is ASCII; `is_ascii` checks a word at a time.
        if fragment.is_ascii() {
            return w.write_all(bytes);
        }
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if ch.is_ascii() {
                continue;
            }
            w.write_all(&bytes[start..i])?;
            let mut units = [0u16; 2];
            for u in ch.encode_utf16(&mut units) {
                write!(w, "\\u{:04x}", u)?;
            }
            start = i + ch.len_utf8();
        }
        w.write_all(&bytes[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_beyond_bmp_as_surrogates() {
        let mut buf = Vec::new();
        encode_into(&("a😀é\"\n"), Style::CompactAscii, &mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf).unwrap(), r#""a\ud83d\ude00\u00e9\"\n""#);
        let back: String = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back, "a😀é\"\n");
    }

    #[test]
    fn plain_mode_keeps_utf8() {
        let mut buf = Vec::new();
        encode_into(&("é"), Style::Compact, &mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf).unwrap(), "\"é\"");
    }
}

/// Whether a byte can be copied into a JSON string as it is (ASCII mode: non-ASCII escapes).
const fn plain_table(ascii: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 256 {
        t[b] = b != b'"' as usize && b != b'\\' as usize && (!ascii || b < 0x80);
        b += 1;
    }
    t
}

static PLAIN_ASCII: [bool; 256] = plain_table(true);
static PLAIN_UTF8: [bool; 256] = plain_table(false);

/// Appends an event in its neutral JSON form (the File backend's line, the webhook's
/// element).
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error) naming `event` if it cannot be
/// written.
///
/// # Examples
///
/// ```
/// let mut out = Vec::new();
/// trackflow::codec::json::write_event(&mut out, &trackflow::Event::track("open"))?;
/// assert!(out.starts_with(b"{"));
/// # Ok::<(), trackflow::Error>(())
/// ```
pub fn write_event(out: &mut Vec<u8>, e: &crate::Event) -> crate::Result<()> {
    serde_json::to_writer(out, e)
        .map_err(|err| crate::Error::invalid("event", format!("cannot be written as JSON: {err}")))
}

/// Appends `s` as a JSON string (quotes included), escaped exactly as serde_json does, and in
/// `ascii` mode with every non-ASCII character as `\uXXXX` (UTF-16, lowercase hex), as
/// Python's `ensure_ascii` does. Runs of plain bytes are copied at once.
///
/// # Examples
///
/// ```
/// let mut out = Vec::new();
/// trackflow::codec::json::write_str(&mut out, "a\"é\n", true);
/// assert_eq!(out, br#""a\"\u00e9\n""#);
/// ```
pub fn write_str(out: &mut Vec<u8>, s: &str, ascii: bool) {
    write_quoted(out, s.as_bytes(), ascii);
}

/// [`write_str`] from bytes known to be valid UTF-8 (as a [`Text`](crate::value::Text)'s are).
///
/// Kept plain on purpose: gathering a short text into a word on the stack and storing it as
/// one runs fewer instructions but took 43% longer (a load of a word that smaller stores just
/// wrote waits for them); a `memcpy` of a few bytes is cheaper.
#[inline]
pub(crate) fn write_quoted(out: &mut Vec<u8>, bytes: &[u8], ascii: bool) {
    out.push(b'"');
    write_utf8_content(out, bytes, ascii);
    out.push(b'"');
}

/// [`write_str`] without the quotes (for text assembled from parts).
///
/// # Examples
///
/// ```
/// let mut out = Vec::new();
/// trackflow::codec::json::write_str_content(&mut out, "a\"b", false);
/// assert_eq!(out, br#"a\"b"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_str_content(out: &mut Vec<u8>, s: &str, ascii: bool) {
    write_utf8_content(out, s.as_bytes(), ascii);
}

/// [`write_str_content`] from bytes known to be valid UTF-8 (as a [`Text`](crate::value::Text)'s
/// are), without validating them again.
///
/// # Examples
///
/// ```
/// let mut out = Vec::new();
/// trackflow::codec::json::write_utf8_content(&mut out, "é".as_bytes(), true);
/// assert_eq!(out, br"\u00e9");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_utf8_content(out: &mut Vec<u8>, bytes: &[u8], ascii: bool) {
    // Most text (names, ids, keys) has nothing to escape and is short: test it a word at
    // a time and copy it whole.
    if is_plain(bytes, ascii) {
        out.extend_from_slice(bytes);
    } else {
        write_escaped(out, bytes, ascii);
    }
}

/// The slow path of [`write_utf8_content`], kept out of line so that the fast path stays
/// small.
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8], ascii: bool) {
    let table = if ascii { &PLAIN_ASCII } else { &PLAIN_UTF8 };
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight plain bytes at a time: most text has nothing to escape.
        if let Some(word) = bytes.get(i..i + 8) {
            let w = u64::from_le_bytes([
                word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
            ]);
            if !needs_escape(w, ascii) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        if table[b as usize] {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        i = escape_at(out, bytes, i);
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Whether no byte of `bytes` needs escaping, eight at a time.
fn is_plain(bytes: &[u8], ascii: bool) -> bool {
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        if needs_escape(load(w), ascii) {
            return false;
        }
    }
    let rest = words.remainder();
    rest.is_empty() || !needs_escape(short(rest) | pad(rest.len()), ascii)
}

/// Eight bytes as a little-endian word.
fn load(w: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[..8]);
    u64::from_le_bytes(b)
}

/// Up to eight bytes as a little-endian word, zero above them, from two overlapping loads
/// of fixed size (the bytes they share are equal, so OR-ing them is exact).
fn short(b: &[u8]) -> u64 {
    let n = b.len();
    let part = |at: usize, k: usize| {
        let mut w = [0u8; 8];
        w[..k].copy_from_slice(&b[at..at + k]);
        u64::from_le_bytes(w)
    };
    match n {
        0 => 0,
        1 => u64::from(b[0]),
        2..=3 => part(0, 2) | (part(n - 2, 2) << (8 * (n - 2))),
        4..=7 => part(0, 4) | (part(n - 4, 4) << (8 * (n - 4))),
        _ => load(b),
    }
}

/// Spaces (which need no escape) in the bytes of a word above the first `n`.
fn pad(n: usize) -> u64 {
    u64::from_le_bytes([b' '; 8])
        .checked_shl(8 * n as u32)
        .unwrap_or(0)
}

/// Whether any of the eight bytes of `w` is a control character, a quote, a backslash, or (in ASCII
/// mode) not ASCII. Exact: the classic "has a zero byte" test, on `w` and two XORs.
fn needs_escape(w: u64, ascii: bool) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0;
    below_space
        || has_zero(w ^ (ONES * u64::from(b'"')))
        || has_zero(w ^ (ONES * u64::from(b'\\')))
        || (ascii && w & HIGH != 0)
}

/// Escapes the character at `bytes[i]` (one that is not plain); returns where the next
/// starts.
fn escape_at(out: &mut Vec<u8>, bytes: &[u8], i: usize) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = bytes[i];
    if b >= 0x80 {
        // A non-ASCII character in ASCII mode: decode it, escape its UTF-16 units.
        let (cp, len) = decode_utf8(&bytes[i..]);
        let mut units = [0u16; 2];
        for u in char::from_u32(cp).unwrap_or('\u{fffd}').encode_utf16(&mut units) {
            out.extend_from_slice(b"\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[((*u >> shift) & 0xf) as usize]);
            }
        }
        // A sequence cut short (bytes that are not UTF-8) ends with the input.
        return (i + len).min(bytes.len());
    }
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 0xf) as usize],
        ]),
    }
    i + 1
}

/// The code point starting a valid UTF-8 sequence, and the sequence's length.
fn decode_utf8(b: &[u8]) -> (u32, usize) {
    let cont = |k: usize| b.get(k).map_or(0, |c| (*c & 0x3f) as u32);
    match b[0] {
        0xc0..=0xdf => ((((b[0] & 0x1f) as u32) << 6) | cont(1), 2),
        0xe0..=0xef => ((((b[0] & 0x0f) as u32) << 12) | (cont(1) << 6) | cont(2), 3),
        _ => (
            (((b[0] & 0x07) as u32) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
            4,
        ),
    }
}

/// Appends an integer.
///
/// # Examples
///
/// ```
/// let mut out = Vec::new();
/// trackflow::codec::json::write_i64(&mut out, -42);
/// assert_eq!(out, b"-42");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a float exactly as serde_json writes it (`9.9`, `2.0`, `1e300`; `null` for
/// non-finite values, which validation keeps out).
///
/// # Examples
///
/// ```
/// let mut out = Vec::new();
/// trackflow::codec::json::write_f64(&mut out, 2.0);
/// assert_eq!(out, b"2.0");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    // serde_json's own formatter (zmij), so the text is the same byte for byte.
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod fast_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Eight bytes at a time or one: the same text as the serde path, in both modes,
        /// wherever the characters to escape fall in a word.
        #[test]
        fn any_text_is_escaped_as_serde_json_does(
            s in "(.|[\"\\\\\u{0}-\u{1f}\u{7f}-\u{a0}]|[a-z]{8}){0,40}",
            f in any::<f64>(),
        ) {
            for (ascii, style) in [(true, Style::CompactAscii), (false, Style::Compact)] {
                let mut fast = Vec::new();
                write_str(&mut fast, &s, ascii);
                let mut slow = Vec::new();
                encode_into(&s, style, &mut slow).unwrap();
                prop_assert_eq!(&fast, &slow);
            }
            let mut fast = Vec::new();
            write_f64(&mut fast, f);
            prop_assert_eq!(fast, serde_json::to_vec(&f).unwrap());
        }
    }

    #[test]
    fn short_text_is_escaped_wherever_the_character_falls() {
        // Every length around the word sizes the fast path tests by, with a character to
        // escape at each place.
        for n in 0..=17 {
            let plain: String = (0..n).map(|i| (b'a' + i as u8) as char).collect();
            let mut cases = vec![plain.clone()];
            for at in 0..n {
                for c in ['"', '\\', '\n', '\u{7f}', 'é'] {
                    let mut t: Vec<char> = plain.chars().collect();
                    t[at] = c;
                    cases.push(t.into_iter().collect());
                }
            }
            for s in cases {
                for (ascii, style) in [(true, Style::CompactAscii), (false, Style::Compact)] {
                    let mut fast = b"[".to_vec();
                    write_str(&mut fast, &s, ascii);
                    let mut slow = b"[".to_vec();
                    encode_into(&s, style, &mut slow).unwrap();
                    assert_eq!(fast, slow, "{s:?} ascii={ascii}");
                }
            }
        }
    }

    #[test]
    fn fast_writers_match_serde_json() {
        for s in [
            "",
            "plain",
            "q\"b\\s",
            "ctl\u{1}\u{1f}\u{8}\u{c}\n\r\t",
            "中文",
            "😀 é",
            "\u{7f}",
        ] {
            for ascii in [true, false] {
                let mut fast = Vec::new();
                write_str(&mut fast, s, ascii);
                let mut slow = Vec::new();
                encode_into(
                    &s,
                    if ascii {
                        Style::CompactAscii
                    } else {
                        Style::Compact
                    },
                    &mut slow,
                )
                .unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&slow),
                    "{s:?} ascii={ascii}"
                );
            }
        }
        for v in [0i64, 7, -7, i64::MAX, i64::MIN, 1_700_000_000_500] {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
        let mut out = Vec::new();
        write_f64(&mut out, 2.0);
        assert_eq!(out, b"2.0");
    }
}
