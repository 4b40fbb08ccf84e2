//! The wire shape: the neutral event as a UserEvent, fields in proto field-number order (what
//! the client library writes).

use serde_json::{json, Map, Value as Json};

use super::client::Retail;
use crate::clock::format_rfc3339_ms;
use crate::event::{Event, Interaction};
use crate::value::{Properties, Value};

impl Retail {
    /// The UserEvent JSON of `e` (proto3 JSON names, field-number order, defaults left out).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, Identity};
    /// let r = trackflow::backend::retail::Retail::builder("projects/1/locations/global/catalogs/c").build()?;
    /// let e = Event::track("home-page-view").with_identity(Identity::anonymous("v1")).with_time(1_700_000_000_500);
    /// assert_eq!(r.user_event(&e)["visitorId"], "v1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn user_event(&self, e: &Event) -> Json {
        user_event(e)
    }
}

/// The visitor: the anonymous id, else the user id.
pub(super) fn visitor_id(e: &Event) -> Option<&str> {
    e.identity
        .anonymous_id
        .as_deref()
        .or(e.identity.user_id.as_deref())
}

/// An attribute as (texts, numbers); `None` when it mixes both or nests.
pub(super) fn attribute_values(v: &Value) -> Option<(Vec<String>, Vec<f64>)> {
    let mut texts = Vec::new();
    let mut numbers = Vec::new();
    let one = |v: &Value, texts: &mut Vec<String>, numbers: &mut Vec<f64>| -> Option<()> {
        match v {
            Value::String(s) => texts.push(s.to_string()),
            Value::Bool(b) => texts.push(b.to_string()),
            Value::Time(t) => texts.push(format_rfc3339_ms(*t)),
            Value::Int(i) => numbers.push(*i as f64),
            Value::Float(f) => numbers.push(*f),
            Value::Null => {}
            Value::List(_) | Value::Object(_) => return None,
        }
        Some(())
    };
    match v {
        Value::List(l) => {
            for x in l {
                one(x, &mut texts, &mut numbers)?;
            }
        }
        v => one(v, &mut texts, &mut numbers)?,
    }
    (texts.is_empty() || numbers.is_empty()).then_some((texts, numbers))
}

/// Inserts `v` under `k` when there is one.
fn put(m: &mut Map<String, Json>, k: &str, v: Option<Json>) {
    if let Some(v) = v {
        m.insert(k.to_owned(), v);
    }
}

/// An optional text field of the interaction block.
fn text(i: Option<&Interaction>, f: impl Fn(&Interaction) -> &Option<String>) -> Option<Json> {
    i.and_then(|i| f(i).clone()).map(Json::from)
}

/// The UserEvent of `e`.
pub(super) fn user_event(e: &Event) -> Json {
    let mut m = Map::new();
    let i = e.interaction.as_deref();
    put(&mut m, "eventType", e.name().map(Json::from));
    put(&mut m, "visitorId", visitor_id(e).map(Json::from));
    put(&mut m, "eventTime", Some(format_rfc3339_ms(e.time).into()));
    put(
        &mut m,
        "experimentIds",
        i.filter(|i| !i.experiment_ids.is_empty())
            .map(|i| json!(i.experiment_ids)),
    );
    put(&mut m, "attributionToken", text(i, |i| &i.recommendation_id));
    put(&mut m, "productDetails", i.and_then(product_details));
    put(&mut m, "attributes", attributes(&e.properties));
    put(&mut m, "cartId", text(i, |i| &i.cart_id));
    let purchase = i.filter(|_| e.name() == Some("purchase-complete"));
    put(&mut m, "purchaseTransaction", purchase.map(purchase_transaction));
    put(&mut m, "searchQuery", text(i, |i| &i.search_query));
    put(
        &mut m,
        "pageCategories",
        i.filter(|i| !i.page_categories.is_empty())
            .map(|i| json!(i.page_categories)),
    );
    put(&mut m, "userInfo", user_info(e, i));
    put(&mut m, "uri", text(i, |i| &i.page_uri));
    put(&mut m, "referrerUri", text(i, |i| &i.referrer_uri));
    put(&mut m, "pageViewId", text(i, |i| &i.page_view_id));
    put(&mut m, "filter", text(i, |i| &i.filter));
    put(&mut m, "orderBy", text(i, |i| &i.order_by));
    put(&mut m, "offset", i.and_then(|i| i.offset).map(Json::from));
    put(
        &mut m,
        "sessionId",
        e.identity.session_id.as_deref().map(Json::from),
    );
    put(&mut m, "entity", text(i, |i| &i.entity));
    Json::Object(m)
}

/// `productDetails`: each item with its price (in the interaction's currency) and quantity.
fn product_details(i: &Interaction) -> Option<Json> {
    if i.items.is_empty() {
        return None;
    }
    let details: Vec<Json> = i
        .items
        .iter()
        .map(|it| {
            let mut product = json!({ "id": it.id });
            if let Some(price) = it.price {
                let mut info = Map::new();
                if let Some(c) = &i.currency {
                    info.insert("currencyCode".into(), c.clone().into());
                }
                info.insert("price".into(), price.into());
                product["priceInfo"] = info.into();
            }
            let mut d = json!({ "product": product });
            if let Some(q) = it.quantity {
                d["quantity"] = q.into();
            }
            d
        })
        .collect();
    Some(details.into())
}

/// `attributes`: every property as `text` or `numbers`.
fn attributes(properties: &Properties) -> Option<Json> {
    if properties.is_empty() {
        return None;
    }
    let attrs: Map<String, Json> = properties
        .iter()
        .filter_map(|(k, v)| {
            let (texts, numbers) = attribute_values(v)?;
            let a = if numbers.is_empty() {
                json!({ "text": texts })
            } else {
                json!({ "numbers": numbers })
            };
            Some((k.to_owned(), a))
        })
        .collect();
    Some(attrs.into())
}

/// `purchaseTransaction`: id, revenue, tax, cost and currency.
fn purchase_transaction(i: &Interaction) -> Json {
    let mut t = Map::new();
    if let Some(id) = &i.transaction_id {
        t.insert("id".into(), id.clone().into());
    }
    for (k, v) in [("revenue", i.value), ("tax", i.tax), ("cost", i.cost)] {
        if let Some(v) = v {
            t.insert(k.into(), v.into());
        }
    }
    if let Some(c) = &i.currency {
        t.insert("currencyCode".into(), c.clone().into());
    }
    t.into()
}

/// `userInfo`: the user id, and the request's address, agent and directness.
fn user_info(e: &Event, i: Option<&Interaction>) -> Option<Json> {
    let mut user = Map::new();
    if let Some(u) = &e.identity.user_id {
        user.insert("userId".into(), u.as_ref().into());
    }
    if let Some(i) = i {
        if let Some(ip) = &i.ip_address {
            user.insert("ipAddress".into(), ip.clone().into());
        }
        if let Some(ua) = &i.user_agent {
            user.insert("userAgent".into(), ua.clone().into());
        }
        if let Some(d) = i.direct_user_request {
            user.insert("directUserRequest".into(), d.into());
        }
    }
    (!user.is_empty()).then(|| user.into())
}
