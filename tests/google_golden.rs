//! Google Cloud Retail and Talent: every golden request (../shared/golden/{retail,talent})
//! reproduced, long-running operations, errors, and bearer tokens from every source against
//! loopback servers.

#![cfg(all(feature = "retail", feature = "talent"))]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use support::{golden, golden_header, Captured, Collector, Reply};
use trackflow::auth::google::{MetadataServer, ServiceAccountKey, StaticToken, Tokens};
use trackflow::backend::retail::{Collect, RejoinScope, Retail};
use trackflow::backend::talent::{Talent, TalentVersion};
use trackflow::{
    clock::FixedClock, Error, Event, EventOptions, Identity, ImmediateConsumer, Interaction, InteractionItem,
    Properties, Tracker,
};

const PARENT: &str = "projects/123456789/locations/global/catalogs/default_catalog";
const TENANT: &str = "projects/golden-project/tenants/tenant-001";
const TOKEN: &str = "ya29.GOLDEN-TEST-ACCESS-TOKEN";
const T: i64 = 1_700_000_000_500;

fn echo_ok() -> Collector {
    Collector::start(|r, _| {
        Reply::Status(
            200,
            vec![("Content-Type", "application/json".into())],
            String::from_utf8_lossy(&r.body).into_owned(),
        )
    })
}

fn retail(c: &Collector) -> Retail {
    Retail::builder(PARENT)
        .endpoint(c.url())
        .tokens(Tokens::new(StaticToken::new(TOKEN)))
        .poll_interval(Duration::from_millis(10))
        .transport(support::fast_transport())
        .build()
        .unwrap()
}

fn tracker(b: impl trackflow::Backend + 'static) -> Tracker {
    Tracker::builder()
        .consumer(ImmediateConsumer::new(b))
        .build()
        .unwrap()
}

/// Percent-decoding of a query (`+` is a space, as form encoding has it), pairs sorted.
fn query_pairs(q: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let b = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    let mut pairs: Vec<(String, String)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    pairs.sort();
    pairs
}

/// Method, path, query (decoded pairs), the protocol headers, and the decoded body, with
/// `patch` applied to ours where we deliberately differ.
fn assert_matches(got: &Captured, backend: &str, case: &str, patch: impl FnOnce(&mut Json)) {
    let g = golden(backend, case);
    let r = &g["request"];
    assert_eq!(got.method, r["method"], "{case}");
    assert_eq!(got.path, r["path"], "{case}");
    let mut want_q = query_pairs(r["query_string"].as_str().unwrap());
    let mut got_q = query_pairs(&got.query);
    // The collect pixel carries the event as a JSON string: compare it as JSON.
    for q in [&mut want_q, &mut got_q] {
        for (k, v) in q.iter_mut() {
            if k == "userEvent" && !v.is_empty() {
                *v = serde_json::from_str::<Json>(v).unwrap().to_string();
            }
        }
    }
    assert_eq!(got_q, want_q, "{case}: query");
    for h in ["content-type", "x-goog-request-params", "authorization", "accept"] {
        if h == "accept" && golden_header(r, h).as_deref() == Some("*/*") {
            continue; // the HTTP library's default, not the protocol's
        }
        assert_eq!(
            got.header(h).map(str::to_owned),
            golden_header(r, h),
            "{case}: header {h}"
        );
    }
    let want_body = r.get("body_text").and_then(|b| b.as_str()).unwrap_or_default();
    if want_body.is_empty() {
        assert!(got.body.is_empty(), "{case}: body {}", got.text());
    } else {
        let mut ours: Json = got.json();
        patch(&mut ours);
        assert_eq!(
            ours,
            serde_json::from_str::<Json>(want_body).unwrap(),
            "{case}: body"
        );
    }
}

