//! The one store, proved per backend shape: every accepted event is delivered, refused for a
//! stated reason, or left on disk and delivered first by the next tracker on the directory,
//! by itself. Each shape (one request per batch, per client, per user, per event) is raced
//! against a shutdown deadline while the collector holds every request and another thread
//! keeps the disk busy with fsynced writes; then a healthy collector gets every event once.
//!
//! Rounds per shape: 3, or `TRACKFLOW_STORE_ROUNDS` (30 by hand, see BENCHMARKS.md).

#![cfg(all(
    feature = "gravity",
    feature = "personalize",
    feature = "retail",
    feature = "talent",
    feature = "webhook"
))]

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use support::{fast_transport, listing, temp_dir, BusyDisk, Collector, Hold, Reply};
use trackflow::auth::aws::Credentials;
use trackflow::auth::google::{StaticToken, Tokens};
use trackflow::{
    spool::Spool, Backend, BackgroundConsumer, Event, Gravity, GrowingIo, Identity, Interaction,
    InteractionItem, Personalize, Properties, Retail, Talent, Tracker, Webhook,
};

/// Events accepted before each shutdown.
const EVENTS: usize = 20_000;
/// The shutdown deadline of the first tracker.
const DEADLINE: Duration = Duration::from_secs(1);
/// What a shutdown may take past its deadline: the stated 2 s grace for the hand-back (local
/// writes), plus a second for a loaded 2-core machine.
const MARGIN: Duration = Duration::from_secs(3);

