//! End to end: 1,000,000 standard events through the Background consumer (its defaults) to a
//! loopback HTTP sink in another process, from 1 and from 2 producers, against the raw limit
//! of the same machine (serde_json batches of the same event, byte for byte, and ureq POSTs
//! from one thread, no tracker), in one run. Both build their event inside the timed loop;
//! what building the properties alone costs is reported beside.
//!
//! `cargo bench --bench e2e` (`-- --events N` for another count, `--codec snappy` etc.,
//! `--producers N` for one run of N producers alone, for a profiler;
//! `-- --durability` compares Memory, Process and Fsync with 1 producer; with
//! `E2E_QUEUE_HOLDS_RUN=1` the memory queue holds the whole run, so nothing spills; with
//! `E2E_QUEUE=1` nearly everything spills; with `E2E_OVERFLOW=block` producers wait for room
//! instead of spilling; `E2E_IN_FLIGHT=n` fixes the limit of requests in flight;
//! `E2E_SHOW_LIMIT=1` prints the limit and response time every 20 ms for 1.2 s of each run).

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::sink::Sink;

use serde::Serialize;
use trackflow::backend::growingio::GrowingIoCodec;
use trackflow::{spool::Spool, BackgroundConsumer, Durability, GrowingIo, Identity, Tracker};

const BATCH: usize = 500;

/// Peak RSS (VmHWM) in MiB; `reset` restarts the peak from the current RSS.
fn peak_rss_mib(reset: bool) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    if reset {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
    kb / 1024.0
}

struct Run {
    events_per_s: f64,
    events_per_request: f64,
    track_mean_ns: f64,
    track_p99_ns: f64,
    peak_mib: f64,
    bytes_per_event: f64,
    spilled: u64,
    cpu_us: f64,
}

/// CPU seconds used so far by this process and the sink together: per event, what the run
/// costs the machine (a steadier figure than the rate on a machine of two cores).
fn cpu_now(sink: &Sink) -> f64 {
    common::cpu_of("self") + common::cpu_of(&sink.pid().to_string())
}

/// CPU µs per event of a run of `events` that began when `cpu_now` said `before`.
fn cpu_per_event(sink: &Sink, before: f64, events: u64) -> f64 {
    (cpu_now(sink) - before) * 1e6 / events as f64
}

fn trackflow_run(sink: &Sink, events: u64, producers: u64, codec: GrowingIoCodec) -> Run {
    durable_run(sink, events, producers, codec, Durability::Memory)
}

