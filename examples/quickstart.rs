//! Tracks a small burst of shop activity into local JSON-lines files: no server needed.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::time::Duration;

use trackflow::{BackgroundConsumer, FileBackend, Identity, Properties, Tracker};

fn main() -> trackflow::Result<()> {
    let dir = std::env::current_dir()?.join("trackflow-events");
    let files = FileBackend::builder(&dir).build()?;
    let tracker = Tracker::builder()
        .consumer(BackgroundConsumer::builder(files).build())
        .super_properties(Properties::new().with("app", "quickstart-shop"))
        .build()?;

    for i in 0..1_000u32 {
        let who = Identity::anonymous(format!("device-{}", i % 50)).with_user(format!("user-{}", i % 50));
        tracker.track(
            &who,
            "purchase",
            Properties::new()
                .with("product", "book")
                .with("price", 9.9)
                .with("qty", 1 + i % 3)
                .with("tags", vec!["gift", "paperback"]),
        )?;
        if i.is_multiple_of(100) {
            tracker.user_set(&who, [("plan", "pro")])?;
            tracker.user_increment(&who, [("orders", 1)])?;
        }
    }
    tracker.item_set(
        "book",
        "item-001",
        Properties::new().with("title", "The Rust Book").with("price", 42),
    )?;

    let report = tracker.shutdown(Duration::from_secs(5))?;
    let s = report.stats;
    println!(
        "tracked {} events: {} delivered, {} failed",
        s.accepted, s.delivered, s.failed
    );
    println!("wrote them as JSON lines under {}", dir.display());
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let first = std::fs::read_to_string(&path)?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        println!("  {}\n    first line: {first}", path.display());
    }
    if s.failed > 0 || s.delivered != s.accepted {
        return Err(trackflow::Error::Config("not every event was written".into()));
    }
    Ok(())
}
