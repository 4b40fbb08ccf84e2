//! Cost of `track()` on the caller's thread, per consumer, with the standard event (its
//! properties built in each iteration, as a caller would): the Background consumer with its
//! default overflow (Spill) and with Block while the queue has room, and the cost of a
//! spilled event (the worker held, so every event goes to the disk queue), and the crash-safe
//! durabilities (Process, Fsync every 100 ms).
//!
//! `cargo bench --bench track`

use std::hint::black_box;
use std::time::Duration;

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trackflow::{
    spool::Spool, BackgroundConsumer, BufferedConsumer, Durability, Identity, ImmediateConsumer, Overflow,
    Tracker,
};

fn bench(c: &mut Criterion) {
    let users: Vec<Identity> = (0..1000).map(|i| Identity::user(format!("user-{i}"))).collect();
    let mut g = c.benchmark_group("track");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));

    let spool = std::env::temp_dir().join(format!("trackflow-bench-track-{}", std::process::id()));
    let trackers = [
        (
            "background",
            Tracker::builder()
                .consumer(BackgroundConsumer::builder(common::Discard).build())
                .build(),
        ),
        (
            "background_block",
            Tracker::builder()
                .consumer(
                    BackgroundConsumer::builder(common::Discard)
                        .overflow(Overflow::Block)
                        .build(),
                )
                .build(),
        ),
        (
            "background_process",
            Tracker::builder()
                .consumer(
                    BackgroundConsumer::builder(common::Discard)
                        .durability(Durability::Process)
                        .spool(Spool::open(spool.join("process")).unwrap())
                        .try_build()
                        .unwrap(),
                )
                .build(),
        ),
        (
            "background_fsync_100ms",
            Tracker::builder()
                .consumer(
                    BackgroundConsumer::builder(common::Discard)
                        .durability(Durability::Fsync {
                            interval: Duration::from_millis(100),
                        })
                        .spool(Spool::open(spool.join("fsync")).unwrap())
                        .try_build()
                        .unwrap(),
                )
                .build(),
        ),
        (
            "background_every_event_spilled",
            Tracker::builder()
                .consumer(
                    BackgroundConsumer::builder(common::Held)
                        .queue_capacity(1)
                        .max_disk_bytes(u64::MAX)
                        .spool(Spool::open(&spool).unwrap())
                        .build(),
                )
                .build(),
        ),
        (
            "buffered",
            Tracker::builder()
                .consumer(BufferedConsumer::builder(common::Discard).build())
                .build(),
        ),
        (
            "immediate",
            Tracker::builder()
                .consumer(ImmediateConsumer::new(common::Discard))
                .build(),
        ),
    ];
    // What the caller spends building the standard event before calling track(): subtract it
    // from the figures below for the cost of track() alone.
    let mut i = 0u64;
    g.bench_function("build_properties_only", |b| {
        b.iter(|| {
            i += 1;
            black_box(common::standard_properties(i))
        })
    });
    for (name, tracker) in trackers {
        let tracker = tracker.unwrap();
        let mut i = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                tracker
                    .track(
                        &users[(i % 1000) as usize],
                        "purchase",
                        common::standard_properties(i),
                    )
                    .unwrap();
            })
        });
        tracker.shutdown(Duration::from_secs(1)).unwrap();
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&spool);
}

criterion_group!(benches, bench);
criterion_main!(benches);
