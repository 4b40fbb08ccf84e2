//! The relay: events already on two 6-partition topics of a real broker (tansu, another
//! process), delivered by relays (in this process, each its own Kafka client and group) to a
//! GrowingIO sink 50 ms away (another process, one write, TCP_NODELAY, counting events).
//! Reports events/s from the first event at the sink to the last: one relay reading both
//! topics, then two relays reading one topic each.
//!
//! Two relays split the partitions as a group would, but each in a group of its own: tansu
//! 0.6.0 serves no fetch that starts inside a record batch, and a group's second member
//! arriving moves partitions at committed offsets, which may be inside one (tests/relay.rs
//! runs the group itself, on topics written one message per batch).
//!
//! The relays' `max_waiting` is 1,000,000 (`--max-waiting N`): a relay that pauses a
//! partition resumes it at its next message, inside a batch, which tansu does not serve
//! either.
//!
//! Beside each rate, the CPU seconds the relays (this process), the broker and the sink
//! took over the run, and how busy the machine's cores were.
//!
//! `cargo bench --bench relay --features kafka,toml` (`-- --events N --delay-ms 50`).

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::sink::Sink;
use support::kafka::Broker;
use trackflow::relay::Relay;
use trackflow::{spool::Spool, BackgroundConsumer, Config, Identity, Kafka, Tracker};

const PARTITIONS: u32 = 6;

fn main() {
    if common::sink::serve_if_child() {
        return;
    }
    let opt = common::opt;
    let events: u64 = opt("--events", "300000").parse().unwrap();
    let delay: u64 = opt("--delay-ms", "50").parse().unwrap();
    let broker = Broker::start();
    let sink = Sink::start(Duration::from_millis(delay));
    println!(
        "broker {} (tansu), sink {} answering after {delay} ms; {events} standard events",
        broker.addr, sink.url
    );
    for topic in ["a", "b"] {
        broker.create_topic(topic, PARTITIONS);
        let rate = produce(&broker.addr, topic, events / 2);
        println!("{topic}: {} events written at {rate:.0} events/s", events / 2);
    }
    println!("| relays | topics each | events/s | ratio | CPU s: relays / broker / sink | cores busy |");
    println!("|---|---|---|---|---|---|");
    let one = run(&broker, &sink, &[&["a", "b"]], events);
    println!("| 1 | a, b | {:.0} | 1.00 | {} |", one.rate, one.cpu);
    let two = run(&broker, &sink, &[&["a"], &["b"]], events);
    println!(
        "| 2 | a; b | {:.0} | {:.2} | {} |",
        two.rate,
        two.rate / one.rate,
        two.cpu
    );
}

struct Measured {
    rate: f64,
    cpu: String,
}

/// A relay of a group of its own reading `topics` from the start.
fn relay(broker: &Broker, sink: &Sink, topics: &[&str]) -> Relay {
    let list = topics
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let group = format!("bench-{}-{}", topics.join(""), std::process::id());
    let cfg = Config::from_toml_str(&format!(
        "[source]\nbrokers = \"{}\"\ntopics = [{list}]\ngroup_id = \"{group}-{}\"\nmax_waiting = {}\n[spool]\nenabled = false\n[backend]\nkind = \"growingio\"\nhost = \"{}\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n",
        broker.addr,
        topics.len(),
        // No pause: tansu 0.6.0 cannot resume a paused partition inside a record batch
        // either (the relay waits for good), so the window holds the whole run here.
        common::opt("--max-waiting", "1000000"),
        sink.url
    ))
    .unwrap();
    Relay::from_config(&cfg).unwrap()
}

