//! Body encoding per codec: time and bytes per event on a 500-event batch of the standard
//! event (GrowingIO's JSON, Snappy, Snappy+XOR and protobuf; gzip of the same JSON).
//!
//! `cargo bench --bench codecs --all-features` (Snappy and protobuf need their features; without
//! them only JSON is measured).

use std::hint::black_box;

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trackflow::backend::growingio::GrowingIoCodec;
use trackflow::{clock::new_insert_id, Event, GrowingIo, Identity};

const BATCH: usize = 500;
const STM: i64 = 1_700_000_000_500;

/// The standard event: `purchase`, user `user-<i % 1000>`, 3 strings, 2 integers, 2 floats, a
/// bool, a list of 3 strings, a timestamp.
fn standard(i: usize) -> Event {
    let props = common::standard_properties(i as u64);
    Event::track("purchase")
        .with_identity(Identity::user(format!("user-{}", i % 1000)))
        .with_time(STM - 1000 + i as i64)
        .with_insert_id(new_insert_id())
        .with_properties(props)
}

fn bench(c: &mut Criterion) {
    let batch: Vec<Event> = (0..BATCH).map(standard).collect();
    let mut g = c.benchmark_group("growingio_encode_500");
    g.throughput(Throughput::Elements(BATCH as u64));
    let codecs = [
        ("json", GrowingIoCodec::Json, true),
        ("snappy", GrowingIoCodec::Snappy, cfg!(feature = "snappy")),
        (
            "snappy_xor",
            GrowingIoCodec::SnappyCrypt,
            cfg!(feature = "snappy"),
        ),
        ("protobuf", GrowingIoCodec::Protobuf, cfg!(feature = "protobuf")),
    ];
    for (name, codec, compiled_in) in codecs {
        if !compiled_in {
            println!("{name}: skipped, its cargo feature is off (use --all-features)");
            continue;
        }
        let gio = GrowingIo::builder("http://127.0.0.1:9", "bcc3b6e0b6d7a1b2", "a5f1c2d3e4b5a6c7")
            .codec(codec)
            .build()
            .unwrap();
        let mut out = Vec::with_capacity(256 << 10);
        gio.encode_events(&batch, STM, &mut out).unwrap();
        println!(
            "{name}: {:.1} bytes/event on the wire ({} bytes per {BATCH})",
            out.len() as f64 / BATCH as f64,
            out.len()
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                gio.encode_events(black_box(&batch), STM, &mut out).unwrap();
                black_box(out.len())
            })
        });
    }
    // Gzip (Gravity's codec) on the same JSON body, for the ratio against Snappy.
    #[cfg(feature = "gzip")]
    {
        let gio = GrowingIo::builder("http://127.0.0.1:9", "bcc3b6e0b6d7a1b2", "a5f1c2d3e4b5a6c7")
            .build()
            .unwrap();
        let mut json = Vec::new();
        gio.encode_events(&batch, STM, &mut json).unwrap();
        let mut zipped = Vec::new();
        trackflow::codec::gzip::compress_into(&json, &mut zipped).unwrap();
        println!(
            "gzip: {:.1} bytes/event on the wire ({} bytes per {BATCH})",
            zipped.len() as f64 / BATCH as f64,
            zipped.len()
        );
        g.bench_function("gzip", |b| {
            b.iter(|| {
                json.clear();
                gio.encode_events(black_box(&batch), STM, &mut json).unwrap();
                trackflow::codec::gzip::compress_into(&json, &mut zipped).unwrap();
                black_box(zipped.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
