//! What travels to the worker: events on the memory queue, and commands on the control
//! channel.

use crossbeam_channel::Sender;

use crate::disk::Pos;
use crate::event::Event;

pub(super) enum Ctl {
    /// Deliver everything queued; the reply says whether it all settled.
    Flush(Sender<bool>),
    Wake,
    Shutdown,
}

/// An event in the memory queue, with its weight (counted against the byte budget) and,
/// with a journal, where its record ends there.
pub(super) struct Queued {
    pub(super) event: Event,
    pub(super) weight: usize,
    pub(super) pos: Option<Pos>,
}
