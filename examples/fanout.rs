//! One tracker, two backends: every event goes to local files and to GrowingIO.
//!
//! ```text
//! cargo run --features cli -- collect --backend growingio &
//! cargo run --example fanout
//! ```

use std::time::Duration;

use trackflow::{BackgroundConsumer, FileBackend, GrowingIo, Identity, Properties, Tracker};

fn main() -> trackflow::Result<()> {
    let url = std::env::var("TRACKFLOW_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let dir = std::env::temp_dir().join(format!("trackflow-fanout-{}", std::process::id()));
    let tracker = Tracker::builder()
        .consumer(BackgroundConsumer::builder(FileBackend::builder(&dir).build()?).build())
        .consumer(BackgroundConsumer::builder(GrowingIo::builder(&url, "p", "d").build()?).build())
        .build()?;
    for i in 0..100 {
        tracker.track(
            &Identity::user(format!("user-{}", i % 7)),
            "view",
            Properties::new().with("i", i),
        )?;
    }
    let report = tracker.shutdown(Duration::from_secs(5))?;
    let per_consumer = tracker.consumer_stats();
    println!(
        "fan-out: files {} delivered, growingio {} delivered ({})",
        per_consumer[0].delivered,
        per_consumer[1].delivered,
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
    if report.stats.delivered != 200 {
        return Err(trackflow::Error::Config("not everything was delivered".into()));
    }
    Ok(())
}
