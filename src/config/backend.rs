//! The `[backend]` / `[[backends]]` tables: which backend, its settings, and building it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::TransportConfig;
use crate::backend::growingio::GrowingIoCodec;
use crate::backend::Rotation;
use crate::error::Result;
use crate::Backend;

/// Backend settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum BackendConfig {
    /// [`FileBackend`](crate::backend::file::FileBackend) (feature `file`).
    #[non_exhaustive]
    File {
        /// Directory to write under.
        dir: PathBuf,
        /// File name prefix. Defaults to `events`.
        prefix: Option<String>,
        /// Time-based rotation. Defaults to daily.
        rotation: Option<Rotation>,
        /// Size-based rotation. Defaults to 128 MiB.
        max_bytes: Option<u64>,
    },
    /// [`GrowingIo`](crate::backend::growingio::GrowingIo) (feature `growingio`).
    #[non_exhaustive]
    Growingio {
        /// Collector base URL.
        host: String,
        /// Project key (the SDK's `product_id`).
        project_key: String,
        /// Data source id.
        data_source_id: String,
        /// `platform` field. Defaults to `python`.
        platform: Option<String>,
        /// `sdkVersion` field. Defaults to `1.0.5`.
        sdk_version: Option<String>,
        /// `json` (default), `snappy`, `snappy_crypt` or `protobuf`.
        codec: Option<GrowingIoCodec>,
    },
    /// AWS Personalize Events (cargo feature `personalize`). Credentials come from the AWS
    /// chain (environment, then `~/.aws/credentials`), never from this file.
    #[non_exhaustive]
    Personalize {
        /// The region. Defaults to the AWS chain.
        region: Option<String>,
        /// Another endpoint. Defaults to `https://personalize-events.{region}.amazonaws.com`.
        endpoint: Option<String>,
        /// The event tracker, for track events.
        tracking_id: Option<String>,
        /// The users dataset, for `user_set`.
        users_dataset_arn: Option<String>,
        /// The items dataset, for `item_set`.
        items_dataset_arn: Option<String>,
        /// The actions dataset, for `item_set` of the action type.
        actions_dataset_arn: Option<String>,
        /// The item type that means an action. Defaults to `action`.
        action_item_type: Option<String>,
    },
    /// Google Cloud Retail user events (cargo feature `retail`).
    #[non_exhaustive]
    Retail {
        /// `projects/*/locations/*/catalogs/*`.
        parent: String,
        /// Another endpoint. Defaults to `https://retail.googleapis.com`.
        endpoint: Option<String>,
        /// `writeAsync=true`. Defaults to `false`.
        write_async: Option<bool>,
        /// `x-goog-user-project`.
        quota_project: Option<String>,
        /// Where tokens come from. Defaults to [`GoogleAuth::Default`].
        #[serde(default)]
        auth: GoogleAuth,
    },
    /// Google Cloud Talent client events (cargo feature `talent`).
    #[non_exhaustive]
    Talent {
        /// `projects/*/tenants/*` (v4) or `projects/*` (v3).
        parent: String,
        /// Another endpoint. Defaults to `https://jobs.googleapis.com`.
        endpoint: Option<String>,
        /// `v4` (default) or `v3`.
        version: Option<String>,
        /// `x-goog-user-project`.
        quota_project: Option<String>,
        /// Where tokens come from. Defaults to [`GoogleAuth::Default`].
        #[serde(default)]
        auth: GoogleAuth,
    },
    /// Gravity Engine (cargo feature `gravity`).
    #[non_exhaustive]
    Gravity {
        /// The collect URL with its `?access_token=…` (masked in `Debug`).
        url: SecretUrl,
        /// Gzip bodies. Defaults to `true`.
        compress: Option<bool>,
        /// Events per envelope. Defaults to 20 (at most 200).
        max_batch: Option<usize>,
        /// Offset from UTC of time values written as text. Defaults to 0.
        utc_offset_minutes: Option<i32>,
        /// Send insert ids as `#uuid` (one request per event). Defaults to `false`.
        uuid_from_insert_id: Option<bool>,
        /// Which id becomes `client_id`: `anonymous_first` (default) or `user_first`.
        #[cfg(feature = "gravity")]
        client_id: Option<crate::backend::gravity::ClientId>,
        /// Gravity's debug mode (`Turbo-Debug-Mode: 1`, one envelope per request). Defaults
        /// to `false`.
        debug_mode: Option<bool>,
    },
    /// A webhook (cargo feature `webhook`): neutral events POSTed to any URL, signed with
    /// HMAC-SHA256 when a `secret` is set. Put secrets in the environment:
    /// `secret = "${WEBHOOK_SECRET}"`.
    #[non_exhaustive]
    Webhook {
        /// Where to POST (a token in its query is masked in `Debug`).
        url: SecretUrl,
        /// `json_array` (default) or `json_lines`.
        #[cfg(feature = "webhook")]
        format: Option<crate::backend::webhook::WebhookFormat>,
        /// Gzip bodies. Defaults to `false`.
        gzip: Option<bool>,
        /// Request headers (values masked in `Debug` and when written back out).
        #[serde(default)]
        headers: std::collections::BTreeMap<String, SecretString>,
        /// The shared HMAC-SHA256 secret (masked in `Debug` and when written back out).
        secret: Option<SecretString>,
        /// Events per request. Defaults to 500.
        max_batch: Option<usize>,
    },
}

