//! The door of a consumer: who is inside `consume`, and whether it is closed.
//!
//! Shutdown closes it, then waits until no caller is inside: from then on nothing can be
//! handed over behind the worker's (or the flush's) last look, so nothing accepted is missed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::stats::Padded;

/// Counts the producers inside `consume`, so that shutdown can know none is left.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    inside: Padded<AtomicUsize>,
    closed: AtomicBool,
}

pub(crate) struct Inside<'a>(&'a Gate);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    /// Enters unless closed. SeqCst on both sides: either the producer sees `closed`, or
    /// the closer sees the producer inside.
    pub(crate) fn enter(&self) -> Option<Inside<'_>> {
        self.inside.fetch_add(1, Ordering::SeqCst);
        let guard = Inside(self);
        (!self.closed.load(Ordering::SeqCst)).then_some(guard)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Closes; returns false if it was closed already.
    pub(crate) fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::SeqCst)
    }

    /// Waits until no producer is inside; false if `deadline` came first.
    pub(crate) fn wait_empty(&self, deadline: Instant) -> bool {
        while self.inside.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        true
    }
}
