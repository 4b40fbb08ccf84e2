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

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use super::cursor::{self, Cursor};
use super::files::create_new_private;
use super::queue::{seg_name, stored, Pos};
use super::reader::Reader;

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
fn new_nonce(old: u64) -> u64 {
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

/// What a shutdown handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requeued {
    /// The front holds the records (and what remained of an earlier front).
    Written,
    /// Nothing to write; the cursor records the reading position.
    Nothing,
    /// `commit` said no: the queue is as it was.
    Refused,
}

impl Reader {
    /// Puts `records` (framed, see [`frame`]) in front of everything unread, in one file
    /// written in one sequence (written through to the disk first when `sync`), and records
    /// that reading starts there. `commit` runs just before the file takes its place; false
    /// leaves the queue as it was. Call it once, when no append can come any more.
    pub(crate) fn requeue_front(
        &mut self,
        records: &[u8],
        sync: bool,
        commit: impl FnOnce() -> bool,
    ) -> io::Result<Requeued> {
        self.q.seal_for_good()?;
        let (rest, resume) = match self.front {
            Some(f) if self.seq == 0 => (self.front_rest()?, f.resume),
            _ => (Vec::new(), self.position()),
        };
        let old_nonce = self.front.map_or(0, |f| f.nonce);
        if records.is_empty() && rest.is_empty() {
            if self.seq == 0 {
                self.leave_front();
            }
            self.ack()?;
            return Ok(Requeued::Nothing);
        }
        let front = Front {
            nonce: new_nonce(old_nonce),
            resume,
        };
        let dir = self.q.dir().to_path_buf();
        let tmp = dir.join("front.tmp");
        let _ = fs::remove_file(&tmp);
        let written = write_file(&tmp, &front, records, &rest, sync);
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        if !commit() {
            let _ = fs::remove_file(&tmp);
            return Ok(Requeued::Refused);
        }
        let path = dir.join(seg_name(0));
        let old_len = fs::metadata(&path).map_or(0, |m| stored(&m));
        fs::rename(&tmp, &path)?;
        if sync {
            File::open(&dir)?.sync_all()?;
        }
        let new_len = fs::metadata(&path).map_or(0, |m| stored(&m));
        self.q.recount(new_len, old_len);
        self.front = Some(front);
        self.file = None;
        self.seq = 0;
        self.off = FRONT_HEADER;
        cursor::write(
            &mut self.cursor,
            &dir,
            Cursor {
                seq: 0,
                off: FRONT_HEADER,
                front: front.nonce,
            },
        )?;
        // What was read before the front was written is in it or settled.
        self.remove_between(1, resume.seq);
        Ok(Requeued::Written)
    }

    /// What the reader has not read of the front segment it is in.
    fn front_rest(&mut self) -> io::Result<Vec<u8>> {
        let mut f = File::open(self.q.dir().join(seg_name(0)))?;
        f.seek(SeekFrom::Start(self.off))?;
        let mut rest = Vec::new();
        f.read_to_end(&mut rest)?;
        Ok(rest)
    }
}

fn write_file(path: &Path, front: &Front, records: &[u8], rest: &[u8], sync: bool) -> io::Result<()> {
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

/// Appends `payload` to `out` as one record (length, checksum, payload).
pub(crate) fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&super::queue::record_crc(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
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
