//! Every GrowingIO JSON golden request (../shared/golden/growingio/json_*, quirk_*), reproduced
//! through trackflow over real HTTP and compared with what the official SDK sent.

mod support;

use std::time::Duration;

use support::{golden, Captured, Collector};
use trackflow::{
    BackgroundConsumer, BufferedConsumer, DebugConsumer, Event, FixedClock, GrowingIo, Identity,
    ImmediateConsumer, ProfileOp, Properties, Tracker, Value,
};

const NOW: i64 = 1_700_000_000_500;
const T0: i64 = 1_699_999_999_123;
const P: &str = "bcc3b6e0b6d7a1b2";
const DS: &str = "a5f1c2d3e4b5a6c7";

fn gio(host: &str) -> GrowingIo {
    GrowingIo::builder(host, P, DS)
        .clock(FixedClock(NOW))
        .build()
        .unwrap()
}

fn immediate(c: &Collector) -> Tracker {
    Tracker::builder()
        .consumer(ImmediateConsumer::new(gio(&c.url())))
        .clock(FixedClock(NOW))
        .build()
        .unwrap()
}

fn device(id: &str) -> Identity {
    Identity::anonymous(id)
}

/// Asserts `got` is the golden request: method, path, query, protocol header and the body
/// byte for byte (and so also decoded).
fn assert_matches(got: &Captured, case: &str) {
    let g = golden("growingio", case);
    let r = &g["request"];
    assert_eq!(got.method, r["method"], "{case}: method");
    assert_eq!(got.path, r["path"], "{case}: path");
    assert_eq!(got.query, r["query_string"], "{case}: query");
    let want_ct = r["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("content-type"))
        .map(|h| h[1].as_str().unwrap().to_owned());
    assert_eq!(
        got.header("content-type").map(str::to_owned),
        want_ct,
        "{case}: content-type"
    );
    for extra in ["content-encoding", "x-compress-codec", "x-crypt-codec"] {
        assert_eq!(got.header(extra), None, "{case}: unexpected {extra}");
    }
    assert_eq!(got.json(), r["decoded"]["json"], "{case}: decoded body");
    assert_eq!(got.text(), r["body_text"].as_str().unwrap(), "{case}: body bytes");
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
    let props = Properties::new()
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
        .with("cn", "中文");
    immediate(&c)
        .record(
            Event::track("purchase")
                .with_time(T0)
                .with_identity(who)
                .with_properties(props),
        )
        .unwrap();
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
