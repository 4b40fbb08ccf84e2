//! The Debug consumer: strict checks at the call, every request logged through `log`, and a
//! dry run that sends nothing.

mod support;

use std::sync::OnceLock;

use parking_lot::Mutex;
use support::Collector;
use trackflow::{DebugConsumer, GrowingIo, Identity, Properties, Tracker};

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        self.0
            .lock()
            .push(format!("{} {} {}", r.level(), r.target(), r.args()));
    }
    fn flush(&self) {}
}

fn logs() -> &'static Capture {
    static LOGS: OnceLock<&'static Capture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(c).unwrap();
        // Debug, the most a production service turns on. (At trace, ureq itself logs full
        // URLs, Gravity's token included: that level is for debugging ureq.)
        log::set_max_level(log::LevelFilter::Debug);
        c
    })
}

fn tracker(c: &Collector, dry_run: bool) -> Tracker {
    let gio = GrowingIo::builder(c.url(), "proj", "ds").build().unwrap();
    Tracker::builder()
        .consumer(DebugConsumer::builder(gio).dry_run(dry_run).build())
        .build()
        .unwrap()
}

fn logged_requests(marker: &str) -> Vec<String> {
    logs()
        .0
        .lock()
        .iter()
        .filter(|l| l.contains(marker))
        .cloned()
        .collect()
}

#[test]
fn logs_each_request_it_sends() {
    let logs_ = logs();
    let c = Collector::ok();
    tracker(&c, false)
        .track(
            &Identity::user("u1"),
            "sent_for_real",
            Properties::new().with("k", 1),
        )
        .unwrap();
    assert_eq!(c.requests().len(), 1);
    let lines = logged_requests("sent_for_real");
    assert_eq!(lines.len(), 1, "{:?}", logs_.0.lock());
    let line = &lines[0];
    assert!(
        line.starts_with("INFO trackflow::debug POST http://127.0.0.1:"),
        "{line}"
    );
    assert!(line.contains("/v3/projects/proj/collect?stm="), "{line}");
    assert!(line.contains("content-type: application/json"), "{line}");
    assert!(line.contains(r#""eventName":"sent_for_real""#), "{line}");
}

#[test]
fn dry_run_logs_and_sends_nothing() {
    logs();
    let c = Collector::ok();
    let t = tracker(&c, true);
    t.track(&Identity::user("u1"), "dry_one", Properties::new())
        .unwrap();
    assert!(c.requests().is_empty());
    let lines = logged_requests("dry_one");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("(dry run) POST"), "{}", lines[0]);
    assert_eq!(t.stats().delivered, 1);
}

#[test]
fn strict_rules_reject_at_the_call() {
    logs();
    let c = Collector::ok();
    let t = tracker(&c, false);
    let err = t
        .track(&Identity::user("u1"), "e", Properties::new().with("bad key", 1))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: properties.bad key: strict mode: key must match [A-Za-z_$#][A-Za-z0-9_$]*"
    );
    let err = t
        .track(
            &Identity::user("u1"),
            "e",
            Properties::new().with("big", 1i64 << 60),
        )
        .unwrap_err();
    assert!(err.to_string().contains("beyond ±2^53"), "{err}");
    assert!(c.requests().is_empty());
}

#[cfg(feature = "gravity")]
#[test]
fn logged_requests_never_show_the_gravity_access_token() {
    logs();
    let c = Collector::start(|_, _| support::Reply::Status(200, vec![], r#"{"code":0}"#.into()));
    let url = format!("{}/collect/?access_token=SECRET_TOKEN_42", c.url());
    // Plain bodies (debug mode), so the logged request shows the event it carries.
    let ge = trackflow::backend::gravity::Gravity::builder(url)
        .debug_mode(true)
        .build()
        .unwrap();
    let t = Tracker::builder()
        .consumer(DebugConsumer::builder(ge).build())
        .build()
        .unwrap();
    t.track(&Identity::anonymous("c1"), "gravity_logged", Properties::new())
        .unwrap();
    assert!(
        c.requests()[0].query.contains("SECRET_TOKEN_42"),
        "the token still reaches the collector"
    );
    let lines = logged_requests("gravity_logged");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("access_token=***"), "{}", lines[0]);
    let leaks: Vec<String> = logs()
        .0
        .lock()
        .iter()
        .filter(|l| l.contains("SECRET_TOKEN_42"))
        .cloned()
        .collect();
    assert!(leaks.is_empty(), "{leaks:#?}");
}

#[test]
fn strict_mode_takes_user_unset_but_still_refuses_null_values() {
    logs();
    let memory = trackflow::MemoryBackend::new();
    let t = Tracker::builder()
        .consumer(DebugConsumer::builder(memory.clone()).build())
        .build()
        .unwrap();
    let who = Identity::user("u1");
    t.user_unset(&who, ["plan", "coupon"]).unwrap();
    let err = t
        .user_set(&who, Properties::new().with("plan", trackflow::Value::Null))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: properties.plan: strict mode: null value"
    );
    t.flush().unwrap();
    let sent = memory.events();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let keys: Vec<&str> = sent[0].properties.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["plan", "coupon"]);
}
