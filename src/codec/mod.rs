//! HOW the bytes look. Codecs turn wire structs into bytes and know nothing of consumers or
//! backends.
//!
//! | codec | feature | used by |
//! |---|---|---|
//! | [`json`] | always | GrowingIO (default), Gravity, File |
//! | [`exact`] (reading) | always | JSON-lines events, spool files, the journal |
//! | [`snappy`] (+ XOR) | `snappy` | GrowingIO |
//! | [`protobuf`] | `protobuf` | GrowingIO |
//! | [`gzip`] | `gzip` | Gravity, Webhook |

pub mod exact;
#[cfg(feature = "gzip")]
#[cfg_attr(docsrs, doc(cfg(feature = "gzip")))]
pub mod gzip;
pub mod json;
#[cfg(feature = "protobuf")]
#[cfg_attr(docsrs, doc(cfg(feature = "protobuf")))]
pub mod protobuf;
#[cfg(feature = "snappy")]
#[cfg_attr(docsrs, doc(cfg(feature = "snappy")))]
pub mod snappy;

/// Lowercase hex of `bytes` (signatures, digests).
///
/// # Examples
///
/// ```
/// assert_eq!(trackflow::codec::hex(&[0xab, 0x01]), "ab01");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// The bytes of hex text (either case); `None` for an odd length or a non-hex character.
///
/// # Examples
///
/// ```
/// assert_eq!(trackflow::codec::unhex("aB01"), Some(vec![0xab, 0x01]));
/// assert_eq!(trackflow::codec::unhex("abc"), None);
/// ```
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16);
    let b = text.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect()
}
