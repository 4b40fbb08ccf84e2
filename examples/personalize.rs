//! AWS Personalize Events, against a collector (it does not check signatures):
//!
//! ```text
//! cargo run --features cli -- collect --backend personalize &
//! cargo run --example personalize --features personalize
//! ```

use std::time::Duration;

use trackflow::auth::aws::Credentials;
use trackflow::backend::personalize::Personalize;
use trackflow::{BackgroundConsumer, Event, Identity, Interaction, InteractionItem, Properties, Tracker};

fn main() -> trackflow::Result<()> {
    let url = std::env::var("TRACKFLOW_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let arn = "arn:aws:personalize:us-east-1:123456789012:dataset/shop";
    let p = Personalize::builder()
        .endpoint(url)
        .region("us-east-1")
        // In production leave this out: the AWS chain (environment, ~/.aws) provides them.
        .credentials(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
        ))
        .tracking_id("tracking-0001")
        .users_dataset_arn(format!("{arn}/USERS"))
        .items_dataset_arn(format!("{arn}/ITEMS"))
        .build()?;
    let tracker = Tracker::builder()
        .consumer(BackgroundConsumer::builder(p).build())
        .build()?;
    let who = Identity::user("user-001").with_session("session-001");
    for i in 0..12 {
        tracker.record(
            Event::track("click")
                .with_identity(who.clone())
                .with_properties([("page", i)])
                .with_interaction(
                    Interaction::new()
                        .item(InteractionItem::new(format!("item-{i:03}")))
                        .impressions(["item-000", "item-001"]),
                ),
        )?;
    }
    tracker.user_set(&Identity::user("user-001"), Properties::new().with("age", "30"))?;
    tracker.item_set(
        "book",
        "item-001",
        Properties::new().with("genre", vec!["Comedy", "Drama"]),
    )?;
    let report = tracker.shutdown(Duration::from_secs(5))?;
    println!(
        "personalize: {} delivered, {} failed",
        report.stats.delivered, report.stats.failed
    );
    if report.stats.delivered != 14 {
        return Err(trackflow::Error::Config("not everything was delivered".into()));
    }
    Ok(())
}
