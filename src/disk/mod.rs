//! The one on-disk queue: the overflow spill of the Background consumer and its crash-safe
//! journal.
//!
//! ```text
//!  <dir>/
//!    lock                       held (flock) while a queue is open: one process per directory
//!    cursor                     where reading resumes: segment, offset, front nonce, crc32
//!    0000000000000000.seg       the front: what a shutdown handed back, read first (front.rs)
//!    0000000000000001.seg       "TFQUEUE1", then records, appended in order
//!    0000000000000002.seg       a new segment per open, and past SEGMENT_BYTES (spill) or
//!                               MAPPED_SEGMENT_BYTES (journal)
//!    spare                      journal only: the next segment, made ahead by the reader's
//!                               thread and renamed into place; removed at open
//!
//!  record = len: u32 LE │ crc32(len bytes ‖ payload): u32 LE │ payload (len bytes)
//! ```
//!
//! A record of the Background consumer is one event in the compact binary form of
//! `record.rs`, which round-trips exactly.
//!
//! Producers append under one lock (a local write into a buffer, no network); one reader,
//! the worker, reads what was appended in order and acknowledges what it has settled, which
//! removes the segments it has passed. A record whose checksum does not match is skipped
//! and counted, and reading resumes at the next intact record; a record cut short at the
//! end of a segment left by a dead process (a torn tail) is skipped and counted. Files
//! that are not segments are reported and left alone.

mod cursor;
pub(crate) mod files;
mod format;
mod front;
mod mapped;
mod open;
mod queue;
mod reader;
mod record;
mod requeue;

pub(crate) use format::{frame, stored, Pos};
pub use queue::DiskDamage;
pub(crate) use queue::{AppendError, DiskQueue, Mode};
pub(crate) use reader::Reader;
pub(crate) use record::{decode_event, encode_event};
pub(crate) use requeue::Requeued;
