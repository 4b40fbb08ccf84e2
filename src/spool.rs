//! Where batches that cannot be delivered go, so that nothing is lost without a trace.
//!
//! ```text
//! spool/                                       private: directories 0700, files 0600
//!   pending/1700000000500-4242-7.jsonl         events to deliver again (retries exhausted, shutdown
//!                                              deadline, a dead worker)
//!   pending/1700000000500-4242-7.reason.json   {"reason": "...", "backend": "growingio", "events": 3}
//!   dead/…                                     permanently rejected: kept for inspection, never replayed
//!   queue/…                                    the Background consumer's disk queue (its overflow
//!                                              spill), drained by the next tracker on this directory
//! ```
//!
//! # The default location
//!
//! A [`BackgroundConsumer`](crate::BackgroundConsumer) keeps its spool, without
//! configuration, in `<root>/<process name>/<backend name>`, where `<root>` is the first of:
//!
//! 1. `$TRACKFLOW_STATE_DIR`;
//! 2. `$XDG_STATE_HOME/trackflow`;
//! 3. `$HOME/.local/state/trackflow`;
//! 4. `<temp dir>/trackflow-state`.
//!
//! A second tracker of the same name on the same host takes `<backend name>.2`, and so on.
//!
//! Each file holds one batch in the neutral JSON-lines form (`trackflow send` reads it too).
//! Files are written under a temporary name, fsynced and renamed, so a crash leaves either the
//! whole file or none; the reason is written before its batch, so a batch never lacks one.
//! [`Spool::replay`] delivers pending files again and removes what was delivered.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::backend::Backend;
use crate::disk::files::{create_new_private, create_private_dir};
pub use crate::disk::Damage as DiskDamage;
use crate::disk::{decode_event, DiskQueue};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::transport::{Cancel, DeliveryCtx};

/// A spool directory.
///
/// # Examples
///
/// ```
/// use trackflow::{Error, Event, Identity, Spool};
/// # let dir = std::env::temp_dir().join(format!("trackflow-spool-doc-{}", std::process::id()));
/// let spool = Spool::open(&dir)?;
/// let e = Event::track("buy").with_identity(Identity::user("u1")).with_time(5);
/// spool.write(&[e], &Error::Transport("connection refused".into()), "growingio")?;
/// assert_eq!(spool.pending_files()?.len(), 1);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    seq: AtomicU64,
}

/// What [`Spool::replay`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Pending files read.
    pub files: u64,
    /// Events delivered (their files removed).
    pub delivered: u64,
    /// Events that failed again and stay pending.
    pub still_pending: u64,
    /// Events rejected for good, moved to `dead/`.
    pub dead: u64,
}

impl std::ops::Add for ReplayReport {
    type Output = ReplayReport;
    fn add(self, o: ReplayReport) -> ReplayReport {
        ReplayReport {
            files: self.files + o.files,
            delivered: self.delivered + o.delivered,
            still_pending: self.still_pending + o.still_pending,
            dead: self.dead + o.dead,
        }
    }
}

/// Whether a failure is worth delivering again later (else the batch is a dead letter).
fn replayable(e: &Error) -> bool {
    e.is_transient()
        || matches!(
            e,
            Error::Cancelled | Error::WorkerGone | Error::Transport(_) | Error::Io(_)
        )
}

/// The environment variable that overrides the default state root (see the module docs).
pub const STATE_DIR_ENV: &str = "TRACKFLOW_STATE_DIR";

/// The default state directory of this process: `<root>/<process name>` (see the module
/// docs), or `None` when no root can be named.
///
/// # Examples
///
/// ```
/// let dir = trackflow::spool::default_state_dir().expect("a temp dir at least");
/// assert!(dir.ends_with(trackflow::spool::process_name()));
/// ```
pub fn default_state_dir() -> Option<PathBuf> {
    state_root(|k| std::env::var_os(k)).map(|root| root.join(process_name()))
}

