//! Events to a Kafka topic, keyed by user, read by whatever already reads your Kafka
//! (Flink, ClickHouse's Kafka engine, Kafka Connect):
//!
//! ```text
//! tansu broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 &
//! tansu topic create events --broker tcp://127.0.0.1:9092
//! cargo run --example kafka --features kafka
//! ```

use std::time::Duration;

use trackflow::backend::kafka::KafkaCompression;
use trackflow::{BackgroundConsumer, Identity, Kafka, Properties, Tracker};

fn main() -> trackflow::Result<()> {
    let brokers = std::env::var("TRACKFLOW_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let kafka = Kafka::builder(brokers, "events")
        .compression(KafkaCompression::Zstd)
        // A broker that stays away this long fails the batch to the spool, for `trackflow replay`.
        .delivery_timeout(Duration::from_secs(30))
        .build()?;
    let tracker = Tracker::builder()
        .consumer(BackgroundConsumer::builder(kafka).build())
        .build()?;
    let who = Identity::user("u-42");
    tracker.track(&who, "view", Properties::new().with("sku", "book-1"))?;
    tracker.track(&who, "checkout", Properties::new().with("amount", 19.9))?;
    tracker.user_set(&who, [("plan", "pro")])?;
    let report = tracker.shutdown(Duration::from_secs(40))?;
    println!(
        "kafka: {} delivered, {} failed",
        report.stats.delivered, report.stats.failed
    );
    if report.stats.delivered != 3 {
        return Err(trackflow::Error::Config("not everything was delivered".into()));
    }
    Ok(())
}
