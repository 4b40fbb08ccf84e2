//! Delivery reports: librdkafka's callback routes each to its batch's tally, and what an
//! error means for the events (refused for good, or kept).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::ClientContext;

use crate::delivery::Delivery;
use crate::error::{Error, Result, TransportError};

/// The outcome of each message of one batch, as its delivery reports arrive.
pub(super) struct Tally {
    pub(super) outcomes: Mutex<Vec<Option<Result<()>>>>,
    pub(super) left: AtomicUsize,
}

impl Tally {
    pub(super) fn new(n: usize) -> Arc<Tally> {
        Arc::new(Tally {
            outcomes: Mutex::new((0..n).map(|_| None).collect()),
            left: AtomicUsize::new(n),
        })
    }

    pub(super) fn set(&self, i: usize, outcome: Result<()>) {
        let mut outcomes = self.outcomes.lock();
        if outcomes[i].is_none() {
            outcomes[i] = Some(outcome);
            self.left.fetch_sub(1, Ordering::AcqRel);
        }
    }

    pub(super) fn complete(&self) -> bool {
        self.left.load(Ordering::Acquire) == 0
    }

    /// The batch's delivery: failures grouped by message; a message with no report failed
    /// with `unreported()`'s error.
    pub(super) fn delivery(&self, unreported: impl Fn() -> Error) -> Delivery {
        let mut groups: BTreeMap<String, (Error, Vec<usize>)> = BTreeMap::new();
        for (i, outcome) in self.outcomes.lock().iter_mut().enumerate() {
            let error = match outcome.take() {
                Some(Ok(())) => continue,
                Some(Err(e)) => e,
                None => unreported(),
            };
            groups
                .entry(error.to_string())
                .or_insert_with(|| (error, Vec::new()))
                .1
                .push(i);
        }
        let mut d = Delivery::default();
        for (error, events) in groups.into_values() {
            d.record(Err(error), 0, || events);
        }
        d
    }
}

/// What a librdkafka error means for the events: refused for good (a message too large, a
/// topic it may not write, a message the broker calls invalid), cancelled (purged at the
/// shutdown deadline), or transient (the broker unreachable, a timeout): kept and sent again.
pub(super) fn classify(message: String, e: KafkaError) -> Error {
    use RDKafkaErrorCode as C;
    match e.rdkafka_error_code() {
        Some(C::PurgeQueue | C::PurgeInflight) => Error::Cancelled,
        Some(
            code @ (C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidMessage
            | C::InvalidRecord
            | C::InvalidTopic
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::UnsupportedForMessageFormat
            | C::InvalidRequiredAcks
            | C::BadMessage
            | C::InvalidArgument
            | C::Fatal),
        ) => Error::Rejected {
            code: code as i64,
            message,
        },
        _ => Error::Transport(TransportError::with_source(message, e)),
    }
}

/// Which message of which batch a delivery report is for.
pub(super) struct Slot {
    pub(super) tally: Arc<Tally>,
    pub(super) index: usize,
}

/// Routes each delivery report to its batch's tally.
pub(super) struct Reports;

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<Slot>;

    fn delivery(&self, report: &DeliveryResult<'_>, slot: Box<Slot>) {
        let outcome = match report {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(classify(format!("kafka delivery report: {e}"), e.clone())),
        };
        slot.tally.set(slot.index, outcome);
    }
}
