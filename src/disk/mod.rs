//! The one on-disk queue: the overflow spill of the Background consumer (and, later, its
//! crash-safe journal).
//!
//! ```text
//!  <dir>/
//!    lock                       held (flock) while a queue is open: one process per directory
//!    cursor                     where reading resumes: segment, offset, crc32
//!    0000000000000001.seg       "TFQUEUE1", then records, appended in order
//!    0000000000000002.seg       a new segment per open, and past SEGMENT_BYTES
//!
//!  record = len: u32 LE │ crc32(len bytes ‖ payload): u32 LE │ payload (len bytes)
//! ```
//!
//! A record of the Background consumer is one event: a flags byte (bit 0: the caller gave
//! the time), then the event in its neutral JSON form, which round-trips exactly.
//!
//! Producers append under one lock (a local write into a buffer, no network); one reader,
//! the worker, reads what was appended in order and acknowledges what it has settled, which
//! removes the segments it has passed. A record whose checksum does not match is skipped
//! and counted, and reading resumes at the next intact record; a record cut short at the
//! end of a segment left by a dead process (a torn tail) is skipped and counted. Files
//! that are not segments are reported and left alone.

pub(crate) mod files;
mod queue;

#[allow(unused_imports, reason = "used by the consumers as they move onto it")]
pub(crate) use queue::{AppendError, Damage, DiskQueue, Reader, Record};

use crate::error::{Error, Result};
use crate::event::Event;

/// The record of one event.
pub(crate) fn encode_event(e: &Event) -> Vec<u8> {
    let mut b = Vec::with_capacity(256);
    b.push(u8::from(e.time_given));
    // Serializing an event cannot fail: every key is a string and every number finite.
    if serde_json::to_writer(&mut b, e).is_err() {
        b.truncate(1);
    }
    b
}

/// The event of one record.
pub(crate) fn decode_event(b: &[u8]) -> Result<Event> {
    let (flags, json) = b
        .split_first()
        .ok_or_else(|| Error::Config("an empty record in the disk queue".into()))?;
    let mut e: Event = serde_json::from_slice(json)
        .map_err(|err| Error::Config(format!("a record in the disk queue is not an event: {err}")))?;
    e.time_given = flags & 1 == 1;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, Properties};

    #[test]
    fn records_round_trip_exactly() {
        let mut e = Event::track("buy")
            .with_identity(Identity::user("u").with_session("s"))
            .with_properties(Properties::new().with("price", 9.9).with("n", 3))
            .with_insert_id("id-1");
        e.time = 1_700_000_000_500;
        for given in [false, true] {
            e.time_given = given;
            assert_eq!(decode_event(&encode_event(&e)).unwrap(), e);
        }
        assert!(decode_event(b"").is_err());
        assert!(decode_event(b"\x00not json").is_err());
    }
}
