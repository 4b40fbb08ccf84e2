//! For development: strict validation, every request logged, optionally not sent at all.

use std::time::Duration;

use super::{ImmediateConsumer, ShutdownReport};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::stats::StatsSnapshot;
use crate::validate::Limits;
use crate::Consumer;

/// Delivers each event at once on the caller's thread, like
/// [`ImmediateConsumer`](crate::ImmediateConsumer), but checks events with
/// [`Limits::strict`] and logs every request (target `trackflow::debug`, level `info`, secrets
/// masked). With `dry_run`, requests are logged and not sent.
///
/// # Examples
///
/// ```
/// use trackflow::{DebugConsumer, Identity, MemoryBackend, Properties, Tracker};
///
/// let tracker = Tracker::builder()
///     .consumer(DebugConsumer::builder(MemoryBackend::new()).dry_run(true).build())
///     .build()?;
/// let err = tracker.track(&Identity::user("u1"), "view", Properties::new().with("bad key", 1));
/// assert!(err.unwrap_err().to_string().contains("strict mode"));
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug)]
pub struct DebugConsumer(ImmediateConsumer);

/// Builder of [`DebugConsumer`].
///
/// | setting | default |
/// |---|---|
/// | `dry_run` | `false` |
/// | `limits` | [`Limits::strict`] |
/// | `on_error` | log at `error` |
#[derive(Debug)]
pub struct DebugConsumerBuilder {
    inner: ImmediateConsumer,
}

impl DebugConsumerBuilder {
    /// Log requests without sending them. Defaults to `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::DebugConsumer::builder(trackflow::MemoryBackend::new()).dry_run(true).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dry_run(mut self, v: bool) -> Self {
        self.inner.dry_run = v;
        self
    }
    /// The limits checked at the call. Defaults to [`Limits::strict`].
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::DebugConsumer::builder(trackflow::MemoryBackend::new()).limits(trackflow::validate::Limits::default()).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn limits(mut self, l: Limits) -> Self {
        self.inner.strict = Some(l);
        self
    }
    /// Called with events that failed for good. Defaults to logging at `error`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::DebugConsumer::builder(trackflow::MemoryBackend::new()).on_error(|err, events| eprintln!("{} events failed: {err}", events.len())).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_error(self, f: impl Fn(&Error, &[Event]) + Send + Sync + 'static) -> Self {
        DebugConsumerBuilder {
            inner: self.inner.on_error(f),
        }
    }
    /// Writes events that fail for good to `spool`. Defaults to none.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-dbg-{}", std::process::id()));
    /// let c = trackflow::DebugConsumer::builder(trackflow::MemoryBackend::new()).spool(trackflow::spool::Spool::open(&dir)?).build();
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spool(self, spool: crate::spool::Spool) -> Self {
        DebugConsumerBuilder {
            inner: self.inner.spool(spool),
        }
    }
    /// Builds the consumer.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::DebugConsumer::builder(trackflow::MemoryBackend::new()).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> DebugConsumer {
        DebugConsumer(self.inner)
    }
}

impl DebugConsumer {
    /// A builder delivering to `backend`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::DebugConsumer::builder(trackflow::MemoryBackend::new()).dry_run(true).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(backend: impl Backend + 'static) -> DebugConsumerBuilder {
        let mut inner = ImmediateConsumer::new(backend);
        inner.strict = Some(Limits::strict());
        inner.debug = true;
        DebugConsumerBuilder { inner }
    }
}

impl Consumer for DebugConsumer {
    fn check(&self, event: &Event) -> Result<()> {
        self.0.check(event)
    }
    fn consume(&self, event: Event) -> Result<()> {
        self.0.consume(event)
    }
    fn flush(&self, timeout: Duration) -> Result<()> {
        self.0.flush(timeout)
    }
    fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport> {
        self.0.shutdown(timeout)
    }
    fn stats(&self) -> StatsSnapshot {
        self.0.stats()
    }
    fn replay_spool(&self) -> Result<crate::spool::ReplayReport> {
        self.0.replay_spool()
    }
    fn backend_name(&self) -> &'static str {
        self.0.backend_name()
    }
}