fn durable_run(
    sink: &Sink,
    events: u64,
    producers: u64,
    codec: GrowingIoCodec,
    durability: Durability,
) -> Run {
    peak_rss_mib(true);
    let before = sink.counts();
    let gio = GrowingIo::builder(&sink.url, "bcc3b6e0b6d7a1b2", "a5f1c2d3e4b5a6c7")
        .codec(codec)
        .build()
        .unwrap();
    let batch: usize = std::env::var("E2E_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let journal = std::env::temp_dir().join(format!("trackflow-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&journal);
    let mut builder = BackgroundConsumer::builder(gio).max_batch(batch);
    if std::env::var_os("E2E_QUEUE_HOLDS_RUN").is_some() {
        // A queue that holds the whole run: nothing spills, so what is measured is the
        // journal's own cost, not the read-back of an overflow.
        builder = builder
            .queue_capacity(events as usize)
            .max_queue_bytes(usize::MAX);
    }
    if std::env::var("E2E_OVERFLOW").is_ok_and(|v| v == "block") {
        // The producers wait for room instead of spilling: the figure the spill is held to.
        builder = builder.overflow(trackflow::Overflow::Block);
    }
    if let Some(n) = std::env::var("E2E_IN_FLIGHT").ok().and_then(|v| v.parse().ok()) {
        // A fixed limit instead of the adaptive one: what the adaptive limit costs or gains.
        builder = builder.max_in_flight(n);
    }
    if let Some(n) = std::env::var("E2E_QUEUE").ok().and_then(|v| v.parse().ok()) {
        // A small queue: nearly every event goes through the spill (a figure of its cost
        // that does not depend on how the threads happen to race).
        builder = builder.queue_capacity(n);
    }
    let consumer = builder
        .durability(durability)
        .spool(Spool::open(&journal).unwrap())
        .try_build()
        .unwrap();
    let tracker = Tracker::builder().consumer(consumer).build().unwrap();
    let users: Arc<Vec<Identity>> =
        Arc::new((0..1000).map(|i| Identity::user(format!("user-{i}"))).collect());
    let (start, cpu) = (Instant::now(), cpu_now(sink));
    if std::env::var_os("E2E_SHOW_LIMIT").is_some() {
        let t = tracker.clone();
        thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..60 {
                thread::sleep(Duration::from_millis(20));
                seen.extend(t.backend_stats().iter().map(|b| (b.limit, b.rtt_ms)));
            }
            eprintln!("limit, rtt every 20 ms: {seen:?}");
        });
    }
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let (t, users) = (tracker.clone(), users.clone());
            thread::spawn(move || {
                let n = events / producers;
                let mut samples = Vec::with_capacity((n / 8) as usize + 1);
                for i in 0..n {
                    let props = common::standard_properties(i);
                    let who = &users[((i + p) % 1000) as usize];
                    // One call in 8 is timed: timing every call would add its own cost.
                    if i.is_multiple_of(8) {
                        let t0 = Instant::now();
                        t.track(who, "purchase", props).unwrap();
                        samples.push(t0.elapsed().as_nanos() as u32);
                    } else {
                        t.track(who, "purchase", props).unwrap();
                    }
                }
                samples
            })
        })
        .collect();
    let mut samples: Vec<u32> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let report = tracker.shutdown(Duration::from_secs(60)).unwrap();
    let elapsed = start.elapsed();
    let cpu_us = cpu_per_event(sink, cpu, events);
    assert_eq!(report.stats.delivered, events, "{report:?}");
    drop(tracker);
    let _ = std::fs::remove_dir_all(&journal);
    samples.sort_unstable();
    let after = sink.counts();
    if codec == GrowingIoCodec::Json {
        assert_eq!(after.events - before.events, events, "the sink's count");
    }
    Run {
        events_per_s: events as f64 / elapsed.as_secs_f64(),
        events_per_request: events as f64 / (after.requests - before.requests).max(1) as f64,
        track_mean_ns: samples.iter().map(|s| *s as f64).sum::<f64>() / samples.len() as f64,
        track_p99_ns: samples[samples.len() * 99 / 100] as f64,
        peak_mib: peak_rss_mib(false),
        bytes_per_event: (after.bytes - before.bytes) as f64 / events as f64,
        spilled: report.stats.spilled,
        cpu_us,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent<'a> {
    event_type: &'a str,
    sdk_version: &'a str,
    platform: &'a str,
    timestamp: i64,
    event_name: &'a str,
    user_id: &'a str,
    attributes: RawAttrs<'a>,
    send_time: i64,
    data_source_id: &'a str,
    project_key: &'a str,
}

#[derive(Serialize)]
struct RawAttrs<'a> {
    product: &'a str,
    category: &'a str,
    currency: &'a str,
    qty: i64,
    order_id: i64,
    price: f64,
    discount: f64,
    vip: bool,
    tags: &'a str,
    at: i64,
}

