//! A value fetched on demand and reused while it is fresh: one caller fetches, the others wait
//! for its result (each within its own deadline), and no lock is held while the fetch runs.
//! After a failed fetch, callers within a backoff (doubling from 1 s to 1 min) get the
//! failure without fetching again, so a metadata endpoint that refuses is not asked once per
//! request. Google bearer tokens and AWS credentials both live in one.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// The first wait after a failed fetch, doubling with each failure in a row up to
/// [`FAILED_FETCH_MAX_BACKOFF`].
const FAILED_FETCH_BACKOFF: Duration = Duration::from_secs(1);
const FAILED_FETCH_MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct State<T> {
    value: Option<T>,
    refreshing: bool,
    // The last failed fetch: when the next may be tried, the failures in a row, and why.
    failed: Option<(Instant, u32, String)>,
    // Fetches made (successful or not), for tests and stats.
    fetches: u64,
}

/// Clears the refreshing flag however the fetch ends, a panic included, so that callers
/// waiting for it never wait for ever.
struct Fetching<'a, T> {
    cache: &'a Refreshing<T>,
}

impl<T> Drop for Fetching<'_, T> {
    fn drop(&mut self) {
        self.cache.state.lock().refreshing = false;
        self.cache.done.notify_all();
    }
}

/// The cache. `T` is cheap to clone (a `Secret`, an `Arc`).
#[derive(Debug)]
pub(crate) struct Refreshing<T> {
    state: Mutex<State<T>>,
    done: Condvar,
}

impl<T> Default for Refreshing<T> {
    fn default() -> Self {
        Refreshing {
            state: Mutex::new(State {
                value: None,
                refreshing: false,
                failed: None,
                fetches: 0,
            }),
            done: Condvar::new(),
        }
    }
}

impl<T: Clone> Refreshing<T> {
    /// The cached value if `fresh` says so, else the result of `fetch` (cached on success).
    /// When the fetch fails, a cached value that is past `fresh` but still `usable` (not yet
    /// expired) is returned instead: a metadata hiccup minutes before expiry fails nothing.
    pub(crate) fn get(
        &self,
        cancel: &Cancel,
        fresh: impl Fn(&T) -> bool,
        usable: impl Fn(&T) -> bool,
        fetch: impl FnOnce(&Cancel) -> Result<T>,
    ) -> Result<T> {
        let mut state = self.state.lock();
        loop {
            if let Some(v) = state.value.as_ref().filter(|v| fresh(v)) {
                return Ok(v.clone());
            }
            if !state.refreshing {
                break;
            }
            if cancel.is_aborted() {
                return Err(Error::Cancelled);
            }
            // Another caller is fetching: wait for it in slices, watching our own deadline.
            self.done.wait_for(&mut state, Duration::from_millis(20));
        }
        let stale = state.value.clone().filter(|v| usable(v));
        if let Some((next, n, why)) = state.failed.as_ref().filter(|(next, ..)| Instant::now() < *next) {
            // Backing off after a failed fetch: the cached value while it lasts, else why.
            return stale.ok_or_else(|| {
                let wait = next.saturating_duration_since(Instant::now());
                Error::Credentials(format!("{why} ({n} failed in a row; next try in {wait:.1?})").into())
            });
        }
        state.refreshing = true;
        state.fetches += 1;
        drop(state);
        let guard = Fetching { cache: self };
        let fetched = fetch(cancel);
        self.record(&fetched);
        drop(guard);
        match (fetched, stale) {
            (Err(e), Some(v)) => {
                log::warn!(
                    "trackflow: refreshing credentials failed ({e}); using the cached ones until they expire"
                );
                Ok(v)
            }
            (r, _) => r,
        }
    }

    /// Keeps what a fetch brought, or counts its failure and backs off (a cancelled fetch
    /// is neither).
    fn record(&self, fetched: &Result<T>) {
        let mut state = self.state.lock();
        match fetched {
            Ok(v) => {
                state.value = Some(v.clone());
                state.failed = None;
            }
            Err(Error::Cancelled) => {}
            Err(e) => {
                let n = state.failed.as_ref().map_or(1, |(_, n, _)| n + 1);
                let backoff = FAILED_FETCH_BACKOFF
                    .saturating_mul(1 << (n - 1).min(6))
                    .min(FAILED_FETCH_MAX_BACKOFF);
                state.failed = Some((Instant::now() + backoff, n, e.to_string()));
            }
        }
    }

    /// Forgets the value, so the next call fetches anew.
    pub(crate) fn invalidate(&self) {
        let mut state = self.state.lock();
        state.value = None;
        state.failed = None;
    }

    /// Fetches made so far.
    #[cfg_attr(not(feature = "personalize"), allow(dead_code))]
    pub(crate) fn fetches(&self) -> u64 {
        self.state.lock().fetches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_values_are_reused_and_a_failed_refresh_falls_back_to_a_usable_one() {
        let cache = Refreshing::<u32>::default();
        let c = Cancel::default();
        assert_eq!(cache.get(&c, |_| true, |_| true, |_| Ok(1)).unwrap(), 1);
        // Fresh: no fetch.
        assert_eq!(cache.get(&c, |_| true, |_| true, |_| Ok(2)).unwrap(), 1);
        // Due for refresh, the fetch fails, the cached one still works: it is used.
        assert_eq!(
            cache
                .get(&c, |_| false, |_| true, |_| Err(Error::Cancelled))
                .unwrap(),
            1
        );
        // Expired: the error.
        assert!(cache
            .get(&c, |_| false, |_| false, |_| Err(Error::Cancelled))
            .is_err());
        // A successful refresh replaces it (once the backoff after the failures is over).
        cache.state.lock().failed = None;
        assert_eq!(cache.get(&c, |_| false, |_| true, |_| Ok(3)).unwrap(), 3);
        cache.invalidate();
        assert!(cache
            .get(&c, |_| false, |_| true, |_| Err(Error::Cancelled))
            .is_err());
    }

    #[test]
    fn a_fetch_that_panics_does_not_wedge_the_cache() {
        let cache = std::sync::Arc::new(Refreshing::<u32>::default());
        let c = Cancel::default();
        let c2 = cache.clone();
        let panicked = std::thread::spawn(move || {
            c2.get(
                &Cancel::default(),
                |_| false,
                |_| false,
                |_| panic!("token source bug"),
            )
        })
        .join();
        assert!(panicked.is_err());
        let started = Instant::now();
        assert_eq!(cache.get(&c, |_| false, |_| false, |_| Ok(7)).unwrap(), 7);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the next call fetches at once"
        );
    }

    #[test]
    fn failed_fetches_back_off_instead_of_fetching_per_call() {
        let cache = Refreshing::<u32>::default();
        let c = Cancel::default();
        let refused = || {
            Err(Error::Status {
                code: 403,
                body: "no".into(),
            })
        };
        for _ in 0..100 {
            assert!(cache.get(&c, |_| false, |_| false, |_| refused()).is_err());
        }
        assert_eq!(cache.fetches(), 1, "one fetch, then the backoff answers");
        let err = cache.get(&c, |_| false, |_| false, |_| refused()).unwrap_err();
        assert!(
            err.is_transient() && err.to_string().contains("next try in"),
            "{err}"
        );
        // Past the backoff, the next caller fetches again.
        cache.state.lock().failed.as_mut().unwrap().0 = Instant::now();
        assert_eq!(cache.get(&c, |_| false, |_| false, |_| Ok(1)).unwrap(), 1);
        assert_eq!(cache.fetches(), 2);
    }
}
