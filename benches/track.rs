//! Cost of `track()` on the caller's thread, per consumer, with the standard event (its
//! properties built in each iteration, as a caller would).
//!
//! `cargo bench --bench track`

use std::hint::black_box;
use std::time::Duration;

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trackflow::transport::DeliveryCtx;
use trackflow::{
    Backend, BackgroundConsumer, BufferedConsumer, Delivery, Event, Identity, ImmediateConsumer, Tracker,
};

/// Accepts and discards: isolates the caller's cost from any I/O.
#[derive(Debug)]
struct Discard;

impl Backend for Discard {
    fn name(&self) -> &'static str {
        "discard"
    }
    fn check(&self, _: &Event) -> trackflow::Result<()> {
        Ok(())
    }
    fn deliver(&self, batch: &[Event], _: &DeliveryCtx<'_>) -> Delivery {
        black_box(batch.len());
        Delivery::default()
    }
}

fn bench(c: &mut Criterion) {
    let users: Vec<Identity> = (0..1000).map(|i| Identity::user(format!("user-{i}"))).collect();
    let mut g = c.benchmark_group("track");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));

    let trackers = [
        (
            "background",
            Tracker::builder()
                .consumer(BackgroundConsumer::builder(Discard).build())
                .build(),
        ),
        (
            "buffered",
            Tracker::builder()
                .consumer(BufferedConsumer::builder(Discard).build())
                .build(),
        ),
        (
            "immediate",
            Tracker::builder()
                .consumer(ImmediateConsumer::new(Discard))
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
        tracker.shutdown(Duration::from_secs(5)).unwrap();
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
