//! HOW the bytes look. Codecs turn wire structs into bytes and know nothing of consumers or
//! backends.
//!
//! | codec | feature | used by |
//! |---|---|---|
//! | [`json`] | always | GrowingIO (default), Gravity, File |
//! | [`exact`] (reading) | always | JSON-lines events, spool files, the journal |
//! | [`snappy`] (+ XOR) | `snappy` | GrowingIO |
//! | [`protobuf`] | `protobuf` | GrowingIO |
//! | [`gzip`] | `gzip` | Gravity |

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
