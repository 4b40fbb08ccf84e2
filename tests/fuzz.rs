//! Property-based fuzzing of the inputs trackflow parses or validates: the JSON-lines event
//! parser, the TOML config parser, and property validation with every backend's encoding.
//! Nothing may panic; valid events round-trip.
//!
//! CI runs the default 256 cases per property. Longer runs:
//! `PROPTEST_CASES=100000 cargo test --release --all-features --test fuzz`.

use proptest::prelude::*;
use trackflow::{
    validate::Limits, Config, Event, EventKind, GrowingIo, Identity, Interaction, InteractionItem, ProfileOp,
    Properties, Value,
};

fn value(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        ".{0,20}".prop_map(Value::from),
        any::<i64>().prop_map(|t| Value::Time(t / 1000)),
    ];
    leaf.prop_recursive(depth, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            prop::collection::vec((".{0,8}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Properties>())),
        ]
    })
}

fn properties() -> impl Strategy<Value = Properties> {
    prop::collection::vec(("[a-zA-Z_#$][a-zA-Z0-9_ .-]{0,12}", value(3)), 0..8)
        .prop_map(|kv| kv.into_iter().collect())
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        ".{0,16}".prop_map(|name| EventKind::Track { name: name.into() }),
        prop::sample::select(ProfileOp::ALL.to_vec()).prop_map(EventKind::Profile),
        (".{0,8}", ".{0,8}").prop_map(|(item_type, item_id)| EventKind::Item { item_type, item_id }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (
        kind(),
        any::<i64>(),
        proptest::option::of(".{1,10}"),
        proptest::option::of(".{1,10}"),
        properties(),
        any::<bool>(),
    )
        .prop_map(|(kind, time, anon, user, props, interaction)| {
            let mut identity = Identity::default();
            identity.anonymous_id = anon.map(Into::into);
            identity.user_id = user.map(Into::into);
            let mut e = Event::new(kind)
                .with_time(time / 1000)
                .with_insert_id("id-1")
                .with_identity(identity)
                .with_properties(props);
            if interaction {
                e = e.with_interaction(
                    Interaction::new()
                        .item(InteractionItem::new("sku").quantity(1).price(1.5))
                        .value(2.0),
                );
            }
            e
        })
}

proptest! {
    /// Arbitrary text never panics the event parser.
    #[test]
    fn event_parser_never_panics(line in ".{0,200}") {
        let _ = trackflow::codec::exact::from_str::<Event>(&line);
        let _ = trackflow::codec::exact::from_str::<trackflow::Value>(&line);
    }

    /// JSON-ish text (escapes, multibyte characters, numbers, nesting) never panics the exact
    /// reader, and what it reads back it writes again unchanged.
    #[test]
    fn exact_reader_never_panics_on_json_like_text(
        parts in prop::collection::vec(prop::sample::select(vec![
            "\\", "\"", "u", "d800", "00e9", "{", "}", "[", "]", ":", ",", "1", "0", "e", "E", "-", "+", ".",
            "é", "𛭢", "null", "true", " ", "\n", "a",
        ]), 0..40),
    ) {
        let text: String = parts.concat();
        if let Ok(v) = trackflow::codec::exact::from_str::<trackflow::Value>(&text) {
            let again = serde_json::to_string(&v).unwrap();
            let back: trackflow::Value = trackflow::codec::exact::from_str(&again).unwrap();
            prop_assert_eq!(back, v);
        }
    }

    /// Text that looks like an event (JSON objects with the right keys, wrong values) never
    /// panics it either.
    #[test]
    fn event_parser_never_panics_on_near_events(
        ty in prop::sample::select(vec!["track", "profile", "item", "other"]),
        key in prop::sample::select(vec!["event", "op", "item_type", "time", "properties", "interaction", "user_id"]),
        v in prop::sample::select(vec!["1", "\"x\"", "null", "[]", "{}", "{\"$time\":\"x\"}", "1e400", "-0", "true"]),
    ) {
        let line = format!(r#"{{"type":"{ty}","{key}":{v}}}"#);
        let _ = trackflow::codec::exact::from_str::<Event>(&line);
    }

    /// Every event, valid or not, survives its JSON-lines form unchanged: floats to the bit,
    /// keys in order (read as trackflow reads spool and JSON-lines files).
    #[test]
    fn events_round_trip(e in event()) {
        let text = serde_json::to_string(&e).unwrap();
        let back: Event = trackflow::codec::exact::from_str(&text).unwrap();
        prop_assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }

    /// Arbitrary text never panics the config parser.
    #[test]
    fn config_parser_never_panics(text in "(\\[[a-z_]{1,10}\\]\n)?([a-z_]{1,12} = (\"[^\"\n]{0,12}\"|[0-9]{1,4}|true|\\[\\]|\\{\\})\n){0,6}") {
        let _ = Config::from_toml_str(&text);
    }

    /// Validation never panics, and what it accepts every backend can encode.
    #[test]
    fn validation_never_panics_and_accepted_events_encode(e in event()) {
        let limits = Limits::default();
        let _ = Limits::strict().check(&e);
        if limits.check(&e).is_ok() {
            let gio = GrowingIo::builder("http://127.0.0.1:9", "p", "d").build().unwrap();
            if trackflow::Backend::check(&gio, &e).is_ok() {
                let mut out = Vec::new();
                prop_assert!(gio.encode_events(std::slice::from_ref(&e), 1, &mut out).is_ok());
            }
            let mut line = Vec::new();
            prop_assert!(serde_json::to_writer(&mut line, &e).is_ok());
        }
    }
}

proptest! {
    // Public helpers take any input without panicking.
    #[test]
    fn json_writer_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64), ascii in any::<bool>()) {
        let mut out = Vec::new();
        trackflow::codec::json::write_utf8_content(&mut out, &bytes, ascii);
    }

    #[test]
    fn amz_date_takes_any_time(ms in any::<i64>()) {
        let _ = trackflow::auth::sigv4::amz_date(ms);
    }

    #[test]
    fn retry_after_takes_any_text(v in ".{0,80}") {
        let _ = trackflow::transport::parse_retry_after(&v);
    }
}
