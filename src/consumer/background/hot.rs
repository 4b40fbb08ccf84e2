//! The hot part of the memory queue: what producers fill while the CPU is the bound (see
//! `overflow`'s `queue_or_hold`).

/// How much of the memory queue producers fill while the CPU is the bound: about what a
/// core's cache holds. An event queued is read again when it is encoded, and freed after;
/// behind 10,000 others (10 MB of standard events) it has left the cache by then: on
/// loopback, delivery costs a sixth less CPU per event behind about 1,000 (BENCHMARKS.md).
const HOT_BYTES: usize = 1 << 20;
/// ... or at least this many of the worker's batches, so that a free lane finds a full one.
const HOT_BATCHES: usize = 2;

/// The part of the memory queue producers fill while the CPU is the bound; past it, they
/// wait for room as at a full queue, while the worker takes often. The rest of the queue is
/// for when the collector stalls, fails or throttles.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hot {
    bytes: usize,
    events: usize,
}

impl Hot {
    pub(super) fn new(max_queue_bytes: usize, capacity: usize, max_batch: usize) -> Hot {
        Hot {
            bytes: HOT_BYTES.min(max_queue_bytes),
            events: (HOT_BATCHES * max_batch).min(capacity),
        }
    }

    /// Whether an event of `weight` bytes stays within the hot part of a queue holding
    /// `queued` bytes, by bytes or by count (`len` is only asked past the bytes: it reads
    /// the queue's two ends, which the worker and the other producers write).
    pub(super) fn admits(&self, queued: usize, weight: usize, len: impl FnOnce() -> usize) -> bool {
        queued + weight <= self.bytes || len() < self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hot_part_is_a_megabyte_or_two_batches_whichever_holds_more_within_the_queue() {
        let hot = Hot::new(32 << 20, 10_000, 500);
        // Standard events (about 1 KiB): the megabyte ends first, two batches still go in.
        assert!(hot.admits(1 << 19, 1_000, || 5_000));
        assert!(hot.admits(2 << 20, 1_000, || 999));
        assert!(!hot.admits(2 << 20, 1_000, || 1_000));
        // Small events: a megabyte holds more than two batches.
        assert!(hot.admits((1 << 20) - 100, 100, || 5_000));
        // Never more than the queue: a byte budget or a capacity below the hot part.
        let small = Hot::new(4_096, 100, 500);
        assert!(!small.admits(4_000, 200, || 100));
        assert!(small.admits(4_000, 96, || 100));
    }
}
