//! Every Gravity Engine golden request (../shared/golden/gravity), reproduced through trackflow
//! over real HTTP, plus what the SDK gets wrong: users never merged, codes and retries.

#![cfg(feature = "gravity")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use support::{golden, golden_headers, gunzip, protocol_headers, Captured, Collector, Reply};
use trackflow::backend::gravity::{Gravity, LIB, LIB_VERSION};
use trackflow::{
    clock::FixedClock, BackgroundConsumer, BufferedConsumer, DebugConsumer, Error, Identity,
    ImmediateConsumer, Properties, Tracker, Value,
};

const NOW: i64 = 1_700_000_000_500;
const TOKEN: &str = "GE_TEST_ACCESS_TOKEN_0123456789";
const OK: &str = r#"{"code":0,"msg":"ok","data":null,"extra":{}}"#;

fn ok_collector() -> Collector {
    Collector::start(|_, _| Reply::Status(200, vec![("Content-Type", "application/json".into())], OK.into()))
}

fn url(c: &Collector) -> String {
    format!(
        "{}/event_center/api/v1/event/collect/?access_token={TOKEN}",
        c.url()
    )
}

fn gravity(c: &Collector, compress: bool) -> Gravity {
    Gravity::builder(url(c))
        .compress(compress)
        .transport(support::fast_transport())
        .build()
        .unwrap()
}

fn tracker(consumer: impl trackflow::Consumer + 'static) -> Tracker {
    Tracker::builder()
        .consumer(consumer)
        .clock(FixedClock(NOW))
        .build()
        .unwrap()
}

fn client() -> Identity {
    Identity::anonymous("client-001")
}

/// The body text, gunzipped when the headers say so.
fn text(r: &Captured) -> String {
    let body = if r.header("Gravity-Content-Compress") == Some("gzip") {
        gunzip(&r.body)
    } else {
        r.body.clone()
    };
    String::from_utf8(body).unwrap()
}

/// Our `$lib` and integration headers in place of the SDK's; everything else as captured.
fn ours(s: &str) -> String {
    s.replace(
        r#""$lib": "python", "$lib_version": "1.0.9""#,
        &format!(r#""$lib": "{LIB}", "$lib_version": "{LIB_VERSION}""#),
    )
}

/// The SDK's integration header values replaced by ours; everything else as captured.
fn as_ours<'a>(h: impl Iterator<Item = (&'a str, &'a str)>) -> impl Iterator<Item = (&'a str, &'a str)> {
    h.map(|(k, v)| match (k.to_ascii_lowercase().as_str(), v) {
        ("ge-integration-type", "python-sdk") => (k, LIB),
        ("ge-integration-version", "1.0.9") => (k, LIB_VERSION),
        _ => (k, v),
    })
}

/// Method, path, query (the token), protocol headers, and the decoded body byte for byte in
/// Python's `json.dumps` layout.
fn assert_matches(got: &Captured, case: &str) {
    let g = golden("gravity", case);
    let r = &g["request"];
    assert_eq!(got.method, r["method"], "{case}");
    assert_eq!(got.path, r["path"], "{case}");
    assert_eq!(got.query, r["query_string"], "{case}");
    let want = protocol_headers(as_ours(golden_headers(r)));
    assert_eq!(protocol_headers(got.header_pairs()), want, "{case}: headers");
    let want_text = r["decoded"]
        .get("plain_text")
        .or(r.get("body_text"))
        .unwrap()
        .as_str()
        .unwrap();
    assert_eq!(text(got), ours(want_text), "{case}: body");
}

fn only(c: &Collector) -> Captured {
    let reqs = c.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    reqs.into_iter().next().unwrap()
}

/// The SDK's TRACK_PROPS: the five `#` presets, every value type, a date and a datetime.
fn track_props() -> Properties {
    Properties::new()
        .with("#ip", "203.0.113.7")
        .with("#first_check_id", "fc-001")
        .with("#app_id", "app-001")
        .with("#time", Value::Time(1_700_000_000_123))
        .with("#uuid", "2b1f6f0e-0000-4000-8000-000000000001")
        .with("amount", 9.9)
        .with("count", 2)
        .with("ok", true)
        .with("tags", vec!["a", "b"])
        .with("when", Value::Time(1_700_000_000_123))
        .with("day", Value::Time(1_699_920_000_000))
        .with("cn", "中文")
        .with("nothing", Value::Null)
}

