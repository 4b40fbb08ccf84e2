//! AWS Personalize Events: every golden request (../shared/golden/personalize) reproduced with
//! the same body and the same SigV4 `Authorization`, plus batching, limits and errors.

#![cfg(feature = "personalize")]

mod support;

use std::sync::Arc;

use parking_lot::Mutex;
use support::{golden, golden_header, Captured, Collector, Reply};
use trackflow::auth::aws::Credentials;
use trackflow::backend::personalize::{Personalize, PersonalizeBuilder};
use trackflow::{
    clock::FixedClock, BufferedConsumer, Error, Event, EventOptions, Identity, ImmediateConsumer,
    Interaction, InteractionItem, Properties, Tracker,
};

/// The port of the captures: SigV4 signs `host:port`.
const GOLDEN_PORT: u16 = 18103;
/// 2023-11-14T22:13:20Z, the captures' signing clock.
const NOW: i64 = 1_700_000_000_000;
const ARN: &str = "arn:aws:personalize:us-east-1:123456789012:dataset/golden-group";

fn creds() -> Credentials {
    Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
}

fn builder(endpoint: &str) -> PersonalizeBuilder {
    Personalize::builder()
        .endpoint(endpoint)
        .region("us-east-1")
        .credentials(creds())
        .clock(FixedClock(NOW))
        .tracking_id("tracking-0001")
        .users_dataset_arn(format!("{ARN}/USERS"))
        .items_dataset_arn(format!("{ARN}/ITEMS"))
        .actions_dataset_arn(format!("{ARN}/ACTIONS"))
        .transport(support::fast_transport())
}

fn immediate(p: Personalize) -> Tracker {
    Tracker::builder()
        .consumer(ImmediateConsumer::new(p))
        .clock(FixedClock(NOW))
        .build()
        .unwrap()
}

fn buffered(p: Personalize) -> Tracker {
    Tracker::builder()
        .consumer(BufferedConsumer::builder(p).max_batch(500).build())
        .clock(FixedClock(NOW))
        .build()
        .unwrap()
}

fn user_session(user: &str) -> Identity {
    Identity::user(user).with_session("session-001")
}

/// Path, content type, X-Amz-Date, the body byte for byte and the Authorization header.
fn assert_matches(got: &Captured, case: &str, body_patch: Option<(&str, &str)>) {
    let g = golden("personalize", case);
    let r = &g["request"];
    let header = |name: &str| golden_header(r, name);
    assert_eq!(got.method, r["method"], "{case}");
    assert_eq!(got.path, r["path"], "{case}");
    assert_eq!(got.query, "", "{case}");
    assert_eq!(got.header("host").map(str::to_owned), header("Host"), "{case}");
    assert_eq!(
        got.header("content-type").map(str::to_owned),
        header("Content-Type"),
        "{case}"
    );
    assert_eq!(
        got.header("x-amz-date").map(str::to_owned),
        header("X-Amz-Date"),
        "{case}"
    );
    let want_body = r["body_text"].as_str().unwrap();
    match body_patch {
        None => {
            assert_eq!(got.text(), want_body, "{case}: body");
            assert_eq!(
                got.header("authorization").map(str::to_owned),
                header("Authorization"),
                "{case}: signature"
            );
        }
        Some((from, to)) => assert_eq!(got.text(), want_body.replace(from, to), "{case}: body"),
    }
}

