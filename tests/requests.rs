//! A consumer's batch is not a request: each backend splits a delivery into its own requests
//! (Gravity one client per envelope, Personalize one user and session per call), and its
//! per-request cap never cuts the consumer's batch.

mod support;

use std::time::Duration;

use support::{Collector, Reply};
use trackflow::auth::aws::Credentials;
use trackflow::backend::gravity::Gravity;
use trackflow::backend::personalize::Personalize;
use trackflow::{BackgroundConsumer, BufferedConsumer, Consumer, Event, Identity};

fn gravity_collector() -> Collector {
    Collector::start(|_, _| Reply::Status(200, vec![], r#"{"code": 0}"#.into()))
}

fn gravity(c: &Collector) -> Gravity {
    Gravity::builder(format!("{}/collect/?access_token=t", c.url()))
        .compress(false)
        .transport(support::fast_transport())
        .build()
        .unwrap()
}

/// Events per request, as the collector decoded them.
fn sizes(c: &Collector, list: &str) -> Vec<usize> {
    c.requests()
        .iter()
        .map(|r| r.json()[list].as_array().map_or(0, Vec::len))
        .collect()
}

/// `n` track events over `users`, round robin: every user repeats in every batch.
fn events(n: usize, users: usize) -> impl Iterator<Item = Event> {
    (0..n).map(move |i| {
        Event::track("buy")
            .with_identity(Identity::anonymous(format!("c{}", i % users)).with_session("s1"))
            .with_time(1_700_000_000_000 + i as i64)
    })
}

#[test]
fn a_gravity_batch_is_split_into_envelopes_per_client_not_cut_to_one() {
    let c = gravity_collector();
    let consumer = BufferedConsumer::builder(gravity(&c)).max_batch(500).build();
    for e in events(2000, 10) {
        consumer.consume(e).unwrap();
    }
    consumer.flush(Duration::from_secs(10)).unwrap();
    // Four deliveries of 500: per client 50 events, in envelopes of 20, 20 and 10.
    let mut got = sizes(&c, "event_list");
    got.sort_unstable();
    assert_eq!(got.len(), 4 * 10 * 3, "{got:?}");
    assert_eq!(got.iter().sum::<usize>(), 2000);
    assert_eq!(got.iter().filter(|&&n| n == 10).count(), 40, "{got:?}");
    assert_eq!(got.iter().filter(|&&n| n == 20).count(), 80, "{got:?}");
}

#[test]
fn the_background_consumer_sends_no_one_event_envelopes_when_clients_repeat() {
    let c = gravity_collector();
    let consumer = BackgroundConsumer::builder(gravity(&c)).spool(None).build();
    for e in events(5000, 20) {
        consumer.consume(e).unwrap();
    }
    consumer.flush(Duration::from_secs(20)).unwrap();
    let got = sizes(&c, "event_list");
    assert_eq!(got.iter().sum::<usize>(), 5000);
    // Before, Gravity's 20 events per envelope cut each batch to 20 events over 20 clients:
    // 5,000 requests of one event. Now a batch is the consumer's, split per client.
    assert!(got.len() <= 5000 / 10, "{} requests for 5000 events", got.len());
}

fn personalize(c: &Collector) -> Personalize {
    Personalize::builder()
        .region("us-east-1")
        .endpoint(c.url())
        .credentials(Credentials::new("AKID", "SECRET", None))
        .tracking_id("t")
        .transport(support::fast_transport())
        .build()
        .unwrap()
}

#[test]
fn a_personalize_batch_goes_in_calls_of_ten_per_user_and_session() {
    let c = Collector::start(|_, _| Reply::Status(200, vec![], "{}".into()));
    let consumer = BufferedConsumer::builder(personalize(&c)).max_batch(500).build();
    for e in events(1000, 10) {
        consumer.consume(e).unwrap();
    }
    consumer.flush(Duration::from_secs(10)).unwrap();
    // Two deliveries of 500: per user 50 events, five full PutEvents calls each.
    let got = sizes(&c, "eventList");
    assert_eq!(got.len(), 2 * 10 * 5, "{got:?}");
    assert!(got.iter().all(|&n| n == 10), "{got:?}");
}
