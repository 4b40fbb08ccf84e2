//! The `[backend]` / `[[backends]]` tables: a backend's kind and its settings, read by the
//! kind's registered settings struct (see [`crate::backend::registry`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::backend::registry;
use crate::backend::BuildCtx;
use crate::error::Result;
use crate::settings::TransportConfig;
use crate::Backend;

/// A backend's settings: its `kind` and the rest of its table, which the kind's
/// [`BackendSettings`](crate::backend::BackendSettings) reads. Any kind parses;
/// [`Config::check`](crate::Config::check) (called at load) refuses an unknown kind or
/// settings its struct does not take, naming the key.
///
/// `Debug` and serialization show the settings as the kind's struct does, secrets masked.
///
/// # Examples
///
/// ```
/// let b = trackflow::config::BackendConfig::new("file", serde_json::json!({"dir": "./events"}));
/// assert_eq!(b.kind(), "file");
/// assert_eq!(b.settings["dir"], "./events");
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct BackendConfig {
    /// Which backend: a registered kind.
    pub kind: String,
    /// Its settings, as written.
    #[serde(flatten)]
    pub settings: Map<String, Value>,
}

impl BackendConfig {
    /// The backend `kind` with `settings` (a JSON object; anything else counts as none).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::new("gravity", serde_json::json!({"url": "https://h/?access_token=t"}));
    /// assert!(b.build(&Default::default()).is_ok());
    /// ```
    pub fn new(kind: impl Into<String>, settings: Value) -> Self {
        let settings = match settings {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        BackendConfig {
            kind: kind.into(),
            settings,
        }
    }

    /// The same with the setting `key` set to `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::file("events").set("prefix", "app");
    /// assert_eq!(b.settings["prefix"], "app");
    /// ```
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.settings.insert(key.to_owned(), value.into());
        self
    }

    /// A File backend writing under `dir`, other settings at their defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-cfg-{}", std::process::id()));
    /// let b = trackflow::config::BackendConfig::file(&dir);
    /// assert_eq!(b.build(&Default::default())?.name(), "file");
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn file(dir: impl Into<PathBuf>) -> Self {
        Self::new("file", json!({ "dir": dir.into() }))
    }

