//! Secrets never appear in `Debug` output, logs (up to `debug` level) or error messages: every
//! backend is driven with its secrets through the Debug consumer (which logs each request),
//! against a collector that fails, and everything printed is searched for them.

#![cfg(all(
    feature = "gravity",
    feature = "personalize",
    feature = "retail",
    feature = "talent"
))]

mod support;

use std::sync::Arc;

use parking_lot::Mutex;
use support::{Collector, Reply};
use trackflow::auth::aws::Credentials;
use trackflow::auth::google::{ServiceAccountKey, StaticToken, Tokens};
use trackflow::backend::gravity::Gravity;
use trackflow::backend::personalize::Personalize;
use trackflow::backend::retail::Retail;
use trackflow::backend::talent::Talent;
use trackflow::{
    Backend, Config, DebugConsumer, Event, Identity, Interaction, InteractionItem, Properties, Tracker,
};

const GRAVITY_TOKEN: &str = "GRAVITYSECRET0123456789";
const AWS_SECRET: &str = "AWSSECRETKEYwJalrXUtnFEMI";
const AWS_SESSION: &str = "AWSSESSIONTOKENIQoJb3JpZ2lu";
const GOOGLE_TOKEN: &str = "ya29.GOOGLESECRETTOKEN";
const KAFKA_PASSWORD: &str = "KAFKASASLPASSWORD42";

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        if r.level() <= log::Level::Debug {
            self.0.lock().push(format!("{} {}", r.target(), r.args()));
        }
    }
    fn flush(&self) {}
}

