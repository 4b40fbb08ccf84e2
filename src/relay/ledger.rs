//! Which Kafka offsets still wait on a sink's acknowledgement, and so how far each
//! partition may be committed: never past an event some sink has not acknowledged or
//! dead-lettered.
//!
//! ```text
//!  partition 3:  … 41 42 43 44 45 46 … next = 47
//!                      ▲  waiting: {42: sinks 0b10, 45: 0b01}
//!                      └─ committable: 42 (the first waiting), else `next`
//!  a sink acknowledges an event by its insert id ─► its bit clears; 0 ─► the offset is done
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::InsertId;
use crate::event::Event;

/// A topic and a partition.
pub(crate) type PartKey = (Arc<str>, i32);

/// The books of every assigned partition.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    books: Mutex<Books>,
}

#[derive(Debug, Default)]
struct Books {
    parts: HashMap<PartKey, Part>,
    // Where each event waits, by its insert id (a topic may carry one event twice: the oldest
    // offset is acknowledged first).
    by_id: HashMap<InsertId, VecDeque<(PartKey, i64)>>,
    waiting: usize,
    // Set once the relay stops: what comes after its last commit must not move anything.
    frozen: bool,
}

#[derive(Debug, Default)]
struct Part {
    // Offset → the sinks that still owe an acknowledgement (a bit each).
    waiting: BTreeMap<i64, u64>,
    // The offset after the last one taken.
    next: Option<i64>,
    committed: Option<i64>,
}

impl Ledger {
    /// Message `offset` of `key` was read; `takers` (a bit per sink) now owe an
    /// acknowledgement of event `id` (none: it is done at once).
    pub(crate) fn taken(&self, key: &PartKey, offset: i64, id: &InsertId, takers: u64) {
        let mut b = self.books.lock();
        let part = b.parts.entry(key.clone()).or_default();
        part.next = Some(offset + 1);
        if takers == 0 {
            return;
        }
        // Read again while it still waits (a fetch after a pause or a seek can repeat what
        // was read): one offset, owed once. Counted twice, `waiting` never went back to 0.
        if let Some(owed) = part.waiting.get_mut(&offset) {
            *owed |= takers;
            return;
        }
        part.waiting.insert(offset, takers);
        b.by_id
            .entry(id.clone())
            .or_default()
            .push_back((key.clone(), offset));
        b.waiting += 1;
    }

    /// Sink `sink` acknowledged (delivered or dead-lettered) `events`.
    pub(crate) fn acknowledged(&self, sink: usize, events: &[Event]) {
        let mut b = self.books.lock();
        if b.frozen {
            return;
        }
        for e in events {
            b.clear(sink, &e.insert_id);
        }
    }

    /// Offsets that may be committed now, for `keys` (all assigned partitions with `None`):
    /// the first waiting offset, else the one after the last read, where it moved.
    pub(crate) fn committable(&self, keys: Option<&[PartKey]>) -> Vec<(PartKey, i64)> {
        let b = self.books.lock();
        b.parts
            .iter()
            .filter(|(k, _)| keys.is_none_or(|ks| ks.contains(k)))
            .filter_map(|(k, p)| {
                let at = p.waiting.keys().next().copied().or(p.next)?;
                (p.committed != Some(at)).then(|| (k.clone(), at))
            })
            .collect()
    }

    /// `offsets` were committed.
    pub(crate) fn committed(&self, offsets: &[(PartKey, i64)]) {
        let mut b = self.books.lock();
        for (k, at) in offsets {
            if let Some(p) = b.parts.get_mut(k) {
                p.committed = Some(*at);
            }
        }
    }

    /// The last offset committed for `key`.
    pub(crate) fn committed_at(&self, key: &PartKey) -> Option<i64> {
        self.books.lock().parts.get(key).and_then(|p| p.committed)
    }

    /// Offsets waiting, in `keys` or in all.
    pub(crate) fn waiting(&self, keys: Option<&[PartKey]>) -> usize {
        let b = self.books.lock();
        match keys {
            None => b.waiting,
            Some(ks) => ks
                .iter()
                .filter_map(|k| b.parts.get(k))
                .map(|p| p.waiting.len())
                .sum(),
        }
    }

