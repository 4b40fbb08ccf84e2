//! Opening a queue on a directory: its lock, what earlier processes left (segments, a
//! front, a cursor), and where reading and writing start.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::cursor::{self, Cursor};
use super::files::{create_private_dir, private_options};
use super::format::{parse_seg, seg_name, stored, Pos, HEADER, SPARE};
use super::front::{Front, FRONT_HEADER};
use super::queue::{DiskDamage, DiskQueue, Mode};
use super::reader::Reader;

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
        let mut damage = DiskDamage::default();
        let (segs, bytes) = scan(dir, &mut damage)?;
        let start = Start::plan(dir, segs, bytes, &mut damage);
        let q = Arc::new(DiskQueue::new(
            dir,
            lock,
            budget,
            mode,
            start.next,
            start.live_bytes,
            damage,
        ));
        let reader = Reader::new(q.clone(), start.at, start.front);
        Ok((q, reader))
    }
}

/// The segments in `dir` (sequence, size), oldest first; anything else is noted as foreign.
fn scan(dir: &Path, damage: &mut DiskDamage) -> io::Result<(Vec<(u64, u64)>, u64)> {
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
/// Where a queue opened on a directory starts: which segments are live, where reading
/// begins, and the first segment this process writes.
struct Start {
    live_bytes: u64,
    at: Pos,
    front: Option<Front>,
    next: u64,
}

impl Start {
    /// Reads the cursor and the front, and removes what they say was settled: segments
    /// wholly before the cursor, a front the cursor has read past, and segments a front
    /// took the place of.
    fn plan(dir: &Path, segs: Vec<(u64, u64)>, bytes: u64, damage: &mut DiskDamage) -> Start {
        let cursor = cursor::read(dir);
        let mut front = segs.first().filter(|(s, _)| *s == 0).and(Front::read(dir));
        if segs.first().is_some_and(|(s, _)| *s == 0) && front.is_none() {
            let path = dir.join(seg_name(0));
            log::warn!("trackflow: {} is not a front segment; left alone", path.display());
            damage.foreign_files.push(path);
        }
        let read_past_front = front.is_some_and(|f| cursor.is_some_and(|c| c.front == f.nonce && c.seq > 0));
        if read_past_front {
            front = None;
        }
        // Segments below this are settled (or were handed back into the front).
        let settled_below = match (front, cursor) {
            (Some(f), _) => f.resume.seq,
            (None, Some(c)) => c.seq,
            (None, None) => 0,
        };
        let mut live = Vec::new();
        let mut live_bytes = bytes;
        for (seq, len) in segs {
            let foreign_front = seq == 0 && front.is_none() && !read_past_front;
            if foreign_front {
                live_bytes -= len;
            } else if seq < settled_below && (seq > 0 || front.is_none()) {
                let _ = fs::remove_file(dir.join(seg_name(seq)));
                live_bytes -= len;
            } else if seq > 0 {
                live.push(seq);
            }
        }
        let next = [
            live.last().map_or(1, |s| s + 1),
            cursor.map_or(1, |c| c.seq + 1),
            front.map_or(1, |f| f.resume.seq + 1),
        ]
        .into_iter()
        .max()
        .unwrap_or(1);
        let at = start_at(front, cursor, live.first().copied(), next);
        Start {
            live_bytes,
            at,
            front,
            next,
        }
    }
}

/// Where reading starts: in the front, at the cursor if it points there; else in the first
/// live segment, at the cursor if it points there; else at the first segment this process
/// writes.
fn start_at(front: Option<Front>, cursor: Option<Cursor>, first_live: Option<u64>, next: u64) -> Pos {
    match (front, cursor) {
        (Some(f), Some(c)) if c.front == f.nonce && c.seq == 0 => Pos {
            seq: 0,
            off: c.off.max(FRONT_HEADER),
        },
        (Some(_), _) => Pos {
            seq: 0,
            off: FRONT_HEADER,
        },
        (None, _) => match (first_live, cursor) {
            (Some(first), Some(c)) if c.seq == first => Pos {
                seq: first,
                off: c.off.max(HEADER),
            },
            (Some(first), _) => Pos {
                seq: first,
                off: HEADER,
            },
            (None, _) => Pos {
                seq: next,
                off: HEADER,
            },
        },
    }
}
