//! Segments, records, the writer and the reader of the disk queue (format in `mod.rs`).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::files::create_new_private;
use super::format::{
    record_crc, seg_name, Pos, HEADER, MAGIC, MAPPED_SEGMENT_BYTES, MAX_RECORD, RECORD_HEADER, SEGMENT_BYTES,
    SPARE,
};
use super::mapped::Mapped;

/// Why an append was refused.
#[derive(Debug)]
pub(crate) enum AppendError {
    /// The disk budget would be exceeded.
    Full,
    /// The file system refused the write.
    Io(io::Error),
}

/// What reading a disk queue (spill or journal) found wrong on disk; each is also logged
/// when found. Every intact record is still read.
///
/// # Examples
///
/// ```
/// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build();
/// assert_eq!(c.disk_damage(), trackflow::spool::DiskDamage::default());
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskDamage {
    /// Records cut short at the end of a segment left by an earlier process.
    pub torn_tails: u64,
    /// Regions skipped because a checksum or length did not hold.
    pub corrupt_regions: u64,
    /// Bytes in those regions and torn tails.
    pub skipped_bytes: u64,
    /// Files in the directory that are not segments (or segments without the header).
    pub foreign_files: Vec<PathBuf>,
}

/// How records reach the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Through a buffer, pushed to the OS when the reader asks: the overflow spill, where
    /// the process's memory is the durability promised anyway.
    Buffered,
    /// Through a shared memory map: in the page cache when `append` returns, so a record
    /// survives the death of the process. The crash-safe journal.
    Mapped,
}

enum Sink {
    Buffered(BufWriter<File>),
    Mapped(MappedSeg),
}

/// A mapped segment file.
struct MappedSeg {
    // Shared with whoever writes it through outside the queue's lock.
    file: Arc<File>,
    map: Mapped,
}

impl MappedSeg {
    /// Creates (create-new, private) and maps a segment file of `size` bytes, header written;
    /// removes it again if that fails half way.
    fn create(path: &Path, size: u64) -> io::Result<MappedSeg> {
        let file = create_new_private(path)?;
        let made = Mapped::new(&file, size).map(|mut map| {
            map.write(0, MAGIC);
            map
        });
        match made {
            Ok(map) => Ok(MappedSeg {
                file: Arc::new(file),
                map,
            }),
            Err(e) => {
                let _ = fs::remove_file(path);
                Err(e)
            }
        }
    }

    /// Unmaps a sealed segment and cuts it to the `len` bytes it holds, written through to
    /// the disk first when `sync`.
    fn retire(self, len: u64, sync: bool) -> io::Result<()> {
        let synced = if sync { self.file.sync_data() } else { Ok(()) };
        drop(self.map);
        synced.and(self.file.set_len(len))
    }
}

pub(super) struct Writer {
    pub(super) mode: Mode,
    // A segment was created since the directory was last written through.
    dir_dirty: bool,
    pub(super) seq: u64,
    sink: Option<Sink>,
    // Bytes in the current segment, header included; `committed` of them reached the OS.
    pub(super) len: u64,
    pub(super) committed: u64,
    // Mapped only: the next segment, made ahead; sealed segments, with their lengths, to be
    // unmapped and cut by the reader's thread (both cost a producer a millisecond or more).
    spare: Option<MappedSeg>,
    retired: Vec<(MappedSeg, u64)>,
}

/// An append-only queue of records in segment files, for one process at a time.
pub(crate) struct DiskQueue {
    pub(super) dir: PathBuf,
    // Held (flock) while the queue is open; dropped by `close`.
    lock: Mutex<Option<File>>,
    closed: AtomicBool,
    budget: u64,
    pub(super) writer: Mutex<Writer>,
    // Bytes in segment files not yet removed, and whatever else is charged to the budget
    // (dead letters: see `reserve`).
    bytes: AtomicU64,
    // Records appended by this process and not yet read.
    pub(super) unread: AtomicU64,
    // Segments below this were written by an earlier process.
    pub(super) first_own_seq: u64,
    damage: Mutex<DiskDamage>,
    // Sealed mapped segments are written through to the disk before they are cut (Fsync).
    write_through: AtomicBool,
}