/// A secret setting (a webhook's shared secret, a header's token): `Debug` and serialization
/// show `***`.
///
/// # Examples
///
/// ```
/// let s = trackflow::config::SecretString("s3cret".into());
/// assert_eq!(serde_json::to_string(&s)?, r#""***""#);
/// assert!(!format!("{s:?}").contains("s3cret"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretString(pub String);

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A URL that carries a secret in its query; `Debug` and serialization mask it (a config
/// written back out names the key but not its value).
///
/// # Examples
///
/// ```
/// let u = trackflow::config::SecretUrl("https://h/c/?access_token=T0KEN".into());
/// assert_eq!(serde_json::to_string(&u)?, r#""https://h/c/?access_token=***""#);
/// assert!(!format!("{u:?}").contains("T0KEN"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(pub String);

impl Serialize for SecretUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&crate::transport::http::mask_url(&self.0))
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", crate::transport::http::mask_url(&self.0))
    }
}

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

impl BackendConfig {
    /// A File backend writing under `dir`, other settings at their defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::file("./events");
    /// ```
    pub fn file(dir: impl Into<PathBuf>) -> Self {
        BackendConfig::File {
            dir: dir.into(),
            prefix: None,
            rotation: None,
            max_bytes: None,
        }
    }

    /// A GrowingIO backend, other settings at their defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::growingio("https://collector.example.com", "key", "ds");
    /// ```
    pub fn growingio(
        host: impl Into<String>,
        project_key: impl Into<String>,
        data_source_id: impl Into<String>,
    ) -> Self {
        BackendConfig::Growingio {
            host: host.into(),
            project_key: project_key.into(),
            data_source_id: data_source_id.into(),
            platform: None,
            sdk_version: None,
            codec: None,
        }
    }

    /// A Personalize backend with every setting unset (set `tracking_id` and the datasets on
    /// the variant's fields).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::config::BackendConfig;
    /// let mut b = BackendConfig::personalize();
    /// if let BackendConfig::Personalize { tracking_id, .. } = &mut b {
    ///     *tracking_id = Some("tracking-1".into());
    /// }
    /// ```
    pub fn personalize() -> Self {
        BackendConfig::Personalize {
            region: None,
            endpoint: None,
            tracking_id: None,
            users_dataset_arn: None,
            items_dataset_arn: None,
            actions_dataset_arn: None,
            action_item_type: None,
        }
    }

