//! What Gravity accepts, checked at the call: no items, an identity for the `client_id`, and
//! property names by the anchored rule the SDK meant.

use super::PRESET_KEYS;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::value::Value;

/// Whether Gravity takes `event`.
pub(super) fn check(event: &Event) -> Result<()> {
    if let EventKind::Item { .. } = event.kind {
        return Err(Error::Unsupported {
            backend: "gravity",
            what: "item_set (Gravity carries track and the user_* operations)".into(),
        });
    }
    // Its client_id is one of them.
    event.identity.require_anonymous_or_user("Gravity")?;
    for (k, v) in event.properties.iter() {
        if k.starts_with('#') {
            if !PRESET_KEYS.contains(&k) {
                return Err(Error::invalid(
                    format!("properties.{k}"),
                    format!("the only `#` keys Gravity takes are {}", PRESET_KEYS.join(", ")),
                ));
            }
            if !matches!(v, Value::String(_) | Value::Time(_) | Value::Int(_)) {
                return Err(Error::invalid(
                    format!("properties.{k}"),
                    "a preset key takes text or a time",
                ));
            }
        } else if !valid_name(k) {
            return Err(Error::invalid(
                format!("properties.{k}"),
                "Gravity property names are `$`? then a letter then up to 49 letters, digits or \
                 underscores, or `__` then a letter then up to 50 (case-insensitive)",
            ));
        }
    }
    Ok(())
}

/// The anchored rule the SDK's regex meant:
/// `^\$?[a-z][a-z0-9_]{0,49}$` or `^__[a-z][a-z0-9_]{0,50}$`, case-insensitive.
pub(super) fn valid_name(k: &str) -> bool {
    let (rest, max_tail) = if let Some(r) = k.strip_prefix("__") {
        (r, 50)
    } else {
        (k.strip_prefix('$').unwrap_or(k), 49)
    };
    let mut chars = rest.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && rest.len() <= 1 + max_tail
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_anchored_rule() {
        for ok in [
            "abc",
            "Abc",
            "$abc",
            "__abc",
            "a1_",
            &"a".repeat(50),
            &format!("__{}", "a".repeat(51)),
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "_abc",
            "1abc",
            "$",
            "$1",
            "#foo",
            "中文",
            "",
            "a-b c!",
            "a中文",
            &"a".repeat(51),
            "__1",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
