//! A batch on its way: the events, shared by the worker and the lane delivering them, and
//! the state of each, which only moves forward once.
//!
//! ```text
//!             request succeeded (lane)           refused for good (lane)
//!  Pending ─────────────────────────► Delivered   Pending ───────────────► Dead
//!     │
//!     └── shutdown deadline (worker) ─► Taken: handed back to the store's front
//! ```
//!
//! Each move is a compare-and-swap from `Pending`, so an event is counted once, by whoever
//! moved it: a request that completes while the worker takes the batch back at a deadline
//! either counted it delivered first, or finds it taken (and the next tracker sends it again:
//! at least once, never lost).

use std::sync::atomic::{AtomicU8, Ordering};

use crate::consumer::Reporter;
use crate::delivery::Acks;
use crate::event::Event;

const PENDING: u8 = 0;
const DELIVERED: u8 = 1;
const DEAD: u8 = 2;
const TAKEN: u8 = 3;

/// A batch handed to a lane.
pub(super) struct InFlight {
    pub(super) events: Vec<Event>,
    // The weight of each event (usize::MAX for one read from disk: not handed back to a
    // producer to be freed).
    pub(super) weights: Vec<usize>,
    state: Vec<AtomicU8>,
    // The oldest event time in the batch (ms; 0 for an empty batch), found once.
    oldest_ms: i64,
}

impl InFlight {
    pub(super) fn new(events: Vec<Event>, weights: Vec<usize>) -> InFlight {
        let state = (0..events.len()).map(|_| AtomicU8::new(PENDING)).collect();
        let oldest_ms = events.iter().map(|e| e.time).min().unwrap_or(0);
        InFlight {
            events,
            weights,
            state,
            oldest_ms,
        }
    }

    /// The events and their weights, to be freed or reused.
    pub(super) fn into_parts(self) -> (Vec<Event>, Vec<usize>) {
        (self.events, self.weights)
    }

    fn settle(&self, i: usize, to: u8) -> bool {
        // A plain load first: most events a delivery settles were acknowledged by their
        // request already, and a failed compare-and-swap still costs a locked instruction.
        self.state.get(i).is_some_and(|s| {
            s.load(Ordering::Acquire) == PENDING
                && s.compare_exchange(PENDING, to, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
        })
    }

    /// Marks `events` delivered; returns how many were still pending (those are counted).
    pub(super) fn delivered(&self, events: impl IntoIterator<Item = usize>) -> u64 {
        events.into_iter().filter(|&i| self.settle(i, DELIVERED)).count() as u64
    }

    /// Marks `events` delivered, counts those still pending and tells the reporter of them.
    pub(super) fn acknowledge(&self, events: impl IntoIterator<Item = usize>, reporter: &Reporter) {
        if !reporter.watches_deliveries() {
            reporter.stats.add_delivered(self.delivered(events));
            return;
        }
        let moved: Vec<&Event> = events
            .into_iter()
            .filter(|&i| self.settle(i, DELIVERED))
            .filter_map(|i| self.events.get(i))
            .collect();
        reporter.stats.add_delivered(moved.len() as u64);
        reporter.acknowledged(&moved);
    }

    /// Marks `i` refused for good; false when it had already left `Pending`.
    pub(super) fn dead(&self, i: usize) -> bool {
        self.settle(i, DEAD)
    }

    /// The events still pending, in batch order.
    pub(super) fn pending(&self) -> Vec<usize> {
        (0..self.state.len())
            .filter(|&i| self.state[i].load(Ordering::Acquire) == PENDING)
            .collect()
    }

    /// Takes back what is still pending (at a shutdown deadline), in batch order: the lane
    /// can no longer count it.
    pub(super) fn take_pending(&self) -> Vec<usize> {
        (0..self.state.len()).filter(|&i| self.settle(i, TAKEN)).collect()
    }

    /// Whether nothing is pending any more.
    pub(super) fn is_settled(&self) -> bool {
        self.state.iter().all(|s| s.load(Ordering::Acquire) != PENDING)
    }

    /// The oldest event time in the batch, in ms (0 for an empty batch).
    pub(super) fn oldest_ms(&self) -> i64 {
        self.oldest_ms
    }
}

/// Acknowledges each request's events as it completes: marks them delivered and counts them
/// at once. `map` turns indices of the part being delivered into indices of the batch.
pub(super) struct LiveAcks<'a> {
    pub(super) flight: &'a InFlight,
    pub(super) map: Option<&'a [usize]>,
    pub(super) reporter: &'a Reporter,
}

impl std::fmt::Debug for LiveAcks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveAcks").finish_non_exhaustive()
    }
}

impl Acks for LiveAcks<'_> {
    fn delivered(&self, events: &[usize]) {
        let (flight, reporter) = (self.flight, self.reporter);
        match self.map {
            Some(map) => flight.acknowledge(events.iter().filter_map(|&i| map.get(i).copied()), reporter),
            None => flight.acknowledge(events.iter().copied(), reporter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_settled_once_by_whoever_comes_first() {
        let f = InFlight::new(vec![Event::track("a"); 4], vec![1; 4]);
        assert_eq!(f.delivered([0, 1]), 2);
        assert_eq!(f.delivered([1]), 0, "counted once");
        assert!(f.dead(2));
        assert!(!f.dead(0), "a delivered event is not refused after");
        assert_eq!(f.pending(), vec![3]);
        assert_eq!(f.take_pending(), vec![3]);
        assert_eq!(f.delivered([3]), 0, "taken back: a late success is not counted");
        assert!(f.is_settled());
        assert!(!f.dead(99), "out of range takes nothing");
    }
}
