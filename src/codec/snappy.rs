//! Snappy, raw block format (not the framed stream format), and the byte-wise XOR "crypt"
//! GrowingIO pairs with it.

use crate::error::{Error, Result};

/// Compresses `input` as one raw snappy block, replacing the contents of `out` (which callers
/// reuse across batches). `encoder` keeps its hash table between calls.
///
/// # Errors
///
/// [`Error::InvalidInput`] if `input` is larger than snappy can encode (about 4 GiB).
///
/// # Examples
///
/// ```
/// use trackflow::codec::snappy;
/// let mut enc = snap::raw::Encoder::new();
/// let mut out = Vec::new();
/// snappy::compress_into(&mut enc, b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &mut out)?;
/// assert!(out.len() < 32);
/// assert_eq!(snap::raw::Decoder::new().decompress_vec(&out).unwrap(), b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
/// # Ok::<(), trackflow::Error>(())
/// ```
pub fn compress_into(encoder: &mut snap::raw::Encoder, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    out.resize(snap::raw::max_compress_len(input.len()), 0);
    let n = encoder
        .compress(input, out)
        .map_err(|e| Error::invalid("body", format!("cannot be snappy-compressed: {e}")))?;
    out.truncate(n);
    Ok(())
}

/// XORs every byte with `key` (GrowingIO's `X-Crypt-Codec: 1`, keyed with `stm & 0xff`).
/// Applying it twice gives the input back.
///
/// # Examples
///
/// ```
/// let mut b = *b"abc";
/// trackflow::codec::snappy::xor_in_place(&mut b, 244);
/// trackflow::codec::snappy::xor_in_place(&mut b, 244);
/// assert_eq!(&b, b"abc");
/// ```
pub fn xor_in_place(buf: &mut [u8], key: u8) {
    for b in buf {
        *b ^= key;
    }
}
