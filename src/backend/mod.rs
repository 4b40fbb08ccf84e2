//! WHERE events go and in what shape.
//!
//! ```text
//!  Consumer ──&[Event]──► Backend::deliver ──► wire structs ──► codec ──► transport / file
//!                              │
//!                              └── Delivery { retries, failures: [(error, event indices)] }
//! ```
//!
//! A backend also checks, at the call, that it can carry an event ([`Backend::check`]): an
//! operation it cannot carry is an error there, never a silent drop later.

use std::fmt::Debug;
use std::sync::Arc;

use crate::delivery::{Delivery, DeliveryCtx};
use crate::error::{Error, Result};
use crate::event::Event;

#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub mod file;
#[cfg(any(feature = "retail", feature = "talent"))]
pub mod google;
#[cfg(feature = "gravity")]
#[cfg_attr(docsrs, doc(cfg(feature = "gravity")))]
pub mod gravity;
pub mod growingio;
mod memory;
#[cfg(feature = "personalize")]
#[cfg_attr(docsrs, doc(cfg(feature = "personalize")))]
pub mod personalize;
#[cfg(feature = "retail")]
#[cfg_attr(docsrs, doc(cfg(feature = "retail")))]
pub mod retail;
#[cfg(feature = "talent")]
#[cfg_attr(docsrs, doc(cfg(feature = "talent")))]
pub mod talent;
#[cfg(feature = "webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook")))]
pub mod webhook;

#[cfg(feature = "kafka")]
#[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
pub mod kafka;
pub(crate) mod kind;
pub mod registry;

#[cfg(feature = "file")]
pub use file::{FileBackend, FileBackendBuilder};
#[cfg(feature = "growingio")]
pub use growingio::{GrowingIo, GrowingIoBuilder};
pub use kind::{BackendSettings, BuildCtx};
pub use registry::{register, registered_kinds};

/// When the File backend starts a new file regardless of size (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Rotation {
    /// Only by size.
    Never,
    /// A new file each hour.
    Hourly,
    /// A new file each day (the default).
    #[default]
    Daily,
}
pub use memory::MemoryBackend;

/// Default for [`Backend::max_batch`], and the consumers' batch size.
pub const DEFAULT_MAX_BATCH: usize = 500;

/// [`Backend::max_batch`] of the backends that split a delivery into requests of their own
/// (Gravity one client per envelope, Personalize one user and session per call, Retail and
/// Talent one event per request): it bounds one delivery's work, not a request, so the
/// consumer's batch is never cut to a request's size.
pub const MAX_DELIVERY: usize = 10_000;

/// A destination with its wire format.
///
/// Implementations are shared by consumers across threads, so `deliver` takes `&self`.
///
/// # Examples
///
/// A backend that prints events:
///
/// ```
/// use trackflow::{Backend, delivery::Delivery, Event, Result};
/// use trackflow::delivery::DeliveryCtx;
///
/// #[derive(Debug)]
/// struct Print;
///
/// impl Backend for Print {
///     fn name(&self) -> &'static str { "print" }
///     fn check(&self, _event: &Event) -> Result<()> { Ok(()) }
///     fn deliver(&self, batch: &[Event], _ctx: &DeliveryCtx<'_>) -> Delivery {
///         for e in batch { println!("{}", serde_json::to_string(e).unwrap()); }
///         Delivery::default()
///     }
/// }
/// use trackflow::{Consumer, ImmediateConsumer};
/// let c = ImmediateConsumer::new(Print);
/// c.consume(Event::track("open").with_identity(trackflow::Identity::user("u1")))?;
/// assert_eq!(c.stats().delivered, 1);
/// # Ok::<(), trackflow::Error>(())
/// ```
pub trait Backend: Send + Sync + Debug {
    /// Short lowercase name, used in errors and logs.
    fn name(&self) -> &'static str;

    /// The most events one `deliver` call should carry; consumers clamp their batch size to
    /// it. A delivery is not a request: a backend splits it into requests by its own rules, so
    /// one whose requests are small (a user, a client, an event) returns [`MAX_DELIVERY`] and
    /// lets the consumer's batch stand.
    fn max_batch(&self) -> usize {
        DEFAULT_MAX_BATCH
    }

