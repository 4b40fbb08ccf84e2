//! The Background consumer's disk queue: the overflow spill (events that do not fit in memory
//! go there and come back in order) and, with `Durability::Process` or `Fsync`, the journal
//! every event is written to before `track()` returns. Either way it is the one place the
//! consumer writes events to disk: a shutdown's hand-back goes to its front.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::disk::{AppendError, DiskQueue, Mode, Reader};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::Spool;

use super::queued::Queued;

/// How many `<backend>.N` directories a consumer tries when the default one is taken.
const SLOTS: usize = 16;

/// The disk queue and whether producers must use it.
#[derive(Debug)]
pub(super) struct Spill {
    pub(super) disk: Arc<DiskQueue>,
    // Set (under the queue's lock) when a record goes in, cleared (under the same lock) when
    // the reader has read everything: while set, every producer appends, so one producer's
    // events never overtake its own spilled ones.
    spilling: AtomicBool,
    // The crash-safe journal: every event is written here before `track()` returns; a copy
    // goes to the memory queue unless spilling.
    journal: bool,
}

thread_local! {
    // Each producer thread encodes into its own buffer: no allocation per event.
    static RECORD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// This thread's record buffer, cleared, for `f` to encode into and append from.
fn with_buffer<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    RECORD.with(|cell| {
        // A re-entrant call (a panic hook tracking, say) gets a buffer of its own.
        let mut own = Vec::new();
        let mut guard = cell.try_borrow_mut();
        let record = match guard.as_deref_mut() {
            Ok(b) => b,
            Err(_) => &mut own,
        };
        record.clear();
        let r = f(record);
        if record.capacity() > 64 << 10 {
            // One huge event must not pin its buffer on this thread for good.
            *record = Vec::new();
        }
        r
    })
}

impl Spill {
    /// The overflow spill or, with `journal`, the crash-safe journal. Both write through a
    /// shared memory map: a record is in the page cache when `append` returns, so what
    /// spilled survives the death of the process (no user-space buffer holds it).
    pub(super) fn open(dir: &Path, budget: u64, journal: bool) -> io::Result<(Spill, Reader)> {
        let (disk, reader) = DiskQueue::open_with(dir, budget, Mode::Mapped)?;
        Ok((
            Spill {
                disk,
                // What an earlier process left is read first: until then new events go to
                // the journal only, behind it.
                spilling: AtomicBool::new(journal && reader.has_recovered()),
                journal,
            },
            reader,
        ))
    }

    pub(super) fn is_journal(&self) -> bool {
        self.journal
    }

    pub(super) fn is_spilling(&self) -> bool {
        self.spilling.load(Ordering::Acquire)
    }

    /// Appends `event` (the overflow spill); returns whether spilling just began (the
    /// worker may be idle).
    pub(super) fn push(&self, event: &Event) -> std::result::Result<bool, AppendError> {
        with_buffer(|record| {
            crate::disk::encode_event(event, record);
            let mut began = false;
            self.disk.append(record, |_| {
                began = !self.spilling.swap(true, Ordering::AcqRel);
            })?;
            Ok(began)
        })
    }

    /// Writes `event` to the journal and, unless spilling, hands a copy to `send` (the
    /// memory queue) under the journal's lock, so memory holds the journal's order and the
    /// worker need not read back what it already has. When `send` gives it back (memory
    /// full), spilling begins: the worker reads the journal until it has caught up. Returns
    /// whether the copy went to memory, and whether spilling just began.
    pub(super) fn journal(
        &self,
        event: Event,
        weight: usize,
        send: impl FnOnce(Queued) -> Option<Queued>,
    ) -> std::result::Result<(bool, bool), AppendError> {
        let mut began = false;
        let mut sent = false;
        with_buffer(|record| {
            crate::disk::encode_event(&event, record);
            self.disk.append(record, |pos| {
                if !self.spilling.load(Ordering::Acquire) {
                    let copy = Queued {
                        event,
                        weight,
                        pos: Some(pos),
                    };
                    if send(copy).is_none() {
                        sent = true;
                        return;
                    }
                }
                began = !self.spilling.swap(true, Ordering::AcqRel);
            })
        })?;
        Ok((sent, began))
    }

    /// Reads up to `max` events into `out`. `memory_empty` is asked under the queue's lock
    /// before anything this process spilled is read: events still in memory are older than
    /// any spilled after them by the same producer, so they go first.
    pub(super) fn read(
        &self,
        reader: &mut Reader,
        max: usize,
        memory_empty: impl FnOnce() -> bool,
        each: impl FnMut(&[u8], bool),
    ) -> io::Result<()> {
        reader.read_each(
            max,
            memory_empty,
            || self.spilling.store(false, Ordering::Release),
            each,
        )?;
        Ok(())
    }
}

/// Where a consumer's spool and spill live by default, with the spill opened: the first of
/// `<state>/<backend>`, `<state>/<backend>.2`, … that no other tracker holds.
pub(super) fn open_default(backend: &str, budget: u64, journal: bool) -> Result<(Spool, Spill, Reader)> {
    let base = crate::spool::usable_state_dir()?;
    let mut last = None;
    for slot in 1..=SLOTS {
        let dir = if slot == 1 {
            base.join(backend)
        } else {
            base.join(format!("{backend}.{slot}"))
        };
        match open_in(&dir, budget, journal) {
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => last = Some(e),
            r => return r,
        }
    }
    Err(Error::Io(
        last.unwrap_or_else(|| io::ErrorKind::WouldBlock.into()),
    ))
}

/// Opens the spool at `dir` and the spill in its `queue/`.
pub(super) fn open_in(dir: &PathBuf, budget: u64, journal: bool) -> Result<(Spool, Spill, Reader)> {
    let spool = Spool::open(dir)?;
    let (spill, reader) = Spill::open(&spool.queue_dir(), budget, journal)?;
    Ok((spool, spill, reader))
}
