//! Gravity Engine, against a collector:
//!
//! ```text
//! cargo run --features cli -- collect --backend gravity &
//! cargo run --example gravity --features gravity
//! ```

use std::time::Duration;

use trackflow::backend::gravity::Gravity;
use trackflow::{BackgroundConsumer, Identity, Properties, Tracker, Value};

fn main() -> trackflow::Result<()> {
    let url = std::env::var("TRACKFLOW_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let ge = Gravity::builder(format!(
        "{url}/event_center/api/v1/event/collect/?access_token=YOUR_TOKEN"
    ))
    .build()?;
    let tracker = Tracker::builder()
        .consumer(BackgroundConsumer::builder(ge).build())
        .super_properties([("channel", "web")])
        .build()?;
    let who = Identity::anonymous("client-001");
    tracker.track(
        &who,
        "purchase",
        Properties::new()
            .with("#ip", "203.0.113.7")
            .with("amount", 9.9)
            .with("when", Value::Time(1_700_000_000_123)),
    )?;
    tracker.user_set(&who, [("name", "Alice")])?;
    tracker.user_increment(&who, [("coins", 10)])?;
    tracker.user_unset(&who, ["coupon"])?;
    let report = tracker.shutdown(Duration::from_secs(5))?;
    println!(
        "gravity: {} delivered, {} failed",
        report.stats.delivered, report.stats.failed
    );
    if report.stats.delivered != 4 {
        return Err(trackflow::Error::Config("not everything was delivered".into()));
    }
    Ok(())
}