/// Events per second with one relay per entry of `split`, each reading its topics.
fn run(broker: &Broker, sink: &Sink, split: &[&[&str]], events: u64) -> Measured {
    let before = sink.stats().0;
    let stop = Arc::new(AtomicBool::new(false));
    let cpu = Cpu::start(broker, sink);
    let running: Vec<_> = split
        .iter()
        .enumerate()
        .map(|(n, topics)| {
            let (r, s) = (relay(broker, sink, topics), stop.clone());
            std::thread::Builder::new()
                .name(format!("relay-poll-{n}"))
                .spawn(move || r.run(&s, Duration::from_secs(60)).unwrap())
                .unwrap()
        })
        .collect();
    let mut first = None;
    loop {
        let got = sink.stats().0 - before;
        if got > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if got >= events {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = first.map_or(Duration::ZERO, |t| t.elapsed());
    let cpu = cpu.report();
    stop.store(true, Ordering::Release);
    for h in running {
        assert_eq!(h.join().unwrap().stats.failed, 0);
    }
    Measured {
        rate: events as f64 / took.as_secs_f64().max(1e-9),
        cpu,
    }
}

/// CPU time of this process, the broker and the sink, and of the machine, from a start.
struct Cpu {
    pids: [String; 3],
    before: Vec<f64>,
    machine: (f64, f64),
    threads: std::collections::HashMap<String, (String, f64)>,
}

impl Cpu {
    fn start(broker: &Broker, sink: &Sink) -> Cpu {
        let me = std::process::id().to_string();
        let pids = [me, broker.pid().to_string(), sink.pid().to_string()];
        Cpu {
            before: pids.iter().map(|p| common::cpu_of(p)).collect(),
            pids,
            machine: machine(),
            threads: threads(),
        }
    }

    /// "relays / broker / sink | cores busy" since the start; prints the busiest threads.
    fn report(&self) -> String {
        let (busy, total) = machine();
        let mut busiest: Vec<(f64, String)> = threads()
            .into_iter()
            .map(|(tid, (name, t))| (t - self.threads.get(&tid).map_or(0.0, |x| x.1), name))
            .collect();
        busiest.sort_by(|a, b| b.0.total_cmp(&a.0));
        let top: Vec<String> = busiest
            .iter()
            .take(4)
            .map(|(t, n)| format!("{n} {t:.2}"))
            .collect();
        println!("  busiest threads (CPU s): {}", top.join(", "));
        let used: Vec<String> = self
            .pids
            .iter()
            .zip(&self.before)
            .map(|(p, b)| format!("{:.1}", common::cpu_of(p) - b))
            .collect();
        format!(
            "{} | {:.0}%",
            used.join(" / "),
            100.0 * (busy - self.machine.0) / (total - self.machine.1).max(1.0)
        )
    }
}

/// This process's threads: id → (name, CPU seconds).
fn threads() -> std::collections::HashMap<String, (String, f64)> {
    let mut out = std::collections::HashMap::new();
    for t in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let tid = t.file_name().to_string_lossy().into_owned();
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        out.insert(
            tid.clone(),
            (
                name.trim().to_owned(),
                common::cpu_of(&format!("self/task/{tid}")),
            ),
        );
    }
    out
}

/// The machine's busy and total CPU time, in ticks (busy: all but idle and iowait).
fn machine() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let total: f64 = f.iter().sum();
    (total - f.get(3).unwrap_or(&0.0) - f.get(4).unwrap_or(&0.0), total)
}

/// Writes `events` standard events with the Kafka backend from 4 trackers; the write rate.
fn produce(broker: &str, topic: &str, events: u64) -> f64 {
    let began = Instant::now();
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (broker, topic) = (broker.to_owned(), topic.to_owned());
            std::thread::spawn(move || {
                let dir = std::env::temp_dir().join(format!("tf-bench-relay-{}-{w}", std::process::id()));
                let mut kafka = Kafka::builder(&broker, &topic);
                // `--batch-messages 1`: one message per record batch (see tests/relay.rs).
                let per_batch = common::opt("--batch-messages", "");
                if !per_batch.is_empty() {
                    kafka = kafka.property("batch.num.messages", &per_batch);
                }
                let kafka = kafka.build().unwrap();
                let t = Tracker::builder()
                    .consumer(
                        BackgroundConsumer::builder(kafka)
                            .spool(Spool::open(&dir).unwrap())
                            .build(),
                    )
                    .build()
                    .unwrap();
                for i in (w..events).step_by(4) {
                    let who = Identity::user(format!("user-{}", i % 1000));
                    t.track(&who, "purchase", common::standard_properties(i)).unwrap();
                }
                assert!(t.shutdown(Duration::from_secs(900)).unwrap().completed);
                let _ = std::fs::remove_dir_all(&dir);
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    events as f64 / began.elapsed().as_secs_f64()
}
