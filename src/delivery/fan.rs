//! A batch's independent requests, side by side: the calling thread works through them and
//! brings in helpers while the flow's limit is above the threads at work and its thread
//! budget has room, so a batch started at a limit of 2 widens as the limit grows.
//!
//! ```text
//!  caller ─ job 0 ─ grow? ─ job 3 ─ …        grow: working < min(limit, jobs left) and a
//!           └─ helper ─ job 1 ─ grow? ─ …          slot in the budget → one more helper
//!              └─ helper ─ job 2 ─ …
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::Scope;

use parking_lot::Mutex;

use super::Flow;

struct FanOut<'j, T, F> {
    flow: &'j Flow,
    job: &'j F,
    n: usize,
    next: AtomicUsize,
    // Threads working through the jobs, the caller's included.
    working: AtomicUsize,
    results: Mutex<Vec<(usize, T)>>,
}

/// Runs `job(0..n)` within `flow`'s limits; the results in index order.
pub(super) fn run<T: Send, F: Fn(usize) -> T + Sync>(flow: &Flow, n: usize, job: &F) -> Vec<T> {
    let fan = FanOut {
        flow,
        job,
        n,
        next: AtomicUsize::new(0),
        working: AtomicUsize::new(1),
        results: Mutex::new(Vec::with_capacity(n)),
    };
    std::thread::scope(|scope| fan.work(scope));
    let mut results = fan.results.into_inner();
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

impl<'j, T: Send, F: Fn(usize) -> T + Sync> FanOut<'j, T, F> {
    fn work<'s>(&'s self, scope: &'s Scope<'s, '_>) {
        let mut mine = Vec::new();
        loop {
            self.grow(scope);
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n {
                break;
            }
            mine.push((i, (self.job)(i)));
        }
        self.results.lock().extend(mine);
    }

    /// Brings in helpers up to the flow's limit, bounded by the jobs left and the budget.
    fn grow<'s>(&'s self, scope: &'s Scope<'s, '_>) {
        let left = self.n.saturating_sub(self.next.load(Ordering::Relaxed));
        let want = self.flow.limit().min(left);
        while self.working.load(Ordering::Acquire) < want {
            let Some(slot) = self.flow.thread_slot() else {
                return;
            };
            self.working.fetch_add(1, Ordering::AcqRel);
            let helper = std::thread::Builder::new()
                .name("trackflow-fan".into())
                .spawn_scoped(scope, move || {
                    let _slot = slot;
                    self.work(scope);
                    self.working.fetch_sub(1, Ordering::AcqRel);
                });
            if helper.is_err() {
                // Its share stays with the threads already at work.
                self.working.fetch_sub(1, Ordering::AcqRel);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn helpers_never_pass_the_limit_or_the_budget() {
        let flow = Flow::new(3);
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let out = run(&flow, 40, &|i| {
            let at = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(at, Ordering::SeqCst);
            assert!(flow.threads_busy() <= 3);
            std::thread::sleep(Duration::from_millis(2));
            now.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, (0..40).map(|i| i * 2).collect::<Vec<_>>());
        // The caller and two helpers: the limit is 3.
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert_eq!(flow.threads_busy(), 0);
    }

    #[test]
    fn a_growing_limit_brings_in_helpers_mid_batch() {
        let flow = Flow::adaptive(16);
        let peak = AtomicUsize::new(0);
        let now = AtomicUsize::new(0);
        // A clock of the test's own: answers come 10 ms / limit apart (each takes 10 ms, the
        // limit in flight), so that windows are long enough to be judged and each doubling
        // doubles the answers a second.
        let (start, nanos) = (std::time::Instant::now(), AtomicUsize::new(0));
        run(&flow, 200, &|_| {
            let at = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(at, Ordering::SeqCst);
            // Answers in their usual time, with the limit in flight: the limit doubles.
            let gap = 10_000_000 / flow.limit();
            let clock = start + Duration::from_nanos((nanos.fetch_add(gap, Ordering::SeqCst) + gap) as u64);
            flow.observe_at(Duration::from_millis(1), false, flow.limit(), clock);
            std::thread::sleep(Duration::from_millis(1));
            now.fetch_sub(1, Ordering::SeqCst);
        });
        assert_eq!(flow.limit(), 16);
        assert!(peak.load(Ordering::SeqCst) > 2, "{peak:?}");
    }
}