#[test]
fn every_golden_request_with_the_same_signature() {
    let c = Collector::start_on(GOLDEN_PORT, |_, _| Reply::Status(200, vec![], "{}".into()));
    let endpoint = c.url();
    let mut seen = 0;
    let mut next = |case: &str, patch: Option<(&str, &str)>| {
        let reqs = c.requests();
        assert_eq!(reqs.len(), seen + 1, "{case}: one request");
        assert_matches(&reqs[seen], case, patch);
        seen += 1;
    };

    let interaction = Interaction::new()
        .value(1.5)
        .items([InteractionItem::new("item-001")])
        .recommendation_id("rec-001")
        .impressions(["item-001", "item-002", "item-003"])
        .attribution_source("SOURCE_A");
    immediate(builder(&endpoint).build().unwrap())
        .record(
            Event::track("click")
                .with_insert_id("event-001")
                .with_identity(user_session("user-001"))
                .with_time(NOW)
                .with_properties(
                    Properties::new()
                        .with("numberOfRatings", "12")
                        .with("discount", "Yes"),
                )
                .with_interaction(interaction),
        )
        .unwrap();
    next("put_events_full", None);

    let t = buffered(builder(&endpoint).build().unwrap());
    for i in 0..10 {
        let e = Event::track("click")
            .with_insert_id(format!("event-{i:03}"))
            .with_identity(user_session("user-001"))
            .with_time(NOW + i * 1000)
            .with_interaction(Interaction::new().items([InteractionItem::new(format!("item-{i:03}"))]));
        t.record(e).unwrap();
    }
    t.flush().unwrap();
    next("put_events_10_events", None);

    // No userId, and no eventId (Personalize makes one).
    let anon = immediate(builder(&endpoint).event_id_from_insert_id(false).build().unwrap());
    anon.record(
        Event::track("watch")
            .with_identity(Identity::anonymous("session-001"))
            .with_time(NOW + 250),
    )
    .unwrap();
    next("put_events_epoch_number_sentat", None);

    // The capture has microseconds; neutral event times are milliseconds, so this is the same
    // request at millisecond precision (and so not the captured signature).
    anon.record(
        Event::track("watch")
            .with_identity(Identity::anonymous("session-001"))
            .with_time(NOW + 123),
    )
    .unwrap();
    next(
        "put_events_fractional_sentat",
        Some(("1700000000.123456", "1700000000.123")),
    );

    let t = buffered(builder(&endpoint).build().unwrap());
    t.user_set(
        &Identity::user("user-001"),
        Properties::new().with("age", "30").with("gender", "f"),
    )
    .unwrap();
    t.user_set(&Identity::user("user-002"), Properties::new())
        .unwrap();
    t.flush().unwrap();
    next("put_users", None);

    t.item_set(
        "book",
        "item-001",
        Properties::new().with("genre", "Comedy|Drama").with("price", 9.9),
    )
    .unwrap();
    t.item_set("book", "item-002", Properties::new()).unwrap();
    t.flush().unwrap();
    next("put_items", None);

    t.item_set("action", "action-001", [("value", "100")]).unwrap();
    t.item_set("action", "action-002", Properties::new()).unwrap();
    t.flush().unwrap();
    next("put_actions", None);

    let interaction = Interaction::new()
        .action_id("action-001")
        .recommendation_id("rec-001")
        .impressions(["action-001", "action-002"]);
    immediate(builder(&endpoint).build().unwrap())
        .record(
            Event::track("Taken")
                .with_insert_id("ai-001")
                .with_identity(user_session("user-001"))
                .with_time(NOW)
                .with_properties([("channel", "web")])
                .with_interaction(interaction),
        )
        .unwrap();
    next("put_action_interactions", None);
}

