//! Google Cloud Retail: user events, then the admin calls, against a collector:
//!
//! ```text
//! cargo run --features cli -- collect --backend retail &
//! cargo run --example retail --features retail
//! ```

use std::time::Duration;

use trackflow::backend::retail::{RejoinScope, Retail};
use trackflow::{BackgroundConsumer, Event, Identity, Interaction, InteractionItem, Tracker};

fn main() -> trackflow::Result<()> {
    let url = std::env::var("TRACKFLOW_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let parent = "projects/123/locations/global/catalogs/default_catalog";
    // In production add `.tokens(...)`: a service-account key, the metadata server, ...
    let build = || {
        Retail::builder(parent)
            .endpoint(&url)
            .poll_interval(Duration::from_millis(50))
            .build()
    };
    let tracker = Tracker::builder()
        .consumer(BackgroundConsumer::builder(build()?).build())
        .build()?;
    let visitor = Identity::anonymous("visitor-001").with_user("user-001");
    tracker.track(&visitor, "home-page-view", [("traffic_channel", "organic")])?;
    tracker.record(
        Event::track("purchase-complete")
            .with_identity(visitor.clone())
            .with_interaction(
                Interaction::new()
                    .item(InteractionItem::new("sku-001").quantity(2).price(19.99))
                    .value(39.98)
                    .currency("USD")
                    .transaction_id("txn-001"),
            ),
    )?;
    let report = tracker.shutdown(Duration::from_secs(5))?;
    println!(
        "retail: {} written, {} failed",
        report.stats.delivered, report.stats.failed
    );

    let admin = build()?;
    let imported = admin.import(
        [Event::track("home-page-view")
            .with_identity(Identity::anonymous("visitor-002"))
            .with_time(1_700_000_000_000)],
        None,
        |p| println!("import: {} sent", p.sent),
    )?;
    let purged = admin.purge(r#"visitorId = "visitor-001""#, false)?;
    let rejoined = admin.rejoin(RejoinScope::UnjoinedEvents)?;
    println!(
        "import {} ok; purge {}; rejoin {}",
        imported.succeeded, purged.name, rejoined.name
    );
    if report.stats.delivered != 2 || imported.succeeded != 1 {
        return Err(trackflow::Error::Config("not everything was delivered".into()));
    }
    Ok(())
}
