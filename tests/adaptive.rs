//! The limit of requests in flight finds the collector's pace by itself: it rises while
//! answers come back in their usual time, and falls when they slow down or the collector
//! says "too many". Asserted on the limit's trajectory, request by request, not on wall time.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use support::{Collector, Reply};
use trackflow::{BackgroundConsumer, Consumer, Event, GrowingIo, Identity};

/// A collector answering after `delay` ms, or 429 while `throttle` is set.
fn collector(delay: Arc<AtomicU64>, throttle: Arc<AtomicBool>) -> Collector {
    Collector::start(move |_, _| {
        thread::sleep(Duration::from_millis(delay.load(Ordering::Relaxed)));
        if throttle.load(Ordering::Relaxed) {
            Reply::status(429)
        } else {
            Reply::ok()
        }
    })
}

/// Tracks without pause until `stop`, so that batches are always waiting for a request.
fn produce(consumer: Arc<BackgroundConsumer>, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let e = Event::track("open").with_identity(Identity::anonymous(format!("d{}", i % 50)));
            if consumer.consume(e).is_err() {
                thread::sleep(Duration::from_millis(1));
            }
            i += 1;
        }
    })
}

/// The limit after each of the next `n` requests the collector answers.
fn trajectory(c: &Collector, consumer: &BackgroundConsumer, n: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(n);
    let mut seen = c.requests().len();
    while out.len() < n {
        let now = c.requests().len();
        if now > seen {
            seen = now;
            out.push(BackgroundConsumer::flow(consumer).limit());
        } else {
            thread::sleep(Duration::from_millis(1));
        }
    }
    out
}

#[test]
fn the_limit_rises_under_a_fast_collector_and_falls_when_it_slows_or_throttles() {
    let (delay, throttle) = (Arc::new(AtomicU64::new(10)), Arc::new(AtomicBool::new(false)));
    let c = collector(delay.clone(), throttle.clone());
    let gio = GrowingIo::builder(c.url(), "p", "d")
        .max_batch(5)
        .transport(support::fast_transport())
        .build()
        .unwrap();
    let consumer = Arc::new(
        BackgroundConsumer::builder(gio)
            .flush_interval(Duration::from_millis(1))
            .spool(None)
            .build(),
    );
    assert_eq!(BackgroundConsumer::flow(&consumer).limit(), 2, "it starts low");
    let stop = Arc::new(AtomicBool::new(false));
    let producer = produce(consumer.clone(), stop.clone());

    let rising = trajectory(&c, &consumer, 300);
    let top = *rising.iter().max().unwrap();
    assert_eq!(
        top,
        BackgroundConsumer::flow(&consumer).max_in_flight(),
        "{rising:?}"
    );

    // Four times slower: the limit falls within a few windows.
    delay.store(40, Ordering::Relaxed);
    let slowed = trajectory(&c, &consumer, 60);
    assert!(slowed.iter().any(|&l| l < top), "{slowed:?}");

    // "Too many": halved at each throttling reply, down to one.
    delay.store(1, Ordering::Relaxed);
    throttle.store(true, Ordering::Relaxed);
    let throttled = trajectory(&c, &consumer, 12);
    assert!(throttled.iter().any(|&l| l <= 2), "{throttled:?}");

    stop.store(true, Ordering::Relaxed);
    throttle.store(false, Ordering::Relaxed);
    producer.join().unwrap();
    let report = consumer.shutdown(Duration::from_secs(10)).unwrap();
    let s = report.stats;
    assert_eq!(s.accepted, s.delivered + s.failed + s.dropped + report.left);
}
