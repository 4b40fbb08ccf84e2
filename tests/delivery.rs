//! Consumers and transport over real HTTP: batching by size and time, flush and shutdown
//! semantics, overflow policies, retries, and two producers with no event lost or misattributed.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use support::{fast_transport, Collector, Reply};
use trackflow::{
    BackgroundConsumer, Error, Event, GrowingIo, Identity, ImmediateConsumer, Overflow, Properties, Tracker,
};

fn gio(c: &Collector) -> GrowingIo {
    GrowingIo::builder(c.url(), "p", "d")
        .transport(fast_transport())
        .build()
        .unwrap()
}

fn who(i: usize) -> Identity {
    Identity::user(format!("user-{i}"))
}

fn names(c: &Collector) -> Vec<Vec<String>> {
    c.requests()
        .iter()
        .map(|r| {
            r.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["eventName"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn background_batches_by_size() {
    let c = Collector::ok();
    let consumer = BackgroundConsumer::builder(gio(&c))
        .max_batch(3)
        .flush_interval(Duration::from_secs(60))
        // Batches are compared in order of arrival.
        .max_in_flight(1)
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    for i in 0..7 {
        t.track(&who(i), &format!("e{i}"), Properties::new()).unwrap();
    }
    assert!(c.wait_for(2, Duration::from_secs(5)));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(names(&c), [vec!["e0", "e1", "e2"], vec!["e3", "e4", "e5"]]);
    t.flush().unwrap();
    assert_eq!(names(&c)[2], ["e6"]);
}

#[test]
fn background_batches_by_time() {
    let c = Collector::ok();
    let consumer = BackgroundConsumer::builder(gio(&c))
        .max_batch(100)
        .flush_interval(Duration::from_millis(100))
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    t.track(&who(1), "a", Properties::new()).unwrap();
    t.track(&who(2), "b", Properties::new()).unwrap();
    // No flush: only the timer can send these.
    assert!(c.wait_for(1, Duration::from_secs(5)), "the timer never fired");
    assert_eq!(names(&c), [vec!["a", "b"]]);
    // The collector records a request before it answers; the count follows the answer.
    assert!(support::eventually(Duration::from_secs(5), || t
        .stats()
        .delivered
        == 2));
}

#[test]
fn flush_returns_only_after_everything_before_it_was_delivered() {
    let c = Collector::ok();
    let consumer = BackgroundConsumer::builder(gio(&c))
        .max_batch(100)
        .flush_interval(Duration::from_secs(60))
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    for i in 0..1050 {
        t.track(&who(i), "e", Properties::new()).unwrap();
    }
    t.flush().unwrap();
    // No waiting: flush's return is the guarantee.
    assert_eq!(c.json_events().len(), 1050);
    let s = t.stats();
    assert_eq!((s.accepted, s.delivered, s.pending()), (1050, 1050, 0));
}

#[test]
fn shutdown_returns_within_its_deadline_and_reports_what_was_left() {
    // Every request fails with 503 and a long Retry-After: without the deadline the worker
    // would wait minutes.
    let c = Collector::start(|_, _| Reply::Status(503, vec![("Retry-After", "30".into())], String::new()));
    let failed = Arc::new(Mutex::new(Vec::<(String, usize)>::new()));
    let f = failed.clone();
    let dir = support::temp_dir("deadline-left");
    let consumer = BackgroundConsumer::builder(
        GrowingIo::builder(c.url(), "p", "d").build().unwrap(), // default policy: honours 30 s
    )
    .spool(trackflow::spool::Spool::open(&dir).unwrap())
    .on_error(move |e, events| f.lock().push((e.to_string(), events.len())))
    .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    for i in 0..5 {
        t.track(&who(i), "e", Properties::new()).unwrap();
    }
    let start = Instant::now();
    let report = t.shutdown(Duration::from_millis(800)).unwrap();
    let took = start.elapsed();
    assert!(took < Duration::from_millis(1300), "shutdown took {took:?}");
    assert!(!report.completed);
    // Not failed: kept in the store, for the next tracker on the directory.
    assert_eq!((report.left, report.stats.failed), (5, 0));
    assert!(failed.lock().is_empty(), "{:?}", failed.lock());
    assert!(matches!(
        t.track(&who(1), "late", Properties::new()),
        Err(Error::AlreadyShutdown)
    ));
    drop(t);
    // The next tracker delivers them first, by itself.
    let up = Collector::ok();
    let next = Tracker::builder()
        .consumer(
            BackgroundConsumer::builder(gio(&up))
                .spool(trackflow::spool::Spool::open(&dir).unwrap())
                .build(),
        )
        .build()
        .unwrap();
    let report = next.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (report.stats.recovered, report.stats.delivered, report.left),
        (5, 5, 0)
    );
    assert_eq!(up.json_events().len(), 5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shutdown_with_a_stalled_collector_gives_up_at_the_deadline() {
    let c = Collector::start(|_, _| Reply::Stall(Duration::from_secs(10), 200));
    let dir = support::temp_dir("stalled");
    let t = Tracker::builder()
        .consumer(
            BackgroundConsumer::builder(gio(&c))
                .spool(trackflow::spool::Spool::open(&dir).unwrap())
                .build(),
        )
        .build()
        .unwrap();
    for i in 0..5 {
        t.track(&who(i), "e", Properties::new()).unwrap();
    }
    let start = Instant::now();
    let report = t.shutdown(Duration::from_millis(500)).unwrap();
    // Far from the collector's 10 s: the deadline, plus at most the 2 s the design gives local
    // spooling, plus slack for a loaded 2-core machine (CI once took 1.7 s against a 1 s bound).
    assert!(
        start.elapsed() < Duration::from_millis(3000),
        "{:?}",
        start.elapsed()
    );
    assert!(!report.completed);
    assert_eq!(report.left, 5, "{report:?}");
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A collector that holds each request until released, so the queue can be filled at will.
fn gated() -> (Collector, Arc<(Mutex<bool>, parking_lot::Condvar)>) {
    let gate = Arc::new((Mutex::new(false), parking_lot::Condvar::new()));
    let g = gate.clone();
    let c = Collector::start(move |_, _| {
        let mut open = g.0.lock();
        while !*open {
            g.1.wait(&mut open);
        }
        Reply::ok()
    });
    (c, gate)
}

fn open(gate: &(Mutex<bool>, parking_lot::Condvar)) {
    *gate.0.lock() = true;
    gate.1.notify_all();
}

fn small_queue(c: &Collector, overflow: Overflow) -> Tracker {
    let consumer = BackgroundConsumer::builder(gio(c))
        .queue_capacity(4)
        .max_batch(1)
        // One request held, the queue behind it: the counts below are the queue's.
        .max_in_flight(1)
        .overflow(overflow)
        .build();
    Tracker::builder().consumer(consumer).build().unwrap()
}

#[test]
fn drop_newest_drops_and_counts_when_full() {
    let (c, gate) = gated();
    let t = small_queue(&c, Overflow::DropNewest);
    let mut ok = 0;
    let mut full = 0;
    for i in 0..20 {
        match t.track(&who(i), "e", Properties::new()) {
            Ok(()) => ok += 1,
            Err(Error::QueueFull) => full += 1,
            Err(e) => panic!("{e}"),
        }
        if i == 0 {
            // Let the worker take the first event into its (blocked) request.
            assert!(c.wait_for(1, Duration::from_secs(5)));
        }
    }
    assert_eq!(ok, 5, "one in flight plus a queue of four");
    assert_eq!(full, 15);
    open(&gate);
    let report = t.shutdown(Duration::from_secs(5)).unwrap();
    let s = report.stats;
    assert_eq!((s.accepted, s.delivered, s.dropped, s.failed), (20, 5, 15, 0));
    assert_eq!(c.json_events().len(), 5);
}

#[test]
fn block_with_timeout_waits_then_drops() {
    let (c, gate) = gated();
    let t = small_queue(&c, Overflow::BlockTimeout(Duration::from_millis(100)));
    t.track(&who(0), "e", Properties::new()).unwrap();
    assert!(c.wait_for(1, Duration::from_secs(5)));
    for i in 1..5 {
        t.track(&who(i), "e", Properties::new()).unwrap();
    }
    let start = Instant::now();
    assert!(matches!(
        t.track(&who(9), "e", Properties::new()),
        Err(Error::QueueFull)
    ));
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "gave up after {:?}",
        start.elapsed()
    );
    open(&gate);
    let s = t.shutdown(Duration::from_secs(5)).unwrap().stats;
    assert_eq!((s.delivered, s.dropped), (5, 1));
}

#[test]
fn block_waits_for_room_and_loses_nothing() {
    let (c, gate) = gated();
    let t = small_queue(&c, Overflow::Block);
    let done = Arc::new(AtomicUsize::new(0));
    let (t2, d2) = (t.clone(), done.clone());
    let producer = thread::spawn(move || {
        for i in 0..20 {
            t2.track(&who(i), "e", Properties::new()).unwrap();
            d2.fetch_add(1, Ordering::SeqCst);
        }
    });
    assert!(c.wait_for(1, Duration::from_secs(5)));
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        done.load(Ordering::SeqCst),
        5,
        "the producer must be blocked on the full queue"
    );
    open(&gate);
    producer.join().unwrap();
    let s = t.shutdown(Duration::from_secs(5)).unwrap().stats;
    assert_eq!((s.delivered, s.dropped), (20, 0));
}

fn immediate_with_errors(c: &Collector) -> (Tracker, Arc<Mutex<Vec<String>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    let consumer = ImmediateConsumer::new(gio(c)).on_error(move |e, events| {
        e2.lock().push(format!("{e} ({} events)", events.len()));
    });
    (Tracker::builder().consumer(consumer).build().unwrap(), errors)
}

#[test]
fn retries_500_then_succeeds() {
    let c = Collector::start(|_, n| if n == 0 { Reply::status(500) } else { Reply::ok() });
    let (t, errors) = immediate_with_errors(&c);
    t.track(&who(1), "e", Properties::new()).unwrap();
    let reqs = c.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body, reqs[1].body, "the retry resends the same batch");
    let s = t.stats();
    assert_eq!((s.delivered, s.retried, s.failed), (1, 1, 0));
    assert!(errors.lock().is_empty());
}

#[test]
fn honours_retry_after_on_429() {
    let c = Collector::start(|_, n| {
        if n == 0 {
            Reply::Status(429, vec![("Retry-After", "1".into())], String::new())
        } else {
            Reply::ok()
        }
    });
    let (t, _) = immediate_with_errors(&c);
    t.track(&who(1), "e", Properties::new()).unwrap();
    let reqs = c.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at - reqs[0].at;
    // The fast test policy backs off 10-50 ms; only Retry-After explains a full second.
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[test]
fn retries_after_connection_reset() {
    let c = Collector::start(|_, n| if n < 2 { Reply::Close } else { Reply::ok() });
    let (t, errors) = immediate_with_errors(&c);
    t.track(&who(1), "e", Properties::new()).unwrap();
    assert_eq!(c.requests().len(), 3);
    assert_eq!(t.stats().retried, 2);
    assert!(errors.lock().is_empty());
}

#[test]
fn does_not_retry_400_and_reports_the_failure() {
    let c = Collector::start(|_, _| Reply::Status(400, vec![], "bad project".into()));
    let (t, errors) = immediate_with_errors(&c);
    let err = t.track(&who(1), "e", Properties::new()).unwrap_err();
    assert_eq!(err.to_string(), "http status: 400: bad project");
    assert_eq!(c.requests().len(), 1);
    let s = t.stats();
    assert_eq!((s.delivered, s.failed, s.retried), (0, 1, 0));
    assert_eq!(*errors.lock(), ["http status: 400: bad project (1 events)"]);
}

#[test]
fn gives_up_after_max_retries_and_counts_the_failure() {
    let c = Collector::start(|_, _| Reply::status(502));
    let (t, errors) = immediate_with_errors(&c);
    assert!(t.track(&who(1), "e", Properties::new()).is_err());
    assert_eq!(c.requests().len(), 4, "1 attempt + 3 retries");
    assert_eq!(t.stats().failed, 1);
    assert_eq!(errors.lock().len(), 1);
}

#[test]
fn two_producers_50k_each_arrive_exactly_once_under_their_own_user() {
    const PER: usize = 50_000;
    let c = Collector::ok();
    let t = Tracker::builder()
        .consumer(BackgroundConsumer::builder(gio(&c)).build())
        .build()
        .unwrap();
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let t = t.clone();
            thread::spawn(move || {
                for i in 0..PER {
                    let who = Identity::user(format!("p{p}-user-{}", i % 1000));
                    t.track(
                        &who,
                        "purchase",
                        Properties::new().with("producer", p as i64).with("seq", i as i64),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let report = t.shutdown(Duration::from_secs(30)).unwrap();
    assert!(report.completed);
    assert_eq!(report.stats.delivered, 2 * PER as u64);
    let mut seen = HashSet::new();
    for e in c.json_events() {
        let p = e["attributes"]["producer"].as_i64().unwrap();
        let i = e["attributes"]["seq"].as_i64().unwrap();
        assert_eq!(
            e["userId"],
            format!("p{p}-user-{}", i % 1000),
            "event under a wrong user: {e}"
        );
        assert!(seen.insert((p, i)), "duplicate {p}/{i}");
    }
    assert_eq!(seen.len(), 2 * PER, "lost events");
}

#[test]
fn fan_out_delivers_to_every_consumer() {
    let (a, b) = (Collector::ok(), Collector::ok());
    let memory = trackflow::MemoryBackend::new();
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(gio(&a)))
        .consumer(BackgroundConsumer::builder(gio(&b)).build())
        .consumer(ImmediateConsumer::new(memory.clone()))
        .build()
        .unwrap();
    t.track(&who(1), "e", Properties::new()).unwrap();
    t.flush().unwrap();
    assert_eq!(
        (
            a.json_events().len(),
            b.json_events().len(),
            memory.events().len()
        ),
        (1, 1, 1)
    );
    // GrowingIO cannot carry user_increment: the memory backend still gets it, and each
    // GrowingIO consumer counts it as skipped.
    t.user_increment(&who(1), [("n", 1)]).unwrap();
    assert_eq!(memory.events().len(), 2);
    let skipped: Vec<(String, u64)> = t
        .backend_stats()
        .into_iter()
        .map(|s| (s.name, s.skipped))
        .collect();
    assert_eq!(
        skipped,
        [
            ("growingio".into(), 1),
            ("growingio-2".into(), 1),
            ("memory".into(), 0)
        ]
    );
}

#[test]
fn super_properties_static_and_dynamic_with_event_properties_winning() {
    let memory = trackflow::MemoryBackend::new();
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(memory.clone()))
        .super_properties(Properties::new().with("app", "shop").with("v", 1))
        .dynamic_super_properties(move || {
            Properties::new().with("call", n2.fetch_add(1, Ordering::SeqCst) as i64)
        })
        .build()
        .unwrap();
    t.track(&who(1), "e", Properties::new().with("v", 2)).unwrap();
    t.track(&who(1), "e", Properties::new()).unwrap();
    t.user_set(&who(1), [("plan", "pro")]).unwrap();
    let ev = memory.events();
    assert_eq!(ev[0].properties.keys().collect::<Vec<_>>(), ["app", "v", "call"]);
    assert_eq!(ev[0].properties.get("v"), Some(&2.into()));
    assert_eq!(ev[1].properties.get("call"), Some(&1.into()));
    assert_eq!(
        ev[2].properties.keys().collect::<Vec<_>>(),
        ["plan"],
        "profile events get no supers"
    );
    let err = t
        .set_super_properties(Properties::new().with("bad", f64::NAN))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: super_properties.bad: must be a finite number, not NaN"
    );
}

#[test]
fn a_panicking_dynamic_callback_does_not_lose_the_event() {
    let memory = trackflow::MemoryBackend::new();
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(memory.clone()))
        .dynamic_super_properties(|| panic!("boom"))
        .build()
        .unwrap();
    t.track(&who(1), "e", Properties::new()).unwrap();
    assert_eq!(memory.events().len(), 1);
}

#[test]
fn guard_drop_delivers_what_was_queued() {
    let c = Collector::ok();
    {
        let t = Tracker::builder()
            .consumer(
                BackgroundConsumer::builder(gio(&c))
                    .flush_interval(Duration::from_secs(60))
                    .build(),
            )
            .build()
            .unwrap();
        let guard = t.guard();
        for i in 0..10 {
            guard.track(&who(i), "e", Properties::new()).unwrap();
        }
    }
    assert_eq!(c.json_events().len(), 10);
}

#[test]
fn prebuilt_events_keep_their_id_and_time() {
    let memory = trackflow::MemoryBackend::new();
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(memory.clone()))
        .build()
        .unwrap();
    t.record(
        Event::track("e")
            .with_identity(who(1))
            .with_time(5)
            .with_insert_id("id-1"),
    )
    .unwrap();
    t.record(Event::track("e").with_identity(who(1))).unwrap();
    let ev = memory.events();
    assert_eq!((ev[0].time, ev[0].insert_id.to_string().as_str()), (5, "id-1"));
    assert!(ev[1].time > 1_600_000_000_000 && ev[1].insert_id.len() == 36);
}