    /// A Retail backend for `parent` (`projects/*/locations/*/catalogs/*`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::retail("projects/1/locations/global/catalogs/default_catalog");
    /// ```
    pub fn retail(parent: impl Into<String>) -> Self {
        BackendConfig::Retail {
            parent: parent.into(),
            endpoint: None,
            write_async: None,
            quota_project: None,
            auth: GoogleAuth::Default,
        }
    }

    /// A Talent backend for `parent` (`projects/*/tenants/*`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::talent("projects/p/tenants/t");
    /// ```
    pub fn talent(parent: impl Into<String>) -> Self {
        BackendConfig::Talent {
            parent: parent.into(),
            endpoint: None,
            version: None,
            quota_project: None,
            auth: GoogleAuth::Default,
        }
    }

    /// A Gravity backend posting to `url` (with its `?access_token=…`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::gravity("https://h/collect/?access_token=t");
    /// ```
    pub fn gravity(url: impl Into<String>) -> Self {
        BackendConfig::Gravity {
            url: SecretUrl(url.into()),
            compress: None,
            max_batch: None,
            utc_offset_minutes: None,
            uuid_from_insert_id: None,
            #[cfg(feature = "gravity")]
            client_id: None,
            debug_mode: None,
        }
    }

    /// The backend's kind as written in the config.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::file("events");
    /// assert_eq!(b.kind(), "file");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            BackendConfig::File { .. } => "file",
            BackendConfig::Growingio { .. } => "growingio",
            BackendConfig::Personalize { .. } => "personalize",
            BackendConfig::Retail { .. } => "retail",
            BackendConfig::Talent { .. } => "talent",
            BackendConfig::Gravity { .. } => "gravity",
            BackendConfig::Webhook { .. } => "webhook",
        }
    }

    /// Whether this backend can use what `route` gives it, so that a config it cannot use
    /// fails at load rather than at every event.
    pub(crate) fn check_route(&self, label: &str, route: &crate::Route) -> Result<()> {
        if let BackendConfig::Personalize {
            tracking_id: None, ..
        } = self
        {
            if route.admits_track() {
                return Err(crate::Error::Config(format!(
                    "backend `{label}` (personalize): tracking_id is required for track events; set it, \
                     or route only user and item events there (route = {{ kinds = [\"user\", \"item_set\"] }})"
                )));
            }
        }
        Ok(())
    }

    /// Builds the backend, with `transport` for HTTP backends.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] for a backend whose cargo feature is off, else what its
    /// builder returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::config::{BackendConfig, TransportConfig};
    /// let b = BackendConfig::growingio("https://c", "p", "d");
    /// assert_eq!(b.build(&TransportConfig::default())?.name(), "growingio");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(&self, transport: &TransportConfig) -> Result<Box<dyn Backend>> {
        match self {
            BackendConfig::File { .. } => self.build_file(),
            BackendConfig::Growingio { .. } => self.build_growingio(transport),
            BackendConfig::Personalize { .. } => self.build_personalize(transport),
            BackendConfig::Retail { .. } => self.build_retail_backend(transport),
            BackendConfig::Talent { .. } => self.build_talent(transport),
            BackendConfig::Gravity { .. } => self.build_gravity(transport),
            BackendConfig::Webhook { .. } => self.build_webhook(transport),
        }
    }

    #[cfg(feature = "file")]
    fn build_file(&self) -> Result<Box<dyn Backend>> {
        let BackendConfig::File {
            dir,
            prefix,
            rotation,
            max_bytes,
        } = self
        else {
            unreachable!("called for the file kind")
        };
        let mut b = crate::backend::FileBackend::builder(dir);
        if let Some(p) = prefix {
            b = b.prefix(p);
        }
        if let Some(r) = rotation {
            b = b.rotation(*r);
        }
        if let Some(n) = max_bytes {
            b = b.max_bytes(*n);
        }
        Ok(Box::new(b.build()?))
    }

    #[cfg(feature = "growingio")]
    fn build_growingio(&self, transport: &TransportConfig) -> Result<Box<dyn Backend>> {
        let BackendConfig::Growingio {
            host,
            project_key,
            data_source_id,
            platform,
            sdk_version,
            codec,
        } = self
        else {
            unreachable!("called for the growingio kind")
        };
        let mut b = crate::backend::GrowingIo::builder(host, project_key, data_source_id)
            .transport(transport.build()?);
        if let Some(p) = platform {
            b = b.platform(p);
        }
        if let Some(v) = sdk_version {
            b = b.sdk_version(v);
        }
        if let Some(c) = codec {
            b = b.codec(*c);
        }
        Ok(Box::new(b.build()?))
    }

    #[cfg(feature = "personalize")]
    fn build_personalize(&self, transport: &TransportConfig) -> Result<Box<dyn Backend>> {
        let BackendConfig::Personalize {
            region,
            endpoint,
            tracking_id,
            users_dataset_arn,
            items_dataset_arn,
            actions_dataset_arn,
            action_item_type,
        } = self
        else {
            unreachable!("called for the personalize kind")
        };
        let mut b = crate::backend::personalize::Personalize::builder().transport(transport.build()?);
        if let Some(v) = region {
            b = b.region(v);
        }
        if let Some(v) = endpoint {
            b = b.endpoint(v);
        }
        if let Some(v) = tracking_id {
            b = b.tracking_id(v);
        }
        if let Some(v) = users_dataset_arn {
            b = b.users_dataset_arn(v);
        }
        if let Some(v) = items_dataset_arn {
            b = b.items_dataset_arn(v);
        }
        if let Some(v) = actions_dataset_arn {
            b = b.actions_dataset_arn(v);
        }
        if let Some(v) = action_item_type {
            b = b.action_item_type(v);
        }
        Ok(Box::new(b.build()?))
    }

    #[cfg(feature = "retail")]
    fn build_retail_backend(&self, transport: &TransportConfig) -> Result<Box<dyn Backend>> {
        Ok(Box::new(self.build_retail(transport)?))
    }

    /// The Retail backend this describes, for its admin calls (`import`, `purge`, `rejoin`).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] when this is not `retail` or its settings are wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::config::{BackendConfig, GoogleAuth, TransportConfig};
    /// let mut b = BackendConfig::retail("projects/1/locations/global/catalogs/c");
    /// if let BackendConfig::Retail { auth, .. } = &mut b {
    ///     *auth = GoogleAuth::Anonymous;
    /// }
    /// let retail = b.build_retail(&TransportConfig::default())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "retail")]
    #[cfg_attr(docsrs, doc(cfg(feature = "retail")))]
    pub fn build_retail(&self, transport: &TransportConfig) -> Result<crate::backend::retail::Retail> {
        let BackendConfig::Retail {
            parent,
            endpoint,
            write_async,
            quota_project,
            auth,
        } = self
        else {
            return Err(crate::Error::Config(format!(
                "backend `{}` is not `retail`",
                self.kind()
            )));
        };
        let mut b = crate::backend::retail::Retail::builder(parent).transport(transport.build()?);
        if let Some(e) = endpoint {
            b = b.endpoint(e);
        }
        if let Some(w) = write_async {
            b = b.write_async(*w);
        }
        if let Some(q) = quota_project {
            b = b.quota_project(q);
        }
        if let Some(t) = auth.tokens()? {
            b = b.tokens(t);
        }
        b.build()
    }

    #[cfg(feature = "talent")]
    fn build_talent(&self, transport: &TransportConfig) -> Result<Box<dyn Backend>> {
        use crate::backend::talent::{Talent, TalentVersion};
        let BackendConfig::Talent {
            parent,
            endpoint,
            version,
            quota_project,
            auth,
        } = self
        else {
            unreachable!("called for the talent kind")
        };
        let version = match version.as_deref() {
            None | Some("v4") => TalentVersion::V4,
            Some("v3") => TalentVersion::V3,
            Some(v) => return Err(crate::Error::Config(format!("talent version `{v}`: v4 or v3"))),
        };
        let mut b = Talent::builder(parent)
            .version(version)
            .transport(transport.build()?);
        if let Some(e) = endpoint {
            b = b.endpoint(e);
        }
        if let Some(q) = quota_project {
            b = b.quota_project(q);
        }
        if let Some(t) = auth.tokens()? {
            b = b.tokens(t);
        }
        Ok(Box::new(b.build()?))
    }

    #[cfg(feature = "gravity")]
    fn build_gravity(&self, transport: &TransportConfig) -> Result<Box<dyn Backend>> {
        let BackendConfig::Gravity {
            url,
            compress,
            max_batch,
            utc_offset_minutes,
            uuid_from_insert_id,
            client_id,
            debug_mode,
        } = self
        else {
            unreachable!("called for the gravity kind")
        };
        let mut b = crate::backend::gravity::Gravity::builder(&url.0).transport(transport.build()?);
        if let Some(v) = compress {
            b = b.compress(*v);
        }
        if let Some(n) = max_batch {
            b = b.max_batch(*n);
        }
        if let Some(m) = utc_offset_minutes {
            b = b.utc_offset_minutes(*m);
        }
        if let Some(v) = uuid_from_insert_id {
            b = b.uuid_from_insert_id(*v);
        }
        if let Some(c) = client_id {
            b = b.client_id(*c);
        }
        if let Some(d) = debug_mode {
            b = b.debug_mode(*d);
        }
        Ok(Box::new(b.build()?))
    }
}

