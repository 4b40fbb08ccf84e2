//! Knowing when a wait would fall on a tokio worker thread (feature `tokio`), and handing it
//! to the blocking pool instead: what the tracker's async methods and its drops use.
//!
//! A blocking trackflow call made directly on a runtime thread anyway is logged once and
//! counted by [`blocking_calls_on_runtime`], which a service's self-test can assert is zero.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

static BLOCKING_ON_RUNTIME: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Set on the blocking-pool threads trackflow itself hands its waits to.
    static OFFLOADED: Cell<bool> = const { Cell::new(false) };
}

/// How many times a blocking trackflow call (`flush`, `flush_timeout`, `shutdown`) was made
/// on a thread inside a tokio runtime other than one trackflow handed the wait to itself.
/// Calls from your own `spawn_blocking` count too: use the `_async` methods instead.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), trackflow::Error> {
/// use trackflow::{BackgroundConsumer, MemoryBackend, Tracker};
/// let tracker = Tracker::builder().consumer(BackgroundConsumer::builder(MemoryBackend::new()).build()).build()?;
/// tracker.flush_async().await?;
/// tracker.shutdown_async(std::time::Duration::from_secs(2)).await?;
/// assert_eq!(trackflow::blocking_calls_on_runtime(), 0);
/// # Ok(())
/// # }
/// ```
pub fn blocking_calls_on_runtime() -> u64 {
    BLOCKING_ON_RUNTIME.load(Ordering::Relaxed)
}

/// Whether this thread is inside a tokio runtime and not one trackflow offloaded to.
fn on_runtime() -> bool {
    !OFFLOADED.with(Cell::get) && tokio::runtime::Handle::try_current().is_ok()
}

/// Notes a blocking call named `what` if it is made on a runtime thread.
pub(crate) fn note_blocking(what: &str) {
    if on_runtime() && BLOCKING_ON_RUNTIME.fetch_add(1, Ordering::Relaxed) == 0 {
        log::warn!(
            "trackflow: Tracker::{what} blocks, and was called on a tokio runtime thread: use {what}_async"
        );
    }
}

/// Runs `f` on tokio's blocking pool when called on a runtime thread (returning at once),
/// else here. For drops: whatever happens, `f` runs.
pub(crate) fn off_runtime(f: impl FnOnce() + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        // A runtime already shutting down drops the task, and with it `f`'s captures, whose
        // own drops then finish the job on this thread.
        Ok(h) if !OFFLOADED.with(Cell::get) => drop(h.spawn_blocking(move || offloaded(f))),
        _ => f(),
    }
}

pub(crate) fn offloaded<T>(f: impl FnOnce() -> T) -> T {
    OFFLOADED.with(|o| o.set(true));
    let r = f();
    OFFLOADED.with(|o| o.set(false));
    r
}

/// Runs the blocking `f` on the blocking pool and awaits it.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(move || offloaded(f)).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down: the task never ran.
        Err(_) => Err(Error::Cancelled),
    }
}
