//! The other half of the Kafka backend: relays that read its topic in a consumer group and
//! deliver every event to the config's backends, committing per partition only what every
//! backend acknowledged (feature `kafka`; `trackflow relay --config relay.toml`).
//!
//! ```text
//!  app servers ─ Kafka backend ─► topic (N partitions) ─► relay ×M (one group) ─► GrowingIO,
//!                                                         │                       Gravity, …
//!        poll ─► ledger: offset waits on each sink ─► hand to sinks (Background consumers)
//!          ▲                    ▲                            │ acknowledged / dead-lettered
//!          │ pause above        └────────────────────────────┘
//!          │ max_waiting        commit: per partition, the first offset still waiting
//! ```
//!
//! - **At least once.** A partition's committed offset never passes an event some sink has
//!   not acknowledged or dead-lettered. After a crash or a rebalance the next owner reads on
//!   from the commit; what it reads again was delivered once already (insert ids let a
//!   collector that dedupes do so).
//! - **Backpressure, not spill.** The sinks keep no disk queue; when one is slow or down,
//!   events wait in memory up to `max_waiting`, then the partitions pause: the lag grows in
//!   Kafka, and drains when the sink is back.
//! - **Rebalances.** On a revocation the relay stops taking from those partitions, waits up to
//!   `revoke_wait_ms` for what is in flight, commits what was acknowledged, and hands over the
//!   rest. SIGTERM does the same for every partition, then leaves the group.
//! - **Order.** A user's events are in one partition (the Kafka backend keys by user), read in
//!   order, and a backend that keeps order (Gravity's profile operations) keeps it in the sink.
//!
//! ("Consumer" in the rest of this crate is a batching strategy; here the Kafka group
//! consumer is the relay's *source*, and the backends are its *sinks*.)

mod context;
mod ledger;
mod runner;
mod source;
mod stats;

pub use runner::Relay;
pub use source::{SourceSettings, DEFAULT_MAX_WAITING};
pub use stats::{PartitionLag, RelayStats};
