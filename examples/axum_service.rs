//! An axum (tokio) service that tracks from its request handlers, answers `/health` from
//! `Tracker::health()` and `/metrics` in Prometheus text (trackflow's metrics through the
//! `metrics` facade, rendered by `metrics-exporter-prometheus`), and shuts the tracker down on
//! SIGTERM.
//!
//! ```text
//! cargo run --features cli -- collect --backend growingio &
//! cargo run --example axum_service --features tokio                 # serves on 127.0.0.1:3000; Ctrl-C or SIGTERM stops it
//! curl -X POST 'http://127.0.0.1:3000/buy?user=u1&product=book'
//! curl http://127.0.0.1:3000/health                                   # 200 healthy/degraded, 503 down
//! curl http://127.0.0.1:3000/metrics                                  # trackflow_events_delivered_total{backend="growingio"} …
//! cargo run --example axum_service --features tokio -- --self-test  # serves, calls itself, SIGTERMs itself
//! ```
//!
//! `TRACKFLOW_URL` is the collector (default `http://127.0.0.1:8080`), `TRACKFLOW_LISTEN` the
//! address to serve on (default `127.0.0.1:3000`).
//!
//! `track()` on the Background consumer only hands the event to a queue: it never does network
//! I/O, so handlers call it directly on the executor. The waits (flush, shutdown) are the
//! `_async` methods of the `tokio` feature, which run them on tokio's blocking pool; the
//! self-test checks that no blocking trackflow call was made on a runtime thread. With the default overflow (`Spill`) it
//! never waits either: if the collector is away so long that the memory queue fills, events go
//! to a disk queue in the consumer's private spool directory and are delivered, in order, when
//! the collector is back; failed batches go to the same spool for `trackflow replay`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use trackflow::{BackgroundConsumer, GrowingIo, Identity, Properties, Tracker};

/// What the handlers share.
#[derive(Clone)]
struct App {
    tracker: Arc<Tracker>,
    prometheus: PrometheusHandle,
}

async fn buy(State(app): State<App>, Query(q): Query<HashMap<String, String>>) -> StatusCode {
    let tracker = &app.tracker;
    let who = Identity::user(q.get("user").map_or("anonymous", String::as_str));
    let props = Properties::new().with("product", q.get("product").cloned().unwrap_or_default());
    match tracker.track(&who, "purchase", props) {
        Ok(()) => StatusCode::NO_CONTENT,
        // The order went through; only its tracking did not. Counted in stats.
        Err(e) => {
            eprintln!("tracking: {e}");
            StatusCode::ACCEPTED
        }
    }
}

/// 200 while every backend delivers (healthy or degraded), 503 when one is down: what a load
/// balancer or an orchestrator's probe reads; the body says why.
async fn health(State(app): State<App>) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    let h = app.tracker.health();
    let code = if h.status == trackflow::observe::Status::Down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = serde_json::to_string(&h).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], body)
}

/// The Prometheus text of trackflow's metrics, as of this instant.
async fn metrics(State(app): State<App>) -> ([(header::HeaderName, &'static str); 1], String) {
    app.tracker.publish_metrics();
    app.prometheus.run_upkeep();
    let text = app.prometheus.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The recorder every `metrics` call in the process goes to, with histogram buckets from 5 ms
/// to 5 min.
fn install_prometheus() -> Result<PrometheusHandle, Box<dyn std::error::Error>> {
    let buckets = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    ];
    Ok(PrometheusBuilder::new()
        .set_buckets(&buckets)?
        .install_recorder()?)
}

fn router(state: App) -> Router {
    Router::new()
        .route("/buy", post(buy))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn call_self(addr: std::net::SocketAddr, i: u32) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    let req = format!("POST /buy?user=user-{}&product=book HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", i % 3);
    s.write_all(req.as_bytes()).await?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await?;
    if !reply.starts_with(b"HTTP/1.1 204") {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&reply).into_owned(),
        ));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    let url = std::env::var("TRACKFLOW_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    // Before the tracker, so that its first figures go to it.
    let prometheus = install_prometheus()?;
    // The defaults: Spill, and the spool in this process's private state directory.
    let consumer = BackgroundConsumer::builder(GrowingIo::builder(url, "p", "d").build()?).build();
    let tracker = Arc::new(Tracker::builder().consumer(consumer).build()?);

    let state = App {
        tracker: tracker.clone(),
        prometheus,
    };
    let app = router(state);
    let listen = match std::env::var("TRACKFLOW_LISTEN") {
        Ok(a) => a,
        Err(_) if self_test => "127.0.0.1:0".into(),
        Err(_) => "127.0.0.1:3000".into(),
    };
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    println!("serving on http://{addr}");

    let mut sigterm = signal(SignalKind::terminate())?;
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = sigterm.recv() => println!("SIGTERM: draining"),
                    _ = tokio::signal::ctrl_c() => println!("Ctrl-C: draining"),
                }
            })
            .await
    });

    if self_test {
        for i in 0..30 {
            call_self(addr, i).await?;
        }
        // The real signal, sent to ourselves, exercises the real shutdown path.
        std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()?;
    }
    server.await??;

    // The wait runs on tokio's blocking pool, never on an executor thread.
    let deadline = Duration::from_secs(5);
    let started = std::time::Instant::now();
    let report = tracker.shutdown_async(deadline).await?;
    let took = started.elapsed();
    println!(
        "tracker shut down in {took:?}: {} delivered, {} failed, {} left",
        report.stats.delivered, report.stats.failed, report.left
    );
    if self_test {
        check_self_test(&report, took, deadline)?;
    }
    Ok(())
}

/// The self-test's verdict: every event delivered within the deadline, nothing blocking on a
/// runtime thread.
fn check_self_test(
    report: &trackflow::ShutdownReport,
    took: Duration,
    deadline: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    if report.stats.delivered != 30 || !report.completed {
        return Err("not every tracked event was delivered".into());
    }
    if took > deadline {
        return Err(format!("shutdown took {took:?}, past its {deadline:?} deadline").into());
    }
    let blocking = trackflow::blocking_calls_on_runtime();
    if blocking != 0 {
        return Err(format!("{blocking} blocking trackflow calls on a runtime thread").into());
    }
    Ok(())
}
