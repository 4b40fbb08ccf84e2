//! The Background consumer's overflow spill: events that do not fit in memory go to the
//! disk queue, and come back from it in order.
//!

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::disk::{AppendError, DiskQueue, Reader};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::Spool;

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
}

impl Spill {
    pub(super) fn open(dir: &Path, budget: u64) -> io::Result<(Spill, Reader)> {
        let (disk, reader) = DiskQueue::open(dir, budget)?;
        Ok((
            Spill {
                disk,
                spilling: AtomicBool::new(false),
            },
            reader,
        ))
    }

    pub(super) fn is_spilling(&self) -> bool {
        self.spilling.load(Ordering::Acquire)
    }

    /// Appends `event`; returns whether spilling just began (the worker may be idle).
    pub(super) fn push(&self, event: &Event) -> std::result::Result<bool, AppendError> {
        let mut record = Vec::with_capacity(256);
        crate::disk::encode_event(event, &mut record);
        let mut began = false;
        self.disk.append(&record, || {
            began = !self.spilling.swap(true, Ordering::AcqRel);
        })?;
        Ok(began)
    }

    /// Reads up to `max` events into `out`. `memory_empty` is asked under the queue's lock
    /// before anything this process spilled is read: events still in memory are older than
    /// any spilled after them by the same producer, so they go first.
    pub(super) fn read(
        &self,
        reader: &mut Reader,
        max: usize,
        memory_empty: impl FnOnce() -> bool,
        out: &mut Vec<crate::disk::Record>,
    ) -> io::Result<()> {
        reader.read(max, out, memory_empty, || {
            self.spilling.store(false, Ordering::Release)
        })?;
        Ok(())
    }
}

/// Where a consumer's spool and spill live by default, with the spill opened: the first of
/// `<state>/<backend>`, `<state>/<backend>.2`, … that no other tracker holds.
pub(super) fn open_default(backend: &str, budget: u64) -> Result<(Spool, Spill, Reader)> {
    let base = crate::spool::default_state_dir()
        .ok_or_else(|| Error::Config("no state directory can be named".into()))?;
    let mut last = None;
    for slot in 1..=SLOTS {
        let dir = if slot == 1 {
            base.join(backend)
        } else {
            base.join(format!("{backend}.{slot}"))
        };
        match open_in(&dir, budget) {
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => last = Some(e),
            r => return r,
        }
    }
    Err(Error::Io(
        last.unwrap_or_else(|| io::ErrorKind::WouldBlock.into()),
    ))
}

/// Opens the spool at `dir` and the spill in its `queue/`.
pub(super) fn open_in(dir: &PathBuf, budget: u64) -> Result<(Spool, Spill, Reader)> {
    let spool = Spool::open(dir)?;
    let (spill, reader) = Spill::open(&spool.queue_dir(), budget)?;
    Ok((spool, spill, reader))
}
