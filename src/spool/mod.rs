//! A consumer's directory on disk: its store (the disk queue) and its dead letters.
//!
//! ```text
//! <dir>/                                       private: directories 0700, files 0600
//!   queue/…                                    the store: the Background consumer's disk queue (spill,
//!                                              journal, and what a shutdown handed back), delivered
//!                                              first and by itself by the next tracker on this directory
//!   dead/1700000000500-4242-7.jsonl            refused for good (a 4xx, a backend's own refusal):
//!   dead/1700000000500-4242-7.reason.json      {"reason": "...", "backend": "growingio", "events": 3}
//! ```
//!
//! Nothing in it waits for a person but dead letters: an event that could not be delivered
//! for a transient reason stays in the store and is sent again. [`Spool::replay`] serves the
//! dead letters once their cause is fixed, and a store moved from another machine. A
//! `pending/` directory of earlier versions is read into the queue once, when a Background
//! consumer opens the directory.
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
//! Each dead-letter file holds one group of events refused together, in the neutral
//! JSON-lines form (`trackflow send` reads it too), with its reason beside it; the reason is
//! written first, so a batch never lacks one. Dead letters count against the consumer's disk
//! budget, with its queue.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use serde::Serialize;

mod location;
mod replay;
mod status;
pub(crate) use replay::replay_flow;
pub use status::{store_status, stores_status, DeadLetters, StoreStatus};

use crate::disk::files::create_private_dir;
pub(crate) use crate::disk::files::write_atomic;
pub use crate::disk::DiskDamage;

/// Default for [`BackgroundConsumerBuilder::max_disk_bytes`](crate::consumer::BackgroundConsumerBuilder::max_disk_bytes): 1 GiB.
pub const DEFAULT_MAX_DISK_BYTES: u64 = 1 << 30;
use crate::disk::{decode_event, AppendError, DiskQueue, Mode, Reader};
use crate::error::{Error, Result};
use crate::event::Event;

/// A spool directory: a consumer's store and its dead letters (see the module docs).
///
/// # Examples
///
/// ```
/// use trackflow::{Error, Event, Identity, spool::Spool};
/// # let dir = std::env::temp_dir().join(format!("trackflow-spool-doc-{}", std::process::id()));
/// let spool = Spool::open(&dir)?;
/// let e = Event::track("buy").with_identity(Identity::user("u1")).with_time(5);
/// // A refusal for good is a dead letter; a transient failure goes to the store's queue.
/// spool.write(&[e.clone()], &Error::Status { code: 400, body: "bad".into() }, "growingio")?;
/// spool.write(&[e], &Error::Transport("connection refused".into()), "growingio")?;
/// assert_eq!((spool.dead_files()?.len(), spool.queued_events()?.len()), (1, 1));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    // The store's open disk queue: dead letters count against its budget, and transient
    // failures go into it. A Background consumer's (its worker reads it), or opened here for
    // the first failure to keep (with its reader, for `replay`).
    queue: Mutex<Option<Box<Held>>>,
}

/// The disk queue a spool holds open, with its reader unless a consumer's worker has it.
#[derive(Debug)]
struct Held {
    queue: Arc<DiskQueue>,
    reader: Option<Reader>,
}

/// What [`Spool::replay`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Dead-letter files read (and the queue, counted as one).
    pub files: u64,
    /// Events delivered (their files removed, or acknowledged in the queue).
    pub delivered: u64,
    /// Events that failed again for a transient reason and stay where they were.
    pub still_pending: u64,
    /// Events refused for good again: dead letters.
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

/// Whether a failure is worth delivering again later (else the events are dead letters).
pub(crate) fn keeps(e: &Error) -> bool {
    e.is_transient() || matches!(e, Error::Cancelled | Error::WorkerGone | Error::Io(_))
}

