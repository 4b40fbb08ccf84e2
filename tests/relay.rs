//! The relay against a real broker (tansu, whose group coordinator shares the partitions):
//! trackers write with the Kafka backend, relays in one group deliver to loopback GrowingIO
//! and Gravity collectors, committing only what both acknowledged.

#![cfg(all(feature = "kafka", feature = "gravity", feature = "cli"))]

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::kafka::Broker;
use support::{Collector, Reply};
use trackflow::backend::kafka::Kafka;
use trackflow::{BackgroundConsumer, Identity, Properties, Tracker};

const TOPIC: &str = "events";
const PARTITIONS: u32 = 6;

/// Two collectors that count what arrives by the event's `n`: GrowingIO (attributes) and
/// Gravity (properties, in each envelope's event list). `up` switches Gravity to 503s.
struct Sinks {
    gio: Collector,
    gravity: Collector,
    gravity_up: Arc<AtomicBool>,
    // Gravity's events by `n`, from the requests answered 200 only (those are deliveries).
    gravity_ok: Arc<parking_lot::Mutex<HashMap<i64, usize>>>,
}

impl Sinks {
    fn start() -> Sinks {
        let gravity_up = Arc::new(AtomicBool::new(true));
        let gravity_ok: Arc<parking_lot::Mutex<HashMap<i64, usize>>> = Arc::default();
        let (up, ok) = (gravity_up.clone(), gravity_ok.clone());
        let gravity = Collector::start(move |req, _| {
            if !up.load(Ordering::Relaxed) {
                return Reply::status(503);
            }
            let mut ok = ok.lock();
            for e in req.json()["event_list"].as_array().cloned().unwrap_or_default() {
                *ok.entry(number(&e["properties"]["n"])).or_default() += 1;
            }
            Reply::Status(200, vec![], r#"{"code": 0}"#.into())
        });
        Sinks {
            gio: Collector::ok(),
            gravity,
            gravity_up,
            gravity_ok,
        }
    }

    /// How many times each `n` arrived at GrowingIO and at Gravity (200s only for Gravity:
    /// requests answered 503 are not deliveries).
    fn arrived(&self) -> (HashMap<i64, usize>, HashMap<i64, usize>) {
        let mut gio = HashMap::new();
        for e in self.gio.json_events() {
            *gio.entry(number(&e["attributes"]["n"])).or_default() += 1;
        }
        (gio, self.gravity_ok.lock().clone())
    }
}

fn number(v: &serde_json::Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(-1)
}

/// The relay's config: the topic, the group, both collectors.
fn config(dir: &Path, broker: &str, sinks: &Sinks) -> PathBuf {
    let text = format!(
        r#"
[source]
brokers = "{broker}"
topics = ["{TOPIC}"]
group_id = "relays"
session_timeout_ms = 6000
commit_interval_ms = 200
max_waiting = 4000

[consumer]
redelivery_initial_ms = 100
redelivery_max_ms = 1000

[spool]
dir = "{dir}/spool"

[[backends]]
kind = "growingio"
host = "{gio}"
project_key = "p"
data_source_id = "d"

[[backends]]
kind = "gravity"
url = "{gravity}/collect/?access_token=t"
compress = false
"#,
        dir = dir.display(),
        gio = sinks.gio.url(),
        gravity = sinks.gravity.url(),
    );
    let path = dir.join("relay.toml");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// A broker holding the topic, the two collectors, and a relay config in a directory of
/// its own.
struct Setup {
    broker: Broker,
    sinks: Sinks,
    dir: PathBuf,
    cfg: PathBuf,
}

fn setup(name: &str) -> Setup {
    let broker = Broker::start();
    broker.create_topic(TOPIC, PARTITIONS);
    let sinks = Sinks::start();
    let dir = support::temp_dir(name);
    let cfg = config(&dir, &broker.addr, &sinks);
    Setup {
        broker,
        sinks,
        dir,
        cfg,
    }
}

/// A relay process, and the log it writes beside its config.
struct RelayProcess {
    child: Child,
    log: PathBuf,
}

impl RelayProcess {
    fn start(config: &Path) -> RelayProcess {
        // Its log beside the config, for a failure's diagnosis.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let log = config.with_extension(format!("{}.log", STARTED.fetch_add(1, Ordering::Relaxed)));
        let child = Command::new(env!("CARGO_BIN_EXE_trackflow"))
            .args(["-v", "relay", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        RelayProcess { child, log }
    }

    /// The partition counts of its assignments so far, from its log.
    fn assignments(&self) -> Vec<usize> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.split("assigned ").nth(1)?.split(' ').next()?.parse().ok())
            .collect()
    }

    /// Waits until it was assigned partitions `count` times; the last assignment's size.
    fn until_assigned(&self, count: usize, secs: u64) -> usize {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let seen = self.assignments();
            if seen.len() >= count {
                return seen[count - 1];
            }
            assert!(
                Instant::now() < end,
                "{} assigned {seen:?} in {secs} s, not {count} times",
                self.log.display()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then waits for it to exit; whether it exited 0.
    fn stop(mut self) -> bool {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let ok = self.child.wait().unwrap().success();
        std::mem::forget(self);
        ok
    }

    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tracker writing to the topic with the Kafka backend, one message per record batch:
/// tansu 0.6.0 serves no fetch that starts inside a batch (assigned at offset 1 of a 1,000-message partition written in batches, it returns nothing),
/// and a relay that takes over a partition starts at its committed offset, anywhere. A
/// Kafka broker returns the batch holding the offset; the relay needs nothing of the kind.
fn producer(broker: &str) -> Tracker {
    let kafka = Kafka::builder(broker, TOPIC)
        .property("batch.num.messages", "1")
        .build()
        .unwrap();
    let dir = support::temp_dir("relay-producer");
    let consumer = BackgroundConsumer::builder(kafka)
        .spool(trackflow::spool::Spool::open(&dir).unwrap())
        .build();
    Tracker::builder().consumer(consumer).build().unwrap()
}

/// Tracks events `range` from 100 users (`n` is the event's number).
fn produce(broker: &str, range: std::ops::Range<i64>) {
    produce_from_threads(broker, vec![range]);
}

/// Tracks each of `ranges` on a thread of its own, into one tracker: one producer, so one
/// connection to the broker. tansu 0.6.0's storage (`dynostore.rs`) raises a partition's
/// high watermark before it writes the record there, and a fetch lists the records below
/// the watermark that exist: one written meanwhile on another connection to the same
/// partition, at the next offset, is served, and the reader moves past the one still being
/// written (seen twice in some twenty runs with two producers: one event missing at both
/// sinks). A broker's connection answers its requests in order, so one producer's writes do
/// not race; Apache Kafka raises the watermark only after the write.
fn produce_from_threads(broker: &str, ranges: Vec<std::ops::Range<i64>>) {
    let t = producer(broker);
    let threads: Vec<_> = ranges
        .into_iter()
        .map(|range| {
            let t = t.clone();
            thread::spawn(move || {
                for n in range {
                    let who = Identity::user(format!("u{}", n % 100));
                    t.track(&who, "view", Properties::new().with("n", n)).unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    // One message per batch: tansu takes them at a few thousand a second, far fewer on a
    // machine running several suites at once (300 s was not enough there).
    let r = t.shutdown(Duration::from_secs(900)).unwrap();
    assert!(r.completed, "{r:?}");
    // Every event on the topic: a loss found later at the sinks is then the relay's.
    assert_eq!(r.stats.delivered, r.stats.accepted, "{r:?}");
}

/// Waits until every `0..n` arrived at both sinks; the duplicates at each.
fn all_arrive(sinks: &Sinks, n: i64, secs: u64) -> (usize, usize) {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let (gio, gravity) = sinks.arrived();
        let missing = |m: &HashMap<i64, usize>| (0..n).filter(|i| !m.contains_key(i)).collect::<Vec<_>>();
        let (mg, mv) = (missing(&gio), missing(&gravity));
        if mg.is_empty() && mv.is_empty() {
            let dups = |m: &HashMap<i64, usize>| m.values().map(|c| c - 1).sum::<usize>();
            return (dups(&gio), dups(&gravity));
        }
        // With what came twice: a missing event beside a repeated one says the reads
        // (the broker's answers) went wrong rather than the deliveries.
        let twice = |m: &HashMap<i64, usize>| {
            let mut t: Vec<i64> = m.iter().filter(|(_, c)| **c > 1).map(|(n, _)| *n).collect();
            t.sort_unstable();
            t.truncate(5);
            t
        };
        assert!(
            Instant::now() < end,
            "missing after {secs} s: {} at GrowingIO (first {:?}), {} at Gravity (first {:?}); \
             first repeated {:?} / {:?}",
            mg.len(),
            &mg[..mg.len().min(5)],
            mv.len(),
            &mv[..mv.len().min(5)],
            twice(&gio),
            twice(&gravity)
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_relays_deliver_two_hundred_thousand_events_to_both_sinks() {
    let Setup {
        broker,
        sinks,
        dir,
        cfg,
    } = setup("relay-two");
    let (a, b) = (RelayProcess::start(&cfg), RelayProcess::start(&cfg));
    produce_from_threads(&broker.addr, vec![0..100_000, 100_000..200_000]);
    let (dg, dv) = all_arrive(&sinks, 200_000, 180);
    assert!(a.stop() && b.stop(), "both relays exit 0 on SIGTERM");
    // Only a rebalance's uncommitted window can come twice: the second relay joined once.
    assert!(
        dg <= 4_000 && dv <= 4_000,
        "duplicates: {dg} at GrowingIO, {dv} at Gravity"
    );
    // Nothing was spilled to the relay's disk: no queue directory beside the dead letters.
    assert!(!dir.join("spool/growingio/queue").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Messages written and not committed by the group, over every partition: what a member
/// that dies now may have delivered without its commit (an upper bound, since it also counts
/// what nobody read yet).
fn uncommitted(broker: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", "relays")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..PARTITIONS as i32 {
        tpl.add_partition(TOPIC, p);
    }
    let committed = c.committed_offsets(tpl, Duration::from_secs(5)).unwrap();
    let mut total = 0;
    for e in committed.elements() {
        let (low, high) = c
            .fetch_watermarks(TOPIC, e.partition(), Duration::from_secs(5))
            .unwrap();
        let at = match e.offset() {
            rdkafka::Offset::Offset(o) => o,
            _ => low,
        };
        total += (high - at).max(0);
    }
    total
}

/// Waits until at least `n` events arrived at GrowingIO.
fn until_arrived(sinks: &Sinks, n: usize, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while sinks.gio.json_events().len() < n {
        assert!(Instant::now() < end, "fewer than {n} arrived in {secs} s");
        thread::sleep(Duration::from_millis(100));
    }
}

/// The group's leader is the relay that joined first, and the one killed is the other.
/// tansu 0.6.0's coordinator (`coordinator/group/administrator.rs`) cannot recover from a
/// dead leader: a member's expiry found by a heartbeat leaves the group formed, the formed
/// group's `sync` answers every member from the stored assignment and ignores the leader's
/// new one, and a group whose dead leader was removed that way keeps naming it leader, so no
/// member ever leads again (seen: the survivor assigned 0 partitions for 600 s). For the same
/// reason the survivor keeps its own partitions and does not take the dead member's (the
/// stored assignment); they move when the restarted relay joins, which forms the group anew.
/// Apache Kafka's coordinator elects a new leader and takes the new assignment.
#[test]
fn a_relay_killed_mid_run_loses_nothing_and_its_restart_rejoins_the_group() {
    let Setup {
        broker,
        sinks,
        dir,
        cfg,
    } = setup("relay-kill");
    let b = RelayProcess::start(&cfg);
    assert_eq!(
        b.until_assigned(1, 60),
        PARTITIONS as usize,
        "the first member takes all"
    );
    let a = RelayProcess::start(&cfg);
    assert!(
        a.until_assigned(1, 60) > 0,
        "the second member shares the partitions"
    );
    let n = 30_000;
    let addr = broker.addr.clone();
    let producing = thread::spawn(move || produce(&addr, 0..n));
    until_arrived(&sinks, n as usize / 4, 600);
    let before = b.assignments().len();
    a.kill9();
    // What the dead member may have delivered without committing: at most what was written
    // and not committed in its partitions now (nobody commits them until the group moves
    // them; counting every partition and what is unread only widens the bound).
    let window = uncommitted(&broker.addr);
    // The survivor learns of the death (its heartbeat is answered "rebalance in progress"
    // once the session times out), hands over and is assigned again; then the killed relay
    // comes back and the group shares the partitions out anew.
    b.until_assigned(before + 1, 120);
    let a = RelayProcess::start(&cfg);
    producing.join().unwrap();
    let (dg, dv) = all_arrive(&sinks, n, 180);
    // Besides the kill, two rebalances (the kill's, the return's) each hand over what the
    // survivor could not get acknowledged within revoke_wait: at most max_waiting (4,000).
    let bound = window + 2 * 4_000;
    assert!(
        dg as i64 <= bound && dv as i64 <= bound,
        "duplicates {dg} / {dv}; {window} uncommitted at the kill, bound {bound}"
    );
    eprintln!(
        "assigned: survivor {:?}, restarted {:?}",
        b.assignments(),
        a.assignments()
    );
    assert!(a.stop() && b.stop());
    assert_eq!(uncommitted(&broker.addr), 0, "everything committed at the end");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bytes of every file below `dir` but the relays' own logs.
fn disk_use(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            total += disk_use(&path);
        } else if path.extension().is_none_or(|x| x != "log") {
            total += entry.metadata().map_or(0, |m| m.len());
        }
    }
    total
}

#[test]
fn a_backend_down_for_thirty_seconds_grows_the_lag_not_the_disk_and_loses_nothing() {
    let Setup {
        broker,
        sinks,
        dir,
        cfg,
    } = setup("relay-down");
    let relay = RelayProcess::start(&cfg);
    let n = 20_000;
    sinks.gravity_up.store(false, Ordering::Relaxed);
    let down_at = Instant::now();
    let disk_before = disk_use(&dir);
    let addr = broker.addr.clone();
    let producing = thread::spawn(move || produce(&addr, 0..n));
    thread::sleep(Duration::from_secs(5));
    let early = uncommitted(&broker.addr);
    producing.join().unwrap();
    thread::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed()));
    let late = uncommitted(&broker.addr);
    // Nothing is acknowledged by both sinks, so nothing is committed: the lag is everything
    // written, and it only grew.
    assert!(
        early <= late && late == n,
        "the lag while Gravity is down: {early} → {late}"
    );
    assert_eq!(disk_use(&dir), disk_before, "the relay's disk does not grow");
    sinks.gravity_up.store(true, Ordering::Relaxed);
    let (dg, dv) = all_arrive(&sinks, n, 180);
    let end = Instant::now() + Duration::from_secs(30);
    while uncommitted(&broker.addr) > 0 {
        assert!(Instant::now() < end, "the lag drains");
        thread::sleep(Duration::from_millis(200));
    }
    assert!(relay.stop());
    // Nothing was read twice: one relay, no rebalance, nothing committed past a pause.
    assert_eq!((dg, dv), (0, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn profile_operations_keep_each_users_order_through_a_rebalance() {
    let Setup {
        broker,
        sinks,
        dir,
        cfg,
    } = setup("relay-order");
    let a = RelayProcess::start(&cfg);
    let (users, ops) = (100i64, 60i64);
    let addr = broker.addr.clone();
    let producing = thread::spawn(move || {
        let t = producer(&addr);
        for k in 0..ops {
            for u in 0..users {
                let e = trackflow::Event::profile(trackflow::ProfileOp::Set)
                    .with_identity(Identity::user(format!("u{u}")))
                    .with_properties(Properties::new().with("seq", k).with("n", k * users + u));
                t.record(e).unwrap();
            }
        }
        assert!(t.shutdown(Duration::from_secs(900)).unwrap().completed);
    });
    // A second relay joins a third of the way: the partitions are shared out again.
    let gravity_count = |s: &Sinks| s.arrived().1.len();
    let end = Instant::now() + Duration::from_secs(600);
    while gravity_count(&sinks) < (users * ops / 3) as usize {
        assert!(Instant::now() < end);
        thread::sleep(Duration::from_millis(100));
    }
    let b = RelayProcess::start(&cfg);
    producing.join().unwrap();
    let end = Instant::now() + Duration::from_secs(180);
    while gravity_count(&sinks) < (users * ops) as usize {
        assert!(
            Instant::now() < end,
            "{} of {}",
            gravity_count(&sinks),
            users * ops
        );
        thread::sleep(Duration::from_millis(200));
    }
    // Each user's operations arrived in the order they were made, none after a later one.
    let mut seqs: HashMap<String, Vec<i64>> = HashMap::new();
    for r in sinks.gravity.requests() {
        let body = r.json();
        let client = body["client_id"].as_str().unwrap_or_default().to_owned();
        for e in body["event_list"].as_array().cloned().unwrap_or_default() {
            seqs.entry(client.clone())
                .or_default()
                .push(e["properties"]["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(seqs.len(), users as usize);
    for (user, s) in &seqs {
        assert!(s.windows(2).all(|w| w[0] <= w[1]), "{user}: {s:?}");
        assert_eq!(s.last(), Some(&(ops - 1)), "{user}");
    }
    assert!(a.stop() && b.stop());
    let _ = std::fs::remove_dir_all(&dir);
}
