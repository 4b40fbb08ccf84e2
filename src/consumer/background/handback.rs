//! At a shutdown: everything the store took and no backend acknowledged goes back to the
//! front of the disk queue, in the order it was accepted, in one write.
//!
//! ```text
//!  flights (oldest first): what each lane has not delivered ┐
//!  the batch being filled                                   ├─► front segment (one file,
//!  the memory queue                                         ┘   at most one fsync) ─► read
//!                                                               first by the next tracker
//! ```
//!
//! The write goes through the consumer's disk gate: a shutdown that stopped waiting has
//! closed it and counted these events as failed, and nothing may be written after it
//! returned.

use std::io;
use std::sync::atomic::Ordering;

use super::worker::Worker;
use crate::disk::{encode_event, frame, Requeued};
use crate::error::Error;
use crate::event::Event;

impl Worker {
    /// Hands back what no backend acknowledged; see the module docs.
    pub(super) fn hand_back(&mut self) {
        let events = self.take_back();
        if events.is_empty() {
            if let Some(r) = self.reader.as_mut()
                && let Some(Err(e)) = self.shared.disk_gate.write(|| r.ack())
            {
                log::error!("trackflow: cannot record progress in the disk queue: {e}");
            }
            return;
        }
        let n = events.len() as u64;
        match self.requeue(&events) {
            Ok(Requeued::Written | Requeued::Nothing) => {
                self.shared.handed_back.fetch_add(n, Ordering::AcqRel);
            }
            Ok(Requeued::Refused) => {
                // The shutdown gave up waiting and counted them: only tell the callback.
                self.shared.reporter.tell(&Error::Cancelled, &events);
            }
            Err(e) => {
                log::error!(
                    "trackflow: cannot hand {n} events back to the disk queue ({e}); they are reported as failed"
                );
                self.shared.reporter.failed_unstored(&Error::Cancelled, &events);
            }
        }
    }

    /// Takes back, in the order they were accepted, the events the lanes have not
    /// delivered, the batch being filled and the memory queue.
    fn take_back(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        for f in &self.flights.queue {
            if let Some(b) = &f.batch {
                events.extend(b.take_pending().into_iter().map(|i| b.events[i].clone()));
            }
        }
        events.append(&mut self.buf);
        self.weights.clear();
        let mut weight = 0;
        while let Ok(q) = self.rx.try_recv() {
            weight += q.weight;
            if let Some(pos) = q.pos {
                // A journal record: the reader moves past it, for it goes in front.
                let n = self.passed_in_memory.map_or(0, |(_, n)| n);
                self.passed_in_memory = Some((pos, n + 1));
            }
            events.push(q.event);
        }
        self.shared.unqueue(weight);
        self.pass();
        events
    }

    /// Writes `events` in front of the disk queue.
    fn requeue(&mut self, events: &[Event]) -> io::Result<Requeued> {
        let Some(reader) = self.reader.as_mut() else {
            return Err(io::Error::other("no spool directory to keep them in"));
        };
        let mut framed = Vec::with_capacity(events.len() * 256);
        let mut record = Vec::new();
        for e in events {
            record.clear();
            encode_event(e, &mut record);
            frame(&record, &mut framed);
        }
        let sync = self.shared.sync_hand_back;
        match self
            .shared
            .disk_gate
            .write(|| reader.requeue_front(&framed, sync, || true))
        {
            Some(r) => r,
            None => Ok(Requeued::Refused),
        }
    }
}
