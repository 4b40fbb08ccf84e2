//! `on_delivered` sees every delivered event exactly once, across faults: answers of 503,
//! connections closed without an answer, refusals for good, and redeliveries, for one
//! request per batch (GrowingIO) and one per client (Gravity).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Collector, Reply};
use trackflow::{Backend, BackgroundConsumer, Identity, Properties, Tracker};

/// 503, a closed connection, or 200, by arrival number; a request carrying `n = 13` is
/// refused for good (400).
fn faulty() -> Collector {
    Collector::start(|req, i| {
        let body = req.text().replace(' ', "");
        if body.contains(r#""n":13,"#) || body.contains(r#""n":13}"#) {
            return Reply::status(400);
        }
        match i % 7 {
            1 => Reply::status(503),
            4 => Reply::Close,
            _ => Reply::Status(200, vec![], r#"{"code": 0}"#.into()),
        }
    })
}

/// Tracks 0..n with `n` in the properties, shuts down, and returns how many times the
/// callback saw each `n`, with the shutdown's counts.
fn run(backend: Box<dyn Backend>, n: i64) -> (HashMap<i64, usize>, trackflow::StatsSnapshot) {
    let seen: Arc<Mutex<HashMap<i64, usize>>> = Arc::default();
    let log = seen.clone();
    let consumer = BackgroundConsumer::builder(backend)
        .max_batch(25)
        .redelivery(Duration::from_millis(20), Duration::from_millis(100))
        .on_delivered(move |_, events| {
            let mut seen = log.lock().unwrap();
            for e in events {
                let n = match e.properties.get("n") {
                    Some(trackflow::Value::Int(n)) => *n,
                    other => panic!("n: {other:?}"),
                };
                *seen.entry(n).or_default() += 1;
            }
        })
        .spool(None)
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    for i in 0..n {
        let who = Identity::user(format!("u{}", i % 31));
        t.track(&who, "e", Properties::new().with("n", i)).unwrap();
    }
    let report = t.shutdown(Duration::from_secs(60)).unwrap();
    assert!(report.completed, "{report:?}");
    let seen = seen.lock().unwrap().clone();
    (seen, report.stats)
}

fn check(seen: &HashMap<i64, usize>, stats: &trackflow::StatsSnapshot, n: i64) {
    let twice: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "seen more than once: {twice:?}");
    assert_eq!(seen.len() as u64, stats.delivered, "{stats:?}");
    assert!(
        stats.failed > 0,
        "the refusal for good is not delivered: {stats:?}"
    );
    assert!(!seen.contains_key(&13));
    assert_eq!(stats.delivered + stats.failed, n as u64);
}

#[test]
fn one_request_per_batch_each_delivered_event_told_once() {
    let c = faulty();
    let gio = trackflow::GrowingIo::builder(c.url(), "p", "d")
        .transport(support::fast_transport())
        .build()
        .unwrap();
    let (seen, stats) = run(Box::new(gio), 1000);
    check(&seen, &stats, 1000);
}

#[cfg(feature = "gravity")]
#[test]
fn one_request_per_client_each_delivered_event_told_once() {
    let c = faulty();
    let gravity = trackflow::Gravity::builder(format!("{}/collect/?access_token=t", c.url()))
        .compress(false)
        .transport(support::fast_transport())
        .build()
        .unwrap();
    let (seen, stats) = run(Box::new(gravity), 1000);
    check(&seen, &stats, 1000);
}