fn rounds() -> usize {
    std::env::var("TRACKFLOW_STORE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// One backend shape: how to build it against a collector, what a healthy collector
/// answers, and over how many users the events are spread.
struct Shape {
    name: &'static str,
    build: fn(&str) -> Box<dyn Backend>,
    ok: fn() -> Reply,
    users: usize,
    // What the backend needs of an event beyond the common parts.
    shape: fn(Event) -> Event,
}

fn as_is(e: Event) -> Event {
    e
}

/// Retail takes its own event types, with a visitor id.
fn retail_event(e: Event) -> Event {
    let user = e.identity.user_id.clone().unwrap_or_default();
    let mut e = e.with_identity(Identity::anonymous(format!("v-{user}")).with_user(user.to_string()));
    e.kind = trackflow::EventKind::Track {
        name: "home-page-view".into(),
    };
    e
}

/// Talent job events name the jobs, and carry no properties (the insert id is the
/// `eventId`).
fn talent_event(e: Event) -> Event {
    e.with_properties(Properties::new())
        .with_interaction(Interaction::new().items([InteractionItem::new("projects/p/tenants/t/jobs/1")]))
}

fn growingio(url: &str) -> Box<dyn Backend> {
    Box::new(
        GrowingIo::builder(url, "p", "d")
            .transport(fast_transport())
            .build()
            .unwrap(),
    )
}

fn gravity(url: &str) -> Box<dyn Backend> {
    Box::new(
        Gravity::builder(format!("{url}/collect/?access_token=t"))
            .compress(false)
            .transport(fast_transport())
            .build()
            .unwrap(),
    )
}

fn personalize(url: &str) -> Box<dyn Backend> {
    Box::new(
        Personalize::builder()
            .endpoint(url)
            .region("us-east-1")
            .credentials(Credentials::new("AKIDEXAMPLE", "secret", None))
            .tracking_id("tracking-0001")
            .transport(fast_transport())
            .build()
            .unwrap(),
    )
}

fn retail(url: &str) -> Box<dyn Backend> {
    Box::new(
        Retail::builder("projects/p/locations/global/catalogs/default_catalog")
            .endpoint(url)
            .tokens(Tokens::new(StaticToken::new("token")))
            .transport(fast_transport())
            .build()
            .unwrap(),
    )
}

fn talent(url: &str) -> Box<dyn Backend> {
    Box::new(
        Talent::builder("projects/p/tenants/t")
            .endpoint(url)
            .tokens(Tokens::new(StaticToken::new("token")))
            .transport(fast_transport())
            .build()
            .unwrap(),
    )
}

fn webhook(url: &str) -> Box<dyn Backend> {
    Box::new(
        Webhook::builder(format!("{url}/hook"))
            .transport(fast_transport())
            .build()
            .unwrap(),
    )
}

fn ok() -> Reply {
    Reply::Status(200, vec![], "{}".into())
}

fn gravity_ok() -> Reply {
    Reply::Status(200, vec![], r#"{"code":0}"#.into())
}

/// The event `i` of round `round`: its insert id and an `id` property carry the same token,
/// which every backend's wire form shows.
fn event(round: usize, i: usize, users: usize) -> Event {
    let id = token(round, i);
    Event::track("view")
        .with_identity(Identity::user(format!("u{}", i % users)).with_session("s1"))
        .with_insert_id(id.clone())
        .with_properties(Properties::new().with("id", id))
}

fn token(round: usize, i: usize) -> String {
    format!("tfid-{round}-{i}-")
}

/// Every token in what reached `c`, with how often each came.
fn arrived(c: &Collector) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in c.requests() {
        let text = String::from_utf8_lossy(&r.body).into_owned();
        for (at, _) in text.match_indices("tfid-") {
            let end = text[at + 5..]
                .find(|ch: char| !(ch.is_ascii_digit() || ch == '-'))
                .map_or(text.len(), |e| at + 5 + e);
            *seen.entry(text[at..end].to_owned()).or_insert(0) += 1;
        }
    }
    seen
}

fn consumer(backend: Box<dyn Backend>, dir: &Path) -> BackgroundConsumer {
    BackgroundConsumer::builder(backend)
        .spool(Spool::open(dir).unwrap())
        .build()
}

/// One round of a shape: held collector and a busy disk at a 1 s deadline, then a healthy
/// collector on the same directory.
fn round(shape: &Shape, round: usize) {
    let dir = temp_dir(&format!("store-{}", shape.name));
    let store = dir.join("spool");
    let hold = Hold::default();
    let h = hold.clone();
    let held = Collector::start(move |_, _| Reply::Hold(h.clone()));
    let tracker = Tracker::builder()
        .consumer(consumer((shape.build)(&held.url()), &store))
        .build()
        .unwrap();
    for i in 0..EVENTS {
        tracker
            .record((shape.shape)(event(round, i, shape.users)))
            .unwrap();
    }
    let busy = BusyDisk::start(&dir);
    let started = Instant::now();
    let report = tracker.shutdown(DEADLINE).unwrap();
    let took = started.elapsed();
    let after = listing(&store);
    let s = report.stats;
    let name = shape.name;
    assert!(
        took < DEADLINE + MARGIN,
        "{name} round {round}: shutdown took {took:?}"
    );
    assert_eq!(s.accepted, EVENTS as u64, "{name} round {round}: {report:?}");
    assert_eq!(
        s.accepted,
        s.delivered + s.failed + s.dropped + report.left,
        "{name} round {round}: the books do not balance: {report:?}"
    );
    assert_eq!(
        (s.delivered, s.failed, s.dropped),
        (0, 0, 0),
        "{name} round {round}: {report:?}"
    );
    assert!(!report.completed);
    thread::sleep(Duration::from_millis(300));
    drop(busy);
    assert_eq!(
        after,
        listing(&store),
        "{name} round {round}: written after shutdown returned"
    );
    hold.release();
    drop(tracker);

    let reply = shape.ok;
    let up = Collector::start(move |_, _| reply());
    let next = Tracker::builder()
        .consumer(consumer((shape.build)(&up.url()), &store))
        .build()
        .unwrap();
    let began = Instant::now();
    let report2 = next.shutdown(Duration::from_secs(120)).unwrap();
    eprintln!(
        "{} round {round}: phase 1 {took:?}, delivered {} in {:?}",
        shape.name,
        report.left,
        began.elapsed()
    );
    let s2 = report2.stats;
    assert!(report2.completed, "{name} round {round}: {report2:?}");
    assert_eq!(
        (s2.recovered, s2.delivered, s2.failed, report2.left),
        (report.left, report.left, 0, 0),
        "{name} round {round}: {report2:?}"
    );
    let seen = arrived(&up);
    assert_eq!(
        seen.len(),
        EVENTS,
        "{name} round {round}: every accepted event arrives"
    );
    for i in 0..EVENTS {
        assert!(
            seen.contains_key(&token(round, i)),
            "{name} round {round}: event {i} missing"
        );
    }
    let per_event = seen.values().min().copied().unwrap_or(0);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n != per_event).take(3).collect();
    assert!(
        twice.is_empty(),
        "{name} round {round}: delivered more than once: {twice:?}"
    );
    drop(next);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn each_round(shape: Shape) {
    for r in 0..rounds() {
        round(&shape, r);
    }
}

#[test]
fn one_request_per_batch_growingio() {
    each_round(Shape {
        name: "growingio",
        build: growingio,
        ok,
        users: 1_000,
        shape: as_is,
    });
}

#[test]
fn one_request_per_client_gravity_100_clients() {
    each_round(Shape {
        name: "gravity",
        build: gravity,
        ok: gravity_ok,
        users: 100,
        shape: as_is,
    });
}

#[test]
fn one_request_per_user_personalize_10_000_users() {
    each_round(Shape {
        name: "personalize",
        build: personalize,
        ok,
        users: 10_000,
        shape: as_is,
    });
}

#[test]
fn one_request_per_event_retail() {
    each_round(Shape {
        name: "retail",
        build: retail,
        ok,
        users: 1_000,
        shape: retail_event,
    });
}

#[test]
fn one_request_per_event_talent() {
    each_round(Shape {
        name: "talent",
        build: talent,
        ok,
        users: 1_000,
        shape: talent_event,
    });
}

#[test]
fn one_request_per_batch_webhook() {
    each_round(Shape {
        name: "webhook",
        build: webhook,
        ok,
        users: 1_000,
        shape: as_is,
    });
}

/// A GrowingIO consumer on `store` with batches of 500, against `url`.
fn gio_consumer(url: &str, store: &Path, durability: trackflow::Durability) -> BackgroundConsumer {
    BackgroundConsumer::builder(growingio(url))
        .max_batch(500)
        .durability(durability)
        .spool(Spool::open(store).unwrap())
        .try_build()
        .unwrap()
}

/// Leaves `n` events of round `round` in `store`: a collector that holds every request,
/// and a short deadline. Returns the report.
fn leave(
    store: &Path,
    round: usize,
    n: usize,
    durability: trackflow::Durability,
) -> trackflow::ShutdownReport {
    let hold = Hold::default();
    let h = hold.clone();
    let held = Collector::start(move |_, _| Reply::Hold(h.clone()));
    let t = Tracker::builder()
        .consumer(gio_consumer(&held.url(), store, durability))
        .build()
        .unwrap();
    for i in 0..n {
        t.record(event(round, i, 100)).unwrap();
    }
    let report = t.shutdown(Duration::from_millis(500)).unwrap();
    hold.release();
    report
}

/// A recovered backlog of exactly four batches, then new events: the drain crosses from
/// the old records to the new ones, and a shutdown with time enough delivers both and says
/// it completed. Interrupted at many points instead, it says what is left, exactly, and the
/// next tracker delivers that.
#[test]
fn a_backlog_drain_crossing_into_new_records_strands_nothing() {
    let dir = temp_dir("crossing");
    let store = dir.join("spool");
    let report = leave(&store, 0, 2_000, trackflow::Durability::Memory);
    assert_eq!(report.left, 2_000, "{report:?}");
    let up = Collector::ok();
    let t = Tracker::builder()
        .consumer(gio_consumer(&up.url(), &store, trackflow::Durability::Memory))
        .build()
        .unwrap();
    for i in 2_000..2_300 {
        t.record(event(0, i, 100)).unwrap();
    }
    let report = t.shutdown(Duration::from_secs(30)).unwrap();
    assert!(report.completed, "{report:?}");
    assert_eq!(
        (report.left, report.stats.delivered, report.stats.recovered),
        (0, 2_300, 2_000)
    );
    assert_eq!(arrived(&up).len(), 2_300);

    // Interrupted: a slow collector and deadlines that end the drain at different points.
    let slow = Collector::start(|_, _| Reply::Stall(Duration::from_millis(5), 200));
    // What the store holds: each tracker reads as far as its deadline lets it (two lanes
    // at first, more as the limit grows), delivers some, and leaves the rest on disk.
    let mut on_disk = leave(&store, 1, 2_000, trackflow::Durability::Memory).left;
    for (step, ms) in [30u64, 60, 90, 120, 200, 400].into_iter().enumerate() {
        let t = Tracker::builder()
            .consumer(gio_consumer(&slow.url(), &store, trackflow::Durability::Memory))
            .build()
            .unwrap();
        let report = t.shutdown(Duration::from_millis(ms)).unwrap();
        let s = report.stats;
        assert!(
            s.recovered <= on_disk,
            "step {step}: read no more than was there: {report:?}"
        );
        assert_eq!(
            s.accepted,
            s.delivered + s.failed + s.dropped + report.left,
            "step {step}"
        );
        on_disk -= s.delivered + s.failed + s.dropped;
        assert_eq!(
            report.completed,
            on_disk == 0,
            "step {step}: completed only with nothing on disk: {report:?}"
        );
    }
    let t = Tracker::builder()
        .consumer(gio_consumer(&up.url(), &store, trackflow::Durability::Memory))
        .build()
        .unwrap();
    let report = t.shutdown(Duration::from_secs(30)).unwrap();
    assert!(
        report.completed && report.stats.recovered == on_disk,
        "{on_disk}: {report:?}"
    );
    let mut seen = arrived(&slow);
    for (k, v) in arrived(&up) {
        *seen.entry(k).or_insert(0) += v;
    }
    let missing = (0..2_000).filter(|i| !seen.contains_key(&token(1, *i))).count();
    assert_eq!(missing, 0, "nothing stranded");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `Process` durability, the collector down (connections refused), a short deadline: every
/// accepted event is left, counted once (in the journal, not also from memory), and the next
/// tracker delivers each exactly once.
#[test]
fn process_durability_with_the_collector_down_leaves_each_event_once() {
    let dir = temp_dir("process-down");
    let store = dir.join("spool");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let t = Tracker::builder()
        .consumer(gio_consumer(&down, &store, trackflow::Durability::Process))
        .build()
        .unwrap();
    for i in 0..EVENTS {
        t.record(event(0, i, 100)).unwrap();
    }
    let report = t.shutdown(Duration::from_millis(500)).unwrap();
    let s = report.stats;
    assert_eq!(
        (s.accepted, report.left),
        (EVENTS as u64, EVENTS as u64),
        "{report:?}"
    );
    assert_eq!((s.delivered, s.failed, s.dropped), (0, 0, 0));
    drop(t);
    let up = Collector::ok();
    let t = Tracker::builder()
        .consumer(gio_consumer(&up.url(), &store, trackflow::Durability::Process))
        .build()
        .unwrap();
    let report = t.shutdown(Duration::from_secs(60)).unwrap();
    assert_eq!(report.stats.recovered, EVENTS as u64, "{report:?}");
    let seen = arrived(&up);
    assert_eq!(seen.len(), EVENTS);
    // The token shows twice in GrowingIO's body (the insert id is not sent; the `id`
    // attribute is): once per event, whatever the count.
    let counts: std::collections::HashSet<usize> = seen.values().copied().collect();
    assert_eq!(counts.len(), 1, "no event twice: {counts:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
