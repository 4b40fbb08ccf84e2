//! Each durability keeps its sentence across `kill -9`: with `Durability::Process` and
//! `Fsync` an event `track()` accepted survives, and the next tracker on the journal delivers
//! it; with `Memory` what spilled to disk survives (no user-space buffer holds it), and only
//! what was in memory may be lost.
//!
//! The child process is this test binary run again with `TF_CRASH_CHILD` set: it tracks
//! numbered events and prints each number once `track()` has returned `Ok` (with `Memory`,
//! and whether it spilled), until the test kills it. `TF_CRASH_ROUNDS` sets the number of
//! kills (20 by default; see BENCHMARKS.md for the full-size run).

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::Mutex;
use support::{temp_dir, Collector, Reply, Rng};
use trackflow::{
    spool::Spool, BackgroundConsumer, Durability, Error, Event, GrowingIo, Identity, Properties, Tracker,
};

const MAX_BATCH: usize = 50;

fn consumer(url: &str, dir: &Path) -> trackflow::Result<BackgroundConsumer> {
    consumer_with(url, dir, Durability::Process)
}

fn consumer_with(url: &str, dir: &Path, durability: Durability) -> trackflow::Result<BackgroundConsumer> {
    let b = BackgroundConsumer::builder(GrowingIo::builder(url, "p", "d").build()?)
        .durability(durability)
        .max_batch(MAX_BATCH)
        .flush_interval(Duration::from_millis(10))
        .spool(Spool::open(dir)?);
    // With Memory durability a small queue, so that most events spill.
    let b = if durability == Durability::Memory {
        b.queue_capacity(100)
    } else {
        b
    };
    b.try_build()
}

/// The durability named in the child's environment.
fn durability(name: &str) -> Durability {
    match name {
        "memory" => Durability::Memory,
        "fsync" => Durability::Fsync {
            interval: Duration::from_millis(50),
        },
        _ => Durability::Process,
    }
}

fn event(n: u64) -> Event {
    Event::track("e")
        .with_identity(Identity::user(format!("u{}", n % 7)))
        .with_properties(Properties::new().with("n", n as i64))
}

/// The child: tracks until killed, reporting every accepted number on stdout, with `s`
/// after it when it spilled to disk.
fn child(url: &str, dir: &Path) -> ! {
    let d = durability(&std::env::var("TF_CRASH_DURABILITY").unwrap_or_default());
    let tracker = Tracker::builder()
        .consumer(consumer_with(url, dir, d).expect("the child opens its store"))
        .build()
        .unwrap();
    let start: u64 = std::env::var("TF_CRASH_FROM").unwrap().parse().unwrap();
    let mut out = std::io::stdout().lock();
    let mut spilled = 0;
    for n in start.. {
        tracker.record(event(n)).unwrap();
        // One producer: a rise of the counter is this event's spill.
        let now = tracker.stats().spilled;
        let mark = if now > spilled { " s" } else { "" };
        spilled = now;
        writeln!(out, "{n}{mark}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

fn numbers(c: &Collector) -> Vec<u64> {
    c.json_events()
        .iter()
        .map(|e| {
            let n = &e["attributes"]["n"];
            n.as_u64()
                .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(u64::MAX)
        })
        .collect()
}

/// Runs a child tracking from `from` to `url` on the journal in `dir`, kills it (SIGKILL)
/// `after` once it is tracking, and returns the numbers it reported accepted.
fn run_child_until_killed(url: &str, dir: &Path, from: u64, after: Duration) -> Vec<u64> {
    run_child("kill_9_loses_no_accepted_event", "process", url, dir, from, after)
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

/// As [`run_child_until_killed`], with `test` the test that runs the child and its
/// durability; returns each number with whether it spilled.
fn run_child(
    test: &str,
    durability: &str,
    url: &str,
    dir: &Path,
    from: u64,
    after: Duration,
) -> Vec<(u64, bool)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env("TF_CRASH_DURABILITY", durability)
        .env("TF_CRASH_CHILD", url)
        .env("TF_CRASH_DIR", dir)
        .env("TF_CRASH_FROM", from.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let reader = thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // The harness may print "test … " before the first number; a line cut by the
            // kill is not a number, and not reported.
            let mut words = line.split_whitespace().rev();
            let (last, before) = (words.next(), words.next());
            match (last.map(str::parse::<u64>), before.map(str::parse::<u64>)) {
                (Some(Ok(n)), _) => s2.lock().push((n, false)),
                (Some(Err(_)), Some(Ok(n))) if last == Some("s") => s2.lock().push((n, true)),
                _ => {}
            }
        }
    });
    while seen.lock().len() < 10 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended before it was killed ({status}); run it by hand to see why");
        }
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(after);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();

    seen.lock().clone()
}

