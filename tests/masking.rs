//! Secrets wherever they ride are masked in `Debug`, errors, logs and on disk: user
//! information in a URL (`https://user:password@…`), a token that is a webhook URL's path
//! (`secret_url`), and what a collector echoes back in its reply.

#![cfg(feature = "webhook")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use support::{temp_dir, Collector, Reply};
use trackflow::{
    spool::Spool, BackgroundConsumer, DebugConsumer, GrowingIo, Identity, Properties, Tracker, Webhook,
};

const PATH_SECRET: &str = "PATHSECRET0123456789";
const REPLY_SECRET: &str = "REPLYSECRET987654";
const USERINFO_SECRET: &str = "USERINFOSECRET42";

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        // trackflow's own logs, at every level. ureq's (the HTTP client's own, at debug and
        // trace) show the URLs it is given whole: keep its target at info in production.
        if r.target().starts_with("trackflow") {
            self.0.lock().push(format!("{} {}", r.target(), r.args()));
        }
    }
    fn flush(&self) {}
}

/// Everything under `dir`, as text.
fn disk_text(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&disk_text(&p));
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
    out
}

#[test]
fn secrets_in_user_information_paths_and_replies_are_masked_everywhere() {
    let logs: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
    log::set_logger(logs).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    // A collector that refuses and echoes a token and a URL with a password.
    let c = Collector::start(|_, _| {
        Reply::Status(
            400,
            vec![],
            format!("bad request; token={REPLY_SECRET} see https://admin:{USERINFO_SECRET}@h.example/x"),
        )
    });
    let url = c
        .url()
        .replace("http://", &format!("http://hook-user:{USERINFO_SECRET}@"));
    let hook = Webhook::builder(format!("{url}/hooks/T01/B02/{PATH_SECRET}"))
        .secret_url(true)
        .transport(support::fast_transport())
        .build()
        .unwrap();
    let gio = GrowingIo::builder(url.clone(), "p", "d")
        .transport(support::fast_transport())
        .build()
        .unwrap();
    let dir = temp_dir("masking");
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let e2 = errors.clone();
    let printed = vec![format!("{hook:?}"), format!("{gio:?}")];
    let t = Tracker::builder()
        .consumer(
            BackgroundConsumer::builder(hook)
                .spool(Spool::open(dir.join("hook")).unwrap())
                .on_error(move |e, _| e2.lock().push(format!("{e} {e:?}")))
                .build(),
        )
        .consumer(
            DebugConsumer::builder(gio)
                .spool(Spool::open(dir.join("gio")).unwrap())
                .build(),
        )
        .build()
        .unwrap();
    let who = Identity::user("u1");
    let direct = t.track(&who, "open", Properties::new());
    let report = t.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(report.stats.delivered, 0, "{report:?}");
    assert!(
        c.requests().iter().any(|r| r.path.contains(PATH_SECRET)),
        "the request itself went"
    );
    let mut everything = printed;
    everything.push(format!("{direct:?} {report:?}"));
    everything.extend(errors.lock().iter().cloned());
    everything.extend(logs.0.lock().iter().cloned());
    everything.push(disk_text(&dir));
    let all = everything.join("\n");
    assert!(!errors.lock().is_empty() && all.contains("bad request"), "{all}");
    for secret in [PATH_SECRET, REPLY_SECRET, USERINFO_SECRET] {
        assert!(!all.contains(secret), "{secret} shown:\n{all}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
