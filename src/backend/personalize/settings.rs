//! The settings a config gives Personalize (`kind = "personalize"`).

use serde::Serialize;

use super::builder::PersonalizeBuilder;
use super::client::Personalize;
use crate::backend::Backend;
use crate::error::{Error, Result};

/// Personalize's config settings (`kind = "personalize"`). Credentials come from the AWS
/// chain (environment, then `~/.aws/credentials`), never from the config.
///
/// # Examples
///
/// ```
/// let cfg = trackflow::config::BackendConfig::personalize()
///     .set("region", "eu-west-1")
///     .set("tracking_id", "tracking-1");
/// assert_eq!(cfg.kind(), "personalize");
/// ```
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PersonalizeSettings {
    /// The region. Defaults to the AWS chain.
    pub region: Option<String>,
    /// Another endpoint. Defaults to `https://personalize-events.{region}.amazonaws.com`.
    pub endpoint: Option<String>,
    /// The event tracker, for track events.
    pub tracking_id: Option<String>,
    /// The users dataset, for `user_set`.
    pub users_dataset_arn: Option<String>,
    /// The items dataset, for `item_set`.
    pub items_dataset_arn: Option<String>,
    /// The actions dataset, for `item_set` of the action type.
    pub actions_dataset_arn: Option<String>,
    /// The item type that means an action. Defaults to `action`.
    pub action_item_type: Option<String>,
}

/// Applies one optional setting to the builder.
pub(super) type Setter = fn(PersonalizeBuilder, String) -> PersonalizeBuilder;

impl crate::backend::kind::BackendSettings for PersonalizeSettings {
    const KIND: &'static str = "personalize";

    fn build(self, ctx: &crate::backend::kind::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        let mut b = Personalize::builder().transport(ctx.http()?);
        let fields: [(Option<String>, Setter); 7] = [
            (self.region, |b, v| b.region(v)),
            (self.endpoint, |b, v| b.endpoint(v)),
            (self.tracking_id, |b, v| b.tracking_id(v)),
            (self.users_dataset_arn, |b, v| b.users_dataset_arn(v)),
            (self.items_dataset_arn, |b, v| b.items_dataset_arn(v)),
            (self.actions_dataset_arn, |b, v| b.actions_dataset_arn(v)),
            (self.action_item_type, |b, v| b.action_item_type(v)),
        ];
        for (value, set) in fields {
            if let Some(v) = value {
                b = set(b, v);
            }
        }
        Ok(Box::new(b.build()?))
    }

    fn check(&self, label: &str, route: &crate::Route) -> Result<()> {
        if self.tracking_id.is_none() && route.admits_track() {
            return Err(Error::Config(format!(
                "backend `{label}` (personalize): tracking_id is required for track events; set it, \
                 or route only user and item events there (route = {{ kinds = [\"user\", \"item_set\"] }})"
            )));
        }
        Ok(())
    }
}
