//! AWS credentials and region, found the way AWS users expect: explicit values, then the
//! standard environment variables, then the shared credentials and config files.
//!
//! | what | looked up in order |
//! |---|---|
//! | credentials | explicit; `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`); profile `AWS_PROFILE` (else `default`) in `AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`), then in `AWS_CONFIG_FILE` (else `~/.aws/config`) |
//! | region | explicit; `AWS_REGION`; `AWS_DEFAULT_REGION`; the profile's `region` in the config file |

use std::path::{Path, PathBuf};

use super::Secret;
use crate::error::{Error, Result};

/// Access key, secret key and optional session token. `Debug` shows the key id only.
///
/// # Examples
///
/// ```
/// use trackflow::auth::aws::Credentials;
/// let c = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
/// assert!(!format!("{c:?}").contains("wJalr"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (not secret).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary (STS) credentials.
    pub session_token: Option<Secret>,
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
        }
    }

    /// From the environment and the shared files, in the order of the module docs.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] saying where it looked, when nothing was found; or naming the file
    /// and profile that is incomplete.
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

    /// The chain with the environment and home directory given (for tests and embedding).
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
        let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
        if let (Some(ak), Some(sk)) = (non_empty("AWS_ACCESS_KEY_ID"), non_empty("AWS_SECRET_ACCESS_KEY")) {
            return Ok(Credentials::new(ak, sk, non_empty("AWS_SESSION_TOKEN")));
        }
        let profile = non_empty("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let files = [
            (
                non_empty("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from),
                ".aws/credentials",
                false,
            ),
            (
                non_empty("AWS_CONFIG_FILE").map(PathBuf::from),
                ".aws/config",
                true,
            ),
        ];
        for (explicit, default, is_config) in files {
            let Some(path) = explicit.or_else(|| home.map(|h| h.join(default))) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Some(section) = ini_section(&text, &profile, is_config) else {
                continue;
            };
            let get = |k: &str| section.iter().find(|(sk, _)| sk == k).map(|(_, v)| v.clone());
            match (get("aws_access_key_id"), get("aws_secret_access_key")) {
                (Some(ak), Some(sk)) => return Ok(Credentials::new(ak, sk, get("aws_session_token"))),
                (None, None) => continue,
                _ => {
                    return Err(Error::Config(format!(
                        "{}: profile `{profile}` needs both aws_access_key_id and aws_secret_access_key",
                        path.display()
                    )))
                }
            }
        }
        Err(Error::Config(format!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add profile `{profile}` \
             to ~/.aws/credentials, or give them explicitly"
        )))
    }
}

/// The region from the environment and the config file, in the order of the module docs.
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
    ini_section(&text, &profile, true)?
        .into_iter()
        .find(|(k, _)| k == "region")
        .map(|(_, v)| v)
}

/// The region from the process environment and `~/.aws/config`.
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

/// The `key = value` pairs of one profile. In the config file, profiles other than `default`
/// are written `[profile NAME]`.
fn ini_section(text: &str, profile: &str, is_config: bool) -> Option<Vec<(String, String)>> {
    let wanted = if is_config && profile != "default" {
        format!("profile {profile}")
    } else {
        profile.to_owned()
    };
    let mut found = None;
    let mut current: Option<bool> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let hit = name.trim() == wanted;
            if hit {
                found.get_or_insert_with(Vec::new);
            }
            current = Some(hit);
            continue;
        }
        if current == Some(true) {
            if let Some((k, v)) = line.split_once('=') {
                found
                    .get_or_insert_with(Vec::new)
                    .push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
    }
    found
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
