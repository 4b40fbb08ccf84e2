//! The relay: events already in a 12-partition topic on a real broker (tansu, another
//! process), read by 1 and then by 2 relays of a group of their own (in this process, each
//! its own Kafka client) and delivered to a GrowingIO sink 50 ms away (another process, one
//! write, TCP_NODELAY, counting events). Reports events/s from the first event at the sink to
//! the last. The events are written one per record batch, as in tests/relay.rs: tansu 0.6.0
//! serves no fetch that starts inside a batch, and the second relay's arrival moves
//! partitions at committed offsets.
//!
//! `cargo bench --bench relay --features kafka` (`-- --events N --delay-ms 50`).

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::sink::Sink;
use support::kafka::Broker;
use trackflow::relay::Relay;
use trackflow::{spool::Spool, BackgroundConsumer, Config, Identity, Kafka, Tracker};

const PARTITIONS: u32 = 12;

fn main() {
    if common::sink::serve_if_child() {
        return;
    }
    let opt = common::opt;
    let events: u64 = opt("--events", "300000").parse().unwrap();
    let delay: u64 = opt("--delay-ms", "50").parse().unwrap();
    let broker = Broker::start();
    let sink = Sink::start(Duration::from_millis(delay));
    println!(
        "broker {} (tansu), sink {} answering after {delay} ms; {events} standard events",
        broker.addr, sink.url
    );
    broker.create_topic("bench", PARTITIONS);
    let written = produce(&broker.addr, "bench", events, true);
    println!("written at {written:.0} events/s (one per batch)");
    // A lone relay never moves a partition: its topic may hold batches of many messages.
    broker.create_topic("batched", PARTITIONS);
    produce(&broker.addr, "batched", events, false);
    println!("| relays | topic | events | took (first to last at the sink) | events/s | ratio |");
    println!("|---|---|---|---|---|---|");
    let lone = run(&broker, &sink, "batched", 1, events);
    println!(
        "| 1 | batched | {events} | {:.2} s | {lone:.0} | |",
        events as f64 / lone
    );
    let one = run(&broker, &sink, "bench", 1, events);
    let two = run(&broker, &sink, "bench", 2, events);
    println!(
        "| 1 | one per batch | {events} | {:.2} s | {one:.0} | 1.00 |",
        events as f64 / one
    );
    println!(
        "| 2 | one per batch | {events} | {:.2} s | {two:.0} | {:.2} |",
        events as f64 / two,
        two / one
    );
}

/// Events per second with `relays` relays in a group of their own reading `topic`.
fn run(broker: &Broker, sink: &Sink, topic: &str, relays: usize, events: u64) -> f64 {
    let cfg = Config::from_toml_str(&format!(
        "[source]\nbrokers = \"{}\"\ntopics = [\"{topic}\"]\ngroup_id = \"bench-{topic}-{relays}\"\n[spool]\nenabled = false\n[backend]\nkind = \"growingio\"\nhost = \"{}\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n",
        broker.addr, sink.url
    ))
    .unwrap();
    let before = sink.stats().0;
    let stop = Arc::new(AtomicBool::new(false));
    let running: Vec<_> = (0..relays)
        .map(|_| {
            let relay = Relay::from_config(&cfg).unwrap();
            let s = stop.clone();
            std::thread::spawn(move || relay.run(&s, Duration::from_secs(60)).unwrap())
        })
        .collect();
    let mut first = None;
    loop {
        let got = sink.stats().0 - before;
        if got > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if got >= events {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = first.map_or(Duration::ZERO, |t| t.elapsed());
    stop.store(true, Ordering::Release);
    for h in running {
        assert_eq!(h.join().unwrap().stats.failed, 0);
    }
    events as f64 / took.as_secs_f64().max(1e-9)
}

/// Writes `events` standard events with the Kafka backend from 4 trackers, one message per
/// record batch; the write rate.
fn produce(broker: &str, topic: &str, events: u64, one_per_batch: bool) -> f64 {
    let began = Instant::now();
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (broker, topic) = (broker.to_owned(), topic.to_owned());
            std::thread::spawn(move || {
                let dir = std::env::temp_dir().join(format!("tf-bench-relay-{}-{w}", std::process::id()));
                let batch = if one_per_batch { "1" } else { "10000" };
                let kafka = Kafka::builder(&broker, &topic)
                    .property("batch.num.messages", batch)
                    .build()
                    .unwrap();
                let t = Tracker::builder()
                    .consumer(
                        BackgroundConsumer::builder(kafka)
                            .spool(Spool::open(&dir).unwrap())
                            .build(),
                    )
                    .build()
                    .unwrap();
                for i in (w..events).step_by(4) {
                    let who = Identity::user(format!("user-{}", i % 1000));
                    t.track(&who, "purchase", common::standard_properties(i)).unwrap();
                }
                assert!(t.shutdown(Duration::from_secs(900)).unwrap().completed);
                let _ = std::fs::remove_dir_all(&dir);
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    events as f64 / began.elapsed().as_secs_f64()
}
