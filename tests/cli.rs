//! `trackflow send`: neutral JSON lines in, delivered through the configured backend, a
//! summary out, and a non-zero exit when anything failed.

#![cfg(feature = "cli")]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Collector, Reply};

fn run(config: &str, lines: &str) -> (i32, String, String) {
    let spool = temp_dir().join("spool");
    run_cmd(&["send", "--spool", spool.to_str().unwrap()], config, lines, true)
}

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("trackflow-cli-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `trackflow ARGS --config CFG [INPUT]` with the config and input written to files.
fn run_cmd(args: &[&str], config: &str, lines: &str, with_input: bool) -> (i32, String, String) {
    let dir = temp_dir();
    let cfg = dir.join("trackflow.toml");
    let input = dir.join("events.jsonl");
    std::fs::write(&cfg, config).unwrap();
    std::fs::write(&input, lines).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trackflow"));
    cmd.args(args).arg("--config").arg(&cfg);
    if with_input {
        cmd.arg(&input);
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rand_suffix() -> String {
    trackflow::clock::new_insert_id().to_string()[..8].to_owned()
}

fn gio_config(c: &Collector) -> String {
    format!(
        "[consumer]\nkind = \"background\"\nmax_batch = 2\n\n[backend]\nkind = \"growingio\"\nhost = \"{}\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n\n[transport]\nmax_retries = 1\ninitial_backoff_ms = 10\n",
        c.url()
    )
}

const GOOD: &str = r#"{"type":"track","event":"a","time":1700000000500,"insert_id":"1","user_id":"u1"}
{"type":"track","event":"b","user_id":"u2","properties":{"n":1}}

{"type":"profile","op":"set","user_id":"u3","properties":{"plan":"pro"}}
"#;

#[test]
fn sends_every_line_and_exits_zero() {
    let c = Collector::ok();
    let (code, stdout, stderr) = run(&gio_config(&c), GOOD);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("3 events read: 3 delivered, 0 failed, 0 invalid"),
        "{stdout}"
    );
    let events = c.json_events();
    assert_eq!(events.len(), 3);
    // Batches go out side by side, so they may land in either order.
    let a = events.iter().find(|e| e["eventName"] == "a").expect("event a");
    assert_eq!(a["timestamp"], 1_700_000_000_500i64);
    assert!(events.iter().any(|e| e["eventType"] == "LOGIN_USER_ATTRIBUTES"));
}

#[test]
fn a_bad_line_is_named_by_number_and_fails_the_run() {
    let c = Collector::ok();
    let input = format!("{GOOD}{{\"type\":\"track\",\"user_id\":\"u\"}}\n{{\"type\":\"track\",\"event\":\"\",\"user_id\":\"u\"}}\nnot json\n");
    let (code, stdout, stderr) = run(&gio_config(&c), &input);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("events.jsonl:5: not a trackflow event: missing field `event`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("events.jsonl:6: invalid input: event name: must not be empty"),
        "{stderr}"
    );
    assert!(
        stderr.contains("events.jsonl:7: not a trackflow event"),
        "{stderr}"
    );
    assert!(stdout.contains("3 delivered, 0 failed, 3 invalid"), "{stdout}");
    assert_eq!(c.json_events().len(), 3, "good lines still go out");
}

#[test]
fn delivery_failures_fail_the_run() {
    let c = Collector::start(|_, _| Reply::status(403));
    let (code, stdout, _) = run(&gio_config(&c), GOOD);
    assert_eq!(code, 1);
    assert!(stdout.contains("0 delivered, 3 failed"), "{stdout}");
}

#[test]
fn a_bad_config_is_a_clear_error() {
    let (code, _, stderr) = run("[backend]\nkind = \"nope\"\n", GOOD);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("trackflow.toml") && stderr.contains("nope"),
        "{stderr}"
    );
}

#[cfg(feature = "retail")]
mod retail {
    use super::*;

    fn config(c: &Collector) -> String {
        format!(
            "[backend]\nkind = \"retail\"\nparent = \"projects/1/locations/global/catalogs/default_catalog\"\nendpoint = \"{}\"\nauth = {{ kind = \"anonymous\" }}\n",
            c.url()
        )
    }

    fn lro(c: &support::Captured) -> Reply {
        let n = c.json()["inputConfig"]["userEventInlineSource"]["userEvents"]
            .as_array()
            .map_or(0, |a| a.len());
        Reply::Status(
            200,
            vec![],
            format!(
                r#"{{"name":"projects/1/locations/global/catalogs/default_catalog/operations/o","done":true,"metadata":{{"successCount":"{n}"}}}}"#
            ),
        )
    }

    #[test]
    fn import_purge_rejoin_from_the_command_line() {
        let c = Collector::start(|r, _| lro(r));
        let input = r#"{"type":"track","event":"home-page-view","anonymous_id":"v1","time":1700000000500}
{"type":"track","event":"home-page-view","anonymous_id":"v2"}
{"type":"track"}
"#;
        let (code, stdout, stderr) = run_cmd(&["retail", "import"], &config(&c), input, true);
        assert_eq!(code, 1, "a bad line fails the run: {stdout}{stderr}");
        assert!(
            stderr.contains("events.jsonl:3: not a trackflow event"),
            "{stderr}"
        );
        assert!(
            stdout.contains("2 events imported: 2 succeeded, 0 failed, 1 bad lines"),
            "{stdout}"
        );
        let events = c.requests()[0].json()["inputConfig"]["userEventInlineSource"]["userEvents"].clone();
        assert_eq!(events[0]["eventTime"], "2023-11-14T22:13:20.500Z");
        assert!(
            events[1]["eventTime"].is_string(),
            "events without a time are stamped"
        );

        let (code, stdout, _) = run_cmd(
            &["retail", "purge", "--filter", "visitorId = \"v1\"", "--force"],
            &config(&c),
            "",
            false,
        );
        assert_eq!(code, 0);
        assert!(stdout.contains("operations/o"), "{stdout}");
        assert_eq!(
            c.requests()[1].json(),
            serde_json::json!({"filter": "visitorId = \"v1\"", "force": true})
        );

        let (code, _, _) = run_cmd(
            &["retail", "rejoin", "--scope", "unjoined"],
            &config(&c),
            "",
            false,
        );
        assert_eq!(code, 0);
        assert_eq!(
            c.requests()[2].json(),
            serde_json::json!({"userEventRejoinScope": 2})
        );
        let (code, _, stderr) = run_cmd(&["retail", "rejoin", "--scope", "some"], &config(&c), "", false);
        assert_eq!(code, 2);
        assert!(stderr.contains("--scope some"), "{stderr}");
    }
}

#[test]
fn an_outage_is_kept_in_the_store_and_replay_delivers_it() {
    let spool = temp_dir().join("spool");
    let spool_arg = spool.to_str().unwrap().to_owned();
    let down = Collector::start(|_, _| Reply::status(503));
    let (code, stdout, _) = run_cmd(
        &["send", "--deadline", "2", "--spool", &spool_arg],
        &gio_config(&down),
        GOOD,
        true,
    );
    assert_eq!(code, 1);
    assert!(
        stdout.contains("0 failed, 0 invalid, 0 dropped, 3 left"),
        "{stdout}"
    );
    assert!(stdout.contains("3 events kept in"), "{stdout}");
    assert_eq!(
        trackflow::spool::Spool::open(&spool)
            .unwrap()
            .queued_events()
            .unwrap()
            .len(),
        3
    );
    assert!(!spool.join("pending").exists(), "one store: no pending/");

    let up = Collector::ok();
    let (code, stdout, stderr) = run_cmd(&["replay", &spool_arg], &gio_config(&up), "", false);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("3 events delivered, 0 still pending, 0 dead letters"),
        "{stdout}"
    );
    let names: Vec<String> = up
        .json_events()
        .iter()
        .map(|e| e["eventName"].as_str().unwrap_or("user").to_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        trackflow::spool::Spool::open(&spool)
            .unwrap()
            .queued_events()
            .unwrap()
            .is_empty(),
        "replayed events leave the store"
    );
}

