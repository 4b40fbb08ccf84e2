//! Retail's rules for a UserEvent (`user_event.py` L36-300), checked at the call: the event
//! type, a visitor, what each type needs, and the limits on text and attributes.

use super::wire::{attribute_values, visitor_id};
use super::EVENT_TYPES;
use crate::error::{Error, Result};
use crate::event::{Event, Interaction};
use crate::value::Properties;

/// Retail's limits count characters of UTF-8 text, not bytes.
fn too_long(field: &str, v: &str, max: usize) -> Result<()> {
    // Bytes bound characters from above: most values need no count.
    if v.len() > max && v.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("Retail takes at most {max} characters, got {}", v.chars().count()),
        ));
    }
    Ok(())
}

/// Whether Retail takes `e` as a UserEvent.
pub(super) fn check_user_event(e: &Event) -> Result<()> {
    let ty = event_type(e)?;
    let visitor =
        visitor_id(e).ok_or_else(|| Error::invalid("identity", "Retail needs a visitor (anonymous) id"))?;
    too_long("identity.anonymous_id (visitorId)", visitor, 128)?;
    if let Some(s) = &e.identity.session_id {
        too_long("identity.session_id", s, 128)?;
    }
    let i = e.interaction.as_deref();
    check_needs(ty, i)?;
    if let Some(i) = i {
        for (f, v, max) in [
            ("interaction.search_query", &i.search_query, 5000),
            ("interaction.filter", &i.filter, 1000),
            ("interaction.order_by", &i.order_by, 1000),
            ("interaction.page_uri", &i.page_uri, 5000),
            ("interaction.referrer_uri", &i.referrer_uri, 5000),
        ] {
            if let Some(v) = v {
                too_long(f, v, max)?;
            }
        }
    }
    check_attributes(&e.properties)
}

/// The event's name, which must be one of Retail's event types.
fn event_type(e: &Event) -> Result<&str> {
    let Some(ty) = e.name() else {
        return Err(Error::Unsupported {
            backend: "retail",
            what: format!(
                "{} (Retail carries track events, named by their eventType)",
                e.kind
            ),
        });
    };
    if !EVENT_TYPES.contains(&ty) {
        return Err(Error::invalid(
            "event name",
            format!("Retail event types are {}", EVENT_TYPES.join(", ")),
        ));
    }
    Ok(ty)
}

/// What an event type needs from the interaction block: products, revenue, a query.
fn check_needs(ty: &str, i: Option<&Interaction>) -> Result<()> {
    let items = i.map_or(0, |i| i.items.len());
    if matches!(ty, "add-to-cart" | "detail-page-view" | "purchase-complete") && items == 0 {
        return Err(Error::invalid(
            "interaction.items",
            format!("Retail `{ty}` needs at least one product"),
        ));
    }
    if ty == "purchase-complete" && !i.is_some_and(|i| i.value.is_some() && i.currency.is_some()) {
        return Err(Error::invalid(
            "interaction.value",
            "Retail `purchase-complete` needs the revenue (value) and its currency",
        ));
    }
    if ty == "search" && !i.is_some_and(|i| i.search_query.is_some() || !i.page_categories.is_empty()) {
        return Err(Error::invalid(
            "interaction.search_query",
            "Retail `search` needs a search query or page categories",
        ));
    }
    Ok(())
}

/// Every property is a custom attribute: text or numbers, at most 400 values.
fn check_attributes(properties: &Properties) -> Result<()> {
    for (k, v) in properties.iter() {
        too_long(&format!("properties.{k} (key)"), k, 5000)?;
        let (texts, numbers) = attribute_values(v).ok_or_else(|| {
            Error::invalid(
                format!("properties.{k}"),
                "Retail attributes are text or numbers, not both or nested",
            )
        })?;
        if texts.len() > 400 || numbers.len() > 400 {
            return Err(Error::invalid(
                format!("properties.{k}"),
                "Retail takes at most 400 values per attribute",
            ));
        }
        for t in &texts {
            too_long(&format!("properties.{k}"), t, 256)?;
        }
    }
    Ok(())
}
