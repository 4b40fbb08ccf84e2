//! Every neutral field through the high-level calls: time, insert id, interaction (options),
//! session and user key (identity), for track, user_* and item_set alike.

use std::time::{Duration, SystemTime};

use trackflow::{
    Error, EventKind, EventOptions, Identity, ImmediateConsumer, Interaction, InteractionItem, MemoryBackend,
    ProfileOp, Tracker, Value,
};

fn tracker() -> (Tracker, MemoryBackend) {
    let memory = MemoryBackend::new();
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(memory.clone()))
        .build()
        .unwrap();
    (t, memory)
}

#[test]
fn every_call_carries_the_options_and_the_identity() {
    let (t, memory) = tracker();
    let who = Identity::anonymous("d1")
        .with_user("u1")
        .with_user_key("phone")
        .with_session("s-1");
    let interaction = Interaction::new()
        .item(InteractionItem::new("sku-1").quantity(2).price(4.5))
        .recommendation_id("rec-7");
    let w = t.with(
        EventOptions::new()
            .at(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123))
            .insert_id("fixed-id")
            .interaction(interaction.clone()),
    );
    w.track(&who, "purchase", [("coupon", "X1")]).unwrap();
    w.user_set(&who, [("plan", "pro")]).unwrap();
    w.user_set_once(&who, [("first", "web")]).unwrap();
    w.user_increment(&who, [("orders", 1)]).unwrap();
    w.user_max(&who, [("best", 3)]).unwrap();
    w.user_min(&who, [("fastest", 2)]).unwrap();
    w.user_append(&who, [("tags", vec!["a"])]).unwrap();
    w.user_uniq_append(&who, [("tags", vec!["a"])]).unwrap();
    w.user_unset(&who, ["coupon", "trial"]).unwrap();
    w.user_delete(&who).unwrap();
    w.item_set("book", "b-1", [("title", "Rust")]).unwrap();

    let events = memory.events();
    assert_eq!(events.len(), 11);
    for e in &events {
        assert_eq!((e.time, e.time_given), (1_700_000_000_123, true), "{:?}", e.kind);
        assert_eq!(e.insert_id.to_string(), "fixed-id");
        assert_eq!(e.interaction.as_deref(), Some(&interaction));
    }
    for e in &events[..10] {
        assert_eq!(e.identity, who);
    }
    let unset = &events[8];
    assert_eq!(unset.kind, EventKind::Profile(ProfileOp::Unset));
    assert_eq!(unset.properties.get("coupon"), Some(&Value::Null));
    assert_eq!(unset.properties.len(), 2);
    assert!(events[10].identity.is_empty());
}

#[test]
fn without_options_the_tracker_fills_time_and_id() {
    let (t, memory) = tracker();
    t.with(EventOptions::new())
        .track(&Identity::user("u1"), "open", [("k", 1)])
        .unwrap();
    t.track(&Identity::user("u1"), "open", [("k", 1)]).unwrap();
    let events = memory.events();
    for e in &events {
        assert!(!e.time_given && e.time > 1_600_000_000_000);
        assert!(e.interaction.is_none());
    }
    assert_ne!(events[0].insert_id, events[1].insert_id);
}

#[test]
fn a_time_before_1970_is_refused_naming_the_field() {
    let (t, memory) = tracker();
    let before = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
    let err = t
        .with(EventOptions::new().at(before))
        .track(&Identity::user("u1"), "open", [("k", 1)])
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, rule } if field == "time" && rule.contains("1970")),
        "{err}"
    );
    assert!(memory.events().is_empty());
}
