//! Segments, records, the writer and the reader of the disk queue (format in `mod.rs`).

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::files::{create_new_private, create_private_dir, private_options};
use super::mapped::Mapped;

const MAGIC: &[u8; 8] = b"TFQUEUE1";
const HEADER: u64 = MAGIC.len() as u64;
const RECORD_HEADER: u64 = 8;
/// A segment is closed and a new one begun past this size.
pub(crate) const SEGMENT_BYTES: u64 = 16 << 20;
/// The size of a mapped segment, made whole up front: small enough that making one is cheap
/// and that a drained one goes soon, large enough that it is made once per ~10,000 events.
pub(crate) const MAPPED_SEGMENT_BYTES: u64 = 4 << 20;
/// The next mapped segment, made ahead of need by the reader's thread; renamed into place.
const SPARE: &str = "spare";
/// How long after a failure to make a spare segment the reader tries again.
const SPARE_RETRY: Duration = Duration::from_secs(1);
/// The largest record; a length field above it can only be damage.
pub(crate) const MAX_RECORD: u64 = 64 << 20;

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
pub struct Damage {
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

struct Writer {
    mode: Mode,
    // A segment was created since the directory was last written through.
    dir_dirty: bool,
    seq: u64,
    sink: Option<Sink>,
    // Bytes in the current segment, header included; `committed` of them reached the OS.
    len: u64,
    committed: u64,
    // Mapped only: the next segment, made ahead; sealed segments, with their lengths, to be
    // unmapped and cut by the reader's thread (both cost a producer a millisecond or more).
    spare: Option<MappedSeg>,
    retired: Vec<(MappedSeg, u64)>,
}

/// An append-only queue of records in segment files, for one process at a time.
pub(crate) struct DiskQueue {
    dir: PathBuf,
    _lock: File,
    budget: u64,
    writer: Mutex<Writer>,
    // Bytes in segment files not yet removed.
    bytes: AtomicU64,
    // Records appended by this process and not yet read.
    unread: AtomicU64,
    // Segments below this were written by an earlier process.
    first_own_seq: u64,
    damage: Mutex<Damage>,
    // Sealed mapped segments are written through to the disk before they are cut (Fsync).
    write_through: AtomicBool,
}

impl Drop for DiskQueue {
    fn drop(&mut self) {
        let w = self.writer.get_mut();
        if w.spare.take().is_some() {
            let _ = fs::remove_file(self.dir.join(SPARE));
        }
        let _ = retire_all(std::mem::take(&mut w.retired), false);
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

fn seg_name(seq: u64) -> String {
    format!("{seq:016}.seg")
}

fn parse_seg(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    // Names are zero-padded to 16 digits, and grow past that only after 10^16 segments.
    (digits.len() >= 16 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn record_crc(len: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}

impl DiskQueue {
    /// Opens (creating, private) the queue in `dir`, holding its lock for as long as the
    /// queue lives. Segments left by an earlier process are read first.
    pub(crate) fn open(dir: &Path, budget: u64) -> io::Result<(Arc<DiskQueue>, Reader)> {
        DiskQueue::open_with(dir, budget, Mode::Buffered)
    }

    /// As [`open`](Self::open), writing in `mode`.
    pub(crate) fn open_with(dir: &Path, budget: u64, mode: Mode) -> io::Result<(Arc<DiskQueue>, Reader)> {
        create_private_dir(dir)?;
        let lock = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{} is in use by another tracker (its lock file is held); give each tracker its own directory",
                        dir.display()
                    ),
                ))
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        let mut damage = Damage::default();
        let (segs, bytes) = scan(dir, &mut damage)?;
        let cursor = read_cursor(dir);
        // Segments wholly before the cursor were read and settled: remove them.
        let mut live = Vec::new();
        let mut live_bytes = bytes;
        for (seq, len) in segs {
            if cursor.is_some_and(|(cs, _)| seq < cs) {
                let _ = fs::remove_file(dir.join(seg_name(seq)));
                live_bytes -= len;
            } else {
                live.push(seq);
            }
        }
        let next = live
            .last()
            .map_or(1, |s| s + 1)
            .max(cursor.map_or(1, |c| c.0 + 1));
        let (start_seq, start_off) = match (live.first(), cursor) {
            (Some(&first), Some((cs, off))) if cs == first => (first, off.max(HEADER)),
            (Some(&first), _) => (first, HEADER),
            (None, _) => (next, HEADER),
        };
        let q = Arc::new(DiskQueue {
            dir: dir.to_path_buf(),
            _lock: lock,
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
        });
        let reader = Reader {
            q: q.clone(),
            seq: start_seq,
            off: start_off,
            file: None,
            payload: Vec::new(),
            cursor: None,
            removed_below: 0,
            spare_failed: None,
        };
        Ok((q, reader))
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

    /// What reading has found damaged so far.
    pub(crate) fn damage(&self) -> Damage {
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

    /// Pushes buffered records to the OS (page cache: they now survive the process).
    pub(crate) fn commit(&self) -> io::Result<()> {
        let mut w = self.writer.lock();
        commit(&mut w)
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
    fn retire_sealed(&self) {
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
    fn prepare_spare(&self) -> bool {
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
    fn seal(&self, w: &mut Writer) -> io::Result<()> {
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

    fn note(&self, f: impl FnOnce(&mut Damage)) {
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

fn commit(w: &mut Writer) -> io::Result<()> {
    if let Some(Sink::Buffered(f)) = w.sink.as_mut() {
        f.flush()?;
    }
    w.committed = w.len;
    Ok(())
}

/// The segments in `dir` (sequence, size), oldest first; anything else is noted as foreign.
fn scan(dir: &Path, damage: &mut Damage) -> io::Result<(Vec<(u64, u64)>, u64)> {
    let mut segs = Vec::new();
    let mut bytes = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "lock" || name == "cursor" {
            continue;
        }
        if name == SPARE {
            // Made ahead by an earlier process and never used: it holds no records.
            let _ = fs::remove_file(entry.path());
            continue;
        }
        match parse_seg(&name) {
            Some(seq) => {
                let len = stored(&entry.metadata()?);
                bytes += len;
                segs.push((seq, len));
            }
            None => {
                log::warn!(
                    "trackflow: {} is not a queue segment; left alone",
                    entry.path().display()
                );
                damage.foreign_files.push(entry.path());
            }
        }
    }
    segs.sort_unstable();
    Ok((segs, bytes))
}

/// The bytes a segment takes: a mapped segment left by a dead process keeps its preallocated
/// length, mostly a hole, so on Unix count the blocks stored instead.
fn stored(m: &fs::Metadata) -> u64 {
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

fn read_cursor(dir: &Path) -> Option<(u64, u64)> {
    let b = fs::read(dir.join("cursor")).ok()?;
    if b.len() != 20 {
        return None;
    }
    let seq = u64::from_le_bytes(b[..8].try_into().ok()?);
    let off = u64::from_le_bytes(b[8..16].try_into().ok()?);
    let crc = u32::from_le_bytes(b[16..20].try_into().ok()?);
    (crc32fast::hash(&b[..16]) == crc).then_some((seq, off))
}

/// Writes the cursor in place: one 20-byte write per settled batch (a write of a few bytes
/// within a page is never half done by a crash of the process; a torn one after a power loss
/// fails its checksum, and reading starts over from the oldest segment).
fn write_cursor(file: &mut Option<File>, dir: &Path, seq: u64, off: u64) -> io::Result<()> {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b[8..16].copy_from_slice(&off.to_le_bytes());
    let crc = crc32fast::hash(&b[..16]);
    b[16..].copy_from_slice(&crc.to_le_bytes());
    let f = match file {
        Some(f) => f,
        None => file.insert(
            private_options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(dir.join("cursor"))?,
        ),
    };
    #[cfg(unix)]
    {
        // One pwrite rather than a seek and a write.
        std::os::unix::fs::FileExt::write_all_at(f, &b, 0)
    }
    #[cfg(not(unix))]
    {
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&b)
    }
}

/// Where a record ends: the reading position just past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    seq: u64,
    off: u64,
}

/// What the bytes at a reading position are.
enum Got {
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
    q: Arc<DiskQueue>,
    seq: u64,
    off: u64,
    // The open segment and, once it is sealed, its final length.
    file: Option<(BufReader<File>, Option<u64>)>,
    // The last record read.
    payload: Vec<u8>,
    // The cursor file, kept open once written.
    cursor: Option<File>,
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
        let (wseq, wlen) = {
            let mut w = self.q.writer.lock();
            if self.has_recovered() {
                (self.q.first_own_seq, HEADER)
            } else {
                if !may_read() {
                    return Ok(false);
                }
                commit(&mut w)?;
                (w.seq, w.committed)
            }
        };
        let mut n = 0;
        let mut fresh = false;
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
                Got::Record => {
                    fresh = false;
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
                Got::End | Got::Damage if !fresh => fresh = true,
                // The zeros after the last record of a sealed mapped segment.
                Got::End if sealed => {
                    fresh = false;
                    self.next_segment();
                }
                Got::End => break,
                Got::Damage => {
                    fresh = false;
                    self.skip_damage(end)?;
                }
            }
        }
        if n < max {
            let w = self.q.writer.lock();
            if self.seq > w.seq || (self.seq == w.seq && self.off >= w.len) {
                caught_up();
                return Ok(true);
            }
        }
        Ok(false)
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
            let mut magic = [0u8; 8];
            if f.read_exact(&mut magic).is_err() || &magic != MAGIC {
                log::warn!(
                    "trackflow: {} has no queue header (empty or foreign); skipped",
                    path.display()
                );
                self.q.note(|d| d.foreign_files.push(path));
                return Ok(None);
            }
            self.off = self.off.max(HEADER);
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

    /// Moves to the lowest segment after the current one that exists, or to `limit`.
    fn skip_to_next_existing(&mut self, limit: u64) {
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
        self.seq += 1;
        self.off = HEADER;
    }

    /// What the bytes at the current offset are.
    fn read_record(&mut self, end: u64) -> io::Result<Got> {
        if self.off + RECORD_HEADER > end {
            return Ok(Got::Damage);
        }
        let Some((f, _)) = self.file.as_mut() else {
            return Ok(Got::Damage);
        };
        let mut head = [0u8; 8];
        match f.read_exact(&mut head) {
            Ok(()) => {}
            // A sealed mapped segment cut to what it holds after its length was looked up.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.seek(SeekFrom::Start(self.off))?;
                return Ok(Got::End);
            }
            Err(e) => return Err(e),
        }
        if head == [0; 8] {
            // No record has a zero checksum over a zero length: this is unwritten space.
            f.seek(SeekFrom::Start(self.off))?;
            return Ok(Got::End);
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len as u64 > MAX_RECORD || self.off + RECORD_HEADER + len as u64 > end {
            f.seek(SeekFrom::Start(self.off))?;
            return Ok(Got::Damage);
        }
        self.payload.resize(len as usize, 0);
        match f.read_exact(&mut self.payload) {
            Ok(()) => {}
            // Cut short by someone else: damage, which skip_damage measures.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.seek(SeekFrom::Start(self.off))?;
                return Ok(Got::Damage);
            }
            Err(e) => return Err(e),
        }
        if record_crc(len, &self.payload) != crc {
            f.seek(SeekFrom::Start(self.off))?;
            return Ok(Got::Damage);
        }
        self.off += RECORD_HEADER + len as u64;
        Ok(Got::Record)
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
        let here = Pos {
            seq: self.seq,
            off: self.off,
        };
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

    /// Marks what was read up to `to` (an earlier [`position`](Self::position)) as settled,
    /// while what was read after it is still on its way: after a restart, reading resumes
    /// at `to`.
    pub(crate) fn ack_to(&mut self, to: Pos) -> io::Result<()> {
        if to >= self.position() {
            return self.ack();
        }
        write_cursor(&mut self.cursor, &self.q.dir, to.seq, to.off)?;
        if to.seq > self.removed_below {
            self.remove_below(to.seq);
            self.removed_below = to.seq;
        }
        Ok(())
    }

    /// Marks everything read so far as settled: it will not be read again, here or after a
    /// restart, and segments wholly read are removed.
    pub(crate) fn ack(&mut self) -> io::Result<()> {
        let q = self.q.clone();
        let mut w = q.writer.lock();
        // Caught up inside the spill's segment: close it so that it can go too. (A mapped
        // segment is left to fill: the cursor skips what was read, and making and mapping a
        // segment per batch would cost more.)
        if w.mode == Mode::Buffered && self.seq == w.seq && self.off >= w.len && w.len > HEADER {
            q.seal(&mut w)?;
            self.next_segment();
        }
        drop(w);
        q.retire_sealed();
        write_cursor(&mut self.cursor, &q.dir, self.seq, self.off)?;
        if self.seq > self.removed_below {
            self.remove_below(self.seq);
            self.removed_below = self.seq;
        }
        let retry = self.spare_failed.is_none_or(|t| t.elapsed() >= SPARE_RETRY);
        if retry {
            self.spare_failed = (!q.prepare_spare()).then(Instant::now);
        }
        Ok(())
    }

    fn remove_below(&self, seq: u64) {
        let Ok(entries) = fs::read_dir(&self.q.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if parse_seg(&name).is_some_and(|s| s < seq) {
                let len = e.metadata().map_or(0, |m| stored(&m));
                if fs::remove_file(e.path()).is_ok() {
                    let _ = self
                        .q
                        .bytes
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                            Some(b.saturating_sub(len))
                        });
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

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
