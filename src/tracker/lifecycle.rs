//! Flushing and shutting down: every consumer at once, each within the whole deadline.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Tracker;
use crate::consumer::{Consumer, ShutdownReport, DEFAULT_FLUSH_TIMEOUT};
use crate::error::{Error, Result};

impl Tracker {
    /// Delivers everything tracked before this call, waiting at most 5 s
    /// ([`DEFAULT_FLUSH_TIMEOUT`]). Failures go to the error callbacks and stats.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if a consumer did not finish in time.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Tracker};
    /// # let memory = MemoryBackend::new();
    /// # let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(memory.clone()).build()).build()?;
    /// tracker.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// tracker.flush()?;
    /// // When flush returns, what was tracked before it has been delivered.
    /// assert_eq!(memory.events().len(), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn flush(&self) -> Result<()> {
        self.flush_timeout(DEFAULT_FLUSH_TIMEOUT)
    }

    /// [`flush`](Self::flush) with a deadline of your choosing.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if a consumer did not finish in time; [`Error::AlreadyShutdown`]
    /// after [`shutdown`](Self::shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Tracker};
    /// # let memory = MemoryBackend::new();
    /// # let t = Tracker::builder().consumer(BackgroundConsumer::builder(memory.clone()).build()).build()?;
    /// t.track(&Identity::user("u1"), "open", [("n", 1)])?;
    /// t.flush_timeout(std::time::Duration::from_millis(500))?;
    /// assert_eq!(memory.events().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        #[cfg(feature = "tokio")]
        crate::runtime::note_blocking("flush");
        if self.is_shut_down() {
            return Err(Error::AlreadyShutdown);
        }
        let results = self.each_consumer(|c| c.flush(timeout));
        results.into_iter().find_map(Result::err).map_or(Ok(()), Err)
    }

    /// Runs `f` on every consumer at once (the first on this thread), so each has the whole
    /// deadline and a slow one never delays another; results in consumer order.
    fn each_consumer<T: Send>(&self, f: impl Fn(&dyn Consumer) -> T + Sync) -> Vec<T> {
        let consumers = &self.inner.consumers;
        let Some((first, rest)) = consumers.split_first() else {
            return Vec::new();
        };
        std::thread::scope(|s| {
            let f = &f;
            let others: Vec<_> = rest.iter().map(|c| s.spawn(move || f(&**c))).collect();
            let mut out = vec![f(&**first)];
            for h in others {
                match h.join() {
                    Ok(r) => out.push(r),
                    Err(p) => std::panic::resume_unwind(p),
                }
            }
            out
        })
    }

    /// Flushes and stops every consumer within `timeout`, and reports what happened. Later
    /// calls on any clone fail with [`Error::AlreadyShutdown`].
    ///
    /// The consumers shut down at the same time, each with the whole deadline: a stalled
    /// backend does not take time from another.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyShutdown`] on a second call.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use trackflow::{BackgroundConsumer, MemoryBackend, Tracker, Error};
    /// # let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(MemoryBackend::new()).build()).build()?;
    /// let report = tracker.shutdown(Duration::from_secs(2))?;
    /// assert!(report.completed);
    /// assert!(matches!(tracker.shutdown(Duration::from_secs(2)), Err(Error::AlreadyShutdown)));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport> {
        #[cfg(feature = "tokio")]
        crate::runtime::note_blocking("shutdown");
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::AlreadyShutdown);
        }
        let reports = self.each_consumer(|c| match c.shutdown(timeout) {
            Ok(r) => r,
            Err(e) => {
                log::warn!("trackflow: consumer shutdown: {e}");
                let stats = c.stats();
                ShutdownReport {
                    stats,
                    left: stats.pending(),
                    completed: false,
                }
            }
        });
        let report = reports.into_iter().reduce(|a, b| a + b);
        Ok(report.unwrap_or_default())
    }

    /// Cuts a [`shutdown`](Self::shutdown) under way on another thread short: the consumers
    /// stop waiting for the network, keep what is not delivered in their stores (on disk,
    /// for the next tracker) and the shutdown returns. What a second Ctrl-C does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BackgroundConsumer, MemoryBackend, Tracker};
    /// let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(MemoryBackend::new()).spool(None).build()).build()?;
    /// tracker.interrupt();
    /// let report = tracker.shutdown(Duration::from_secs(30))?; // returns at once
    /// assert!(report.completed);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn interrupt(&self) {
        for c in self.inner.consumers.iter() {
            c.interrupt();
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// # let t = trackflow::Tracker::builder().consumer(trackflow::ImmediateConsumer::new(trackflow::MemoryBackend::new())).build()?;
    /// assert!(!t.is_shut_down());
    /// t.shutdown(std::time::Duration::from_secs(1))?;
    /// assert!(t.is_shut_down());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}
