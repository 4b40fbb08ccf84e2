//! The relay's sinks as a config describes them (feature `kafka`): each backend with its own
//! consumer settings, but blocking instead of spilling and with no disk queue, since what a
//! sink has not acknowledged stays uncommitted in Kafka.

use super::Config;
use crate::consumer::{DeliveredCallback, ErrorCallback};
use crate::error::Result;
use crate::{Overflow, TrackerBuilder};

/// What a relay sink tells the relay.
pub(crate) struct RelayHooks {
    pub(crate) delivered: DeliveredCallback,
    pub(crate) failed: ErrorCallback,
}

impl Config {
    /// A tracker builder whose consumers are the relay's sinks: the config's backends and
    /// routes, each consumer taking at least `waiting` events in memory (the relay pauses
    /// before that fills), with the callbacks `hooks(slot, label)` gives.
    pub(crate) fn relay_sinks(
        &self,
        waiting: usize,
        hooks: &dyn Fn(usize, &str) -> RelayHooks,
    ) -> Result<TrackerBuilder> {
        self.check()?;
        let mut builder = crate::Tracker::builder().super_properties(self.super_properties.clone());
        for (slot, (label, backend, route)) in self.backend_entries().into_iter().enumerate() {
            let settings = self.settings_for(backend)?;
            let capacity = settings.queue_capacity.unwrap_or(0).max(waiting + 1_000);
            let RelayHooks { delivered, failed } = hooks(slot, &label);
            let consumer = settings
                .background_builder(backend.build_labelled(&label, &self.transport)?, None, false)?
                .overflow(Overflow::Block)
                .queue_capacity(capacity)
                .max_queue_bytes(usize::MAX)
                .on_delivered(move |b, e| delivered(b, e))
                .on_error(move |err, e| failed(err, e))
                .try_build()?;
            builder = builder.routed(consumer, route);
        }
        Ok(builder)
    }
}

impl std::fmt::Debug for RelayHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelayHooks")
    }
}
