//! The store of one consumer: a bounded memory queue, a disk queue behind it, and one
//! worker thread. The caller only enqueues, and never waits on the network; an event leaves
//! the store only when its backend acknowledged it or refused it for good.
//!
//! ```text
//!  track() ─► gate ─► [ memory queue: count + bytes ] ──────────────► worker thread
//!     │        │ full? ─ Spill (default) ─► [ disk queue ] ─────────►   │ memory first, then disk
//!     │        │       └ Block / BlockTimeout / DropNewest (counted)    │ batch of max_batch,
//!  flush()/shutdown() ─► [ control ] ──────────────────────────────►    │ or every flush_interval
//!                                                                       ▼
//!                                 lanes: Backend::deliver, each request acknowledged as it ends;
//!                                 transient failures wait (backoff, circuit) and go again
//! ```
//!
//! The caller's thread does no network I/O and holds no lock a sender could wait on; a
//! spilled event costs it one local append into a shared memory map (in the page cache when
//! `track()` returns). While the collector answers and the worker keeps taking, the CPU is
//! the bound: producers then wait for room rather than spill, and fill only the queue's
//! first megabyte, whose events are still in the cache when a lane encodes them (`hot`,
//! `overflow`). With `Durability::Process`/`Fsync` every event is also appended to that
//! memory-mapped journal first (a copy still goes to memory, in journal order), so what was
//! accepted survives the death of the process. Flush and shutdown travel on their own
//! channel, so they are not stuck behind a full queue. `shutdown` closes the gate (so nothing
//! enters after the worker's last look), lets the worker deliver until shortly before the
//! deadline, then cancels: requests in flight are abandoned, and everything not acknowledged
//! goes to the front of the disk queue in one write before `shutdown` returns (see
//! `handback`). The next tracker on the directory delivers it first.

mod builder;
mod consumer;
mod flight;
mod flusher;
mod handback;
mod hot;
mod lanes;
mod overflow;
mod policy;
mod queued;
mod shared;
mod shutdown;
mod spill;
mod worker;

pub use builder::{
    BackgroundConsumerBuilder, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY,
};
pub use consumer::BackgroundConsumer;
pub use policy::{Durability, Overflow};
