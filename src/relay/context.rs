//! The group consumer's context: what happens at a rebalance. On a revocation the relay
//! stops taking from those partitions, waits (bounded) for what is in flight to be
//! acknowledged, commits that, and hands the rest over; the next owner reads on from the
//! commit (at least once).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};

use super::ledger::{Ledger, PartKey};

/// Shared by the poll loop and librdkafka's callbacks (which run inside `poll`).
pub(crate) struct RelayContext {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) revoke_wait: Duration,
    /// Set at each rebalance: the poll loop pauses the new assignment again if it must.
    pub(crate) rebalanced: AtomicBool,
}

impl ClientContext for RelayContext {}

impl ConsumerContext for RelayContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let keys = keys_of(tpl);
            self.drain(&keys, self.revoke_wait);
            commit(consumer, &self.ledger, Some(&keys), CommitMode::Sync);
            let left = self.ledger.waiting(Some(&keys));
            if left > 0 {
                log::warn!(
                    "trackflow relay: {left} events of {} revoked partitions not acknowledged in {:?}; the next owner reads them again",
                    keys.len(),
                    self.revoke_wait
                );
            }
            self.ledger.forget(&keys);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => log::info!("trackflow relay: assigned {} partitions", tpl.count()),
            Rebalance::Error(e) => log::warn!("trackflow relay: rebalance error: {e}"),
            Rebalance::Revoke(_) => {}
        }
        self.rebalanced.store(true, Ordering::Release);
    }
}

impl RelayContext {
    /// Waits until nothing waits in `keys`, or `wait` passed.
    pub(crate) fn drain(&self, keys: &[PartKey], wait: Duration) {
        let end = Instant::now() + wait;
        while self.ledger.waiting(Some(keys)) > 0 && !self.ledger.is_frozen() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

pub(crate) fn keys_of(tpl: &TopicPartitionList) -> Vec<PartKey> {
    tpl.elements()
        .iter()
        .map(|e| (Arc::from(e.topic()), e.partition()))
        .collect()
}

/// Commits what the ledger allows for `keys` (all with `None`); returns what was committed.
pub(crate) fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    ledger: &Ledger,
    keys: Option<&[PartKey]>,
    mode: CommitMode,
) -> usize {
    let offsets = ledger.committable(keys);
    if offsets.is_empty() {
        return 0;
    }
    let mut tpl = TopicPartitionList::new();
    for ((topic, p), at) in &offsets {
        if tpl
            .add_partition_offset(topic, *p, rdkafka::Offset::Offset(*at))
            .is_err()
        {
            return 0;
        }
    }
    match consumer.commit(&tpl, mode) {
        Ok(()) => {
            ledger.committed(&offsets);
            offsets.len()
        }
        Err(e) => {
            log::warn!("trackflow relay: commit failed ({e}); the next one covers it");
            0
        }
    }
}