pub(crate) use location::usable_state_dir;
pub use location::{default_state_dir, process_name, STATE_DIR_ENV};

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
    /// let spool = trackflow::spool::Spool::open(&dir)?;
    /// assert!(dir.join("dead").is_dir());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> Result<Spool> {
        let dir = dir.as_ref().to_path_buf();
        create_private_dir(&dir.join("dead"))?;
        Ok(Spool {
            dir,
            queue: Mutex::new(None),
        })
    }

    /// Ties this spool to its consumer's open disk queue: dead letters count against the
    /// queue's budget (those already here are charged now), and transient failures written
    /// with [`write`](Self::write) go into it.
    pub(crate) fn attach(&self, queue: Arc<DiskQueue>) {
        let dead: u64 = self
            .dead_files()
            .unwrap_or_default()
            .iter()
            .flat_map(|p| [p.clone(), p.with_extension("reason.json")])
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        queue.charge(dead);
        *self.queue.lock() = Some(Box::new(Held { queue, reader: None }));
    }

    /// Where the Background consumer's disk queue lives in this spool.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-q-{}", std::process::id()));
    /// assert_eq!(trackflow::spool::Spool::open(&dir)?.queue_dir(), dir.join("queue"));
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
    /// assert_eq!(trackflow::spool::Spool::open(&dir)?.dir(), dir.as_path());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `events` that failed with `error` on `backend`: into the store's queue when
    /// delivering them again may succeed (a tracker on this directory delivers them by
    /// itself), to `dead/` when they were refused for good.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when they cannot be written (the queue held by another process, say),
    /// [`Error::QueueFull`] past the disk budget.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-w-{}", std::process::id()));
    /// use trackflow::{Error, Event, Identity, spool::Spool};
    /// let spool = Spool::open(&dir)?;
    /// let e = Event::track("buy").with_identity(Identity::user("u1"));
    /// spool.write(&[e], &Error::Status { code: 400, body: "bad".into() }, "growingio")?;
    /// assert_eq!(spool.dead_files()?.len(), 1, "refused for good: a dead letter");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(&self, events: &[Event], error: &Error, backend: &str) -> Result<()> {
        if keeps(error) {
            self.enqueue(events)
        } else {
            self.write_dead(events, error, backend).map(|_| ())
        }
    }

    /// Appends `events` to the store's queue: the consumer's, or the directory's opened for
    /// the while.
    fn enqueue(&self, events: &[Event]) -> Result<()> {
        let queue = self.held_queue()?;
        let mut record = Vec::new();
        for e in events {
            record.clear();
            crate::disk::encode_event(e, &mut record);
            queue.append(&record, |_| {}).map_err(|e| match e {
                AppendError::Full => Error::QueueFull,
                AppendError::Io(e) => Error::Io(e),
            })?;
        }
        Ok(())
    }

    /// The store's queue, opened (and held, with its lock) on first use.
    fn held_queue(&self) -> Result<Arc<DiskQueue>> {
        let mut held = self.queue.lock();
        if let Some(h) = held.as_ref() {
            return Ok(h.queue.clone());
        }
        let (queue, reader) = DiskQueue::open_with(&self.queue_dir(), DEFAULT_MAX_DISK_BYTES, Mode::Mapped)?;
        *held = Some(Box::new(Held {
            queue: queue.clone(),
            reader: Some(reader),
        }));
        Ok(queue)
    }

    /// The charged queue, for the budget of dead letters.
    pub(crate) fn budget(&self) -> Option<Arc<DiskQueue>> {
        self.queue.lock().as_ref().map(|h| h.queue.clone())
    }

    /// Writes `events` refused for good to `dead/`, with the reason (masked) beside them.
    pub(crate) fn write_dead(&self, events: &[Event], error: &Error, backend: &str) -> Result<PathBuf> {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        // One sequence for the whole process: two spools on one directory (a tracker
        // restarted within the millisecond, `Spool::open` twice) must not pick one name, and
        // the second write replace the first's dead letters.
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{ms}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.dir.join("dead");
        let reason = serde_json::to_vec(&serde_json::json!({
            "reason": crate::transport::mask::mask_secrets(&error.to_string()),
            "backend": backend,
            "events": events.len(),
        }))
        .map_err(|e| Error::Io(e.into()))?;
        let body = encode_lines(events)?;
        let bytes = (reason.len() + body.len()) as u64;
        if let Some(q) = self.budget()
            && !q.reserve(bytes)
        {
            return Err(Error::QueueFull);
        }
        write_atomic(&dir, &format!("{name}.reason.json"), &reason, false)?;
        Ok(write_atomic(&dir, &format!("{name}.jsonl"), &body, false)?)
    }

    /// Files an earlier version left in `pending/` (events to deliver again), oldest first:
    /// a Background consumer reads them into its queue when it opens this directory, and
    /// [`replay`](Self::replay) does too. Empty when there is no such directory.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-spool-p-{}", std::process::id()));
    /// assert!(trackflow::spool::Spool::open(&dir)?.pending_files()?.is_empty());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending_files(&self) -> Result<Vec<PathBuf>> {
        let dir = self.dir.join("pending");
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        list(&dir)
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
    /// assert!(trackflow::spool::Spool::open(&dir)?.dead_files()?.is_empty());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dead_files(&self) -> Result<Vec<PathBuf>> {
        list(&self.dir.join("dead"))
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
    /// let spool = trackflow::spool::Spool::open(&dir)?;
    /// assert!(spool.queued_events()?.is_empty());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queued_events(&self) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        if !self.queue_dir().is_dir() {
            return Ok(out);
        }
        {
            // A queue this spool opened to keep failures closes, so that it can be read; one
            // a live consumer holds stays held (and reading it is refused).
            let mut held = self.queue.lock();
            if held.as_ref().is_some_and(|h| h.reader.is_some()) {
                *held = None;
            }
        }
        let (_q, mut reader) = DiskQueue::open(&self.queue_dir(), u64::MAX)?;
        let mut records = Vec::new();
        while !reader.read(4096, &mut records, || true, || {})? {}
        for r in records {
            out.push(decode_event(&r.payload)?);
        }
        Ok(out)
    }
}

/// Events as neutral JSON lines.
pub(crate) fn encode_lines(events: &[Event]) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(events.len() * 256);
    for e in events {
        serde_json::to_writer(&mut buf, e).map_err(|e| Error::Io(e.into()))?;
        buf.push(b'\n');
    }
    Ok(buf)
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

pub(crate) fn list(dir: &Path) -> Result<Vec<PathBuf>> {
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
