//! The front segment: what a shutdown hands back to the queue, read before everything else.
//!
//! ```text
//!  0000000000000000.seg   "TFFRONT1" │ nonce: u64 │ resume seq: u64 │ resume off: u64 │ crc32: u32
//!                         then records, as in any segment
//!
//!  reading order:  [ front: handed back at shutdown ] ─► resume (seq, off) ─► later segments
//! ```
//!
//! At a shutdown the events taken from the queue and not yet acknowledged (in flight, in
//! memory) are older than anything still unread on disk, so they go in front of it: one
//! file, written in one sequence under a temporary name and renamed into place, with where
//! reading resumes after it in its own header. What the reader had not read of an earlier
//! front follows the new records in the same file. The rename is the commit: a crash before
//! it leaves the queue as it was, and a crash after it leaves the new front, which is read
//! first (its nonce differs from any cursor's). Nothing is lost either way; a crash can only
//! make the next tracker read again what was already acknowledged (at least once).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use super::files::create_new_private;
use super::format::{seg_name, Pos};

const MAGIC: &[u8; 8] = b"TFFRONT1";
/// Bytes before the first record of the front segment.
pub(crate) const FRONT_HEADER: u64 = 36;

/// A front segment's header: which one it is, and where reading goes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Front {
    pub(crate) nonce: u64,
    pub(crate) resume: Pos,
}

impl Front {
    fn encode(&self) -> [u8; FRONT_HEADER as usize] {
        let mut b = [0u8; FRONT_HEADER as usize];
        b[..8].copy_from_slice(MAGIC);
        b[8..16].copy_from_slice(&self.nonce.to_le_bytes());
        b[16..24].copy_from_slice(&self.resume.seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.resume.off.to_le_bytes());
        let crc = crc32fast::hash(&b[..32]);
        b[32..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Front> {
        let word = |i: usize| {
            b.get(i..i + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_le_bytes)
        };
        if b.get(..8)? != MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(b.get(32..36)?.try_into().ok()?);
        (crc32fast::hash(&b[..32]) == crc).then_some(Front {
            nonce: word(8)?,
            resume: Pos {
                seq: word(16)?,
                off: word(24)?,
            },
        })
    }

    /// The header of the front segment in `dir`, when there is an intact one.
    pub(crate) fn read(dir: &Path) -> Option<Front> {
        let mut b = [0u8; FRONT_HEADER as usize];
        File::open(dir.join(seg_name(0))).ok()?.read_exact(&mut b).ok()?;
        Front::decode(&b)
    }
}

/// A nonce no cursor holds: time, process and a counter, never 0 and never `old`.
pub(super) fn new_nonce(old: u64) -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(1);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = t ^ (u64::from(std::process::id()) << 32) ^ N.fetch_add(1, Ordering::Relaxed).rotate_left(17);
    if n == 0 || n == old {
        n.wrapping_add(1).max(1)
    } else {
        n
    }
}
pub(super) fn write_file(
    path: &Path,
    front: &Front,
    records: &[u8],
    rest: &[u8],
    sync: bool,
) -> io::Result<()> {
    let mut f = create_new_private(path)?;
    let mut bytes = Vec::with_capacity(FRONT_HEADER as usize + records.len() + rest.len());
    bytes.extend_from_slice(&front.encode());
    bytes.extend_from_slice(records);
    bytes.extend_from_slice(rest);
    f.write_all(&bytes)?;
    if sync {
        f.sync_data()?;
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_damage_is_refused() {
        let f = Front {
            nonce: 42,
            resume: Pos { seq: 3, off: 8 },
        };
        let b = f.encode();
        assert_eq!(Front::decode(&b), Some(f));
        let mut bad = b;
        bad[20] ^= 1;
        assert_eq!(Front::decode(&bad), None);
        assert_eq!(Front::decode(&b[..10]), None);
    }

    #[test]
    fn nonces_differ_from_the_old_one() {
        for old in [0, 1, u64::MAX] {
            let n = new_nonce(old);
            assert!(n != 0 && n != old);
        }
    }
}
