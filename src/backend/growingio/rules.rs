//! What GrowingIO accepts: track with an anonymous id or a user, user attributes of a
//! logged-in user, and items.

use crate::error::{Error, Result};
use crate::event::{Event, EventKind, ProfileOp};

/// Whether GrowingIO can carry `event`, checked at the call.
pub(super) fn check(event: &Event) -> Result<()> {
    match &event.kind {
        EventKind::Track { .. } => event.identity.require_anonymous_or_user("GrowingIO"),
        EventKind::Item { .. } => Ok(()),
        EventKind::Profile(ProfileOp::Set) if event.identity.user_id.is_none() => Err(Error::invalid(
            "identity.user_id",
            "GrowingIO user_set (login user attributes) needs a user_id",
        )),
        EventKind::Profile(ProfileOp::Set) => Ok(()),
        kind => Err(Error::Unsupported {
            backend: "growingio",
            what: format!("{kind} (GrowingIO carries track, user_set and item_set)"),
        }),
    }
}
