//! The relay: a group consumer's poll loop handing each message's event to the sinks (the
//! config's backends, each a Background consumer), pausing when too much waits, committing
//! what every sink acknowledged.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Message};

use super::context::{commit, keys_of, RelayContext};
use super::ledger::{Ledger, PartKey};
use super::source::SourceSettings;
use super::stats::{PartitionLag, RelayStats};
use crate::clock::InsertId;
use crate::config::Config;
use crate::consumer::ShutdownReport;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::spool::Spool;
use crate::tracker::Tracker;

/// How often the lag is looked at (a round trip per partition).
const LAG_EVERY: Duration = Duration::from_secs(5);

/// Reads the Kafka backend's topic in a consumer group and delivers every event to the
/// config's backends, committing per partition only what all of them acknowledged or
/// dead-lettered. Scale by running more relays in the same group.
///
/// # Examples
///
/// ```
/// let cfg = trackflow::Config::from_toml_str(r#"
/// [source]
/// brokers = "127.0.0.1:9"
/// topics = ["events"]
/// group_id = "relays"
/// [backend]
/// kind = "growingio"
/// host = "http://127.0.0.1:9"
/// project_key = "p"
/// data_source_id = "d"
/// "#)?;
/// let relay = trackflow::relay::Relay::from_config(&cfg)?;
/// assert_eq!(relay.stats().read, 0);
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct Relay {
    consumer: BaseConsumer<RelayContext>,
    tracker: Tracker,
    ledger: Arc<Ledger>,
    source: SourceSettings,
    read: AtomicU64,
    invalid: AtomicU64,
    paused: AtomicBool,
    lag: Mutex<Vec<PartitionLag>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("source", &self.source)
            .field("read", &self.read.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay reading `config`'s `[source]` into its backends (fan-out and routes as a
    /// tracker has them; each backend's consumer settings as configured, but blocking
    /// instead of spilling and with no disk queue: what is not acknowledged stays in Kafka).
    /// Dead letters go to the spool directory, a subdirectory per backend label.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] without a `[source]` or with a bad one; what building the backends
    /// or the Kafka consumer returns.
    pub fn from_config(config: &Config) -> Result<Relay> {
        let source = config.source.clone().ok_or_else(|| {
            Error::Config("a relay needs a [source] table (brokers, topics, group_id)".into())
        })?;
        source.check()?;
        let ledger = Arc::new(Ledger::default());
        let tracker = config
            .relay_sinks(source.max_waiting(), &|slot, label| {
                hooks(&ledger, config, slot, label)
            })?
            .build()?;
        let context = RelayContext {
            ledger: ledger.clone(),
            revoke_wait: source.revoke_wait(),
            rebalanced: AtomicBool::new(false),
        };
        let consumer: BaseConsumer<RelayContext> = source
            .client_config()
            .create_with_context(context)
            .map_err(|e| Error::Config(source.redact(format!("source: {e}"))))?;
        let topics: Vec<&str> = source.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| Error::Config(source.redact(format!("source: subscribe: {e}"))))?;
        Ok(Relay {
            consumer,
            tracker,
            ledger,
            source,
            read: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            lag: Mutex::new(Vec::new()),
        })
    }

    /// Relays until `stop` is set (SIGTERM, say), then stops reading, waits up to the
    /// source's `revoke_wait_ms` for what is in flight, commits what was acknowledged,
    /// leaves the group and shuts the sinks down within `deadline`. What was not
    /// acknowledged stays uncommitted: the group's next owner reads it again.
    ///
    /// # Errors
    ///
    /// What shutting the sinks down returns.
    pub fn run(&self, stop: &AtomicBool, deadline: Duration) -> Result<ShutdownReport> {
        // The lag is looked at on a thread of its own: the broker's watermarks take a round
        // trip per partition (seconds for a wide assignment, or a broker slow to answer),
        // which the loop that polls, commits and pauses must not wait for.
        let polling = AtomicBool::new(true);
        std::thread::scope(|scope| {
            scope.spawn(|| self.look_while(&polling));
            // Cleared also when polling panics, or the scope would wait on the looker.
            let _stop_looking = Clear(&polling);
            self.poll_until(stop);
        });
        self.finish(deadline)
    }

    fn poll_until(&self, stop: &AtomicBool) {
        let interval = self.source.commit_interval();
        let mut committed_at = Instant::now();
        let mut last_error = Quiet::default();
        while !stop.load(Ordering::Acquire) {
            self.backpressure();
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => self.take(&m),
                Some(Err(e)) => last_error.warn(self.source.redact(e.to_string())),
                None => {}
            }
            if committed_at.elapsed() >= interval {
                commit(&self.consumer, &self.ledger, None, CommitMode::Sync);
                committed_at = Instant::now();
            }
        }
    }

    /// Looks at the lag every `LAG_EVERY` while `polling` is set.
    fn look_while(&self, polling: &AtomicBool) {
        // None: look at once (an instant `LAG_EVERY` ago may precede the clock's start).
        let mut looked_at: Option<Instant> = None;
        while polling.load(Ordering::Acquire) {
            if looked_at.is_none_or(|t| t.elapsed() >= LAG_EVERY) {
                self.look_at_lag(polling);
                looked_at = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Pauses every assigned partition while too much waits, resumes below half of it. After
    /// a rebalance the state is set again on the whole assignment: librdkafka keeps a
    /// partition's pause across a revocation and a new assignment.
    fn backpressure(&self) {
        let waiting = self.ledger.waiting(None);
        let max = self.source.max_waiting();
        let rebalanced = self.consumer.context().rebalanced.swap(false, Ordering::AcqRel);
        let paused = self.paused.load(Ordering::Acquire);
        let want_paused = if paused { waiting > max / 2 } else { waiting >= max };
        if want_paused == paused && !rebalanced {
            return;
        }
        let Ok(assigned) = self.consumer.assignment() else {
            return;
        };
        let done = if want_paused {
            self.consumer.pause(&assigned)
        } else {
            self.consumer.resume(&assigned)
        };
        if done.is_err() {
            return;
        }
        match (paused, want_paused) {
            (false, true) => log::warn!(
                "trackflow relay: {waiting} events wait for the sinks; partitions paused (the lag grows in Kafka)"
            ),
            (true, false) => log::info!("trackflow relay: partitions resumed"),
            _ => {}
        }
        self.paused.store(want_paused, Ordering::Release);
    }

    /// One message: its event to the sinks that take it, noted in the ledger first.
    fn take(&self, m: &BorrowedMessage<'_>) {
        self.read.fetch_add(1, Ordering::Relaxed);
        let key: PartKey = (Arc::from(m.topic()), m.partition());
        let event = m
            .payload()
            .and_then(|p| std::str::from_utf8(p).ok())
            .and_then(|t| crate::codec::exact::from_str::<Event>(t).ok());
        let Some(mut event) = event else {
            self.not_relayed(
                &key,
                m.offset(),
                "not a trackflow event (the Kafka backend's JSON)",
            );
            return;
        };
        match self.tracker.offer(&mut event) {
            Ok((weight, takers)) => {
                self.ledger.taken(&key, m.offset(), &event.insert_id, takers);
                if let Err(e) = self.tracker.give(event, weight, takers) {
                    log::error!("trackflow relay: a sink did not take an event: {e}");
                }
            }
            Err(e) => self.not_relayed(&key, m.offset(), &e.to_string()),
        }
    }

    fn not_relayed(&self, key: &PartKey, offset: i64, why: &str) {
        if self.invalid.fetch_add(1, Ordering::Relaxed) < 10 {
            log::error!(
                "trackflow relay: {}/{} offset {offset} not relayed: {why}",
                key.0,
                key.1
            );
        }
        self.ledger.taken(key, offset, &InsertId::default(), 0);
    }

    /// Each assigned partition's lag, as the broker gives its watermarks; stops early (the
    /// last look kept) once `polling` is cleared.
    fn look_at_lag(&self, polling: &AtomicBool) {
        let Ok(assigned) = self.consumer.assignment() else {
            return;
        };
        let before = self.lag.lock().clone();
        let mut out = Vec::new();
        for key in keys_of(&assigned) {
            if !polling.load(Ordering::Acquire) {
                return;
            }
            let committed = self.ledger.committed_at(&key);
            // Every assigned partition is listed: one whose watermarks the broker did not
            // give this time keeps what it gave last (an empty partition, a slow broker).
            let (low, high) = match self
                .consumer
                .fetch_watermarks(&key.0, key.1, Duration::from_millis(500))
            {
                Ok(w) => w,
                Err(_) => before
                    .iter()
                    .find(|p| *p.topic == *key.0 && p.partition == key.1)
                    .map_or((0, committed.unwrap_or(0)), |p| {
                        (p.high_watermark - p.lag, p.high_watermark)
                    }),
            };
            out.push(PartitionLag {
                topic: key.0.to_string(),
                partition: key.1,
                committed,
                high_watermark: high,
                lag: (high - committed.unwrap_or(low)).max(0),
            });
        }
        #[cfg(feature = "metrics")]
        publish_lag(&out, &self.stats_counts());
        *self.lag.lock() = out;
    }

    /// The relay's figures now.
    ///
    /// # Examples
    ///
    /// See [`Relay`].
    pub fn stats(&self) -> RelayStats {
        let (read, invalid, waiting) = self.stats_counts();
        RelayStats {
            read,
            invalid,
            waiting,
            paused: self.paused.load(Ordering::Acquire),
            partitions: self.lag.lock().clone(),
            sinks: self.tracker.backend_stats(),
        }
    }

    fn stats_counts(&self) -> (u64, u64, u64) {
        (
            self.read.load(Ordering::Relaxed),
            self.invalid.load(Ordering::Relaxed),
            self.ledger.waiting(None) as u64,
        )
    }

    fn finish(&self, deadline: Duration) -> Result<ShutdownReport> {
        if let Ok(assigned) = self.consumer.assignment() {
            let _ = self.consumer.pause(&assigned);
            let keys = keys_of(&assigned);
            self.consumer.context().drain(&keys, self.source.revoke_wait());
        }
        commit(&self.consumer, &self.ledger, None, CommitMode::Sync);
        self.ledger.freeze();
        self.consumer.unsubscribe();
        // The group hears this member leave while the loop serves the callbacks.
        for _ in 0..5 {
            let _ = self.consumer.poll(Duration::from_millis(50));
        }
        self.tracker.shutdown(deadline)
    }
}

/// Logs an error when it changes, and the same one at most every 30 s: a broker that stays
/// unreachable answers every poll with it.
#[derive(Default)]
struct Quiet {
    last: Option<(String, Instant)>,
}

impl Quiet {
    fn warn(&mut self, text: String) {
        let fresh = match &self.last {
            Some((t, at)) => *t != text || at.elapsed() >= Duration::from_secs(30),
            None => true,
        };
        if fresh {
            log::warn!("trackflow relay: {text}");
            self.last = Some((text, Instant::now()));
        }
    }
}

/// A sink's callbacks: what it delivered or dead-lettered is acknowledged in the ledger;
/// refusals go to the dead letters first.
fn hooks(ledger: &Arc<Ledger>, config: &Config, slot: usize, label: &str) -> crate::config::RelayHooks {
    let (acks, dead_acks) = (ledger.clone(), ledger.clone());
    let spool = dead_letters(config, label);
    crate::config::RelayHooks {
        delivered: Arc::new(move |_, events| acks.acknowledged(slot, events)),
        failed: Arc::new(move |error, events| {
            let kept = match &spool {
                Some(s) => s
                    .write(events, error, "relay")
                    .map_err(|e| {
                        log::error!(
                            "trackflow relay: dead letters not written ({e}); their offsets stay uncommitted"
                        )
                    })
                    .is_ok(),
                None => true,
            };
            if kept {
                dead_acks.acknowledged(slot, events);
            }
        }),
    }
}

/// Where a sink's dead letters go: the spool directory's subdirectory for its label.
fn dead_letters(config: &Config, label: &str) -> Option<Spool> {
    if !config.spool.enabled.unwrap_or(true) {
        return None;
    }
    let dir = match &config.spool.dir {
        Some(d) => d.join(label),
        None => crate::spool::default_state_dir()?.join("relay").join(label),
    };
    Spool::open(&dir)
        .map_err(|e| {
            log::error!("trackflow relay: no dead letters for {label} ({e}): refusals are only logged")
        })
        .ok()
}

#[cfg(feature = "metrics")]
fn publish_lag(parts: &[PartitionLag], (read, invalid, waiting): &(u64, u64, u64)) {
    for p in parts {
        let labels = [("topic", p.topic.clone()), ("partition", p.partition.to_string())];
        metrics::gauge!("trackflow_relay_lag_events", &labels).set(p.lag as f64);
    }
    metrics::counter!("trackflow_relay_read_total").absolute(*read);
    metrics::counter!("trackflow_relay_invalid_total").absolute(*invalid);
    metrics::gauge!("trackflow_relay_waiting_events").set(*waiting as f64);
}

/// Clears its flag when dropped, unwinding included.
struct Clear<'a>(&'a AtomicBool);

impl Drop for Clear<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
