//! Collects events on the caller's thread; delivers at `max_batch` and on flush.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::gate::Gate;
use super::{Reporter, ShutdownReport};
use crate::backend::{Backend, DEFAULT_MAX_BATCH};
use crate::delivery::{Cancel, DeliveryCtx};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::{ReplayReport, Spool};
use crate::stats::StatsSnapshot;
use crate::Consumer;

/// Buffers events (thread-safe) and delivers a batch on the thread whose event filled it,
/// and the rest on [`flush`](Consumer::flush). No thread of its own; the lock is never held
/// while sending.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackflow::{BufferedConsumer, Consumer, Identity, MemoryBackend, Properties, Tracker};
///
/// let memory = MemoryBackend::new();
/// let tracker = Tracker::builder()
///     .consumer(BufferedConsumer::builder(memory.clone()).max_batch(2).build())
///     .build()?;
/// for _ in 0..3 {
///     tracker.track(&Identity::user("u1"), "view", Properties::new())?;
/// }
/// assert_eq!(memory.events().len(), 2); // one full batch went out
/// tracker.flush()?;
/// assert_eq!(memory.events().len(), 3);
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct BufferedConsumer {
    backend: Box<dyn Backend>,
    buf: Mutex<Vec<Event>>,
    max_batch: usize,
    reporter: Reporter,
    cancel: Cancel,
    gate: Gate,
}

impl fmt::Debug for BufferedConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferedConsumer")
            .field("backend", &self.backend)
            .field("max_batch", &self.max_batch)
            .field("buffered", &self.buf.lock().len())
            .finish_non_exhaustive()
    }
}

/// Builder of [`BufferedConsumer`].
///
/// | setting | default |
/// |---|---|
/// | `max_batch` | 500, clamped to the backend's maximum |
/// | `on_error` | log at `error` |
/// | `spool` | none |
pub struct BufferedConsumerBuilder {
    backend: Box<dyn Backend>,
    max_batch: usize,
    reporter: Reporter,
}

impl fmt::Debug for BufferedConsumerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferedConsumerBuilder")
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl BufferedConsumerBuilder {
    /// Events per delivery. Defaults to 500; clamped to 1..=the backend's maximum.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BufferedConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BufferedConsumer::builder(memory.clone()).max_batch(100).build();
    /// for i in 0..150 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// // The first 100 went out when the buffer filled; the rest wait for a flush.
    /// assert_eq!(memory.events().len(), 100);
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 150);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }
    /// Called with each batch that failed for good. Defaults to logging at `error`.
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
    /// use std::time::Duration;
    /// use trackflow::{BufferedConsumer, Consumer, Identity};
    /// let refused = Arc::new(AtomicUsize::new(0));
    /// let seen = refused.clone();
    /// let c = BufferedConsumer::builder(Refuses)
    ///     .on_error(move |_err, events| { seen.fetch_add(events.len(), Ordering::Relaxed); })
    ///     .build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// let _ = c.flush(Duration::from_secs(5));
    /// assert_eq!(refused.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_error(mut self, f: impl Fn(&Error, &[Event]) + Send + Sync + 'static) -> Self {
        self.reporter = self.reporter.with_error_callback(Arc::new(f));
        self
    }

    /// Calls `f` with the backend's name and the events each delivery got acknowledged,
    /// every delivered event once (see
    /// [`BackgroundConsumerBuilder::on_delivered`](crate::consumer::BackgroundConsumerBuilder::on_delivered)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use trackflow::{BufferedConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let n = Arc::new(AtomicUsize::new(0));
    /// let seen = n.clone();
    /// let c = BufferedConsumer::builder(MemoryBackend::new())
    ///     .on_delivered(move |_, events| { seen.fetch_add(events.len(), Ordering::Relaxed); })
    ///     .build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(n.load(Ordering::Relaxed), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn on_delivered(mut self, f: impl Fn(&str, &[Event]) + Send + Sync + 'static) -> Self {
        self.reporter = self.reporter.with_delivered_callback(Arc::new(f));
        self
    }
    /// Writes events that fail for good to `spool` (see [`Spool`]). Defaults to none.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BufferedConsumer, Consumer, Event, Identity, MemoryBackend};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-buf-{}", std::process::id()));
    /// let memory = MemoryBackend::new();
    /// let c = BufferedConsumer::builder(memory.clone()).spool(trackflow::spool::Spool::open(&dir)?).build();
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 1);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spool(mut self, spool: Spool) -> Self {
        self.reporter = self.reporter.with_spool(spool);
        self
    }
    /// Builds the consumer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BufferedConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BufferedConsumer::builder(memory.clone()).build();
    /// for i in 0..2 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// c.flush(Duration::from_secs(5))?;
    /// assert_eq!(memory.events().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> BufferedConsumer {
        let max_batch = self.max_batch.clamp(1, self.backend.max_batch().max(1));
        BufferedConsumer {
            backend: self.backend,
            buf: Mutex::new(Vec::with_capacity(max_batch)),
            max_batch,
            reporter: self.reporter,
            cancel: Cancel::default(),
            gate: Gate::default(),
        }
    }
}

