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

use super::kind::{Kind, Typed};
use super::BackendSettings;
use crate::error::{Error, Result};

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

/// The kind registered as `kind`, or an error saying why there is none.
pub(crate) fn lookup(kind: &str) -> Result<Arc<dyn Kind>> {
    if let Some(k) = registry().read().get(kind) {
        return Ok(k.clone());
    }
    if let Some((_, feature)) = FEATURES.iter().find(|(k, _)| *k == kind) {
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
        builtins(&mut |kind, k| {
            kinds.insert(kind, k);
        });
        RwLock::new(kinds)
    })
}

/// The built-in kinds: one line each, `kind` (cargo feature) => its settings type. From this
/// table come the registry's kinds and, for a config naming a kind whose feature is off, the
/// feature to turn on.
macro_rules! builtins {
    ($($kind:literal ($feature:literal) => $settings:path,)*) => {
        /// Every built-in kind and the cargo feature it needs.
        const FEATURES: &[(&str, &str)] = &[$(($kind, $feature)),*];

        /// Registers the built-in kinds this build has.
        fn builtins(add: &mut dyn FnMut(&'static str, Arc<dyn Kind>)) {
            $(
                #[cfg(feature = $feature)]
                builtin::<$settings>(add);
            )*
            let _ = add;
        }
    };
}

builtins! {
    "file" ("file") => super::file::FileSettings,
    "growingio" ("growingio") => super::growingio::GrowingIoSettings,
    "personalize" ("personalize") => super::personalize::PersonalizeSettings,
    "retail" ("retail") => super::retail::RetailSettings,
    "talent" ("talent") => super::talent::TalentSettings,
    "gravity" ("gravity") => super::gravity::GravitySettings,
    "webhook" ("webhook") => super::webhook::WebhookSettings,
    "kafka" ("kafka") => super::kafka::KafkaSettings,
}

/// Adds `S` to the built-in kinds being collected.
#[allow(
    dead_code,
    reason = "no built-in backend is compiled in without their features"
)]
fn builtin<S: BackendSettings>(add: &mut dyn FnMut(&'static str, Arc<dyn Kind>)) {
    add(S::KIND, Arc::new(Typed::<S>(PhantomData)));
}
