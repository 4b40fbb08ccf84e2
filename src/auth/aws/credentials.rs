//! Credentials, where they come from (the provider trait), and what the sources share.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::auth::Secret;
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// An environment lookup (the process environment, or a test's map).
pub(super) type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Access key, secret key, optional session token, and when they expire. `Debug` shows the
/// key id only.
///
/// # Examples
///
/// ```
/// use trackflow::auth::aws::Credentials;
/// let c = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
/// assert!(!format!("{c:?}").contains("wJalr"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credentials {
    /// The access key id (not secret).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary (STS) credentials.
    pub session_token: Option<Secret>,
    /// When temporary credentials stop working; `None` for long-term keys.
    pub expires_at: Option<SystemTime>,
}

impl Credentials {
    /// Explicit credentials.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trackflow::auth::aws::Credentials::new("AKID", "SECRET", Some("SESSION".into()));
    /// assert!(c.session_token.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        access_key_id: impl Into<String>,
        secret: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: Secret::new(secret),
            session_token: session_token.map(Secret::new),
            expires_at: None,
        }
    }

    /// These credentials, expiring at `at`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let at = SystemTime::now() + Duration::from_secs(3600);
    /// let c = trackflow::auth::aws::Credentials::new("AK", "SK", None).expiring_at(at);
    /// assert_eq!(c.expires_at, Some(at));
    /// ```
    pub fn expiring_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Whether these are still good `margin` from now.
    pub(super) fn fresh_for(&self, margin: Duration) -> bool {
        self.expires_at.is_none_or(|at| at > SystemTime::now() + margin)
    }
}

/// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`).
pub(super) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<Credentials> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
    Some(Credentials::new(
        non_empty("AWS_ACCESS_KEY_ID")?,
        non_empty("AWS_SECRET_ACCESS_KEY")?,
        non_empty("AWS_SESSION_TOKEN"),
    ))
}

/// An AWS `Expiration` as a time.
pub(super) fn parse_expiration(text: &str, source: &str) -> Result<SystemTime> {
    let ms = crate::clock::parse_rfc3339_ms(text.trim())
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| Error::Config(format!("{source}: expiration `{text}` is not an RFC 3339 time")))?;
    Ok(UNIX_EPOCH + Duration::from_millis(ms as u64))
}

/// An HTTP status from a credentials source, as an error.
pub(super) fn status_error(source: &str, status: u16) -> Error {
    Error::Status {
        code: status,
        body: format!("from the {source}"),
    }
}

/// Where credentials come from. Implement it to plug in your own (a vault, a sidecar); the
/// signer calls [`CachedCredentials`](super::CachedCredentials), which calls `fetch` only when the cached ones are
/// missing or about to expire.
///
/// # Examples
///
/// ```
/// use trackflow::auth::aws::{CachedCredentials, Credentials, CredentialsProvider};
/// use trackflow::delivery::Cancel;
///
/// #[derive(Debug)]
/// struct Vault;
/// impl CredentialsProvider for Vault {
///     fn fetch(&self, _cancel: &Cancel) -> trackflow::Result<Credentials> {
///         Ok(Credentials::new("AKIDVAULT", "from-the-vault", None))
///     }
/// }
/// let cache = CachedCredentials::new(Vault);
/// assert_eq!(cache.get(&Cancel::default())?.access_key_id, "AKIDVAULT");
/// # Ok::<(), trackflow::Error>(())
/// ```
pub trait CredentialsProvider: Send + Sync + std::fmt::Debug {
    /// Fresh credentials, giving up when `cancel` fires (a consumer's shutdown deadline).
    ///
    /// # Errors
    ///
    /// What went wrong, never showing a secret.
    fn fetch(&self, cancel: &Cancel) -> Result<Credentials>;
}

impl<T: CredentialsProvider + ?Sized> CredentialsProvider for Arc<T> {
    fn fetch(&self, cancel: &Cancel) -> Result<Credentials> {
        (**self).fetch(cancel)
    }
}

/// Fixed credentials.
///
/// # Examples
///
/// ```
/// use trackflow::auth::aws::{Credentials, CredentialsProvider, StaticCredentials};
/// let p = StaticCredentials(Credentials::new("AK", "SK", None));
/// assert_eq!(p.fetch(&Default::default())?.access_key_id, "AK");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub Credentials);

impl CredentialsProvider for StaticCredentials {
    fn fetch(&self, _cancel: &Cancel) -> Result<Credentials> {
        Ok(self.0.clone())
    }
}
