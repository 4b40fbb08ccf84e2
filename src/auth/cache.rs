//! A value fetched on demand and reused while it is fresh: one caller fetches, the others wait
//! for its result (each within its own deadline), and no lock is held while the fetch runs.
//! Google bearer tokens and AWS credentials both live in one.

use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::transport::Cancel;

#[derive(Debug)]
struct State<T> {
    value: Option<T>,
    refreshing: bool,
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
        state.refreshing = true;
        let stale = state.value.clone().filter(|v| usable(v));
        drop(state);
        let fetched = fetch(cancel);
        let mut state = self.state.lock();
        state.refreshing = false;
        if let Ok(v) = &fetched {
            state.value = Some(v.clone());
        }
        self.done.notify_all();
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

    /// Forgets the value, so the next call fetches anew.
    pub(crate) fn invalidate(&self) {
        self.state.lock().value = None;
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
        // A successful refresh replaces it.
        assert_eq!(cache.get(&c, |_| false, |_| true, |_| Ok(3)).unwrap(), 3);
        cache.invalidate();
        assert!(cache
            .get(&c, |_| false, |_| true, |_| Err(Error::Cancelled))
            .is_err());
    }
}
