//! The one reader of a disk queue: reads in order, acknowledges what was settled, and
//! removes the segments it has passed.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cursor::{self, Cursor};
use super::format::{parse_seg, record_crc, seg_name, stored, Pos, HEADER, MAGIC, MAX_RECORD, RECORD_HEADER};
use super::front::{Front, FRONT_HEADER};
use super::queue::{commit, DiskQueue, Mode};

/// How long after a failure to make a spare segment the reader tries again.
const SPARE_RETRY: Duration = Duration::from_secs(1);

/// What the bytes at a reading position are.
enum ReadOutcome {
    /// In the reader's payload buffer.
    Record,
    End,
    Damage,
}

/// A record as read back.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) payload: Vec<u8>,
    /// Written by an earlier process (recovered), not appended by this one.
    #[cfg_attr(not(test), allow(dead_code, reason = "the spool's replay reads both alike"))]
    pub(crate) recovered: bool,
}

/// The one reader of a [`DiskQueue`], owned by the worker.
pub(crate) struct Reader {
    pub(super) q: Arc<DiskQueue>,
    pub(super) seq: u64,
    pub(super) off: u64,
    // The front segment (0) found at open or written at shutdown, read before the rest.
    pub(super) front: Option<Front>,
    // The open segment and, once it is sealed, its final length.
    pub(super) file: Option<(BufReader<File>, Option<u64>)>,
    // The last record read.
    payload: Vec<u8>,
    // The cursor file, kept open once written.
    pub(super) cursor: Option<File>,
    // Segments below this were removed at the last acknowledgement.
    removed_below: u64,
    // When making a spare segment last failed (a full disk, say): not tried again at once.
    spare_failed: Option<Instant>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("seq", &self.seq)
            .field("off", &self.off)
            .finish_non_exhaustive()
    }
}

impl Reader {
    pub(super) fn new(q: Arc<DiskQueue>, start: Pos, front: Option<Front>) -> Reader {
        Reader {
            q,
            seq: start.seq,
            off: start.off,
            front,
            file: None,
            payload: Vec::new(),
            cursor: None,
            removed_below: 0,
            spare_failed: None,
        }
    }

    /// Whether records left by an earlier process remain to be read.
    pub(crate) fn has_recovered(&self) -> bool {
        self.seq < self.q.first_own_seq
    }

    /// Reads up to `max` records into `out`. Before reading what this process appended,
    /// `may_read` is asked under the queue's lock; `false` reads nothing. When everything
    /// appended so far has been read, `caught_up` runs under the queue's lock (so no append
    /// can slip in between) and this returns `true`. Records of an earlier process and this
    /// process's own are never returned by the same call.
    pub(crate) fn read(
        &mut self,
        max: usize,
        out: &mut Vec<Record>,
        may_read: impl FnOnce() -> bool,
        caught_up: impl FnOnce(),
    ) -> io::Result<bool> {
        self.read_each(max, may_read, caught_up, |payload, recovered| {
            out.push(Record {
                payload: payload.to_vec(),
                recovered,
            });
        })
    }

