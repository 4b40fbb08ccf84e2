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
