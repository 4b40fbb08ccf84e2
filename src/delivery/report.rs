//! What one delivery came to ([`Delivery`]): the events that failed for good, by index into
//! the batch, with the reason, and the retries it took. Events not named were delivered.

use crate::error::{Error, Result};

/// Events that failed for good, by index into the delivered batch, with the reason.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure {
    /// Why.
    pub error: Error,
    /// Indices into the batch given to [`Backend::deliver`](crate::Backend::deliver).
    pub events: Vec<usize>,
}

/// The outcome of one [`Backend::deliver`](crate::Backend::deliver) call. Events not named in a failure were
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
    /// let mut d = trackflow::delivery::Delivery::default();
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

    /// Adds the outcome of another part of the same batch (indices into the same batch).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = trackflow::delivery::Delivery::default();
    /// let mut part = trackflow::delivery::Delivery::default();
    /// part.record(Err(trackflow::Error::Transport("reset".into())), 1, || vec![3]);
    /// d.merge(part);
    /// assert_eq!((d.failed(), d.retries), (1, 1));
    /// ```
    pub fn merge(&mut self, other: Delivery) {
        self.retries += other.retries;
        self.failures.extend(other.failures);
    }

    /// How many events failed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::delivery::Delivery::default().failed(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failed(&self) -> usize {
        self.failures.iter().map(|f| f.events.len()).sum()
    }
}
