//! Protocol Buffers through prost. Message types are the backend's; this only encodes.

use crate::error::{Error, Result};

/// The `Content-Type` of protobuf bodies.
pub const CONTENT_TYPE: &str = "application/protobuf";

/// Encodes `msg`, replacing the contents of `out` (which callers reuse across batches).
///
/// # Errors
///
/// [`Error::InvalidInput`] if the buffer cannot grow to the message's size.
///
/// # Examples
///
/// ```
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Ping { #[prost(string, tag = "1")] id: String }
///
/// let mut out = Vec::new();
/// trackflow::codec::protobuf::encode_into(&Ping { id: "a".into() }, &mut out)?;
/// assert_eq!(out, [0x0a, 0x01, b'a']);
/// # Ok::<(), trackflow::Error>(())
/// ```
pub fn encode_into<M: prost::Message>(msg: &M, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    msg.encode(out)
        .map_err(|e| Error::invalid("body", format!("cannot be protobuf-encoded: {e}")))
}
