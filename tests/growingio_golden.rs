//! Every GrowingIO JSON golden request (../shared/golden/growingio/json_*, quirk_*), reproduced
//! through trackflow over real HTTP and compared with what the official SDK sent.

mod support;

use std::time::Duration;

use support::{gio, golden, golden_headers, protocol_headers, Captured, Collector};
use trackflow::backend::growingio::GrowingIoCodec;
use trackflow::{
    clock::FixedClock, BackgroundConsumer, BufferedConsumer, DebugConsumer, Event, GrowingIo, Identity,
    ImmediateConsumer, ProfileOp, Properties, Tracker, Value,
};

const NOW: i64 = 1_700_000_000_500;
const T0: i64 = 1_699_999_999_123;
const P: &str = "bcc3b6e0b6d7a1b2";
const DS: &str = "a5f1c2d3e4b5a6c7";

fn gio_with(host: &str, codec: GrowingIoCodec) -> GrowingIo {
    GrowingIo::builder(host, P, DS)
        .clock(FixedClock(NOW))
        .codec(codec)
        .build()
        .unwrap()
}

fn gio(host: &str) -> GrowingIo {
    gio_with(host, GrowingIoCodec::Json)
}

fn immediate_with(c: &Collector, codec: GrowingIoCodec) -> Tracker {
    let consumer = ImmediateConsumer::new(gio_with(&c.url(), codec));
    Tracker::builder()
        .consumer(consumer)
        .clock(FixedClock(NOW))
        .build()
        .unwrap()
}

fn immediate(c: &Collector) -> Tracker {
    immediate_with(c, GrowingIoCodec::Json)
}

/// The attributes of the SDK's full custom-event cases.
fn full_attributes() -> Properties {
    Properties::new()
        .with("product", "book")
        .with(
            "tags",
            vec![
                Value::from("red"),
                Value::from(""),
                Value::Null,
                Value::from("blue"),
                Value::Int(3),
            ],
        )
        .with("price", 9.9)
        .with("qty", 2)
        .with("vip", true)
        .with("cn", "中文")
}

fn device(id: &str) -> Identity {
    Identity::anonymous(id)
}

/// Asserts `got` is the golden request: method, path, query, the protocol headers, and the
/// body decoded as the capture's steps say: for JSON and Snappy the JSON text byte for byte,
/// for protobuf the decoded message. `patch` adjusts the expected decoded body where we
/// deliberately differ from the SDK.
fn assert_matches_with(got: &Captured, case: &str, patch: impl FnOnce(&mut serde_json::Value)) {
    let g = golden("growingio", case);
    let r = &g["request"];
    assert_eq!(got.method, r["method"], "{case}: method");
    assert_eq!(got.path, r["path"], "{case}: path");
    assert_eq!(got.query, r["query_string"], "{case}: query");
    let want_headers = protocol_headers(golden_headers(r));
    let got_headers = protocol_headers(got.header_pairs());
    assert_eq!(got_headers, want_headers, "{case}: protocol headers");
    let decoded = &r["decoded"];
    if let Some(pb) = decoded.get("protobuf_schema") {
        let items = pb["message_type"] == "growingio_tracker_protobuf.ItemDtoList";
        let mut want = pb["json"].clone();
        patch(&mut want);
        assert_eq!(gio::protobuf_json(got, items), want, "{case}: decoded protobuf");
    } else {
        let text = gio::plain_json_text(got);
        let want_text = decoded
            .get("plain_text")
            .or(r.get("body_text"))
            .and_then(|t| t.as_str())
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            want_text,
            "{case}: JSON text"
        );
        let json: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(json, decoded["json"], "{case}: decoded JSON");
    }
}

fn assert_matches(got: &Captured, case: &str) {
    assert_matches_with(got, case, |_| {});
}

fn only_request(c: &Collector) -> Captured {
    let reqs = c.requests();
    assert_eq!(reqs.len(), 1, "expected one request, got {reqs:#?}");
    reqs.into_iter().next().unwrap()
}

