//! A backend driven end to end through a custom `HttpClient`, no socket: the transport's
//! retries, the backend's judge and the consumer's accounting all run as with ureq.
#![cfg(feature = "growingio")]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use trackflow::transport::{HttpClient, HttpRequest, HttpTransport, Method, Response, RetryPolicy, Verdict};
use trackflow::{BackgroundConsumer, Error, GrowingIo, Identity, Properties, Tracker};

/// Answers 503 to every third request and 200 to the rest, keeping what it was sent.
#[derive(Debug, Default)]
struct Flaky {
    seen: Mutex<Vec<HttpRequest>>,
}

impl HttpClient for Flaky {
    fn send(&self, request: &HttpRequest, _timeout: Option<Duration>) -> Result<Response, Verdict> {
        let mut seen = self.seen.lock();
        seen.push(request.clone());
        let status = if seen.len() % 3 == 1 { 503 } else { 200 };
        Ok(Response {
            status,
            ..Response::default()
        })
    }
}

/// Refuses to connect, as a client with no network would.
#[derive(Debug)]
struct Offline;

impl HttpClient for Offline {
    fn send(&self, _: &HttpRequest, _: Option<Duration>) -> Result<Response, Verdict> {
        Err(Verdict::Retry {
            error: Error::Transport("offline".into()),
            after: None,
        })
    }
}

fn fast() -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(3)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
}

#[test]
fn a_custom_client_carries_every_event_with_retries_and_accounting() {
    let client = Arc::new(Flaky::default());
    let transport = HttpTransport::builder()
        .retry(fast())
        .client(ClientRef(client.clone()))
        .build();
    let gio = GrowingIo::builder("http://collector.invalid", "proj", "ds")
        .transport(transport)
        .build()
        .unwrap();
    let t = Tracker::builder()
        .consumer(BackgroundConsumer::builder(gio).max_batch(10).spool(None).build())
        .build()
        .unwrap();
    for i in 0..100 {
        t.track(
            &Identity::user(format!("u{i}")),
            "view",
            Properties::new().with("i", i),
        )
        .unwrap();
    }
    let report = t.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!((report.stats.delivered, report.stats.failed), (100, 0));
    assert!(report.stats.retried > 0, "{:?}", report.stats);
    // What reached the "wire": decoded, every event once among the accepted requests.
    let seen = client.seen.lock();
    let mut indices: Vec<i64> = Vec::new();
    for (n, r) in seen.iter().enumerate() {
        assert_eq!(r.method, Method::Post);
        assert!(
            r.url
                .starts_with("http://collector.invalid/v3/projects/proj/collect"),
            "{}",
            r.url
        );
        if n % 3 == 0 {
            continue; // answered 503, sent again
        }
        let events: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        for e in events.as_array().unwrap() {
            indices.push(e["attributes"]["i"].as_i64().unwrap());
        }
    }
    indices.sort_unstable();
    assert_eq!(indices, (0..100).collect::<Vec<_>>());
}

#[test]
fn a_client_that_cannot_connect_fails_after_the_retries_with_its_error() {
    let transport = HttpTransport::builder().retry(fast()).client(Offline).build();
    let gio = GrowingIo::builder("http://collector.invalid", "p", "d")
        .transport(transport)
        .build()
        .unwrap();
    let t = Tracker::builder()
        .consumer(trackflow::ImmediateConsumer::new(gio))
        .build()
        .unwrap();
    let err = t
        .track(&Identity::user("u1"), "e", Properties::new())
        .unwrap_err();
    assert_eq!(err.to_string(), "transport: offline");
    assert_eq!(t.stats().retried, 3);
}

/// Shares one client between the transport and the test.
#[derive(Debug)]
struct ClientRef(Arc<Flaky>);

impl HttpClient for ClientRef {
    fn send(&self, request: &HttpRequest, timeout: Option<Duration>) -> Result<Response, Verdict> {
        self.0.send(request, timeout)
    }
}
