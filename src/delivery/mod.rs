//! The contract between a consumer and a backend: what a backend is given to deliver one
//! batch, and how it reports what each request came to.
//!
//! ```text
//!  Consumer ── batch + DeliveryCtx ──────────────► Backend::deliver ──► transport (HTTP) / files
//!     ▲            │ cancel  the shutdown deadline        │
//!     │            │ flow    requests in flight, pauses,  │ one request per batch, client,
//!     │            │         circuit (one per backend)    │ user or event
//!     │            │ turn    start order among batches    │
//!     │            └ acks    ◄── ctx.record(...) ─────────┤ as each request completes
//!     └──────────── Delivery { retries, failures } ◄──────┘ when the batch is done
//! ```
//!
//! - **Flow**: the request budget one consumer shares among its batches to one backend: how
//!   many requests are in flight, a pause when the collector throttles, and the circuit that
//!   stops sending while it is down.
//! - **Threads**: the lanes and the helpers a batch fans out to share one budget, the flow's
//!   ceiling; a batch grows its helpers as the flow's limit grows.
//! - **Turns**: the order in which batches handed out side by side may *start* their
//!   requests, for a backend that keeps order (Kafka).
//! - **Acknowledgement**: a request's events are let go by the consumer's store the moment
//!   the request succeeds, not when the whole batch is done.
//!
//! Nothing here knows HTTP: the transport asks for the budget through its own
//! [`Pacing`](crate::transport::Pacing) trait, which [`DeliveryCtx`] implements.

mod adaptive;
mod circuit;
mod condition;
mod context;
mod fan;
mod flow;
mod report;
mod threads;
mod turns;

pub use crate::cancel::Cancel;
pub use circuit::CircuitState;
pub(crate) use condition::Condition;
pub(crate) use context::Acks;
pub use context::DeliveryCtx;
pub use flow::{Flow, Permit, DEFAULT_MAX_IN_FLIGHT, DEFAULT_REDELIVERY_INITIAL, DEFAULT_REDELIVERY_MAX};
pub use report::{Delivery, Failure};
pub(crate) use threads::ThreadSlot;
pub(crate) use turns::Turns;