#[test]
fn a_line_that_is_not_utf8_is_an_error_of_its_own() {
    let c = Collector::ok();
    let mut input = GOOD.as_bytes().to_vec();
    input.extend_from_slice(b"{\"type\":\"track\",\"event\":\"\xff\xfe\",\"user_id\":\"u\"}\n");
    input.extend_from_slice(b"{\"type\":\"track\",\"event\":\"after\",\"user_id\":\"u\"}\n");
    let dir = temp_dir();
    std::fs::write(dir.join("trackflow.toml"), gio_config(&c)).unwrap();
    std::fs::write(dir.join("events.jsonl"), &input).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trackflow"))
        .args(["send", "--config", "trackflow.toml", "events.jsonl"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("events.jsonl:5: not UTF-8 text"), "{stderr}");
    assert!(
        stdout.contains("5 events read: 4 delivered, 0 failed, 1 invalid"),
        "{stdout}"
    );
    assert_eq!(c.json_events().len(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The numbers of `N events read: D delivered, F failed, I invalid, X dropped, L left`.
fn summary(stdout: &str) -> [u64; 6] {
    let line = stdout
        .lines()
        .find(|l| l.contains("events read:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    nums[..6].try_into().unwrap()
}

fn lines(range: std::ops::Range<usize>) -> String {
    range
        .map(|i| {
            format!(
                "{{\"type\":\"track\",\"event\":\"e\",\"insert_id\":\"id-{i}\",\"user_id\":\"u{}\",\"properties\":{{\"id\":\"id-{i}\"}}}}\n",
                i % 7
            )
        })
        .collect()
}

fn ids(c: &Collector) -> Vec<String> {
    c.requests()
        .iter()
        .flat_map(|r| r.json().as_array().cloned().unwrap_or_default())
        .map(|e| e["attributes"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn no_temp_files(dir: &std::path::Path) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            no_temp_files(&p);
        } else {
            assert!(!p.to_string_lossy().ends_with(".tmp"), "{} survived", p.display());
        }
    }
}

/// `trackflow send FLAGS --spool SPOOL --config CFG -`, its standard streams piped.
fn send_from_stdin(flags: &[&str], spool: &std::path::Path, cfg: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_trackflow"))
        .arg("send")
        .args(flags)
        .arg("--spool")
        .arg(spool)
        .arg("--config")
        .arg(cfg)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigint_halfway_then_resume_delivers_each_line_once() {
    const TOTAL: usize = 100_000;
    // Slow enough that the run is still delivering when the signal comes.
    let first = Collector::start(|_, _| Reply::Stall(Duration::from_millis(20), 200));
    let dir = temp_dir();
    let spool = dir.join("spool");
    let cfg = dir.join("trackflow.toml");
    std::fs::write(&cfg, batch_config(&first)).unwrap();
    let mut child = send_from_stdin(&["--no-progress", "--deadline", "1"], &spool, &cfg);
    let mut stdin = child.stdin.take().unwrap();
    let (go, signalled) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(lines(0..TOTAL / 2).as_bytes());
        let _ = stdin.flush();
        // The pipe stays open and quiet until the run has ended: the signal must be
        // noticed while the input blocks. The second half goes nowhere.
        let _ = signalled.recv();
        let _ = stdin.write_all(lines(TOTAL / 2..TOTAL).as_bytes());
    });
    assert!(first.wait_for(3, Duration::from_secs(30)), "the run delivers");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    go.send(()).unwrap();
    writer.join().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let [read, delivered, failed, invalid, dropped, left] = summary(&stdout);
    assert_eq!((failed, invalid, dropped), (0, 0, 0), "{stdout}");
    assert_eq!(read, delivered + left, "{stdout}");
    let stopped: u64 = stdout
        .split("stopped at line ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(stopped, read);
    assert!(read < TOTAL as u64, "the signal came before the end: {stdout}");
    assert_eq!(delivered + left + (TOTAL as u64 - read), TOTAL as u64);
    no_temp_files(&spool);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(spool.join("resume.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "resume.json is private");
    }
    let got_first = ids(&first);
    assert_eq!(got_first.len() as u64, delivered, "{stdout}");
    let in_spool = support::spooled_ids(&spool);
    assert_eq!(in_spool.len() as u64, left);

    // The resumed run: the store first, then the lines not yet read.
    let second = Collector::ok();
    std::fs::write(&cfg, batch_config(&second)).unwrap();
    let mut child = send_from_stdin(&["--no-progress", "--resume"], &spool, &cfg);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(lines(0..TOTAL).as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let mut all: Vec<String> = got_first.into_iter().chain(ids(&second)).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "an id was delivered twice");
    assert_eq!(n, TOTAL, "every line delivered once across both runs");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// GrowingIO in batches of 500.
fn batch_config(c: &Collector) -> String {
    format!(
        "[consumer]\nkind = \"background\"\nmax_batch = 500\n\n[backend]\nkind = \"growingio\"\nhost = \"{}\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n\n[transport]\nmax_retries = 1\ninitial_backoff_ms = 10\n",
        c.url()
    )
}

#[test]
fn at_the_deadline_every_spool_file_is_whole_and_the_counts_add_up() {
    // A closed port: connection refused, retried, spooled.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = temp_dir();
    let spool = dir.join("spool");
    let cfg = format!(
        "[backend]\nkind = \"growingio\"\nhost = \"http://127.0.0.1:{port}\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n\n[transport]\nmax_retries = 50\ninitial_backoff_ms = 50\n"
    );
    std::fs::write(dir.join("trackflow.toml"), cfg).unwrap();
    std::fs::write(dir.join("events.jsonl"), lines(0..5000)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trackflow"))
        .args(["send", "--deadline", "1", "--spool"])
        .arg(&spool)
        .args(["--config", "trackflow.toml", "events.jsonl"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let [read, delivered, failed, invalid, dropped, left] = summary(&stdout);
    assert_eq!((read, delivered, invalid, dropped), (5000, 0, 0, 0), "{stdout}");
    assert_eq!((failed, left), (0, 5000), "{stdout}");
    no_temp_files(&spool);
    let mut in_spool = support::spooled_ids(&spool);
    in_spool.sort();
    in_spool.dedup();
    assert_eq!(in_spool.len(), 5000);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// When the first SIGINT comes.
#[derive(Debug, Clone, Copy)]
enum When {
    /// Before a line was read.
    Before,
    /// With half the input read and the rest not yet written.
    During,
    /// After the whole input was read, while the run delivers (or waits for the collector).
    After,
}

/// GrowingIO at `url`, batches of 100, quick retries and redeliveries.
fn store_config(url: &str) -> String {
    format!(
        "[consumer]\nkind = \"background\"\nmax_batch = 100\nredelivery_initial_ms = 100\nredelivery_max_ms = 500\n\n[backend]\nkind = \"growingio\"\nhost = \"{url}\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n\n[transport]\nmax_retries = 1\ninitial_backoff_ms = 10\n"
    )
}

/// A collector that takes `stall` over each request and counts the ids of what it answered.
fn counting(stall: Duration) -> (Collector, std::sync::Arc<parking_lot::Mutex<Vec<String>>>) {
    let got = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let g = got.clone();
    let c = Collector::start(move |r, _| {
        std::thread::sleep(stall);
        let ids = r.json().as_array().cloned().unwrap_or_default();
        g.lock().extend(
            ids.iter()
                .map(|e| e["attributes"]["id"].as_str().unwrap_or_default().to_owned()),
        );
        Reply::ok()
    });
    (c, got)
}

fn sigint(child: &std::process::Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT");
}

/// Waits until `cond`, at most 30 s.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    assert!(
        support::eventually(Duration::from_secs(30), cond),
        "never: {what}"
    );
}

/// One run interrupted by SIGINT `when`, the collector up (slow) or down (connections
/// refused); then `send --resume` with the collector up: every line arrives exactly once
/// across the two runs.
fn interrupted_then_resumed(when: When, up: bool) {
    const TOTAL: usize = 10_000;
    let dir = temp_dir();
    let spool = dir.join("spool");
    let cfg = dir.join("trackflow.toml");
    let (first, got_first) = counting(Duration::from_millis(40));
    let url = if up {
        first.url()
    } else {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", closed.local_addr().unwrap())
    };
    std::fs::write(&cfg, store_config(&url)).unwrap();
    let mut child = send_from_stdin(&["--no-progress", "--deadline", "5"], &spool, &cfg);
    let mut stdin = child.stdin.take().unwrap();
    // The tracker is built (its store opened) after the signal handlers are installed.
    wait_until("the store is open", || spool.join("queue").is_dir());
    match when {
        When::Before => {
            sigint(&child);
            std::thread::sleep(Duration::from_millis(200));
            let _ = stdin.write_all(lines(0..TOTAL).as_bytes());
            drop(stdin);
        }
        When::During => {
            stdin.write_all(lines(0..TOTAL / 2).as_bytes()).unwrap();
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(500));
            sigint(&child);
            std::thread::sleep(Duration::from_millis(200));
            let _ = stdin.write_all(lines(TOTAL / 2..TOTAL).as_bytes());
            drop(stdin);
        }
        When::After => {
            stdin.write_all(lines(0..TOTAL).as_bytes()).unwrap();
            drop(stdin);
            if up {
                wait_until("deliveries under way", || got_first.lock().len() >= 1_000);
            } else {
                std::thread::sleep(Duration::from_millis(800));
            }
            sigint(&child);
        }
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let [read, delivered, failed, invalid, dropped, left] = summary(&stdout);
    assert_eq!(
        (failed, invalid, dropped),
        (0, 0, 0),
        "{when:?} up={up}: {stdout}{stderr}"
    );
    assert_eq!(read, delivered + left, "{when:?} up={up}: {stdout}");
    assert_eq!(
        got_first.lock().len() as u64,
        delivered,
        "{when:?} up={up}: {stdout}"
    );
    if matches!(when, When::Before) {
        assert_eq!(read, 0, "{stdout}");
    }

    let (second, got_second) = counting(Duration::ZERO);
    std::fs::write(&cfg, store_config(&second.url())).unwrap();
    let mut child = send_from_stdin(&["--no-progress", "--resume"], &spool, &cfg);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(lines(0..TOTAL).as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stdout2 = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{when:?} up={up}: {stdout2}");
    let mut all: Vec<String> = got_first
        .lock()
        .iter()
        .chain(got_second.lock().iter())
        .cloned()
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "{when:?} up={up}: a line was delivered twice");
    assert_eq!(
        n, TOTAL,
        "{when:?} up={up}: every line once across both runs\n{stdout}\n{stdout2}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigint_before_reading_then_resume_collector_up() {
    interrupted_then_resumed(When::Before, true);
}

#[test]
fn sigint_before_reading_then_resume_collector_down() {
    interrupted_then_resumed(When::Before, false);
}

#[test]
fn sigint_while_reading_then_resume_collector_up() {
    interrupted_then_resumed(When::During, true);
}

#[test]
fn sigint_while_reading_then_resume_collector_down() {
    interrupted_then_resumed(When::During, false);
}

#[test]
fn sigint_after_reading_then_resume_collector_up() {
    interrupted_then_resumed(When::After, true);
}

#[test]
fn sigint_after_reading_then_resume_collector_down() {
    interrupted_then_resumed(When::After, false);
}

/// A second SIGINT cuts the shutdown short: the run exits within a second, keeping what is
/// not delivered, and `--resume` delivers it.
#[test]
fn a_second_sigint_exits_within_a_second_and_keeps_the_rest() {
    const TOTAL: usize = 5_000;
    let dir = temp_dir();
    let spool = dir.join("spool");
    let cfg = dir.join("trackflow.toml");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std::fs::write(
        &cfg,
        store_config(&format!("http://{}", closed.local_addr().unwrap())),
    )
    .unwrap();
    drop(closed);
    let mut child = send_from_stdin(&["--no-progress", "--deadline", "60"], &spool, &cfg);
    let mut stdin = child.stdin.take().unwrap();
    wait_until("the store is open", || spool.join("queue").is_dir());
    stdin.write_all(lines(0..TOTAL).as_bytes()).unwrap();
    drop(stdin);
    std::thread::sleep(Duration::from_millis(800));
    sigint(&child);
    std::thread::sleep(Duration::from_millis(500));
    let second = std::time::Instant::now();
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    let took = second.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        took < Duration::from_secs(1),
        "exited {took:?} after the second SIGINT: {stdout}"
    );
    let [read, delivered, failed, _, _, left] = summary(&stdout);
    assert_eq!(
        (read, delivered, failed, left),
        (TOTAL as u64, 0, 0, TOTAL as u64),
        "{stdout}"
    );

    let (up, got) = counting(Duration::ZERO);
    std::fs::write(&cfg, store_config(&up.url())).unwrap();
    let mut child = send_from_stdin(&["--no-progress", "--resume"], &spool, &cfg);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(lines(0..TOTAL).as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut ids = got.lock().clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), TOTAL);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The CLI speaks up: warnings are on by default (a collector refusing for now, a batch
/// refused for good), -q keeps only errors, -v adds more, RUST_LOG decides when set.
#[test]
fn the_cli_logs_warnings_by_default() {
    let down = Collector::start(|_, _| Reply::status(503));
    let run = |flags: &[&str], env: Option<&str>| {
        let dir = temp_dir();
        std::fs::write(dir.join("trackflow.toml"), store_config(&down.url())).unwrap();
        std::fs::write(dir.join("events.jsonl"), GOOD).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trackflow"));
        cmd.args(flags)
            .args([
                "send",
                "--deadline",
                "1",
                "--config",
                "trackflow.toml",
                "events.jsonl",
            ])
            .current_dir(&dir)
            .env_remove("RUST_LOG");
        if let Some(spec) = env {
            cmd.env("RUST_LOG", spec);
        }
        let out = cmd.output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let default = run(&[], None);
    assert!(
        default.contains("could not take"),
        "a warning by default: {default}"
    );
    let quiet = run(&["-q"], None);
    assert!(!quiet.contains("could not take"), "-q: errors only: {quiet}");
    let verbose = run(&["-vv"], None);
    assert!(verbose.contains("wait to be sent again"), "-vv: debug: {verbose}");
    let env = run(&["-q"], Some("trackflow=debug"));
    assert!(env.contains("wait to be sent again"), "RUST_LOG decides: {env}");
}

/// The newcomer's run (issue 27): 100,000 events over 100 users to Gravity and File from one
/// TOML, at the defaults, within the default deadline: nothing left, both have every event.
#[test]
fn gravity_and_file_at_the_defaults_take_100k_events_over_100_users() {
    let c = Collector::start(|_, _| Reply::Status(200, vec![], r#"{"code": 0}"#.into()));
    let files = temp_dir().join("files");
    let config = format!(
        "[[backends]]\nkind = \"gravity\"\nurl = \"{}/collect/?access_token=t\"\n\n[[backends]]\nkind = \"file\"\ndir = \"{}\"\n",
        c.url(),
        files.display()
    );
    let input: String = (0..100_000)
        .map(|i| {
            format!(
                "{{\"type\":\"track\",\"event\":\"buy\",\"user_id\":\"u{}\",\"properties\":{{\"n\":{i}}}}}\n",
                i % 100
            )
        })
        .collect();
    let (code, stdout, stderr) = run(&config, &input);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let at_gravity: usize = c
        .requests()
        .iter()
        .map(|r| {
            let body = support::gunzip(&r.body);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            v["event_list"].as_array().map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(at_gravity, 100_000, "{stdout}");
    // A batch of 500 over 100 users: envelopes of about 5 events. Before, Gravity's 20 per
    // envelope cut the batch to 20 events over 20 users: one event per request.
    assert!(
        c.requests().len() <= 100_000 / 4,
        "{} requests",
        c.requests().len()
    );
    let mut in_files = 0;
    for f in std::fs::read_dir(&files).unwrap().flatten() {
        in_files += std::fs::read_to_string(f.path()).unwrap().lines().count();
    }
    assert_eq!(in_files, 100_000);
    let _ = std::fs::remove_dir_all(files.parent().unwrap());
}
