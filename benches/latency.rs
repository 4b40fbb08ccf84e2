//! Delivery to a collector that is far away: a sink in another process answers each request
//! after a fixed delay (50 ms by default), and one producer tracks the standard event (its
//! properties built in the loop) through a Background consumer at its defaults but for
//! `max_in_flight`. Reports delivered events/s beside the bound `in_flight × events per
//! request / RTT`, the sink's own count of what arrived, and `track()`'s mean and max.
//!
//! `cargo bench --bench latency --all-features` (`-- --delay-ms 50 --in-flight 1,8,32
//! --backends growingio,gravity,personalize,retail --seconds 3`).
//!
//! The sink is this binary again (`TF_LATENCY_SINK=<ms>`): it counts events as each protocol
//! marks them, so a lost or doubled event shows as a mismatch.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use trackflow::auth::aws::Credentials;
use trackflow::auth::google::{StaticToken, Tokens};
use trackflow::backend::gravity::Gravity;
use trackflow::backend::personalize::Personalize;
use trackflow::backend::retail::Retail;
use trackflow::{
    Backend, BackgroundConsumer, Event, GrowingIo, Identity, Interaction, InteractionItem, Spool, Tracker,
};

fn main() {
    if let Ok(ms) = std::env::var("TF_LATENCY_SINK") {
        sink(Duration::from_millis(ms.parse().unwrap_or(50)));
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let delay_ms: u64 = opt("--delay-ms", "50").parse().unwrap();
    let seconds: f64 = opt("--seconds", "3").parse().unwrap();
    let widths: Vec<usize> = opt("--in-flight", "1,8,32")
        .split(',')
        .map(|w| w.parse().unwrap())
        .collect();
    let backends = opt("--backends", "growingio,gravity,personalize,retail");
    let mut child = start_sink(delay_ms);
    let url = read_url(&mut child);
    println!("sink: {url}, {delay_ms} ms per reply, in another process; 1 producer; standard event");
    println!(
        "| backend | max_in_flight | events | took | delivered/s | bound | of bound | sink counted | track() mean | track() max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for backend in backends.split(',') {
        for &w in &widths {
            run(backend, w, delay_ms, seconds, &url);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Events per request each backend's workload makes.
fn per_request(backend: &str) -> usize {
    match backend {
        "growingio" | "gravity" => 500,
        _ => 1,
    }
}

fn run(backend: &str, width: usize, delay_ms: u64, seconds: f64, url: &str) {
    let rtt = Duration::from_millis(delay_ms.max(1)).as_secs_f64();
    let bound = (width * per_request(backend)) as f64 / rtt;
    // Enough for `seconds` at the bound, in whole requests.
    let per = per_request(backend);
    let n = ((bound * seconds) as usize).clamp(per * width * 2, 400_000) / per * per;
    let before = sink_count(url);
    let dir = std::env::temp_dir().join(format!("tf-latency-{}-{backend}-{width}", std::process::id()));
    let consumer = BackgroundConsumer::builder(make(backend, url))
        .max_in_flight(width)
        .spool(Spool::open(&dir).unwrap())
        .build();
    let tracker = Tracker::builder().consumer(consumer).build().unwrap();
    let start = Instant::now();
    let (mut total, mut max) = (Duration::ZERO, Duration::ZERO);
    for i in 0..n {
        let t = Instant::now();
        tracker.record(event(backend, i)).unwrap();
        let took = t.elapsed();
        total += took;
        max = max.max(took);
    }
    let report = tracker.shutdown(Duration::from_secs(600)).unwrap();
    let took = start.elapsed();
    let s = report.stats;
    assert_eq!(
        (s.delivered, s.failed, s.dropped),
        (n as u64, 0, 0),
        "{backend} at {width}: {s:?}"
    );
    let counted = sink_count(url) - before;
    let rate = n as f64 / took.as_secs_f64();
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

/// The standard event. Gravity's envelope holds one client, so its workload is one client
/// (a server-side importer); Personalize's and Retail's are distinct users, one per event.
fn event(backend: &str, i: usize) -> Event {
    let props = common::standard_properties(i as u64);
    let who = match backend {
        "gravity" => Identity::anonymous("client-1"),
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

fn start_sink(delay_ms: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env("TF_LATENCY_SINK", delay_ms.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn read_url(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_owned()
}

fn sink_count(url: &str) -> u64 {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /count HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply.rsplit("\r\n\r\n").next().unwrap().trim().parse().unwrap()
}

/// The sink: each request answered after `delay`, its events counted by protocol.
fn sink(delay: Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("http://{}", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    for conn in listener.incoming().flatten() {
        let count = count.clone();
        thread::spawn(move || serve(conn, delay, &count));
    }
}

fn serve(conn: TcpStream, delay: Duration, count: &AtomicU64) {
    let _ = conn.set_nodelay(true);
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::with_capacity(1 << 16, conn);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut len = 0usize;
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        body.resize(len, 0);
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let reply = if path == "/count" {
            count.load(Ordering::Acquire).to_string()
        } else {
            thread::sleep(delay);
            count.fetch_add(events_in(&path, &body), Ordering::AcqRel);
            if path.starts_with("/collect/") {
                r#"{"code":0,"msg":"ok","data":null,"extra":{}}"#.to_owned()
            } else {
                "{}".to_owned()
            }
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        if out.write_all(format!("{head}{reply}").as_bytes()).is_err() {
            return;
        }
    }
}

/// Events in one request, by the mark each protocol puts on every event.
fn events_in(path: &str, body: &[u8]) -> u64 {
    let text = std::str::from_utf8(body).unwrap_or("");
    let mark = if path.contains("/v3/projects/") {
        r#"{"eventType":"#
    } else if path.starts_with("/collect/") {
        r#""time_free""#
    } else if path.ends_with("/events") {
        r#""eventType""#
    } else {
        // Retail writes one user event per request.
        return 1;
    };
    text.matches(mark).count() as u64
}
