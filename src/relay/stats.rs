//! What a relay shows: how far behind each partition is, what it read, and each sink's
//! counts (as a tracker's `backend_stats`).

use serde::Serialize;

use crate::stats::BackendStats;

/// One partition's lag.
///
/// # Examples
///
/// ```
/// let p = trackflow::relay::PartitionLag { topic: "events".into(), partition: 3, committed: Some(90), high_watermark: 100, lag: 10 };
/// assert_eq!(serde_json::to_value(&p).unwrap()["lag"], 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset this relay last committed (the next to read), if it committed one.
    pub committed: Option<i64>,
    /// The offset after the partition's last message, as the broker last said.
    pub high_watermark: i64,
    /// Messages not yet committed: `high_watermark − committed` (from the start when none).
    pub lag: i64,
}

/// A relay's figures.
///
/// # Examples
///
/// ```
/// let s = trackflow::relay::RelayStats::default();
/// assert_eq!((s.read, s.lag()), (0, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RelayStats {
    /// Messages read.
    pub read: u64,
    /// Messages that were not events (or no sink could carry): logged, committed past.
    pub invalid: u64,
    /// Events read and not yet acknowledged by every sink that took them.
    pub waiting: u64,
    /// Whether the relay paused its partitions (too much waiting: a sink is slow or down).
    pub paused: bool,
    /// Each assigned partition's lag, as of the last look (every 5 s).
    pub partitions: Vec<PartitionLag>,
    /// Each sink's counters, as [`Tracker::backend_stats`](crate::Tracker::backend_stats).
    pub sinks: Vec<BackendStats>,
}

impl RelayStats {
    /// The lag over every assigned partition.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = trackflow::relay::RelayStats::default();
    /// s.partitions.push(trackflow::relay::PartitionLag { topic: "t".into(), partition: 0, committed: None, high_watermark: 7, lag: 7 });
    /// assert_eq!(s.lag(), 7);
    /// ```
    pub fn lag(&self) -> i64 {
        self.partitions.iter().map(|p| p.lag).sum()
    }
}
