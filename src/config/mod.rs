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
//! in_flight_ceiling = 128    # requests at once: adaptive from 2 up to this (file: 1)
//! # max_in_flight = 8        # or fixed at this
//! rate_limit = 100.0         # requests per second; unset: none
//! redelivery_initial_ms = 1000  # first wait before sending again what failed for a
//! redelivery_max_ms = 300000    # transient reason; doubling up to this (and the circuit's)
//!
//! [backend]
//! kind = "file"              # file | growingio | gravity | personalize | retail | talent | webhook
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
//! A webhook (feature `webhook`): batches of neutral events, signed (see
//! [`crate::backend::webhook`] for how a receiver verifies them):
//!
//! ```toml
//! [backend]
//! kind = "webhook"
//! url = "https://events.example.com/in"
//! format = "json_lines"      # json_array (default) | json_lines
//! gzip = true
//! secret = "${WEBHOOK_SECRET}"
//! headers = { Authorization = "Bearer ${WEBHOOK_TOKEN}" }
//! ```
//!
//! Several backends (fan-out), each with its own consumer; a `route` chooses what one is
//! given, and `${NAME}` in a string value comes from the environment (`${NAME:-fallback}`
//! when unset). A config a backend cannot use fails at load ([`Config::check`]):
//!
//! ```toml
//! [[backends]]
//! kind = "file"
//! dir = "${EVENTS_DIR:-./trackflow-events}"
//!
//! [[backends]]
//! kind = "personalize"
//! name = "personalize"       # labels its stats and its spool subdirectory
//! tracking_id = "${PERSONALIZE_TRACKING_ID}"
//! route = { kinds = ["track"], names = ["purchase", "view"] }
//!
//! [[backends]]
//! kind = "gravity"
//! url = "https://backend.gravity-engine.com/event_center/api/v1/event/collect/?access_token=${GE_TOKEN}"
//! route = { except = ["heartbeat"] }  # kinds: track, user, user_set … user_delete, item_set
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

use crate::consumer::{
    BackgroundConsumer, BufferedConsumer, Consumer, DebugConsumer, ImmediateConsumer, Overflow,
};
#[cfg(feature = "toml")]
use crate::error::Error;
use crate::error::Result;
use crate::route::{Route, RouteKind};
use crate::spool::Spool;
use crate::value::Properties;
use crate::{Backend, Tracker, TrackerBuilder};

mod backend;
#[cfg(feature = "toml")]
mod env;
#[cfg(feature = "kafka")]
mod relay;

pub use crate::settings::{GoogleAuth, SecretString, SecretUrl, TransportConfig};
pub use backend::BackendConfig;
#[cfg(feature = "kafka")]
pub(crate) use relay::RelayHooks;

/// One entry of `[[backends]]`: a backend's settings (`kind` and the rest, as in
/// `[backend]`), with an optional name and route.
///
/// ```toml
/// [[backends]]
/// kind = "file"
/// dir = "./events"
///
/// [[backends]]
/// kind = "personalize"
/// name = "personalize-eu"          # labels its stats and its spool subdirectory
/// tracking_id = "${PERSONALIZE_TRACKING_ID}"
/// route = { kinds = ["track"], names = ["purchase", "view"] }
/// consumer = { max_in_flight = 32 }  # over the [consumer] table, for this backend only
/// ```
///
/// # Examples
///
/// ```
/// let cfg: trackflow::Config = serde_json::from_value(serde_json::json!({"backends": [
///     {"kind": "file", "dir": "events", "route": {"kinds": ["track"], "except": ["ping"]}}
/// ]}))?;
/// assert_eq!(cfg.backends[0].route.except, ["ping"]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackendEntry {
    /// The label of its stats and spool subdirectory. Defaults to the kind (`-2`, `-3`… on
    /// repeats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What this backend is given. Defaults to everything.
    #[serde(default)]
    pub route: RouteConfig,
    /// Consumer settings of this backend's own, over the `[consumer]` table
    /// (`consumer = { max_in_flight = 32 }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<serde_json::Map<String, serde_json::Value>>,
    /// The backend.
    #[serde(flatten)]
    pub backend: BackendConfig,
}