/// Each SDK call of the batch1_* cases, made through trackflow.
fn call(t: &Tracker, name: &str) {
    let who = client();
    match name {
        "track" => t.track(&who, "purchase", track_props()),
        "user_set" => t.user_set(
            &who,
            Properties::new()
                .with("name", "Alice")
                .with("age", 30)
                .with("$name", "alice"),
        ),
        "user_set_once" => t.user_set_once(&who, [("first_seen", "2023-11-14")]),
        "user_increment" => t.user_increment(&who, Properties::new().with("coins", 10).with("score", 1.5)),
        "user_max" => t.user_max(&who, [("max_score", 99)]),
        "user_min" => t.user_min(&who, [("min_price", 1)]),
        "user_append" => t.user_append(&who, [("tags", vec!["a", "b"])]),
        "user_uniq_append" => t.user_uniq_append(&who, [("tags", vec!["b", "c"])]),
        "user_unset" => t.user_unset(&who, ["age", "name"]),
        "user_del" => t.user_delete(&who),
        other => panic!("{other}"),
    }
    .unwrap();
}

const CALLS: [&str; 10] = [
    "track",
    "user_set",
    "user_set_once",
    "user_increment",
    "user_max",
    "user_min",
    "user_append",
    "user_uniq_append",
    "user_unset",
    "user_del",
];

#[test]
fn every_call_gzip_and_plain() {
    for (compress, prefix) in [(true, "batch1_gzip"), (false, "batch1_plain")] {
        for name in CALLS {
            let c = ok_collector();
            call(&tracker(ImmediateConsumer::new(gravity(&c, compress))), name);
            assert_matches(&only(&c), &format!("{prefix}_{name}"));
        }
    }
}

#[test]
fn super_properties_then_call_properties_then_lib() {
    let c = ok_collector();
    let t = tracker(ImmediateConsumer::new(gravity(&c, true)));
    t.set_super_properties(Properties::new().with("channel", "web").with("$lib", "ignored"))
        .unwrap();
    t.track(&client(), "with_super", [("channel", "app")]).unwrap();
    assert_matches(&only(&c), "batch1_gzip_track_with_super_properties");
}

#[test]
fn a_client_id_is_required() {
    // The SDK's non-strict mode sends such an event with no client_id
    // (batch1_gzip_track_no_client_id_nonstrict); we refuse it at the call.
    let c = ok_collector();
    let t = tracker(ImmediateConsumer::new(gravity(&c, true)));
    let err = t
        .track(&Identity::default(), "anon_event", [("k", "v")])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: identity: names no one: give an anonymous_id, a user_id or a session_id (the gravity backend needs one)"
    );
    // A session alone names a visit, not a client: Gravity's own rule.
    let err = t
        .track(
            &Identity::default().with_session("s-1"),
            "anon_event",
            [("k", "v")],
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: identity: Gravity needs an anonymous_id or a user_id"
    );
    assert!(c.requests().is_empty());
}

#[test]
fn batch_of_three_then_flush() {
    let c = ok_collector();
    let t = tracker(BufferedConsumer::builder(gravity(&c, true)).max_batch(3).build());
    for i in 0..4 {
        t.track(&client(), &format!("t{i}"), [("i", i)]).unwrap();
    }
    assert_eq!(c.requests().len(), 1);
    t.flush().unwrap();
    let reqs = c.requests();
    assert_matches(&reqs[0], "batch3_threshold_then_flush__req1");
    assert_matches(&reqs[1], "batch3_threshold_then_flush__req2");
}

