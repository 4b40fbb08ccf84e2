//! Backends by the `kind` a config names: each backend declares its own settings (a serde
//! struct) and how to build itself from them ([`BackendSettings`]), and registers under its
//! kind. The built-in backends register the same way, so adding one, in this crate or in
//! yours, touches no central list of variants.
//!
//! ```text
//!  [backend] kind = "x", …   ──► BackendConfig { kind, settings }   (any kind parses)
//!  Config::check             ──► registry[kind]: settings → X::Settings (unknown keys refused)
//!  Tracker::from_config      ──► X::Settings::build(ctx) ──► Box<dyn Backend>
//! ```
//!
//! A kind of your own, registered once before the config is loaded:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use trackflow::backend::{BackendSettings, BuildCtx, MemoryBackend};
//!
//! #[derive(Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Audit {
//!     capacity: usize,
//! }
//!
//! impl BackendSettings for Audit {
//!     const KIND: &'static str = "audit_doc";
//!     fn build(self, _: &BuildCtx<'_>) -> trackflow::Result<Box<dyn trackflow::Backend>> {
//!         Ok(Box::new(MemoryBackend::new()))
//!     }
//! }
//!
//! trackflow::backend::register::<Audit>()?;
//! let cfg: trackflow::Config =
//!     serde_json::from_value(serde_json::json!({"backend": {"kind": "audit_doc", "capacity": 10}}))?;
//! assert_eq!(cfg.build_backend()?.name(), "memory");
//! // Its settings are checked by its own struct: an unknown key is refused, named.
//! let bad: trackflow::Config =
//!     serde_json::from_value(serde_json::json!({"backend": {"kind": "audit_doc", "capasity": 10}}))?;
//! assert!(bad.check().unwrap_err().to_string().contains("unknown field `capasity`"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::TransportConfig;
use crate::error::{Error, Result};
use crate::route::Route;
use crate::transport::HttpTransport;
use crate::Backend;

/// A backend's settings as a config gives them, and how to build the backend from them.
///
/// The struct is read from the backend's table with serde (all keys but `kind`, `name` and
/// `route`); `#[serde(deny_unknown_fields)]` makes a misspelt key an error at load. Its
/// `Serialize` is what a config written back out (and its `Debug`) shows: wrap secrets in
/// [`SecretString`](crate::config::SecretString) or [`SecretUrl`](crate::config::SecretUrl)
/// so they show as `***`. See the [module docs](self) for an example.
pub trait BackendSettings: Serialize + DeserializeOwned + 'static {
    /// The `kind` that selects this backend in a config.
    const KIND: &'static str;

    /// Builds the backend.
    ///
    /// # Errors
    ///
    /// What the backend's builder returns for settings it refuses.
    fn build(self, ctx: &BuildCtx<'_>) -> Result<Box<dyn Backend>>;

    /// What can be known wrong at load without connecting anywhere: settings that do not
    /// go together, or what `route` gives this backend that it has nowhere to put (track
    /// events to a backend without a place for them). `label` names it in the error.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the backend, the setting and the rule.
    fn check(&self, label: &str, route: &Route) -> Result<()> {
        let _ = (label, route);
        Ok(())
    }
}

/// What a backend is built with besides its own settings.
///
/// # Examples
///
/// ```
/// let transport = trackflow::config::TransportConfig::default();
/// let ctx = trackflow::backend::BuildCtx::new("events", &transport);
/// assert_eq!(ctx.label, "events");
/// assert!(ctx.http().is_ok());
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct BuildCtx<'a> {
    /// The backend's label in the config (its stats and spool name).
    pub label: &'a str,
    /// The config's `[transport]`, for HTTP backends.
    pub transport: &'a TransportConfig,
}

impl<'a> BuildCtx<'a> {
    /// A context for the backend labelled `label`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::config::TransportConfig::default();
    /// assert_eq!(trackflow::backend::BuildCtx::new("x", &t).label, "x");
    /// ```
    pub fn new(label: &'a str, transport: &'a TransportConfig) -> Self {
        BuildCtx { label, transport }
    }

