//! The shared config and credentials files (`~/.aws/config`, `~/.aws/credentials`): static
//! keys, `credential_process`, and roles (`role_arn` with `source_profile`,
//! `credential_source` or `web_identity_token_file`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::credentials::{from_env, Credentials, CredentialsProvider, Env, StaticCredentials};
use super::remote::{ContainerCredentials, InstanceMetadata, JsonCredentials};
use super::sts::{self, AssumeRole, WebIdentity};
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// How long a `credential_process` may run.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);
/// How many `source_profile` hops are followed (a loop is a config error, not a hang).
const MAX_CHAIN: usize = 4;

/// A profile's settings: the credentials file's section over the config file's.
#[derive(Debug, Default)]
pub(super) struct Profile {
    name: String,
    pairs: Vec<(String, String)>,
}

impl Profile {
    pub(super) fn get(&self, key: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }
}

/// Where the files are: `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`, else under home.
fn files(env: &Env<'_>, home: Option<&Path>) -> [(Option<PathBuf>, bool); 2] {
    let path = |var: &str, default: &str| {
        env(var)
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(default)))
    };
    [
        (path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"), false),
        (path("AWS_CONFIG_FILE", ".aws/config"), true),
    ]
}

/// Profile `name`, or `None` when neither file has it.
pub(super) fn load(env: &Env<'_>, home: Option<&Path>, name: &str) -> Option<Profile> {
    let mut found: Option<Profile> = None;
    for (path, is_config) in files(env, home) {
        let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
            continue;
        };
        if let Some(pairs) = ini_section(&text, name, is_config) {
            let p = found.get_or_insert_with(|| Profile {
                name: name.to_owned(),
                pairs: Vec::new(),
            });
            // The credentials file is read first, so its values win.
            for (k, v) in pairs {
                if !p.pairs.iter().any(|(pk, _)| *pk == k) {
                    p.pairs.push((k, v));
                }
            }
        }
    }
    found
}

/// The provider profile `name` describes, or `None` when it has no credentials at all.
pub(super) fn provider(
    env: &Env<'_>,
    home: Option<&Path>,
    name: &str,
    depth: usize,
) -> Result<Option<Arc<dyn CredentialsProvider>>> {
    let Some(p) = load(env, home, name) else {
        return Ok(None);
    };
    if let Some(role_arn) = p.get("role_arn") {
        return role(env, home, &p, role_arn, depth).map(Some);
    }
    if let Some(command) = p.get("credential_process") {
        return Ok(Some(Arc::new(CredentialProcess { command })));
    }
    match (p.get("aws_access_key_id"), p.get("aws_secret_access_key")) {
        (Some(ak), Some(sk)) => Ok(Some(Arc::new(StaticCredentials(Credentials::new(
            ak,
            sk,
            p.get("aws_session_token"),
        ))))),
        (None, None) => Ok(None),
        _ => Err(Error::Config(format!(
            "AWS profile `{}` needs both aws_access_key_id and aws_secret_access_key",
            p.name
        ))),
    }
}

fn role(
    env: &Env<'_>,
    home: Option<&Path>,
    p: &Profile,
    role_arn: String,
    depth: usize,
) -> Result<Arc<dyn CredentialsProvider>> {
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| p.get("region"));
    let session_name = p.get("role_session_name").unwrap_or_else(sts::session_name);
    if let Some(token_file) = p.get("web_identity_token_file") {
        return Ok(Arc::new(WebIdentity {
            endpoint: sts::endpoint(env, region.as_deref()),
            token_file,
            role_arn,
            session_name,
        }));
    }
    let source: Arc<dyn CredentialsProvider> = match (p.get("source_profile"), p.get("credential_source")) {
        (Some(src), _) if depth >= MAX_CHAIN => {
            return Err(Error::Config(format!(
                "AWS profile `{}`: source_profile `{src}` chains more than {MAX_CHAIN} roles (a loop?)",
                p.name
            )))
        }
        (Some(src), _) if src == p.name => source_keys(p)?,
        (Some(src), _) => provider(env, home, &src, depth + 1)?.ok_or_else(|| {
            Error::Config(format!(
                "AWS profile `{}`: source_profile `{src}` has no credentials",
                p.name
            ))
        })?,
        (None, Some(cs)) => credential_source(env, &cs)?,
        (None, None) => {
            return Err(Error::Config(format!(
            "AWS profile `{}`: role_arn needs source_profile, credential_source or web_identity_token_file",
            p.name
        )))
        }
    };
    Ok(Arc::new(AssumeRole {
        source,
        endpoint: sts::endpoint(env, region.as_deref()),
        region: region.unwrap_or_else(|| "us-east-1".into()),
        role_arn,
        session_name,
        external_id: p.get("external_id"),
    }))
}

/// A profile that names itself as source: its own static keys.
fn source_keys(p: &Profile) -> Result<Arc<dyn CredentialsProvider>> {
    match (p.get("aws_access_key_id"), p.get("aws_secret_access_key")) {
        (Some(ak), Some(sk)) => Ok(Arc::new(StaticCredentials(Credentials::new(
            ak,
            sk,
            p.get("aws_session_token"),
        )))),
        _ => Err(Error::Config(format!(
            "AWS profile `{}` is its own source_profile but has no keys",
            p.name
        ))),
    }
}

fn credential_source(env: &Env<'_>, source: &str) -> Result<Arc<dyn CredentialsProvider>> {
    let missing = || Error::Config(format!("AWS credential_source `{source}` is not available here"));
    Ok(match source {
        "Environment" => Arc::new(StaticCredentials(from_env(env).ok_or_else(missing)?)),
        "Ec2InstanceMetadata" => Arc::new(InstanceMetadata::from_env(env).ok_or_else(missing)?),
        "EcsContainer" => Arc::new(ContainerCredentials::from_env(env)?.ok_or_else(missing)?),
        other => {
            return Err(Error::Config(format!(
                "AWS credential_source `{other}`: Environment, Ec2InstanceMetadata or EcsContainer"
            )))
        }
    })
}

/// Credentials printed as JSON by a command (`credential_process`), run through the shell.
#[derive(Debug, Clone)]
pub(super) struct CredentialProcess {
    command: String,
}

impl CredentialsProvider for CredentialProcess {
    fn fetch(&self, cancel: &Cancel) -> Result<Credentials> {
        let (shell, flag) = if cfg!(windows) {
            ("cmd", "/C")
        } else {
            ("sh", "-c")
        };
        let cancel = cancel.with_deadline(Instant::now() + PROCESS_TIMEOUT);
        let out = crate::auth::command::run_command(
            "aws credential_process",
            shell,
            &[flag.to_owned(), self.command.clone()],
            &cancel,
        )?;
        if !out.status.success() {
            return Err(Error::Transport(
                format!(
                    "aws credential_process exited with {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )
                .into(),
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let version: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if version.get("Version").and_then(|v| v.as_i64()) != Some(1) {
            return Err(Error::Config(
                "aws credential_process: its output needs \"Version\": 1".into(),
            ));
        }
        JsonCredentials::parse(&text, "aws credential_process")
    }
}

/// The `key = value` pairs of one profile. In the config file, profiles other than `default`
/// are written `[profile NAME]`.
pub(super) fn ini_section(text: &str, profile: &str, is_config: bool) -> Option<Vec<(String, String)>> {
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
        if current == Some(true)
            && let Some((k, v)) = line.split_once('=')
        {
            found
                .get_or_insert_with(Vec::new)
                .push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    found
}
