//! One cancellation value that travels from `flush`/`shutdown` down to every wait: retry
//! backoff, a request in flight, a token fetch, a token command.
//!
//! ```text
//!  shutdown(deadline) ──stop()────► Cancel ──► backoff sleep     returns at once; no new attempt
//!                     ──cancel()──►   │   ──► request in flight  abandoned (its thread ends alone)
//!                                     │   ──► token command      killed
//!                                     └ deadline (optional): cancel(), when it passes
//! ```
//!
//! Two stages, so that a shutdown first lets the request in flight finish (its batch is then
//! delivered, not spooled and perhaps delivered twice) and abandons it only at the end.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, never, select, Receiver, Sender};
use parking_lot::Mutex;

/// A cancellation signal, with an optional deadline, that wakes every waiter at once.
///
/// Clones share the signal. [`with_deadline`](Self::with_deadline) makes a handle that is
/// also cancelled when its deadline passes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let c = trackflow::delivery::Cancel::default();
/// c.cancel();
/// assert!(c.is_cancelled());
/// assert!(c.sleep(Duration::from_secs(60))); // returns at once
/// ```
#[derive(Clone)]
pub struct Cancel {
    shared: Arc<Shared>,
    deadline: Option<Instant>,
}

struct Shared {
    stop: Signal,
    abort: Signal,
}

/// A one-way flag whose channel disconnects when set, waking every `select!` on it at once.
struct Signal {
    flag: AtomicBool,
    tx: Mutex<Option<Sender<()>>>,
    rx: Receiver<()>,
}

impl Signal {
    fn new() -> Self {
        let (tx, rx) = bounded(0);
        Signal {
            flag: AtomicBool::new(false),
            tx: Mutex::new(Some(tx)),
            rx,
        }
    }

    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.tx.lock().take();
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel {
            shared: Arc::new(Shared {
                stop: Signal::new(),
                abort: Signal::new(),
            }),
            deadline: None,
        }
    }
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancel")
            .field("cancelled", &self.is_cancelled())
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Cancel {
    /// Signals cancellation and wakes every waiter, on every clone.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::delivery::Cancel::default();
    /// let other = c.clone();
    /// c.cancel();
    /// assert!(other.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.shared.stop.set();
        self.shared.abort.set();
    }

    /// The first stage: no new attempt starts and waits return, but a request already in
    /// flight may finish. [`is_cancelled`](Self::is_cancelled) is true from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::delivery::Cancel::default();
    /// c.stop();
    /// assert!(c.is_cancelled() && !c.is_aborted());
    /// ```
    pub fn stop(&self) {
        self.shared.stop.set();
    }

    /// Whether [`cancel`](Self::cancel) was called or the deadline passed: what is in
    /// flight is abandoned.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::delivery::Cancel::default();
    /// c.cancel();
    /// assert!(c.is_aborted());
    /// ```
    pub fn is_aborted(&self) -> bool {
        self.shared.abort.is_set() || self.deadline_passed()
    }

    fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Whether [`stop`](Self::stop) or [`cancel`](Self::cancel) was called or the deadline
    /// passed: nothing new should start.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!trackflow::delivery::Cancel::default().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.shared.stop.is_set() || self.deadline_passed()
    }

    /// A handle sharing this signal that is also cancelled at `at` (or at this handle's own
    /// deadline, if earlier).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let c = trackflow::delivery::Cancel::default();
    /// let soon = c.with_deadline(Instant::now());
    /// assert!(soon.is_cancelled() && !c.is_cancelled());
    /// ```
    pub fn with_deadline(&self, at: Instant) -> Cancel {
        Cancel {
            shared: self.shared.clone(),
            deadline: Some(self.deadline.map_or(at, |d| d.min(at))),
        }
    }

    /// The deadline, if this handle has one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::delivery::Cancel::default().deadline().is_none());
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline (`None` without one).
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Sleeps for `d` unless cancelled first; returns whether it was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::delivery::Cancel::default();
    /// assert!(!c.sleep(std::time::Duration::from_millis(1)));
    /// ```
    pub fn sleep(&self, d: Duration) -> bool {
        let never = never::<()>();
        let _ = self.wait_on(&self.shared.stop, &never, d);
        self.is_cancelled()
    }

    /// Waits for what is in flight: a message on `rx` for at most `d`, unless aborted first
    /// ([`cancel`](Self::cancel) or the deadline; a mere [`stop`](Self::stop) lets it finish).
    ///
    /// `Ok(Some(v))` is the message; `Ok(None)` means `d` passed; `Err(())` means aborted
    /// (or `rx` disconnected, which callers treat alike: nothing more will come).
    pub(crate) fn wait<T>(&self, rx: &Receiver<T>, d: Duration) -> Result<Option<T>, ()> {
        self.wait_on(&self.shared.abort, rx, d)
    }

    /// As [`wait`](Self::wait), for something a new attempt needs first: it gives up
    /// at the first stage ([`stop`](Self::stop)), since nothing new starts after it.
    pub(crate) fn wait_to_start<T>(&self, rx: &Receiver<T>, d: Duration) -> Result<Option<T>, ()> {
        self.wait_on(&self.shared.stop, rx, d)
    }

    fn wait_on<T>(&self, signal: &Signal, rx: &Receiver<T>, d: Duration) -> Result<Option<T>, ()> {
        let gone = || signal.is_set() || self.deadline_passed();
        if gone() {
            return Err(());
        }
        let d = self.remaining().map_or(d, |r| r.min(d));
        select! {
            recv(rx) -> v => v.map(Some).map_err(|_| ()),
            recv(signal.rx) -> _ => Err(()),
            default(d) => if gone() { Err(()) } else { Ok(None) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_wakes_sleepers() {
        let c = Cancel::default();
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        c.cancel();
        assert!(t.join().unwrap());
    }

    #[test]
    fn stop_ends_sleeps_but_lets_what_is_in_flight_finish() {
        let c = Cancel::default();
        c.stop();
        assert!(c.sleep(Duration::from_secs(30)));
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(5).unwrap();
        });
        assert_eq!(c.wait(&rx, Duration::from_secs(5)), Ok(Some(5)));
        c.cancel();
        assert_eq!(c.wait(&rx, Duration::from_secs(5)), Err(()));
    }

    #[test]
    fn a_deadline_cuts_a_sleep_short() {
        let c = Cancel::default().with_deadline(Instant::now() + Duration::from_millis(20));
        let start = Instant::now();
        assert!(c.sleep(Duration::from_secs(30)));
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn wait_returns_the_message() {
        let (tx, rx) = bounded(1);
        tx.send(7).unwrap();
        assert_eq!(Cancel::default().wait(&rx, Duration::from_secs(1)), Ok(Some(7)));
        assert_eq!(Cancel::default().wait(&rx, Duration::from_millis(1)), Ok(None));
    }
}