#[test]
fn json_default_custom_event_full() {
    let c = Collector::ok();
    let who = device("device-001").with_user_key("email").with_user("user-001");
    let e = Event::track("purchase")
        .with_time(T0)
        .with_identity(who)
        .with_properties(full_attributes());
    immediate(&c).record(e).unwrap();
    assert_matches(&only_request(&c), "json_default_custom_event_full");
}

#[test]
fn json_default_custom_event_minimal() {
    let c = Collector::ok();
    immediate(&c)
        .track(&device("device-002"), "page_open", Properties::new())
        .unwrap();
    assert_matches(&only_request(&c), "json_default_custom_event_minimal");
}

#[test]
fn json_default_submit_item() {
    let c = Collector::ok();
    let props = Properties::new()
        .with("name", "Rust")
        .with("tags", vec!["x", "y"])
        .with("price", 42);
    immediate(&c).item_set("book", "item-001", props).unwrap();
    assert_matches(&only_request(&c), "json_default_submit_item");
}

#[test]
fn json_default_track_prebuilt_message() {
    let c = Collector::ok();
    let e = Event::track("prebuilt")
        .with_time(T0)
        .with_identity(Identity::user("user-009"))
        .with_properties([("k", vec!["1", "2"])]);
    immediate(&c).record(e).unwrap();
    assert_matches(&only_request(&c), "json_default_track_prebuilt_message");
}

#[test]
fn json_default_track_user() {
    let c = Collector::ok();
    let who = device("device-001").with_user_key("email").with_user("user-001");
    let e = Event::profile(ProfileOp::Set)
        .with_time(T0)
        .with_identity(who)
        .with_properties(
            Properties::new()
                .with("gender", "f")
                .with("hobbies", vec!["a", "b"]),
        );
    immediate(&c).record(e).unwrap();
    assert_matches(&only_request(&c), "json_default_track_user");
}

#[test]
fn json_debug_custom_event() {
    let c = Collector::ok();
    let t = Tracker::builder()
        .consumer(DebugConsumer::builder(gio(&c.url())).build())
        .build()
        .unwrap();
    let e = Event::track("dbg")
        .with_time(T0)
        .with_identity(device("device-001"))
        .with_properties([("a", vec!["1", "2"])]);
    t.record(e).unwrap();
    assert_matches(&only_request(&c), "json_debug_custom_event");
}

#[test]
fn quirk_trailing_slash_server_host() {
    let c = Collector::ok();
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(gio(&format!("{}/", c.url()))))
        .build()
        .unwrap();
    t.record(
        Event::track("slash")
            .with_time(T0)
            .with_identity(device("device-001")),
    )
    .unwrap();
    assert_matches(&only_request(&c), "quirk_trailing_slash_server_host");
}

/// The batch cases: the same requests must arrive (the SDK's Buffered consumer sends items
/// before the remaining events, ours after them; each request is identical).
fn assert_same_requests(c: &Collector, cases: &[&str]) {
    assert!(c.wait_for(cases.len(), Duration::from_secs(5)));
    let mut got = c.requests();
    assert_eq!(got.len(), cases.len(), "{got:#?}");
    for case in cases {
        let body = golden("growingio", case)["request"]["body_text"]
            .as_str()
            .unwrap()
            .to_owned();
        let i = got
            .iter()
            .position(|r| r.text() == body)
            .unwrap_or_else(|| panic!("{case}: no request with body {body}\ngot {got:#?}"));
        assert_matches(&got.remove(i), case);
    }
}

