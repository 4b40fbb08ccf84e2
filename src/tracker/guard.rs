//! A guard that shuts the tracker down when it goes out of scope.

use std::ops::Deref;
use std::time::Duration;

use super::Tracker;

/// Default deadline of the guard's shutdown.
pub const DEFAULT_GUARD_TIMEOUT: Duration = Duration::from_secs(2);

/// Shuts its tracker down, within a bounded deadline, when dropped. Derefs to the tracker.
///
/// With the `tokio` feature, a guard dropped on a tokio runtime thread hands the shutdown to
/// the runtime's blocking pool and returns at once; the runtime, when it is dropped, waits
/// for it. To know when it is done, call `Tracker::shutdown_async` instead.
///
/// # Examples
///
/// ```
/// use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Properties, Tracker};
///
/// let memory = MemoryBackend::new();
/// {
///     let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(memory.clone()).build()).build()?;
///     let guard = tracker.guard();
///     guard.track(&Identity::user("u1"), "open", Properties::new())?;
/// } // guard dropped: queued events delivered
/// assert_eq!(memory.events().len(), 1);
/// # Ok::<(), trackflow::Error>(())
/// ```
#[must_use = "dropping the guard shuts the tracker down at once: bind it (`let _guard = …`) for as long as events are tracked"]
#[derive(Debug)]
pub struct TrackerGuard {
    tracker: Tracker,
    timeout: Duration,
}

impl TrackerGuard {
    pub(crate) fn new(tracker: Tracker, timeout: Duration) -> Self {
        TrackerGuard { tracker, timeout }
    }

    /// Sets the deadline of the shutdown on drop. Defaults to 2 s.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Tracker};
    /// # let memory = MemoryBackend::new();
    /// # let t = Tracker::builder().consumer(BackgroundConsumer::builder(memory.clone()).build()).build()?;
    /// let guard = t.guard().timeout(std::time::Duration::from_secs(5));
    /// t.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// drop(guard); // flushes, within 5 s, and stops
    /// assert_eq!(memory.events().len(), 1);
    /// assert!(t.track(&Identity::user("u1"), "late", [("n", 1)]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
}

impl Deref for TrackerGuard {
    type Target = Tracker;
    fn deref(&self) -> &Tracker {
        &self.tracker
    }
}

impl Drop for TrackerGuard {
    fn drop(&mut self) {
        if self.tracker.is_shut_down() {
            return;
        }
        let (tracker, timeout) = (self.tracker.clone(), self.timeout);
        let shutdown = move || shutdown_logged(&tracker, timeout);
        // On a tokio runtime thread the wait goes to the blocking pool.
        #[cfg(feature = "tokio")]
        crate::runtime::off_runtime(shutdown);
        #[cfg(not(feature = "tokio"))]
        shutdown();
    }
}

fn shutdown_logged(tracker: &Tracker, timeout: Duration) {
    match tracker.shutdown(timeout) {
        Ok(r) if r.left > 0 || r.stats.failed > 0 || r.stats.dropped > 0 => log::warn!(
            "trackflow: shut down with {} events left, {} failed, {} dropped",
            r.left,
            r.stats.failed,
            r.stats.dropped
        ),
        Ok(_) => {}
        Err(e) => log::warn!("trackflow: shutdown on drop: {e}"),
    }
}

impl Tracker {
    /// A guard that shuts this tracker down (2 s deadline) when dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Tracker};
    /// # let memory = MemoryBackend::new();
    /// let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(memory.clone()).build()).build()?;
    /// {
    ///     let _guard = tracker.guard();
    ///     // … track for the life of the program; dropping `_guard` flushes and stops.
    ///     tracker.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// }
    /// assert_eq!(memory.events().len(), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn guard(&self) -> TrackerGuard {
        TrackerGuard::new(self.clone(), DEFAULT_GUARD_TIMEOUT)
    }
}
