//! Google Cloud Talent client events, v4 and v3, against a collector:
//!
//! ```text
//! cargo run --features cli -- collect --backend talent &
//! cargo run --example talent --features talent
//! ```

use std::time::Duration;

use trackflow::backend::talent::{Talent, TalentVersion};
use trackflow::{BackgroundConsumer, Event, Identity, Interaction, InteractionItem, Tracker};

fn job_event(name: &str, request_id: &str, jobs: &[&str]) -> Event {
    Event::track(name)
        .with_identity(Identity::anonymous("seeker-1"))
        .with_interaction(
            Interaction::new()
                .recommendation_id(request_id)
                .items(jobs.iter().map(|j| InteractionItem::new(*j))),
        )
}

fn main() -> trackflow::Result<()> {
    let url = std::env::var("TRACKFLOW_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let v4 = Talent::builder("projects/my-project/tenants/my-tenant")
        .endpoint(&url)
        .build()?;
    let v3 = Talent::builder("projects/my-project")
        .endpoint(&url)
        .version(TalentVersion::V3)
        .build()?;
    let tracker = Tracker::builder()
        .consumer(BackgroundConsumer::builder(v4).build())
        .build()?;
    tracker.record(job_event("IMPRESSION", "req-1", &["job-1", "job-2", "job-3"]))?;
    tracker
        .record(job_event("VIEW", "req-1", &["job-2"]).with_properties([("event_notes", "from search")]))?;
    let r4 = tracker.shutdown(Duration::from_secs(5))?;

    let tracker = Tracker::builder()
        .consumer(BackgroundConsumer::builder(v3).build())
        .build()?;
    let mut apply =
        job_event("APPLICATION_START", "req-1", &["job-2"]).with_properties([("source", "email")]);
    if let Some(i) = apply.interaction.as_mut() {
        i.parent_event_id = Some("event-of-the-view".into());
    }
    tracker.record(apply)?;
    let r3 = tracker.shutdown(Duration::from_secs(5))?;
    println!(
        "talent: v4 {} delivered, v3 {} delivered",
        r4.stats.delivered, r3.stats.delivered
    );
    if r4.stats.delivered != 2 || r3.stats.delivered != 1 {
        return Err(trackflow::Error::Config("not everything was delivered".into()));
    }
    Ok(())
}
