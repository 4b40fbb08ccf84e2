//! GrowingIO with each codec, against a collector:
//!
//! ```text
//! cargo run --features cli -- collect --backend growingio &
//! cargo run --example growingio --features snappy,protobuf -- all   # or json | snappy | snappy_crypt | protobuf
//! ```

use std::time::Duration;

use trackflow::backend::growingio::GrowingIoCodec;
use trackflow::{BackgroundConsumer, GrowingIo, Identity, Properties, Tracker};

fn main() -> trackflow::Result<()> {
    let url = std::env::var("TRACKFLOW_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let codecs = [
        ("json", GrowingIoCodec::Json),
        ("snappy", GrowingIoCodec::Snappy),
        ("snappy_crypt", GrowingIoCodec::SnappyCrypt),
        ("protobuf", GrowingIoCodec::Protobuf),
    ];
    for (name, codec) in codecs.into_iter().filter(|(n, _)| which == "all" || *n == which) {
        let gio = GrowingIo::builder(&url, "bcc3b6e0b6d7a1b2", "a5f1c2d3e4b5a6c7")
            .codec(codec)
            .build()?;
        let tracker = Tracker::builder()
            .consumer(BackgroundConsumer::builder(gio).build())
            .build()?;
        let who = Identity::anonymous("device-001")
            .with_user("user-001")
            .with_user_key("email");
        tracker.track(
            &who,
            "purchase",
            Properties::new()
                .with("product", "book")
                .with("price", 9.9)
                .with("tags", vec!["red", "blue"]),
        )?;
        tracker.user_set(&who, [("plan", "pro")])?;
        tracker.item_set("book", "item-001", [("title", "The Rust Book")])?;
        let report = tracker.shutdown(Duration::from_secs(5))?;
        println!(
            "{name}: {} delivered, {} failed",
            report.stats.delivered, report.stats.failed
        );
        if report.stats.delivered != 3 {
            return Err(trackflow::Error::Config(format!(
                "{name}: not everything was delivered"
            )));
        }
    }
    Ok(())
}