    /// Partitions handed to another member: their books close. Events of theirs still with
    /// the sinks are delivered all the same; their acknowledgements find nothing.
    pub(crate) fn forget(&self, keys: &[PartKey]) {
        let mut b = self.books.lock();
        for k in keys {
            if let Some(p) = b.parts.remove(k) {
                b.waiting -= p.waiting.len();
            }
        }
    }

    /// Nothing moves any more (the relay made its last commit).
    pub(crate) fn freeze(&self) {
        self.books.lock().frozen = true;
    }

    pub(crate) fn is_frozen(&self) -> bool {
        self.books.lock().frozen
    }
}

impl Books {
    fn clear(&mut self, sink: usize, id: &InsertId) {
        let Some(list) = self.by_id.get_mut(id) else {
            return;
        };
        let bit = 1u64 << sink;
        let mut done = None;
        for (i, (k, o)) in list.iter().enumerate() {
            let Some(part) = self.parts.get_mut(k) else {
                // Its partition went to another member.
                done = Some((i, false));
                break;
            };
            match part.waiting.get_mut(o) {
                Some(mask) if *mask & bit != 0 => {
                    *mask &= !bit;
                    if *mask == 0 {
                        part.waiting.remove(o);
                        done = Some((i, true));
                    }
                    break;
                }
                _ => {}
            }
        }
        if let Some((i, counted)) = done {
            list.remove(i);
            if counted {
                self.waiting -= 1;
            }
            if list.is_empty() {
                self.by_id.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> PartKey {
        (Arc::from("t"), p)
    }

    /// An event with an insert id of its own, as every message the relay reads has.
    fn event() -> Event {
        let mut e = Event::track("e");
        e.insert_id = crate::clock::new_insert_id();
        e
    }

    #[test]
    fn commits_stop_at_the_first_offset_a_sink_still_owes() {
        let l = Ledger::default();
        let events: Vec<Event> = (0..4).map(|_| event()).collect();
        for (o, e) in events.iter().enumerate() {
            l.taken(&key(0), 10 + o as i64, &e.insert_id, 0b11);
        }
        assert_eq!(l.committable(None), vec![(key(0), 10)]);
        // Sink 0 has all, sink 1 all but the second: the commit stops there.
        l.acknowledged(0, &events);
        l.acknowledged(1, &[events[0].clone(), events[2].clone(), events[3].clone()]);
        assert_eq!(l.committable(None), vec![(key(0), 11)]);
        l.acknowledged(1, &events[1..2]);
        assert_eq!(l.committable(None), vec![(key(0), 14)]);
        l.committed(&[(key(0), 14)]);
        assert!(l.committable(None).is_empty(), "nothing new to commit");
        assert_eq!(l.waiting(None), 0);
    }

    #[test]
    fn a_message_read_twice_is_owed_once() {
        let l = Ledger::default();
        let e = event();
        l.taken(&key(2), 7, &e.insert_id, 0b11);
        l.taken(&key(2), 7, &e.insert_id, 0b11);
        assert_eq!(l.waiting(None), 1);
        l.acknowledged(0, std::slice::from_ref(&e));
        l.acknowledged(1, std::slice::from_ref(&e));
        assert_eq!((l.waiting(None), l.committable(None)), (0, vec![(key(2), 8)]));
        // The second copy's acknowledgements find nothing left to clear.
        l.acknowledged(0, std::slice::from_ref(&e));
        l.acknowledged(1, &[e]);
        assert_eq!(l.waiting(None), 0);
    }

    #[test]
    fn a_twice_written_event_is_acknowledged_oldest_first_and_forgotten_partitions_drop_out() {
        let l = Ledger::default();
        let e = event();
        l.taken(&key(1), 5, &e.insert_id, 0b1);
        l.taken(&key(1), 9, &e.insert_id, 0b1);
        l.acknowledged(0, std::slice::from_ref(&e));
        assert_eq!(l.committable(None), vec![(key(1), 9)]);
        l.forget(&[key(1)]);
        assert_eq!(l.waiting(None), 0);
        l.acknowledged(0, &[e]);
        assert!(l.committable(None).is_empty());
    }
}
