//! What Talent accepts, checked at the call: a job event type of the API version, at least
//! one job, and what each version carries besides (v4: `eventNotes`; v3: `extraInfo`).

use super::client::{Talent, TalentVersion};
use super::wire::text;
use super::{EVENT_NOTES, JOB_EVENT_TYPES};
use crate::error::{Error, Result};
use crate::event::Event;

/// Whether Talent takes `e` as a client event.
pub(super) fn check(t: &Talent, e: &Event) -> Result<()> {
    if e.name().is_none() {
        return Err(Error::Unsupported {
            backend: "talent",
            what: format!(
                "{} (Talent carries track events named by their job event type)",
                e.kind
            ),
        });
    }
    if t.event_type(e).is_none() {
        let names = if t.version == TalentVersion::V3 {
            &JOB_EVENT_TYPES[1..]
        } else {
            &JOB_EVENT_TYPES[1..16]
        };
        return Err(Error::invalid(
            "event name",
            format!("Talent {:?} job event types are {}", t.version, names.join(", ")),
        ));
    }
    // No requestId is allowed: the API calls it "strongly recommended", not required.
    if e.interaction.as_deref().is_none_or(|i| i.items.is_empty()) {
        return Err(Error::invalid(
            "interaction.items",
            "Talent job events need at least one job",
        ));
    }
    match t.version {
        TalentVersion::V4 => check_v4(e),
        TalentVersion::V3 => check_v3(e),
    }
}

/// v4 has no parent event, and carries no property but the event notes.
fn check_v4(e: &Event) -> Result<()> {
    if e.interaction
        .as_deref()
        .is_some_and(|i| i.parent_event_id.is_some())
    {
        return Err(Error::Unsupported {
            backend: "talent",
            what: "parentEventId (v4 has none; use TalentVersion::V3)".into(),
        });
    }
    if let Some((k, _)) = e.properties.iter().find(|(k, _)| *k != EVENT_NOTES) {
        return Err(Error::Unsupported {
            backend: "talent",
            what: format!(
                "property `{k}` (v4 carries only `{EVENT_NOTES}`; use TalentVersion::V3 for extraInfo)"
            ),
        });
    }
    Ok(())
}

/// v3's `extraInfo`: at most 20 keys and 2 KB of keys and values.
fn check_v3(e: &Event) -> Result<()> {
    if e.properties.len() > 20 {
        return Err(Error::invalid(
            "properties",
            format!(
                "Talent extraInfo takes at most 20 keys, got {}",
                e.properties.len()
            ),
        ));
    }
    let size: usize = e.properties.iter().map(|(k, v)| k.len() + text(v).len()).sum();
    if size > 2048 {
        return Err(Error::invalid(
            "properties",
            format!("Talent extraInfo takes at most 2 KB of keys and values, got {size} bytes"),
        ));
    }
    Ok(())
}