#[test]
fn kill_9_loses_no_accepted_event() {
    kill_9_rounds("kill_9_loses_no_accepted_event", "process");
}

#[test]
fn kill_9_with_fsync_loses_no_accepted_event() {
    kill_9_rounds("kill_9_with_fsync_loses_no_accepted_event", "fsync");
}

/// `Memory`: what spilled survives the kill (it is in the page cache when `track()`
/// returns); only what sat in memory may be lost.
#[test]
fn kill_9_with_memory_durability_keeps_what_spilled() {
    kill_9_rounds("kill_9_with_memory_durability_keeps_what_spilled", "memory");
}

/// Kills a child tracking with `durability` (run as `test`) `TF_CRASH_ROUNDS` times, then
/// has a new tracker deliver what the store holds: every event the durability promises
/// arrives.
fn kill_9_rounds(test: &str, durability: &str) {
    if let Ok(url) = std::env::var("TF_CRASH_CHILD") {
        child(&url, Path::new(&std::env::var("TF_CRASH_DIR").unwrap()));
    }
    let rounds: u64 = std::env::var("TF_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut rng = Rng(0xdead_0009);
    // Slow enough that a backlog builds up behind the requests.
    let live = Collector::start(|_, _| Reply::Stall(Duration::from_millis(3), 200));
    let dir = temp_dir(&format!("crash-{durability}"));
    // Accepted and reported, with whether the durability promises it survives.
    let mut reported: HashMap<u64, bool> = HashMap::new();
    let mut from = 0u64;
    for round in 0..rounds {
        let after = Duration::from_millis(rng.below(150));
        let got = run_child(test, durability, &live.url(), &dir, from, after);
        eprintln!("round {round}: {} reported by this child", got.len());
        let last = got.iter().map(|(n, _)| *n).max().unwrap();
        reported.extend(
            got.into_iter()
                .map(|(n, spilled)| (n, spilled || durability != "memory")),
        );
        // The next child numbers on from past anything this one may have accepted unreported.
        from = last + 2;
    }

    // A new process's tracker on the same store, against another collector.
    let after = Collector::ok();
    let tracker = Tracker::builder()
        .consumer(consumer(&after.url(), &dir).unwrap())
        .build()
        .unwrap();
    tracker.flush_timeout(Duration::from_secs(60)).unwrap();
    let report = tracker.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(report.stats.failed, 0, "{:?}", report.stats);

    let mut count: HashMap<u64, usize> = HashMap::new();
    for n in numbers(&live).into_iter().chain(numbers(&after)) {
        *count.entry(n).or_default() += 1;
    }
    let promised = reported.values().filter(|p| **p).count();
    let missing: Vec<&u64> = reported
        .iter()
        .filter(|(n, promised)| **promised && !count.contains_key(n))
        .map(|(n, _)| n)
        .collect();
    assert!(
        missing.is_empty(),
        "{durability}: accepted (and promised) but never delivered: {:?}",
        &missing[..missing.len().min(10)]
    );
    let lost = reported.keys().filter(|n| !count.contains_key(n)).count();
    let foreign: Vec<&u64> = count.keys().filter(|n| !reported.contains_key(n)).collect();
    // At most one per kill: accepted, killed before its number was printed.
    assert!(
        foreign.len() as u64 <= rounds,
        "{} arrived that were not reported: {foreign:?}",
        foreign.len()
    );
    let twice = count.values().filter(|c| **c > 1).count();
    // Only batches in flight at a kill arrive twice: up to `max_in_flight` of them, and the
    // store is acknowledged only past the oldest still out.
    let window = (MAX_BATCH * trackflow::delivery::DEFAULT_MAX_IN_FLIGHT) as u64;
    assert!(
        twice as u64 <= rounds * window,
        "{twice} events arrived twice over {rounds} kills"
    );
    eprintln!(
        "{durability}, {rounds} kills: {} accepted and reported, {promised} promised, all delivered; {lost} lost from memory; {} recovered by the new tracker, {twice} twice, {} accepted unreported",
        reported.len(),
        report.stats.recovered,
        foreign.len()
    );
    drop(tracker);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn process_durability_delivers_through_the_journal() {
    let c = Collector::ok();
    let dir = temp_dir("journal");
    let tracker = Tracker::builder()
        .consumer(consumer(&c.url(), &dir).unwrap())
        .build()
        .unwrap();
    for n in 0..5_000 {
        tracker.record(event(n)).unwrap();
    }
    tracker.flush().unwrap();
    let mut got = numbers(&c);
    got.sort_unstable();
    assert!(
        got == (0..5_000).collect::<Vec<_>>(),
        "{} delivered, not 0..5000 once each",
        got.len()
    );
    let report = tracker.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!((report.stats.delivered, report.stats.spilled), (5_000, 0));
    drop(tracker);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_trackers_on_one_journal_the_second_gets_a_clear_error() {
    let dir = temp_dir("two");
    let first = consumer("http://127.0.0.1:9", &dir).unwrap();
    let err = consumer("http://127.0.0.1:9", &dir).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
    assert!(err.to_string().contains("in use by another tracker"), "{err}");
    drop(first);
    consumer("http://127.0.0.1:9", &dir).expect("free once the first is gone");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn process_durability_without_a_journal_is_never_a_quiet_downgrade() {
    let err = BackgroundConsumer::builder(trackflow::MemoryBackend::new())
        .durability(Durability::Process)
        .spool(None)
        .try_build()
        .unwrap_err();
    assert!(err.to_string().contains("journal"), "{err}");
    // build() keeps what was asked: the consumer takes no event, and the tracker's build
    // says why.
    let c = BackgroundConsumer::builder(trackflow::MemoryBackend::new())
        .durability(Durability::Process)
        .spool(None)
        .build();
    assert_eq!(c.durability(), Durability::Process);
    let e = trackflow::Consumer::consume(&c, event(1)).unwrap_err();
    assert!(e.to_string().contains("cannot honour Process durability"), "{e}");
    let err = Tracker::builder().consumer(c).build().unwrap_err();
    assert!(err.to_string().contains("give it a writable spool"), "{err}");
    // The same where the spool's directory cannot be written (as on a read-only root).
    let ro = Spool::open(temp_dir("ro-journal")).unwrap();
    let queue = ro.queue_dir();
    std::fs::write(&queue, b"a file where the queue's directory would be").unwrap();
    let c = BackgroundConsumer::builder(trackflow::MemoryBackend::new())
        .durability(Durability::Fsync {
            interval: Duration::from_millis(100),
        })
        .spool(ro)
        .build();
    assert!(trackflow::Consumer::ready(&c).is_err());
    let _ = std::fs::remove_dir_all(queue.parent().unwrap());
}

/// A journal damaged on purpose after a kill: a flipped byte in the middle, a torn tail, a
/// zero-length segment and a foreign file. Each is reported, and every intact record is
/// delivered.
#[test]
fn a_damaged_journal_delivers_every_intact_record() {
    let held = support::Hold::default();
    let h = held.clone();
    let never = Collector::start(move |_, _| Reply::Hold(h.clone()));
    let dir = temp_dir("damaged");
    let reported = run_child_until_killed(&never.url(), &dir, 0, Duration::from_millis(50));
    held.release();
    let queue = dir.join("queue");
    let mut segs: Vec<_> = std::fs::read_dir(&queue)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    let seg = segs.last().unwrap().clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let used = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    // A flipped byte a third of the way in, and the last record cut short.
    bytes[used / 3] ^= 0xff;
    bytes[used - 3..used].fill(0);
    std::fs::write(&seg, &bytes).unwrap();
    std::fs::write(queue.join("9999999999999999.seg"), b"").unwrap();
    std::fs::write(queue.join("notes.txt"), b"left here by someone").unwrap();

    let after = Collector::ok();
    let consumer = Arc::new(consumer(&after.url(), &dir).unwrap());
    let tracker = Tracker::builder().consumer(consumer.clone()).build().unwrap();
    tracker.flush_timeout(Duration::from_secs(60)).unwrap();
    let damage = consumer.disk_damage();
    assert_eq!(damage.corrupt_regions, 1, "{damage:?}");
    assert_eq!(damage.torn_tails, 1, "{damage:?}");
    assert_eq!(damage.foreign_files.len(), 2, "{damage:?}");
    let delivered: HashSet<u64> = numbers(&after).into_iter().collect();
    let last = *reported.iter().max().unwrap();
    assert!(
        delivered.iter().all(|n| *n <= last + 1),
        "nothing that was not tracked"
    );
    let lost = reported.iter().filter(|n| !delivered.contains(n)).count();
    // The record under the flipped byte and the torn last one (which may be the one that
    // was accepted but not yet reported).
    assert!((1..=2).contains(&lost), "{lost} of {} lost", reported.len());
    assert_eq!(
        delivered.len() + lost,
        reported.len() + usize::from(delivered.contains(&(last + 1)))
    );
    tracker.shutdown(Duration::from_secs(5)).unwrap();
    drop((tracker, consumer));
    std::fs::remove_dir_all(&dir).unwrap();
}