fn detail_event() -> Event {
    Event::track("detail-page-view")
        .with_identity(
            Identity::anonymous("visitor-001")
                .with_user("user-001")
                .with_session("session-001"),
        )
        .with_time(T)
        .with_properties(
            Properties::new()
                .with("score", vec![1.5, 2.0])
                .with("traffic_channel", vec!["organic"]),
        )
        .with_interaction(
            Interaction::new()
                .experiment_ids(["exp-1", "exp-2"])
                .recommendation_id("attr-token-001")
                .items([InteractionItem::new("sku-001").quantity(1)])
                .ip_address("203.0.113.7")
                .user_agent("Mozilla/5.0 (golden)")
                .direct_user_request(true)
                .page_uri("https://shop.example.com/p/sku-001")
                .referrer_uri("https://shop.example.com/")
                .page_view_id("pv-001")
                .entity("shop.example.com"),
        )
}

fn purchase_event() -> Event {
    Event::track("purchase-complete")
        .with_identity(Identity::anonymous("visitor-001"))
        .with_time(T)
        .with_interaction(
            Interaction::new()
                .items([InteractionItem::new("sku-001").quantity(2).price(19.99)])
                .currency("USD")
                .cart_id("cart-001")
                .transaction_id("txn-001")
                .value(39.98)
                .tax(3.2)
                .cost(20.0),
        )
}

fn search_event() -> Event {
    Event::track("search")
        .with_identity(Identity::anonymous("visitor-001"))
        .with_time(T)
        .with_interaction(
            Interaction::new()
                .items([InteractionItem::new("sku-000"), InteractionItem::new("sku-001")])
                .search_query("red shoes")
                .page_categories(["Sales > 2017 Black Friday Deals"])
                .filter("brands: ANY(\"acme\")")
                .order_by("price desc")
                .offset(20),
        )
}

fn only(c: &Collector) -> Captured {
    let r = c.requests();
    assert_eq!(r.len(), 1, "{r:#?}");
    r.into_iter().next().unwrap()
}

#[test]
fn retail_write_cases() {
    for (case, event, write_async) in [
        ("write_user_event_detail_page_view", detail_event(), false),
        ("write_user_event_purchase_complete", purchase_event(), false),
        ("write_user_event_search_write_async", search_event(), true),
    ] {
        let c = echo_ok();
        let r = Retail::builder(PARENT)
            .endpoint(c.url())
            .tokens(Tokens::new(StaticToken::new(TOKEN)))
            .write_async(write_async)
            .build()
            .unwrap();
        tracker(r).record(event).unwrap();
        assert_matches(&only(&c), "retail", case, |_| {});
    }
}

#[test]
fn retail_write_with_anonymous_credentials_has_no_authorization() {
    let c = echo_ok();
    tracker(Retail::builder(PARENT).endpoint(c.url()).build().unwrap())
        .track(
            &Identity::anonymous("visitor-002"),
            "home-page-view",
            Properties::new(),
        )
        .unwrap();
    // Our events always know their time; the captured call left eventTime to the server.
    assert_matches(
        &only(&c),
        "retail",
        "write_user_event_anonymous_credentials",
        |b| {
            b.as_object_mut()
                .unwrap()
                .remove("eventTime")
                .expect("we send eventTime");
        },
    );
}

