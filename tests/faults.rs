//! Fault injection over loopback: every accepted event is delivered or spooled (0 lost), none
//! under a wrong user, duplicates only after an ambiguous timeout, memory bounded by the queue,
//! and shutdown within its deadline, whatever the collector does.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value as Json;
use support::{Captured, Collector, Reply};
use trackflow::transport::{HttpTransport, RetryPolicy};
use trackflow::{
    spool::Spool, BackgroundConsumer, Consumer, Error, Event, GrowingIo, Identity, Overflow, Properties,
    Tracker,
};

const PRODUCERS: usize = 2;
const PER_PRODUCER: usize = 1_000;
const CAPACITY: usize = 500;
const MAX_BATCH: usize = 100;

/// What the collector accepted (answered 2xx to), event by event.
type Accepted = Arc<Mutex<Vec<Json>>>;

fn accept(acc: &Accepted, r: &Captured) {
    acc.lock()
        .extend(r.json().as_array().cloned().unwrap_or_default());
}

fn temp_spool(name: &str) -> (Spool, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("trackflow-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    (Spool::open(&dir).unwrap(), dir)
}

fn transport(read_timeout: Duration) -> HttpTransport {
    HttpTransport::builder()
        .connect_timeout(Duration::from_millis(500))
        .read_timeout(read_timeout)
        .retry(
            RetryPolicy::default()
                .max_retries(4)
                .initial_backoff(Duration::from_millis(20))
                .max_backoff(Duration::from_millis(200))
                .max_retry_after(Duration::from_secs(2)),
        )
        .build()
}

struct Outcome {
    delivered: HashMap<String, usize>,
    spooled: HashSet<String>,
    shutdown_took: Duration,
    deadline: Duration,
    max_pending: u64,
}

/// Two producers track PER_PRODUCER events each through a Background consumer to `url`, then
/// shut down with `deadline`. Each event's id travels in its attributes, its user is derived
/// from the id so a misattribution shows.
fn run(name: &str, url: &str, accepted: &Accepted, t: HttpTransport, deadline: Duration) -> Outcome {
    let (spool, dir) = temp_spool(name);
    let gio = GrowingIo::builder(url, "p", "d").transport(t).build().unwrap();
    let consumer = Arc::new(
        BackgroundConsumer::builder(gio)
            .queue_capacity(CAPACITY)
            .max_batch(MAX_BATCH)
            .flush_interval(Duration::from_millis(50))
            .spool(spool)
            .build(),
    );
    let tracker = Tracker::builder().consumer(consumer.clone()).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let max_pending = Arc::new(AtomicU64::new(0));
    let monitor = {
        let (c, stop, max) = (consumer.clone(), stop.clone(), max_pending.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // In memory: what is pending less what waits on disk.
                max.fetch_max(
                    c.stats().pending().saturating_sub(c.spilled_pending()),
                    Ordering::Relaxed,
                );
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let t = tracker.clone();
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    let id = format!("p{p}-{i}");
                    let e = Event::track("e")
                        .with_identity(Identity::user(format!("u{}", i % 50)))
                        .with_insert_id(id.clone())
                        .with_properties(Properties::new().with("id", id));
                    t.record(e).unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let start = Instant::now();
    let report = tracker.shutdown(deadline).unwrap();
    let shutdown_took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    monitor.join().unwrap();
    assert_eq!(report.stats.accepted, (PRODUCERS * PER_PRODUCER) as u64);
    let s = report.stats;
    assert_eq!(s.accepted, s.delivered + s.failed + s.dropped, "{s:?}");
    // The disk queue's lock goes with the consumer.
    drop((tracker, consumer));

    let mut delivered: HashMap<String, usize> = HashMap::new();
    for e in accepted.lock().iter() {
        let id = e["attributes"]["id"].as_str().unwrap().to_owned();
        let i: usize = id.split('-').nth(1).unwrap().parse().unwrap();
        assert_eq!(
            e["userId"],
            format!("u{}", i % 50),
            "{id} arrived under a wrong user"
        );
        *delivered.entry(id).or_default() += 1;
    }
    let spooled: HashSet<String> = support::spooled_ids(&dir).into_iter().collect();
    let _ = std::fs::remove_dir_all(&dir);
    Outcome {
        delivered,
        spooled,
        shutdown_took,
        deadline,
        max_pending: max_pending.load(Ordering::Relaxed),
    }
}

/// Every accepted id was delivered or spooled; duplicates only when allowed; memory bounded.
fn assert_nothing_lost(o: &Outcome, duplicates_allowed: bool) {
    let mut lost = Vec::new();
    for p in 0..PRODUCERS {
        for i in 0..PER_PRODUCER {
            let id = format!("p{p}-{i}");
            if !o.delivered.contains_key(&id) && !o.spooled.contains(&id) {
                lost.push(id);
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} events lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let dups = o.delivered.values().filter(|n| **n > 1).count();
    if !duplicates_allowed {
        assert_eq!(dups, 0, "duplicates without an ambiguous timeout");
    }
    assert!(
        o.shutdown_took <= o.deadline + Duration::from_millis(200),
        "shutdown took {:?}",
        o.shutdown_took
    );
    // Queue, the worker's batch, the batches in flight, and each producer's event being
    // handed over (counted as accepted first).
    let bound = (CAPACITY + (1 + trackflow::delivery::DEFAULT_MAX_IN_FLIGHT) * MAX_BATCH + PRODUCERS) as u64;
    assert!(
        o.max_pending <= bound,
        "pending reached {} (bound {bound})",
        o.max_pending
    );
}

fn ok(acc: &Accepted, r: &Captured) -> Reply {
    accept(acc, r);
    Reply::ok()
}

#[test]
fn thirty_percent_of_requests_answered_500() {
    let acc: Accepted = Arc::default();
    let a = acc.clone();
    // Three requests in ten fail, but never one body more than its retries can absorb: with
    // batches in flight side by side, a batch's attempts no longer arrive one after another.
    let attempts: Mutex<HashMap<Vec<u8>, u32>> = Mutex::default();
    let c = Collector::start(move |r, n| {
        let mut seen = attempts.lock();
        let tries = seen.entry(r.body.clone()).or_default();
        *tries += 1;
        if n % 10 < 3 && *tries <= 4 {
            Reply::status(500)
        } else {
            ok(&a, r)
        }
    });
    let o = run(
        "500",
        &c.url(),
        &acc,
        transport(Duration::from_secs(2)),
        Duration::from_secs(10),
    );
    assert_nothing_lost(&o, false);
    assert!(o.spooled.is_empty(), "retries absorb a 30% error rate");
    assert_eq!(o.delivered.len(), PRODUCERS * PER_PRODUCER);
}

#[test]
fn connections_reset_mid_request() {
    let acc: Accepted = Arc::default();
    let a = acc.clone();
    let c = Collector::start(move |r, n| if n % 5 == 1 { Reply::Close } else { ok(&a, r) });
    let o = run(
        "reset",
        &c.url(),
        &acc,
        transport(Duration::from_secs(2)),
        Duration::from_secs(10),
    );
    assert_nothing_lost(&o, false);
}

#[test]
fn stalls_beyond_the_read_timeout() {
    // Stalled requests are accepted but answered after the client gave up: the retry is a
    // duplicate, the only kind this suite allows.
    let acc: Accepted = Arc::default();
    let a = acc.clone();
    let c = Collector::start(move |r, n| {
        accept(&a, r);
        if n % 10 == 3 {
            Reply::Stall(Duration::from_secs(5), 200)
        } else {
            Reply::ok()
        }
    });
    let o = run(
        "stall",
        &c.url(),
        &acc,
        transport(Duration::from_millis(400)),
        Duration::from_secs(20),
    );
    assert_nothing_lost(&o, true);
    assert!(
        o.delivered.values().any(|n| *n > 1),
        "the stalls made ambiguous timeouts"
    );
}

#[test]
fn retry_after_on_429() {
    let acc: Accepted = Arc::default();
    let a = acc.clone();
    let c = Collector::start(move |r, n| {
        if n.is_multiple_of(5) {
            Reply::Status(429, vec![("Retry-After", "1".into())], String::new())
        } else {
            ok(&a, r)
        }
    });
    let o = run(
        "429",
        &c.url(),
        &acc,
        transport(Duration::from_secs(2)),
        Duration::from_secs(20),
    );
    assert_nothing_lost(&o, false);
    assert!(o.spooled.is_empty());
}

#[test]
fn payload_too_large_splits_batches() {
    // Bodies over 8 KB are refused: a 100-event batch (~20 KB) is split until it fits.
    let acc: Accepted = Arc::default();
    let a = acc.clone();
    let c = Collector::start(move |r, _| {
        if r.body.len() > 8_000 {
            Reply::status(413)
        } else {
            ok(&a, r)
        }
    });
    let o = run(
        "413",
        &c.url(),
        &acc,
        transport(Duration::from_secs(2)),
        Duration::from_secs(10),
    );
    assert_nothing_lost(&o, false);
    assert_eq!(
        o.delivered.len(),
        PRODUCERS * PER_PRODUCER,
        "everything fits once split"
    );
}

#[test]
fn a_single_event_too_large_fails_with_a_clear_reason() {
    let c = Collector::start(|r, _| {
        if r.body.len() > 500 {
            Reply::status(413)
        } else {
            Reply::ok()
        }
    });
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    let gio = GrowingIo::builder(c.url(), "p", "d")
        .transport(transport(Duration::from_secs(1)))
        .build()
        .unwrap();
    let t = Tracker::builder()
        .consumer(
            trackflow::ImmediateConsumer::new(gio)
                .on_error(move |e, ev| e2.lock().push((e.to_string(), ev.len()))),
        )
        .build()
        .unwrap();
    let err = t
        .track(
            &Identity::user("u1"),
            "big",
            Properties::new().with("blob", "x".repeat(1000)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { bytes } if bytes > 1000), "{err}");
    assert!(
        errors.lock()[0]
            .0
            .starts_with("request too large: a single event makes a"),
        "{:?}",
        errors.lock()
    );
    // The transport's own byte limit splits the same way, without sending what is too large.
    let gio = GrowingIo::builder(c.url(), "p", "d")
        .transport(HttpTransport::builder().max_body_bytes(400).build())
        .build()
        .unwrap();
    let t = Tracker::builder()
        .consumer(trackflow::ImmediateConsumer::new(gio))
        .build()
        .unwrap();
    let before = c.requests().len();
    assert!(matches!(
        t.track(&Identity::user("u1"), "big", [("blob", "x".repeat(1000))]),
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(c.requests().len(), before, "nothing over the limit was sent");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn collector_down_then_back_and_everything_arrives_by_itself() {
    // 3 s down: longer than the transport's retries (about 1 s); the store keeps the rest
    // and sends it again once the collector is back, with no replay.
    let port = free_port();
    let acc: Accepted = Arc::default();
    let back = {
        let acc = acc.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_secs(3));
            Collector::start_on(port, move |r, _| ok(&acc, r))
        })
    };
    let url = format!("http://127.0.0.1:{port}");
    let (spool, dir) = temp_spool("down");
    let gio = GrowingIo::builder(&url, "p", "d")
        .transport(transport(Duration::from_secs(1)))
        .build()
        .unwrap();
    let tracker = Tracker::builder()
        .consumer(
            BackgroundConsumer::builder(gio)
                .queue_capacity(CAPACITY)
                .max_batch(MAX_BATCH)
                .spool(spool)
                .build(),
        )
        .build()
        .unwrap();
    for i in 0..2_000 {
        tracker
            .record(
                Event::track("e")
                    .with_identity(Identity::user(format!("u{}", i % 50)))
                    .with_properties([("id", format!("p0-{i}"))]),
            )
            .unwrap();
    }
    let report = tracker.shutdown(Duration::from_secs(20)).unwrap();
    let _collector = back.join().unwrap();
    let s = report.stats;
    assert_eq!(
        (s.delivered, s.failed, s.spooled, report.left),
        (2_000, 0, 0, 0),
        "{report:?}"
    );
    assert!(report.completed && s.retried > 0, "{report:?}");
    let ids: HashSet<String> = acc
        .lock()
        .iter()
        .map(|e| e["attributes"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        2_000,
        "every event delivered once the collector was back"
    );
    assert!(Spool::open(&dir).unwrap().pending_files().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Captures log records, for "reported once through log".
struct Logs(Mutex<Vec<String>>);

impl log::Log for Logs {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0.lock().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

/// Held by the tests whose consumers warn of a full queue, so that one test's count of
/// warnings is its own.
static QUEUE_FULL_WARNINGS: Mutex<()> = Mutex::new(());

fn logs() -> &'static Logs {
    static LOGS: OnceLock<&'static Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let l: &'static Logs = Box::leak(Box::new(Logs(Mutex::new(Vec::new()))));
        log::set_logger(l).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
        l
    })
}

/// A collector that never answers in time: the queue fills.
fn stalled() -> Collector {
    Collector::start(|_, _| Reply::Stall(Duration::from_secs(3), 200))
}

fn small(c: &Collector, overflow: Overflow) -> (Tracker, Arc<BackgroundConsumer>) {
    let gio = GrowingIo::builder(c.url(), "p", "d")
        .transport(transport(Duration::from_secs(10)))
        .build()
        .unwrap();
    let consumer = Arc::new(
        BackgroundConsumer::builder(gio)
            .queue_capacity(20)
            .max_batch(10)
            // The queue alone is measured: one batch out, as many held as the queue takes.
            .max_in_flight(1)
            .overflow(overflow)
            // Its own store: what a test leaves at its deadline goes nowhere near another's.
            .spool(trackflow::spool::Spool::open(support::temp_dir("small")).unwrap())
            .build(),
    );
    (
        Tracker::builder().consumer(consumer.clone()).build().unwrap(),
        consumer,
    )
}

#[test]
fn backpressure_drop_newest_counts_every_drop_and_warns_once() {
    // The logger is the process's: no other test may warn of a full queue meanwhile.
    let _alone = QUEUE_FULL_WARNINGS.lock();
    let logs = logs();
    // What earlier tests logged is not this test's.
    let before = logs.0.lock().len();
    let c = stalled();
    let (t, consumer) = small(&c, Overflow::DropNewest);
    let full = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let (t, full) = (t.clone(), full.clone());
            thread::spawn(move || {
                for i in 0..500 {
                    match t.track(&Identity::user(format!("u{i}")), "e", Properties::new()) {
                        Ok(()) => {}
                        Err(Error::QueueFull) => {
                            full.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let s = consumer.stats();
    assert!(s.dropped > 900, "{s:?}");
    assert_eq!(
        s.dropped as usize,
        full.load(Ordering::SeqCst),
        "every drop returned QueueFull and was counted"
    );
    assert!(consumer.queued() <= 20);
    let warnings: Vec<String> = logs
        .0
        .lock()
        .iter()
        .skip(before)
        .filter(|l| l.contains("queue full"))
        .cloned()
        .collect();
    assert_eq!(warnings.len(), 1, "one warning, not one per event: {warnings:?}");
    let report = t.shutdown(Duration::from_millis(300)).unwrap();
    assert_eq!(report.stats.dropped, s.dropped);
}

#[test]
fn backpressure_block_with_timeout_waits_each_time() {
    let _alone = QUEUE_FULL_WARNINGS.lock();
    let c = stalled();
    let (t, _) = small(&c, Overflow::BlockTimeout(Duration::from_millis(30)));
    let mut full = 0;
    let start = Instant::now();
    for i in 0..60 {
        if let Err(Error::QueueFull) = t.track(&Identity::user(format!("u{i}")), "e", Properties::new()) {
            full += 1;
        }
    }
    assert!(full >= 20, "{full}");
    assert!(
        start.elapsed() >= Duration::from_millis(30 * full as u64),
        "each refusal waited its timeout"
    );
    assert_eq!(t.stats().dropped, full as u64);
    t.shutdown(Duration::from_millis(300)).unwrap();
}

#[test]
fn a_panicking_error_callback_does_not_kill_the_worker() {
    let c = Collector::start(|_, n| if n == 0 { Reply::status(400) } else { Reply::ok() });
    let gio = GrowingIo::builder(c.url(), "p", "d").build().unwrap();
    let consumer = BackgroundConsumer::builder(gio)
        .max_batch(1)
        .spool(None)
        .on_error(|_, _| panic!("callback bug"))
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    t.track(&Identity::user("u1"), "first", Properties::new())
        .unwrap();
    t.flush().unwrap();
    t.track(&Identity::user("u1"), "second", Properties::new())
        .unwrap();
    t.flush().unwrap();
    let s = t.stats();
    assert_eq!((s.failed, s.delivered), (1, 1), "{s:?}");
}

/// A backend whose flush panics: the worker dies outside delivery.
#[derive(Debug)]
struct PanicsOnFlush(trackflow::MemoryBackend);

impl trackflow::Backend for PanicsOnFlush {
    fn name(&self) -> &'static str {
        "panics"
    }
    fn check(&self, _: &Event) -> trackflow::Result<()> {
        Ok(())
    }
    fn deliver(
        &self,
        b: &[Event],
        ctx: &trackflow::delivery::DeliveryCtx<'_>,
    ) -> trackflow::delivery::Delivery {
        self.0.deliver(b, ctx)
    }
    fn flush(&self) -> trackflow::Result<()> {
        panic!("flush bug")
    }
}

#[test]
fn a_dead_worker_is_detected_and_reported() {
    let logs = logs();
    let failed = Arc::new(AtomicUsize::new(0));
    let f2 = failed.clone();
    let dir = support::temp_dir("dead-worker");
    let consumer = BackgroundConsumer::builder(PanicsOnFlush(trackflow::MemoryBackend::new()))
        .flush_interval(Duration::from_secs(60))
        .spool(trackflow::spool::Spool::open(&dir).unwrap())
        .on_error(move |_, ev| {
            f2.fetch_add(ev.len(), Ordering::SeqCst);
        })
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    t.track(&Identity::user("u1"), "e", Properties::new()).unwrap();
    let flushed = t.flush();
    assert!(matches!(flushed, Err(Error::WorkerGone)), "{flushed:?}");
    let err = t
        .track(&Identity::user("u1"), "after", Properties::new())
        .unwrap_err();
    assert!(matches!(err, Error::WorkerGone), "{err}");
    // Not lost, not failed: kept in the store for the next tracker on the directory.
    assert_eq!(failed.load(Ordering::SeqCst), 0);
    assert_eq!(t.stats().disk_events, 1, "{:?}", t.stats());
    let report = t.shutdown(Duration::from_secs(2)).unwrap();
    assert_eq!((report.stats.delivered, report.left), (1, 1), "{report:?}");
    drop(t);
    assert_eq!(support::spooled_ids(&dir).len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        logs.0
            .lock()
            .iter()
            .filter(|l| l.contains("worker thread stopped"))
            .count(),
        1
    );
}

#[test]
fn a_refused_connection_keeps_its_io_error_as_source_and_no_secret() {
    use std::error::Error as _;
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/collect?access_token=SECRET-TOKEN-123");
    let gio = GrowingIo::builder(&url, "p", "d")
        .transport(support::no_retry_transport())
        .build()
        .unwrap();
    let t = Tracker::builder()
        .consumer(trackflow::ImmediateConsumer::new(gio))
        .build()
        .unwrap();
    let err = t
        .track(&Identity::user("u1"), "e", Properties::new())
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err}");
    let source = err.source().expect("the cause is kept");
    let io = source.downcast_ref::<std::io::Error>().expect("an io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused, "{io}");
    let mut chain = format!("{err} {err:?}");
    let mut next = err.source();
    while let Some(e) = next {
        chain.push_str(&format!(" {e} {e:?}"));
        next = e.source();
    }
    assert!(!chain.contains("SECRET-TOKEN-123"), "{chain}");
}
