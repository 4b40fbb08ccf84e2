//! Gzip (RFC 1952) bodies, through flate2's pure-Rust backend.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::error::{Error, Result};

/// Compresses `input` as one gzip member, replacing the contents of `out` (which callers reuse
/// across batches). The header's mtime is 0, so equal input gives equal bytes.
///
/// # Errors
///
/// [`Error::Io`] if compression fails (it does not with an in-memory buffer).
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// let mut out = Vec::new();
/// trackflow::codec::gzip::compress_into(b"hello hello hello", &mut out)?;
/// let mut text = String::new();
/// flate2::read::GzDecoder::new(&out[..]).read_to_string(&mut text)?;
/// assert_eq!(text, "hello hello hello");
/// # Ok::<(), trackflow::Error>(())
/// ```
pub fn compress_into(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    // Level 6, flate2's default: most of level 9's ratio at a fraction of its time.
    let mut enc = GzEncoder::new(std::mem::take(out), Compression::default());
    enc.write_all(input).map_err(Error::Io)?;
    *out = enc.finish().map_err(Error::Io)?;
    Ok(())
}
