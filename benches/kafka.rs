//! Kafka: the standard event through the Background consumer (its defaults) and the Kafka
//! backend (its defaults: idempotent, acks=all, LZ4) to a real broker (tansu, another
//! process on 127.0.0.1), against the raw limit of the same machine: rdkafka's own producer,
//! the same settings, the same bytes and keys, no tracker. Both build their events inside
//! the timed loop and end when the broker has acknowledged every one. In one run, so the
//! ratio is what to read.
//!
//! `cargo bench --bench kafka --features kafka` (`-- --events N`).

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use support::kafka::Broker;
use trackflow::{clock::Clock, spool::Spool, BackgroundConsumer, Event, Identity, Kafka, Tracker};

const USERS: u64 = 1_000;

fn event(i: u64) -> (Identity, trackflow::Properties) {
    (
        Identity::user(format!("user-{}", i % USERS)),
        common::standard_properties(i),
    )
}

/// Events per second through trackflow, the broker's acknowledgements included.
fn trackflow_run(brokers: &str, topic: &str, events: u64) -> f64 {
    let spool =
        Spool::open(std::env::temp_dir().join(format!("tf-bench-kafka-{}", std::process::id()))).unwrap();
    let kafka = Kafka::builder(brokers, topic).build().unwrap();
    let t = Tracker::builder()
        .consumer(BackgroundConsumer::builder(kafka).spool(spool).build())
        .build()
        .unwrap();
    let began = Instant::now();
    for i in 0..events {
        let (who, props) = event(i);
        t.track(&who, "purchase", props).unwrap();
    }
    let s = t.shutdown(Duration::from_secs(300)).unwrap().stats;
    let took = began.elapsed();
    assert_eq!(s.delivered, events, "{s:?}");
    events as f64 / took.as_secs_f64()
}

/// Events per second through rdkafka alone: the same JSON, keys and producer settings.
fn raw_run(brokers: &str, topic: &str, events: u64) -> f64 {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("compression.type", "lz4")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let began = Instant::now();
    let mut payload = Vec::with_capacity(512);
    for i in 0..events {
        let (who, props) = event(i);
        let mut e = Event::track("purchase");
        e.identity = who;
        e.properties = props;
        e.time = trackflow::clock::SystemClock.now_ms();
        payload.clear();
        trackflow::codec::json::write_event(&mut payload, &e).unwrap();
        let key = e.identity.user_id.as_deref().unwrap_or_default();
        let mut record = BaseRecord::to(topic).key(key).payload(&payload[..]);
        while let Err((_, back)) = producer.send(record) {
            record = back;
            producer.poll(Duration::from_millis(1));
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(300)).unwrap();
    events as f64 / began.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(300_000u64);
    let broker = Broker::start();
    println!(
        "kafka: {events} standard events, 1 producer, {USERS} users, broker tansu on {}",
        broker.addr
    );
    println!("{:<28} {:>12}", "run", "events/s");
    let mut ratios = Vec::new();
    for round in 0..3 {
        let (raw_topic, tf_topic) = (format!("raw-{round}"), format!("tf-{round}"));
        broker.create_topic(&raw_topic, 3);
        broker.create_topic(&tf_topic, 3);
        let raw = raw_run(&broker.addr, &raw_topic, events);
        let tf = trackflow_run(&broker.addr, &tf_topic, events);
        println!("{:<28} {:>12.0}", format!("raw rdkafka, round {round}"), raw);
        println!("{:<28} {:>12.0}", format!("trackflow, round {round}"), tf);
        ratios.push(tf / raw);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "trackflow / raw: {:.2} {:.2} {:.2} (median {:.2})",
        ratios[0], ratios[1], ratios[2], ratios[1]
    );
}
