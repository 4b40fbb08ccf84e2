//! A bounded queue and one worker thread: the caller only enqueues.
//!
//! ```text
//!  track() ──try_send / send / send_timeout──► [ bounded queue ] ──► worker thread
//!     │ (overflow policy; drops counted)                              │ batch of max_batch,
//!  flush()/shutdown() ──► [ control ] ──────────────────────────────► │ or every flush_interval
//!                                                                     ▼
//!                                                         Backend::deliver (retries here)
//! ```
//!
//! The caller's thread never does I/O and never holds a lock a sender could wait on. Flush
//! and shutdown travel on their own channel, so they are not stuck behind a full queue; on
//! either, the worker first drains everything already queued.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{
    bounded, select, unbounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError,
    TrySendError,
};
use parking_lot::Mutex;

use super::{Reporter, ShutdownReport, DEFAULT_FLUSH_TIMEOUT};
use crate::backend::{Backend, Delivery, Failure, DEFAULT_MAX_BATCH};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::{ReplayReport, Spool};
use crate::stats::StatsSnapshot;
use crate::transport::{Cancel, DeliveryCtx};
use crate::Consumer;

/// Default for [`BackgroundConsumerBuilder::queue_capacity`].
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// How long the worker naps while events are flowing but its batch is not full.
const LINGER: Duration = Duration::from_micros(200);

/// Delivered events waiting to be freed by producer threads.
const SPENT_CAPACITY: usize = 4096;

/// Default for [`BackgroundConsumerBuilder::flush_interval`].
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// What `track()` does when the queue is full.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackflow::Overflow;
/// let p = Overflow::BlockTimeout(Duration::from_millis(5));
/// assert_ne!(p, Overflow::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Wait for room (the default): nothing is dropped, the caller slows to the delivery rate.
    #[default]
    Block,
    /// Wait at most this long, then drop the event and return [`Error::QueueFull`].
    BlockTimeout(Duration),
    /// Drop the event at once and return [`Error::QueueFull`].
    DropNewest,
}

enum Ctl {
    Flush(Sender<()>),
    Shutdown,
}

/// Queues events for a worker thread that delivers them in batches. Also known as the
/// GrowingIO SDK's `AsyncBufferedConsumer`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackflow::{BackgroundConsumer, Identity, MemoryBackend, Overflow, Properties, Tracker};
///
/// let memory = MemoryBackend::new();
/// let consumer = BackgroundConsumer::builder(memory.clone())
///     .max_batch(100)
///     .flush_interval(Duration::from_millis(200))
///     .overflow(Overflow::DropNewest)
///     .build();
/// let tracker = Tracker::builder().consumer(consumer).build()?;
/// tracker.track(&Identity::user("u1"), "open", Properties::new())?;
/// tracker.flush()?;
/// assert_eq!(memory.events().len(), 1);
/// # Ok::<(), trackflow::Error>(())
/// ```
#[doc(alias = "AsyncBufferedConsumer")]
pub struct BackgroundConsumer {
    tx: Sender<Event>,
    ctl: Sender<Ctl>,
    backend: Arc<dyn Backend>,
    reporter: Reporter,
    overflow: Overflow,
    capacity: usize,
    closed: AtomicBool,
    cancel: Cancel,
    worker: Mutex<Option<JoinHandle<()>>>,
    done: Receiver<()>,
    spent: Receiver<Event>,
    // The queue's other end, to take what is left when a shutdown deadline passes.
    queue: Receiver<Event>,
    alive: Arc<AtomicBool>,
    worker_gone_reported: AtomicBool,
}

impl fmt::Debug for BackgroundConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundConsumer")
            .field("backend", &self.backend)
            .field("overflow", &self.overflow)
            .field("capacity", &self.capacity)
            .field("queued", &self.tx.len())
            .field("stats", &self.reporter.stats.snapshot())
            .finish_non_exhaustive()
    }
}

/// Builder of [`BackgroundConsumer`].
///
/// | setting | default |
/// |---|---|
/// | `queue_capacity` | 10 000 events |
/// | `max_batch` | 500, clamped to the backend's maximum and the queue capacity |
/// | `flush_interval` | 1 s |
/// | `overflow` | [`Overflow::Block`] |
/// | `thread_name` | `trackflow-worker` |
/// | `on_error` | log at `error` |
/// | `spool` | none |
pub struct BackgroundConsumerBuilder {
    backend: Arc<dyn Backend>,
    capacity: usize,
    max_batch: usize,
    interval: Duration,
    overflow: Overflow,
    thread_name: String,
    reporter: Reporter,
}

impl fmt::Debug for BackgroundConsumerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundConsumerBuilder")
            .field("capacity", &self.capacity)
            .field("max_batch", &self.max_batch)
            .field("interval", &self.interval)
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}