impl BackendConfig {
    /// A webhook posting to `url`, unsigned, with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::webhook("https://events.example.com/in");
    /// assert_eq!(b.kind(), "webhook");
    /// ```
    pub fn webhook(url: impl Into<String>) -> Self {
        BackendConfig::Webhook {
            url: SecretUrl(url.into()),
            #[cfg(feature = "webhook")]
            format: None,
            gzip: None,
            headers: Default::default(),
            secret: None,
            max_batch: None,
        }
    }

    #[cfg(feature = "webhook")]
    fn build_webhook(&self, transport: &TransportConfig) -> Result<Box<dyn Backend>> {
        let BackendConfig::Webhook {
            url,
            format,
            gzip,
            headers,
            secret,
            max_batch,
        } = self
        else {
            unreachable!("called for the webhook kind")
        };
        let mut b = crate::backend::webhook::Webhook::builder(&url.0).transport(transport.build()?);
        if let Some(f) = format {
            b = b.format(*f);
        }
        if let Some(g) = gzip {
            b = b.gzip(*g);
        }
        for (k, v) in headers {
            b = b.header(k, &v.0);
        }
        if let Some(s) = secret {
            b = b.secret(&s.0);
        }
        if let Some(n) = max_batch {
            b = b.max_batch(*n);
        }
        Ok(Box::new(b.build()?))
    }
}

// A backend whose cargo feature is off is a clear error naming the feature.
macro_rules! missing {
    ($($feature:literal => $name:ident($($arg:ident)?)),* $(,)?) => {
        impl BackendConfig {$(
            #[cfg(not(feature = $feature))]
            fn $name(&self $(, $arg: &TransportConfig)?) -> Result<Box<dyn Backend>> {
                $(let _ = $arg;)?
                Err(crate::Error::Config(format!(
                    "backend `{}` needs trackflow's `{}` cargo feature",
                    self.kind(),
                    $feature
                )))
            }
        )*}
    };
}
missing!(
    "file" => build_file(),
    "growingio" => build_growingio(transport),
    "personalize" => build_personalize(transport),
    "retail" => build_retail_backend(transport),
    "talent" => build_talent(transport),
    "gravity" => build_gravity(transport),
    "webhook" => build_webhook(transport),
);
