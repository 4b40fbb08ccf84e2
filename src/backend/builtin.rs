//! The backends this crate ships, registered under their kinds like any other (see
//! [`registry`](super::registry)); each declares its settings in its own module.

use std::sync::Arc;

use super::registry::Kind;

/// Every built-in kind and the cargo feature it needs, so that a config naming one whose
/// feature is off says which feature to turn on.
pub(crate) const FEATURES: &[(&str, &str)] = &[
    ("file", "file"),
    ("growingio", "growingio"),
    ("personalize", "personalize"),
    ("retail", "retail"),
    ("talent", "talent"),
    ("gravity", "gravity"),
    ("webhook", "webhook"),
    ("kafka", "kafka"),
];

/// Registers the built-in kinds this build has.
pub(crate) fn register_all(add: &mut dyn FnMut(&'static str, Arc<dyn Kind>)) {
    #[allow(unused_imports)]
    use super::registry::builtin;
    #[cfg(feature = "file")]
    builtin::<super::file::FileSettings>(add);
    #[cfg(feature = "growingio")]
    builtin::<super::growingio::GrowingIoSettings>(add);
    #[cfg(feature = "personalize")]
    builtin::<super::personalize::PersonalizeSettings>(add);
    #[cfg(feature = "retail")]
    builtin::<super::retail::RetailSettings>(add);
    #[cfg(feature = "talent")]
    builtin::<super::talent::TalentSettings>(add);
    #[cfg(feature = "gravity")]
    builtin::<super::gravity::GravitySettings>(add);
    #[cfg(feature = "webhook")]
    builtin::<super::webhook::WebhookSettings>(add);
    #[cfg(feature = "kafka")]
    builtin::<super::kafka::KafkaSettings>(add);
    let _ = add;
}