impl BackgroundConsumerBuilder {
    /// Events the queue holds. Defaults to 10 000; at least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).queue_capacity(1000).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(1);
        self
    }
    /// Events per delivery. Defaults to 500; clamped to the backend's maximum and the queue
    /// capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).max_batch(100).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }
    /// Longest time the oldest event of a batch waits for the batch to fill. Defaults to 1 s.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).flush_interval(std::time::Duration::from_millis(200)).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.interval = d.max(Duration::from_millis(1));
        self
    }
    /// What to do when the queue is full. Defaults to [`Overflow::Block`].
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).overflow(trackflow::Overflow::DropNewest).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn overflow(mut self, o: Overflow) -> Self {
        self.overflow = o;
        self
    }
    /// The worker thread's name. Defaults to `trackflow-worker`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).thread_name("tracker").build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn thread_name(mut self, n: impl Into<String>) -> Self {
        self.thread_name = n.into();
        self
    }
    /// Called on the worker thread with each batch that failed for good. Defaults to logging
    /// at `error`. A panic in it is caught and logged.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).on_error(|err, events| eprintln!("{} events failed: {err}", events.len())).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_error(mut self, f: impl Fn(&Error, &[Event]) + Send + Sync + 'static) -> Self {
        self.reporter = self.reporter.with_error_callback(Arc::new(f));
        self
    }
    /// Writes events that fail for good, and events still queued when a shutdown deadline
    /// passes, to `spool` (see [`Spool`]). Defaults to none.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-bg-{}", std::process::id()));
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).spool(trackflow::Spool::open(&dir)?).build();
    /// # drop(c); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spool(mut self, spool: Spool) -> Self {
        self.reporter = self.reporter.with_spool(spool);
        self
    }

    /// Starts the worker thread.
    ///
    /// # Panics
    ///
    /// If the OS cannot start a thread (as `std::thread::spawn` does).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> BackgroundConsumer {
        let max_batch = self
            .max_batch
            .clamp(1, self.backend.max_batch().max(1))
            .min(self.capacity);
        let (tx, rx) = bounded(self.capacity);
        let (ctl, ctl_rx) = unbounded();
        let (done_tx, done) = bounded::<()>(0);
        let (spent_tx, spent) = bounded(SPENT_CAPACITY);
        let cancel = Cancel::default();
        let queue = rx.clone();
        let alive = Arc::new(AtomicBool::new(true));
        let worker = Worker {
            _alive: AliveGuard(alive.clone()),
            rx,
            ctl: ctl_rx,
            backend: self.backend.clone(),
            reporter: self.reporter.clone(),
            cancel: cancel.clone(),
            max_batch,
            interval: self.interval,
            buf: Vec::with_capacity(max_batch),
            spent: spent_tx,
            _done: done_tx,
        };
        let handle = std::thread::Builder::new()
            .name(self.thread_name)
            .spawn(move || worker.run())
            .expect("failed to spawn the trackflow worker thread");
        BackgroundConsumer {
            tx,
            ctl,
            backend: self.backend,
            reporter: self.reporter,
            overflow: self.overflow,
            capacity: self.capacity,
            closed: AtomicBool::new(false),
            cancel,
            worker: Mutex::new(Some(handle)),
            done,
            spent,
            queue,
            alive,
            worker_gone_reported: AtomicBool::new(false),
        }
    }
}

impl BackgroundConsumer {
    /// A builder delivering to `backend`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(backend: impl Backend + 'static) -> BackgroundConsumerBuilder {
        BackgroundConsumerBuilder {
            reporter: Reporter::default().for_backend(backend.name()),
            backend: Arc::new(backend),
            capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            interval: DEFAULT_FLUSH_INTERVAL,
            overflow: Overflow::default(),
            thread_name: "trackflow-worker".to_owned(),
        }
    }

    /// Events waiting in the queue (not counting the batch being delivered).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build();
    /// assert_eq!(c.queued(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// Waits for room in slices, so a worker that died while the queue was full is noticed.
    fn send_blocking(&self, mut event: Event) -> Result<()> {
        loop {
            match self.tx.send_timeout(event, Duration::from_millis(100)) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Disconnected(_)) => return Err(Error::AlreadyShutdown),
                Err(SendTimeoutError::Timeout(e)) => {
                    if !self.alive.load(Ordering::Acquire) {
                        return Err(self.worker_gone(Some(e)));
                    }
                    event = e;
                }
            }
        }
    }

    /// The worker died outside delivery: report it once, and fail (spool, callback) what it
    /// left queued, and `event` if one was being handed over.
    fn worker_gone(&self, event: Option<Event>) -> Error {
        if !self.worker_gone_reported.swap(true, Ordering::AcqRel) {
            log::error!(
                "trackflow: the background worker thread stopped; queued events are reported as failed"
            );
        }
        let mut left: Vec<Event> = self.queue.try_iter().collect();
        left.extend(event);
        if !left.is_empty() {
            self.reporter.stats.add_failed(left.len() as u64);
            self.reporter.fail(&Error::WorkerGone, &left);
        }
        Error::WorkerGone
    }

    fn dropped(&self) -> Error {
        if self.reporter.stats.add_dropped(1) == 1 {
            log::warn!(
                "trackflow: queue full ({} events), dropping per {:?}; further drops are only counted until shutdown",
                self.capacity,
                self.overflow
            );
        }
        Error::QueueFull
    }
}