/// The raw limit: the same events as plain serde_json structs (the bytes trackflow sends, but
/// for the digits of times), batched and POSTed with ureq from one thread, no tracker.
fn raw_run(sink: &Sink, events: u64) -> (f64, f64) {
    let url = &sink.url;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let users: Vec<String> = (0..1000).map(|i| format!("user-{i}")).collect();
    let endpoint = format!("{url}/v3/projects/bcc3b6e0b6d7a1b2/collect");
    let mut body = Vec::with_capacity(256 << 10);
    let mut batch = Vec::with_capacity(BATCH);
    let (start, cpu) = (Instant::now(), cpu_now(sink));
    let mut i = 0u64;
    while i < events {
        batch.clear();
        for _ in 0..BATCH.min((events - i) as usize) {
            batch.push(RawEvent {
                event_type: "CUSTOM",
                sdk_version: "1.0.5",
                platform: "python",
                timestamp: 1_700_000_000_000 + i as i64,
                event_name: "purchase",
                user_id: &users[(i % 1000) as usize],
                attributes: RawAttrs {
                    product: "book",
                    category: "programming",
                    currency: "USD",
                    qty: (i % 5) as i64,
                    order_id: i as i64,
                    price: 9.9,
                    discount: 0.15,
                    vip: i.is_multiple_of(2),
                    tags: "red||blue||green",
                    at: 1_700_000_000_000,
                },
                send_time: 1_700_000_000_000 + i as i64,
                data_source_id: "a5f1c2d3e4b5a6c7",
                project_key: "bcc3b6e0b6d7a1b2",
            });
            i += 1;
        }
        body.clear();
        serde_json::to_writer(&mut body, &batch).unwrap();
        let mut resp = agent
            .post(&endpoint)
            .query("stm", "1700000000500")
            .header("content-type", "application/json")
            .send(&body[..])
            .unwrap();
        let _ = resp.body_mut().read_to_vec();
    }
    (
        events as f64 / start.elapsed().as_secs_f64(),
        cpu_per_event(sink, cpu, events),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let events: u64 = arg("--events").and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let codec = match arg("--codec").as_deref() {
        Some("snappy") => GrowingIoCodec::Snappy,
        Some("protobuf") => GrowingIoCodec::Protobuf,
        _ => GrowingIoCodec::Json,
    };
    if common::sink::serve_if_child() {
        return;
    }
    let sink = Sink::start(Duration::ZERO);
    if args.iter().any(|a| a == "--durability") {
        return compare_durability(&sink, events, codec);
    }
    println!("trackflow e2e: {events} standard events, GrowingIO {codec:?}, Background consumer (defaults), sink in another process");
    // Warm up the connection pool and the allocator.
    trackflow_run(&sink, 20_000, 1, codec);
    if let Some(producers) = arg("--producers").and_then(|v| v.parse().ok()) {
        // One run and no raw loop: for a profiler (callgrind's threads are then the run's).
        let r = trackflow_run(&sink, events, producers, codec);
        println!(
            "  {producers} producer(s): {:>9.0} events/s  CPU {:.2} µs/event  {:.0} events/request",
            r.events_per_s, r.cpu_us, r.events_per_request
        );
        return;
    }
    let (raw, raw_cpu) = raw_run(&sink, events);
    for producers in [1, 2] {
        let r = trackflow_run(&sink, events, producers, codec);
        println!(
            "  {producers} producer(s): {:>9.0} events/s  ({:.0}% of raw)  CPU {:.2} µs/event  track() mean {:.0} ns, p99 {:.0} ns  peak RSS {:.1} MiB  {:.1} bytes/event  {:.0} events/request  {:.0}% spilled",
            r.events_per_s,
            100.0 * r.events_per_s / raw,
            r.cpu_us,
            r.track_mean_ns,
            r.track_p99_ns,
            r.peak_mib,
            r.bytes_per_event,
            r.events_per_request,
            100.0 * r.spilled as f64 / events as f64
        );
    }
    println!("  raw limit (serde_json + ureq, 1 thread, no tracker): {raw:>9.0} events/s  CPU {raw_cpu:.2} µs/event");
    println!(
        "  of which building the properties, in both: {:.0} ns/event",
        properties_ns(events.min(200_000))
    );
}

/// What building the standard properties costs alone, per event.
fn properties_ns(n: u64) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        std::hint::black_box(common::standard_properties(i));
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Memory, Process and Fsync (100 ms) back to back, 1 producer each.
fn compare_durability(sink: &Sink, events: u64, codec: GrowingIoCodec) {
    println!("trackflow e2e: {events} standard events, 1 producer, durability compared");
    trackflow_run(sink, 20_000, 1, codec);
    let modes = [
        ("memory", Durability::Memory),
        ("process", Durability::Process),
        (
            "fsync 100 ms",
            Durability::Fsync {
                interval: Duration::from_millis(100),
            },
        ),
    ];
    let mut memory = 0.0;
    // E2E_ONLY=process (say) runs one mode, for a profiler.
    let only = std::env::var("E2E_ONLY").ok();
    for (name, d) in modes {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let r = durable_run(sink, events, 1, codec, d);
        if d == Durability::Memory || memory == 0.0 {
            memory = r.events_per_s;
        }
        println!(
            "  {name:>13}: {:>9.0} events/s ({:.0}% of memory)  track() mean {:.0} ns, p99 {:.0} ns, {} read back from disk",
            r.events_per_s,
            100.0 * r.events_per_s / memory,
            r.track_mean_ns,
            r.track_p99_ns,
            r.spilled
        );
    }
}