#[test]
fn background_batches_of_three_then_close() {
    let c = ok_collector();
    let consumer = BackgroundConsumer::builder(gravity(&c, true))
        .max_batch(3)
        .flush_interval(Duration::from_secs(60))
        // The SDK's requests, compared in its order: one at a time.
        .max_in_flight(1)
        .build();
    let t = tracker(consumer);
    for i in 0..4 {
        t.track(&client(), &format!("a{i}"), [("i", i)]).unwrap();
    }
    assert!(t.shutdown(Duration::from_secs(5)).unwrap().completed);
    let reqs = c.requests();
    assert_eq!(reqs.len(), 2);
    assert_matches(&reqs[0], "async_flush3_4events_close__req1");
    assert_matches(&reqs[1], "async_flush3_4events_close__req2");
}

#[test]
fn debug_mode_sends_one_plain_envelope_with_the_debug_header() {
    for (case, f) in [
        (
            "debug_track",
            Box::new(|t: &Tracker| {
                t.track(
                    &client(),
                    "purchase",
                    Properties::new()
                        .with("#ip", "203.0.113.7")
                        .with("amount", 1)
                        .with("tags", vec!["x"]),
                )
            }) as Box<dyn Fn(&Tracker) -> trackflow::Result<()>>,
        ),
        (
            "debug_user_set",
            Box::new(|t: &Tracker| t.user_set(&client(), [("name", "Alice")])),
        ),
        (
            "debug_user_increment",
            Box::new(|t: &Tracker| t.user_increment(&client(), [("coins", 5)])),
        ),
    ] {
        let c = ok_collector();
        let ge = Gravity::builder(url(&c))
            .debug_mode(true)
            .transport(support::fast_transport())
            .build()
            .unwrap();
        f(&tracker(DebugConsumer::builder(ge).build())).unwrap();
        assert_matches(&only(&c), case);
    }
}

