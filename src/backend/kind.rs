//! A backend kind: the settings a config gives it ([`BackendSettings`]) and what it is built
//! with ([`BuildCtx`]); the registry keeps them by kind with the type erased ([`Kind`]).

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Backend;
use crate::error::{Error, Result};
use crate::route::Route;
use crate::settings::TransportConfig;
use crate::transport::HttpTransport;

/// A backend's settings as a config gives them, and how to build the backend from them.
///
/// The struct is read from the backend's table with serde (all keys but `kind`, `name` and
/// `route`); `#[serde(deny_unknown_fields)]` makes a misspelt key an error at load. Its
/// `Serialize` is what a config written back out (and its `Debug`) shows: wrap secrets in
/// [`SecretString`](crate::config::SecretString) or [`SecretUrl`](crate::config::SecretUrl)
/// so they show as `***`. See the [`backend`](crate::backend) module docs for an example.
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

/// A registered kind, with its settings type erased.
pub(crate) trait Kind: Send + Sync {
    fn check(&self, settings: &Map<String, Value>, label: &str, route: &Route) -> Result<()>;
    fn build(&self, settings: &Map<String, Value>, ctx: &BuildCtx<'_>) -> Result<Box<dyn Backend>>;
    /// The settings as their struct serializes them: secrets masked, defaults as written.
    fn shown(&self, settings: &Map<String, Value>) -> Option<Value>;
}

pub(crate) struct Typed<S>(pub(crate) PhantomData<fn() -> S>);

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
