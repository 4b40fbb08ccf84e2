//! `trackflow status` on stores with a backlog and dead letters of two reasons: the counts
//! are exact, as a table and as JSON, and a store a live process holds says so.

#![cfg(feature = "cli")]

mod support;

use std::process::Command;
use std::time::Duration;

use trackflow::spool::Spool;
use trackflow::{BackgroundConsumer, Consumer, Error, Event, GrowingIo, Identity, Properties, Tracker};

fn status(dir: &std::path::Path, json: bool) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trackflow"));
    cmd.arg("status").arg(dir);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Leaves `n` events in the store at `dir`: its collector refuses connections, so a short
/// shutdown hands them all back to the disk queue.
fn leave(dir: &std::path::Path, n: usize) -> u64 {
    let gio = GrowingIo::builder("http://127.0.0.1:9", "p", "d")
        .transport(support::no_retry_transport())
        .build()
        .unwrap();
    let consumer = BackgroundConsumer::builder(gio)
        .spool(Spool::open(dir).unwrap())
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    for i in 0..n {
        t.track(&Identity::user(format!("u{i}")), "e", Properties::new())
            .unwrap();
    }
    t.shutdown(Duration::from_millis(300)).unwrap().left
}

fn dead(dir: &std::path::Path, n: usize, error: Error) {
    let events = vec![Event::track("e").with_identity(Identity::user("u")); n];
    Spool::open(dir)
        .unwrap()
        .write(&events, &error, "growingio")
        .unwrap();
}

#[test]
fn counts_backlog_and_dead_letters_by_reason_exactly() {
    let root = support::temp_dir("status");
    let (a, b) = (root.join("growingio"), root.join("gravity"));
    let left = leave(&a, 700);
    assert_eq!(left, 700);
    dead(
        &a,
        3,
        Error::Status {
            code: 400,
            body: "bad field".into(),
        },
    );
    dead(
        &a,
        4,
        Error::Status {
            code: 400,
            body: "bad field".into(),
        },
    );
    dead(
        &a,
        5,
        Error::Status {
            code: 413,
            body: "too large".into(),
        },
    );
    dead(
        &b,
        2,
        Error::Status {
            code: 403,
            body: "no".into(),
        },
    );

    let (code, out) = status(&root, true);
    assert_eq!(code, 1, "a backlog and dead letters: exit 1\n{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let stores = v.as_array().unwrap();
    assert_eq!(stores.len(), 2);
    let gio = stores
        .iter()
        .find(|s| s["dir"].as_str().unwrap().ends_with("growingio"))
        .unwrap();
    assert_eq!(gio["backlog_events"], 700, "{gio}");
    assert_eq!(gio["held"], false);
    assert!(gio["backlog_bytes"].as_u64().unwrap() > 0);
    assert!(gio["oldest_age_ms"].as_u64().is_some());
    let dead = gio["dead"].as_array().unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(
        (dead[0]["events"].as_u64(), dead[0]["files"].as_u64()),
        (Some(7), Some(2))
    );
    assert!(dead[0]["reason"].as_str().unwrap().contains("400"));
    assert_eq!(dead[1]["events"], 5);
    assert!(dead[1]["reason"].as_str().unwrap().contains("413"));
    let grav = stores
        .iter()
        .find(|s| s["dir"].as_str().unwrap().ends_with("gravity"))
        .unwrap();
    assert_eq!(
        (
            grav["backlog_events"].as_u64(),
            grav["dead"][0]["events"].as_u64()
        ),
        (Some(0), Some(2))
    );

    // Reading it took nothing away: the next tracker still finds all 700.
    let (_, table) = status(&a, false);
    assert!(table.contains("backlog: 700 events"), "{table}");
    assert!(table.contains("not held"), "{table}");

    // Held by a live tracker: said so, the events not counted.
    let up = support::Collector::ok();
    let gio = GrowingIo::builder(up.url(), "p", "d").build().unwrap();
    let live = BackgroundConsumer::builder(gio)
        .spool(Spool::open(&a).unwrap())
        .build();
    let (_, out) = status(&a, true);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v[0]["held"].as_bool(), v[0]["backlog_events"].as_u64()),
        (Some(true), None),
        "{v}"
    );
    let report = live.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(report.stats.delivered, 700);
    let (_, out) = status(&a, true);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["backlog_events"], 0, "{v}");
    std::fs::remove_dir_all(&root).unwrap();
}
