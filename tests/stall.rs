//! An axum service with the default Background consumer against a collector that accepts and
//! never answers: every request is answered while the collector is stalled (the events spill
//! to disk), and when it comes back every event is delivered exactly once.
//!
//! Handler latencies are printed, not asserted (`cargo test --release --test stall --
//! --nocapture`; BENCHMARKS.md has the figures).

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use support::{temp_dir, Collector, Hold, Reply};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use trackflow::transport::HttpTransport;
use trackflow::{spool::Spool, BackgroundConsumer, GrowingIo, Identity, Properties, Tracker};

const REQUESTS: usize = 20_000;
const CLIENTS: usize = 32;

async fn buy(State(tracker): State<Arc<Tracker>>, Query(q): Query<HashMap<String, String>>) -> StatusCode {
    let id = q.get("id").cloned().unwrap_or_default();
    let who = Identity::user(format!("u{}", id.len()));
    match tracker.track(&who, "buy", Properties::new().with("id", id)) {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// One keep-alive connection sending `ids`; returns each request's latency.
async fn client(addr: std::net::SocketAddr, ids: Vec<usize>) -> Vec<Duration> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut took = Vec::with_capacity(ids.len());
    let mut line = String::new();
    for id in ids {
        let start = Instant::now();
        let req = format!("POST /buy?id=e{id} HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n");
        write.write_all(req.as_bytes()).await.unwrap();
        line.clear();
        read.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.1 204"), "request e{id}: {line}");
        // Headers up to the blank line; a 204 has no body.
        loop {
            line.clear();
            read.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
        }
        took.push(start.elapsed());
    }
    took
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

#[test]
fn an_axum_service_answers_while_the_collector_stalls_then_every_event_arrives_once() {
    let hold = Hold::default();
    let h = hold.clone();
    let collector = Collector::start(move |_, _| Reply::Hold(h.clone()));
    let dir = temp_dir("axum-stall");
    // The consumer at its defaults (Spill, 10 000 events in memory); the transport waits long
    // enough that the held request is not retried (which would count it twice).
    let transport = HttpTransport::builder()
        .read_timeout(Duration::from_secs(300))
        .build();
    let gio = GrowingIo::builder(collector.url(), "p", "d")
        .transport(transport)
        .build()
        .unwrap();
    let consumer = BackgroundConsumer::builder(gio)
        .spool(Spool::open(&dir).unwrap())
        .build();
    let tracker = Arc::new(Tracker::builder().consumer(consumer).build().unwrap());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = rt.block_on(async {
        let app = Router::new().route("/buy", post(buy)).with_state(tracker.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|c| tokio::spawn(client(addr, (c..REQUESTS).step_by(CLIENTS).collect())))
            .collect();
        let mut all = Vec::with_capacity(REQUESTS);
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let elapsed = started.elapsed();
    assert_eq!(latencies.len(), REQUESTS, "every request answered");
    assert!(!hold.is_released());
    // Held, not answered: the first request of each lane.
    assert!(
        collector.requests().len() <= trackflow::delivery::DEFAULT_MAX_IN_FLIGHT,
        "the collector answered nothing meanwhile"
    );
    let s = tracker.stats();
    assert_eq!(s.accepted, REQUESTS as u64);
    assert!(s.spilled > 0, "the memory queue filled and spilled: {s:?}");
    latencies.sort();
    eprintln!(
        "{REQUESTS} requests in {elapsed:?} while stalled: p50 {:?}, p99 {:?}, max {:?}; {} events spilled",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
        s.spilled
    );

    hold.release();
    tracker.flush_timeout(Duration::from_secs(120)).unwrap();
    let mut count: HashMap<String, usize> = HashMap::new();
    for e in collector.json_events() {
        *count
            .entry(e["attributes"]["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(count.len(), REQUESTS, "every event arrived");
    assert!(count.values().all(|n| *n == 1), "no event arrived twice");
    let report = tracker.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(report.stats.delivered, REQUESTS as u64);
    assert_eq!((report.stats.failed, report.stats.dropped), (0, 0));
    drop(rt);
    std::fs::remove_dir_all(&dir).unwrap();
}