impl Drop for DiskQueue {
    fn drop(&mut self) {
        let w = self.writer.get_mut();
        if w.spare.take().is_some() {
            let _ = fs::remove_file(self.dir.join(SPARE));
        }
        // The open mapped segment is cut to what it holds, so that it does not keep its
        // preallocated size on disk.
        if let Some(Sink::Mapped(seg)) = w.sink.take() {
            let len = w.len;
            w.retired.push((seg, len));
        }
        let sync = self.write_through.load(Ordering::Acquire);
        let _ = retire_all(std::mem::take(&mut w.retired), sync);
    }
}

impl std::fmt::Debug for DiskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskQueue")
            .field("dir", &self.dir)
            .field("bytes", &self.bytes.load(Ordering::Relaxed))
            .field("unread", &self.unread.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
impl DiskQueue {
    /// A queue on `dir`, holding `lock`, writing its own segments from `next` on, with
    /// `live_bytes` already on disk.
    pub(super) fn new(
        dir: &Path,
        lock: File,
        budget: u64,
        mode: Mode,
        next: u64,
        live_bytes: u64,
        damage: DiskDamage,
    ) -> DiskQueue {
        DiskQueue {
            dir: dir.to_path_buf(),
            lock: Mutex::new(Some(lock)),
            closed: AtomicBool::new(false),
            budget,
            writer: Mutex::new(Writer {
                mode,
                dir_dirty: false,
                seq: next,
                sink: None,
                len: HEADER,
                committed: HEADER,
                spare: None,
                retired: Vec::new(),
            }),
            bytes: AtomicU64::new(live_bytes),
            unread: AtomicU64::new(0),
            first_own_seq: next,
            damage: Mutex::new(damage),
            write_through: AtomicBool::new(false),
        }
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes in segment files.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }

    /// Records appended by this process that the reader has not read yet.
    pub(crate) fn unread(&self) -> u64 {
        self.unread.load(Ordering::Acquire)
    }

    /// Charges `n` bytes (a dead letter, say) to the queue's disk budget; false when they
    /// do not fit, and nothing is charged.
    pub(crate) fn reserve(&self, n: u64) -> bool {
        self.bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b + n <= self.budget).then_some(b + n)
            })
            .is_ok()
    }

    /// Charges `n` bytes to the budget whether they fit or not (dead letters found at open).
    pub(crate) fn charge(&self, n: u64) {
        self.recount(n, 0);
    }

    /// Gives back `n` bytes charged with [`reserve`](Self::reserve).
    pub(crate) fn release(&self, n: u64) {
        self.recount(0, n);
    }

    /// Adds `add` bytes and takes away `sub` from what the directory holds.
    pub(super) fn recount(&self, add: u64, sub: u64) {
        let _ = self.bytes.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
            Some((b + add).saturating_sub(sub))
        });
    }

    /// Closes the queue for this process: the segment being written is cut to what it
    /// holds and the directory's lock is let go, so that another tracker may open it at
    /// once, whoever still holds this value. Appends after this fail.
    pub(crate) fn close(&self) {
        if let Err(e) = self.seal_for_good() {
            log::warn!("trackflow: closing {}: {e}", self.dir.display());
        }
        let mut w = self.writer.lock();
        // No append may come after: a segment number past any the next opener could use is
        // never created, since the sink stays empty and appends check the lock below.
        w.sink = None;
        self.closed.store(true, Ordering::Release);
        drop(w);
        self.lock.lock().take();
    }

    /// Closes the segment being written and cuts every sealed mapped segment to what it
    /// holds, now: at a shutdown, so that the reader sees every record's final place.
    pub(super) fn seal_for_good(&self) -> io::Result<()> {
        let retired = {
            let mut w = self.writer.lock();
            if w.sink.is_some() {
                self.seal(&mut w)?;
            }
            std::mem::take(&mut w.retired)
        };
        retire_all(retired, self.write_through.load(Ordering::Acquire))
    }

    /// What reading has found damaged so far.
    pub(crate) fn damage(&self) -> DiskDamage {
        self.damage.lock().clone()
    }

    /// Appends one record. `then` runs under the queue's lock once the record is in, so a
    /// caller can change state that must agree with the queue's contents.
    pub(crate) fn append(&self, payload: &[u8], then: impl FnOnce(Pos)) -> Result<(), AppendError> {
        let rec = RECORD_HEADER + payload.len() as u64;
        if payload.len() as u64 > MAX_RECORD {
            return Err(AppendError::Full);
        }
        let len = payload.len() as u32;
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&len.to_le_bytes());
        head[4..].copy_from_slice(&record_crc(len, payload).to_le_bytes());
        let mut w = self.writer.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(AppendError::Io(io::Error::other("the queue is closed")));
        }
        if self.bytes.load(Ordering::Acquire) + rec > self.budget {
            return Err(AppendError::Full);
        }
        if w.sink.is_some() && w.len + rec > segment_bytes(w.mode).max(HEADER + rec) {
            self.seal(&mut w).map_err(AppendError::Io)?;
        }
        if w.sink.is_none() {
            self.begin_segment(&mut w, rec).map_err(AppendError::Io)?;
        }
        let at = w.len;
        let written = match w.sink.as_mut() {
            Some(Sink::Buffered(f)) => f.write_all(&head).and_then(|()| f.write_all(payload)),
            Some(Sink::Mapped(MappedSeg { map, .. })) => {
                let at = at as usize;
                if map.write(at, &head) && map.write(at + head.len(), payload) {
                    Ok(())
                } else {
                    Err(io::Error::other("a record past the end of its segment"))
                }
            }
            None => Err(io::ErrorKind::NotFound.into()),
        };
        if let Err(e) = written {
            // A partial record may sit in the segment: it can take no more.
            w.sink = None;
            w.seq += 1;
            return Err(AppendError::Io(e));
        }
        w.len += rec;
        if w.mode == Mode::Mapped {
            w.committed = w.len;
        }
        self.bytes.fetch_add(rec, Ordering::AcqRel);
        self.unread.fetch_add(1, Ordering::AcqRel);
        then(Pos {
            seq: w.seq,
            off: w.len,
        });
        Ok(())
    }

    /// Writes everything appended so far through to the disk: it survives a power loss.
    /// The lock is held only to learn what to write; the writing is done outside it.
    pub(crate) fn sync(&self) -> io::Result<()> {
        let (dir_dirty, file, retired) = {
            let mut w = self.writer.lock();
            commit(&mut w)?;
            let file = match w.sink.as_ref() {
                Some(Sink::Buffered(f)) => Some(Arc::new(f.get_ref().try_clone()?)),
                // fdatasync writes a shared mapping's dirty pages too (it is what msync does
                // on Linux), without the map, which the producers are writing.
                Some(Sink::Mapped(seg)) => Some(seg.file.clone()),
                None => None,
            };
            (
                std::mem::take(&mut w.dir_dirty),
                file,
                std::mem::take(&mut w.retired),
            )
        };
        let mut result = retire_all(retired, true);
        if let Some(f) = file {
            result = result.and(f.sync_data());
        }
        if dir_dirty {
            // The names of new segments must survive a power loss too.
            result = result.and(File::open(&self.dir).and_then(|d| d.sync_all()));
        }
        result
    }

    /// From now on, sealed mapped segments are written through to the disk before they are
    /// cut (the `Fsync` journal: a power loss must not take a sealed segment's last records).
    pub(crate) fn write_through(&self) {
        self.write_through.store(true, Ordering::Release);
    }

    /// Unmaps and cuts the segments sealed since the last call, outside the queue's lock.
    pub(super) fn retire_sealed(&self) {
        let retired = std::mem::take(&mut self.writer.lock().retired);
        if let Err(e) = retire_all(retired, self.write_through.load(Ordering::Acquire)) {
            log::warn!(
                "trackflow: closing a journal segment in {}: {e}",
                self.dir.display()
            );
        }
    }

    /// Makes the next mapped segment ahead of need, outside the queue's lock, so that a
    /// producer crossing into it only renames it. Returns false when making it failed.
    pub(super) fn prepare_spare(&self) -> bool {
        {
            let w = self.writer.lock();
            if w.mode != Mode::Mapped || w.spare.is_some() {
                return true;
            }
        }
        let path = self.dir.join(SPARE);
        // One a failed attempt left; only this (the reader's) thread makes spares.
        let _ = fs::remove_file(&path);
        match MappedSeg::create(&path, MAPPED_SEGMENT_BYTES) {
            Ok(seg) => {
                self.writer.lock().spare = Some(seg);
                true
            }
            Err(e) => {
                log::debug!("trackflow: making the next journal segment ahead: {e}");
                false
            }
        }
    }

    fn begin_segment(&self, w: &mut Writer, first: u64) -> io::Result<()> {
        let path = self.dir.join(seg_name(w.seq));
        w.sink = Some(match w.mode {
            Mode::Buffered => {
                let mut f = create_new_private(&path)?;
                f.write_all(MAGIC)?;
                Sink::Buffered(BufWriter::with_capacity(64 << 10, f))
            }
            Mode::Mapped => {
                let size = MAPPED_SEGMENT_BYTES.max(HEADER + first);
                let spare = (size == MAPPED_SEGMENT_BYTES).then(|| w.spare.take()).flatten();
                Sink::Mapped(match spare {
                    Some(seg) => {
                        fs::rename(self.dir.join(SPARE), &path)?;
                        seg
                    }
                    None => MappedSeg::create(&path, size)?,
                })
            }
        });
        // For Fsync durability, the new name is written through at the next sync.
        w.dir_dirty = true;
        w.len = HEADER;
        w.committed = HEADER;
        self.bytes.fetch_add(HEADER, Ordering::AcqRel);
        Ok(())
    }

    /// Closes the current segment; the next append begins a new one. A mapped segment is
    /// handed to the reader's thread to unmap and cut to what it holds.
    pub(super) fn seal(&self, w: &mut Writer) -> io::Result<()> {
        let r = commit(w);
        if let Some(Sink::Mapped(seg)) = w.sink.take() {
            let len = w.len;
            w.retired.push((seg, len));
        }
        w.seq += 1;
        w.len = HEADER;
        w.committed = HEADER;
        r
    }

    pub(super) fn note(&self, f: impl FnOnce(&mut DiskDamage)) {
        f(&mut self.damage.lock());
    }
}

/// Unmaps and cuts every segment of `retired` (written through first when `sync`), going on
/// past a failure; returns the first.
fn retire_all(retired: Vec<(MappedSeg, u64)>, sync: bool) -> io::Result<()> {
    let mut result = Ok(());
    for (seg, len) in retired {
        result = result.and(seg.retire(len, sync));
    }
    result
}

/// How large a segment grows before it is sealed.
fn segment_bytes(mode: Mode) -> u64 {
    match mode {
        Mode::Buffered => SEGMENT_BYTES,
        Mode::Mapped => MAPPED_SEGMENT_BYTES,
    }
}

pub(super) fn commit(w: &mut Writer) -> io::Result<()> {
    if let Some(Sink::Buffered(f)) = w.sink.as_mut() {
        f.flush()?;
    }
    w.committed = w.len;
    Ok(())
}
#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
