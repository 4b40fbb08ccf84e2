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

use crate::error::{Error, Result};
use crate::event::Event;
use crate::transport::DeliveryCtx;

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

#[cfg(feature = "file")]
pub use file::{FileBackend, FileBackendBuilder};
#[cfg(feature = "growingio")]
pub use growingio::{GrowingIo, GrowingIoBuilder};

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

/// Default for [`Backend::max_batch`].
pub const DEFAULT_MAX_BATCH: usize = 500;

/// Events that failed for good, by index into the delivered batch, with the reason.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure {
    /// Why.
    pub error: Error,
    /// Indices into the batch given to [`Backend::deliver`].
    pub events: Vec<usize>,
}

/// The outcome of one [`Backend::deliver`] call. Events not named in a failure were
/// delivered.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Delivery {
    /// Requests retried along the way.
    pub retries: u32,
    /// What failed for good.
    pub failures: Vec<Failure>,
}

impl Delivery {
    /// Records the outcome of one request carrying the events at `indices`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = trackflow::Delivery::default();
    /// d.record(Err(trackflow::Error::Transport("reset".into())), 2, || vec![0, 1]);
    /// assert_eq!((d.failed(), d.retries), (2, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record(&mut self, result: Result<()>, retries: u32, indices: impl FnOnce() -> Vec<usize>) {
        self.retries += retries;
        if let Err(error) = result {
            self.failures.push(Failure {
                error,
                events: indices(),
            });
        }
    }

    /// How many events failed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::Delivery::default().failed(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failed(&self) -> usize {
        self.failures.iter().map(|f| f.events.len()).sum()
    }
}

/// A destination with its wire format.
///
/// Implementations are shared by consumers across threads, so `deliver` takes `&self`.
///
/// # Examples
///
/// A backend that prints events:
///
/// ```
/// use trackflow::{Backend, Delivery, Event, Result};
/// use trackflow::transport::DeliveryCtx;
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
/// ```
pub trait Backend: Send + Sync + Debug {
    /// Short lowercase name, used in errors and logs.
    fn name(&self) -> &'static str;

    /// The most events one `deliver` call should carry; consumers clamp their batch size to it.
    fn max_batch(&self) -> usize {
        DEFAULT_MAX_BATCH
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
            fn check(&self, event: &Event) -> Result<()> {
                (**self).check(event)
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