    /// As [`read`](Self::read), handing each record's payload to `each` from a buffer the
    /// reader reuses (no allocation per record).
    pub(crate) fn read_each(
        &mut self,
        max: usize,
        may_read: impl FnOnce() -> bool,
        caught_up: impl FnOnce(),
        mut each: impl FnMut(&[u8], bool),
    ) -> io::Result<bool> {
        let Some((wseq, wlen)) = self.readable_end(may_read)? else {
            return Ok(false);
        };
        let mut n = 0;
        let mut reread = false;
        while n < max && (self.seq < wseq || (self.seq == wseq && self.off < wlen)) {
            let sealed = self.seq < wseq;
            let Some(end) = self.segment_end(sealed, wlen)? else {
                // Missing or not ours: on to the next segment there is (numbers may jump).
                self.skip_to_next_existing(wseq);
                continue;
            };
            if self.off >= end {
                if !sealed {
                    break;
                }
                self.next_segment();
                continue;
            }
            match self.read_record(end)? {
                ReadOutcome::Record => {
                    reread = false;
                    let recovered = self.seq < self.q.first_own_seq;
                    if !recovered {
                        self.q.unread.fetch_sub(1, Ordering::AcqRel);
                    }
                    each(&self.payload, recovered);
                    n += 1;
                }
                // Zeros or a half-copied record may be a stale read-ahead of a mapped segment
                // written since (the reader stopped at the writer's end, its buffer holding
                // what lay beyond): read_record dropped the buffer, so look again once.
                ReadOutcome::End | ReadOutcome::Damage if !reread => reread = true,
                // The zeros after the last record of a sealed mapped segment.
                ReadOutcome::End if sealed => {
                    reread = false;
                    self.next_segment();
                }
                ReadOutcome::End => break,
                ReadOutcome::Damage => {
                    reread = false;
                    self.skip_damage(end)?;
                }
            }
        }
        if n < max && self.at_writer() {
            caught_up();
            return Ok(true);
        }
        Ok(false)
    }

    /// How far reading may go now (segment, offset): what earlier processes left first, then
    /// what this one appended, committed for reading; `None` when `may_read` says not now.
    fn readable_end(&mut self, may_read: impl FnOnce() -> bool) -> io::Result<Option<(u64, u64)>> {
        let mut w = self.q.writer.lock();
        if self.has_recovered() {
            return Ok(Some((self.q.first_own_seq, HEADER)));
        }
        if !may_read() {
            return Ok(None);
        }
        commit(&mut w)?;
        Ok(Some((w.seq, w.committed)))
    }

    /// Whether the reader has read everything appended so far.
    fn at_writer(&self) -> bool {
        let w = self.q.writer.lock();
        self.seq > w.seq || (self.seq == w.seq && self.off >= w.len)
    }

    /// Bytes before the first record of segment `seq`.
    fn header_len(seq: u64) -> u64 {
        if seq == 0 {
            FRONT_HEADER
        } else {
            HEADER
        }
    }

    /// Opens the current segment if needed and returns where its readable part ends;
    /// `None` for a segment that is missing or not ours.
    fn segment_end(&mut self, sealed: bool, wlen: u64) -> io::Result<Option<u64>> {
        if self.file.is_none() {
            let path = self.q.dir.join(seg_name(self.seq));
            let mut f = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            if !self.header_holds(&mut f) {
                log::warn!(
                    "trackflow: {} has no queue header (empty or foreign); skipped",
                    path.display()
                );
                self.q.note(|d| d.foreign_files.push(path));
                return Ok(None);
            }
            self.off = self.off.max(Self::header_len(self.seq));
            let mut r = BufReader::with_capacity(64 << 10, f);
            r.seek(SeekFrom::Start(self.off))?;
            self.file = Some((r, None));
        }
        let Some((f, len)) = self.file.as_mut() else {
            return Ok(None);
        };
        if !sealed {
            return Ok(Some(wlen));
        }
        // A sealed segment's length is final, but only from when it was sealed: a mapped
        // one is cut from its preallocated size then, so look once, after.
        let end = match *len {
            Some(l) => l,
            None => *len.insert(f.get_ref().metadata()?.len()),
        };
        Ok(Some(end))
    }

    /// Whether `f` starts as a segment of ours: the front this reader knows, or a segment.
    fn header_holds(&self, f: &mut File) -> bool {
        if self.seq == 0 {
            let mut b = [0u8; FRONT_HEADER as usize];
            return f.read_exact(&mut b).is_ok()
                && self.front.is_some()
                && Front::read(&self.q.dir) == self.front;
        }
        let mut magic = [0u8; 8];
        f.read_exact(&mut magic).is_ok() && &magic == MAGIC
    }

