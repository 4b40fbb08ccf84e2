//! HOW the bytes look. Codecs turn wire structs into bytes and know nothing of consumers or
//! backends.

pub mod json;