/// A [`Route`] as data: empty lists mean no restriction.
///
/// # Examples
///
/// ```
/// let r: trackflow::config::RouteConfig = serde_json::from_value(serde_json::json!({"kinds": ["user"]}))?;
/// assert!(r.route().admits(&trackflow::Event::new(trackflow::EventKind::Profile(trackflow::ProfileOp::Set))));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteConfig {
    /// `track`, `user` (every `user_*`), `user_set` … `user_delete`, `item_set`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<RouteKind>,
    /// Only `track` events with these names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// No `track` events with these names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

impl RouteConfig {
    /// The route this describes.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = trackflow::config::RouteConfig::default().route();
    /// assert!(r.admits(&trackflow::Event::track("any")));
    /// ```
    pub fn route(&self) -> Route {
        let mut r = Route::new();
        if !self.kinds.is_empty() {
            r = r.kinds(self.kinds.iter().copied());
        }
        if !self.names.is_empty() {
            r = r.names(self.names.iter().cloned());
        }
        r.except(self.except.iter().cloned())
    }
}

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
#[non_exhaustive]
pub struct Config {
    /// When to send.
    #[serde(default)]
    pub consumer: ConsumerConfig,
    /// Where to send: one backend. Give several with `backends`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendConfig>,
    /// Several backends (fan-out), each with its own consumer and, optionally, a name and a
    /// route.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<BackendEntry>,
    /// How HTTP backends connect and retry.
    #[serde(default)]
    pub transport: TransportConfig,
    /// Properties added to every track event.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub super_properties: Properties,
    /// Where batches that cannot be delivered are kept.
    #[serde(default)]
    pub spool: SpoolConfig,
    /// What a relay reads (`trackflow relay`): the Kafka topics and the consumer group.
    #[cfg(feature = "kafka")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::relay::SourceSettings>,
}

/// The spool (see [`crate::spool::Spool`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
    /// Requests in flight at once, fixed (background). Unset: adaptive, from 2 up to
    /// `in_flight_ceiling`; at least 1.
    pub max_in_flight: Option<usize>,
    /// The most requests in flight the adaptive limit may reach (background). Defaults to
    /// 128; at least 1.
    pub in_flight_ceiling: Option<usize>,
    /// Requests started per second, at most (background). Defaults to none; a positive
    /// number.
    pub rate_limit: Option<f64>,
    /// Wait of `block_timeout` (background). Defaults to 100 ms.
    pub block_timeout_ms: Option<u64>,
    /// First wait before events that failed for a transient reason are sent again
    /// (background). Defaults to 1,000.
    pub redelivery_initial_ms: Option<u64>,
    /// Longest wait between sends of what keeps failing, and the open circuit's longest
    /// backoff (background). Defaults to 300,000 (5 min).
    pub redelivery_max_ms: Option<u64>,
    /// Log requests without sending them (debug).
    #[serde(default)]
    pub dry_run: bool,
}

impl Config {
    /// Parses TOML, replaces `${NAME}` references in string values from the environment
    /// (see below), and checks what can be checked without building anything.
    ///
    /// `${NAME}` is the variable's value, `${NAME:-fallback}` the fallback when it is unset or
    /// empty, `$${` a literal `${`. An unset variable without a fallback is an error naming
    /// the key and the variable (never a value).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] with the parser's message (line and column, the offending key), an
    /// unset variable, or a config no backend could use (see [`check`](Self::check)).
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg = trackflow::Config::from_toml_str(r#"
    ///     [backend]
    ///     kind = "file"
    ///     dir = "${HOME}/events"
    /// "#)?;
    /// let backend = cfg.backend.as_ref().unwrap();
    /// assert_eq!(backend.settings["dir"], format!("{}/events", std::env::var("HOME")?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "toml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
    pub fn from_toml_str(s: &str) -> Result<Config> {
        Config::from_toml_with_env(s, &|name| std::env::var(name).ok())
    }

    #[cfg(feature = "toml")]
    fn from_toml_with_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let parse_error = |e: toml::de::Error| Error::Config(e.to_string().trim_end().to_owned());
        // Parsed as written first, so that errors point at a line and column; only string
        // values take references, so the second parse cannot fail where the first did not.
        let mut cfg: Config = toml::from_str(s).map_err(parse_error)?;
        if s.contains('$') {
            let mut table: toml::Table = toml::from_str(s).map_err(parse_error)?;
            env::interpolate_table(&mut table, "", env)?;
            cfg = table.try_into().map_err(parse_error)?;
        }
        cfg.check()?;
        Ok(cfg)
    }

