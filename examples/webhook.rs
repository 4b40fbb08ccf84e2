//! A signed webhook, against a collector that verifies the signature:
//!
//! ```text
//! TRACKFLOW_WEBHOOK_SECRET=s3cret cargo run --features cli -- collect --webhook-secret-env TRACKFLOW_WEBHOOK_SECRET &
//! TRACKFLOW_WEBHOOK_SECRET=s3cret cargo run --example webhook --features webhook
//! ```

use std::time::Duration;

use trackflow::{
    backend::webhook::WebhookFormat, BackgroundConsumer, Identity, Properties, Tracker, Webhook,
};

fn main() -> trackflow::Result<()> {
    let url = std::env::var("TRACKFLOW_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    // The shared secret comes from the environment, never from the code.
    let secret = std::env::var("TRACKFLOW_WEBHOOK_SECRET")
        .map_err(|_| trackflow::Error::Config("set TRACKFLOW_WEBHOOK_SECRET".into()))?;
    let hook = Webhook::builder(format!("{url}/hooks/trackflow"))
        .format(WebhookFormat::JsonLines)
        .gzip(true)
        .secret(secret)
        .header("X-Source", "shop")
        .build()?;
    let tracker = Tracker::builder()
        .consumer(BackgroundConsumer::builder(hook).build())
        .build()?;
    let who = Identity::user("u-42");
    tracker.track(&who, "checkout", Properties::new().with("amount", 19.9))?;
    tracker.user_set(&who, [("plan", "pro")])?;
    let report = tracker.shutdown(Duration::from_secs(5))?;
    println!(
        "webhook: {} delivered, {} failed",
        report.stats.delivered, report.stats.failed
    );
    if report.stats.delivered != 2 {
        return Err(trackflow::Error::Config("not everything was delivered".into()));
    }
    Ok(())
}
