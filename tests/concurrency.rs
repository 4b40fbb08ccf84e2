//! Requests in flight side by side, over loopback against collectors that take their time:
//! the in-flight bound holds (the collector counts what it is serving at once), nothing is
//! lost or sent twice, one client's Gravity profile operations keep their order, a 429 storm
//! slows the whole consumer, the rate limit spaces requests, and shutdown keeps its deadline.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use support::{fast_transport, Captured, Collector, Hold, Reply, Rng};
use trackflow::backend::gravity::Gravity;
use trackflow::transport::RetryPolicy;
use trackflow::{BackgroundConsumer, GrowingIo, Identity, Properties, Tracker};

/// What the Gravity collector answers when it took the batch.
fn gravity_ok() -> Reply {
    Reply::Status(
        200,
        vec![("Content-Type", "application/json".into())],
        r#"{"code":0,"msg":"ok","data":null,"extra":{}}"#.into(),
    )
}

/// Counts the requests being served at once, and the most at once so far.
#[derive(Default, Clone)]
struct Gauge {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Gauge {
    /// Serves a request: counted while `f` runs.
    fn serve<T>(&self, f: impl FnOnce() -> T) -> T {
        let n = self.now.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(n, Ordering::AcqRel);
        let r = f();
        self.now.fetch_sub(1, Ordering::AcqRel);
        r
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }
}

/// A collector answering 200 after `delay`, counting concurrency.
fn delaying(delay: Duration, reply: fn() -> Reply) -> (Collector, Gauge) {
    let gauge = Gauge::default();
    let g = gauge.clone();
    let c = Collector::start(move |_, _| {
        g.serve(|| std::thread::sleep(delay));
        reply()
    });
    (c, gauge)
}

/// Gravity, plain JSON, against `c`.
fn gravity(c: &Collector) -> Gravity {
    Gravity::builder(format!("{}/collect/?access_token=t", c.url()))
        .compress(false)
        .transport(fast_transport())
        .build()
        .unwrap()
}

fn gio(c: &Collector) -> GrowingIo {
    GrowingIo::builder(c.url(), "p", "d")
        .transport(fast_transport())
        .build()
        .unwrap()
}

/// Every `n` attribute GrowingIO received, with how often.
fn received(c: &Collector) -> HashMap<i64, usize> {
    let mut seen = HashMap::new();
    for e in c.json_events() {
        *seen.entry(e["attributes"]["n"].as_i64().unwrap()).or_default() += 1;
    }
    seen
}

fn track_n(t: &Tracker, range: std::ops::Range<i64>) {
    for n in range {
        t.track(
            &Identity::user(format!("u{}", n % 97)),
            "e",
            Properties::new().with("n", n),
        )
        .unwrap();
    }
}

#[test]
fn the_in_flight_bound_holds_and_every_event_arrives_once() {
    for width in [1usize, 4, 8] {
        let (c, gauge) = delaying(Duration::from_millis(20), Reply::ok);
        let consumer = BackgroundConsumer::builder(gio(&c))
            .max_batch(50)
            .max_in_flight(width)
            .spool(None)
            .build();
        let t = Tracker::builder().consumer(consumer).build().unwrap();
        track_n(&t, 0..3000);
        let report = t.shutdown(Duration::from_secs(60)).unwrap();
        assert!(report.completed, "{report:?}");
        assert_eq!(report.stats.delivered, 3000);
        let seen = received(&c);
        assert_eq!(seen.len(), 3000, "lost events at width {width}");
        assert!(
            seen.values().all(|&k| k == 1),
            "an event arrived twice at width {width}"
        );
        assert!(
            gauge.peak() <= width,
            "{} at once, over the bound {width}",
            gauge.peak()
        );
        // 60 batches of 20 ms: the lanes must have been used side by side.
        assert!(
            width == 1 || gauge.peak() >= 2,
            "never more than one at once at width {width}"
        );
    }
}

#[test]
fn the_bound_also_holds_for_requests_inside_one_batch() {
    // Gravity sends one request per client: a batch of 40 clients is 40 requests.
    let (c, gauge) = delaying(Duration::from_millis(15), gravity_ok);
    let ge = gravity(&c);
    let consumer = BackgroundConsumer::builder(ge)
        .max_in_flight(3)
        .spool(None)
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    for i in 0..400 {
        t.track(
            &Identity::anonymous(format!("c{}", i % 40)),
            "e",
            Properties::new(),
        )
        .unwrap();
    }
    let report = t.shutdown(Duration::from_secs(60)).unwrap();
    assert_eq!(report.stats.delivered, 400);
    let events: usize = c
        .requests()
        .iter()
        .map(|r| r.json()["event_list"].as_array().unwrap().len())
        .sum();
    assert_eq!(events, 400);
    assert!(gauge.peak() <= 3 && gauge.peak() >= 2, "peak {}", gauge.peak());
}

/// The `v` of every profile_set each client received, in arrival order.
fn profile_order(reqs: &[Captured]) -> HashMap<String, Vec<i64>> {
    let mut by_client: HashMap<String, Vec<i64>> = HashMap::new();
    for r in reqs {
        let body = r.json();
        let client = body["client_id"].as_str().unwrap().to_owned();
        for e in body["event_list"].as_array().unwrap() {
            if e["event"] == "profile_set" {
                by_client
                    .entry(client.clone())
                    .or_default()
                    .push(e["properties"]["v"].as_i64().unwrap());
            }
        }
    }
    by_client
}

#[test]
fn one_clients_gravity_profile_operations_stay_in_order() {
    // Replies take a random 0–15 ms: without the order keys, batches overtake each other.
    let rng = Arc::new(Mutex::new(Rng(7)));
    let c = Collector::start(move |_, _| {
        let ms = rng.lock().below(16);
        std::thread::sleep(Duration::from_millis(ms));
        gravity_ok()
    });
    let ge = gravity(&c);
    let consumer = BackgroundConsumer::builder(ge)
        .max_batch(7)
        .max_in_flight(8)
        .spool(None)
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    const CLIENTS: i64 = 3;
    const SETS: i64 = 200;
    for v in 0..SETS {
        for k in 0..CLIENTS {
            let who = Identity::anonymous(format!("c{k}"));
            t.user_set(&who, Properties::new().with("v", v)).unwrap();
            // Track events of many others in between, which may go in any order.
            t.track(
                &Identity::anonymous(format!("o{}", v * 3 + k)),
                "e",
                Properties::new(),
            )
            .unwrap();
        }
    }
    let report = t.shutdown(Duration::from_secs(60)).unwrap();
    assert_eq!(report.stats.delivered, (2 * CLIENTS * SETS) as u64);
    let order = profile_order(&c.requests());
    assert_eq!(order.len(), CLIENTS as usize);
    for (client, vs) in order {
        assert_eq!(
            vs,
            (0..SETS).collect::<Vec<_>>(),
            "{client}'s profile_set out of order"
        );
    }
}

#[test]
fn a_429_storm_slows_the_whole_consumer() {
    // For its first 600 ms the collector answers 429 (after 20 ms, so concurrency shows);
    // then 200 at once.
    let start: Arc<Mutex<Option<Instant>>> = Arc::default();
    let log: Arc<Mutex<Vec<(Duration, usize)>>> = Arc::default();
    let gauge = Gauge::default();
    let (s, l, g) = (start.clone(), log.clone(), gauge.clone());
    let c = Collector::start(move |_, _| {
        let t0 = *s.lock().get_or_insert_with(Instant::now);
        g.serve(|| {
            let at = t0.elapsed();
            l.lock().push((at, g.now.load(Ordering::Acquire)));
            if at < Duration::from_millis(600) {
                std::thread::sleep(Duration::from_millis(20));
                Reply::status(429)
            } else {
                Reply::ok()
            }
        })
    });
    let transport = trackflow::transport::HttpTransport::builder()
        .retry(
            RetryPolicy::default()
                .max_retries(50)
                .initial_backoff(Duration::from_millis(20))
                .max_backoff(Duration::from_millis(40)),
        )
        .build();
    let g = GrowingIo::builder(c.url(), "p", "d")
        .transport(transport)
        .build()
        .unwrap();
    let consumer = BackgroundConsumer::builder(g)
        .max_batch(20)
        .max_in_flight(8)
        .spool(None)
        .build();
    let flow = consumer.flow().clone();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    track_n(&t, 0..1000);
    let report = t.shutdown(Duration::from_secs(60)).unwrap();
    assert_eq!(report.stats.delivered, 1000, "{report:?}");
    assert_eq!(received(&c).len(), 1000);
    assert!(flow.throttled_count() > 0);
    let per_backend = &t.backend_stats()[0];
    assert_eq!(per_backend.throttled, flow.throttled_count());
    assert_eq!(per_backend.in_flight, 0);
    let log = log.lock().clone();
    let first_wave = log.iter().take(8).map(|(_, n)| *n).max().unwrap();
    // Once the first 429s are back (20 ms), the concurrency halves with each: from then
    // to the storm's end no more than two are served at once.
    let later = log
        .iter()
        .filter(|(at, _)| *at > Duration::from_millis(100) && *at < Duration::from_millis(600))
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0);
    assert!(
        first_wave >= 4,
        "the first wave went out side by side ({first_wave})"
    );
    assert!(
        later <= 2,
        "{later} at once during the storm, after the first 429s"
    );
    // Unthrottled, eight lanes retrying every 20–40 ms would send ~150 requests in 600 ms.
    let in_storm = log
        .iter()
        .filter(|(at, _)| *at < Duration::from_millis(600))
        .count();
    assert!(in_storm < 80, "{in_storm} requests during the storm");
}