    /// Reads and parses a TOML file, as [`from_toml_str`](Self::from_toml_str).
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
        Config::from_toml_str(&text).map_err(|e| match e {
            // Said once: `config: FILE: what`, not `config: FILE: config: what`.
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            e => Error::Config(format!("{}: {e}", path.display())),
        })
    }

    /// The backends, each with its label and route: `[backend]` first, then `[[backends]]`.
    /// Labels default to the kind, numbered from `-2` on repeats.
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg: trackflow::Config = serde_json::from_value(serde_json::json!({"backends": [
    ///     {"kind": "file", "dir": "a"}, {"kind": "file", "dir": "b", "name": "archive"}, {"kind": "file", "dir": "c"}
    /// ]}))?;
    /// let labels: Vec<String> = cfg.backend_entries().into_iter().map(|(l, _, _)| l).collect();
    /// assert_eq!(labels, ["file", "archive", "file-2"]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn backend_entries(&self) -> Vec<(String, &BackendConfig, Route)> {
        let single = self.backend.iter().map(|b| (None, b, Route::new()));
        let several = self
            .backends
            .iter()
            .map(|e| (e.name.clone(), &e.backend, e.route.route()));
        let mut seen = std::collections::HashMap::<String, usize>::new();
        single
            .chain(several)
            .map(|(name, b, route)| {
                let label = name.unwrap_or_else(|| crate::route::numbered(&mut seen, b.kind()));
                (label.clone(), b, route.label(label))
            })
            .collect()
    }

    /// What can be known wrong without building anything: no backend, a label used twice,
    /// a backend that could carry nothing it is given (Personalize given track events
    /// without a `tracking_id`). [`from_toml_str`](Self::from_toml_str) calls it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the backend and the rule.
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg: trackflow::Config = serde_json::from_value(serde_json::json!({
    ///     "backend": {"kind": "personalize", "region": "us-east-1"}
    /// })).unwrap();
    /// let err = cfg.check().unwrap_err();
    /// assert!(err.to_string().contains("tracking_id"), "{err}");
    /// ```
    pub fn check(&self) -> Result<()> {
        let entries = self.backend_entries();
        if entries.is_empty() {
            return Err(crate::Error::Config(
                "no backend: add a [backend] table or [[backends]] entries".into(),
            ));
        }
        if self.backend.is_some() && !self.backends.is_empty() {
            return Err(crate::Error::Config(
                "both [backend] and [[backends]]: give one backend as [backend], or all of them as [[backends]] entries".into(),
            ));
        }
        self.consumer.check()?;
        for e in &self.backends {
            self.consumer_for(e)?.check()?;
        }
        let mut labels = std::collections::HashSet::new();
        for (label, backend, route) in &entries {
            check_label(label)?;
            if !labels.insert(label.as_str()) {
                return Err(crate::Error::Config(format!(
                    "backends: the name `{label}` is used twice"
                )));
            }
            backend.check_route(label, route)?;
        }
        Ok(())
    }

    /// The consumer settings of `backend` (one of `backend_entries`): its entry's, else the
    /// `[consumer]` table.
    pub(crate) fn settings_for(&self, backend: &BackendConfig) -> Result<ConsumerConfig> {
        match self.backends.iter().find(|e| std::ptr::eq(&e.backend, backend)) {
            Some(e) => self.consumer_for(e),
            None => Ok(self.consumer.clone()),
        }
    }

    /// The consumer settings of entry `e`: the `[consumer]` table, with the entry's own
    /// `consumer = { … }` over it.
    fn consumer_for(&self, e: &BackendEntry) -> Result<ConsumerConfig> {
        let Some(over) = &e.consumer else {
            return Ok(self.consumer.clone());
        };
        let name = e.name.as_deref().unwrap_or(e.backend.kind());
        let bad = |m: String| crate::Error::Config(format!("backends `{name}`: consumer: {m}"));
        let mut merged = serde_json::to_value(&self.consumer).map_err(|x| bad(x.to_string()))?;
        if let Some(m) = merged.as_object_mut() {
            for (k, v) in over {
                m.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(merged).map_err(|x| bad(x.to_string()))
    }

    /// Builds the backend of a config that has exactly one.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] when the config has several backends, else what the
    /// backend's builder returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg = trackflow::Config::from_toml_str("[backend]\nkind = \"growingio\"\nhost = \"https://c\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n")?;
    /// assert_eq!(cfg.build_backend()?.name(), "growingio");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build_backend(&self) -> Result<Box<dyn Backend>> {
        match &self.backend_entries()[..] {
            [(_, b, _)] => b.build(&self.transport),
            entries => Err(crate::Error::Config(format!(
                "the config has {} backends where one is needed",
                entries.len()
            ))),
        }
    }

    /// The config's Retail backend, for its admin calls (`import`, `purge`, `rejoin`).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] when the config has no Retail backend or several, or its
    /// settings are wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg = trackflow::Config::from_toml_str("[backend]\nkind = \"retail\"\nparent = \"projects/1/locations/global/catalogs/c\"\nauth = { kind = \"anonymous\" }\n")?;
    /// let retail = cfg.retail()?;
    /// assert_eq!(trackflow::Backend::name(&retail), "retail");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "retail")]
    #[cfg_attr(docsrs, doc(cfg(feature = "retail")))]
    pub fn retail(&self) -> Result<crate::backend::retail::Retail> {
        let entries = self.backend_entries();
        let mut retail = entries.iter().filter(|(_, b, _)| b.kind() == "retail");
        match (retail.next(), retail.next()) {
            (Some((_, b, _)), None) => b.build_retail(&self.transport),
            (None, _) => Err(crate::Error::Config("the config has no `retail` backend".into())),
            (Some(_), Some(_)) => Err(crate::Error::Config(
                "the config has several `retail` backends".into(),
            )),
        }
    }

    /// A tracker builder with a consumer per configured backend (routed as configured) and
    /// the super properties, to which more (clock, limits, further consumers) can be added.
    ///
    /// With several backends and a `spool.dir`, each keeps its spool in a subdirectory named
    /// by its label.
    ///
    /// # Errors
    ///
    /// What the backends' builders return.
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg = trackflow::Config::from_toml_str("[consumer]\nkind = \"immediate\"\n[backend]\nkind = \"growingio\"\nhost = \"https://c\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n")?;
    /// let tracker = cfg.tracker_builder()?.clock(trackflow::clock::FixedClock(0)).build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tracker_builder(&self) -> Result<TrackerBuilder> {
        self.check()?;
        let entries = self.backend_entries();
        let enabled = self.spool.enabled.unwrap_or(true);
        let several = entries.len() > 1;
        let mut builder = Tracker::builder().super_properties(self.super_properties.clone());
        for (label, backend, route) in entries {
            let spool = match &self.spool.dir {
                Some(d) if enabled && several => Some(crate::spool::Spool::open(d.join(&label))?),
                Some(d) if enabled => Some(crate::spool::Spool::open(d)?),
                _ => None,
            };
            let consumer = self.settings_for(backend)?.build(
                backend.build_labelled(&label, &self.transport)?,
                spool,
                enabled,
            )?;
            builder = builder.routed(consumer, route);
        }
        Ok(builder)
    }
}

/// A backend's label names its spool subdirectory: a plain name, never a path.
fn check_label(label: &str) -> Result<()> {
    let plain = !label.is_empty()
        && label != "."
        && label != ".."
        && label.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c));
    if plain {
        return Ok(());
    }
    Err(crate::Error::Config(format!(
        "backends: the name `{}` is not a plain name (it names the backend's spool subdirectory): use letters, digits, `-`, `_` and `.`, and not `.` or `..` alone",
        label.escape_debug()
    )))
}

impl ConsumerConfig {
    /// The consumer these settings describe, delivering to `backend`.
    fn build(
        &self,
        backend: Box<dyn Backend>,
        spool: Option<Spool>,
        spool_enabled: bool,
    ) -> Result<Box<dyn Consumer>> {
        Ok(match self.kind {
            ConsumerKind::Immediate => {
                let mut consumer = ImmediateConsumer::new(backend);
                if let Some(s) = spool {
                    consumer = consumer.spool(s);
                }
                Box::new(consumer)
            }
            ConsumerKind::Debug => {
                let mut b = DebugConsumer::builder(backend).dry_run(self.dry_run);
                if let Some(s) = spool {
                    b = b.spool(s);
                }
                Box::new(b.build())
            }
            ConsumerKind::Buffered => {
                let mut b = BufferedConsumer::builder(backend);
                if let Some(n) = self.max_batch {
                    b = b.max_batch(n);
                }
                if let Some(s) = spool {
                    b = b.spool(s);
                }
                Box::new(b.build())
            }
            ConsumerKind::Background => Box::new(self.background(backend, spool, spool_enabled)?),
        })
    }

    /// The rules of the settings whose range the builders would otherwise clamp.
    fn check(&self) -> Result<()> {
        if self.max_in_flight == Some(0) {
            return Err(crate::Error::Config(
                "consumer.max_in_flight must be at least 1".into(),
            ));
        }
        if self.in_flight_ceiling == Some(0) {
            return Err(crate::Error::Config(
                "consumer.in_flight_ceiling must be at least 1".into(),
            ));
        }
        match self.rate_limit {
            Some(r) if !(r.is_finite() && r > 0.0) => Err(crate::Error::Config(format!(
                "consumer.rate_limit must be a positive number of requests per second, got {r}"
            ))),
            _ => Ok(()),
        }
    }

    fn background(
        &self,
        backend: Box<dyn Backend>,
        spool: Option<Spool>,
        spool_enabled: bool,
    ) -> Result<BackgroundConsumer> {
        self.background_builder(backend, spool, spool_enabled)?
            .try_build()
    }

    /// A Background consumer's builder with these settings.
    pub(crate) fn background_builder(
        &self,
        backend: Box<dyn Backend>,
        spool: Option<Spool>,
        spool_enabled: bool,
    ) -> Result<crate::consumer::BackgroundConsumerBuilder> {
        let mut b = BackgroundConsumer::builder(backend);
        if let Some(n) = self.max_batch {
            b = b.max_batch(n);
        }
        self.check()?;
        if let Some(n) = self.max_in_flight {
            b = b.max_in_flight(n);
        }
        if let Some(n) = self.in_flight_ceiling {
            b = b.in_flight_ceiling(n);
        }
        if let Some(r) = self.rate_limit {
            b = b.rate_limit(r);
        }
        if self.redelivery_initial_ms.is_some() || self.redelivery_max_ms.is_some() {
            b = b.redelivery(
                self.redelivery_initial_ms
                    .map_or(crate::delivery::DEFAULT_REDELIVERY_INITIAL, Duration::from_millis),
                self.redelivery_max_ms
                    .map_or(crate::delivery::DEFAULT_REDELIVERY_MAX, Duration::from_millis),
            );
        }
        if spool.is_some() || !spool_enabled {
            b = b.spool(spool);
        }
        if let Some(n) = self.queue_capacity {
            b = b.queue_capacity(n);
        }
        if let Some(n) = self.max_queue_bytes {
            b = b.max_queue_bytes(n);
        }
        if let Some(n) = self.max_disk_bytes {
            b = b.max_disk_bytes(n);
        }
        b = b.durability(match self.durability.unwrap_or_default() {
            DurabilityKind::Memory => crate::Durability::Memory,
            DurabilityKind::Process => crate::Durability::Process,
            DurabilityKind::Fsync => crate::Durability::Fsync {
                interval: Duration::from_millis(self.fsync_interval_ms.unwrap_or(100)),
            },
        });
        if let Some(ms) = self.flush_interval_ms {
            b = b.flush_interval(Duration::from_millis(ms));
        }
        b = b.overflow(match self.overflow.unwrap_or_default() {
            OverflowKind::Spill => Overflow::Spill,
            OverflowKind::Block => Overflow::Block,
            OverflowKind::DropNewest => Overflow::DropNewest,
            OverflowKind::BlockTimeout => {
                Overflow::BlockTimeout(Duration::from_millis(self.block_timeout_ms.unwrap_or(100)))
            }
        });
        Ok(b)
    }
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
    /// tracker.track(&trackflow::Identity::user("u1"), "open", [("n", 1)])?;
    /// tracker.shutdown(std::time::Duration::from_secs(5))?;
    /// # let mut lines = 0;
    /// # for f in std::fs::read_dir(&dir)? { let f = f?.path(); if f.extension().is_some_and(|x| x == "jsonl") { lines += std::fs::read_to_string(f)?.lines().count(); } }
    /// assert_eq!(lines, 1);
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
        assert_eq!(cfg.backend.as_ref().unwrap().settings["codec"], "snappy_crypt");
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

    const FANOUT: &str = r#"
        [consumer]
        kind = "immediate"

        [[backends]]
        kind = "file"
        dir = "${TF_TEST_DIR}/events"

        [[backends]]
        kind = "file"
        name = "purchases"
        dir = "${TF_TEST_DIR}/purchases"
        route = { kinds = ["track"], names = ["purchase"] }

        [[backends]]
        kind = "file"
        dir = "${TF_TEST_DIR:-unused}/profiles"
        [backends.route]
        kinds = ["user"]
    "#;

    #[test]
    fn several_backends_with_routes_names_and_env() {
        let dir = std::env::temp_dir().join(format!("trackflow-cfg-fanout-{}", std::process::id()));
        let d = dir.to_str().unwrap().to_owned();
        let cfg = Config::from_toml_with_env(FANOUT, &|n| (n == "TF_TEST_DIR").then(|| d.clone())).unwrap();
        let labels: Vec<String> = cfg.backend_entries().into_iter().map(|(l, _, _)| l).collect();
        assert_eq!(labels, ["file", "purchases", "file-2"]);
        let t = Tracker::from_config(&cfg).unwrap();
        let who = crate::Identity::user("u1");
        t.track(&who, "purchase", Properties::new()).unwrap();
        t.track(&who, "view", Properties::new()).unwrap();
        t.user_set(&who, [("plan", "pro")]).unwrap();
        let got: Vec<(String, u64, u64)> = t
            .backend_stats()
            .into_iter()
            .map(|s| (s.name, s.stats.delivered, s.not_routed))
            .collect();
        assert_eq!(
            got,
            [
                ("file".into(), 3, 0),
                ("purchases".into(), 1, 2),
                ("file-2".into(), 1, 2)
            ]
        );
        t.shutdown(Duration::from_secs(2)).unwrap();
        for sub in ["events", "purchases", "profiles"] {
            assert!(dir.join(sub).is_dir(), "{sub} under {}", dir.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_config_no_backend_could_use_fails_at_load() {
        let load = |s: &str| {
            Config::from_toml_with_env(s, &|_| None)
                .map(drop)
                .unwrap_err()
                .to_string()
        };
        let err = load("[[backends]]\nkind = \"personalize\"\nregion = \"us-east-1\"\n");
        assert!(
            err.contains("backend `personalize` (personalize): tracking_id is required"),
            "{err}"
        );
        // Given only profiles, Personalize needs no tracking id.
        Config::from_toml_with_env(
            "[[backends]]\nkind = \"personalize\"\nusers_dataset_arn = \"arn\"\nroute = { kinds = [\"user_set\"] }\n",
            &|_| None,
        )
        .unwrap();
        assert!(load("[consumer]\nkind = \"immediate\"\n").contains("no backend"));
        let twice = "[[backends]]\nkind = \"file\"\ndir = \"a\"\nname = \"x\"\n[[backends]]\nkind = \"file\"\ndir = \"b\"\nname = \"x\"\n";
        assert!(load(twice).contains("the name `x` is used twice"));
        let unknown = load("[[backends]]\nkind = \"file\"\ndir = \"a\"\nrotaton = \"daily\"\n");
        assert!(unknown.contains("unknown field `rotaton`"), "{unknown}");
        let kind = load("[[backends]]\nkind = \"file\"\ndir = \"a\"\nroute = { kinds = [\"users\"] }\n");
        assert!(kind.contains("unknown variant `users`"), "{kind}");
        let env = load("[backend]\nkind = \"file\"\ndir = \"${NOPE}\"\n");
        assert!(
            env.contains("backend.dir: environment variable `NOPE` is not set"),
            "{env}"
        );
    }
}
