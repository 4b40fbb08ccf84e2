//! Keeps delivered events in memory: for tests of code that tracks, and for examples.

use std::sync::Arc;

use parking_lot::Mutex;

use super::Backend;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::Result;
use crate::event::Event;

/// A backend that stores every delivered event; clones share the store.
///
/// # Examples
///
/// ```
/// use trackflow::{Identity, ImmediateConsumer, MemoryBackend, Properties, Tracker};
///
/// let memory = MemoryBackend::new();
/// let tracker = Tracker::builder()
///     .consumer(ImmediateConsumer::new(memory.clone()))
///     .build()?;
/// tracker.track(&Identity::user("u1"), "signup", Properties::new().with("plan", "pro"))?;
/// assert_eq!(memory.events()[0].name(), Some("signup"));
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    events: Arc<Mutex<Vec<Event>>>,
}

impl MemoryBackend {
    /// An empty store.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = trackflow::MemoryBackend::new();
    /// assert!(m.events().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of everything delivered so far, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = trackflow::MemoryBackend::new();
    /// assert!(m.events().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().clone()
    }

    /// Takes everything delivered so far, leaving the store empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = trackflow::MemoryBackend::new();
    /// assert!(m.take().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock())
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn max_in_flight(&self) -> Option<usize> {
        // Tests read events back in the order they were tracked.
        Some(1)
    }
    fn check(&self, _event: &Event) -> Result<()> {
        Ok(())
    }
    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        if !ctx.dry_run {
            self.events.lock().extend_from_slice(batch);
        }
        Delivery::default()
    }
}