#[test]
fn three_users_interleaved_in_one_batch_each_keep_their_own_envelope() {
    // batch_merge_3clients_gzip: the SDK sent all three under client-A with client-A's #ip.
    let c = ok_collector();
    let t = tracker(BufferedConsumer::builder(gravity(&c, true)).max_batch(20).build());
    let (a, b, cc) = (
        Identity::anonymous("client-A"),
        Identity::anonymous("client-B"),
        Identity::anonymous("client-C"),
    );
    t.track(
        &a,
        "ev_a",
        Properties::new().with("#ip", "198.51.100.1").with("x", 1),
    )
    .unwrap();
    t.user_set(&b, [("name", "Bob")]).unwrap();
    t.track(
        &cc,
        "ev_c",
        Properties::new()
            .with("#ip", "198.51.100.3")
            .with("#time", Value::Time(NOW)),
    )
    .unwrap();
    t.track(&a, "ev_a2", Properties::new().with("#ip", "198.51.100.1"))
        .unwrap();
    t.user_set(&b, [("name", "Bobby")]).unwrap();
    t.flush().unwrap();
    let bodies: Vec<serde_json::Value> = c
        .requests()
        .iter()
        .map(|r| serde_json::from_str(&text(r)).unwrap())
        .collect();
    assert_eq!(bodies.len(), 3, "one request per user: {bodies:#?}");
    let events = |b: &serde_json::Value| -> Vec<String> {
        b["event_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(bodies[0]["client_id"], "client-A");
    assert_eq!(bodies[0]["#ip"], "198.51.100.1");
    assert_eq!(events(&bodies[0]), ["ev_a", "ev_a2"]);
    assert_eq!(bodies[1]["client_id"], "client-B");
    assert!(bodies[1].get("#ip").is_none());
    assert_eq!(events(&bodies[1]), ["profile_set", "profile_set"]);
    assert_eq!(bodies[2]["client_id"], "client-C");
    assert_eq!(bodies[2]["#ip"], "198.51.100.3");
    assert_eq!(bodies[2]["#time"], "2023-11-14 22:13:20.500");
    assert_eq!(events(&bodies[2]), ["ev_c"]);
    let counts: Vec<_> = c
        .requests()
        .iter()
        .map(|r| r.header("GE-Integration-Count").unwrap().to_owned())
        .collect();
    assert_eq!(counts, ["2", "2", "1"]);
}

fn with_errors(c: &Collector) -> (Tracker, Arc<Mutex<Vec<String>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    let consumer =
        ImmediateConsumer::new(gravity(c, true)).on_error(move |e, _| e2.lock().push(e.to_string()));
    (tracker(consumer), errors)
}

#[test]
fn a_nonzero_code_is_a_permanent_failure_with_the_code() {
    let c = Collector::start(|_, _| Reply::Status(200, vec![], r#"{"code":1,"msg":"illegal data"}"#.into()));
    let (t, errors) = with_errors(&c);
    let err = t.track(&client(), "e", Properties::new()).unwrap_err();
    assert!(matches!(err, Error::Rejected { code: 1, .. }), "{err}");
    assert_eq!(c.requests().len(), 1, "not retried");
    assert_eq!(
        *errors.lock(),
        ["rejected by the collector: code 1: illegal data"]
    );
    assert_eq!(t.stats().failed, 1);
}

#[test]
fn a_500_is_retried() {
    let c = Collector::start(|_, n| {
        if n == 0 {
            Reply::status(500)
        } else {
            Reply::Status(200, vec![], OK.into())
        }
    });
    let (t, errors) = with_errors(&c);
    t.track(&client(), "e", Properties::new()).unwrap();
    assert_eq!(c.requests().len(), 2);
    assert_eq!(t.stats().retried, 1);
    assert!(errors.lock().is_empty());
}

#[test]
fn a_reply_that_is_not_json_is_retried() {
    let c = Collector::start(|_, n| Reply::Status(200, vec![], if n == 0 { "OK".into() } else { OK.into() }));
    let (t, _) = with_errors(&c);
    t.track(&client(), "e", Properties::new()).unwrap();
    assert_eq!(c.requests().len(), 2);
}

#[test]
fn names_are_checked_with_the_intended_rule() {
    let c = ok_collector();
    let t = tracker(ImmediateConsumer::new(gravity(&c, true)));
    for bad in ["_abc", "1abc", "a-b c!", "a中文", "#other"] {
        let err = t.user_set(&client(), [(bad, 1)]).unwrap_err();
        assert!(
            err.to_string().contains(&format!("properties.{bad}")),
            "{bad}: {err}"
        );
    }
    assert!(
        t.user_increment(&client(), [("n", true)]).is_err(),
        "bools are not numbers"
    );
    assert!(
        t.item_set("book", "b1", [("a", 1)]).is_err(),
        "gravity carries no items"
    );
    assert!(c.requests().is_empty());
}

#[test]
fn the_access_token_never_reaches_debug_output_or_errors() {
    let gravity = Gravity::builder(format!("http://127.0.0.1:1/c/?access_token={TOKEN}"))
        .transport(support::no_retry_transport())
        .build()
        .unwrap();
    assert!(!format!("{gravity:?}").contains(TOKEN));
    let t = tracker(ImmediateConsumer::new(gravity));
    let err = t.track(&client(), "e", Properties::new()).unwrap_err();
    assert!(!err.to_string().contains(TOKEN), "{err}");
    assert!(!format!("{t:?}").contains(TOKEN));
}

#[cfg(feature = "gravity")]
#[test]
fn client_id_takes_the_configured_id_first() {
    use trackflow::backend::gravity::ClientId;
    let both = Identity::anonymous("device-1").with_user("account-1");
    let mut seen = Vec::new();
    for order in [ClientId::AnonymousFirst, ClientId::UserFirst] {
        let c = ok_collector();
        let ge = Gravity::builder(url(&c))
            .client_id(order)
            .transport(support::fast_transport())
            .build()
            .unwrap();
        let t = tracker(trackflow::ImmediateConsumer::new(ge));
        t.track(&both, "ev", Properties::new()).unwrap();
        // With one id only, that id is the client id whatever the order.
        t.track(&Identity::user("only-user"), "ev", Properties::new())
            .unwrap();
        for r in c.requests() {
            let body: serde_json::Value = serde_json::from_str(&text(&r)).unwrap();
            seen.push(body["client_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen, ["device-1", "only-user", "account-1", "only-user"]);
}
