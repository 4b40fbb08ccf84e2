//! A full memory queue under `Overflow::Spill` (the default), by what the collector does:
//! while it answers and the worker keeps taking, producers wait for room (the machine's CPU
//! is behind, and a spill would add to its work); while it fails, a full queue spills at
//! once. Either way every event arrives once, over real HTTP.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use support::gio::attribute_ids;
use support::{fast_transport, temp_dir, Collector, Reply};
use trackflow::{spool::Spool, BackgroundConsumer, GrowingIo, Identity, Properties, Tracker};

/// A collector that fails with 503 while `failing` is set, and keeps the ids of what it
/// answered 200 to.
fn collector(failing: Arc<AtomicBool>) -> (Collector, Arc<Mutex<Vec<String>>>) {
    let arrived = Arc::new(Mutex::new(Vec::new()));
    let a = arrived.clone();
    let c = Collector::start(move |r, _| {
        if failing.load(Ordering::Acquire) {
            return Reply::status(503);
        }
        a.lock().extend(attribute_ids(r));
        Reply::ok()
    });
    (c, arrived)
}

fn tracker(url: &str, dir: &std::path::Path, queue: usize) -> Tracker {
    let consumer = builder(url)
        .queue_capacity(queue)
        .max_batch(queue)
        .spool(Spool::open(dir).unwrap())
        .build();
    Tracker::builder().consumer(consumer).build().unwrap()
}

fn builder(url: &str) -> trackflow::consumer::BackgroundConsumerBuilder {
    let gio = GrowingIo::builder(url, "p", "d")
        .transport(fast_transport())
        .build()
        .unwrap();
    BackgroundConsumer::builder(gio).redelivery(Duration::from_millis(100), Duration::from_millis(400))
}

fn track(t: &Tracker, from: usize, to: usize) {
    track_padded(t, from, to, "");
}

fn track_padded(t: &Tracker, from: usize, to: usize, pad: &str) {
    for i in from..to {
        let mut p = Properties::new().with("id", format!("e{i}"));
        if !pad.is_empty() {
            p = p.with("pad", pad);
        }
        t.track(&Identity::user("u"), "buy", p).unwrap();
    }
}

/// Every id arrived exactly once.
fn each_once(arrived: &Mutex<Vec<String>>, n: usize) {
    let got = arrived.lock();
    let distinct: HashSet<&String> = got.iter().collect();
    assert_eq!((got.len(), distinct.len()), (n, n), "arrivals, distinct");
}

#[test]
fn while_the_collector_answers_a_full_queue_waits_for_room_rather_than_spill() {
    const N: usize = 20_000;
    let (c, arrived) = collector(Arc::new(AtomicBool::new(false)));
    let dir = temp_dir("room-answering");
    let t = tracker(&c.url(), &dir, 64);
    // A tight loop outruns the delivery of batches of 64: the queue is full nearly always.
    track(&t, 0, N);
    let report = t.shutdown(Duration::from_secs(60)).unwrap();
    let s = report.stats;
    eprintln!("accepted {} spilled {}", s.accepted, s.spilled);
    assert_eq!(
        (s.accepted, s.delivered, s.failed, s.dropped),
        (N as u64, N as u64, 0, 0)
    );
    // Spilling every overflow (as before) puts nearly all N on disk; waiting for room, only
    // what overflowed while the worker was descheduled for more than a few milliseconds.
    assert!(s.spilled * 2 < N as u64, "{s:?}");
    each_once(&arrived, N);
}

#[test]
fn while_the_collector_answers_producers_fill_only_the_queues_hot_part() {
    const N: usize = 20_000;
    const BATCH: usize = 32;
    let (c, arrived) = collector(Arc::new(AtomicBool::new(false)));
    let dir = temp_dir("room-hot");
    // The default queue (10,000 events, 32 MiB: about 7,500 of these events of 4 KiB);
    // its hot part is 1 MiB or two batches, about 250 of them.
    let consumer = builder(&c.url())
        .max_batch(BATCH)
        .spool(Spool::open(&dir).unwrap())
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (t, done) = (t.clone(), done.clone());
        std::thread::spawn(move || {
            let mut depths = Vec::new();
            while !done.load(Ordering::Acquire) {
                depths.push(t.backend_stats()[0].queue_depth);
                std::thread::sleep(Duration::from_millis(1));
            }
            depths
        })
    };
    let began = Instant::now();
    track_padded(&t, 0, N, &"x".repeat(4096));
    let (took, delivered) = (began.elapsed(), arrived.lock().len());
    done.store(true, Ordering::Release);
    let mut depths = sampler.join().unwrap();
    let s = t.shutdown(Duration::from_secs(60)).unwrap().stats;
    assert_eq!((s.delivered, s.failed, s.dropped), (N as u64, 0, 0), "{s:?}");
    each_once(&arrived, N);
    depths.sort_unstable();
    let median = depths[depths.len() / 2];
    // How often the worker took, on average, while the producer ran.
    let every = took.as_secs_f64() * 1e3 / (delivered.max(1) as f64 / BATCH as f64);
    eprintln!(
        "{} samples, median depth {median}; the worker took every {every:.1} ms",
        depths.len()
    );
    // Filling the whole queue pins it at its byte budget, about 7,540 of these events, in
    // any run. The hot part holds producers only while the worker takes at least every
    // 5 ms; where a loaded machine keeps the worker from a core longer, they go on past it,
    // as they should: under two busy loops the worker took every 2-2.8 ms on average, in
    // bursts, and medians ranged from 236 to 7,150. So the bound is asserted where the
    // worker took every 1.5 ms or more often (a quiet machine: every 0.8-0.9 ms, median 236;
    // without the hot part, the same: median 7,570).
    if every <= 1.5 {
        assert!(median < 3_500, "median depth {median}");
    }
}

#[test]
fn while_the_collector_fails_a_full_queue_spills_at_once_and_all_arrives_later() {
    const N: usize = 500;
    let failing = Arc::new(AtomicBool::new(true));
    let (c, arrived) = collector(failing.clone());
    let dir = temp_dir("room-failing");
    let t = tracker(&c.url(), &dir, 10);
    track(&t, 0, 1);
    let began = Instant::now();
    while t.backend_stats()[0].stats.retried == 0 {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "no failed attempt seen"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    track(&t, 1, N);
    let spilled = t.backend_stats()[0].stats.spilled;
    // What is not on disk is in the queue (10), in the worker's next batch (10), or out on
    // a lane being retried (10 a lane; the limit is cut on 5xx, the lanes follow it).
    assert!(
        spilled as usize >= N - 10 - 10 - 10 * 4,
        "spilled {spilled} of {N}"
    );
    failing.store(false, Ordering::Release);
    let report = t.shutdown(Duration::from_secs(60)).unwrap();
    assert_eq!(report.stats.delivered, N as u64, "{report:?}");
    each_once(&arrived, N);
}
