//! Where a Google backend's bearer tokens come from, as a config says it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[cfg(feature = "google")]
use crate::error::Result;

/// Where a Google backend's bearer tokens come from.
///
/// ```toml
/// auth = { kind = "service_account", key_file = "/etc/keys/tracker.json" }
/// auth = { kind = "command", program = "gcloud", args = ["auth", "print-access-token"] }
/// auth = { kind = "env", var = "GOOGLE_ACCESS_TOKEN" }
/// auth = { kind = "metadata" }
/// auth = { kind = "anonymous" }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum GoogleAuth {
    /// The key file named by `GOOGLE_APPLICATION_CREDENTIALS` if set, else the metadata server.
    #[default]
    Default,
    /// No token (no `authorization` header).
    Anonymous,
    /// A token in an environment variable.
    Env {
        /// The variable.
        var: String,
    },
    /// A token printed by a command.
    Command {
        /// The program.
        program: String,
        /// Its arguments.
        #[serde(default)]
        args: Vec<String>,
    },
    /// The GCE/GKE metadata server.
    Metadata {
        /// `host[:port]`; defaults to `GCE_METADATA_HOST`, else `metadata.google.internal`.
        host: Option<String>,
    },
    /// A service-account JSON key.
    ServiceAccount {
        /// The key file.
        key_file: PathBuf,
    },
}

#[cfg(feature = "google")]
impl GoogleAuth {
    /// The token source this describes; `None` for anonymous.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] for an unreadable key file.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::config::GoogleAuth;
    /// assert!(GoogleAuth::Anonymous.tokens()?.is_none());
    /// assert!(GoogleAuth::Env { var: "GOOGLE_TOKEN".into() }.tokens()?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tokens(&self) -> Result<Option<crate::auth::google::Tokens>> {
        use crate::auth::google::{CommandToken, EnvToken, MetadataServer, ServiceAccountKey, Tokens};
        Ok(Some(match self {
            GoogleAuth::Anonymous => return Ok(None),
            GoogleAuth::Default => match std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
                Some(path) => Tokens::new(ServiceAccountKey::from_file(path)?),
                None => Tokens::new(MetadataServer::from_env()),
            },
            GoogleAuth::Env { var } => Tokens::new(EnvToken::new(var)),
            GoogleAuth::Command { program, args } => Tokens::new(CommandToken::new(program, args)),
            GoogleAuth::Metadata { host: Some(h) } => Tokens::new(MetadataServer::new(format!("http://{h}"))),
            GoogleAuth::Metadata { host: None } => Tokens::new(MetadataServer::from_env()),
            GoogleAuth::ServiceAccount { key_file } => Tokens::new(ServiceAccountKey::from_file(key_file)?),
        }))
    }
}
