//! A health verdict per backend and overall, from what the consumer's requests lately came
//! to, its circuit, and what waits on disk.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::delivery::{CircuitState, Condition};

/// How long after a throttling reply a backend still counts as degraded.
const THROTTLED_RECENTLY: Duration = Duration::from_secs(10);

/// A backend's state, worst last.
///
/// # Examples
///
/// ```
/// use trackflow::observe::Status;
/// assert!(Status::Healthy < Status::Degraded && Status::Degraded < Status::Down);
/// assert_eq!(serde_json::to_string(&Status::Down).unwrap(), "\"down\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Requests succeed and nothing waits on disk.
    Healthy,
    /// Delivering, but behind: requests fail for a transient reason and are retried, the
    /// collector throttles, or events wait on disk because the memory queue overflowed.
    Degraded,
    /// The circuit is open: the backend kept failing, and only a probe goes now and then.
    Down,
}

/// One backend's health.
///
/// # Examples
///
/// ```
/// use trackflow::{ImmediateConsumer, MemoryBackend, Tracker};
/// let t = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
/// let h = &t.health().backends[0];
/// assert_eq!((h.name.as_str(), h.status, h.backlog), ("memory", trackflow::observe::Status::Healthy, 0));
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BackendHealth {
    /// The consumer's label, as in [`backend_stats`](crate::Tracker::backend_stats).
    pub name: String,
    /// The backend's kind.
    pub backend: &'static str,
    /// The verdict.
    pub status: Status,
    /// Why, in a few words.
    pub reason: String,
    /// Since when (Unix ms) the backend has been in this state, as far as its requests
    /// tell (the start of a run of failures, the circuit's opening, the last recovery).
    pub since_ms: i64,
    /// The last error a request met (secrets masked), with when (Unix ms); it stays after
    /// a recovery, for the record.
    pub last_error: Option<String>,
    /// When the last error came (Unix ms).
    pub last_error_ms: Option<i64>,
    /// Events accepted and not yet delivered: in memory, on disk, in flight.
    pub backlog: u64,
}

/// Every backend's health and one verdict: the worst of them.
///
/// # Examples
///
/// ```
/// use trackflow::{ImmediateConsumer, MemoryBackend, Tracker};
/// let t = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
/// let h = t.health();
/// assert!(h.is_healthy());
/// assert_eq!(serde_json::to_value(&h).unwrap()["status"], "healthy");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// The worst backend's status (healthy with no backend).
    pub status: Status,
    /// Each consumer's, in the order they were added.
    pub backends: Vec<BackendHealth>,
}

impl Health {
    pub(crate) fn of(backends: Vec<BackendHealth>) -> Health {
        let status = backends.iter().map(|b| b.status).max().unwrap_or(Status::Healthy);
        Health { status, backends }
    }

    /// Whether every backend is healthy.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{ImmediateConsumer, MemoryBackend, Tracker};
    /// let t = Tracker::builder().consumer(ImmediateConsumer::new(MemoryBackend::new())).build()?;
    /// assert!(t.health().is_healthy());
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn is_healthy(&self) -> bool {
        self.status == Status::Healthy
    }
}

/// What a consumer's health is made from.
pub(crate) struct Signs {
    pub(crate) circuit: CircuitState,
    pub(crate) open_for: Option<Duration>,
    pub(crate) condition: Option<Condition>,
    pub(crate) on_disk: u64,
    pub(crate) backlog: u64,
}

/// The verdict for one consumer, worst sign first.
pub(crate) fn judge(name: String, backend: &'static str, signs: Signs) -> BackendHealth {
    let now = SystemTime::now();
    let cond = signs.condition.unwrap_or_default();
    let (status, reason, since) = if signs.circuit != CircuitState::Closed {
        let since = now - signs.open_for.unwrap_or_default();
        (
            Status::Down,
            "the circuit is open: the backend keeps failing".to_owned(),
            since,
        )
    } else if let Some(t) = cond.failing_since {
        (
            Status::Degraded,
            "requests fail for a transient reason and are retried".to_owned(),
            t,
        )
    } else if cond.throttled_within(THROTTLED_RECENTLY) {
        (
            Status::Degraded,
            "the collector throttles".to_owned(),
            cond.well_since,
        )
    } else if signs.on_disk > 0 {
        let reason = format!(
            "{} events wait on disk (the memory queue overflowed)",
            signs.on_disk
        );
        (Status::Degraded, reason, cond.well_since)
    } else {
        (Status::Healthy, "ok".to_owned(), cond.well_since)
    };
    let (last_error_ms, last_error) = match cond.last_error {
        Some((at, text)) => (Some(unix_ms(at)), Some(text)),
        None => (None, None),
    };
    BackendHealth {
        name,
        backend,
        status,
        reason,
        since_ms: unix_ms(since),
        last_error,
        last_error_ms,
        backlog: signs.backlog,
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
