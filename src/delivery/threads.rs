//! The consumer's budget of threads that carry requests: its delivery lanes and the helpers
//! each lane's batch fans out to share one count, at most the flow's ceiling, so a batch of
//! 500 users never starts 500 threads and 8 lanes never start 8 × ceiling.
//!
//! ```text
//!  worker ──slot──► lane ─┬─ request, request, …          (the lane's own thread)
//!                         └─ slot? ─► helper ─ request, … (one more while the limit allows
//!                                                          and the budget has a slot)
//!  budget: lanes busy + helpers ≤ ceiling; a slot goes back when its thread is done
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How many threads may carry a consumer's requests at once.
#[derive(Debug)]
pub(crate) struct Threads {
    max: usize,
    busy: AtomicUsize,
}

/// One thread's place in the budget; given back when dropped.
#[derive(Debug)]
pub(crate) struct ThreadSlot(Arc<Threads>);

impl Threads {
    pub(crate) fn new(max: usize) -> Arc<Threads> {
        Arc::new(Threads {
            max: max.max(1),
            busy: AtomicUsize::new(0),
        })
    }

    /// A slot if the budget has one.
    pub(crate) fn slot(self: &Arc<Self>) -> Option<ThreadSlot> {
        self.busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b < self.max).then_some(b + 1)
            })
            .ok()
            .map(|_| ThreadSlot(self.clone()))
    }

    /// Threads holding a slot now.
    pub(crate) fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stop_at_the_budget_and_come_back_when_dropped() {
        let t = Threads::new(2);
        let a = t.slot().expect("first");
        let _b = t.slot().expect("second");
        assert!(t.slot().is_none());
        drop(a);
        assert_eq!(t.busy(), 1);
        assert!(t.slot().is_some());
    }
}
