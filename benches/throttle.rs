//! A collector with a quota: the sink (another process, 50 ms per answer) answers 429 at once
//! to requests above 400 per second. One producer keeps a backlog for the Retail backend (one
//! event per request) at its defaults. Three phases: no quota (full speed), the quota (where
//! the adaptive limit settles, and how much is throttled), the quota lifted (how long until
//! full speed again). Each second is sampled from the sink's own counts.
//!
//! `cargo bench --bench throttle --all-features` (`-- --quota 400 --seconds 15`).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::sink::{Counts, Sink};

use trackflow::auth::google::{StaticToken, Tokens};
use trackflow::backend::retail::Retail;
use trackflow::{BackgroundConsumer, Event, Identity, Tracker};

fn main() {
    if common::sink::serve_if_child() {
        return;
    }
    let opt = common::opt;
    let quota: u64 = opt("--quota", "400").parse().unwrap();
    let seconds: usize = opt("--seconds", "15").parse().unwrap();
    let sink = Sink::start(Duration::from_millis(50));
    let backend = Retail::builder("projects/1/locations/global/catalogs/default_catalog")
        .endpoint(&sink.url)
        .tokens(Tokens::new(StaticToken::new("ya29.bench")))
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("tf-throttle-{}", std::process::id()));
    let consumer = BackgroundConsumer::builder(backend)
        .spool(trackflow::spool::Spool::open(&dir).unwrap())
        .build();
    let tracker = Arc::new(Tracker::builder().consumer(consumer).build().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let producer = produce(tracker.clone(), stop.clone());

    println!(
        "sink: {}, 50 ms per answer, in another process; Retail at its defaults",
        sink.url
    );
    println!("| phase | second | requests/s answered 200 | throttled/s | limit |");
    println!("|---|---|---|---|---|");
    let full = phase("no quota", 5, &sink, &tracker);
    let full_rate = mean(&full[2..]).0;
    sink.quota(quota);
    let limited = phase(&format!("quota {quota}/s"), seconds, &sink, &tracker);
    sink.quota(0);
    let lifted_at = Instant::now();
    let mut recovered = None;
    for s in 0..20 {
        let (ok, _) = second(&sink, &tracker, "lifted", s);
        if ok >= 0.9 * full_rate {
            recovered = Some(lifted_at.elapsed());
            break;
        }
    }
    stop.store(true, Ordering::Release);
    producer.join().unwrap();
    let (ok, throttled) = mean(&limited[limited.len() / 3..]);
    println!();
    println!("full speed: {full_rate:.0} requests/s");
    println!(
        "under the quota (last two thirds): {ok:.0} requests/s answered 200 = {:.1}% of {quota}; throttled {:.1}% of requests",
        100.0 * ok / quota as f64,
        100.0 * throttled / (ok + throttled).max(1.0)
    );
    match recovered {
        Some(t) => println!("quota lifted: ≥ 90% of full speed after {:.1} s", t.as_secs_f64()),
        None => println!("quota lifted: not back to 90% of full speed within 20 s"),
    }
    let tracker = Arc::into_inner(tracker).expect("the producer is done");
    let report = tracker.shutdown(Duration::from_secs(120)).unwrap();
    let s = report.stats;
    assert_eq!(s.accepted, s.delivered + s.failed + s.dropped + report.left);
    assert_eq!(s.failed, 0, "{s:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keeps about 20,000 events waiting until stopped.
fn produce(tracker: Arc<Tracker>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0u64;
        while !stop.load(Ordering::Acquire) {
            if tracker.backend_stats().first().map_or(0, |b| b.queue_depth) > 20_000 {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            for _ in 0..1000 {
                let who = Identity::anonymous(format!("visitor-{i}"));
                let e = Event::track("home-page-view").with_identity(who);
                tracker.record(e).unwrap();
                i += 1;
            }
        }
    })
}

/// `seconds` one-second samples: (answered 200, throttled) per second.
fn phase(name: &str, seconds: usize, sink: &Sink, tracker: &Tracker) -> Vec<(f64, f64)> {
    (0..seconds).map(|s| second(sink, tracker, name, s)).collect()
}

fn second(sink: &Sink, tracker: &Tracker, name: &str, s: usize) -> (f64, f64) {
    let before = sink.counts();
    std::thread::sleep(Duration::from_secs(1));
    let after = sink.counts();
    let d = |f: fn(&Counts) -> u64| (f(&after) - f(&before)) as f64;
    let throttled = d(|c| c.throttled);
    let ok = d(|c| c.requests) - throttled;
    let limit = tracker.backend_stats().first().map_or(0, |b| b.limit);
    println!("| {name} | {s} | {ok:.0} | {throttled:.0} | {limit} |");
    (ok, throttled)
}

fn mean(samples: &[(f64, f64)]) -> (f64, f64) {
    let n = samples.len().max(1) as f64;
    let sum = samples.iter().fold((0.0, 0.0), |a, s| (a.0 + s.0, a.1 + s.1));
    (sum.0 / n, sum.1 / n)
}
