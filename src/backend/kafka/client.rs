//! The backend itself: one librdkafka producer and its topic.

use std::fmt;
use std::time::Duration;

use rdkafka::producer::BaseProducer;

use super::reports::Reports;

/// Events to a Kafka topic. See the [module docs](super).
pub struct Kafka {
    pub(super) producer: BaseProducer<Reports>,
    pub(super) topic: String,
    pub(super) shown: String,
    /// The longest a batch waits for its reports: librdkafka fails a message by then.
    pub(super) wait: Duration,
}

impl fmt::Debug for Kafka {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kafka({})", self.shown)
    }
}