    /// A GrowingIO backend, other settings at their defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::growingio("https://collector.example.com", "key", "ds");
    /// let backend = b.build(&Default::default())?;
    /// assert_eq!(backend.name(), "growingio");
    /// // A setting the backend does not have is an error at load, naming it.
    /// let typo = trackflow::config::BackendConfig::growingio("https://c", "k", "d").set("codek", "json");
    /// assert!(typo.build(&Default::default()).unwrap_err().to_string().contains("codek"));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn growingio(host: &str, project_key: &str, data_source_id: &str) -> Self {
        let s = json!({"host": host, "project_key": project_key, "data_source_id": data_source_id});
        Self::new("growingio", s)
    }

    /// A Personalize backend with every setting unset (add them with [`set`](Self::set)).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::personalize().set("region", "eu-west-1").set("tracking_id", "tracking-1");
    /// let backend = b.build(&Default::default())?;
    /// assert_eq!(backend.name(), "personalize");
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn personalize() -> Self {
        Self::new("personalize", json!({}))
    }

    /// A Retail backend for `parent` (`projects/*/locations/*/catalogs/*`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::retail("projects/1/locations/global/catalogs/default_catalog").set("auth", serde_json::json!({"kind": "anonymous"}));
    /// let backend = b.build(&Default::default())?;
    /// assert_eq!(backend.name(), "retail");
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn retail(parent: &str) -> Self {
        Self::new("retail", json!({ "parent": parent }))
    }

    /// A Talent backend for `parent` (`projects/*/tenants/*`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::talent("projects/p/tenants/t").set("auth", serde_json::json!({"kind": "anonymous"}));
    /// let backend = b.build(&Default::default())?;
    /// assert_eq!(backend.name(), "talent");
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn talent(parent: &str) -> Self {
        Self::new("talent", json!({ "parent": parent }))
    }

    /// A Gravity backend posting to `url` (with its `?access_token=…`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::gravity("https://h/collect/?access_token=t");
    /// let backend = b.build(&Default::default())?;
    /// assert_eq!(backend.name(), "gravity");
    /// assert!(!format!("{b:?}").contains("access_token=t"));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn gravity(url: &str) -> Self {
        Self::new("gravity", json!({ "url": url }))
    }

    /// A webhook posting to `url`, unsigned, with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::webhook("https://events.example.com/in");
    /// assert_eq!(b.kind(), "webhook");
    /// ```
    pub fn webhook(url: &str) -> Self {
        Self::new("webhook", json!({ "url": url }))
    }

    /// A Kafka backend producing to `topic` through `brokers` (`host:port,…`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::kafka("127.0.0.1:9092", "events");
    /// assert_eq!(b.settings["topic"], "events");
    /// ```
    pub fn kafka(brokers: &str, topic: &str) -> Self {
        Self::new("kafka", json!({ "brokers": brokers, "topic": topic }))
    }

    /// The backend's kind as written in the config.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::config::BackendConfig::file("events");
    /// assert_eq!(b.kind(), "file");
    /// ```
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Whether the kind is known, its settings are ones it takes, and it can use what
    /// `route` gives it, so that a config it cannot use fails at load rather than at every
    /// event.
    pub(crate) fn check_route(&self, label: &str, route: &crate::Route) -> Result<()> {
        registry::lookup(&self.kind)?.check(&self.settings, label, route)
    }

    /// Builds the backend, with `transport` for HTTP backends.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] for a kind not registered (or whose cargo feature is off),
    /// or settings it does not take; else what its builder returns.
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
        self.build_labelled(&self.kind, transport)
    }

    pub(crate) fn build_labelled(
        &self,
        label: &str,
        transport: &TransportConfig,
    ) -> Result<Box<dyn Backend>> {
        registry::lookup(&self.kind)?.build(&self.settings, &BuildCtx::new(label, transport))
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
    /// use trackflow::config::{BackendConfig, TransportConfig};
    /// let b = BackendConfig::retail("projects/1/locations/global/catalogs/c")
    ///     .set("auth", serde_json::json!({"kind": "anonymous"}));
    /// let retail = b.build_retail(&TransportConfig::default())?;
    /// assert_eq!(trackflow::Backend::name(&retail), "retail");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "retail")]
    #[cfg_attr(docsrs, doc(cfg(feature = "retail")))]
    pub fn build_retail(&self, transport: &TransportConfig) -> Result<crate::backend::retail::Retail> {
        if self.kind != "retail" {
            return Err(crate::Error::Config(format!(
                "backend `{}` is not `retail`",
                self.kind
            )));
        }
        crate::backend::kind::parse::<crate::backend::retail::RetailSettings>(&self.settings, "retail")?
            .retail(&BuildCtx::new("retail", transport))
    }

    /// The settings as shown: through the kind's struct (secrets masked), or, for a kind
    /// not registered, with every value under a secret-sounding key masked.
    fn shown(&self) -> Map<String, Value> {
        let shown = registry::lookup(&self.kind)
            .ok()
            .and_then(|k| k.shown(&self.settings));
        match shown {
            Some(Value::Object(map)) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
            _ => self
                .settings
                .iter()
                .map(|(k, v)| (k.clone(), if secret_key(k) { json!("***") } else { v.clone() }))
                .collect(),
        }
    }
}

fn secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["secret", "password", "token", "key", "credential", "auth", "url"]
        .iter()
        .any(|s| key.contains(s))
}

impl Serialize for BackendConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let shown = self.shown();
        let mut map = s.serialize_map(Some(shown.len() + 1))?;
        map.serialize_entry("kind", &self.kind)?;
        for (k, v) in &shown {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl std::fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendConfig")
            .field("kind", &self.kind)
            .field("settings", &Value::Object(self.shown()))
            .finish()
    }
}
