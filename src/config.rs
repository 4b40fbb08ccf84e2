//! Configuration as data: the structs `trackflow.toml` is read into, and
//! [`Tracker::from_config`](crate::Tracker::from_config).
//!
//! ```toml
//! [consumer]
//! kind = "background"        # immediate | buffered | background | debug
//! max_batch = 500
//! queue_capacity = 10000
//! flush_interval_ms = 1000
//! max_queue_bytes = 33554432
//! overflow = "spill"         # spill | block | block_timeout | drop_newest
//! block_timeout_ms = 100     # with overflow = "block_timeout"
//! max_disk_bytes = 1073741824  # the spill's (and journal's) disk budget
//! durability = "memory"      # memory | process | fsync (process, fsync: a journal in the spool)
//! fsync_interval_ms = 100    # with durability = "fsync"
//!
//! [backend]
//! kind = "file"              # file | growingio | gravity | personalize | retail | talent
//! dir = "./trackflow-events"
//! rotation = "daily"         # never | hourly | daily
//! max_bytes = 134217728
//!
//! [transport]
//! connect_timeout_ms = 5000
//! read_timeout_ms = 10000
//! max_retries = 3
//! initial_backoff_ms = 200
//! max_backoff_ms = 10000
//!
//! [super_properties]
//! app = "shop"
//!
//! [spool]
//! dir = "./trackflow-spool"  # failed batches and the overflow spill; absent: the default
//!                            # state directory (see trackflow::spool), the CLI's ./trackflow-spool
//! enabled = true             # false: no spool and no spill
//! ```
//!
//! A GrowingIO backend instead:
//!
//! ```toml
//! [backend]
//! kind = "growingio"
//! host = "https://collector.example.com"
//! project_key = "bcc3b6e0b6d7a1b2"
//! data_source_id = "a5f1c2d3e4b5a6c7"
//! codec = "snappy_crypt"     # json | snappy | snappy_crypt | protobuf (features snappy, protobuf)
//! ```
//!
//! Gravity Engine (feature `gravity`):
//!
//! ```toml
//! [backend]
//! kind = "gravity"
//! url = "https://backend.gravity-engine.com/event_center/api/v1/event/collect/?access_token=TOKEN"
//! compress = true
//! max_batch = 20
//! ```
//!
//! AWS Personalize Events (feature `personalize`; credentials from the AWS chain):
//!
//! ```toml
//! [backend]
//! kind = "personalize"
//! region = "us-east-1"
//! tracking_id = "…"
//! users_dataset_arn = "arn:aws:personalize:us-east-1:123456789012:dataset/group/USERS"
//! ```
//!
//! Google Cloud Retail (feature `retail`) or Talent (feature `talent`), with [`GoogleAuth`]:
//!
//! ```toml
//! [backend]
//! kind = "retail"
//! parent = "projects/123/locations/global/catalogs/default_catalog"
//! auth = { kind = "service_account", key_file = "/etc/keys/tracker.json" }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::growingio::GrowingIoCodec;
use crate::backend::Rotation;
use crate::consumer::{BackgroundConsumer, BufferedConsumer, DebugConsumer, ImmediateConsumer, Overflow};
#[cfg(feature = "toml")]
use crate::error::Error;
use crate::error::Result;
use crate::transport::{HttpTransport, RetryPolicy};
use crate::value::Properties;
use crate::{Backend, Tracker, TrackerBuilder};

/// The whole configuration.
///
/// # Examples
///
/// ```
/// let cfg: trackflow::Config = serde_json::from_value(serde_json::json!({
///     "consumer": {"kind": "buffered", "max_batch": 100},
///     "backend": {"kind": "file", "dir": "/tmp/events"}
/// }))?;
/// assert_eq!(cfg.consumer.max_batch, Some(100));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// When to send.
    #[serde(default)]
    pub consumer: ConsumerConfig,
    /// Where to send.
    pub backend: BackendConfig,
    /// How HTTP backends connect and retry.
    #[serde(default)]
    pub transport: TransportConfig,
    /// Properties added to every track event.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub super_properties: Properties,
    /// Where batches that cannot be delivered are kept.
    #[serde(default)]
    pub spool: SpoolConfig,
}

/// The spool (see [`crate::Spool`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// The spool directory. Defaults to the Background consumer's default state directory
    /// (see [`crate::spool`]); the other consumers keep no spool without one.
    pub dir: Option<PathBuf>,
    /// `false` keeps no spool and no spill: failures are only reported, and a full queue
    /// drops. Defaults to `true`.
    pub enabled: Option<bool>,
}

/// Which consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerKind {
    /// [`ImmediateConsumer`].
    Immediate,
    /// [`BufferedConsumer`].
    Buffered,
    /// [`BackgroundConsumer`] (the default).
    #[default]
    Background,
    /// [`DebugConsumer`].
    Debug,
}

