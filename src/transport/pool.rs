//! Threads that carry out blocking I/O for a caller that must stay free to give up.
//!
//! ```text
//!  caller (worker, flush) ──job──► [ trackflow-io threads ] ──result──► caller
//!     └─ Cancel fires: the caller stops waiting at once; the thread finishes the job
//!        on its own (bounded by the request's timeouts) and its result is dropped
//! ```
//!
//! ureq has no way to interrupt a request blocked in `read(2)`. Running it here lets a
//! shutdown deadline hold whatever the collector does. Threads are made on demand, reused,
//! and leave after a minute idle.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};

use crate::cancel::Cancel;

type Job = Box<dyn FnOnce() + Send>;

/// How long a thread waits for work before it leaves.
const IDLE_EXIT: Duration = Duration::from_secs(60);

struct Pool {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    // Threads waiting for work that no submitter has claimed yet. A submitter claims one
    // before sending, and a thread leaves only by un-counting itself, so every job sent
    // has a thread that will not leave before taking it.
    idle: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = unbounded();
        Pool {
            tx,
            rx,
            idle: AtomicUsize::new(0),
        }
    })
}

fn claim(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

impl Pool {
    fn submit(&'static self, job: Job) {
        if claim(&self.idle) {
            // A waiting thread is reserved for it; the channel is unbounded and never
            // disconnected (the pool is static), so the send cannot fail.
            let _ = self.tx.send(job);
            return;
        }
        // Kept outside the closure: `spawn` consumes its closure even when it fails, and
        // the work must then still be done, on the caller's thread.
        let slot = std::sync::Arc::new(parking_lot::Mutex::new(Some(job)));
        let theirs = slot.clone();
        let spawned = std::thread::Builder::new()
            .name("trackflow-io".into())
            .spawn(move || {
                let job = theirs.lock().take();
                if let Some(job) = job {
                    self.serve(job);
                }
            });
        if let Err(e) = spawned {
            log::warn!("trackflow: could not start an I/O thread ({e}); working inline");
            let job = slot.lock().take();
            if let Some(job) = job {
                job();
            }
        }
    }

    fn serve(&'static self, first: Job) {
        first();
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            loop {
                match self.rx.recv_timeout(IDLE_EXIT) {
                    Ok(job) => {
                        job();
                        break;
                    }
                    Err(RecvTimeoutError::Timeout) if claim(&self.idle) => return,
                    // A submitter claimed us meanwhile: its job is on the way.
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }
}

/// Runs `job` on an I/O thread and waits for its result, at most until `cancel` fires.
/// `None` when cancelled: the job still runs to its end, and its result is dropped.
pub(crate) fn run<R: Send + 'static>(job: impl FnOnce() -> R + Send + 'static, cancel: &Cancel) -> Option<R> {
    let (tx, rx) = bounded(1);
    pool().submit(Box::new(move || {
        let _ = tx.send(job());
    }));
    loop {
        match cancel.wait(&rx, Duration::from_secs(3600)) {
            Ok(Some(r)) => return Some(r),
            Ok(None) => continue,
            Err(()) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn runs_jobs_and_reuses_threads() {
        let c = Cancel::default();
        for i in 0..50 {
            assert_eq!(run(move || i * 2, &c), Some(i * 2));
        }
    }

    #[test]
    fn a_cancelled_wait_returns_at_once() {
        let c = Cancel::default();
        let c2 = c.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            c2.cancel();
        });
        let start = Instant::now();
        let r = run(|| std::thread::sleep(Duration::from_secs(2)), &c);
        assert!(r.is_none());
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn many_at_once() {
        let c = Cancel::default();
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let c = c.clone();
                std::thread::spawn(move || run(move || i, &c))
            })
            .collect();
        let sum: i32 = handles.into_iter().map(|h| h.join().unwrap().unwrap()).sum();
        assert_eq!(sum, (0..16).sum::<i32>());
    }
}
