//! Delivery to a collector that is far away: a sink in another process answers each request
//! after a fixed delay (50 ms by default), and one producer tracks the standard event (its
//! properties built in the loop) through a Background consumer at its defaults but for
//! `max_in_flight` (0: the default, adaptive up to 8). Reports delivered events/s beside the bound `in_flight × events per
//! request / RTT`, the sink's own count of what arrived, and `track()`'s mean and max.
//!
//! `cargo bench --bench latency --all-features` (`-- --delay-ms 50 --in-flight 1,8,32
//! --backends growingio,gravity,personalize,retail --seconds 3`). Workloads of many users:
//! `--users 10000` (Personalize: sessions of 1–3 events, each of its own user among 10,000)
//! and `--clients 1000` (Gravity: events of 1,000 clients in random order, one in ten a
//! profile `set`); the bound then counts the events per request the sink saw.
//!
//! The sink is this binary again (see `common::sink`): it counts events as each protocol marks
//! them, so a lost or doubled event shows as a mismatch.

mod common;

use std::time::{Duration, Instant};

use common::sink::Sink;

use trackflow::auth::aws::Credentials;
use trackflow::auth::google::{StaticToken, Tokens};
use trackflow::backend::gravity::Gravity;
use trackflow::backend::personalize::Personalize;
use trackflow::backend::retail::Retail;
use trackflow::{
    spool::Spool, Backend, BackgroundConsumer, Event, GrowingIo, Identity, Interaction, InteractionItem,
    Tracker,
};

fn main() {
    if common::sink::serve_if_child() {
        return;
    }
    let opt = common::opt;
    let delay_ms: u64 = opt("--delay-ms", "50").parse().unwrap();
    let seconds: f64 = opt("--seconds", "3").parse().unwrap();
    let widths: Vec<usize> = opt("--in-flight", "1,8,32")
        .split(',')
        .map(|w| w.parse().unwrap())
        .collect();
    let backends = opt("--backends", "growingio,gravity,personalize,retail");
    let workload = Workload {
        users: opt("--users", "0").parse().unwrap(),
        clients: opt("--clients", "0").parse().unwrap(),
    };
    let sink = Sink::start(Duration::from_millis(delay_ms));
    println!(
        "sink: {}, {delay_ms} ms per reply, in another process; 1 producer; standard event",
        sink.url
    );
    println!(
        "| backend | max_in_flight | events | took | delivered/s | bound | of bound | sink counted | track() mean | track() max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for backend in backends.split(',') {
        for &w in &widths {
            run(backend, w, delay_ms, seconds, &sink, workload);
        }
    }
}

/// Many users (Personalize) or clients (Gravity) instead of the default workload; 0: default.
#[derive(Clone, Copy)]
struct Workload {
    users: usize,
    clients: usize,
}

