//! Batch building of Gravity and Personalize, and SigV4 signing.
//!
//! `cargo bench --bench backends --all-features`

use std::hint::black_box;

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trackflow::auth::aws::Credentials;
use trackflow::auth::sigv4::{sign, SignInput};
use trackflow::backend::gravity::Gravity;
use trackflow::backend::personalize::Personalize;
use trackflow::{clock::new_insert_id, Event, Identity, Interaction, InteractionItem};

const BATCH: usize = 500;

fn standard(i: usize, who: Identity) -> Event {
    let props = common::standard_properties(i as u64);
    Event::track("purchase")
        .with_identity(who)
        .with_time(1_700_000_000_000 + i as i64)
        .with_insert_id(new_insert_id())
        .with_properties(props)
        .with_interaction(Interaction::new().item(InteractionItem::new("sku-1")))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("backends_500");
    g.throughput(Throughput::Elements(BATCH as u64));

    // Gravity: one envelope of 500 events of one client, plain and gzipped.
    let one_client: Vec<Event> = (0..BATCH)
        .map(|i| standard(i, Identity::anonymous("client-1")))
        .collect();
    let refs: Vec<&Event> = one_client.iter().collect();
    for (name, compress) in [("gravity_envelope_json", false), ("gravity_envelope_gzip", true)] {
        let ge = Gravity::builder("http://127.0.0.1:9/c/?access_token=t")
            .compress(compress)
            .build()
            .unwrap();
        let mut out = Vec::new();
        ge.encode_envelope(&refs, &mut out).unwrap();
        println!("{name}: {:.1} bytes/event", out.len() as f64 / BATCH as f64);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                ge.encode_envelope(black_box(&refs), &mut out).unwrap();
                black_box(out.len())
            })
        });
    }

    // Personalize: PutEvents bodies, one session (50 calls of 10) and the standard user mix.
    let pz = Personalize::builder()
        .region("us-east-1")
        .credentials(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
        ))
        .tracking_id("tracking-0001")
        .build()
        .unwrap();
    let one_session: Vec<Event> = (0..BATCH)
        .map(|i| standard(i, Identity::user("user-1").with_session("s-1")))
        .collect();
    let mixed: Vec<Event> = (0..BATCH)
        .map(|i| {
            standard(
                i,
                Identity::user(format!("user-{}", i % 1000)).with_session(format!("s-{}", i % 1000)),
            )
        })
        .collect();
    for (name, batch) in [
        ("personalize_one_session", &one_session),
        ("personalize_500_users", &mixed),
    ] {
        println!("{name}: {} calls", pz.put_events_bodies(batch).unwrap().len());
        g.bench_function(name, |b| {
            b.iter(|| black_box(pz.put_events_bodies(black_box(batch)).unwrap().len()))
        });
    }
    g.finish();

    // SigV4 over a 10-event PutEvents body.
    let body = &pz.put_events_bodies(&one_session[..10]).unwrap()[0];
    let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
    let mut g = c.benchmark_group("sigv4");
    g.throughput(Throughput::Elements(1));
    println!("sigv4: signing a {}-byte body", body.len());
    g.bench_function("sign_put_events", |b| {
        b.iter(|| {
            black_box(sign(
                &creds,
                &SignInput {
                    method: "POST",
                    host: "personalize-events.us-east-1.amazonaws.com",
                    path: "/events",
                    query: &[],
                    headers: &[("Content-Type", "application/json")],
                    body,
                    time_ms: 1_700_000_000_000,
                    region: "us-east-1",
                    service: "personalize",
                },
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
