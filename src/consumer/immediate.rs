//! One delivery per event, on the caller's thread.

use std::fmt;
use std::time::{Duration, Instant};

use super::gate::Gate;
use super::{ErrorCallback, Reporter, ShutdownReport};
use crate::backend::Backend;
use crate::delivery::{Cancel, DeliveryCtx};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::{ReplayReport, Spool};
use crate::stats::StatsSnapshot;
use crate::validate::Limits;
use crate::Consumer;

/// Delivers each event as it is tracked, on the caller's thread, and returns the delivery
/// result from the tracker call. Simple and synchronous; the caller pays the round trip.
///
/// # Examples
///
/// ```
/// use trackflow::{ImmediateConsumer, MemoryBackend, Consumer};
/// let c = ImmediateConsumer::new(MemoryBackend::new())
///     .on_error(|err, events| eprintln!("{} events lost: {err}", events.len()));
/// assert_eq!(c.stats().delivered, 0);
/// ```
pub struct ImmediateConsumer {
    backend: Box<dyn Backend>,
    pub(super) reporter: Reporter,
    cancel: Cancel,
    gate: Gate,
    // Set by the Debug consumer, which is this one with stricter checks and logging.
    pub(super) strict: Option<Limits>,
    pub(super) debug: bool,
    pub(super) dry_run: bool,
}

impl fmt::Debug for ImmediateConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImmediateConsumer")
            .field("backend", &self.backend)
            .field("reporter", &self.reporter)
            .finish_non_exhaustive()
    }
}

impl ImmediateConsumer {
    /// Delivers to `backend`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Consumer, Event, Identity, ImmediateConsumer, MemoryBackend};
    /// let memory = MemoryBackend::new();
    /// let c = ImmediateConsumer::new(memory.clone());
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// // Delivered on the caller's thread before `consume` returned.
    /// assert_eq!(memory.events().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(backend: impl Backend + 'static) -> Self {
        ImmediateConsumer {
            reporter: Reporter::default().for_backend(backend.name()),
            backend: Box::new(backend),
            cancel: Cancel::default(),
            gate: Gate::default(),
            strict: None,
            debug: false,
            dry_run: false,
        }
    }

    /// Called with events that failed for good (besides the error returned to the caller).
    /// Defaults to logging them at `error`.
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
    /// use trackflow::{Consumer, Identity, ImmediateConsumer};
    /// let refused = Arc::new(AtomicUsize::new(0));
    /// let seen = refused.clone();
    /// let c = ImmediateConsumer::new(Refuses)
    ///     .on_error(move |_err, events| { seen.fetch_add(events.len(), Ordering::Relaxed); });
    /// let _ = c.consume(Event::track("open").with_identity(Identity::user("u1")));
    /// assert_eq!(refused.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_error(mut self, f: impl Fn(&Error, &[Event]) + Send + Sync + 'static) -> Self {
        let cb: ErrorCallback = std::sync::Arc::new(f);
        self.reporter = self.reporter.with_error_callback(cb);
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
    /// use trackflow::{Consumer, Event, Identity, ImmediateConsumer, MemoryBackend};
    /// let n = Arc::new(AtomicUsize::new(0));
    /// let seen = n.clone();
    /// let c = ImmediateConsumer::new(MemoryBackend::new())
    ///     .on_delivered(move |_, events| { seen.fetch_add(events.len(), Ordering::Relaxed); });
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// assert_eq!(n.load(Ordering::Relaxed), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn on_delivered(mut self, f: impl Fn(&str, &[Event]) + Send + Sync + 'static) -> Self {
        self.reporter = self.reporter.with_delivered_callback(std::sync::Arc::new(f));
        self
    }

    /// Writes events that fail for good to `spool` (see [`Spool`]). Defaults to none.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Consumer, Event, Identity, ImmediateConsumer, MemoryBackend};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-imm-{}", std::process::id()));
    /// let memory = MemoryBackend::new();
    /// let c = ImmediateConsumer::new(memory.clone()).spool(trackflow::spool::Spool::open(&dir)?);
    /// c.consume(Event::track("open").with_identity(Identity::user("u1")))?;
    /// assert_eq!(memory.events().len(), 1);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spool(mut self, spool: Spool) -> Self {
        self.reporter = self.reporter.with_spool(spool);
        self
    }
}

impl ImmediateConsumer {
    fn flush_backend(&self) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        self.backend.flush()
    }
}

impl Consumer for ImmediateConsumer {
    fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    fn check(&self, event: &Event) -> Result<()> {
        if let Some(limits) = &self.strict {
            limits.check(event)?;
        }
        crate::backend::check(&*self.backend, event)
    }

    fn consume(&self, event: Event) -> Result<()> {
        let Some(_inside) = self.gate.enter() else {
            return Err(Error::AlreadyShutdown);
        };
        self.reporter.stats.add_accepted(1);
        let ctx = DeliveryCtx::new(&self.cancel)
            .debug(self.debug)
            .dry_run(self.dry_run);
        let mut batch = vec![event];
        let d = super::deliver_split(&*self.backend, &batch, &ctx);
        match self.reporter.report(&mut batch, d) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn flush(&self, _timeout: Duration) -> Result<()> {
        if self.gate.is_closed() {
            return Err(Error::AlreadyShutdown);
        }
        self.flush_backend()
    }

    /// Stops taking events, waits for the deliveries under way on callers' threads until
    /// `timeout`, then cancels them: their requests are abandoned and their events fail with
    /// [`Error::Cancelled`] into the spool and the callback.
    fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport> {
        if !self.gate.close() {
            return Err(Error::AlreadyShutdown);
        }
        let deadline = Instant::now() + timeout;
        let completed = self.gate.wait_empty(deadline);
        if !completed {
            self.cancel.cancel();
            // Cancelled callers return at once; spooling their event is local.
            self.gate.wait_empty(Instant::now() + super::SETTLE_GRACE);
        }
        self.flush_backend()?;
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
