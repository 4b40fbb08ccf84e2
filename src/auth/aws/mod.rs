//! AWS credentials and region, found where AWS deploys them, cached, and refreshed before
//! they expire.
//!
//! | order | credentials from | refreshed |
//! |---|---|---|
//! | 1 | explicit ([`PersonalizeBuilder::credentials`](crate::PersonalizeBuilder::credentials), or your own [`CredentialsProvider`]) | by your provider |
//! | 2 | `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) | re-read when they expire |
//! | 3 | web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` → STS `AssumeRoleWithWebIdentity` (EKS IRSA) | before `Expiration` |
//! | 4 | profile `AWS_PROFILE` (else `default`) in `AWS_SHARED_CREDENTIALS_FILE` / `~/.aws/credentials` and `AWS_CONFIG_FILE` / `~/.aws/config`: keys, `credential_process`, `role_arn` with `source_profile` or `credential_source` (STS `AssumeRole`), or `web_identity_token_file` | before `Expiration` |
//! | 5 | container endpoint: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` / `_FULL_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` / `_TOKEN` (ECS, EKS Pod Identity) | before `Expiration` |
//! | 6 | EC2 instance metadata, IMDSv2 (token PUT, then role and credentials GETs; IMDSv1 only where the token request gets 404/405 and `AWS_EC2_METADATA_V1_DISABLED` is not `true`); off with `AWS_EC2_METADATA_DISABLED=true` | before `Expiration` |
//!
//! Credentials are refreshed [`REFRESH_MARGIN`] before they expire (a quarter of their
//! lifetime when that is shorter, less up to a tenth at random), by one caller while the
//! others keep signing with the still-valid ones; every signing asks the cache, so rotation
//! needs no restart. A failed fetch is retried after a backoff (1 s doubling to 1 min), not
//! per signing, and fails as `Error::Credentials`: transient, the events wait. The instance
//! metadata session token is reused for its TTL. Region: explicit; `AWS_REGION`; `AWS_DEFAULT_REGION`; the profile's
//! `region`; instance metadata. `AWS_ENDPOINT_URL_STS` points STS calls elsewhere.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cache::Refreshing;
use super::Secret;
use crate::cancel::Cancel;
use crate::error::{Error, Result};

mod profile;
mod remote;
mod sts;

use remote::{ContainerCredentials, InstanceMetadata};
use sts::WebIdentity;

/// How long before expiry cached credentials are replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// An environment lookup (the process environment, or a test's map).
type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// An environment lookup a chain keeps, across threads.
type SharedEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

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
    fn fresh_for(&self, margin: Duration) -> bool {
        self.expires_at.is_none_or(|at| at > SystemTime::now() + margin)
    }

    /// From the process environment and the shared files only (steps 2 and 4 of the module
    /// docs with static keys); kept for callers that want no network.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] saying where it looked, when nothing was found; or naming the
    /// profile that is incomplete.
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// let creds = trackflow::auth::aws::Credentials::from_default_chain()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_default_chain() -> Result<Credentials> {
        Credentials::from_chain(&|k| std::env::var(k).ok(), home().as_deref())
    }

    /// As [`from_default_chain`](Self::from_default_chain) with the environment and home
    /// directory given.
    ///
    /// # Errors
    ///
    /// As [`from_default_chain`](Self::from_default_chain).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::aws::Credentials;
    /// let env = |k: &str| match k { "AWS_ACCESS_KEY_ID" => Some("AK".to_owned()), "AWS_SECRET_ACCESS_KEY" => Some("SK".to_owned()), _ => None };
    /// assert_eq!(Credentials::from_chain(&env, None)?.access_key_id, "AK");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_chain(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Result<Credentials> {
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(c) = from_env(&env) {
            return Ok(c);
        }
        let name = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let p = profile::load(&env, home, &name);
        match p.as_ref().map(|p| (p.get("aws_access_key_id"), p.get("aws_secret_access_key"))) {
            Some((Some(ak), Some(sk))) => Ok(Credentials::new(ak, sk, p.and_then(|p| p.get("aws_session_token")))),
            Some((Some(_), None) | (None, Some(_))) => Err(Error::Config(format!(
                "AWS profile `{name}` needs both aws_access_key_id and aws_secret_access_key"
            ))),
            _ => Err(Error::Config(format!(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add profile `{name}` \
                 to ~/.aws/credentials, or give them explicitly"
            ))),
        }
    }
}

/// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`).
fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<Credentials> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
    Some(Credentials::new(
        non_empty("AWS_ACCESS_KEY_ID")?,
        non_empty("AWS_SECRET_ACCESS_KEY")?,
        non_empty("AWS_SESSION_TOKEN"),
    ))
}

/// An AWS `Expiration` as a time.
fn parse_expiration(text: &str, source: &str) -> Result<SystemTime> {
    let ms = crate::clock::parse_rfc3339_ms(text.trim())
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| Error::Config(format!("{source}: expiration `{text}` is not an RFC 3339 time")))?;
    Ok(UNIX_EPOCH + Duration::from_millis(ms as u64))
}

/// An HTTP status from a credentials source, as an error.
fn status_error(source: &str, status: u16) -> Error {
    Error::Status {
        code: status,
        body: format!("from the {source}"),
    }
}

/// Where credentials come from. Implement it to plug in your own (a vault, a sidecar); the
/// signer calls [`CachedCredentials`], which calls `fetch` only when the cached ones are
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
    /// What the provider returns; [`Error::Cancelled`] when `cancel` fires first.
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

/// The chain of the module docs (steps 2–6), resolved at each fetch so that what the
/// platform rotates (token files, container tokens) is read anew.
///
/// # Examples
///
/// ```
/// use trackflow::auth::aws::{CredentialsProvider, DefaultChain};
/// let env = |k: &str| match k {
///     "AWS_ACCESS_KEY_ID" => Some("AKENV".to_owned()),
///     "AWS_SECRET_ACCESS_KEY" => Some("SKENV".to_owned()),
///     _ => None,
/// };
/// let chain = DefaultChain::with_env(env, None);
/// assert_eq!(chain.fetch(&Default::default())?.access_key_id, "AKENV");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Clone)]
pub struct DefaultChain {
    env: SharedEnv,
    home: Option<PathBuf>,
}

impl std::fmt::Debug for DefaultChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultChain")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl Default for DefaultChain {
    fn default() -> Self {
        DefaultChain::new()
    }
}

impl DefaultChain {
    /// The chain over the process environment and home directory.
    ///
    /// # Examples
    ///
    /// ```
    /// let chain = trackflow::auth::aws::DefaultChain::new();
    /// ```
    pub fn new() -> Self {
        DefaultChain::with_env(|k| std::env::var(k).ok(), home())
    }

    /// The chain over `env` and `home` (for tests and embedding).
    ///
    /// # Examples
    ///
    /// ```
    /// let chain = trackflow::auth::aws::DefaultChain::with_env(|_| None, None);
    /// ```
    pub fn with_env(
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
        home: Option<PathBuf>,
    ) -> Self {
        DefaultChain {
            env: Arc::new(move |k: &str| env(k).filter(|v| !v.is_empty())),
            home,
        }
    }

    /// The first source that is configured here.
    fn resolve(&self) -> Result<Arc<dyn CredentialsProvider>> {
        let env = &*self.env;
        if let Some(c) = from_env(env) {
            return Ok(Arc::new(StaticCredentials(c)));
        }
        let region = region_from_chain(env, self.home.as_deref());
        if let Some(w) = WebIdentity::from_env(env, region.as_deref()) {
            return Ok(Arc::new(w));
        }
        let name = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
        if let Some(p) = profile::provider(env, self.home.as_deref(), &name, 0)? {
            return Ok(p);
        }
        if let Some(c) = ContainerCredentials::from_env(env)? {
            return Ok(Arc::new(c));
        }
        match InstanceMetadata::from_env(env) {
            Some(imds) => Ok(Arc::new(imds)),
            None => Err(Error::Config(format!(
                "no AWS credentials: none in the environment, no web identity, no profile `{name}`, \
                 no container endpoint, and instance metadata is disabled"
            ))),
        }
    }

