//! Fan-out with backends that carry different things: every event reaches the File backend,
//! the others take what they can carry and count the rest as skipped, over real HTTP.
#![cfg(all(feature = "file", feature = "personalize", feature = "talent"))]

mod support;

use std::time::Duration;

use support::Collector;
use trackflow::auth::aws::Credentials;
use trackflow::auth::google::{StaticToken, Tokens};
use trackflow::backend::personalize::Personalize;
use trackflow::backend::talent::Talent;
use trackflow::{
    BackgroundConsumer, EventOptions, FileBackend, Identity, ImmediateConsumer, Interaction, InteractionItem,
    Properties, Route, RouteKind, Tracker,
};

fn personalize(c: &Collector) -> Personalize {
    Personalize::builder()
        .endpoint(c.url())
        .region("us-east-1")
        .credentials(Credentials::new("AKIDEXAMPLE", "secret", None))
        .tracking_id("tracking-0001")
        .users_dataset_arn("arn:aws:personalize:us-east-1:123456789012:dataset/g/USERS")
        .transport(support::fast_transport())
        .build()
        .unwrap()
}

fn talent(c: &Collector) -> Talent {
    Talent::builder("projects/p/tenants/t")
        .endpoint(c.url())
        .tokens(Tokens::new(StaticToken::new("token")))
        .transport(support::fast_transport())
        .build()
        .unwrap()
}

fn items(ids: &[&str]) -> Interaction {
    Interaction::new()
        .items(ids.iter().map(|i| InteractionItem::new(*i)))
        .recommendation_id("rec-1")
}

#[test]
fn every_event_reaches_the_file_backend_and_the_others_count_what_they_skip() {
    let dir = support::temp_dir("fanout-skips");
    let (pz, tal) = (Collector::ok(), Collector::ok());
    let t = Tracker::builder()
        .consumer(
            BackgroundConsumer::builder(FileBackend::builder(dir.join("events")).build().unwrap())
                .spool(None)
                .build(),
        )
        .consumer(ImmediateConsumer::new(personalize(&pz)))
        .consumer(ImmediateConsumer::new(talent(&tal)))
        .build()
        .unwrap();
    let who = Identity::user("u1").with_session("s1");
    // Carried by all three; the one recommendation id goes to each backend's own field.
    t.with(EventOptions::new().interaction(items(&["job-1"])))
        .track(&who, "VIEW", Properties::new())
        .unwrap();
    // Personalize: one item per event, so a two-item purchase is refused; Talent: not a job event.
    t.with(EventOptions::new().interaction(items(&["a", "b"])))
        .track(&who, "purchase", Properties::new())
        .unwrap();
    // Personalize has no increment; Talent carries no profiles.
    t.user_increment(&who, [("orders", 1)]).unwrap();
    // Personalize takes user_set into its users dataset; Talent skips it.
    t.user_set(&who, [("plan", "pro")]).unwrap();
    // Neither has an items dataset here.
    t.item_set("book", "b1", [("title", "Rust")]).unwrap();
    let report = t.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.completed);

    let stats = t.backend_stats();
    let row = |i: usize| (stats[i].name.as_str(), stats[i].stats.delivered, stats[i].skipped);
    assert_eq!(row(0), ("file", 5, 0));
    assert_eq!(row(1), ("personalize", 2, 3));
    assert_eq!(row(2), ("talent", 1, 4));
    for s in &stats {
        assert_eq!(s.stats.accepted + s.skipped, 5, "{s:?}");
        assert_eq!(
            s.stats.accepted,
            s.stats.delivered + s.stats.failed + s.stats.dropped
        );
    }

    let lines: usize = std::fs::read_dir(dir.join("events"))
        .unwrap()
        .map(|f| {
            std::fs::read_to_string(f.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(lines, 5);
    let pz_bodies: Vec<serde_json::Value> = pz.requests().iter().map(|r| r.json()).collect();
    assert_eq!(pz_bodies.len(), 2, "{pz_bodies:#?}");
    assert_eq!(pz_bodies[0]["eventList"][0]["recommendationId"], "rec-1");
    assert_eq!(pz_bodies[1]["users"][0]["userId"], "u1");
    let tal_bodies: Vec<serde_json::Value> = tal.requests().iter().map(|r| r.json()).collect();
    assert_eq!(tal_bodies.len(), 1);
    assert_eq!(tal_bodies[0]["requestId"], "rec-1");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_event_no_consumer_can_carry_is_refused_at_the_call() {
    let (pz, tal) = (Collector::ok(), Collector::ok());
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(personalize(&pz)))
        .consumer(ImmediateConsumer::new(talent(&tal)))
        .build()
        .unwrap();
    let err = t.user_increment(&Identity::user("u1"), [("n", 1)]).unwrap_err();
    assert!(matches!(err, trackflow::Error::Unsupported { .. }), "{err}");
    let skipped: Vec<u64> = t.backend_stats().iter().map(|s| s.skipped).collect();
    assert_eq!(skipped, [1, 1]);
    assert_eq!(t.stats().accepted, 0);
}

#[test]
fn routes_choose_by_kind_and_name_and_count_what_they_leave_out() {
    let dir = support::temp_dir("fanout-routes");
    let pz = Collector::ok();
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(
            FileBackend::builder(&dir).build().unwrap(),
        ))
        .routed(
            ImmediateConsumer::new(personalize(&pz)),
            Route::new()
                .kinds([RouteKind::Track])
                .except(["heartbeat"])
                .label("pz"),
        )
        .build()
        .unwrap();
    let who = Identity::user("u1").with_session("s1");
    for name in ["open", "heartbeat", "open", "heartbeat"] {
        t.track(&who, name, Properties::new()).unwrap();
    }
    t.user_set(&who, [("plan", "pro")]).unwrap();
    let pz_stats = &t.backend_stats()[1];
    assert_eq!(
        (
            pz_stats.name.as_str(),
            pz_stats.stats.delivered,
            pz_stats.not_routed,
            pz_stats.skipped
        ),
        ("pz", 2, 3, 0)
    );
    let names: Vec<String> = pz
        .requests()
        .iter()
        .map(|r| r.json()["eventList"][0]["eventType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["open", "open"]);
    drop(t);
    std::fs::remove_dir_all(&dir).unwrap();
}