impl BufferedConsumer {
    /// A builder delivering to `backend`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::{BufferedConsumer, Consumer, Event, Identity, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = BufferedConsumer::builder(memory.clone()).max_batch(10).build();
    /// for i in 0..10 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))))?;
    /// }
    /// // Full at 10: delivered without a flush.
    /// assert_eq!(memory.events().len(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(backend: impl Backend + 'static) -> BufferedConsumerBuilder {
        BufferedConsumerBuilder {
            reporter: Reporter::default().for_backend(backend.name()),
            backend: Box::new(backend),
            max_batch: DEFAULT_MAX_BATCH,
        }
    }

    fn deliver(&self, mut batch: Vec<Event>, cancel: &Cancel) {
        let ctx = DeliveryCtx::new(cancel);
        let d = super::deliver_split(&*self.backend, &batch, &ctx);
        self.reporter.report(&mut batch, d);
    }

    /// Delivers what is buffered, in batches, until `cancel` fires; what is left then goes
    /// back to the front of the buffer (a batch abandoned in flight is spooled instead).
    fn deliver_buffered(&self, cancel: &Cancel) -> bool {
        let pending = std::mem::take(&mut *self.buf.lock());
        let mut rest = pending.into_iter().peekable();
        while rest.peek().is_some() {
            if cancel.is_cancelled() {
                let mut buf = self.buf.lock();
                let newer = std::mem::take(&mut *buf);
                buf.extend(rest);
                buf.extend(newer);
                return false;
            }
            self.deliver(rest.by_ref().take(self.max_batch).collect(), cancel);
        }
        true
    }
}

impl Consumer for BufferedConsumer {
    fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    fn queue_depth(&self) -> u64 {
        self.buf.lock().len() as u64
    }

    fn check(&self, event: &Event) -> Result<()> {
        crate::backend::check(&*self.backend, event)
    }

    /// Buffers the event; when that fills a batch, delivers it before returning. Delivery
    /// failures go to the error callback and the stats, not to this caller: its event was
    /// accepted, and returning an error would invite a duplicate.
    fn consume(&self, event: Event) -> Result<()> {
        let Some(_inside) = self.gate.enter() else {
            return Err(Error::AlreadyShutdown);
        };
        self.reporter.stats.add_accepted(1);
        let full = {
            let mut buf = self.buf.lock();
            buf.push(event);
            (buf.len() >= self.max_batch)
                .then(|| std::mem::replace(&mut *buf, Vec::with_capacity(self.max_batch)))
        };
        if let Some(batch) = full {
            self.deliver(batch, &self.cancel);
        }
        Ok(())
    }

    /// Delivers what is buffered within `timeout`; past it, the request in flight is
    /// abandoned (its batch spooled) and the rest stays buffered.
    fn flush(&self, timeout: Duration) -> Result<()> {
        // Inside the gate, so that a shutdown waits for the batches this flush took.
        let Some(_inside) = self.gate.enter() else {
            return Err(Error::AlreadyShutdown);
        };
        let cancel = self.cancel.with_deadline(Instant::now() + timeout);
        let done = self.deliver_buffered(&cancel);
        self.backend.flush()?;
        if done {
            Ok(())
        } else {
            Err(Error::Timeout(timeout))
        }
    }

    /// Stops taking events, waits for deliveries under way on callers' threads, delivers
    /// what is buffered, and past `timeout` fails the rest with [`Error::Cancelled`] into
    /// the spool and the callback.
    fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport> {
        if !self.gate.close() {
            return Err(Error::AlreadyShutdown);
        }
        let deadline = Instant::now() + timeout;
        let mut completed = self.gate.wait_empty(deadline);
        if completed {
            completed = self.deliver_buffered(&self.cancel.with_deadline(deadline));
        }
        if !completed {
            self.cancel.cancel();
            self.gate.wait_empty(Instant::now() + super::SETTLE_GRACE);
            let left = std::mem::take(&mut *self.buf.lock());
            self.reporter.failed(&Error::Cancelled, &left);
        }
        if let Err(e) = self.backend.flush() {
            log::error!("trackflow: backend flush failed: {e}");
        }
        let stats = self.stats();
        Ok(ShutdownReport {
            stats,
            left: stats.pending(),
            completed,
        })
    }

    fn stats(&self) -> StatsSnapshot {
        self.reporter.stats.snapshot()
    }

    fn replay_spool(&self) -> Result<ReplayReport> {
        self.reporter.replay(&*self.backend)
    }
}

impl Drop for BufferedConsumer {
    fn drop(&mut self) {
        if !self.gate.is_closed() {
            let _ = self.shutdown(super::DEFAULT_FLUSH_TIMEOUT);
        }
    }
}
