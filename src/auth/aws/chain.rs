//! The default chain: environment, web identity, profile, container endpoint, instance
//! metadata, resolved at each fetch.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::credentials::{from_env, Credentials, CredentialsProvider, StaticCredentials};
use super::profile;
use super::remote::{ContainerCredentials, InstanceMetadata};
use super::sts::WebIdentity;
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// An environment lookup a chain keeps, across threads.
type SharedEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl Credentials {
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
    /// // Nothing is looked up until credentials are asked for.
    /// assert!(format!("{chain:?}").contains("DefaultChain"));
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
    /// use trackflow::auth::aws::CredentialsProvider;
    /// // An empty environment, no home, instance metadata off: the error says where it looked.
    /// let off = trackflow::auth::aws::DefaultChain::with_env(|k| (k == "AWS_EC2_METADATA_DISABLED").then(|| "true".to_owned()), None);
    /// let err = off.fetch(&Default::default()).unwrap_err();
    /// assert!(err.to_string().contains("no AWS credentials"), "{err}");
    /// # let _ = chain;
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

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
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
