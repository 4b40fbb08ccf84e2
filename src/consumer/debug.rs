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
    /// use std::time::Duration;
    /// use trackflow::{Consumer, DebugConsumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = DebugConsumer::builder(memory.clone()).dry_run(true).build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// // Checked and logged, never sent.
    /// assert!(memory.events().is_empty());
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
    /// use trackflow::validate::Limits;
    /// use trackflow::{DebugConsumer, Identity, MemoryBackend};
    /// let mut limits = Limits::default();
    /// limits.max_name_len = 4;
    /// let c = DebugConsumer::builder(MemoryBackend::new()).limits(limits).build();
    /// let tracker = trackflow::Tracker::builder().consumer(c).build()?;
    /// assert!(tracker.track(&Identity::user("u1"), "purchase", [("n", 1)]).is_err());
    /// assert!(tracker.track(&Identity::user("u1"), "buy", [("n", 1)]).is_ok());
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
    /// # use trackflow::delivery::{Delivery, DeliveryCtx};
    /// # use trackflow::{Backend, Error, Event};
    /// # #[derive(Debug)]
    /// # struct Refuses;
    /// # impl Backend for Refuses {
    /// #     fn name(&self) -> &'static str { "refuses" }
    /// #     fn check(&self, _: &Event) -> trackflow::Result<()> { Ok(()) }
    /// #     fn deliver(&self, batch: &[Event], _: &DeliveryCtx<'_>) -> Delivery {
    /// #         let mut d = Delivery::default();
    /// #         d.record(Err(Error::invalid("properties", "refused")), 0, || (0..batch.len()).collect());
    /// #         d
    /// #     }
    /// # }
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use trackflow::{Consumer, DebugConsumer, Identity};
    /// let refused = Arc::new(AtomicUsize::new(0));
    /// let seen = refused.clone();
    /// let c = DebugConsumer::builder(Refuses)
    ///     .on_error(move |_err, events| { seen.fetch_add(events.len(), Ordering::Relaxed); })
    ///     .build();
    /// let _ = c.consume(Event::track("open").with_identity(Identity::user("u1")));
    /// assert_eq!(refused.load(Ordering::Relaxed), 1);
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
    /// use trackflow::{Consumer, DebugConsumer, Event, Identity, MemoryBackend};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-dbg-{}", std::process::id()));
    /// let memory = MemoryBackend::new();
    /// let c = DebugConsumer::builder(memory.clone()).spool(trackflow::spool::Spool::open(&dir)?).build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// assert_eq!(memory.events().len(), 1);
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
    /// use std::time::Duration;
    /// use trackflow::{Consumer, DebugConsumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = DebugConsumer::builder(memory.clone()).build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// assert_eq!(memory.events().len(), 1);
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
    /// use std::time::Duration;
    /// use trackflow::{Consumer, DebugConsumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = DebugConsumer::builder(memory.clone()).dry_run(true).build();
    /// // An event no backend could take is refused at the call, with the field named.
    /// let tracker = trackflow::Tracker::builder().consumer(c).build()?;
    /// let err = tracker.track(&Identity::user("u1"), "view", [("bad key", 1)]).unwrap_err();
    /// assert!(err.to_string().contains("bad key"), "{err}");
    /// assert!(memory.events().is_empty());
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