#[test]
fn no_secret_in_debug_logs_or_errors() {
    let logs: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
    log::set_logger(logs).unwrap();
    log::set_max_level(log::LevelFilter::Debug);

    // Fails everything, so errors, retries and callbacks all run.
    let c = Collector::start(|_, _| {
        Reply::Status(
            500,
            vec![],
            r#"{"error":{"code":500,"message":"boom","status":"INTERNAL"}}"#.into(),
        )
    });
    let fast = support::fast_transport;
    let key = std::fs::read_to_string("tests/fixtures/service_account.json").unwrap();
    let sa = ServiceAccountKey::from_json(&key).unwrap();
    let private_key_line = key
        .lines()
        .find(|l| l.contains("PRIVATE KEY"))
        .unwrap()
        .split("\\n")
        .nth(1)
        .unwrap()
        .to_owned();

    let backends: Vec<Box<dyn Backend>> = vec![
        Box::new(
            Gravity::builder(format!("{}/collect/?access_token={GRAVITY_TOKEN}", c.url()))
                .transport(fast())
                .build()
                .unwrap(),
        ),
        Box::new(
            Personalize::builder()
                .endpoint(c.url())
                .region("us-east-1")
                .credentials(Credentials::new(
                    "AKIDEXAMPLE",
                    AWS_SECRET,
                    Some(AWS_SESSION.into()),
                ))
                .tracking_id("t")
                .transport(fast())
                .build()
                .unwrap(),
        ),
        Box::new(
            Retail::builder("projects/1/locations/global/catalogs/c")
                .endpoint(c.url())
                .tokens(Tokens::new(StaticToken::new(GOOGLE_TOKEN)))
                .transport(fast())
                .build()
                .unwrap(),
        ),
        Box::new(
            Talent::builder("projects/p/tenants/t")
                .endpoint(c.url())
                .tokens(Tokens::new(StaticToken::new(GOOGLE_TOKEN)))
                .transport(fast())
                .build()
                .unwrap(),
        ),
    ];
    let mut printed: Vec<String> = vec![format!("{sa:?}")];
    let names = ["gravity", "personalize", "retail", "talent"];
    let events = [
        Event::track("buy").with_identity(Identity::anonymous("c1")),
        Event::track("click").with_identity(Identity::user("u1").with_session("s1")),
        Event::track("home-page-view").with_identity(Identity::anonymous("v1")),
        Event::track("VIEW")
            .with_identity(Identity::anonymous("s"))
            .with_interaction(
                Interaction::new()
                    .recommendation_id("r")
                    .items([InteractionItem::new("j")]),
            ),
    ];
    for ((backend, name), event) in backends.into_iter().zip(names).zip(events) {
        printed.push(format!("{backend:?}"));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let e2 = errors.clone();
        let consumer = DebugConsumer::builder(backend)
            .on_error(move |e, _| e2.lock().push(e.to_string()))
            .build();
        let t = Tracker::builder().consumer(consumer).build().unwrap();
        printed.push(format!("{t:?}"));
        let err = t.record(event.with_properties(Properties::new())).unwrap_err();
        printed.push(err.to_string());
        printed.push(format!("{err:?}"));
        printed.extend(errors.lock().iter().cloned());
        assert!(!c.requests().is_empty(), "{name} sent nothing");
    }
    // Unreachable hosts make transport errors that quote URLs.
    let g = Gravity::builder(format!("http://127.0.0.1:1/c/?access_token={GRAVITY_TOKEN}"))
        .transport(support::no_retry_transport())
        .build()
        .unwrap();
    let t = Tracker::builder()
        .consumer(trackflow::ImmediateConsumer::new(g))
        .build()
        .unwrap();
    printed.push(
        t.track(&Identity::anonymous("c"), "e", Properties::new())
            .unwrap_err()
            .to_string(),
    );
    let cfg = Config::from_toml_str(&format!(
        "[backend]\nkind = \"gravity\"\nurl = \"http://h/c/?access_token={GRAVITY_TOKEN}\"\n"
    ))
    .unwrap();
    printed.push(format!("{cfg:?}"));
    // Serialized forms, and every public type that holds a secret.
    printed.push(serde_json::to_string(&cfg).unwrap());
    let creds = Credentials::new("AKIDEXAMPLE", AWS_SECRET, Some(AWS_SESSION.into()));
    printed.push(format!("{creds:?}"));
    let input = trackflow::auth::sigv4::SignInput {
        method: "POST",
        host: "personalize-events.us-east-1.amazonaws.com",
        path: "/events",
        query: &[],
        headers: &[("Content-Type", "application/json")],
        body: b"{}",
        time_ms: 1_700_000_000_000,
        region: "us-east-1",
        service: "personalize",
    };
    printed.push(format!("{:?}", trackflow::auth::sigv4::sign(&creds, &input)));
    let tokens = Tokens::new(StaticToken::new(GOOGLE_TOKEN));
    printed.push(format!("{tokens:?} {:?}", StaticToken::new(GOOGLE_TOKEN)));
    let bearer = tokens.bearer().unwrap();
    printed.push(format!("{bearer:?}"));
    printed.push(format!(
        "{:?}",
        Tokens::new(ServiceAccountKey::from_json(&key).unwrap())
    ));
    // AWS credential sources holding secrets: explicit keys in a cache, a container token.
    let cached =
        trackflow::auth::aws::CachedCredentials::new(trackflow::auth::aws::StaticCredentials(creds.clone()));
    cached.get(&Default::default()).unwrap();
    printed.push(format!("{cached:?}"));
    let chain = trackflow::auth::aws::DefaultChain::with_env(
        |k| match k {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI" => Some("http://127.0.0.1:1/creds".into()),
            "AWS_CONTAINER_AUTHORIZATION_TOKEN" => Some(AWS_SESSION.into()),
            _ => None,
        },
        None,
    );
    printed.push(format!("{chain:?}"));
    let err = trackflow::auth::aws::CachedCredentials::new(chain)
        .get(&Default::default())
        .unwrap_err();
    printed.push(format!("{err} {err:?}"));
    printed.extend(kafka_printed());
    printed.extend(logs.0.lock().iter().cloned());

    assert!(
        printed.iter().any(|p| p.contains("trackflow::debug")),
        "the Debug consumer logged requests"
    );
    #[cfg(feature = "kafka")]
    assert!(
        printed.iter().any(|p| p.contains("librdkafka")),
        "librdkafka's own logs were searched too"
    );
    for secret in [
        GRAVITY_TOKEN,
        AWS_SECRET,
        AWS_SESSION,
        GOOGLE_TOKEN,
        KAFKA_PASSWORD,
        &private_key_line,
    ] {
        let leaks: Vec<&String> = printed.iter().filter(|p| p.contains(secret)).collect();
        assert!(leaks.is_empty(), "secret {secret} leaked: {leaks:#?}");
    }
    // The secrets did go where they belong.
    let reqs = c.requests();
    assert!(reqs.iter().any(|r| r.query.contains(GRAVITY_TOKEN)));
    assert!(reqs
        .iter()
        .any(|r| r.header("x-amz-security-token") == Some(AWS_SESSION)));
    assert!(reqs
        .iter()
        .any(|r| r.header("authorization") == Some(&format!("Bearer {GOOGLE_TOKEN}"))));
}

/// A Kafka producer holding a SASL password and a TLS key password, failing against a broker
/// that is not there (librdkafka logs its connection errors): what it prints.
#[cfg(feature = "kafka")]
fn kafka_printed() -> Vec<String> {
    let cfg = Config::from_toml_str(&format!(
        "[backend]\nkind = \"kafka\"\nbrokers = \"127.0.0.1:1\"\ntopic = \"t\"\ndelivery_timeout_ms = 500\n\
         sasl = {{ mechanism = \"PLAIN\", username = \"u\", password = \"{KAFKA_PASSWORD}\" }}\n\
         properties = {{ \"ssl.key.password\" = \"{KAFKA_PASSWORD}\" }}\n"
    ))
    .unwrap();
    let backend = cfg.build_backend().unwrap();
    let mut printed = vec![
        format!("{cfg:?}"),
        serde_json::to_string(&cfg).unwrap(),
        format!("{backend:?}"),
    ];
    let t = Tracker::builder()
        .consumer(trackflow::ImmediateConsumer::new(backend))
        .build()
        .unwrap();
    let err = t.track(&Identity::user("u"), "e", Properties::new()).unwrap_err();
    printed.push(format!("{err} {err:?}"));
    printed
}

#[cfg(not(feature = "kafka"))]
fn kafka_printed() -> Vec<String> {
    Vec::new()
}
