//! The on-disk layout every part of the queue agrees on: segment names, the record frame and
//! its checksum, reading positions (see the module docs for the picture).

use std::fs;

pub(crate) const MAGIC: &[u8; 8] = b"TFQUEUE1";
pub(crate) const HEADER: u64 = MAGIC.len() as u64;
pub(crate) const RECORD_HEADER: u64 = 8;
/// A segment is closed and a new one begun past this size.
pub(crate) const SEGMENT_BYTES: u64 = 16 << 20;
/// The size of a mapped segment, made whole up front: small enough that making one is cheap
/// and that a drained one goes soon, large enough that it is made once per ~10,000 events.
pub(crate) const MAPPED_SEGMENT_BYTES: u64 = 4 << 20;
/// The next mapped segment, made ahead of need by the reader's thread; renamed into place.
pub(crate) const SPARE: &str = "spare";
/// The largest record; a length field above it can only be damage.
pub(crate) const MAX_RECORD: u64 = 64 << 20;

pub(crate) fn seg_name(seq: u64) -> String {
    format!("{seq:016}.seg")
}

pub(crate) fn parse_seg(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    // Names are zero-padded to 16 digits, and grow past that only after 10^16 segments.
    (digits.len() >= 16 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

pub(crate) fn record_crc(len: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Appends `payload` to `out` as one record (length, checksum, payload).
pub(crate) fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&record_crc(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The bytes a segment takes: a mapped segment left by a dead process keeps its preallocated
/// length, mostly a hole, so on Unix count the blocks stored instead.
pub(crate) fn stored(m: &fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        m.len().min(m.blocks().saturating_mul(512))
    }
    #[cfg(not(unix))]
    {
        m.len()
    }
}

/// Where a record ends: the reading position just past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub(crate) seq: u64,
    pub(crate) off: u64,
}
