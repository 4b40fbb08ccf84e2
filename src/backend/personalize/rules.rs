//! What Personalize accepts, checked at the call: which operation an event goes to, the
//! settings that operation needs, and AWS's length limits on every field it sends.

use super::client::Personalize;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, Interaction, ProfileOp};

/// Which operation an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Op {
    Events,
    ActionInteractions,
    Users,
    Items,
    Actions,
}

impl Op {
    pub(super) fn path(self) -> &'static str {
        match self {
            Op::Events => "/events",
            Op::ActionInteractions => "/action-interactions",
            Op::Users => "/users",
            Op::Items => "/items",
            Op::Actions => "/actions",
        }
    }

    /// The longest `properties` JSON the operation takes.
    pub(super) fn max_properties(self) -> usize {
        match self {
            Op::Events | Op::ActionInteractions => 1024,
            Op::Users => 24_000,
            Op::Items | Op::Actions => 32_000,
        }
    }
}

fn check_len(field: &str, v: &str, max: usize) -> Result<()> {
    if v.is_empty() || v.len() > max {
        return Err(Error::invalid(
            field,
            format!("Personalize takes 1 to {max} characters, got {}", v.len()),
        ));
    }
    Ok(())
}

impl Personalize {
    pub(super) fn op(&self, e: &Event) -> Result<Op> {
        Ok(match &e.kind {
            EventKind::Track { .. } if e.interaction.as_ref().is_some_and(|i| i.action_id.is_some()) => {
                Op::ActionInteractions
            }
            EventKind::Track { .. } => Op::Events,
            EventKind::Profile(ProfileOp::Set) => Op::Users,
            EventKind::Item { item_type, .. } if *item_type == self.action_item_type => Op::Actions,
            EventKind::Item { .. } => Op::Items,
            kind => {
                return Err(Error::Unsupported {
                    backend: "personalize",
                    what: format!("{kind} (Personalize carries track, user_set and item_set)"),
                })
            }
        })
    }

    /// The session an event is grouped by: its own, else its anonymous id.
    pub(super) fn session_id(e: &Event) -> Option<&str> {
        e.identity
            .session_id
            .as_deref()
            .or(e.identity.anonymous_id.as_deref())
    }

    /// Whether Personalize takes `e`: the operation's setting is there, every field fits.
    pub(super) fn check_event(&self, e: &Event) -> Result<()> {
        let op = self.op(e)?;
        let need = |what: &Option<String>, setting: &str| {
            what.as_ref().map(drop).ok_or_else(|| {
                Error::Config(format!(
                    "personalize: {} needs `{setting}` on the backend",
                    e.kind
                ))
            })
        };
        match op {
            Op::Events | Op::ActionInteractions => {
                need(&self.tracking_id, "tracking_id")?;
                self.check_track(e)?;
            }
            Op::Users => {
                need(&self.users_arn, "users_dataset_arn")?;
                let u = e.identity.user_id.as_deref().ok_or_else(|| {
                    Error::invalid(
                        "identity.user_id",
                        "Personalize user_set (PutUsers) needs a user_id",
                    )
                })?;
                check_len("identity.user_id", u, 256)?;
            }
            Op::Items | Op::Actions => {
                if op == Op::Items {
                    need(&self.items_arn, "items_dataset_arn")?;
                } else {
                    need(&self.actions_arn, "actions_dataset_arn")?;
                }
                if let EventKind::Item { item_id, .. } = &e.kind {
                    check_len("item_id", item_id, 256)?;
                }
            }
        }
        self.check_properties(e, op)
    }

    /// A track event's ids and name, and its interaction.
    fn check_track(&self, e: &Event) -> Result<()> {
        let session = Self::session_id(e).ok_or_else(|| {
            Error::invalid(
                "identity.session_id",
                "Personalize needs a session_id (or an anonymous_id to use as one)",
            )
        })?;
        check_len("identity.session_id", session, 256)?;
        if let Some(u) = &e.identity.user_id {
            check_len("identity.user_id", u, 256)?;
        }
        check_len("event name (eventType)", e.name().unwrap_or_default(), 256)?;
        if self.event_id_from_insert_id {
            check_len("insert_id (eventId)", &e.insert_id.to_string(), 256)?;
        }
        match e.interaction.as_deref() {
            Some(i) => check_interaction(i),
            None => Ok(()),
        }
    }

    /// The `properties` JSON fits the operation's limit.
    fn check_properties(&self, e: &Event, op: Op) -> Result<()> {
        match self.properties_json(&e.properties)? {
            Some(p) if p.len() > op.max_properties() => Err(Error::invalid(
                "properties",
                format!(
                    "Personalize takes at most {} characters of properties JSON here, got {}",
                    op.max_properties(),
                    p.len()
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// An interaction block: recommendation, impressions, one item, action, attribution.
fn check_interaction(i: &Interaction) -> Result<()> {
    if let Some(r) = &i.recommendation_id {
        check_len("interaction.recommendation_id", r, 40)?;
    }
    if i.impressions.len() > 25 {
        return Err(Error::invalid(
            "interaction.impressions",
            format!("Personalize takes at most 25, got {}", i.impressions.len()),
        ));
    }
    for (n, id) in i.impressions.iter().enumerate() {
        check_len(&format!("interaction.impressions[{n}]"), id, 256)?;
    }
    if i.items.len() > 1 {
        // PutEvents has one itemId per event; sending the first alone would drop the rest
        // without a word.
        return Err(Error::invalid(
            "interaction.items",
            format!(
                "Personalize takes one item per event, got {}: track one event per item, as AWS records multi-item interactions",
                i.items.len()
            ),
        ));
    }
    if let Some(item) = i.items.first() {
        check_len("interaction.items[0].id", &item.id, 256)?;
    }
    if let Some(a) = &i.action_id {
        check_len("interaction.action_id", a, 256)?;
    }
    match &i.attribution_source {
        Some(s) if !attribution_ok(s) => Err(Error::invalid(
            "interaction.attribution_source",
            "Personalize takes printable ASCII with a non-space, at most 1024 characters",
        )),
        _ => Ok(()),
    }
}

fn attribution_ok(s: &str) -> bool {
    s.len() <= 1024 && s.bytes().all(|b| (0x20..=0x7e).contains(&b)) && s.bytes().any(|b| b != b' ')
}
