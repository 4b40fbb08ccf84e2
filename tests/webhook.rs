//! The webhook backend against a loopback receiver that verifies each request's signature
//! the way the module docs tell a receiver to: bodies decoded (array, lines, gzip), every
//! event once, and a wrong secret refused, the batch spooled.

#![cfg(feature = "webhook")]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::{fast_transport, gunzip, Collector, Reply};
use trackflow::backend::webhook::{verify, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use trackflow::{
    backend::webhook::WebhookFormat, spool::Spool, BackgroundConsumer, Identity, Properties, Tracker, Webhook,
};

const SECRET: &str = "receiver-and-sender-share-this";

/// Answers 200 when the signature verifies under `SECRET`, 401 otherwise.
fn verifying_receiver() -> Collector {
    Collector::start(|r, _| {
        let ok = match (r.header(SIGNATURE_HEADER), r.header(TIMESTAMP_HEADER)) {
            (Some(sig), Some(ts)) => verify(SECRET, ts, &r.body, sig),
            _ => false,
        };
        Reply::status(if ok { 200 } else { 401 })
    })
}

/// The `n` property of every event the receiver accepted.
fn accepted_ns(c: &Collector, format: WebhookFormat, gzip: bool) -> Vec<i64> {
    let mut ns = Vec::new();
    for r in c.requests() {
        let body = if gzip {
            assert_eq!(r.header("content-encoding"), Some("gzip"));
            gunzip(&r.body)
        } else {
            r.body.clone()
        };
        let text = String::from_utf8(body).unwrap();
        let events: Vec<serde_json::Value> = match format {
            WebhookFormat::JsonLines => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
            _ => serde_json::from_str(&text).unwrap(),
        };
        for e in events {
            assert_eq!(e["event"], "checkout");
            ns.push(e["properties"]["n"].as_i64().unwrap());
        }
    }
    ns
}

#[test]
fn signed_batches_verify_and_every_event_arrives_once_in_each_layout() {
    for (format, gzip) in [
        (WebhookFormat::JsonArray, false),
        (WebhookFormat::JsonLines, false),
        (WebhookFormat::JsonArray, true),
        (WebhookFormat::JsonLines, true),
    ] {
        let c = verifying_receiver();
        let hook = Webhook::builder(format!("{}/hook", c.url()))
            .format(format)
            .gzip(gzip)
            .secret(SECRET)
            .header("X-Team", "growth")
            .max_batch(40)
            .transport(fast_transport())
            .build()
            .unwrap();
        let consumer = BackgroundConsumer::builder(hook).spool(None).build();
        let t = Tracker::builder().consumer(consumer).build().unwrap();
        for n in 0..300i64 {
            t.track(
                &Identity::user(format!("u{}", n % 7)),
                "checkout",
                Properties::new().with("n", n),
            )
            .unwrap();
        }
        let report = t.shutdown(Duration::from_secs(30)).unwrap();
        assert_eq!(
            (report.stats.delivered, report.stats.failed),
            (300, 0),
            "{format:?} gzip={gzip}"
        );
        let reqs = c.requests();
        assert!(reqs.iter().all(|r| r.header("X-Team") == Some("growth")));
        let want = match format {
            WebhookFormat::JsonLines => "application/x-ndjson",
            _ => "application/json",
        };
        assert!(reqs.iter().all(|r| r.header("content-type") == Some(want)));
        let ns = accepted_ns(&c, format, gzip);
        assert_eq!(ns.len(), 300);
        assert_eq!(ns.iter().copied().collect::<HashSet<_>>().len(), 300);
    }
}

#[test]
fn a_wrong_secret_is_refused_and_the_batch_is_spooled() {
    let c = verifying_receiver();
    let dir = support::temp_dir("webhook-wrong-secret");
    let hook = Webhook::builder(format!("{}/hook", c.url()))
        .secret("not-the-shared-secret")
        .transport(fast_transport())
        .build()
        .unwrap();
    let consumer = BackgroundConsumer::builder(hook)
        .spool(Spool::open(&dir).unwrap())
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    for n in 0..25i64 {
        t.track(&Identity::user("u1"), "checkout", Properties::new().with("n", n))
            .unwrap();
    }
    let report = t.shutdown(Duration::from_secs(10)).unwrap();
    let s = report.stats;
    assert_eq!(
        (s.delivered, s.failed, s.retried),
        (0, 25, 0),
        "a 401 is not retried: {s:?}"
    );
    assert_eq!(c.requests().len(), 1);
    drop(t);
    assert_eq!(support::spooled_ids(&dir).len(), 25);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends one event through a webhook to `c`, signed with `secret` if given.
fn send_one(c: &Collector, secret: Option<&str>) -> trackflow::StatsSnapshot {
    let mut b = Webhook::builder(format!("{}/hook", c.url())).transport(fast_transport());
    if let Some(s) = secret {
        b = b.secret(s);
    }
    let t = Tracker::builder()
        .consumer(
            BackgroundConsumer::builder(b.build().unwrap())
                .spool(None)
                .build(),
        )
        .build()
        .unwrap();
    t.track(&Identity::user("u1"), "checkout", Properties::new())
        .unwrap();
    t.shutdown(Duration::from_secs(10)).unwrap().stats
}

#[test]
fn unsigned_requests_and_tampered_bodies_do_not_verify() {
    let c = verifying_receiver();
    let s = send_one(&c, None);
    assert_eq!(s.failed, 1, "no signature: refused");
    // A signature made for one body does not verify another, nor another timestamp.
    let signed = Collector::start(|_, _| Reply::ok());
    send_one(&signed, Some(SECRET));
    let r = &signed.requests()[0];
    let (sig, ts) = (
        r.header(SIGNATURE_HEADER).unwrap(),
        r.header(TIMESTAMP_HEADER).unwrap(),
    );
    assert!(verify(SECRET, ts, &r.body, sig));
    let mut tampered = r.body.clone();
    tampered[1] ^= 1;
    assert!(!verify(SECRET, ts, &tampered, sig));
    assert!(!verify(SECRET, "1", &r.body, sig));
    assert!(!verify("other", ts, &r.body, sig));
}

#[test]
fn bad_settings_are_refused_with_the_field_named_and_secrets_never_shown() {
    let err = Webhook::builder("ftp://h/in").build().unwrap_err().to_string();
    assert!(err.contains("webhook.url"), "{err}");
    let err = Webhook::builder("https://h/in")
        .secret("")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("webhook.secret"), "{err}");
    let err = Webhook::builder("https://h/in")
        .header("Bad Name", "v")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("webhook.headers"), "{err}");
    let hook = Webhook::builder("https://h/in?token=T0KEN")
        .secret("S3CRET")
        .header("Authorization", "Bearer B3ARER")
        .build()
        .unwrap();
    let shown = format!("{hook:?}");
    for secret in ["T0KEN", "S3CRET", "B3ARER"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn from_toml_with_the_secret_from_the_environment_and_masked_when_written_back() {
    let c = verifying_receiver();
    // Set once, for this test only; no other thread reads or writes the variable.
    unsafe { std::env::set_var("TF_TEST_WEBHOOK_SECRET", SECRET) };
    let text = format!(
        "[consumer]\nkind = \"immediate\"\n\n[backend]\nkind = \"webhook\"\nurl = \"{}/hook\"\nformat = \"json_lines\"\ngzip = true\nsecret = \"${{TF_TEST_WEBHOOK_SECRET}}\"\nheaders = {{ X-Team = \"growth\" }}\n\n[transport]\nmax_retries = 0\n\n[spool]\nenabled = false\n",
        c.url()
    );
    let cfg = trackflow::Config::from_toml_str(&text).unwrap();
    let written = serde_json::to_string(&cfg).unwrap();
    assert!(
        !written.contains(SECRET) && !written.contains("growth"),
        "{written}"
    );
    assert!(!format!("{cfg:?}").contains(SECRET));
    let t = Tracker::from_config(&cfg).unwrap();
    t.track(&Identity::user("u1"), "checkout", Properties::new().with("n", 7))
        .unwrap();
    t.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(accepted_ns(&c, WebhookFormat::JsonLines, true), [7]);
}

/// `trackflow collect` with the webhook secret: it decodes what a signed webhook sends
/// (gzip, JSON lines) and refuses what a wrong secret signed.
#[cfg(feature = "cli")]
#[test]
fn trackflow_collect_decodes_and_verifies_the_webhook() {
    let (mut child, url) = support::trackflow_collect(
        &["--json", "--webhook-secret-env", "TF_COLLECT_HOOK"],
        &[("TF_COLLECT_HOOK", SECRET)],
        std::process::Stdio::piped(),
    );
    let send = |secret: &str| {
        let hook = Webhook::builder(format!("{url}/hook"))
            .format(WebhookFormat::JsonLines)
            .gzip(true)
            .secret(secret)
            .transport(fast_transport())
            .build()
            .unwrap();
        let t = Tracker::builder()
            .consumer(BackgroundConsumer::builder(hook).spool(None).build())
            .build()
            .unwrap();
        for n in 0..3i64 {
            t.track(&Identity::user("u1"), "checkout", Properties::new().with("n", n))
                .unwrap();
        }
        t.shutdown(Duration::from_secs(10)).unwrap().stats
    };
    let good = send(SECRET);
    let bad = send("a-wrong-secret");
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!((good.delivered, good.failed), (3, 0));
    assert_eq!(
        (bad.delivered, bad.failed),
        (0, 3),
        "refused with 401, not retried"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["backend"], "webhook");
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["steps"], serde_json::json!(["gunzip", "json lines"]));
    let ns: Vec<i64> = lines[0]["decoded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["properties"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [0, 1, 2]);
    assert_eq!(lines[1]["status"], 401);
}
