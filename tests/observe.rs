//! Observable in production: the axum example's `/metrics` and `/health` through an outage
//! of its collector, `on_delivered` across faults, and what `trackflow status` reads from a
//! store (tests/cli.rs). Over real HTTP on 127.0.0.1; the Prometheus text is parsed by a real
//! parser (`prometheus-parse`).

#![cfg(all(feature = "tokio", feature = "metrics"))]

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::{Collector, Reply};

fn example(name: &str) -> PathBuf {
    let test = std::env::current_exe().unwrap();
    test.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

/// One HTTP/1.1 exchange; the status and the body.
fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let req =
        format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// The service's metrics, scraped and parsed: value by metric name (label backend=growingio).
fn scrape(addr: &str) -> HashMap<String, f64> {
    let (status, text) = http(addr, "GET", "/metrics");
    assert_eq!(status, 200, "{text}");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let mut out = HashMap::new();
    for s in parsed.samples {
        if s.labels.get("backend") != Some("growingio") {
            continue;
        }
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(h) => h.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => continue,
        };
        out.insert(s.metric, v);
    }
    out
}

fn health(addr: &str) -> (u16, serde_json::Value) {
    let (status, body) = http(addr, "GET", "/health");
    (status, serde_json::from_str(&body).unwrap_or_default())
}

struct Service {
    child: Child,
    addr: String,
}

impl Service {
    fn start(collector: &str, state: &std::path::Path) -> Service {
        let mut child = Command::new(example("axum_service"))
            .env("TRACKFLOW_URL", collector)
            .env("TRACKFLOW_LISTEN", "127.0.0.1:0")
            .env("TRACKFLOW_STATE_DIR", state)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().rsplit("http://").next().unwrap().to_owned();
        Service { child, addr }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `secs`.
fn until<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Some(v) = f() {
            return Some(v);
        }
        thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn metrics_and_health_follow_an_outage_and_the_recovery() {
    let up = Arc::new(AtomicBool::new(true));
    let switch = up.clone();
    let c = Collector::start(move |_, _| {
        if switch.load(Ordering::Relaxed) {
            Reply::ok()
        } else {
            Reply::status(503)
        }
    });
    let state = support::temp_dir("observe-service");
    let svc = Service::start(&c.url(), &state);
    let addr = svc.addr.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (addr, stop) = (addr.clone(), stop.clone());
        thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/buy?user=u{}&product=p{n}", n % 7);
                assert_eq!(http(&addr, "POST", &path).0, 204);
                n += 1;
                thread::sleep(Duration::from_millis(2));
            }
            n
        })
    };

    // Up: delivered rises, healthy.
    let first = until(10, || {
        Some(scrape(&addr)).filter(|m| m["trackflow_events_delivered_total"] > 0.0)
    })
    .expect("deliveries");
    let (code, h) = health(&addr);
    assert_eq!((code, h["status"].as_str()), (200, Some("healthy")), "{h}");

    // Down: degraded, then down once the circuit opens; the backlog and the oldest event's
    // age rise; nothing counts as failed.
    up.store(false, Ordering::Relaxed);
    let down = until(20, || Some(health(&addr)).filter(|(_, h)| h["status"] == "down")).expect("down");
    assert_eq!(down.0, 503, "{}", down.1);
    let backend = &down.1["backends"][0];
    assert!(
        backend["last_error"].as_str().is_some_and(|e| e.contains("503")),
        "{backend}"
    );
    let during = scrape(&addr);
    thread::sleep(Duration::from_millis(1500));
    let later = scrape(&addr);
    assert!(
        later["trackflow_backlog_events"] > during["trackflow_backlog_events"],
        "{during:?} → {later:?}"
    );
    assert!(later["trackflow_oldest_event_age_seconds"] > during["trackflow_oldest_event_age_seconds"]);
    assert!(later["trackflow_backlog_events"] > 0.0);
    assert_eq!(later["trackflow_circuit_state"], 2.0);
    assert_eq!(later["trackflow_health_status"], 2.0);

    // Back: healthy again, the backlog drains, delivered goes on rising, failed stays 0.
    up.store(true, Ordering::Relaxed);
    until(60, || {
        Some(health(&addr)).filter(|(_, h)| h["status"] == "healthy")
    })
    .expect("healthy again");
    stop.store(true, Ordering::Relaxed);
    let sent = load.join().unwrap();
    let drained = until(30, || {
        Some(scrape(&addr)).filter(|m| m["trackflow_backlog_events"] == 0.0)
    })
    .expect("drained");
    assert!(drained["trackflow_events_delivered_total"] > first["trackflow_events_delivered_total"]);
    assert_eq!(
        drained["trackflow_events_delivered_total"], sent as f64,
        "{drained:?}"
    );
    assert_eq!(drained["trackflow_events_accepted_total"], sent as f64);
    assert_eq!(drained["trackflow_events_failed_total"], 0.0);
    assert_eq!(drained["trackflow_oldest_event_age_seconds"], 0.0);
    assert!(
        drained["trackflow_request_duration_seconds"] > 0.0,
        "the latency histogram has answers"
    );
    assert!(
        drained["trackflow_event_delivery_delay_seconds"] >= sent as f64,
        "a delay per event"
    );
    // Every event arrived (some more than once: the requests answered 503 carried them too).
    let ids: std::collections::HashSet<String> = c
        .json_events()
        .iter()
        .map(|e| e["attributes"]["product"].to_string())
        .collect();
    assert_eq!(ids.len() as u64, sent);
    drop(svc);
    let _ = std::fs::remove_dir_all(&state);
}
