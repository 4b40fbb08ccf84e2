//! Publishing through the `metrics` facade (feature `metrics`). Counters and gauges are read
//! from what the tracker already counts and set every second by a publisher thread (and on
//! [`Tracker::publish_metrics`](crate::Tracker::publish_metrics)), so `track()` does nothing
//! more with the feature on than off. Histograms are recorded as each request ends.
//!
//! ```text
//!  Tracker ── publisher thread, every second ──► counter!(…).absolute(n), gauge!(…).set(x)
//!  lane ── each request's answer ──► trackflow_request_duration_seconds
//!       └─ each acknowledged event ──► trackflow_event_delivery_delay_seconds
//! ```
//!
//! Every series carries the label `backend`: the consumer's name, as in
//! [`backend_stats`](crate::Tracker::backend_stats).

use std::time::Duration;

use parking_lot::Mutex;

use crate::delivery::CircuitState;
use crate::event::Event;
use crate::observe::{Health, Status};
use crate::stats::BackendStats;

/// Every metric trackflow publishes: name, kind, unit and meaning (the table in the README).
///
/// # Examples
///
/// ```
/// let names: Vec<&str> = trackflow::observe::METRICS.iter().map(|m| m.0).collect();
/// assert!(names.contains(&"trackflow_events_delivered_total"));
/// assert!(names.iter().all(|n| n.starts_with("trackflow_")));
/// ```
pub const METRICS: [(&str, &str, &str); 18] = [
    (
        "trackflow_events_accepted_total",
        "counter",
        "events the consumer took",
    ),
    (
        "trackflow_events_delivered_total",
        "counter",
        "events the collector acknowledged",
    ),
    (
        "trackflow_events_failed_total",
        "counter",
        "events refused for good (dead letters)",
    ),
    (
        "trackflow_events_dropped_total",
        "counter",
        "events the overflow policy gave up",
    ),
    (
        "trackflow_events_spilled_total",
        "counter",
        "events that went to the disk queue",
    ),
    (
        "trackflow_requests_retried_total",
        "counter",
        "requests sent again after a transient failure",
    ),
    (
        "trackflow_requests_throttled_total",
        "counter",
        "throttling replies (429, ThrottlingException)",
    ),
    (
        "trackflow_queue_events",
        "gauge",
        "events taken and not yet handed to the backend",
    ),
    (
        "trackflow_backlog_events",
        "gauge",
        "events accepted and not yet delivered, failed or dropped",
    ),
    (
        "trackflow_disk_events",
        "gauge",
        "events waiting in the disk queue",
    ),
    (
        "trackflow_disk_bytes",
        "gauge",
        "bytes the consumer keeps on disk",
    ),
    (
        "trackflow_oldest_event_age_seconds",
        "gauge",
        "age of the oldest event out for delivery",
    ),
    ("trackflow_requests_in_flight", "gauge", "requests in flight now"),
    (
        "trackflow_concurrency_limit",
        "gauge",
        "requests allowed in flight now (adaptive)",
    ),
    (
        "trackflow_circuit_state",
        "gauge",
        "0 closed, 1 half open, 2 open",
    ),
    (
        "trackflow_health_status",
        "gauge",
        "0 healthy, 1 degraded, 2 down",
    ),
    (
        "trackflow_request_duration_seconds",
        "histogram",
        "time from a request's start to its answer",
    ),
    (
        "trackflow_event_delivery_delay_seconds",
        "histogram",
        "from accept to acknowledgement, per event",
    ),
];

/// A consumer's histograms, bound to its label by the publisher (a recorder installed after
/// the tracker was built is picked up at the next tick).
#[derive(Default)]
pub(crate) struct Instruments {
    bound: Mutex<Option<Handles>>,
}

struct Handles {
    latency: metrics::Histogram,
    delay: metrics::Histogram,
}

impl std::fmt::Debug for Instruments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instruments")
            .field("bound", &self.bound.lock().is_some())
            .finish()
    }
}

impl Instruments {
    fn bind(&self, label: &str) {
        let labels = [("backend", label.to_owned())];
        *self.bound.lock() = Some(Handles {
            latency: metrics::histogram!("trackflow_request_duration_seconds", &labels),
            delay: metrics::histogram!("trackflow_event_delivery_delay_seconds", &labels),
        });
    }

    pub(crate) fn is_bound(&self) -> bool {
        self.bound.lock().is_some()
    }

    /// One request's time to its answer.
    pub(crate) fn latency(&self, took: Duration) {
        if let Some(h) = &*self.bound.lock() {
            h.latency.record(took.as_secs_f64());
        }
    }

    /// Acknowledged events: accept to now, for those the tracker stamped (a caller's own
    /// time says when the thing happened, not when it was accepted).
    pub(crate) fn delivered(&self, now_ms: i64, events: &[&Event]) {
        if let Some(h) = &*self.bound.lock() {
            for e in events.iter().filter(|e| !e.time_given) {
                h.delay.record((now_ms - e.time).max(0) as f64 / 1000.0);
            }
        }
    }
}

/// Sets every counter and gauge from `stats` and `health`, and binds each consumer's
/// histograms.
pub(crate) fn publish(stats: &[BackendStats], health: &Health, instruments: &[Option<&Instruments>]) {
    for (i, s) in stats.iter().enumerate() {
        let labels = [("backend", s.name.clone())];
        let counter = |name: &'static str, v: u64| metrics::counter!(name, &labels).absolute(v);
        let gauge = |name: &'static str, v: f64| metrics::gauge!(name, &labels).set(v);
        let c = &s.stats;
        counter("trackflow_events_accepted_total", c.accepted);
        counter("trackflow_events_delivered_total", c.delivered);
        counter("trackflow_events_failed_total", c.failed);
        counter("trackflow_events_dropped_total", c.dropped);
        counter("trackflow_events_spilled_total", c.spilled);
        counter("trackflow_requests_retried_total", c.retried);
        counter("trackflow_requests_throttled_total", s.throttled);
        gauge("trackflow_queue_events", s.queue_depth as f64);
        gauge("trackflow_backlog_events", c.pending() as f64);
        gauge("trackflow_disk_events", c.disk_events as f64);
        gauge("trackflow_disk_bytes", c.disk_bytes as f64);
        gauge(
            "trackflow_oldest_event_age_seconds",
            c.oldest_age_ms as f64 / 1000.0,
        );
        gauge("trackflow_requests_in_flight", s.in_flight as f64);
        gauge("trackflow_concurrency_limit", s.limit as f64);
        gauge("trackflow_circuit_state", circuit_code(s.circuit));
        let status = health.backends.get(i).map_or(Status::Healthy, |b| b.status);
        gauge("trackflow_health_status", status as u8 as f64);
        if let Some(Some(inst)) = instruments.get(i) {
            inst.bind(&s.name);
        }
    }
}

fn circuit_code(c: CircuitState) -> f64 {
    match c {
        CircuitState::Closed => 0.0,
        CircuitState::HalfOpen => 1.0,
        CircuitState::Open => 2.0,
    }
}

/// Describes every metric to the recorder (units and help text), once per process.
pub(crate) fn describe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (name, kind, help) in METRICS {
            let unit = if name.ends_with("_seconds") {
                metrics::Unit::Seconds
            } else if name.ends_with("_bytes") {
                metrics::Unit::Bytes
            } else {
                metrics::Unit::Count
            };
            match kind {
                "counter" => metrics::describe_counter!(name, unit, help),
                "gauge" => metrics::describe_gauge!(name, unit, help),
                _ => metrics::describe_histogram!(name, unit, help),
            }
        }
    });
}
