//! An outage longer than every retry, in the middle of a steady load: nothing to do for the
//! user. Two producers track 1,000 events a second; the collector stops answering for 60 s
//! (`TRACKFLOW_OUTAGE_SECS`), then comes back. With no replay call every event arrives within
//! twice the longest backoff after the recovery, the disk stays within its budget, and
//! `track()` does not slow down while the store spills.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use support::gio::attribute_ids;
use support::{temp_dir, Collector, Reply};
use trackflow::{spool::Spool, BackgroundConsumer, Event, GrowingIo, Identity, Properties, Tracker};

/// The longest redelivery backoff the test sets.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The disk budget the test sets.
const BUDGET: u64 = 32 << 20;
const RATE_PER_PRODUCER: u64 = 500;

fn outage() -> Duration {
    Duration::from_secs(
        std::env::var("TRACKFLOW_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    )
}

/// How long each `track()` call took, in nanoseconds, by phase: before, during, after.
#[derive(Default)]
struct Timings {
    phases: [Vec<u64>; 3],
}

fn p99(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len() * 99 / 100).copied().unwrap_or(0)
}

#[test]
fn a_long_outage_needs_nothing_from_the_user() {
    let down = Arc::new(AtomicBool::new(false));
    let d = down.clone();
    let arrived = Arc::new(Mutex::new(HashSet::<String>::new()));
    let a = arrived.clone();
    // Down: the connection is closed without an answer, as a dead collector's would be. Up:
    // what it answers 200 to has arrived.
    let _c = Collector::start(move |r, _| {
        if d.load(Ordering::Acquire) {
            return Reply::Close;
        }
        a.lock().extend(attribute_ids(r));
        Reply::ok()
    });
    let dir = temp_dir("outage");
    let gio = GrowingIo::builder(_c.url(), "p", "d")
        .transport(support::fast_transport())
        .build()
        .unwrap();
    let consumer = Arc::new(
        BackgroundConsumer::builder(gio)
            .redelivery(Duration::from_millis(200), MAX_BACKOFF)
            .max_disk_bytes(BUDGET)
            .spool(Spool::open(&dir).unwrap())
            .build(),
    );
    let tracker = Tracker::builder().consumer(consumer.clone()).build().unwrap();
    let phase = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let timings = Arc::new(Mutex::new(Timings::default()));
    let sent = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let (t, phase, stop, timings, sent) = (
                tracker.clone(),
                phase.clone(),
                stop.clone(),
                timings.clone(),
                sent.clone(),
            );
            thread::spawn(move || produce(p, &t, &phase, &stop, &timings, &sent))
        })
        .collect();

    let before = Duration::from_secs(5);
    thread::sleep(before);
    down.store(true, Ordering::Release);
    phase.store(1, Ordering::Release);
    let outage_began = Instant::now();
    let mut peak_disk = 0;
    while outage_began.elapsed() < outage() {
        thread::sleep(Duration::from_millis(250));
        let s = tracker.stats();
        peak_disk = peak_disk.max(s.disk_bytes);
        assert!(s.disk_bytes <= BUDGET, "disk over budget: {s:?}");
    }
    let during = tracker.stats();
    down.store(false, Ordering::Release);
    let recovered_at = Instant::now();
    phase.store(2, Ordering::Release);
    thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::Release);
    for p in producers {
        p.join().unwrap();
    }

    // Every event tracked before the recovery arrives within twice the longest backoff of
    // it, with no call from the user.
    let before_recovery: HashSet<String> = sent
        .lock()
        .iter()
        .filter(|(_, at)| *at < recovered_at)
        .map(|(id, _)| id.clone())
        .collect();
    let arrived_all = support::eventually(2 * MAX_BACKOFF + Duration::from_secs(5), || {
        let got = arrived.lock();
        before_recovery.iter().all(|id| got.contains(id))
    });
    let caught_up = recovered_at.elapsed();
    assert!(arrived_all, "not all arrived {caught_up:?} after the recovery");
    assert!(
        caught_up <= 2 * MAX_BACKOFF + Duration::from_secs(5),
        "caught up {caught_up:?} after the recovery"
    );
    let report = tracker.shutdown(Duration::from_secs(30)).unwrap();
    let s = report.stats;
    let all: HashSet<String> = sent.lock().iter().map(|(id, _)| id.clone()).collect();
    let got = arrived.lock().clone();
    assert!(report.completed, "{report:?}");
    assert_eq!((s.failed, s.dropped, report.left), (0, 0, 0), "{report:?}");
    assert_eq!(s.delivered as usize, all.len());
    assert!(all.iter().all(|id| got.contains(id)), "every event arrived");
    assert!(
        during.spilled > 0 && peak_disk > 0,
        "the outage went to disk: {during:?}"
    );

    let mut t = timings.lock();
    let (p99_before, p99_during) = (p99(&mut t.phases[0]), p99(&mut t.phases[1]));
    eprintln!(
        "outage {:?}: {} events, {} spilled, peak disk {peak_disk} B, caught up {caught_up:?} after recovery; track() p99 {p99_before} ns before, {p99_during} ns during",
        outage(),
        all.len(),
        during.spilled
    );
    assert!(
        p99_during <= 2 * p99_before.max(1),
        "track() p99 during the outage {p99_during} ns, before {p99_before} ns"
    );
    drop((tracker, consumer));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Tracks `RATE_PER_PRODUCER` events a second until `stop`, timing each call.
fn produce(
    p: usize,
    t: &Tracker,
    phase: &std::sync::atomic::AtomicUsize,
    stop: &AtomicBool,
    timings: &Mutex<Timings>,
    sent: &Mutex<Vec<(String, Instant)>>,
) {
    let start = Instant::now();
    let mut mine = [Vec::new(), Vec::new(), Vec::new()];
    let mut ids = Vec::new();
    for i in 0u64.. {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let due = start + Duration::from_micros(i * 1_000_000 / RATE_PER_PRODUCER);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let id = format!("o-{p}-{i}");
        let e = Event::track("view")
            .with_identity(Identity::user(format!("u{}", i % 50)))
            .with_properties(Properties::new().with("id", id.clone()));
        let ph = phase.load(Ordering::Acquire);
        let began = Instant::now();
        t.record(e).unwrap();
        mine[ph].push(began.elapsed().as_nanos() as u64);
        ids.push((id, began));
    }
    let mut all = timings.lock();
    for (ph, v) in mine.into_iter().enumerate() {
        all.phases[ph].extend(v);
    }
    sent.lock().extend(ids);
}
