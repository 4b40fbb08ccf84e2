//! Delivering what a spool holds through a backend by hand: dead letters once their cause is
//! fixed, a store moved from another machine, and the `pending/` files of earlier versions.
//!
//! ```text
//!  pending/ (earlier versions) ──read once──► queue/ ──► backend ──► acknowledged
//!                                                  │ transient failure: back to the queue's
//!                                                  │ front, and the replay stops
//!  dead/ ──► backend ──► delivered: file removed; failed again: kept, rewritten with the rest
//! ```

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use super::{encode_lines, keeps, read_events, write_atomic, ReplayReport, Spool};
use crate::backend::Backend;
use crate::delivery::{Cancel, DeliveryCtx, Flow, DEFAULT_MAX_IN_FLIGHT};
use crate::disk::{decode_event, encode_event, frame, AppendError, DiskQueue, Mode, Reader};
use crate::error::{Error, Result};
use crate::event::Event;

impl Spool {
    /// Delivers what this spool holds to `backend`, in batches of its `max_batch`: first
    /// the store's queue (unless a live tracker holds it: it delivers it itself), then the
    /// dead letters. `pending/` files of earlier versions are read into the queue first.
    /// A transient failure stops the queue's replay, what was not delivered staying in the
    /// queue; a dead letter delivered is removed, one that fails again stays (its file
    /// rewritten with only what failed).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a spool file cannot be read or rewritten.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-r-{}", std::process::id()));
    /// use trackflow::{Error, Event, Identity, MemoryBackend, spool::Spool};
    /// let spool = Spool::open(&dir)?;
    /// let e = Event::track("buy").with_identity(Identity::user("u1"));
    /// spool.write(&[e], &Error::Status { code: 400, body: "bad".into() }, "memory")?;
    /// let memory = MemoryBackend::new();
    /// let report = spool.replay(&memory)?;
    /// assert_eq!((report.delivered, memory.events().len()), (1, 1));
    /// assert!(spool.dead_files()?.is_empty());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn replay(&self, backend: &dyn Backend) -> Result<ReplayReport> {
        self.replay_with(backend, |_| {})
    }

    /// As [`replay`](Self::replay), calling `progress` with the totals so far after each
    /// batch.
    ///
    /// # Errors
    ///
    /// As [`replay`](Self::replay).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-rw-{}", std::process::id()));
    /// use trackflow::{Error, Event, Identity, MemoryBackend, spool::Spool};
    /// let spool = Spool::open(&dir)?;
    /// let events = vec![Event::track("buy").with_identity(Identity::user("u1")); 3];
    /// spool.write(&events, &Error::Transport("down".into()), "memory")?;
    /// let mut seen = Vec::new();
    /// spool.replay_with(&MemoryBackend::new(), |r| seen.push(r.delivered))?;
    /// assert_eq!(seen.last(), Some(&3));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn replay_with(
        &self,
        backend: &dyn Backend,
        mut progress: impl FnMut(&ReplayReport),
    ) -> Result<ReplayReport> {
        let flow = replay_flow(backend);
        let mut report = self.replay_queue(backend, &flow, &mut progress)?;
        report = self.replay_dead(backend, &flow, report, &mut progress)?;
        Ok(report)
    }

    /// Delivers the dead letters again, adding to `report`.
    pub(crate) fn replay_dead(
        &self,
        backend: &dyn Backend,
        flow: &Flow,
        mut report: ReplayReport,
        progress: &mut dyn FnMut(&ReplayReport),
    ) -> Result<ReplayReport> {
        for path in self.dead_files()? {
            report.files += 1;
            let events = read_events(&path)?;
            let mut again: Vec<Event> = Vec::new();
            for chunk in events.chunks(replay_batch(backend)) {
                let (delivered, failed) = deliver(backend, flow, chunk);
                report.delivered += delivered;
                for (error, evs) in failed {
                    if keeps(&error) {
                        report.still_pending += evs.len() as u64;
                    } else {
                        report.dead += evs.len() as u64;
                    }
                    again.extend(evs);
                }
                progress(&report);
            }
            self.settle_dead_file(&path, &again)?;
        }
        Ok(report)
    }

    /// Removes a dead-letter file all delivered, or rewrites it with what failed again.
    fn settle_dead_file(&self, path: &std::path::Path, again: &[Event]) -> Result<()> {
        let reason = path.with_extension("reason.json");
        let before: u64 = [path, reason.as_path()]
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        if again.is_empty() {
            fs::remove_file(path)?;
            let _ = fs::remove_file(&reason);
        } else {
            let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            write_atomic(&dir, &name, &encode_lines(again)?, false)?;
        }
        let after: u64 = [path, reason.as_path()]
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        if let Some(q) = self.budget() {
            q.release(before.saturating_sub(after));
        }
        Ok(())
    }

    /// Delivers what the disk queue holds, unless a live tracker holds it.
    fn replay_queue(
        &self,
        backend: &dyn Backend,
        flow: &Flow,
        progress: &mut dyn FnMut(&ReplayReport),
    ) -> Result<ReplayReport> {
        let report = ReplayReport::default();
        if !self.queue_dir().is_dir() && self.pending_files()?.is_empty() {
            return Ok(report);
        }
        let Some((queue, mut reader)) = self.take_reader()? else {
            // A live tracker drains it itself.
            return Ok(report);
        };
        let r = self.replay_from(backend, flow, &queue, &mut reader, progress);
        self.give_back(queue, reader);
        r
    }

    /// The queue and its reader: the spool's own when it holds them, else the directory's
    /// opened now; `None` when a live consumer holds it.
    fn take_reader(&self) -> Result<Option<(Arc<DiskQueue>, Reader)>> {
        let mut held = self.queue.lock();
        if let Some(h) = held.as_mut() {
            return Ok(h.reader.take().map(|r| (h.queue.clone(), r)));
        }
        match DiskQueue::open_with(&self.queue_dir(), u64::MAX, Mode::Mapped) {
            Ok((q, r)) => Ok(Some((q, r))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Puts back a reader taken from the spool's held queue (one opened for the replay just
    /// closes).
    fn give_back(&self, queue: Arc<DiskQueue>, reader: Reader) {
        if let Some(h) = self.queue.lock().as_mut()
            && Arc::ptr_eq(&h.queue, &queue)
        {
            h.reader = Some(reader);
        }
    }

    fn replay_from(
        &self,
        backend: &dyn Backend,
        flow: &Flow,
        queue: &DiskQueue,
        reader: &mut Reader,
        progress: &mut dyn FnMut(&ReplayReport),
    ) -> Result<ReplayReport> {
        let mut report = ReplayReport::default();
        self.migrate_pending(queue)?;
        loop {
            let mut records = Vec::new();
            let done = reader.read(replay_batch(backend), &mut records, || true, || {})?;
            let chunk: Vec<Event> = records
                .iter()
                .filter_map(|r| decode_event(&r.payload).ok())
                .collect();
            if !chunk.is_empty() {
                report.files += u64::from(report.files == 0);
                if !self.replay_chunk(backend, flow, &chunk, reader, &mut report)? {
                    progress(&report);
                    return Ok(report);
                }
                progress(&report);
            }
            reader.ack()?;
            if done {
                return Ok(report);
            }
        }
    }

    /// Delivers one chunk read from the queue; returns false when a transient failure
    /// stopped the replay (what failed went back to the queue's front).
    fn replay_chunk(
        &self,
        backend: &dyn Backend,
        flow: &Flow,
        chunk: &[Event],
        reader: &mut Reader,
        report: &mut ReplayReport,
    ) -> Result<bool> {
        let (delivered, failed) = deliver(backend, flow, chunk);
        report.delivered += delivered;
        let mut back = Vec::new();
        for (error, evs) in failed {
            if keeps(&error) {
                report.still_pending += evs.len() as u64;
                back.extend(evs);
            } else {
                report.dead += evs.len() as u64;
                self.write_dead(&evs, &error, backend.name())?;
            }
        }
        if back.is_empty() {
            return Ok(true);
        }
        let mut framed = Vec::new();
        let mut record = Vec::new();
        for e in &back {
            record.clear();
            encode_event(e, &mut record);
            frame(&record, &mut framed);
        }
        reader.requeue_front(&framed, false, || true)?;
        Ok(false)
    }

    /// Reads the `pending/` files of an earlier version into `queue`, oldest first, and
    /// removes them; returns how many events moved. A file that does not fit the budget
    /// stays, with what did not fit.
    pub(crate) fn migrate_pending(&self, queue: &DiskQueue) -> Result<u64> {
        let mut moved = 0;
        for path in self.pending_files()? {
            let events = match read_events(&path) {
                Ok(e) => e,
                Err(e) => {
                    log::error!("trackflow: {} cannot be read into the queue: {e}", path.display());
                    continue;
                }
            };
            let mut record = Vec::new();
            for (i, e) in events.iter().enumerate() {
                record.clear();
                encode_event(e, &mut record);
                if let Err(err) = queue.append(&record, |_| {}) {
                    keep_rest(&path, &events[i..])?;
                    return Err(match err {
                        AppendError::Full => Error::QueueFull,
                        AppendError::Io(e) => Error::Io(e),
                    });
                }
                moved += 1;
            }
            fs::remove_file(&path)?;
            let _ = fs::remove_file(path.with_extension("reason.json"));
        }
        let _ = fs::remove_dir(self.dir.join("pending"));
        Ok(moved)
    }
}

/// Rewrites a pending file with only `rest`, the events not yet moved.
fn keep_rest(path: &std::path::Path, rest: &[Event]) -> Result<()> {
    let dir: PathBuf = path.parent().map(PathBuf::from).unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    write_atomic(&dir, &name, &encode_lines(rest)?, false)?;
    Ok(())
}

/// Delivers `chunk` (splitting what is too large); returns how many were delivered and what
/// failed, grouped by reason.
/// A replay's request budget: adaptive, as a Background consumer's by default, within what
/// the backend takes (the File backend: one at a time).
pub(crate) fn replay_flow(backend: &dyn Backend) -> Flow {
    let ceiling = backend.max_in_flight().unwrap_or(DEFAULT_MAX_IN_FLIGHT);
    Flow::adaptive(ceiling.min(DEFAULT_MAX_IN_FLIGHT))
}

/// Events per delivery in a replay: a consumer's default batch for this backend (a
/// backend's per-delivery maximum can be 10,000 where its requests are small).
fn replay_batch(backend: &dyn Backend) -> usize {
    backend.default_batch().min(backend.max_batch()).max(1)
}

fn deliver(backend: &dyn Backend, flow: &Flow, chunk: &[Event]) -> (u64, Vec<(Error, Vec<Event>)>) {
    let cancel = Cancel::default();
    let ctx = DeliveryCtx::new(&cancel).with_flow(flow);
    let d = crate::consumer::deliver_split(backend, chunk, &ctx);
    let mut failed_at = vec![false; chunk.len()];
    let mut failed = Vec::new();
    for f in d.failures {
        let evs: Vec<Event> = f
            .events
            .iter()
            .filter(|&&i| i < chunk.len() && !std::mem::replace(&mut failed_at[i], true))
            .map(|&i| chunk[i].clone())
            .collect();
        failed.push((f.error, evs));
    }
    let delivered = failed_at.iter().filter(|f| !**f).count() as u64;
    (delivered, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Identity;

    #[test]
    fn pending_files_of_an_earlier_version_move_into_the_queue_once() {
        let dir = std::env::temp_dir().join(format!("tf-migrate-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let spool = Spool::open(&dir).unwrap();
        crate::disk::files::create_private_dir(&dir.join("pending")).unwrap();
        let events: Vec<Event> = (0..3)
            .map(|i| Event::track(format!("e{i}")).with_identity(Identity::user("u")))
            .collect();
        write_atomic(
            &dir.join("pending"),
            "1-1-1.jsonl",
            &encode_lines(&events).unwrap(),
            false,
        )
        .unwrap();
        let (q, _r) = DiskQueue::open_with(&spool.queue_dir(), u64::MAX, Mode::Mapped).unwrap();
        assert_eq!(spool.migrate_pending(&q).unwrap(), 3);
        assert_eq!(spool.migrate_pending(&q).unwrap(), 0, "once");
        assert!(!dir.join("pending").exists());
        drop((q, _r));
        let names: Vec<String> = spool
            .queued_events()
            .unwrap()
            .iter()
            .map(|e| e.name().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(names, ["e0", "e1", "e2"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
