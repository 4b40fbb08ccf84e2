//! Handing back at shutdown: what was taken from the queue and not acknowledged becomes the
//! new front (see `front.rs` for the file and why the rename is the commit).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};

use super::cursor::{self, Cursor};
use super::format::{seg_name, stored};
use super::front::{new_nonce, write_file, Front, FRONT_HEADER};
use super::reader::Reader;

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
    /// Puts `records` (framed, see [`frame`](super::format::frame)) in front of everything unread, in one file
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