impl Consumer for BackgroundConsumer {
    fn check(&self, event: &Event) -> Result<()> {
        self.backend.check(event)
    }

    fn consume(&self, event: Event) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::AlreadyShutdown);
        }
        // Free delivered events here, two per call (more than one keeps the backlog
        // shrinking). Memory freed on the thread that allocated it goes back to that
        // thread's cache; freed on the worker, every free and every malloc contend for the
        // same allocator arena lock, which cost 4x the whole call (see BENCHMARKS.md).
        for _ in 0..2 {
            match self.spent.try_recv() {
                Ok(e) => drop(e),
                Err(_) => break,
            }
        }
        // Counted before the send so the worker can never count an outcome first.
        self.reporter.stats.add_accepted(1);
        if !self.alive.load(Ordering::Acquire) {
            return Err(self.worker_gone(Some(event)));
        }
        let sent = match self.overflow {
            Overflow::Block => self.send_blocking(event),
            Overflow::DropNewest => self.tx.try_send(event).map_err(|e| match e {
                TrySendError::Full(_) => self.dropped(),
                TrySendError::Disconnected(_) => Error::AlreadyShutdown,
            }),
            Overflow::BlockTimeout(d) => self.tx.send_timeout(event, d).map_err(|e| match e {
                SendTimeoutError::Timeout(_) => self.dropped(),
                SendTimeoutError::Disconnected(_) => Error::AlreadyShutdown,
            }),
        };
        if let Err(Error::AlreadyShutdown) = &sent {
            // The worker is gone: this event is accepted by nobody; count it so the books
            // still balance.
            self.reporter.stats.add_dropped(1);
        }
        sent
    }

    fn flush(&self, timeout: Duration) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::AlreadyShutdown);
        }
        if !self.alive.load(Ordering::Acquire) {
            return Err(self.worker_gone(None));
        }
        let (reply, wait) = bounded(1);
        self.ctl
            .send(Ctl::Flush(reply))
            .map_err(|_| self.worker_gone(None))?;
        match wait.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
            // The worker dropped the reply without answering: it died during the flush.
            Err(RecvTimeoutError::Disconnected) => Err(self.worker_gone(None)),
        }
    }

    fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::AlreadyShutdown);
        }
        let start = Instant::now();
        let _ = self.ctl.send(Ctl::Shutdown);
        // Keep a margin of the deadline to cancel retries and let the worker report what it
        // could not send, rather than leaving it mid-backoff.
        let margin = (timeout / 5).min(Duration::from_millis(250));
        let mut completed = wait_done(&self.done, timeout.saturating_sub(margin));
        let mut cancelled = false;
        if !completed {
            cancelled = true;
            self.cancel.cancel();
            completed = wait_done(&self.done, timeout.saturating_sub(start.elapsed()));
        }
        if !completed {
            // The worker is stuck (an in-flight request past its timeout): what is still
            // queued will not be sent, so it is failed and spooled now.
            let left: Vec<Event> = self.queue.try_iter().collect();
            if !left.is_empty() {
                self.reporter.stats.add_failed(left.len() as u64);
                self.reporter.stats.add_cancelled(left.len() as u64);
                self.reporter.fail(&Error::Cancelled, &left);
            }
        }
        let handle = self.worker.lock().take();
        if completed {
            if let Some(h) = handle {
                let _ = h.join();
            }
        } else {
            log::warn!("trackflow: worker still busy at the shutdown deadline ({timeout:?}); leaving it");
        }
        let stats = self.stats();
        if stats.dropped > 0 {
            log::warn!(
                "trackflow: {} events were dropped by the overflow policy",
                stats.dropped
            );
        }
        let left = self.reporter.stats.cancelled() + stats.pending();
        Ok(ShutdownReport {
            stats,
            left,
            completed: completed && !cancelled,
        })
    }

    fn stats(&self) -> StatsSnapshot {
        self.reporter.stats.snapshot()
    }

    fn replay_spool(&self) -> Result<ReplayReport> {
        self.reporter.replay(&*self.backend)
    }
}

impl Drop for BackgroundConsumer {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire) {
            let _ = self.shutdown(DEFAULT_FLUSH_TIMEOUT);
        }
    }
}