fn event_ids(r: &Captured) -> Vec<String> {
    r.json()["eventList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn twenty_five_events_become_three_calls_and_users_are_never_mixed() {
    let c = Collector::start(|_, _| Reply::Status(200, vec![], "{}".into()));
    let t = buffered(builder(&c.url()).build().unwrap());
    for i in 0..25 {
        t.record(
            Event::track("click")
                .with_insert_id(format!("a{i}"))
                .with_identity(user_session("user-a")),
        )
        .unwrap();
    }
    t.flush().unwrap();
    let sizes: Vec<usize> = c.requests().iter().map(|r| event_ids(r).len()).collect();
    assert_eq!(sizes, [10, 10, 5]);

    let c = Collector::start(|_, _| Reply::Status(200, vec![], "{}".into()));
    let t = buffered(builder(&c.url()).build().unwrap());
    for i in 0..6 {
        let user = if i % 2 == 0 { "user-a" } else { "user-b" };
        t.record(
            Event::track("click")
                .with_insert_id(format!("{user}-{i}"))
                .with_identity(user_session(user)),
        )
        .unwrap();
    }
    t.flush().unwrap();
    for r in c.requests() {
        let user = r.json()["userId"].as_str().unwrap().to_owned();
        assert!(
            event_ids(&r).iter().all(|id| id.starts_with(&user)),
            "{user}: {:?}",
            event_ids(&r)
        );
    }
    assert_eq!(c.requests().len(), 2);
}

#[test]
fn limits_are_checked_at_the_call() {
    let c = Collector::ok();
    let t = immediate(builder(&c.url()).build().unwrap());
    let track = |impressions: usize, rec: &str, props: Properties| {
        t.record(
            Event::track("click")
                .with_identity(user_session("u1"))
                .with_properties(props)
                .with_interaction(
                    Interaction::new()
                        .impressions((0..impressions).map(|i| format!("i{i}")))
                        .recommendation_id(rec),
                ),
        )
    };
    track(11, "r", Properties::new()).unwrap();
    let err = track(26, "r", Properties::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: interaction.impressions: Personalize takes at most 25, got 26"
    );
    let err = track(1, &"r".repeat(41), Properties::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("interaction.recommendation_id: Personalize takes 1 to 40 characters, got 41"),
        "{err}"
    );
    let err = track(1, "r", Properties::new().with("blob", "x".repeat(1100))).unwrap_err();
    assert!(
        err.to_string()
            .contains("at most 1024 characters of properties JSON"),
        "{err}"
    );
    let err = t
        .track(&Identity::user("u1"), "click", Properties::new())
        .unwrap_err();
    assert!(err.to_string().contains("identity.session_id"), "{err}");
    let err = t
        .item_set("book", &"i".repeat(257), Properties::new())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: item_id: longer than 256 bytes (257)"
    );
    let err = t.user_increment(&user_session("u1"), [("n", 1)]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unsupported {
                backend: "personalize",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(c.requests().len(), 1, "only the valid event went out");

    let no_arn = immediate(
        Personalize::builder()
            .endpoint(c.url())
            .region("us-east-1")
            .credentials(creds())
            .tracking_id("t")
            .build()
            .unwrap(),
    );
    let err = no_arn.user_set(&Identity::user("u1"), [("a", "b")]).unwrap_err();
    assert!(err.to_string().contains("needs `users_dataset_arn`"), "{err}");
    let err = Personalize::builder()
        .region("us-east-1")
        .credentials(creds())
        .users_dataset_arn("arn:aws:s3:::b")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("users_dataset_arn"), "{err}");
}

fn with_errors(c: &Collector) -> (Tracker, Arc<Mutex<Vec<String>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    let consumer = ImmediateConsumer::new(builder(&c.url()).build().unwrap())
        .on_error(move |e, _| e2.lock().push(e.to_string()));
    (Tracker::builder().consumer(consumer).build().unwrap(), errors)
}

fn aws_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::Status(
        status,
        vec![(
            "x-amzn-ErrorType",
            format!("{code}:http://internal.amazon.com/coral/com.amazon.personalize/"),
        )],
        format!(r#"{{"message":"{message}"}}"#),
    )
}

#[test]
fn error_codes_and_messages_and_what_is_retried() {
    let c = Collector::start(|_, _| aws_error(400, "InvalidInputException", "bad input"));
    let (t, errors) = with_errors(&c);
    let err = t
        .track(&user_session("u1"), "click", Properties::new())
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api { status: 400, code, message } if code == "InvalidInputException" && message == "bad input"),
        "{err}"
    );
    assert_eq!(c.requests().len(), 1, "400 is not retried");
    assert_eq!(
        *errors.lock(),
        ["http status: 400: InvalidInputException: bad input"]
    );

    let c = Collector::start(|_, _| {
        Reply::Status(
            404,
            vec![],
            r#"{"__type":"com.amazon#ResourceNotFoundException","message":"no tracker"}"#.into(),
        )
    });
    let (t, _) = with_errors(&c);
    let err = t
        .track(&user_session("u1"), "click", Properties::new())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "http status: 404: ResourceNotFoundException: no tracker"
    );
    assert_eq!(c.requests().len(), 1);

    let c = Collector::start(|_, n| {
        if n < 2 {
            aws_error(429, "ThrottlingException", "slow down")
        } else {
            Reply::Status(200, vec![], "{}".into())
        }
    });
    let (t, errors) = with_errors(&c);
    t.track(&user_session("u1"), "click", Properties::new()).unwrap();
    assert_eq!((c.requests().len(), t.stats().retried), (3, 2));
    assert!(errors.lock().is_empty());

    let c = Collector::start(|_, n| {
        if n == 0 {
            aws_error(400, "ThrottlingException", "rate")
        } else {
            Reply::Status(200, vec![], "{}".into())
        }
    });
    let (t, _) = with_errors(&c);
    t.track(&user_session("u1"), "click", Properties::new()).unwrap();
    assert_eq!(
        c.requests().len(),
        2,
        "a throttling code is retried whatever its status"
    );

    let c = Collector::start(|_, _| Reply::status(503));
    let (t, _) = with_errors(&c);
    assert!(t.track(&user_session("u1"), "click", Properties::new()).is_err());
    assert_eq!(c.requests().len(), 4, "5xx retried up to the policy");
}

#[test]
fn a_session_token_is_sent_signed_and_never_shown() {
    let c = Collector::start(|_, _| Reply::Status(200, vec![], "{}".into()));
    let p = builder(&c.url())
        .credentials(Credentials::new(
            "AKIDEXAMPLE",
            "SECRET_KEY_VALUE",
            Some("SESSION_TOKEN_VALUE".into()),
        ))
        .build()
        .unwrap();
    let shown = format!("{p:?}");
    assert!(
        !shown.contains("SECRET_KEY_VALUE") && !shown.contains("SESSION_TOKEN_VALUE"),
        "{shown}"
    );
    let t = immediate(p);
    assert!(!format!("{t:?}").contains("SECRET_KEY_VALUE"));
    t.track(&user_session("u1"), "click", Properties::new()).unwrap();
    let r = &c.requests()[0];
    assert_eq!(r.header("x-amz-security-token"), Some("SESSION_TOKEN_VALUE"));
    assert!(r
        .header("authorization")
        .unwrap()
        .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"));
}

#[test]
fn a_session_without_a_user_is_sent_and_several_items_are_refused_not_cut() {
    let c = Collector::ok();
    let t = immediate(builder(&c.url()).build().unwrap());
    // PutEvents' userId is optional: a session alone is enough.
    let who = Identity::default().with_session("s-1");
    t.track(&who, "click", Properties::new()).unwrap();
    let body = c.requests()[0].json();
    assert_eq!(body["sessionId"], "s-1");
    assert!(body.get("userId").is_none(), "{body}");

    let two = Interaction::new().items([InteractionItem::new("a"), InteractionItem::new("b")]);
    let err = t
        .with(EventOptions::new().interaction(two))
        .track(&who, "purchase", Properties::new())
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, rule } if field == "interaction.items" && rule.contains("one event per item")),
        "{err}"
    );
    assert_eq!(c.requests().len(), 1, "nothing was sent for the refused event");
}
