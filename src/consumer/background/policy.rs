//! The two choices a user makes about the store: what `track()` does when the memory queue
//! is full, and what an accepted event survives.

use std::time::Duration;

/// What `track()` does when the memory queue is full (in count or in bytes).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackflow::Overflow;
/// let p = Overflow::BlockTimeout(Duration::from_millis(5));
/// assert_ne!(p, Overflow::default());
/// assert_eq!(Overflow::default(), Overflow::Spill);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Append the event to the disk queue (the default): the caller never waits on the
    /// network, nothing is dropped while the disk budget lasts, and the worker delivers the
    /// spilled events in order as the backend recovers. Past the budget, or without a usable
    /// spool directory, the event is dropped and counted ([`Error::QueueFull`](crate::Error::QueueFull)).
    ///
    /// A queue full while the collector answers (no failure, throttling or pause asked for)
    /// and the worker took from it in the last 20 ms fell behind the CPU, not the network:
    /// there the call waits for room, in 1 ms looks, while that holds, since a spill would
    /// triple the event's cost. A collector that fails, throttles or stalls spills at once.
    #[default]
    Spill,
    /// Wait for room: nothing is dropped, the caller slows to the delivery rate, and waits
    /// as long as the collector does. Not for an async executor's threads.
    Block,
    /// Wait at most this long, then drop the event and return [`Error::QueueFull`](crate::Error::QueueFull).
    BlockTimeout(Duration),
    /// Drop the event at once and return [`Error::QueueFull`](crate::Error::QueueFull).
    DropNewest,
}

/// What an accepted event survives: when `track()` returns `Ok`, where is the event?
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trackflow::Durability;
/// assert_eq!(Durability::default(), Durability::Memory);
/// let d = Durability::Fsync { interval: Duration::from_millis(100) };
/// assert_ne!(d, Durability::Process);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// In memory (the default): it survives anything but the death of the process; what
    /// spilled to disk survives that too.
    #[default]
    Memory,
    /// In the journal, in the page cache: it survives the death of the process (a crash,
    /// kill -9, an OOM kill), not the loss of the machine's power.
    Process,
    /// As `Process`, and written through to the disk by a background flusher every
    /// `interval`: a power loss takes at most the last `interval`. `flush()` also writes the
    /// journal through before it returns.
    Fsync {
        /// How often the journal is written through (group commit).
        interval: Duration,
    },
}