/// The overflow policy by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowKind {
    /// [`Overflow::Spill`] (the default).
    #[default]
    Spill,
    /// [`Overflow::Block`].
    Block,
    /// [`Overflow::BlockTimeout`] with `block_timeout_ms`.
    BlockTimeout,
    /// [`Overflow::DropNewest`].
    DropNewest,
}

/// The durability by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurabilityKind {
    /// [`Durability::Memory`](crate::Durability::Memory) (the default).
    #[default]
    Memory,
    /// [`Durability::Process`](crate::Durability::Process).
    Process,
    /// [`Durability::Fsync`](crate::Durability::Fsync) every `fsync_interval_ms`.
    Fsync,
}

/// Consumer settings; unset ones take the consumer's defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Which consumer. Defaults to background.
    #[serde(default)]
    pub kind: ConsumerKind,
    /// Events per delivery (buffered, background).
    pub max_batch: Option<usize>,
    /// Queue size (background).
    pub queue_capacity: Option<usize>,
    /// Queue size in bytes (background).
    pub max_queue_bytes: Option<usize>,
    /// The spill's (and journal's) disk budget in bytes (background).
    pub max_disk_bytes: Option<u64>,
    /// What an accepted event survives (background).
    pub durability: Option<DurabilityKind>,
    /// How often the journal is written through with `durability = "fsync"`. Defaults to
    /// 100 ms.
    pub fsync_interval_ms: Option<u64>,
    /// Timer flush (background).
    pub flush_interval_ms: Option<u64>,
    /// Overflow policy (background).
    pub overflow: Option<OverflowKind>,
    /// Wait of `block_timeout` (background). Defaults to 100 ms.
    pub block_timeout_ms: Option<u64>,
    /// Log requests without sending them (debug).
    #[serde(default)]
    pub dry_run: bool,
}

/// Backend settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackendConfig {
    /// [`FileBackend`](crate::backend::file::FileBackend) (feature `file`).
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
    },
}

/// A URL that carries a secret in its query; `Debug` masks it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(pub String);

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

/// HTTP settings; unset ones take the defaults of [`HttpTransport`] and [`RetryPolicy`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportConfig {
    /// Connect timeout.
    pub connect_timeout_ms: Option<u64>,
    /// Response timeout.
    pub read_timeout_ms: Option<u64>,
    /// Retries after the first attempt.
    pub max_retries: Option<u32>,
    /// First backoff.
    pub initial_backoff_ms: Option<u64>,
    /// Longest backoff.
    pub max_backoff_ms: Option<u64>,
}

impl TransportConfig {
    /// Builds the transport these settings describe.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::config::TransportConfig { max_retries: Some(5), ..Default::default() }.build();
    /// assert_eq!(t.retry_policy().max_retries, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(&self) -> HttpTransport {
        let mut retry = RetryPolicy::default();
        if let Some(n) = self.max_retries {
            retry.max_retries = n;
        }
        if let Some(ms) = self.initial_backoff_ms {
            retry.initial_backoff = Duration::from_millis(ms);
        }
        if let Some(ms) = self.max_backoff_ms {
            retry.max_backoff = Duration::from_millis(ms);
        }
        let mut b = HttpTransport::builder().retry(retry);
        if let Some(ms) = self.connect_timeout_ms {
            b = b.connect_timeout(Duration::from_millis(ms));
        }
        if let Some(ms) = self.read_timeout_ms {
            b = b.read_timeout(Duration::from_millis(ms));
        }
        b.build()
    }
}