#[test]
fn retail_collect_pixel() {
    let c = Collector::start(|_, _| {
        Reply::Status(200, vec![], r#"{"contentType": "image/gif", "data": "R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="}"#.into())
    });
    let r = retail(&c);
    let e = Event::track("home-page-view")
        .with_identity(Identity::anonymous("visitor-001"))
        .with_time(T);
    r.collect(&Collect {
        user_event: Some(&e),
        uri: Some("https://shop.example.com/?q=1&x=%20y"),
        ets: Some(T),
        ..Collect::default()
    })
    .unwrap();
    r.collect(&Collect {
        prebuilt_rule: Some("ga4_bq"),
        raw_json: Some(r#"{"event_name":"page_view"}"#),
        ..Collect::default()
    })
    .unwrap();
    let reqs = c.requests();
    assert_matches(&reqs[0], "retail", "collect_user_event_get", |_| {});
    assert_matches(
        &reqs[1],
        "retail",
        "collect_user_event_raw_json_prebuilt_rule",
        |_| {},
    );
}

fn operation_reply(name: &str, done: bool, metadata: Json) -> Reply {
    let mut op = json!({ "name": format!("{PARENT}/operations/{name}"), "done": done, "metadata": metadata });
    if done {
        op["response"] = json!({ "@type": "type.googleapis.com/google.cloud.retail.v2.Response" });
    }
    Reply::Status(200, vec![], op.to_string())
}

#[test]
fn retail_import_purge_rejoin() {
    let c = Collector::start(|r, _| {
        let meta = if r.path.ends_with(":import") {
            json!({ "successCount": "2" })
        } else {
            json!({})
        };
        operation_reply("op", true, meta)
    });
    let r = retail(&c);
    let mut progress = Vec::new();
    let p = r
        .import(
            [detail_event(), purchase_event()],
            Some("gs://golden-bucket/import-errors/"),
            |p| progress.push(*p),
        )
        .unwrap();
    assert_eq!((p.sent, p.succeeded, p.chunks), (2, 2, 1));
    assert_eq!(progress.len(), 1);
    r.purge(
        r#"visitorId = "visitor-001" eventTime > "2023-01-01T00:00:00Z""#,
        true,
    )
    .unwrap();
    r.rejoin(RejoinScope::Unspecified).unwrap();
    r.rejoin(RejoinScope::UnjoinedEvents).unwrap();
    let reqs = c.requests();
    assert_matches(&reqs[0], "retail", "import_user_events_inline", |_| {});
    assert_matches(&reqs[1], "retail", "purge_user_events", |_| {});
    assert_matches(&reqs[2], "retail", "rejoin_user_events_default_scope", |_| {});
    assert_matches(&reqs[3], "retail", "rejoin_user_events_unjoined", |_| {});
}

#[test]
fn retail_import_goes_in_chunks_with_progress() {
    let c = Collector::start(|r, _| {
        let n = r.json()["inputConfig"]["userEventInlineSource"]["userEvents"]
            .as_array()
            .unwrap()
            .len();
        operation_reply("op", true, json!({ "successCount": n.to_string() }))
    });
    let r = Retail::builder(PARENT)
        .endpoint(c.url())
        .import_chunk(2)
        .build()
        .unwrap();
    let events = (0..5).map(|i| {
        Event::track("home-page-view")
            .with_identity(Identity::anonymous(format!("v{i}")))
            .with_time(T)
    });
    let mut seen = Vec::new();
    let p = r.import(events, None, |p| seen.push(p.sent)).unwrap();
    assert_eq!(seen, [2, 4, 5]);
    assert_eq!((p.succeeded, p.chunks), (5, 3));
    let bad = [
        Event::track("home-page-view").with_identity(Identity::anonymous("v")),
        Event::track("nope").with_identity(Identity::anonymous("v")),
    ];
    let err = r.import(bad, None, |_| {}).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid input: events[1].event name: Retail event types are"),
        "{err}"
    );
}

#[test]
fn a_long_running_operation_that_finishes_after_two_polls() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p2 = polls.clone();
    let c = Collector::start(move |r, _| {
        if r.method == "GET" {
            let n = p2.fetch_add(1, Ordering::SeqCst);
            operation_reply("purge-1", n >= 1, json!({}))
        } else {
            operation_reply("purge-1", false, json!({}))
        }
    });
    let op = retail(&c).purge("eventType = \"search\"", false).unwrap();
    assert!(op.done);
    let reqs = c.requests();
    let shape: Vec<(String, String)> = reqs.iter().map(|r| (r.method.clone(), r.path.clone())).collect();
    let op_path = format!("/v2/{PARENT}/operations/purge-1");
    assert_eq!(
        shape,
        [
            ("POST".to_owned(), format!("/v2/{PARENT}/userEvents:purge")),
            ("GET".to_owned(), op_path.clone()),
            ("GET".to_owned(), op_path)
        ]
    );
    assert!(reqs[1].query.contains("%24alt=json"), "{}", reqs[1].query);
    assert_eq!(
        reqs[1].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    let never = Collector::start(|_, _| operation_reply("slow", false, json!({})));
    let r = Retail::builder(PARENT)
        .endpoint(never.url())
        .poll_interval(Duration::from_millis(10))
        .operation_deadline(Duration::from_millis(100))
        .build()
        .unwrap();
    assert!(matches!(
        r.rejoin(RejoinScope::JoinedEvents),
        Err(Error::Timeout(_))
    ));
}

#[test]
fn retail_rules_and_errors() {
    let c = Collector::start(|_, n| match n {
        0 => Reply::Status(
            400,
            vec![],
            r#"{"error":{"code":400,"message":"golden 400","status":"INVALID_ARGUMENT"}}"#.into(),
        ),
        1 => Reply::status(503),
        _ => Reply::Status(200, vec![], "{}".into()),
    });
    let t = tracker(retail(&c));
    let visitor = Identity::anonymous("visitor-001");
    let err = t
        .track(&visitor, "home-page-view", Properties::new())
        .unwrap_err();
    assert_eq!(err.to_string(), "http status: 400: INVALID_ARGUMENT: golden 400");
    t.track(&visitor, "home-page-view", Properties::new()).unwrap();
    assert_eq!(c.requests().len(), 3, "400 once, then 503 retried");

    let bad = |e: Event| t.record(e).unwrap_err().to_string();
    assert!(bad(Event::track("pageview").with_identity(visitor.clone())).contains("Retail event types are"));
    assert!(
        bad(Event::track("detail-page-view").with_identity(visitor.clone()))
            .contains("needs at least one product")
    );
    let purchase = Event::track("purchase-complete")
        .with_identity(visitor.clone())
        .with_interaction(Interaction::new().items([InteractionItem::new("s")]));
    assert!(bad(purchase).contains("revenue"));
    assert!(bad(Event::track("search").with_identity(visitor.clone()))
        .contains("search query or page categories"));
    assert!(
        bad(Event::track("home-page-view").with_identity(Identity::anonymous("v".repeat(129))))
            .contains("at most 128")
    );
    let mixed = Properties::new().with("a", vec![trackflow::Value::from(1), trackflow::Value::from("x")]);
    assert!(bad(Event::track("home-page-view")
        .with_identity(visitor.clone())
        .with_properties(mixed))
    .contains("text or numbers"));
    assert!(
        t.user_set(&Identity::user("u"), [("a", 1)]).is_err(),
        "profile operations are unsupported"
    );
    assert_eq!(c.requests().len(), 3, "nothing invalid was sent");
}

fn talent(c: &Collector, parent: &str, version: TalentVersion) -> Tracker {
    tracker(
        Talent::builder(parent)
            .endpoint(c.url())
            .version(version)
            .tokens(Tokens::new(StaticToken::new(TOKEN)))
            .build()
            .unwrap(),
    )
}

fn job_event(name: &str, req: &str, id: &str, time: i64, jobs: &[&str]) -> Event {
    Event::track(name)
        .with_identity(Identity::anonymous("seeker-1"))
        .with_insert_id(id)
        .with_time(time)
        .with_interaction(
            Interaction::new()
                .recommendation_id(req)
                .items(jobs.iter().map(|j| InteractionItem::new(*j))),
        )
}

#[test]
fn talent_v4_cases() {
    let c = echo_ok();
    let t = talent(&c, TENANT, TalentVersion::V4);
    t.record(
        job_event("VIEW", "req-0001", "event-0001", T, &["job-001"])
            .with_properties([("event_notes", "viewed from email")]),
    )
    .unwrap();
    t.record(job_event(
        "impression",
        "req-0002",
        "event-0002",
        1_700_000_000_000,
        &["job-000", "job-001", "job-002"],
    ))
    .unwrap();
    let reqs = c.requests();
    assert_matches(&reqs[0], "talent", "v4_create_client_event_gapic_rest", |_| {});
    assert_matches(
        &reqs[1],
        "talent",
        "v4_create_client_event_gapic_rest_impression",
        |_| {},
    );
}

#[test]
fn talent_v3_with_extra_info_and_parent_event() {
    let c = echo_ok();
    let t = talent(&c, "projects/golden-project", TalentVersion::V3);
    let mut e = job_event(
        "APPLICATION_START",
        "req-0003",
        "event-0003",
        T,
        &["projects/golden-project/jobs/job-001"],
    )
    .with_properties(
        Properties::new()
            .with("source", "email")
            .with("campaign", "winter"),
    );
    e.interaction.as_mut().unwrap().parent_event_id = Some("event-0001".into());
    t.record(e.clone()).unwrap();
    let got = only(&c);
    assert_matches(
        &got,
        "talent",
        "v3_create_client_event_discovery_extra_info",
        |_| {},
    );
    let want = golden("talent", "v3_create_client_event_discovery_extra_info")["request"]["body_text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(got.text(), want, "json.dumps layout byte for byte");

    // The 21-key request the client sent unchecked (…_21_keys_unchecked) is refused at the call.
    let many: Properties = (0..21).map(|i| (format!("k{i:02}"), "v".repeat(120))).collect();
    let err = t.record(e.clone().with_properties(many)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: properties: Talent extraInfo takes at most 20 keys, got 21"
    );
    let big: Properties = (0..20).map(|i| (format!("k{i:02}"), "v".repeat(120))).collect();
    assert!(t
        .record(e.with_properties(big))
        .unwrap_err()
        .to_string()
        .contains("at most 2 KB"));
    assert_eq!(c.requests().len(), 1);
}

#[test]
fn talent_v4_refuses_what_only_v3_carries() {
    let c = echo_ok();
    let t = talent(&c, TENANT, TalentVersion::V4);
    let e = job_event("VIEW", "r", "e", T, &["j"]);
    assert!(t
        .record(e.clone().with_properties([("source", "email")]))
        .unwrap_err()
        .to_string()
        .contains("use TalentVersion::V3"));
    let mut p = e.clone();
    p.interaction.as_mut().unwrap().parent_event_id = Some("x".into());
    assert!(t.record(p).unwrap_err().to_string().contains("parentEventId"));
    assert!(
        t.record(job_event("NOT_INTERESTED", "r", "e", T, &["j"]))
            .is_err(),
        "v3 only"
    );
    assert!(
        t.record(job_event("VIEW", "r", "e", T, &[])).is_err(),
        "needs jobs"
    );
    assert!(c.requests().is_empty());
}

/// A token endpoint that checks the service-account JWT and hands out numbered tokens that
/// expire in `expires_in` seconds.
fn token_endpoint(expires_in: u64) -> (Collector, Arc<Mutex<Vec<Json>>>) {
    let key_json: Json =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/service_account.json").unwrap())
            .unwrap();
    let pem = key_json["private_key"].as_str().unwrap();
    let der: Vec<u8> = {
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        decode_b64(&b64)
    };
    let public = ring::signature::RsaKeyPair::from_pkcs8(&der)
        .unwrap()
        .public()
        .as_ref()
        .to_vec();
    let claims = Arc::new(Mutex::new(Vec::new()));
    let c2 = claims.clone();
    let n = Arc::new(AtomicUsize::new(0));
    let c = Collector::start(move |r, _| {
        let form = query_pairs(r.text());
        assert_eq!(
            form[1],
            (
                "grant_type".to_owned(),
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()
            )
        );
        let jwt = &form[0].1;
        let parts: Vec<&str> = jwt.split('.').collect();
        let signed = format!("{}.{}", parts[0], parts[1]);
        let key =
            ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &public);
        if key.verify(signed.as_bytes(), &decode_b64(parts[2])).is_err() {
            return Reply::Status(401, vec![], r#"{"error":"invalid_grant"}"#.into());
        }
        c2.lock().push(json!({
            "header": serde_json::from_slice::<Json>(&decode_b64(parts[0])).unwrap(),
            "claims": serde_json::from_slice::<Json>(&decode_b64(parts[1])).unwrap(),
        }));
        let i = n.fetch_add(1, Ordering::SeqCst);
        Reply::Status(
            200,
            vec![],
            json!({"access_token": format!("ya29.sa-{i}"), "expires_in": expires_in, "token_type": "Bearer"})
                .to_string(),
        )
    });
    (c, claims)
}

fn decode_b64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            _ => 63,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn key_for(endpoint: &Collector) -> ServiceAccountKey {
    let mut key: Json =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/service_account.json").unwrap())
            .unwrap();
    key["token_uri"] = format!("{}/token", endpoint.url()).into();
    ServiceAccountKey::from_json(&key.to_string())
        .unwrap()
        .clock(FixedClock(1_700_000_000_000))
}

#[test]
fn a_service_account_key_works_against_a_loopback_token_endpoint() {
    let (tokens, claims) = token_endpoint(3600);
    let api = echo_ok();
    let r = Retail::builder(PARENT)
        .endpoint(api.url())
        .tokens(Tokens::new(key_for(&tokens)))
        .build()
        .unwrap();
    let t = tracker(r);
    let visitor = Identity::anonymous("v1");
    t.track(&visitor, "home-page-view", Properties::new()).unwrap();
    t.track(&visitor, "home-page-view", Properties::new()).unwrap();
    let auths: Vec<_> = api
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(
        auths,
        ["Bearer ya29.sa-0", "Bearer ya29.sa-0"],
        "one token, cached"
    );
    let c = claims.lock();
    assert_eq!(c.len(), 1);
    assert_eq!(
        c[0]["header"],
        json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-1"})
    );
    let cl = &c[0]["claims"];
    assert_eq!(cl["iss"], "tracker@trackflow-test.iam.gserviceaccount.com");
    assert_eq!(cl["aud"], format!("{}/token", tokens.url()));
    assert_eq!(cl["scope"], "https://www.googleapis.com/auth/cloud-platform");
    assert_eq!(
        (cl["iat"].as_i64(), cl["exp"].as_i64()),
        (Some(1_700_000_000), Some(1_700_003_600))
    );
    assert!(!format!("{t:?}").contains("PRIVATE KEY"));
}

#[test]
fn a_token_is_refreshed_after_it_expires() {
    // Tokens that expire within the refresh margin are replaced on every use.
    let (tokens, _) = token_endpoint(30);
    let api = echo_ok();
    let t = tracker(
        Retail::builder(PARENT)
            .endpoint(api.url())
            .tokens(Tokens::new(key_for(&tokens)))
            .build()
            .unwrap(),
    );
    for _ in 0..2 {
        t.track(&Identity::anonymous("v1"), "home-page-view", Properties::new())
            .unwrap();
    }
    let auths: Vec<_> = api
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(auths, ["Bearer ya29.sa-0", "Bearer ya29.sa-1"]);
    assert_eq!(tokens.requests().len(), 2);
}

#[test]
fn metadata_server_tokens() {
    let md = Collector::start(|r, _| {
        assert_eq!(r.header("Metadata-Flavor"), Some("Google"));
        assert_eq!(
            r.path,
            "/computeMetadata/v1/instance/service-accounts/default/token"
        );
        Reply::Status(
            200,
            vec![],
            r#"{"access_token":"ya29.from-metadata","expires_in":3599,"token_type":"Bearer"}"#.into(),
        )
    });
    let api = echo_ok();
    let t = tracker(
        Retail::builder(PARENT)
            .endpoint(api.url())
            .tokens(Tokens::new(MetadataServer::new(md.url())))
            .build()
            .unwrap(),
    );
    t.track(&Identity::anonymous("v1"), "home-page-view", Properties::new())
        .unwrap();
    assert_eq!(
        api.requests()[0].header("authorization"),
        Some("Bearer ya29.from-metadata")
    );
}

/// Hands out `tok-1`, `tok-2`, … and counts the fetches.
#[derive(Debug, Default)]
struct Rotating(AtomicUsize);

impl trackflow::auth::google::TokenSource for Rotating {
    fn fetch(&self) -> trackflow::Result<trackflow::auth::google::AccessToken> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(trackflow::auth::google::AccessToken {
            token: trackflow::auth::Secret::new(format!("tok-{n}")),
            expires_at: None,
        })
    }
}

#[test]
fn a_401_drops_the_cached_token_and_tries_once_more() {
    let c = Collector::start(|r, _| match r.header("authorization") {
        Some("Bearer tok-1") => Reply::status(401),
        _ => Reply::Status(200, vec![], "{}".into()),
    });
    let source = Arc::new(Rotating::default());
    let tokens = Tokens::new(SharedSource(source.clone()));
    let r = Retail::builder(PARENT)
        .endpoint(c.url())
        .tokens(tokens)
        .transport(support::fast_transport())
        .build()
        .unwrap();
    let t = tracker(r);
    t.record(detail_event()).unwrap();
    let auth: Vec<String> = c
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(auth, ["Bearer tok-1", "Bearer tok-2"]);
    assert_eq!(source.0.load(Ordering::SeqCst), 2);

    // A 401 with the fresh token too is not retried again.
    let always = Collector::start(|_, _| Reply::status(401));
    let r = Retail::builder(PARENT)
        .endpoint(always.url())
        .tokens(Tokens::new(Rotating::default()))
        .transport(support::fast_transport())
        .build()
        .unwrap();
    assert!(tracker(r).record(detail_event()).is_err());
    assert_eq!(always.requests().len(), 2);
}

#[derive(Debug)]
struct SharedSource(Arc<Rotating>);

impl trackflow::auth::google::TokenSource for SharedSource {
    fn fetch(&self) -> trackflow::Result<trackflow::auth::google::AccessToken> {
        self.0.fetch()
    }
}

#[test]
fn google_backends_retry_408_429_and_5xx() {
    for status in [408, 429, 500, 502, 503, 504] {
        let c = Collector::start(move |_, n| {
            if n == 0 {
                Reply::Status(status, vec![], r#"{"error":{"status":"X","message":"m"}}"#.into())
            } else {
                Reply::Status(200, vec![], "{}".into())
            }
        });
        let t = tracker(retail(&c));
        t.record(detail_event())
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(c.requests().len(), 2, "{status} is retried");
    }
}

#[test]
fn talent_takes_events_without_request_id_or_identity() {
    let c = echo_ok();
    let t = talent(&c, TENANT, TalentVersion::V4);
    let jobs = Interaction::new().items([InteractionItem::new("job-1")]);
    t.with(EventOptions::new().interaction(jobs).insert_id("ev-1"))
        .track(&Identity::default(), "VIEW", Properties::new())
        .unwrap();
    let body = c.requests()[0].json();
    assert_eq!(body["eventId"], "ev-1");
    assert!(body.get("requestId").is_none(), "{body}");
}

#[test]
fn retail_counts_its_text_limit_in_characters() {
    let c = echo_ok();
    let t = tracker(retail(&c));
    let who = Identity::anonymous("visitor-1");
    let cjk = "字".repeat(256);
    t.track(&who, "home-page-view", [("note", cjk.as_str())]).unwrap();
    assert_eq!(c.requests().len(), 1, "256 characters (768 bytes) are accepted");
    let err = t
        .track(&who, "home-page-view", [("note", format!("{cjk}字"))])
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, rule } if field == "properties.note" && rule.contains("257")),
        "{err}"
    );
    assert_eq!(c.requests().len(), 1);
}
