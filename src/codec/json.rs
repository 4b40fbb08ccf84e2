//! Compact JSON, optionally with every non-ASCII character escaped as `\uXXXX` (what Python's
//! `json.dumps(ensure_ascii=True)` sends, and so what GrowingIO's SDK sends).

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::error::{Error, Result};

/// The `Content-Type` of JSON bodies.
pub const CONTENT_TYPE: &str = "application/json";

/// Serializes `value` as compact JSON, appending to `buf` (which callers reuse across batches).
///
/// # Errors
///
/// [`Error::InvalidInput`] if `value` cannot be serialized (e.g. a map with non-string keys).
///
/// # Examples
///
/// ```
/// let mut buf = Vec::new();
/// trackflow::codec::json::encode_into(&serde_json::json!({"cn": "中文"}), true, &mut buf)?;
/// assert_eq!(buf, br#"{"cn":"\u4e2d\u6587"}"#);
/// # Ok::<(), trackflow::Error>(())
/// ```
pub fn encode_into<T: Serialize + ?Sized>(value: &T, ascii: bool, buf: &mut Vec<u8>) -> Result<()> {
    let r = if ascii {
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut *buf,
            AsciiFormatter,
        ))
    } else {
        value.serialize(&mut serde_json::Serializer::new(&mut *buf))
    };
    r.map_err(|e| Error::invalid("body", format!("cannot be encoded as JSON: {e}")))
}

/// Compact output (the trait's defaults) with non-ASCII escaped, UTF-16 surrogate pairs beyond
/// the BMP.
struct AsciiFormatter;

impl Formatter for AsciiFormatter {
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
        encode_into(&("a😀é\"\n"), true, &mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf).unwrap(), r#""a\ud83d\ude00\u00e9\"\n""#);
        let back: String = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back, "a😀é\"\n");
    }

    #[test]
    fn plain_mode_keeps_utf8() {
        let mut buf = Vec::new();
        encode_into(&("é"), false, &mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf).unwrap(), "\"é\"");
    }
}