#[test]
fn the_rate_limit_spaces_requests() {
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let a = arrivals.clone();
    let c = Collector::start(move |_, _| {
        a.lock().push(Instant::now());
        Reply::ok()
    });
    let consumer = BackgroundConsumer::builder(gio(&c))
        .max_batch(10)
        .max_in_flight(8)
        .rate_limit(50.0)
        .spool(None)
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    track_n(&t, 0..300);
    let report = t.shutdown(Duration::from_secs(60)).unwrap();
    assert_eq!(report.stats.delivered, 300);
    let arrivals = arrivals.lock().clone();
    assert_eq!(arrivals.len(), 30);
    // 29 gaps of 20 ms; any burst would make it shorter.
    let span = *arrivals.last().unwrap() - arrivals[0];
    assert!(
        span >= Duration::from_millis(29 * 20 - 15),
        "{span:?} for 30 requests at 50/s"
    );
}

#[test]
fn shutdown_keeps_its_deadline_with_every_lane_held_and_spools_them_all() {
    for round in 0..5 {
        let hold = Hold::default();
        let h = hold.clone();
        let c = Collector::start(move |_, _| Reply::Hold(h.clone()));
        let dir = support::temp_dir(&format!("concurrency-held-{round}"));
        let consumer = BackgroundConsumer::builder(gio(&c))
            .max_batch(25)
            .max_in_flight(8)
            .spool(trackflow::spool::Spool::open(&dir).unwrap())
            .build();
        let t = Tracker::builder().consumer(consumer).build().unwrap();
        track_n(&t, 0..1000);
        assert!(c.wait_for(8, Duration::from_secs(10)), "8 requests in flight");
        let started = Instant::now();
        let report = t.shutdown(Duration::from_millis(500)).unwrap();
        let took = started.elapsed();
        hold.release();
        let s = &report.stats;
        assert!(
            took < Duration::from_millis(500) + Duration::from_secs(2),
            "{took:?}"
        );
        assert_eq!(
            s.accepted,
            s.delivered + s.failed + s.dropped + report.left,
            "{s:?}"
        );
        assert_eq!((s.accepted, report.left), (1000, 1000));
        assert_eq!((s.delivered, s.failed), (0, 0));
        drop(t);
        // What the held requests carried was taken back: in the store, with everything queued.
        let spooled: HashSet<String> = support::spooled_ids(&dir).into_iter().collect();
        assert_eq!(spooled.len(), 1000, "round {round}: {s:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn the_config_sets_the_width_and_the_rate_and_refuses_what_is_out_of_range() {
    let base = "[backend]\nkind = \"growingio\"\nhost = \"http://127.0.0.1:9\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n";
    let ok = format!("[consumer]\nmax_in_flight = 16\nrate_limit = 250.5\n\n{base}");
    let cfg = trackflow::Config::from_toml_str(&ok).unwrap();
    assert_eq!(
        (cfg.consumer.max_in_flight, cfg.consumer.rate_limit),
        (Some(16), Some(250.5))
    );
    for (setting, rule) in [
        ("max_in_flight = 0", "consumer.max_in_flight must be at least 1"),
        (
            "rate_limit = 0.0",
            "consumer.rate_limit must be a positive number",
        ),
        (
            "rate_limit = -3.0",
            "consumer.rate_limit must be a positive number",
        ),
        (
            "rate_limit = nan",
            "consumer.rate_limit must be a positive number",
        ),
    ] {
        let err = trackflow::Config::from_toml_str(&format!("[consumer]\n{setting}\n\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(rule), "{setting}: {err}");
    }
}

#[test]
fn an_aws_throttling_error_in_the_body_alone_slows_the_consumer_too() {
    // Personalize answers 400 with `__type: ThrottlingException` and no error header.
    let c = Collector::start(|_, n| {
        if n < 2 {
            Reply::Status(
                400,
                vec![],
                r#"{"__type":"com.amazon#ThrottlingException","message":"Rate exceeded"}"#.into(),
            )
        } else {
            Reply::Status(200, vec![], "{}".into())
        }
    });
    let pz = trackflow::Personalize::builder()
        .region("us-east-1")
        .endpoint(c.url())
        .credentials(trackflow::auth::aws::Credentials::new(
            "AKIDEXAMPLE",
            "secret-key",
            None,
        ))
        .tracking_id("tracking-0001")
        .transport(fast_transport())
        .build()
        .unwrap();
    let consumer = BackgroundConsumer::builder(pz).spool(None).build();
    let flow = consumer.flow().clone();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    t.track(
        &Identity::user("u1").with_session("s1"),
        "purchase",
        Properties::new(),
    )
    .unwrap();
    let s = t.shutdown(Duration::from_secs(30)).unwrap().stats;
    assert_eq!((s.delivered, s.retried), (1, 2), "{s:?}");
    assert_eq!(flow.throttled_count(), 2);
}