    /// Moves to the lowest segment after the current one that exists, or to `limit`.
    fn skip_to_next_existing(&mut self, limit: u64) {
        if self.seq == 0 {
            self.next_segment();
            return;
        }
        let next = fs::read_dir(&self.q.dir)
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| parse_seg(&e.ok()?.file_name().to_string_lossy()))
            .filter(|&s| s > self.seq && s < limit)
            .min()
            .unwrap_or(limit.max(self.seq + 1));
        self.next_segment();
        self.seq = next;
    }

    fn next_segment(&mut self) {
        self.file = None;
        if self.seq == 0 {
            self.leave_front();
            return;
        }
        self.seq += 1;
        self.off = HEADER;
    }

    /// From the front segment on to where it says reading resumes.
    pub(super) fn leave_front(&mut self) {
        self.file = None;
        let resume = self.front.map_or(Pos { seq: 1, off: HEADER }, |f| f.resume);
        self.seq = resume.seq.max(1);
        self.off = resume.off.max(HEADER);
    }

    /// What the bytes at the current offset are.
    fn read_record(&mut self, end: u64) -> io::Result<ReadOutcome> {
        if self.off + RECORD_HEADER > end {
            return Ok(ReadOutcome::Damage);
        }
        let Some((f, _)) = self.file.as_mut() else {
            return Ok(ReadOutcome::Damage);
        };
        let mut head = [0u8; 8];
        match f.read_exact(&mut head) {
            Ok(()) => {}
            // A sealed mapped segment cut to what it holds after its length was looked up.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.seek(SeekFrom::Start(self.off))?;
                return Ok(ReadOutcome::End);
            }
            Err(e) => return Err(e),
        }
        if head == [0; 8] {
            // No record has a zero checksum over a zero length: this is unwritten space.
            f.seek(SeekFrom::Start(self.off))?;
            return Ok(ReadOutcome::End);
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len as u64 > MAX_RECORD || self.off + RECORD_HEADER + len as u64 > end {
            f.seek(SeekFrom::Start(self.off))?;
            return Ok(ReadOutcome::Damage);
        }
        self.payload.resize(len as usize, 0);
        match f.read_exact(&mut self.payload) {
            Ok(()) => {}
            // Cut short by someone else: damage, which skip_damage measures.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.seek(SeekFrom::Start(self.off))?;
                return Ok(ReadOutcome::Damage);
            }
            Err(e) => return Err(e),
        }
        if record_crc(len, &self.payload) != crc {
            f.seek(SeekFrom::Start(self.off))?;
            return Ok(ReadOutcome::Damage);
        }
        self.off += RECORD_HEADER + len as u64;
        Ok(ReadOutcome::Record)
    }

    /// At damage: finds the next intact record in this segment, or its end, and counts
    /// what was skipped (a torn tail when nothing intact follows).
    fn skip_damage(&mut self, end: u64) -> io::Result<()> {
        let start = self.off;
        let Some((f, _)) = self.file.as_mut() else {
            return Ok(());
        };
        let mut rest = Vec::with_capacity((end - start) as usize);
        f.seek(SeekFrom::Start(start))?;
        f.by_ref().take(end - start).read_to_end(&mut rest)?;
        // Past the last non-zero byte lies unwritten space (a mapped segment's tail): no
        // record can start there.
        let written = rest.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        let next = (1..written).find(|&i| intact_at(&rest[i..]));
        let skipped = next.unwrap_or(rest.len()) as u64;
        self.off = start + skipped;
        f.seek(SeekFrom::Start(self.off))?;
        let path = self.q.dir.join(seg_name(self.seq));
        let torn = next.is_none();
        log::warn!(
            "trackflow: {}: {skipped} bytes at offset {start} are {}; skipped",
            path.display(),
            if torn { "a torn record" } else { "damaged" }
        );
        self.q.note(|d| {
            if torn {
                d.torn_tails += 1;
            } else {
                d.corrupt_regions += 1;
            }
            d.skipped_bytes += skipped;
        });
        Ok(())
    }

    /// Moves past `records` records this process appended up to `to`, which reached the
    /// reader another way (a copy kept in memory): they count as read.
    pub(crate) fn advance_to(&mut self, to: Pos, records: u64) {
        let here = self.position();
        if to <= here {
            return;
        }
        if to.seq != self.seq {
            self.file = None;
        } else if let Some((f, _)) = self.file.as_mut() {
            // Seeking drops the read-ahead, which may hold what was unwritten then.
            if f.seek(SeekFrom::Start(to.off)).is_err() {
                self.file = None;
            }
        }
        self.seq = to.seq;
        self.off = to.off;
        let _ = self
            .q
            .unread
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(records))
            });
    }

    /// Where reading stands: what [`ack_to`](Self::ack_to) takes.
    pub(crate) fn position(&self) -> Pos {
        Pos {
            seq: self.seq,
            off: self.off,
        }
    }

    fn cursor_at(&self, at: Pos) -> Cursor {
        Cursor {
            seq: at.seq,
            off: at.off,
            front: self.front.map_or(0, |f| f.nonce),
        }
    }

    /// Marks what was read up to `to` (an earlier [`position`](Self::position)) as settled,
    /// while what was read after it is still on its way: after a restart, reading resumes
    /// at `to`.
    pub(crate) fn ack_to(&mut self, to: Pos) -> io::Result<()> {
        if to >= self.position() {
            return self.ack();
        }
        let c = self.cursor_at(to);
        cursor::write(&mut self.cursor, &self.q.dir, c)?;
        if to.seq > self.removed_below {
            self.remove_below(to.seq);
            self.removed_below = to.seq;
        }
        self.housekeeping();
        Ok(())
    }

    /// The mapped segments' chores, done on the reader's thread after each acknowledgement
    /// (a reader that always has a batch on its way acknowledges only part way, and would
    /// otherwise leave them undone until it caught up): sealed segments are unmapped (they
    /// would stay in the process's memory) and the next segment is made ahead (else a
    /// producer makes it, under the queue's lock, holding up the others).
    fn housekeeping(&mut self) {
        self.q.retire_sealed();
        let retry = self.spare_failed.is_none_or(|t| t.elapsed() >= SPARE_RETRY);
        if retry {
            self.spare_failed = (!self.q.prepare_spare()).then(Instant::now);
        }
    }

    /// Marks everything read so far as settled: it will not be read again, here or after a
    /// restart, and segments wholly read are removed.
    pub(crate) fn ack(&mut self) -> io::Result<()> {
        let q = self.q.clone();
        let mut w = q.writer.lock();
        // Caught up inside a buffered segment: close it so that it can go too. (A mapped
        // segment is left to fill: the cursor skips what was read, and making and mapping a
        // segment per batch would cost more.)
        if w.mode == Mode::Buffered && self.seq == w.seq && self.off >= w.len && w.len > HEADER {
            q.seal(&mut w)?;
            drop(w);
            self.next_segment();
        } else {
            drop(w);
        }
        let c = self.cursor_at(self.position());
        cursor::write(&mut self.cursor, &q.dir, c)?;
        if self.seq > self.removed_below {
            self.remove_below(self.seq);
            self.removed_below = self.seq;
        }
        self.housekeeping();
        Ok(())
    }

    /// Removes the segments below `seq` (the front among them): they were read and settled.
    fn remove_below(&self, seq: u64) {
        self.remove_between(0, seq);
    }

    /// Removes the segments numbered from `low` up to, not including, `high`.
    pub(super) fn remove_between(&self, low: u64, high: u64) {
        let Ok(entries) = fs::read_dir(&self.q.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if parse_seg(&name).is_some_and(|s| s >= low && s < high) {
                let len = e.metadata().map_or(0, |m| stored(&m));
                if fs::remove_file(e.path()).is_ok() {
                    self.q.recount(0, len);
                }
            }
        }
    }
}

fn intact_at(b: &[u8]) -> bool {
    if b.len() < RECORD_HEADER as usize {
        return false;
    }
    let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let crc = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let end = RECORD_HEADER as usize + len as usize;
    end <= b.len() && record_crc(len, &b[8..end]) == crc
}