impl Config {
    /// Parses TOML.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] with the parser's message (line and column, the offending key).
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg = trackflow::Config::from_toml_str(r#"
    ///     [backend]
    ///     kind = "file"
    ///     dir = "events"
    /// "#)?;
    /// assert!(matches!(cfg.backend, trackflow::config::BackendConfig::File { .. }));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    #[cfg(feature = "toml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
    pub fn from_toml_str(s: &str) -> Result<Config> {
        toml::from_str(s).map_err(|e| Error::Config(e.to_string().trim_end().to_owned()))
    }

    /// Reads and parses a TOML file.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file, for I/O and parse errors.
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// let cfg = trackflow::Config::from_toml_file("trackflow.toml")?;
    /// let tracker = trackflow::Tracker::from_config(&cfg)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "toml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
    pub fn from_toml_file(path: impl AsRef<std::path::Path>) -> Result<Config> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Config::from_toml_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Builds the backend.
    ///
    /// # Errors
    ///
    /// What the backend's builder returns.
    #[cfg_attr(
        not(any(feature = "file", feature = "growingio")),
        allow(
            unreachable_code,
            reason = "with every backend feature off, every arm is an error"
        )
    )]
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg = trackflow::Config::from_toml_str("[backend]\nkind = \"growingio\"\nhost = \"https://c\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n")?;
    /// assert_eq!(cfg.build_backend()?.name(), "growingio");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build_backend(&self) -> Result<Box<dyn Backend>> {
        Ok(match &self.backend {
            #[cfg(feature = "file")]
            BackendConfig::File {
                dir,
                prefix,
                rotation,
                max_bytes,
            } => {
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
                Box::new(b.build()?)
            }
            #[cfg(feature = "growingio")]
            BackendConfig::Growingio {
                host,
                project_key,
                data_source_id,
                platform,
                sdk_version,
                codec,
            } => {
                let mut b = crate::backend::GrowingIo::builder(host, project_key, data_source_id)
                    .transport(self.transport.build());
                if let Some(p) = platform {
                    b = b.platform(p);
                }
                if let Some(v) = sdk_version {
                    b = b.sdk_version(v);
                }
                if let Some(c) = codec {
                    b = b.codec(*c);
                }
                Box::new(b.build()?)
            }
            #[cfg(not(feature = "file"))]
            BackendConfig::File { .. } => return Err(missing_feature("file")),
            #[cfg(not(feature = "growingio"))]
            BackendConfig::Growingio { .. } => return Err(missing_feature("growingio")),
            #[cfg(feature = "personalize")]
            BackendConfig::Personalize {
                region,
                endpoint,
                tracking_id,
                users_dataset_arn,
                items_dataset_arn,
                actions_dataset_arn,
                action_item_type,
            } => {
                let mut b =
                    crate::backend::personalize::Personalize::builder().transport(self.transport.build());
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
                Box::new(b.build()?)
            }
            #[cfg(not(feature = "personalize"))]
            BackendConfig::Personalize { .. } => return Err(missing_feature("personalize")),
            #[cfg(feature = "retail")]
            BackendConfig::Retail { .. } => Box::new(self.retail()?),
            #[cfg(not(feature = "retail"))]
            BackendConfig::Retail { .. } => return Err(missing_feature("retail")),
            #[cfg(feature = "talent")]
            BackendConfig::Talent {
                parent,
                endpoint,
                version,
                quota_project,
                auth,
            } => {
                use crate::backend::talent::{Talent, TalentVersion};
                let version = match version.as_deref() {
                    None | Some("v4") => TalentVersion::V4,
                    Some("v3") => TalentVersion::V3,
                    Some(v) => return Err(crate::Error::Config(format!("talent version `{v}`: v4 or v3"))),
                };
                let mut b = Talent::builder(parent)
                    .version(version)
                    .transport(self.transport.build());
                if let Some(e) = endpoint {
                    b = b.endpoint(e);
                }
                if let Some(q) = quota_project {
                    b = b.quota_project(q);
                }
                if let Some(t) = auth.tokens()? {
                    b = b.tokens(t);
                }
                Box::new(b.build()?)
            }
            #[cfg(not(feature = "talent"))]
            BackendConfig::Talent { .. } => return Err(missing_feature("talent")),
            #[cfg(feature = "gravity")]
            BackendConfig::Gravity {
                url,
                compress,
                max_batch,
                utc_offset_minutes,
                uuid_from_insert_id,
                client_id,
            } => {
                let mut b =
                    crate::backend::gravity::Gravity::builder(&url.0).transport(self.transport.build());
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
                Box::new(b.build()?)
            }
            #[cfg(not(feature = "gravity"))]
            BackendConfig::Gravity { .. } => return Err(missing_feature("gravity")),
        })
    }

    /// The Retail backend the config describes, for its admin calls (`import`, `purge`,
    /// `rejoin`).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] when the backend is not `retail` or its settings are wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg = trackflow::Config::from_toml_str("[backend]\nkind = \"retail\"\nparent = \"projects/1/locations/global/catalogs/c\"\nauth = { kind = \"anonymous\" }\n")?;
    /// let retail = cfg.retail()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "retail")]
    #[cfg_attr(docsrs, doc(cfg(feature = "retail")))]
    pub fn retail(&self) -> Result<crate::backend::retail::Retail> {
        let BackendConfig::Retail {
            parent,
            endpoint,
            write_async,
            quota_project,
            auth,
        } = &self.backend
        else {
            return Err(crate::Error::Config(
                "the config's backend is not `retail`".into(),
            ));
        };
        let mut b = crate::backend::retail::Retail::builder(parent).transport(self.transport.build());
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

    /// A tracker builder with the configured consumer and super properties, to which more
    /// (clock, limits, further consumers) can be added.
    ///
    /// # Errors
    ///
    /// What the backend's builder returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg = trackflow::Config::from_toml_str("[consumer]\nkind = \"immediate\"\n[backend]\nkind = \"growingio\"\nhost = \"https://c\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n")?;
    /// let tracker = cfg.tracker_builder()?.clock(trackflow::FixedClock(0)).build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tracker_builder(&self) -> Result<TrackerBuilder> {
        let backend = self.build_backend()?;
        let enabled = self.spool.enabled.unwrap_or(true);
        let spool = match &self.spool.dir {
            Some(d) if enabled => Some(crate::Spool::open(d)?),
            _ => None,
        };
        let c = &self.consumer;
        let builder = Tracker::builder().super_properties(self.super_properties.clone());
        Ok(match c.kind {
            ConsumerKind::Immediate => {
                let mut consumer = ImmediateConsumer::new(backend);
                if let Some(s) = spool {
                    consumer = consumer.spool(s);
                }
                builder.consumer(consumer)
            }
            ConsumerKind::Debug => {
                let mut b = DebugConsumer::builder(backend).dry_run(c.dry_run);
                if let Some(s) = spool {
                    b = b.spool(s);
                }
                builder.consumer(b.build())
            }
            ConsumerKind::Buffered => {
                let mut b = BufferedConsumer::builder(backend);
                if let Some(n) = c.max_batch {
                    b = b.max_batch(n);
                }
                if let Some(s) = spool {
                    b = b.spool(s);
                }
                builder.consumer(b.build())
            }
            ConsumerKind::Background => {
                let mut b = BackgroundConsumer::builder(backend);
                if let Some(n) = c.max_batch {
                    b = b.max_batch(n);
                }
                if spool.is_some() || !enabled {
                    b = b.spool(spool);
                }
                if let Some(n) = c.queue_capacity {
                    b = b.queue_capacity(n);
                }
                if let Some(n) = c.max_queue_bytes {
                    b = b.max_queue_bytes(n);
                }
                if let Some(n) = c.max_disk_bytes {
                    b = b.max_disk_bytes(n);
                }
                b = b.durability(match c.durability.unwrap_or_default() {
                    DurabilityKind::Memory => crate::Durability::Memory,
                    DurabilityKind::Process => crate::Durability::Process,
                    DurabilityKind::Fsync => crate::Durability::Fsync {
                        interval: Duration::from_millis(c.fsync_interval_ms.unwrap_or(100)),
                    },
                });
                if let Some(ms) = c.flush_interval_ms {
                    b = b.flush_interval(Duration::from_millis(ms));
                }
                b = b.overflow(match c.overflow.unwrap_or_default() {
                    OverflowKind::Spill => Overflow::Spill,
                    OverflowKind::Block => Overflow::Block,
                    OverflowKind::DropNewest => Overflow::DropNewest,
                    OverflowKind::BlockTimeout => {
                        Overflow::BlockTimeout(Duration::from_millis(c.block_timeout_ms.unwrap_or(100)))
                    }
                });
                builder.consumer(b.try_build()?)
            }
        })
    }
}