/// Waits until the worker thread has exited (its end of `done` dropped).
fn wait_done(done: &Receiver<()>, d: Duration) -> bool {
    matches!(done.recv_timeout(d), Err(RecvTimeoutError::Disconnected))
}

/// Clears the flag when the worker ends, also when it ends by panicking.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

struct Worker {
    _alive: AliveGuard,
    rx: Receiver<Event>,
    ctl: Receiver<Ctl>,
    backend: Arc<dyn Backend>,
    reporter: Reporter,
    cancel: Cancel,
    max_batch: usize,
    interval: Duration,
    buf: Vec<Event>,
    // Delivered events on their way back to producer threads to be freed there.
    spent: Sender<Event>,
    // Dropped when the thread ends, which is how shutdown learns it has.
    _done: Sender<()>,
}

impl Worker {
    fn run(mut self) {
        // When the oldest event of the current batch must go out, whatever the batch size.
        let mut due = Instant::now();
        loop {
            if self.buf.is_empty() {
                // Idle: block until an event or a command.
                select! {
                    recv(self.rx) -> msg => match msg {
                        Ok(e) => {
                            self.buf.push(e);
                            due = Instant::now() + self.interval;
                        }
                        // Every sender is gone: the consumer was dropped.
                        Err(_) => return self.finish(),
                    },
                    recv(self.ctl) -> msg => if !self.command(msg.ok()) {
                        return self.finish();
                    },
                }
                continue;
            }
            match self.ctl.try_recv() {
                Ok(cmd) => {
                    if !self.command(Some(cmd)) {
                        return self.finish();
                    }
                    continue;
                }
                Err(TryRecvError::Disconnected) => return self.finish(),
                Err(TryRecvError::Empty) => {}
            }
            self.fill();
            if self.buf.len() >= self.max_batch || Instant::now() >= due {
                self.send();
                continue;
            }
            // Events are flowing and the batch is not full. Nap rather than block: a blocked
            // receiver makes every send pay a futex wake (microseconds on the caller's
            // thread), while a napping worker costs the senders nothing.
            let before = self.buf.len();
            std::thread::sleep(LINGER.min(due.saturating_duration_since(Instant::now())));
            self.fill();
            if self.buf.len() > before {
                continue;
            }
            // Nothing came during the nap: the flow has stopped. Block until more comes, a
            // command, or the batch is due.
            select! {
                recv(self.rx) -> msg => match msg {
                    Ok(e) => self.buf.push(e),
                    Err(_) => return self.finish(),
                },
                recv(self.ctl) -> msg => if !self.command(msg.ok()) {
                    return self.finish();
                },
                default(due.saturating_duration_since(Instant::now())) => self.send(),
            }
        }
    }

    /// Handles a command; returns whether to keep running.
    fn command(&mut self, cmd: Option<Ctl>) -> bool {
        match cmd {
            Some(Ctl::Flush(reply)) => {
                self.drain();
                if let Err(e) = self.backend.flush() {
                    log::error!("trackflow: backend flush failed: {e}");
                }
                let _ = reply.send(());
                true
            }
            Some(Ctl::Shutdown) | None => false,
        }
    }

    /// Tops the batch up from the queue without blocking: one wake-up, many events.
    fn fill(&mut self) {
        while self.buf.len() < self.max_batch {
            match self.rx.try_recv() {
                Ok(e) => self.buf.push(e),
                Err(_) => break,
            }
        }
    }

    /// Delivers everything queued now, in full batches.
    fn drain(&mut self) {
        loop {
            self.fill();
            if self.buf.is_empty() {
                return;
            }
            self.send();
        }
    }

    fn finish(mut self) {
        self.drain();
        if let Err(e) = self.backend.flush() {
            log::error!("trackflow: backend flush failed: {e}");
        }
    }

    fn send(&mut self) {
        let ctx = DeliveryCtx {
            cancel: &self.cancel,
            debug: false,
            dry_run: false,
        };
        let batch = &self.buf;
        let backend = &self.backend;
        let d = catch_unwind(AssertUnwindSafe(|| super::deliver_split(&**backend, batch, &ctx)))
            .unwrap_or_else(|_| {
                // A panicking backend must not kill the worker and strand the queue.
                log::error!(
                    "trackflow: the {} backend panicked delivering {} events",
                    backend.name(),
                    batch.len()
                );
                Delivery {
                    retries: 0,
                    failures: vec![Failure {
                        error: Error::Transport(format!("the {} backend panicked", backend.name())),
                        events: (0..batch.len()).collect(),
                    }],
                }
            });
        if d.failures.is_empty() {
            self.reporter.succeeded(self.buf.len(), d.retries);
            for e in self.buf.drain(..) {
                // When producers are idle the return path fills up; then free here.
                let _ = self.spent.try_send(e);
            }
        } else {
            self.reporter.report(&mut self.buf, d);
        }
    }
}
