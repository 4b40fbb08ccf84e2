//! Credentials cached until shortly before they expire, refreshed by one caller.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::credentials::{Credentials, CredentialsProvider};
use crate::auth::cache::Refreshing;
use crate::cancel::Cancel;
use crate::error::Result;

/// How long before expiry cached credentials are replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A provider's credentials, cached until [`REFRESH_MARGIN`] before they expire (a quarter of
/// their lifetime when shorter); what every signing asks.
///
/// # Examples
///
/// ```
/// use trackflow::auth::aws::{CachedCredentials, Credentials, StaticCredentials};
/// let cache = CachedCredentials::new(StaticCredentials(Credentials::new("AK", "SK", None)));
/// assert_eq!(cache.get(&Default::default())?.access_key_id, "AK");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Clone)]
pub struct CachedCredentials {
    provider: Arc<dyn CredentialsProvider>,
    cache: Arc<Refreshing<Fetched>>,
    // The backend's transport, which credential calls go through.
    transport: Option<crate::transport::HttpTransport>,
}

/// Credentials as cached: with when to fetch the next ones.
#[derive(Clone)]
struct Fetched {
    credentials: Arc<Credentials>,
    refresh_at: Option<SystemTime>,
}

impl Fetched {
    /// `credentials` fetched now: refreshed ahead of their expiry by a margin that fits
    /// their lifetime — [`REFRESH_MARGIN`], or a quarter of the lifetime when that is
    /// shorter — less up to a tenth at random, so that many processes do not refresh at once.
    fn new(credentials: Credentials) -> Fetched {
        let now = SystemTime::now();
        let refresh_at = credentials.expires_at.map(|at| {
            let lifetime = at.duration_since(now).unwrap_or_default();
            let margin = REFRESH_MARGIN.min(lifetime / 4);
            let jitter =
                margin.mul_f64((crate::clock::random_u64() >> 11) as f64 / (1u64 << 53) as f64 / 10.0);
            at - (margin + jitter).min(lifetime)
        });
        Fetched {
            credentials: Arc::new(credentials),
            refresh_at,
        }
    }

    fn fresh(&self) -> bool {
        self.refresh_at.is_none_or(|t| SystemTime::now() < t)
    }
}

impl std::fmt::Debug for CachedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedCredentials")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl CachedCredentials {
    /// Caches `provider`'s credentials.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::auth::aws::CachedCredentials::new(trackflow::auth::aws::DefaultChain::new());
    /// // Nothing is fetched until a request is signed.
    /// assert_eq!(c.fetches(), 0);
    /// ```
    pub fn new(provider: impl CredentialsProvider + 'static) -> Self {
        CachedCredentials {
            provider: Arc::new(provider),
            cache: Arc::default(),
            transport: None,
        }
    }

    /// Credential calls (STS, the container endpoint, instance metadata) go through
    /// `transport`: the backend's own, so that its CA file, roots and timeouts apply to them
    /// too. Personalize sets it to its transport when built.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::aws::{CachedCredentials, DefaultChain};
    /// let c = CachedCredentials::new(DefaultChain::new()).transport(trackflow::transport::HttpTransport::default());
    /// assert_eq!(c.fetches(), 0);
    /// ```
    pub fn transport(mut self, transport: crate::transport::HttpTransport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Valid credentials: the cached ones, or fresh ones when those are missing or expire
    /// within [`REFRESH_MARGIN`].
    ///
    /// # Errors
    ///
    /// What the provider returns; [`Error::Cancelled`](crate::Error::Cancelled) when `cancel` fires first.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::aws::{CachedCredentials, Credentials, StaticCredentials};
    /// let cache = CachedCredentials::new(StaticCredentials(Credentials::new("AK", "SK", None)));
    /// assert_eq!(cache.get(&Default::default())?.secret_access_key.expose(), "SK");
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn get(&self, cancel: &Cancel) -> Result<Arc<Credentials>> {
        let fetched = self.cache.get(
            cancel,
            Fetched::fresh,
            |f| f.credentials.fresh_for(Duration::from_secs(10)),
            |cancel| {
                crate::transport::http::with_auth_transport(self.transport.as_ref(), || {
                    self.provider.fetch(cancel).map(Fetched::new)
                })
            },
        )?;
        Ok(fetched.credentials)
    }

    /// How many times the provider was asked (a failed fetch counts; one backed off does not).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::aws::{CachedCredentials, Credentials, StaticCredentials};
    /// let cache = CachedCredentials::new(StaticCredentials(Credentials::new("AK", "SK", None)));
    /// for _ in 0..3 {
    ///     cache.get(&Default::default())?;
    /// }
    /// assert_eq!(cache.fetches(), 1);
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn fetches(&self) -> u64 {
        self.cache.fetches()
    }

    /// Forgets the cached credentials (after an `ExpiredTokenException`: revoked or rotated
    /// before their stated expiry).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::aws::{CachedCredentials, Credentials, StaticCredentials};
    /// let cache = CachedCredentials::new(StaticCredentials(Credentials::new("AK", "SK", None)));
    /// cache.invalidate();
    /// assert!(cache.get(&Default::default()).is_ok());
    /// ```
    pub fn invalidate(&self) {
        self.cache.invalidate();
    }
}
