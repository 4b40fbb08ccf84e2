//! What a store holds, read from its directory: the backlog of its disk queue, its dead
//! letters by reason, and whether a live process holds it (`trackflow status`).
//!
//! ```text
//!  DIR ─┬─ queue/   backlog: events, bytes, the oldest event's age (exact when no process
//!       │           holds it; while one does, bytes only: the process's own stats say more)
//!       └─ dead/    *.jsonl + *.reason.json ─► counts by reason
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::disk::{decode_event, DiskQueue};
use crate::error::Result;

/// One store's state.
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tf-doc-status-{}", std::process::id()));
/// use trackflow::{Error, Event, Identity, spool::Spool};
/// let spool = Spool::open(&dir)?;
/// let e = Event::track("buy").with_identity(Identity::user("u1"));
/// spool.write(&[e.clone(), e], &Error::Status { code: 400, body: "bad".into() }, "growingio")?;
/// let s = trackflow::spool::store_status(&dir)?;
/// assert_eq!((s.backlog_events, s.dead.len(), s.dead[0].events), (Some(0), 1, 2));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StoreStatus {
    /// The store's directory.
    pub dir: PathBuf,
    /// Whether a live process holds its disk queue (a tracker delivering from it).
    pub held: bool,
    /// Events waiting in the disk queue; `None` while a process holds it.
    pub backlog_events: Option<u64>,
    /// Bytes the disk queue's files take.
    pub backlog_bytes: u64,
    /// The oldest waiting event's age by its time, in ms; `None` with none (or held).
    pub oldest_age_ms: Option<u64>,
    /// Dead letters (refused for good), grouped by reason, most events first.
    pub dead: Vec<DeadLetters>,
}

/// Dead letters of one reason.
///
/// # Examples
///
/// ```
/// let d = trackflow::spool::DeadLetters { reason: "HTTP 400".into(), events: 3, files: 1 };
/// assert_eq!(serde_json::to_value(&d).unwrap()["events"], 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetters {
    /// The reason, as written beside them (secrets masked).
    pub reason: String,
    /// Events refused for it.
    pub events: u64,
    /// Files holding them.
    pub files: u64,
}

/// The status of the store at `dir`, or of each store below it (a state directory holds one
/// per backend): stores are directories with a `queue/` or a `dead/`.
///
/// # Errors
///
/// [`Error::Io`](crate::Error::Io) when `dir` cannot be read.
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tf-doc-statuses-{}", std::process::id()));
/// trackflow::spool::Spool::open(dir.join("growingio"))?;
/// trackflow::spool::Spool::open(dir.join("gravity"))?;
/// let all = trackflow::spool::stores_status(&dir)?;
/// assert_eq!(all.len(), 2);
/// assert!(all.iter().all(|s| s.backlog_events == Some(0) && !s.held));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn stores_status(dir: &Path) -> Result<Vec<StoreStatus>> {
    if is_store(dir) {
        return Ok(vec![store_status(dir)?]);
    }
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_store(p))
        .collect();
    dirs.sort();
    dirs.iter().map(|d| store_status(d)).collect()
}

fn is_store(dir: &Path) -> bool {
    dir.join("queue").is_dir() || dir.join("dead").is_dir()
}

/// The status of the store at `dir` (see [`StoreStatus`]).
///
/// # Errors
///
/// [`Error::Io`](crate::Error::Io) when its files cannot be read.
pub fn store_status(dir: &Path) -> Result<StoreStatus> {
    let queue = dir.join("queue");
    let held = is_held(&queue);
    let (backlog_events, oldest) = if held || !queue.is_dir() {
        (if held { None } else { Some(0) }, None)
    } else {
        let (n, oldest) = count(&queue)?;
        (Some(n), oldest)
    };
    let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
    Ok(StoreStatus {
        dir: dir.to_path_buf(),
        held,
        backlog_events,
        backlog_bytes: segment_bytes(&queue),
        oldest_age_ms: oldest.map(|t| now.saturating_sub(t).max(0) as u64),
        dead: dead_letters(&dir.join("dead"))?,
    })
}

/// Whether a process holds the queue's lock (the lock file is never created here).
fn is_held(queue: &Path) -> bool {
    let Ok(f) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(queue.join("lock"))
    else {
        return false;
    };
    matches!(f.try_lock(), Err(fs::TryLockError::WouldBlock))
}

/// Events in the queue and the oldest one's time, read as a tracker would and left there.
fn count(queue: &Path) -> Result<(u64, Option<i64>)> {
    let (_q, mut reader) = DiskQueue::open(queue, u64::MAX)?;
    let (mut n, mut oldest) = (0u64, None::<i64>);
    loop {
        let done = reader.read_each(
            4096,
            || true,
            || {},
            |payload, _| {
                n += 1;
                if let Ok(e) = decode_event(payload) {
                    oldest = Some(oldest.map_or(e.time, |o| o.min(e.time)));
                }
            },
        )?;
        if done {
            return Ok((n, oldest));
        }
    }
}

fn segment_bytes(queue: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(queue) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| crate::disk::stored(&m))
        .sum()
}

/// Dead letters by reason, from the reason file beside each.
fn dead_letters(dead: &Path) -> Result<Vec<DeadLetters>> {
    let mut by: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    if dead.is_dir() {
        for path in super::list(dead)? {
            let about = fs::read(path.with_extension("reason.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            let reason = about
                .as_ref()
                .and_then(|v| v["reason"].as_str())
                .unwrap_or("(no reason file)")
                .to_owned();
            let events = match about.as_ref().and_then(|v| v["events"].as_u64()) {
                Some(n) => n,
                None => super::read_events(&path).map_or(0, |e| e.len() as u64),
            };
            let slot = by.entry(reason).or_default();
            slot.0 += events;
            slot.1 += 1;
        }
    }
    let mut out: Vec<DeadLetters> = by
        .into_iter()
        .map(|(reason, (events, files))| DeadLetters {
            reason,
            events,
            files,
        })
        .collect();
    out.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.reason.cmp(&b.reason)));
    Ok(out)
}