fn run(backend: &str, width: usize, delay_ms: u64, seconds: f64, sink: &Sink, w: Workload) {
    let url = &sink.url;
    // Events per request: a whole batch where the workload fills one request (GrowingIO,
    // Gravity's one client), one where each event is a request of its own; a first guess
    // for many users, corrected by what the sink saw.
    let per = match backend {
        "growingio" => make(backend, url).max_batch(),
        "gravity" if w.clients > 0 => 2,
        "personalize" if w.users > 0 => 2,
        // Its envelope holds 20 events of one client (a delivery takes more: issue 27).
        "gravity" => trackflow::backend::gravity::DEFAULT_MAX_BATCH,
        _ => 1,
    };
    // 0: the default, an adaptive limit up to DEFAULT_MAX_IN_FLIGHT.
    let adaptive = width == 0;
    let width = if adaptive {
        trackflow::delivery::DEFAULT_MAX_IN_FLIGHT
    } else {
        width
    };
    let rtt = Duration::from_millis(delay_ms.max(1)).as_secs_f64();
    let bound = (width * per) as f64 / rtt;
    // Enough for `seconds` at the bound, in whole requests; `LATENCY_EVENTS=n` sets the count
    // (a collector 1 ms away is bounded by this machine, and 1.2M events last 1.5 s there).
    let n = std::env::var("LATENCY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| ((bound * seconds) as usize).clamp(per * width * 2, 1_200_000) / per * per);
    let before = sink.counts();
    let dir = std::env::temp_dir().join(format!("tf-latency-{}-{backend}-{width}", std::process::id()));
    let builder = BackgroundConsumer::builder(make(backend, url));
    let builder = if adaptive {
        // `LATENCY_CEILING=N`: the adaptive limit's ceiling instead of the default.
        match std::env::var("LATENCY_CEILING").ok().and_then(|v| v.parse().ok()) {
            Some(c) => builder.in_flight_ceiling(c),
            None => builder,
        }
    } else {
        builder.max_in_flight(width)
    };
    let consumer = builder
        // `LATENCY_QUEUE=N`: a larger memory queue than the default 10,000.
        .queue_capacity(
            std::env::var("LATENCY_QUEUE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(trackflow::consumer::DEFAULT_QUEUE_CAPACITY),
        )
        .spool(Spool::open(&dir).unwrap())
        .build();
    let tracker = Tracker::builder().consumer(consumer).build().unwrap();
    let start = Instant::now();
    let (mut total, mut max) = (Duration::ZERO, Duration::ZERO);
    for i in 0..n {
        let t = Instant::now();
        tracker.record(event(backend, i, w)).unwrap();
        let took = t.elapsed();
        total += took;
        max = max.max(took);
    }
    let limit = tracker.backend_stats().first().map_or(0, |b| b.limit);
    let report = tracker.shutdown(Duration::from_secs(600)).unwrap();
    eprintln!("{backend}: the limit at the end: {limit}");
    let took = start.elapsed();
    let s = report.stats;
    assert_eq!(
        (s.delivered, s.failed, s.dropped),
        (n as u64, 0, 0),
        "{backend} at {width}: {s:?}"
    );
    let after = sink.counts();
    let counted = after.events - before.events;
    let requests = (after.requests - before.requests).max(1);
    let rate = n as f64 / took.as_secs_f64();
    // The bound by the events per request the sink saw (where a workload sets it).
    let per_seen = counted as f64 / requests as f64;
    let bound = if w.users + w.clients > 0 {
        width as f64 * per_seen / rtt
    } else {
        bound
    };
    println!(
        "| {backend} | {width} | {n} | {:.2} s | {:.0} | {:.0} | {:.0}% | {counted}{} | {:.2} µs | {:.1} ms |",
        took.as_secs_f64(),
        rate,
        bound,
        100.0 * rate / bound,
        if counted == n as u64 { "" } else { " MISMATCH" },
        total.as_secs_f64() * 1e6 / n as f64,
        max.as_secs_f64() * 1e3,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn make(backend: &str, url: &str) -> Box<dyn Backend> {
    match backend {
        "growingio" => Box::new(GrowingIo::builder(url, "p", "d").build().unwrap()),
        "gravity" => Box::new(
            Gravity::builder(format!("{url}/collect/?access_token=t"))
                .compress(false)
                .build()
                .unwrap(),
        ),
        "personalize" => Box::new(
            Personalize::builder()
                .region("us-east-1")
                .endpoint(url)
                .credentials(Credentials::new("AKIDEXAMPLE", "secret-example-key", None))
                .tracking_id("tracking-0001")
                .build()
                .unwrap(),
        ),
        "retail" => Box::new(
            Retail::builder("projects/1/locations/global/catalogs/default_catalog")
                .endpoint(url)
                .tokens(Tokens::new(StaticToken::new("ya29.bench")))
                .build()
                .unwrap(),
        ),
        other => panic!("unknown backend {other}"),
    }
}

/// The standard event. Gravity's envelope holds one client, so its default workload is one
/// client (a server-side importer); Personalize's and Retail's are distinct users, one per
/// event.
fn event(backend: &str, i: usize, w: Workload) -> Event {
    let props = common::standard_properties(i as u64);
    if backend == "gravity" && w.clients > 0 {
        return many_clients(i, w.clients).with_properties(props);
    }
    let who = match backend {
        "gravity" => Identity::anonymous("client-1"),
        "personalize" if w.users > 0 => {
            // Sessions of 1, 2 and 3 events in turn: 3 sessions every 6 events.
            let k = i / 6 * 3 + [0, 1, 1, 2, 2, 2][i % 6];
            Identity::user(format!("user-{}", k % w.users)).with_session(format!("s-{k}"))
        }
        "personalize" => Identity::user(format!("user-{i}")).with_session(format!("s-{i}")),
        "retail" => Identity::anonymous(format!("visitor-{i}")),
        _ => Identity::user(format!("user-{}", i % 1000)),
    };
    let name = if backend == "retail" {
        "home-page-view"
    } else {
        "purchase"
    };
    let e = Event::track(name).with_identity(who).with_properties(props);
    if backend == "personalize" {
        e.with_interaction(Interaction::new().item(InteractionItem::new("sku-1")))
    } else {
        e
    }
}

/// Event `i` of `clients` clients in random order, one in ten a profile `set`.
fn many_clients(i: usize, clients: usize) -> Event {
    // A fixed mix (splitmix64) so every run sends the same sequence.
    let mut x = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let client = Identity::anonymous(format!("client-{}", (x ^ (x >> 31)) % clients as u64));
    let e = if i % 10 == 9 {
        Event::profile(trackflow::ProfileOp::Set)
    } else {
        Event::track("purchase")
    };
    e.with_identity(client)
}
