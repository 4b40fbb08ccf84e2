//! Cost of `track()` on the caller's thread, per consumer, with the standard event (its
//! properties built in each iteration, as a caller would).
//!
//! `cargo bench --bench track`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trackflow::transport::DeliveryCtx;
use trackflow::{
    Backend, BackgroundConsumer, BufferedConsumer, Delivery, Event, Identity, ImmediateConsumer, Properties,
    Tracker, Value,
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

/// The standard event's properties: 3 strings, 2 integers, 2 floats, a bool, a list of 3
/// strings, a timestamp.
fn standard(i: u64) -> Properties {
    Properties::with_capacity(10)
        .with("product", "book")
        .with("category", "programming")
        .with("currency", "USD")
        .with("qty", (i % 5) as i64)
        .with("order_id", i as i64)
        .with("price", 9.9)
        .with("discount", 0.15)
        .with("vip", i % 2 == 0)
        .with("tags", vec!["red", "blue", "green"])
        .with("at", Value::Time(1_700_000_000_500))
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
            black_box(standard(i))
        })
    });
    for (name, tracker) in trackers {
        let tracker = tracker.unwrap();
        let mut i = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                tracker
                    .track(&users[(i % 1000) as usize], "purchase", standard(i))
                    .unwrap();
            })
        });
        tracker.shutdown(Duration::from_secs(5)).unwrap();
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