fn state_root(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(p) = env(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = env("XDG_STATE_HOME").and_then(abs) {
        return Some(p.join("trackflow"));
    }
    if let Some(p) = env("HOME").and_then(abs) {
        return Some(p.join(".local/state/trackflow"));
    }
    Some(std::env::temp_dir().join("trackflow-state"))
}

/// The name this process goes by in the default state directory: its executable's file
/// name, without extension, made safe for a path.
///
/// # Examples
///
/// ```
/// let name = trackflow::spool::process_name();
/// assert!(!name.is_empty() && !name.contains('/'));
/// ```
pub fn process_name() -> String {
    let raw = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let safe: String = raw
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match safe.trim_start_matches('.') {
        "" => "trackflow".to_owned(),
        s => s.to_owned(),
    }
}

impl Spool {
    /// Opens (creating) a spool under `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directories cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-{}", std::process::id()));
    /// let spool = trackflow::Spool::open(&dir)?;
    /// assert!(dir.join("pending").is_dir() && dir.join("dead").is_dir());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> Result<Spool> {
        let dir = dir.as_ref().to_path_buf();
        create_private_dir(&dir.join("pending"))?;
        create_private_dir(&dir.join("dead"))?;
        Ok(Spool {
            dir,
            seq: AtomicU64::new(0),
        })
    }

    /// Where the Background consumer's disk queue lives in this spool.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-q-{}", std::process::id()));
    /// assert_eq!(trackflow::Spool::open(&dir)?.queue_dir(), dir.join("queue"));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queue_dir(&self) -> PathBuf {
        self.dir.join("queue")
    }

    /// The spool's directory.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-dir-{}", std::process::id()));
    /// assert_eq!(trackflow::Spool::open(&dir)?.dir(), dir.as_path());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `events` that failed with `error` on `backend`: to `pending/` when delivering
    /// them again may succeed, to `dead/` when the collector refused them for good.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the files cannot be written.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-w-{}", std::process::id()));
    /// use trackflow::{Error, Event, Identity, Spool};
    /// let spool = Spool::open(&dir)?;
    /// let e = Event::track("buy").with_identity(Identity::user("u1"));
    /// spool.write(&[e], &Error::Status { code: 400, body: "bad".into() }, "growingio")?;
    /// assert_eq!(spool.dead_files()?.len(), 1, "refused for good: a dead letter");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(&self, events: &[Event], error: &Error, backend: &str) -> Result<PathBuf> {
        let sub = if replayable(error) { "pending" } else { "dead" };
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let name = format!(
            "{ms}-{}-{}",
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.dir.join(sub);
        let reason =
            serde_json::json!({ "reason": error.to_string(), "backend": backend, "events": events.len() });
        write_atomic(&dir, &format!("{name}.reason.json"), |f| {
            serde_json::to_writer(&mut *f, &reason).map_err(|e| Error::Io(e.into()))
        })?;
        write_atomic(&dir, &format!("{name}.jsonl"), |f| write_events(f, events))
    }

    /// Pending batch files, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-p-{}", std::process::id()));
    /// assert!(trackflow::Spool::open(&dir)?.pending_files()?.is_empty());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending_files(&self) -> Result<Vec<PathBuf>> {
        list(&self.dir.join("pending"))
    }

    /// Dead-letter batch files, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-d-{}", std::process::id()));
    /// assert!(trackflow::Spool::open(&dir)?.dead_files()?.is_empty());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dead_files(&self) -> Result<Vec<PathBuf>> {
        list(&self.dir.join("dead"))
    }

    /// Delivers every pending batch to `backend` again, in batches of its `max_batch`: first
    /// what a Background consumer left in the disk queue (unless a live tracker holds it),
    /// then the pending files. A batch delivered in full is removed; events refused for good
    /// move to `dead/`; events that fail again stay pending (their file rewritten with only
    /// them).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a spool file cannot be read or rewritten.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-r-{}", std::process::id()));
    /// use trackflow::{Error, Event, Identity, MemoryBackend, Spool};
    /// let spool = Spool::open(&dir)?;
    /// spool.write(&[Event::track("buy").with_identity(Identity::user("u1"))], &Error::Transport("down".into()), "memory")?;
    /// let memory = MemoryBackend::new();
    /// let report = spool.replay(&memory)?;
    /// assert_eq!((report.delivered, memory.events().len()), (1, 1));
    /// assert!(spool.pending_files()?.is_empty());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn replay(&self, backend: &dyn Backend) -> Result<ReplayReport> {
        let mut report = self.replay_queue(backend)?;
        let cancel = Cancel::default();
        let ctx = DeliveryCtx::new(&cancel);
        for path in self.pending_files()? {
            report.files += 1;
            let events = read_events(&path)?;
            let mut again: Vec<Event> = Vec::new();
            for chunk in events.chunks(backend.max_batch().max(1)) {
                let d = crate::consumer::deliver_split(backend, chunk, &ctx);
                let mut failed = vec![false; chunk.len()];
                for f in &d.failures {
                    let evs: Vec<Event> = f.events.iter().filter_map(|&i| chunk.get(i).cloned()).collect();
                    for &i in &f.events {
                        if let Some(x) = failed.get_mut(i) {
                            *x = true;
                        }
                    }
                    if replayable(&f.error) {
                        report.still_pending += evs.len() as u64;
                        again.extend(evs);
                    } else {
                        report.dead += evs.len() as u64;
                        self.write(&evs, &f.error, backend.name())?;
                    }
                }
                report.delivered += failed.iter().filter(|f| !**f).count() as u64;
            }
            let reason = path.with_extension("reason.json");
            if again.is_empty() {
                fs::remove_file(&path)?;
                let _ = fs::remove_file(reason);
            } else {
                let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                write_atomic(&dir, &name, |f| write_events(f, &again))?;
            }
        }
        Ok(report)
    }
}

