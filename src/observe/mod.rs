//! What a production team watches: [`Tracker::health`](crate::Tracker::health) (per backend
//! healthy, degraded or down, since when, the last error, the backlog) and, with the
//! `metrics` feature, every counter, gauge and histogram through the `metrics` facade, to
//! the exporter the application installs (Prometheus, OpenTelemetry, …).
//!
//! ```text
//!  consumers ── stats, flow (limit, circuit, condition), disk ──► Tracker::health()
//!      │                                                        └► publish() ─► metrics facade
//!      └─ each acknowledged request ─► request latency, delivery delay (histograms)
//! ```

pub(crate) mod health;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;

pub use health::{BackendHealth, Health, Status};
#[cfg(feature = "metrics")]
pub use metrics::METRICS;