    /// The batch a consumer takes when its `max_batch` is not set: [`DEFAULT_MAX_BATCH`]
    /// unless the backend's requests need wider batches to keep many in flight (Gravity,
    /// whose batches wait for each other while they share a client's profile operations).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::Backend;
    /// assert_eq!(trackflow::MemoryBackend::new().default_batch(), trackflow::backend::DEFAULT_MAX_BATCH);
    /// ```
    fn default_batch(&self) -> usize {
        DEFAULT_MAX_BATCH
    }

    /// The most deliveries this backend takes at once from one consumer, when it needs
    /// fewer than the consumer's `max_in_flight`. `None` (the default): the consumer's. The
    /// File and Memory backends say 1, so lines keep their order.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::Backend;
    /// assert_eq!(trackflow::MemoryBackend::new().max_in_flight(), Some(1));
    /// ```
    fn max_in_flight(&self) -> Option<usize> {
        None
    }

    /// What must stay in order: events with the same key are delivered in the order they
    /// were accepted (a batch holding a key starts only when no batch in flight holds it,
    /// and the backend keeps the order inside a batch). `None` (the default): no order is
    /// promised beyond each event's own time. Gravity keys each profile operation by its
    /// `client_id`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Backend, Event};
    /// assert_eq!(trackflow::MemoryBackend::new().order_key(&Event::track("open")), None);
    /// ```
    fn order_key<'e>(&self, event: &'e Event) -> Option<&'e str> {
        let _ = event;
        None
    }

    /// Whether a track or profile event must name someone (an anonymous id, a user id or a
    /// session id) to be carried. Defaults to `true`; Talent says `false` (its client events
    /// carry no user).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::Backend;
    /// assert!(trackflow::MemoryBackend::new().needs_identity());
    /// ```
    fn needs_identity(&self) -> bool {
        true
    }

    /// Whether this backend can carry `event`, and its own limits. Called at the call, after the
    /// tracker's own validation.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for a kind it cannot carry, [`Error::InvalidInput`] for a limit.
    fn check(&self, event: &Event) -> Result<()>;

    /// Sends `batch`, retrying as its transport allows. Never panics on bad responses.
    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery;

    /// Makes delivered data durable where that means something (files). Defaults to nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the data could not be made durable.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

/// What every consumer asks of `backend` at the call: an event that names no one is refused
/// where the backend needs someone (see [`Backend::needs_identity`]), then the backend's own
/// [`Backend::check`].
pub(crate) fn check(backend: &dyn Backend, event: &Event) -> Result<()> {
    let id = &event.identity;
    let nameless = id.anonymous_id.is_none() && id.user_id.is_none() && id.session_id.is_none();
    if nameless && !matches!(event.kind, crate::event::EventKind::Item { .. }) && backend.needs_identity() {
        return Err(Error::invalid(
            "identity",
            format!(
                "names no one: give an anonymous_id, a user_id or a session_id (the {} backend needs one)",
                backend.name()
            ),
        ));
    }
    backend.check(event)
}

// Shared and boxed backends are backends (as `log` does for `Log`).
macro_rules! forward_backend {
    ($($ptr:ident),*) => {$(
        impl<T: Backend + ?Sized> Backend for $ptr<T> {
            fn name(&self) -> &'static str {
                (**self).name()
            }
            fn max_batch(&self) -> usize {
                (**self).max_batch()
            }
            fn default_batch(&self) -> usize {
                (**self).default_batch()
            }
            fn max_in_flight(&self) -> Option<usize> {
                (**self).max_in_flight()
            }
            fn order_key<'e>(&self, event: &'e Event) -> Option<&'e str> {
                (**self).order_key(event)
            }
            fn check(&self, event: &Event) -> Result<()> {
                (**self).check(event)
            }
            fn needs_identity(&self) -> bool {
                (**self).needs_identity()
            }
            fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
                (**self).deliver(batch, ctx)
            }
            fn flush(&self) -> Result<()> {
                (**self).flush()
            }
        }
    )*};
}
forward_backend!(Arc, Box);