    /// The HTTP transport `[transport]` describes.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for transport settings that cannot be built (an unreadable CA file).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::config::TransportConfig::default();
    /// let http = trackflow::backend::BuildCtx::new("x", &t).http()?;
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn http(&self) -> Result<HttpTransport> {
        self.transport.build()
    }
}

/// Registers `S` under `S::KIND`, so that configs can name it.
///
/// # Errors
///
/// [`Error::Config`] when the kind is taken (by a built-in backend or an earlier call).
///
/// # Examples
///
/// See the [module docs](self).
pub fn register<S: BackendSettings>() -> Result<()> {
    let mut kinds = registry().write();
    if kinds.contains_key(S::KIND) {
        return Err(Error::Config(format!(
            "backend kind `{}` is already registered",
            S::KIND
        )));
    }
    kinds.insert(S::KIND, Arc::new(Typed::<S>(PhantomData)));
    Ok(())
}

/// The kinds a config can name now, sorted.
///
/// # Examples
///
/// ```
/// assert!(trackflow::backend::registered_kinds().contains(&"file"));
/// ```
pub fn registered_kinds() -> Vec<&'static str> {
    let mut kinds: Vec<_> = registry().read().keys().copied().collect();
    kinds.sort_unstable();
    kinds
}

/// A registered kind, with its settings type erased.
pub(crate) trait Kind: Send + Sync {
    fn check(&self, settings: &Map<String, Value>, label: &str, route: &Route) -> Result<()>;
    fn build(&self, settings: &Map<String, Value>, ctx: &BuildCtx<'_>) -> Result<Box<dyn Backend>>;
    /// The settings as their struct serializes them: secrets masked, defaults as written.
    fn shown(&self, settings: &Map<String, Value>) -> Option<Value>;
}

struct Typed<S>(PhantomData<fn() -> S>);

/// `settings` read as `S`, an error naming the backend `label` and the key otherwise.
pub(crate) fn parse<S: BackendSettings>(settings: &Map<String, Value>, label: &str) -> Result<S> {
    S::deserialize(Value::Object(settings.clone()))
        .map_err(|e| Error::Config(format!("backend `{label}` ({}): {e}", S::KIND)))
}

impl<S: BackendSettings> Kind for Typed<S> {
    fn check(&self, settings: &Map<String, Value>, label: &str, route: &Route) -> Result<()> {
        parse::<S>(settings, label)?.check(label, route)
    }

    fn build(&self, settings: &Map<String, Value>, ctx: &BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        parse::<S>(settings, ctx.label)?.build(ctx)
    }

    fn shown(&self, settings: &Map<String, Value>) -> Option<Value> {
        let parsed = parse::<S>(settings, S::KIND).ok()?;
        serde_json::to_value(parsed).ok()
    }
}

/// The kind registered as `kind`, or an error saying why there is none.
pub(crate) fn lookup(kind: &str) -> Result<Arc<dyn Kind>> {
    if let Some(k) = registry().read().get(kind) {
        return Ok(k.clone());
    }
    if let Some((_, feature)) = super::builtin::FEATURES.iter().find(|(k, _)| *k == kind) {
        return Err(Error::Config(format!(
            "backend `{kind}` needs trackflow's `{feature}` cargo feature"
        )));
    }
    Err(Error::Config(format!(
        "backend kind `{kind}` is not known; the known kinds are {} (a backend of your own \
         is registered with trackflow::backend::register before the config is loaded)",
        registered_kinds().join(", ")
    )))
}

type Kinds = HashMap<&'static str, Arc<dyn Kind>>;

fn registry() -> &'static RwLock<Kinds> {
    static REGISTRY: OnceLock<RwLock<Kinds>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut kinds = Kinds::new();
        super::builtin::register_all(&mut |kind, k| {
            kinds.insert(kind, k);
        });
        RwLock::new(kinds)
    })
}

/// Adds `S` to the built-in kinds being collected.
pub(crate) fn builtin<S: BackendSettings>(add: &mut dyn FnMut(&'static str, Arc<dyn Kind>)) {
    add(S::KIND, Arc::new(Typed::<S>(PhantomData)));
}
