//! The tokio surface (feature `tokio`): flush and shutdown as futures, and drops that never
//! block an executor thread.
//!
//! Every wait in trackflow (a flush, a shutdown, the last handle dropped) is bounded, but it
//! is still a wait of up to seconds, which on a tokio worker thread stalls every task that
//! thread would have run. So the async methods run the wait on tokio's blocking pool, and a
//! guard or the last `Tracker` dropped on a runtime thread hands its shutdown there too (the
//! runtime waits for blocking tasks when it is dropped, so the shutdown still completes).
//!
//! A blocking trackflow call made directly on a runtime thread anyway is logged once and
//! counted by [`blocking_calls_on_runtime`](crate::blocking_calls_on_runtime), which a
//! service's self-test can assert is zero.

use std::time::Duration;

use super::Tracker;
use crate::consumer::ShutdownReport;
use crate::error::Result;
use crate::runtime::blocking;

impl Tracker {
    /// [`flush`](Tracker::flush) for async services: the wait runs on tokio's blocking pool,
    /// never on an executor thread.
    ///
    /// # Errors
    ///
    /// As [`flush`](Tracker::flush); [`Error::Cancelled`](crate::Error::Cancelled) if the runtime is shutting down.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), trackflow::Error> {
    /// use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Properties, Tracker};
    /// let memory = MemoryBackend::new();
    /// let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(memory.clone()).build()).build()?;
    /// tracker.track(&Identity::user("u1"), "open", Properties::new())?;
    /// tracker.flush_async().await?;
    /// assert_eq!(memory.events().len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn flush_async(&self) -> Result<()> {
        let t = self.clone();
        blocking(move || t.flush()).await
    }

    /// [`flush_timeout`](Tracker::flush_timeout) for async services.
    ///
    /// # Errors
    ///
    /// As [`flush_timeout`](Tracker::flush_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), trackflow::Error> {
    /// # let memory = trackflow::MemoryBackend::new();
    /// # let tracker = trackflow::Tracker::builder().consumer(trackflow::BackgroundConsumer::builder(memory.clone()).build()).build()?;
    /// tracker.track(&trackflow::Identity::user("u1"), "open", [("n", 1)])?;
    /// tracker.flush_timeout_async(std::time::Duration::from_millis(500)).await?;
    /// assert_eq!(memory.events().len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn flush_timeout_async(&self, timeout: Duration) -> Result<()> {
        let t = self.clone();
        blocking(move || t.flush_timeout(timeout)).await
    }

    /// [`shutdown`](Tracker::shutdown) for async services: the wait runs on tokio's blocking
    /// pool. Call it after the server has stopped taking requests.
    ///
    /// # Errors
    ///
    /// As [`shutdown`](Tracker::shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), trackflow::Error> {
    /// use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Properties, Tracker};
    /// let memory = MemoryBackend::new();
    /// let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(memory.clone()).build()).build()?;
    /// tracker.track(&Identity::user("u1"), "open", Properties::new())?;
    /// let report = tracker.shutdown_async(std::time::Duration::from_secs(2)).await?;
    /// assert_eq!(report.stats.delivered, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shutdown_async(&self, timeout: Duration) -> Result<ShutdownReport> {
        let t = self.clone();
        blocking(move || t.shutdown(timeout)).await
    }
}