    /// The region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's, then instance metadata
    /// (one short request, unless disabled).
    ///
    /// # Examples
    ///
    /// ```
    /// let env = |k: &str| (k == "AWS_REGION").then(|| "eu-west-1".to_owned());
    /// let chain = trackflow::auth::aws::DefaultChain::with_env(env, None);
    /// assert_eq!(chain.region().as_deref(), Some("eu-west-1"));
    /// ```
    pub fn region(&self) -> Option<String> {
        region_from_chain(&*self.env, self.home.as_deref()).or_else(|| {
            let imds = InstanceMetadata::from_env(&*self.env)?;
            let cancel = Cancel::default().with_deadline(std::time::Instant::now() + Duration::from_secs(3));
            imds.region(&cancel).ok().filter(|r| !r.is_empty())
        })
    }
}

impl CredentialsProvider for DefaultChain {
    fn fetch(&self, cancel: &Cancel) -> Result<Credentials> {
        self.resolve()?.fetch(cancel)
    }
}

/// The region from the environment and the config file (no network).
///
/// # Examples
///
/// ```
/// let env = |k: &str| (k == "AWS_REGION").then(|| "eu-west-1".to_owned());
/// assert_eq!(trackflow::auth::aws::region_from_chain(&env, None).as_deref(), Some("eu-west-1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn region_from_chain(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Option<String> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(r) = non_empty("AWS_REGION").or_else(|| non_empty("AWS_DEFAULT_REGION")) {
        return Some(r);
    }
    let profile = non_empty("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let path = non_empty("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".aws/config")))?;
    let text = std::fs::read_to_string(path).ok()?;
    profile::ini_section(&text, &profile, true)?
        .into_iter()
        .find(|(k, _)| k == "region")
        .map(|(_, v)| v)
}

/// The region from the process environment and `~/.aws/config` (no network).
///
/// # Examples
///
/// ```,no_run
/// let region = trackflow::auth::aws::region_from_default_chain();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn region_from_default_chain() -> Option<String> {
    region_from_chain(&|k| std::env::var(k).ok(), home().as_deref())
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn temp_home(name: &str, credentials: &str, config: &str) -> PathBuf {
        let home = std::env::temp_dir().join(format!("trackflow-aws-{name}-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        std::fs::write(home.join(".aws/credentials"), credentials).unwrap();
        std::fs::write(home.join(".aws/config"), config).unwrap();
        home
    }

    #[test]
    fn environment_first() {
        let e = env(&[
            ("AWS_ACCESS_KEY_ID", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "SK"),
            ("AWS_SESSION_TOKEN", "T"),
        ]);
        let c = Credentials::from_chain(&e, None).unwrap();
        assert_eq!(c, Credentials::new("AK", "SK", Some("T".into())));
    }

    #[test]
    fn then_the_profile_in_the_shared_files() {
        let home = temp_home(
            "files",
            "[default]\naws_access_key_id = AKD\naws_secret_access_key = SKD\n\n[work]\naws_access_key_id=AKW\naws_secret_access_key=SKW\naws_session_token=TW\n",
            "[default]\nregion = eu-west-1\n[profile work]\nregion = ap-south-1\n",
        );
        let c = Credentials::from_chain(&env(&[]), Some(&home)).unwrap();
        assert_eq!(c.access_key_id, "AKD");
        let e = env(&[("AWS_PROFILE", "work")]);
        let c = Credentials::from_chain(&e, Some(&home)).unwrap();
        assert_eq!(c, Credentials::new("AKW", "SKW", Some("TW".into())));
        assert_eq!(
            region_from_chain(&env(&[]), Some(&home)).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_from_chain(&e, Some(&home)).as_deref(), Some("ap-south-1"));
        let e = env(&[("AWS_PROFILE", "work"), ("AWS_DEFAULT_REGION", "us-west-2")]);
        assert_eq!(region_from_chain(&e, Some(&home)).as_deref(), Some("us-west-2"));
        let e = env(&[("AWS_REGION", "us-east-2"), ("AWS_DEFAULT_REGION", "us-west-2")]);
        assert_eq!(region_from_chain(&e, Some(&home)).as_deref(), Some("us-east-2"));
        let err = Credentials::from_chain(&env(&[("AWS_PROFILE", "missing")]), Some(&home)).unwrap_err();
        assert!(err.to_string().contains("profile `missing`"), "{err}");
        std::fs::remove_dir_all(home).unwrap();
    }
}