#[test]
fn json_buffered_max3_4events_then_flush() {
    let c = Collector::ok();
    let t = Tracker::builder()
        .consumer(BufferedConsumer::builder(gio(&c.url())).max_batch(3).build())
        .build()
        .unwrap();
    for i in 0..4 {
        t.record(
            Event::track(format!("buf_{i}"))
                .with_time(T0 + i)
                .with_identity(device("device-001")),
        )
        .unwrap();
    }
    assert_eq!(c.requests().len(), 1, "the third event fills the batch");
    t.item_set("book", "item-002", [("n", "1")]).unwrap();
    t.flush().unwrap();
    assert_same_requests(
        &c,
        &[
            "json_buffered_max3_4events_then_flush__req1",
            "json_buffered_max3_4events_then_flush__req2",
            "json_buffered_max3_4events_then_flush__req3",
        ],
    );
}

#[test]
fn json_async_buffered_max2_3events_1item() {
    let c = Collector::ok();
    let t = Tracker::builder()
        .consumer(
            BackgroundConsumer::builder(gio(&c.url()))
                .max_batch(2)
                .flush_interval(Duration::from_secs(1))
                .build(),
        )
        .build()
        .unwrap();
    for i in 0..3 {
        t.record(
            Event::track(format!("async_{i}"))
                .with_time(T0 + i)
                .with_identity(device("device-001")),
        )
        .unwrap();
    }
    t.item_set("book", "item-003", [("n", "2")]).unwrap();
    let report = t.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.completed);
    assert_eq!(report.stats.delivered, 4);
    assert_same_requests(
        &c,
        &[
            "json_async_buffered_max2_3events_1item__req1",
            "json_async_buffered_max2_3events_1item__req2",
            "json_async_buffered_max2_3events_1item__req3",
        ],
    );
}