/// The error for a backend whose cargo feature is off.
#[allow(dead_code, reason = "used only when some backend feature is off")]
fn missing_feature(feature: &str) -> crate::Error {
    crate::Error::Config(format!(
        "backend `{feature}` needs trackflow's `{feature}` cargo feature"
    ))
}

impl Tracker {
    /// A tracker as `config` describes it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] or [`Error::Io`] from building the backend.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("trackflow-cfg-{}", std::process::id()));
    /// let cfg: trackflow::Config = serde_json::from_value(serde_json::json!({
    ///     "backend": {"kind": "file", "dir": dir}
    /// })).unwrap();
    /// let tracker = trackflow::Tracker::from_config(&cfg)?;
    /// # drop(tracker); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn from_config(config: &Config) -> Result<Tracker> {
        config.tracker_builder()?.build()
    }
}

#[cfg(all(test, feature = "toml"))]
mod tests {
    use super::*;

    #[test]
    fn growingio_codec_is_one_config_key() {
        let cfg = Config::from_toml_str(
            "[backend]\nkind = \"growingio\"\nhost = \"http://127.0.0.1:9\"\nproject_key = \"p\"\ndata_source_id = \"d\"\ncodec = \"snappy_crypt\"\n",
        )
        .unwrap();
        let BackendConfig::Growingio { codec, .. } = &cfg.backend else {
            panic!("{cfg:?}")
        };
        assert_eq!(*codec, Some(GrowingIoCodec::SnappyCrypt));
        // Built when the feature is on; a clear error naming the feature when it is off.
        match (cfg.build_backend(), cfg!(feature = "snappy")) {
            (Ok(_), true) => {}
            (Err(e), false) => assert!(e.to_string().contains("`snappy` cargo feature"), "{e}"),
            (r, feature) => panic!("snappy feature {feature}, got {r:?}"),
        }
        let err = Config::from_toml_str("[backend]\nkind = \"growingio\"\nhost = \"h\"\nproject_key = \"p\"\ndata_source_id = \"d\"\ncodec = \"zip\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("unknown variant `zip`"), "{err}");
    }
}
