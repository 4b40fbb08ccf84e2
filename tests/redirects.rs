//! Only 2xx is success: a collector that answers with a redirect (301, 302, 303, 307, 308)
//! gets nothing counted delivered, for every HTTP backend. The error names the status and
//! where it pointed (secrets masked) and says what to change; the events are dead letters,
//! and once the URL is fixed `replay` delivers them.

#![cfg(all(
    feature = "gravity",
    feature = "personalize",
    feature = "retail",
    feature = "talent",
    feature = "webhook"
))]

mod support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use support::{fast_transport, temp_dir, Collector, Reply};
use trackflow::auth::aws::Credentials;
use trackflow::auth::google::{StaticToken, Tokens};
use trackflow::{
    spool::Spool, Backend, BackgroundConsumer, Event, Gravity, GrowingIo, Identity, Interaction,
    InteractionItem, Personalize, Properties, Retail, Talent, Tracker, Webhook,
};

/// A backend against `url`, and an event it takes.
type Make = fn(&str) -> (Box<dyn Backend>, Event);

fn who() -> Identity {
    Identity::anonymous("v-1").with_user("u1").with_session("s1")
}

fn growingio(url: &str) -> (Box<dyn Backend>, Event) {
    let b = GrowingIo::builder(url, "p", "d")
        .transport(fast_transport())
        .build()
        .unwrap();
    (Box::new(b), Event::track("view").with_identity(who()))
}

fn gravity(url: &str) -> (Box<dyn Backend>, Event) {
    let b = Gravity::builder(format!("{url}/collect/?access_token=t"))
        .transport(fast_transport())
        .build()
        .unwrap();
    (Box::new(b), Event::track("view").with_identity(who()))
}

fn personalize(url: &str) -> (Box<dyn Backend>, Event) {
    let b = Personalize::builder()
        .endpoint(url)
        .region("us-east-1")
        .credentials(Credentials::new("AKIDEXAMPLE", "secret", None))
        .tracking_id("tracking-0001")
        .transport(fast_transport())
        .build()
        .unwrap();
    (Box::new(b), Event::track("view").with_identity(who()))
}

fn retail(url: &str) -> (Box<dyn Backend>, Event) {
    let b = Retail::builder("projects/p/locations/global/catalogs/default_catalog")
        .endpoint(url)
        .tokens(Tokens::new(StaticToken::new("token")))
        .transport(fast_transport())
        .build()
        .unwrap();
    (Box::new(b), Event::track("home-page-view").with_identity(who()))
}

fn talent(url: &str) -> (Box<dyn Backend>, Event) {
    let b = Talent::builder("projects/p/tenants/t")
        .endpoint(url)
        .tokens(Tokens::new(StaticToken::new("token")))
        .transport(fast_transport())
        .build()
        .unwrap();
    let e = Event::track("view")
        .with_identity(who())
        .with_interaction(Interaction::new().items([InteractionItem::new("projects/p/tenants/t/jobs/1")]));
    (Box::new(b), e)
}

fn webhook(url: &str) -> (Box<dyn Backend>, Event) {
    let b = Webhook::builder(format!("{url}/hook"))
        .transport(fast_transport())
        .build()
        .unwrap();
    (Box::new(b), Event::track("view").with_identity(who()))
}

/// The collector the redirect points to is given as `https://user:pa55word@…/?token=…`: what
/// the error shows of it is masked.
const LOCATION: &str =
    "https://collector-user:pa55word@collector.example.com/v3/collect?access_token=t0ken-123";

fn redirected(name: &str, make: Make) {
    for status in [301u16, 302, 303, 307, 308] {
        let c = Collector::start(move |_, _| {
            Reply::Status(status, vec![("Location", LOCATION.to_owned())], String::new())
        });
        let dir = temp_dir(&format!("redirect-{name}-{status}"));
        let errors = Arc::new(Mutex::new(Vec::<String>::new()));
        let e2 = errors.clone();
        let (backend, event) = make(&c.url());
        let consumer = BackgroundConsumer::builder(backend)
            .spool(Spool::open(&dir).unwrap())
            .on_error(move |e, events| e2.lock().push(format!("{} {e}", events.len())))
            .build();
        let t = Tracker::builder().consumer(consumer).build().unwrap();
        for i in 0..3 {
            t.record(
                event
                    .clone()
                    .with_properties(Properties::new())
                    .with_insert_id(format!("r-{i}")),
            )
            .unwrap();
        }
        let report = t.shutdown(Duration::from_secs(10)).unwrap();
        let s = report.stats;
        assert_eq!(
            (s.delivered, s.failed, report.left),
            (0, 3, 0),
            "{name} {status}: a redirect is no delivery: {report:?}"
        );
        assert!(
            c.requests().iter().all(|r| r.method != "GET" || name == "none"),
            "{name} {status}: not followed"
        );
        let errors = errors.lock().clone();
        let text = errors.join("\n");
        assert!(
            text.contains(&format!("http status {status}")),
            "{name} {status}: {text}"
        );
        assert!(
            text.contains("collector.example.com"),
            "{name} {status}: names where: {text}"
        );
        assert!(
            text.contains("set the backend's URL"),
            "{name} {status}: says what to change: {text}"
        );
        for secret in ["pa55word", "t0ken-123"] {
            assert!(!text.contains(secret), "{name} {status}: {secret} leaked: {text}");
        }
        drop(t);
        let spool = Spool::open(&dir).unwrap();
        assert!(
            !spool.dead_files().unwrap().is_empty(),
            "{name} {status}: dead letters"
        );
        for f in std::fs::read_dir(dir.join("dead")).unwrap().flatten() {
            let body = std::fs::read_to_string(f.path()).unwrap();
            assert!(
                !body.contains("pa55word") && !body.contains("t0ken-123"),
                "{name}: {body}"
            );
        }
        // The URL fixed: the dead letters go.
        let ok = Collector::start(|r, _| {
            if r.path.contains("collect") && r.query.contains("access_token") {
                Reply::Status(200, vec![], r#"{"code":0}"#.into())
            } else {
                Reply::Status(200, vec![], "{}".into())
            }
        });
        let (fixed, _) = make(&ok.url());
        let replay = spool.replay(&*fixed).unwrap();
        assert_eq!(
            (replay.delivered, replay.dead),
            (3, 0),
            "{name} {status}: {replay:?}"
        );
        assert!(spool.dead_files().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn growingio_takes_no_redirect_for_a_delivery() {
    redirected("growingio", growingio);
}

#[test]
fn gravity_takes_no_redirect_for_a_delivery() {
    redirected("gravity", gravity);
}

#[test]
fn personalize_takes_no_redirect_for_a_delivery() {
    redirected("personalize", personalize);
}

#[test]
fn retail_takes_no_redirect_for_a_delivery() {
    redirected("retail", retail);
}

#[test]
fn talent_takes_no_redirect_for_a_delivery() {
    redirected("talent", talent);
}

#[test]
fn webhook_takes_no_redirect_for_a_delivery() {
    redirected("webhook", webhook);
}
