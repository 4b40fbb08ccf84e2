//! The order the Background consumer handed batches out, for backends whose batches must
//! *start* in that order while they *finish* side by side: Kafka keeps one partition's order
//! only among the messages it is given in order, so each batch hands its messages to the
//! producer in its turn, then waits for the broker with the others.
//!
//! ```text
//!  worker: seq 0, 1, 2 … ──► lanes ──► DeliveryCtx::in_order(produce) runs for 0, then 1, then 2
//!                                      (a batch that finishes without it passes its turn)
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::Cancel;

/// Turns by batch sequence number, from 0.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Every turn before this one has arrived_early.
    next: u64,
    /// Turns arrived_early out of order, waiting for the ones before them.
    arrived_early: BTreeSet<u64>,
}

impl Turns {
    /// Waits until every turn before `seq` has arrived_early, or the shutdown deadline passes
    /// (then the batch goes on out of turn rather than hold the shutdown).
    pub(crate) fn wait(&self, seq: u64, cancel: &Cancel) {
        let mut s = self.state.lock();
        while s.next < seq && !cancel.is_aborted() {
            self.changed.wait_for(&mut s, Duration::from_millis(50));
        }
    }

    /// `seq` has had its turn (or needs none). Passing a turn twice changes nothing.
    pub(crate) fn pass(&self, seq: u64) {
        let mut s = self.state.lock();
        if seq < s.next {
            return;
        }
        s.arrived_early.insert(seq);
        loop {
            let next = s.next;
            if !s.arrived_early.remove(&next) {
                break;
            }
            s.next += 1;
        }
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    #[test]
    fn turns_go_in_order_whatever_order_they_arrive_in() {
        let turns = Arc::new(Turns::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = [3u64, 1, 4, 0, 2]
            .into_iter()
            .map(|seq| {
                let (turns, order) = (turns.clone(), order.clone());
                std::thread::spawn(move || {
                    turns.wait(seq, &Cancel::default());
                    order.lock().push(seq);
                    turns.pass(seq);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*order.lock(), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_turn_passed_early_or_twice_lets_the_next_go() {
        let turns = Turns::default();
        turns.pass(1);
        turns.pass(1);
        turns.pass(0);
        turns.wait(2, &Cancel::default());
        assert_eq!(turns.state.lock().next, 2);
    }

    #[test]
    fn the_shutdown_deadline_ends_the_wait() {
        let turns = Turns::default();
        let cancel = Cancel::default();
        cancel.cancel();
        let began = Instant::now();
        turns.wait(5, &cancel);
        assert!(began.elapsed() < Duration::from_secs(1));
    }
}