impl Spool {
    /// The events a Background consumer left in this spool's disk queue (its overflow spill
    /// at a shutdown deadline, or a dead process's), read without removing them.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a tracker holds the queue or it cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-queued-{}", std::process::id()));
    /// let spool = trackflow::Spool::open(&dir)?;
    /// assert!(spool.queued_events()?.is_empty());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queued_events(&self) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        if !self.queue_dir().is_dir() {
            return Ok(out);
        }
        let (_q, mut reader) = DiskQueue::open(&self.queue_dir(), u64::MAX)?;
        let mut records = Vec::new();
        while !reader.read(4096, &mut records, || true, || {})? {}
        for r in records {
            out.push(decode_event(&r.payload)?);
        }
        Ok(out)
    }

    /// Delivers what the disk queue holds; events that fail go to `pending/` or `dead/`.
    fn replay_queue(&self, backend: &dyn Backend) -> Result<ReplayReport> {
        let mut report = ReplayReport::default();
        if !self.queue_dir().is_dir() {
            return Ok(report);
        }
        let (_q, mut reader) = match DiskQueue::open(&self.queue_dir(), u64::MAX) {
            Ok(q) => q,
            // A live tracker drains it itself.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(report),
            Err(e) => return Err(e.into()),
        };
        let cancel = Cancel::default();
        let ctx = DeliveryCtx::new(&cancel);
        loop {
            let mut records = Vec::new();
            let done = reader.read(backend.max_batch().max(1), &mut records, || true, || {})?;
            let chunk: Vec<Event> = records
                .iter()
                .filter_map(|r| decode_event(&r.payload).ok())
                .collect();
            if !chunk.is_empty() {
                report.files += u64::from(report.files == 0);
                let d = crate::consumer::deliver_split(backend, &chunk, &ctx);
                report.delivered += (chunk.len() - d.failed().min(chunk.len())) as u64;
                for f in &d.failures {
                    let evs: Vec<Event> = f.events.iter().filter_map(|&i| chunk.get(i).cloned()).collect();
                    if replayable(&f.error) {
                        report.still_pending += evs.len() as u64;
                    } else {
                        report.dead += evs.len() as u64;
                    }
                    self.write(&evs, &f.error, backend.name())?;
                }
            }
            reader.ack()?;
            if done {
                return Ok(report);
            }
        }
    }
}

fn write_events(f: &mut File, events: &[Event]) -> Result<()> {
    let mut buf = Vec::with_capacity(events.len() * 256);
    for e in events {
        serde_json::to_writer(&mut buf, e).map_err(|e| Error::Io(e.into()))?;
        buf.push(b'\n');
    }
    f.write_all(&buf)?;
    Ok(())
}

/// Reads a spool (or any neutral JSON-lines) file.
///
/// # Errors
///
/// [`Error::Io`] for an unreadable file, [`Error::Config`] naming the line that is not an
/// event.
///
/// # Examples
///
/// ```
/// # let path = std::env::temp_dir().join(format!("tf-doc-read-{}.jsonl", std::process::id()));
/// std::fs::write(&path, "{\"type\":\"track\",\"event\":\"a\",\"user_id\":\"u\"}\n")?;
/// assert_eq!(trackflow::spool::read_events(&path)?.len(), 1);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let f = File::open(path)?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(crate::codec::exact::from_str(&line).map_err(|e| {
            Error::Config(format!(
                "{}:{}: not a trackflow event: {e}",
                path.display(),
                i + 1
            ))
        })?);
    }
    Ok(out)
}

/// Writes `name` under `dir` crash-safely: a temporary file, fsync, rename, fsync of the
/// directory.
fn write_atomic(dir: &Path, name: &str, fill: impl FnOnce(&mut File) -> Result<()>) -> Result<PathBuf> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    // A temporary file left by a crash is ours to replace, but never one a link points
    // elsewhere: remove it, then create anew.
    let _ = fs::remove_file(&tmp);
    let mut f = create_new_private(&tmp)?;
    fill(&mut f)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, &path)?;
    // The rename itself is durable only once the directory is.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.ends_with(".jsonl") && !name.starts_with('.')
        })
        .collect();
    // Names start with the write time in ms, then pid and sequence: sorting by the numeric
    // prefix orders them by age.
    files.sort_by_key(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut parts = name
            .trim_end_matches(".jsonl")
            .split('-')
            .map(|x| x.parse::<u128>().unwrap_or(0));
        (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        )
    });
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn root(vars: &[(&str, &str)]) -> Option<PathBuf> {
        state_root(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v)))
    }

    #[test]
    fn the_state_root_follows_the_documented_order() {
        let all = [
            (STATE_DIR_ENV, "/srv/tf"),
            ("XDG_STATE_HOME", "/x/state"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(root(&all), Some(PathBuf::from("/srv/tf")));
        assert_eq!(root(&all[1..]), Some(PathBuf::from("/x/state/trackflow")));
        assert_eq!(
            root(&all[2..]),
            Some(PathBuf::from("/home/u/.local/state/trackflow"))
        );
        assert_eq!(root(&[]), Some(std::env::temp_dir().join("trackflow-state")));
        // Relative XDG paths are ignored, as the XDG spec says.
        assert_eq!(
            root(&[("XDG_STATE_HOME", "rel"), ("HOME", "/h")]),
            Some(PathBuf::from("/h/.local/state/trackflow"))
        );
    }
}
