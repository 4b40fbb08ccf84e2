//! N `track()` calls on the Background consumer, for instruction counts under callgrind:
//! `valgrind --tool=callgrind --separate-threads=yes target/release/deps/track_calls-* MODE N`
//! (MODE: build | default | block | spilled | process | fsync). The main thread's count divided by N is the
//! cost of one call, building the standard properties included (`build` is that alone;
//! `spilled` holds the worker so that every event goes to the disk queue).
//!
//! `drain N` spills N events (as `spilled`) and then, under `--toggle-collect='*drain_spool*'`,
//! has a second consumer read them back and deliver them to a discarding backend: the
//! read-back's cost (the worker's and its lane's) per spilled event.
//!
//! `encode-json N` / `encode-protobuf N` encode N standard events as GrowingIO bodies of 500,
//! the worker's share: count only inside the encoder with
//! `--toggle-collect='*GrowingIo*encode_events*'` and divide by N.

use std::hint::black_box;
use std::time::Duration;

mod common;

use trackflow::{spool::Spool, BackgroundConsumer, Durability, Identity, Overflow, Tracker};

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "default".into());
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    if let Some(codec) = mode.strip_prefix("encode-") {
        return encode(codec, n);
    }
    if mode == "drain" {
        return drain(n);
    }
    // A queue larger than the run: no call waits or spills, so the figure is the cost of a
    // call while the queue has room. Past its hot part (1 MiB, about 1,100 standard events)
    // a call also looks at whether the worker is taking, about 250 instructions here (under
    // callgrind the worker lags by more than 5 ms, so no call waits); `default 900` less
    // `default 400` is the cost of a call within the hot part.
    let spool = std::env::temp_dir().join(format!("trackflow-track-calls-{}", std::process::id()));
    let consumer = match mode.as_str() {
        "spilled" => BackgroundConsumer::builder(common::Held)
            .queue_capacity(1)
            .max_disk_bytes(u64::MAX)
            .spool(Spool::open(&spool).unwrap())
            .build(),
        "process" | "fsync" => BackgroundConsumer::builder(common::Discard)
            .durability(if mode == "process" {
                Durability::Process
            } else {
                Durability::Fsync {
                    interval: Duration::from_millis(100),
                }
            })
            .spool(Spool::open(&spool).unwrap())
            .try_build()
            .unwrap(),
        "block" => BackgroundConsumer::builder(common::Discard)
            .queue_capacity(n as usize + 1)
            .overflow(Overflow::Block)
            .build(),
        _ => BackgroundConsumer::builder(common::Discard)
            .queue_capacity(n as usize + 1)
            .build(),
    };
    let tracker = Tracker::builder().consumer(consumer).build().unwrap();
    let users: Vec<Identity> = (0..1000).map(|i| Identity::user(format!("user-{i}"))).collect();
    for i in 0..n {
        let props = common::standard_properties(i);
        if mode == "build" {
            black_box(props);
            continue;
        }
        tracker
            .track(&users[(i % 1000) as usize], "purchase", props)
            .unwrap();
    }
    tracker.shutdown(Duration::from_secs(10)).unwrap();
    let _ = std::fs::remove_dir_all(&spool);
}

/// Spills `n` events, then reads them back with another consumer (see the module docs).
fn drain(n: u64) {
    let spool = std::env::temp_dir().join(format!("trackflow-track-drain-{}", std::process::id()));
    let consumer = BackgroundConsumer::builder(common::Held)
        .queue_capacity(1)
        .max_disk_bytes(u64::MAX)
        .spool(Spool::open(&spool).unwrap())
        .build();
    let tracker = Tracker::builder().consumer(consumer).build().unwrap();
    let users: Vec<Identity> = (0..1000).map(|i| Identity::user(format!("user-{i}"))).collect();
    for i in 0..n {
        let props = common::standard_properties(i);
        tracker
            .track(&users[(i % 1000) as usize], "purchase", props)
            .unwrap();
    }
    tracker.shutdown(Duration::from_millis(100)).unwrap();
    drop(tracker);
    let delivered = drain_spool(&spool);
    assert_eq!(delivered, n, "every spilled event read back");
    let _ = std::fs::remove_dir_all(&spool);
}

#[inline(never)]
fn drain_spool(spool: &std::path::Path) -> u64 {
    let consumer = BackgroundConsumer::builder(common::Discard)
        .spool(Spool::open(spool).unwrap())
        .build();
    let tracker = Tracker::builder().consumer(consumer).build().unwrap();
    let report = tracker.shutdown(Duration::from_secs(600)).unwrap();
    report.stats.delivered
}

/// Encodes `n` standard events in bodies of 500 with GrowingIO's `codec`.
fn encode(codec: &str, n: u64) {
    use trackflow::backend::growingio::GrowingIoCodec;
    let codec = match codec {
        "protobuf" => GrowingIoCodec::Protobuf,
        _ => GrowingIoCodec::Json,
    };
    let gio = trackflow::GrowingIo::builder("http://127.0.0.1:9", "bcc3b6e0b6d7a1b2", "a5f1c2d3e4b5a6c7")
        .codec(codec)
        .build()
        .unwrap();
    let batch: Vec<trackflow::Event> = (0..500u64)
        .map(|i| {
            trackflow::Event::track("purchase")
                .with_identity(Identity::user(format!("user-{i}")))
                .with_time(1_700_000_000_000 + i as i64)
                .with_properties(common::standard_properties(i))
        })
        .collect();
    let mut out = Vec::with_capacity(512 << 10);
    for _ in 0..n / 500 {
        out.clear();
        gio.encode_events(black_box(&batch), 1_700_000_000_500, &mut out)
            .unwrap();
        black_box(out.len());
    }
}