#[test]
fn operations_growingio_cannot_carry_fail_at_the_call() {
    let c = Collector::ok();
    let t = immediate(&c);
    let who = Identity::user("u1");
    let err = t.user_increment(&who, [("n", 1)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported by the growingio backend: user_increment (GrowingIO carries track, user_set and item_set)"
    );
    assert!(t.user_delete(&who).is_err());
    let err = t.user_set(&Identity::anonymous("d1"), [("a", 1)]).unwrap_err();
    assert!(err.to_string().contains("identity.user_id"), "{err}");
    assert!(c.requests().is_empty());
    assert_eq!(t.stats().accepted, 0);
}

/// One custom event with the full attributes, through `codec`.
#[cfg(any(feature = "snappy", feature = "protobuf"))]
fn custom_event(codec: GrowingIoCodec, name: &str, who: Identity) -> Captured {
    let c = Collector::ok();
    let e = Event::track(name)
        .with_time(T0)
        .with_identity(who)
        .with_properties(full_attributes());
    immediate_with(&c, codec).record(e).unwrap();
    only_request(&c)
}

#[cfg(any(feature = "snappy", feature = "protobuf"))]
fn item(codec: GrowingIoCodec, id: &str, props: Properties) -> Captured {
    let c = Collector::ok();
    immediate_with(&c, codec).item_set("book", id, props).unwrap();
    only_request(&c)
}

#[cfg(any(feature = "snappy", feature = "protobuf"))]
fn user(codec: GrowingIoCodec, who: Identity, props: Properties) -> Captured {
    let c = Collector::ok();
    let e = Event::profile(ProfileOp::Set)
        .with_time(T0)
        .with_identity(who)
        .with_properties(props);
    immediate_with(&c, codec).record(e).unwrap();
    only_request(&c)
}

#[cfg(feature = "snappy")]
mod snappy {
    use super::*;

    #[test]
    fn snappy_plain_custom_event() {
        let got = custom_event(GrowingIoCodec::Snappy, "snappy", device("device-001"));
        assert_matches(&got, "snappy_plain_custom_event");
    }

    #[test]
    fn snappy_plain_submit_item() {
        let got = item(
            GrowingIoCodec::Snappy,
            "item-004",
            Properties::new().with("name", "S"),
        );
        assert_matches(&got, "snappy_plain_submit_item");
    }

    #[test]
    fn snappy_crypt_custom_event() {
        let got = custom_event(GrowingIoCodec::SnappyCrypt, "crypt", device("device-001"));
        // The key is stm & 0xff = 244: a body XORed with anything else would not unsnap.
        assert_eq!(NOW & 0xff, 244);
        assert_matches(&got, "snappy_crypt_custom_event");
    }

    #[test]
    fn snappy_crypt_submit_item() {
        let got = item(
            GrowingIoCodec::SnappyCrypt,
            "item-005",
            Properties::new().with("name", "C"),
        );
        assert_matches(&got, "snappy_crypt_submit_item");
    }

    #[test]
    fn snappy_crypt_track_user() {
        let who = Identity::user("user-001").with_user_key("email");
        let got = user(GrowingIoCodec::SnappyCrypt, who, Properties::new().with("lvl", 3));
        assert_matches(&got, "snappy_crypt_track_user");
    }
}

#[cfg(feature = "protobuf")]
mod protobuf {
    use super::*;

    #[test]
    fn protobuf_custom_event() {
        let who = device("device-001").with_user("user-001").with_user_key("email");
        let got = custom_event(GrowingIoCodec::Protobuf, "pb", who);
        // Our decision: a bool's text is its JSON text `true`; the SDK leaks Python's `True`.
        assert_matches_with(&got, "protobuf_custom_event", |want| {
            let vip = &mut want["values"][0]["attributes"]["vip"];
            assert_eq!(*vip, "True");
            *vip = "true".into();
        });
    }

    #[test]
    fn protobuf_submit_item() {
        let got = item(
            GrowingIoCodec::Protobuf,
            "item-006",
            Properties::new().with("name", "P").with("price", 1.5),
        );
        assert_matches(&got, "protobuf_submit_item");
    }

    #[test]
    fn protobuf_track_user() {
        let who = device("device-001").with_user("user-001").with_user_key("email");
        let got = user(
            GrowingIoCodec::Protobuf,
            who,
            Properties::new().with("gender", "f"),
        );
        assert_matches(&got, "protobuf_track_user");
    }

    #[test]
    fn protobuf_buffered_batch_event_and_user() {
        let c = Collector::ok();
        let consumer = BufferedConsumer::builder(gio_with(&c.url(), GrowingIoCodec::Protobuf))
            .max_batch(10)
            .build();
        let t = Tracker::builder().consumer(consumer).build().unwrap();
        t.record(
            Event::track("pb_a")
                .with_time(T0)
                .with_identity(device("device-001")),
        )
        .unwrap();
        t.record(
            Event::profile(ProfileOp::Set)
                .with_time(T0)
                .with_identity(Identity::user("user-001")),
        )
        .unwrap();
        t.flush().unwrap();
        assert_matches(&only_request(&c), "protobuf_buffered_batch_event_and_user");
    }

    #[test]
    fn items_and_events_in_one_batch_go_to_their_own_endpoints() {
        // The SDK picks the message type from the first message of a batch only; we split.
        let c = Collector::ok();
        let consumer = BufferedConsumer::builder(gio_with(&c.url(), GrowingIoCodec::Protobuf))
            .max_batch(10)
            .build();
        let t = Tracker::builder().consumer(consumer).build().unwrap();
        t.item_set("book", "i1", [("n", 1)]).unwrap();
        t.track(&device("d1"), "after_item", Properties::new()).unwrap();
        t.flush().unwrap();
        let reqs = c.requests();
        assert_eq!(reqs.len(), 2);
        let events = reqs.iter().find(|r| r.path.ends_with("/collect")).unwrap();
        let items = reqs.iter().find(|r| r.path.ends_with("/collect/item")).unwrap();
        assert_eq!(
            gio::protobuf_json(events, false)["values"][0]["event_name"],
            "after_item"
        );
        assert_eq!(
            gio::protobuf_json(items, true)["values"][0]["attributes"]["n"],
            "1"
        );
    }
}
