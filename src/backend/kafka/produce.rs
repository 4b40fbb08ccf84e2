//! The requests: a batch produced message by message, each acknowledged by its delivery
//! report; a batch waits for its reports, and at a deadline what is unreported is purged and
//! kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer, PurgeConfig};

use super::client::Kafka;
use super::reports::{classify, Slot, Tally};
use crate::backend::Backend;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result};
use crate::event::Event;

/// How long a purged batch waits for the reports of its purged messages.
pub(super) const PURGE_WAIT: Duration = Duration::from_secs(1);

impl Kafka {
    /// Every event's JSON, one after another, with where each ends (or why it could not be
    /// written). Done before the batch's turn, so that batches encode side by side.
    pub(super) fn encode(batch: &[Event]) -> Encoded {
        let mut payloads = Vec::with_capacity(batch.len() * 320);
        let ends = batch
            .iter()
            .map(|event| {
                let start = payloads.len();
                crate::codec::json::write_event(&mut payloads, event)
                    .map(|()| payloads.len())
                    .inspect_err(|_| payloads.truncate(start))
            })
            .collect();
        (payloads, ends)
    }

    /// Hands the encoded events of `batch` to the producer; returns the tally its reports
    /// fill.
    pub(super) fn produce(
        &self,
        batch: &[Event],
        (payloads, ends): Encoded,
        ctx: &DeliveryCtx<'_>,
    ) -> Arc<Tally> {
        let tally = Tally::new(batch.len());
        let mut start = 0;
        for (i, (event, end)) in batch.iter().zip(ends).enumerate() {
            let end = match end {
                Ok(end) => end,
                Err(e) => {
                    tally.set(i, Err(e));
                    continue;
                }
            };
            let slot = Box::new(Slot {
                tally: tally.clone(),
                index: i,
            });
            let mut record = BaseRecord::with_opaque_to(&self.topic, slot).payload(&payloads[start..end]);
            start = end;
            let identity = &event.identity;
            if let Some(key) = identity.user_id.as_deref().or(identity.anonymous_id.as_deref()) {
                record = record.key(key);
            }
            self.send(record, ctx, &tally, i);
        }
        tally
    }

    /// Sends one record, waiting (polling reports) while librdkafka's queue is full.
    pub(super) fn send(
        &self,
        mut record: BaseRecord<'_, str, [u8], Box<Slot>>,
        ctx: &DeliveryCtx<'_>,
        tally: &Tally,
        i: usize,
    ) {
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if !ctx.cancel.is_aborted() =>
                {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return tally.set(i, Err(self.error(e))),
            }
        }
    }

    /// Polls reports until every message of the batch has one, or librdkafka's own delivery
    /// timeout has long passed. At the shutdown deadline every batch in flight is being
    /// given up, so the producer is purged (the reports of what it held then come at once,
    /// as failures).
    pub(super) fn await_reports(&self, tally: &Tally, ctx: &DeliveryCtx<'_>) {
        let give_up = Instant::now() + self.wait;
        while !tally.complete() && Instant::now() < give_up {
            if ctx.cancel.is_aborted() {
                self.producer.purge(PurgeConfig::default().queue().inflight());
                let until = Instant::now() + PURGE_WAIT;
                while !tally.complete() && Instant::now() < until {
                    self.producer.poll(Duration::from_millis(10));
                }
                return;
            }
            self.producer.poll(Duration::from_millis(10));
        }
    }

    pub(super) fn error(&self, e: KafkaError) -> Error {
        classify(format!("kafka topic `{}`: {e}", self.topic), e)
    }
}

impl Backend for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn check(&self, _event: &Event) -> Result<()> {
        Ok(())
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        if ctx.dry_run {
            log::info!("kafka (dry run): {} events to `{}`", batch.len(), self.topic);
            return Delivery::default();
        }
        // Handed to the producer in the order the batches were handed out, so one key's
        // events stay in order; the broker's acknowledgements are awaited side by side.
        let encoded = Self::encode(batch);
        let tally = ctx.in_order(|| self.produce(batch, encoded, ctx));
        self.await_reports(&tally, ctx);
        if ctx.debug {
            log::info!("kafka: {} events to `{}`", batch.len(), self.topic);
        }
        let aborted = ctx.cancel.is_aborted();
        tally.delivery(|| {
            if aborted {
                Error::Cancelled
            } else {
                Error::Timeout(self.wait)
            }
        })
    }
}

/// A batch's events as JSON, back to back, and where each one ends.
pub(super) type Encoded = (Vec<u8>, Vec<Result<usize>>);
