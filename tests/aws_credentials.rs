//! AWS credentials from where AWS deploys them, against loopback stand-ins that check each
//! request: IMDSv2 (and its v1 fallback), the container endpoint with a token file, STS
//! web identity and AssumeRole, `credential_process`, and an expired token mid-run.
#![cfg(feature = "personalize")]

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{Collector, Reply};
use trackflow::auth::aws::{CachedCredentials, Credentials, CredentialsProvider, DefaultChain};
use trackflow::delivery::Cancel;
use trackflow::{Identity, ImmediateConsumer, Personalize, Properties, Tracker};

fn env(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static + use<> {
    let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    move |k| m.get(k).cloned()
}

/// `at` as RFC 3339 UTC, the way AWS writes `Expiration`.
fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn json_credentials(ak: &str, expires: SystemTime) -> String {
    format!(
        r#"{{"Code":"Success","AccessKeyId":"{ak}","SecretAccessKey":"secret-{ak}","Token":"token-{ak}","Expiration":"{}"}}"#,
        rfc3339(expires)
    )
}

fn sts_xml(action: &str, ak: &str) -> String {
    let exp = rfc3339(SystemTime::now() + Duration::from_secs(3600));
    format!(
        "<{action}Response><{action}Result><Credentials><AccessKeyId>{ak}</AccessKeyId>\
         <SecretAccessKey>secret-{ak}</SecretAccessKey><SessionToken>token-{ak}</SessionToken>\
         <Expiration>{exp}</Expiration></Credentials></{action}Result></{action}Response>"
    )
}

fn form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let bytes = v.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' && i + 3 <= bytes.len() {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            (k.to_owned(), String::from_utf8(out).unwrap())
        })
        .collect()
}

fn fetch(p: impl CredentialsProvider + 'static) -> trackflow::Result<Arc<Credentials>> {
    CachedCredentials::new(p).get(&Cancel::default())
}

fn temp_dir(name: &str) -> PathBuf {
    support::temp_dir(name)
}

/// The IMDS stand-in: a token for the TTL header, then the role, then credentials that
/// expire 5 s from now (so each is due for refresh a quarter of that before: 3.6–3.75 s
/// later, with the jitter), numbered.
fn imds(v2: bool) -> (Collector, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let n = issued.clone();
    let c = Collector::start(move |r, _| {
        let token_ok = !v2 || r.header("x-aws-ec2-metadata-token") == Some("imds-session-1");
        match (r.method.as_str(), r.path.as_str()) {
            ("PUT", "/latest/api/token") if !v2 => Reply::status(405),
            ("PUT", "/latest/api/token") => match r.header("x-aws-ec2-metadata-token-ttl-seconds") {
                Some("21600") => Reply::Status(200, vec![], "imds-session-1".into()),
                _ => Reply::status(400),
            },
            ("GET", _) if !token_ok => Reply::status(401),
            ("GET", "/latest/meta-data/iam/security-credentials/") => {
                Reply::Status(200, vec![], "app-role\n".into())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/app-role") => {
                let k = n.fetch_add(1, Ordering::SeqCst) + 1;
                let exp = SystemTime::now() + Duration::from_secs(5);
                Reply::Status(200, vec![], json_credentials(&format!("AKIMDS{k}"), exp))
            }
            _ => Reply::status(404),
        }
    });
    (c, issued)
}

fn personalize(pz: &Collector, p: impl CredentialsProvider + 'static) -> Tracker {
    let backend = Personalize::builder()
        .endpoint(pz.url())
        .region("us-east-1")
        .credentials_provider(p)
        .tracking_id("tracking-1")
        .transport(support::fast_transport())
        .build()
        .unwrap();
    Tracker::builder()
        .consumer(ImmediateConsumer::new(backend))
        .build()
        .unwrap()
}

fn key_ids(pz: &Collector) -> Vec<String> {
    pz.requests()
        .iter()
        .map(|r| {
            let auth = r.header("authorization").unwrap();
            auth.split("Credential=")
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn imdsv2_credentials_are_refreshed_before_they_expire_and_no_batch_fails() {
    let (md, issued) = imds(true);
    let pz = Collector::ok();
    let chain = DefaultChain::with_env(env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", md.url())]), None);
    let t = personalize(&pz, chain);
    let who = Identity::user("u1").with_session("s1");
    t.track(&who, "view", Properties::new()).unwrap();
    t.track(&who, "view", Properties::new()).unwrap();
    std::thread::sleep(Duration::from_millis(4200));
    t.track(&who, "view", Properties::new()).unwrap();
    assert_eq!(key_ids(&pz), ["AKIMDS1", "AKIMDS1", "AKIMDS2"]);
    // Each request carries the session token of the keys that signed it.
    for (r, ak) in pz.requests().iter().zip(key_ids(&pz)) {
        assert_eq!(
            r.header("x-amz-security-token"),
            Some(format!("token-{ak}").as_str())
        );
    }
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    let s = t.stats();
    assert_eq!((s.delivered, s.failed), (3, 0));
    // The exact requests: the token PUT with its TTL header, the GETs with the token.
    let reqs = md.requests();
    assert_eq!(reqs[0].method, "PUT");
    assert_eq!(
        reqs[0].header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    assert!(reqs[1..]
        .iter()
        .all(|r| r.method == "PUT" || r.header("x-aws-ec2-metadata-token") == Some("imds-session-1")));
}

#[test]
fn imdsv1_only_as_a_fallback_and_never_when_disabled() {
    let (md, _) = imds(false);
    let e = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", md.url())];
    assert_eq!(
        fetch(DefaultChain::with_env(env(&e), None))
            .unwrap()
            .access_key_id,
        "AKIMDS1"
    );
    assert!(md.requests()[1..]
        .iter()
        .all(|r| r.header("x-aws-ec2-metadata-token").is_none()));
    let e = [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", md.url()),
        ("AWS_EC2_METADATA_V1_DISABLED", "true".into()),
    ];
    let err = fetch(DefaultChain::with_env(env(&e), None)).unwrap_err();
    assert!(err.to_string().contains("405"), "{err}");
    let err = fetch(DefaultChain::with_env(
        env(&[("AWS_EC2_METADATA_DISABLED", "true".into())]),
        None,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("instance metadata is disabled"), "{err}");
}

#[test]
fn container_endpoint_with_an_authorization_token_file_read_at_each_fetch() {
    let dir = temp_dir("aws-container");
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, "pod-identity-token-1\n").unwrap();
    let c = Collector::start(|r, _| match (r.path.as_str(), r.header("authorization")) {
        ("/v1/credentials", Some(t)) if t.starts_with("pod-identity-token-") => {
            let ak = format!("AKPOD{}", &t["pod-identity-token-".len()..]);
            Reply::Status(
                200,
                vec![],
                json_credentials(&ak, SystemTime::now() + Duration::from_secs(3600)),
            )
        }
        _ => Reply::status(401),
    });
    let chain = DefaultChain::with_env(
        env(&[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("{}/v1/credentials", c.url()),
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.display().to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]),
        None,
    );
    let cache = CachedCredentials::new(chain);
    assert_eq!(cache.get(&Cancel::default()).unwrap().access_key_id, "AKPOD1");
    std::fs::write(&token_file, "pod-identity-token-2").unwrap();
    cache.invalidate();
    assert_eq!(cache.get(&Cancel::default()).unwrap().access_key_id, "AKPOD2");
    let auths: Vec<String> = c
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(auths, ["pod-identity-token-1", "pod-identity-token-2"]);
    // Plain http elsewhere than loopback or the agents is refused before any request.
    let bad = DefaultChain::with_env(
        env(&[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://example.com/c".into(),
        )]),
        None,
    );
    assert!(fetch(bad).unwrap_err().to_string().contains("plain http"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn web_identity_token_file_and_role_through_sts() {
    let dir = temp_dir("aws-webid");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token"), "eyJ.web.identity\n").unwrap();
    let sts = Collector::start(|r, _| {
        let f = form(&r.body);
        let want = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::123456789012:role/irsa"),
            ("RoleSessionName", "pod-1"),
            ("WebIdentityToken", "eyJ.web.identity"),
        ];
        let ok = r.method == "POST"
            && r.header("authorization").is_none()
            && want
                .iter()
                .all(|(k, v)| f.get(*k).map(String::as_str) == Some(*v));
        if ok {
            Reply::Status(200, vec![], sts_xml("AssumeRoleWithWebIdentity", "ASIAWEBID"))
        } else {
            Reply::Status(
                400,
                vec![],
                "<ErrorResponse><Error><Code>Bad</Code><Message>params</Message></Error></ErrorResponse>"
                    .into(),
            )
        }
    });
    let chain = DefaultChain::with_env(
        env(&[
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                dir.join("token").display().to_string(),
            ),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa".into()),
            ("AWS_ROLE_SESSION_NAME", "pod-1".into()),
            ("AWS_ENDPOINT_URL_STS", sts.url()),
        ]),
        None,
    );
    let c = fetch(chain).unwrap();
    assert_eq!(
        (
            c.access_key_id.as_str(),
            c.session_token.as_ref().map(|t| t.expose())
        ),
        ("ASIAWEBID", Some("token-ASIAWEBID"))
    );
    assert!(c.expires_at.is_some());
    assert_eq!(sts.requests().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn profile_role_with_source_profile_signs_assume_role_with_the_source_keys() {
    let home = temp_dir("aws-role");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        "[base]\naws_access_key_id = AKBASE\naws_secret_access_key = SKBASE\n",
    )
    .unwrap();
    std::fs::write(
        home.join(".aws/config"),
        "[profile app]\nrole_arn = arn:aws:iam::123456789012:role/app\nsource_profile = base\nregion = eu-west-1\nexternal_id = ext-7\n",
    )
    .unwrap();
    let sts = Collector::start(|r, _| {
        let f = form(&r.body);
        let auth = r.header("authorization").unwrap_or_default();
        let ok = auth.starts_with("AWS4-HMAC-SHA256 Credential=AKBASE/")
            && auth.contains("/eu-west-1/sts/aws4_request")
            && r.header("x-amz-date").is_some()
            && f.get("Action").map(String::as_str) == Some("AssumeRole")
            && f.get("RoleArn").map(String::as_str) == Some("arn:aws:iam::123456789012:role/app")
            && f.get("ExternalId").map(String::as_str) == Some("ext-7");
        if ok {
            Reply::Status(200, vec![], sts_xml("AssumeRole", "ASIAROLE"))
        } else {
            Reply::Status(403, vec![], "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error></ErrorResponse>".into())
        }
    });
    let chain = DefaultChain::with_env(
        env(&[("AWS_PROFILE", "app".into()), ("AWS_ENDPOINT_URL_STS", sts.url())]),
        Some(home.clone()),
    );
    assert_eq!(fetch(chain).unwrap().access_key_id, "ASIAROLE");
    // A role whose source is itself a role that loops is a config error, not a hang.
    std::fs::write(
        home.join(".aws/config"),
        "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n",
    )
    .unwrap();
    let looped = DefaultChain::with_env(env(&[("AWS_PROFILE", "a".into())]), Some(home.clone()));
    assert!(fetch(looped).unwrap_err().to_string().contains("a loop?"));
    std::fs::remove_dir_all(&home).unwrap();
}

#[cfg(unix)]
#[test]
fn credential_process_runs_through_the_shell() {
    use std::os::unix::fs::PermissionsExt;
    let home = temp_dir("aws-process");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    let script = home.join("creds.sh");
    let exp = rfc3339(SystemTime::now() + Duration::from_secs(3600));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"AKPROC'\"$1\"'\", \"SecretAccessKey\": \"sk\", \"SessionToken\": \"st\", \"Expiration\": \"{exp}\"}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        format!("[default]\ncredential_process = {} 42\n[profile broken]\ncredential_process = sh -c 'echo nope >&2; exit 3'\n", script.display()),
    )
    .unwrap();
    let chain = DefaultChain::with_env(env(&[]), Some(home.clone()));
    let c = fetch(chain).unwrap();
    assert_eq!(
        (c.access_key_id.as_str(), c.expires_at.is_some()),
        ("AKPROC42", true)
    );
    let broken = DefaultChain::with_env(env(&[("AWS_PROFILE", "broken".into())]), Some(home.clone()));
    let err = fetch(broken).unwrap_err().to_string();
    assert!(err.contains("exit status: 3") && err.contains("nope"), "{err}");
    std::fs::remove_dir_all(&home).unwrap();
}

/// Numbered credentials, counting fetches.
#[derive(Debug, Default)]
struct Counting(AtomicUsize);

impl CredentialsProvider for Counting {
    fn fetch(&self, _: &Cancel) -> trackflow::Result<Credentials> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Credentials::new(
            format!("AKROT{n}"),
            "sk",
            Some(format!("st{n}")),
        ))
    }
}

#[test]
fn an_expired_token_refreshes_the_credentials_and_retries_once() {
    let pz = Collector::start(|_, n| {
        if n == 0 {
            Reply::Status(
                403,
                vec![(
                    "x-amzn-ErrorType",
                    "ExpiredTokenException:http://internal.amazon.com/".into(),
                )],
                r#"{"message":"The security token included in the request is expired"}"#.into(),
            )
        } else {
            Reply::ok()
        }
    });
    let counting = Arc::new(Counting::default());
    let t = personalize(&pz, counting.clone());
    t.track(
        &Identity::user("u1").with_session("s1"),
        "view",
        Properties::new(),
    )
    .unwrap();
    assert_eq!(key_ids(&pz), ["AKROT1", "AKROT2"]);
    assert_eq!(counting.0.load(Ordering::SeqCst), 2);
    let s = t.stats();
    assert_eq!((s.delivered, s.failed), (1, 0));
    // Still expired after the refresh: one retry only, then the error.
    let always = Collector::start(|_, _| {
        Reply::Status(
            403,
            vec![("x-amzn-ErrorType", "ExpiredTokenException".into())],
            "{}".into(),
        )
    });
    let t = personalize(&always, Counting::default());
    let err = t
        .track(
            &Identity::user("u1").with_session("s1"),
            "view",
            Properties::new(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("ExpiredTokenException"), "{err}");
    assert_eq!(always.requests().len(), 2);
}

/// Instance metadata that refuses (403) for its first 10 s, as while an instance profile is
/// being attached, then serves: the events wait in the store (credentials unavailable is
/// transient), nothing is a dead letter, and every event is delivered once it serves.
#[test]
fn a_metadata_service_refusing_for_ten_seconds_costs_no_event() {
    let started = std::time::Instant::now();
    let refusals = Arc::new(AtomicUsize::new(0));
    let r2 = refusals.clone();
    let md = Collector::start(move |r, _| match (r.method.as_str(), r.path.as_str()) {
        _ if started.elapsed() < Duration::from_secs(10) => {
            r2.fetch_add(1, Ordering::SeqCst);
            Reply::status(403)
        }
        ("PUT", "/latest/api/token") => Reply::Status(200, vec![], "imds-session-1".into()),
        ("GET", "/latest/meta-data/iam/security-credentials/") => {
            Reply::Status(200, vec![], "app-role\n".into())
        }
        ("GET", "/latest/meta-data/iam/security-credentials/app-role") => Reply::Status(
            200,
            vec![],
            json_credentials("AKIMDS1", SystemTime::now() + Duration::from_secs(3600)),
        ),
        _ => Reply::status(404),
    });
    let pz = Collector::start(|_, _| Reply::Status(200, vec![], "{}".into()));
    let chain = DefaultChain::with_env(env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", md.url())]), None);
    let backend = Personalize::builder()
        .endpoint(pz.url())
        .region("us-east-1")
        .credentials_provider(chain)
        .tracking_id("tracking-1")
        .transport(support::fast_transport())
        .build()
        .unwrap();
    let dir = temp_dir("imds-403");
    let failed = Arc::new(AtomicUsize::new(0));
    let f = failed.clone();
    let consumer = trackflow::BackgroundConsumer::builder(backend)
        .redelivery(Duration::from_millis(200), Duration::from_secs(2))
        .spool(trackflow::spool::Spool::open(&dir).unwrap())
        .on_error(move |_, events| {
            f.fetch_add(events.len(), Ordering::SeqCst);
        })
        .build();
    let t = Tracker::builder().consumer(consumer).build().unwrap();
    for i in 0..200 {
        t.track(
            &Identity::user(format!("u{}", i % 20)).with_session("s1"),
            "view",
            Properties::new(),
        )
        .unwrap();
    }
    let report = t.shutdown(Duration::from_secs(40)).unwrap();
    let s = report.stats;
    assert!(report.completed, "{report:?}");
    assert_eq!((s.delivered, s.failed, report.left), (200, 0, 0), "{report:?}");
    assert_eq!(failed.load(Ordering::SeqCst), 0, "nothing reported failed");
    let spool = trackflow::spool::Spool::open(&dir).unwrap();
    assert!(spool.dead_files().unwrap().is_empty(), "no dead letter");
    // Backed off between attempts (1 s doubling), not asked per request: 200 events over 20
    // users are 20 requests per delivery, and a per-request fetch would have asked hundreds
    // of times in 10 s.
    let asked = refusals.load(Ordering::SeqCst);
    assert!(
        (2..=8).contains(&asked),
        "the metadata service was asked {asked} times while refusing"
    );
    assert!(started.elapsed() >= Duration::from_secs(10));
    let events: usize = pz
        .requests()
        .iter()
        .map(|r| r.json()["eventList"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(events, 200, "every event reached Personalize once");
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Credentials that live 4 minutes (shorter than the 5-minute refresh margin): 1,000 signed
/// requests fetch them once, not per signing, and reuse one metadata session token.
#[test]
fn short_lived_credentials_are_not_fetched_per_request() {
    let (puts, gets) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (p2, g2) = (puts.clone(), gets.clone());
    let md = Collector::start(move |r, _| match (r.method.as_str(), r.path.as_str()) {
        ("PUT", "/latest/api/token") => {
            p2.fetch_add(1, Ordering::SeqCst);
            Reply::Status(200, vec![], "imds-session-short".into())
        }
        ("GET", _) if r.header("x-aws-ec2-metadata-token") != Some("imds-session-short") => {
            Reply::status(401)
        }
        ("GET", "/latest/meta-data/iam/security-credentials/") => {
            Reply::Status(200, vec![], "app-role\n".into())
        }
        ("GET", "/latest/meta-data/iam/security-credentials/app-role") => {
            g2.fetch_add(1, Ordering::SeqCst);
            Reply::Status(
                200,
                vec![],
                json_credentials("AKSHORT", SystemTime::now() + Duration::from_secs(240)),
            )
        }
        _ => Reply::status(404),
    });
    let pz = Collector::start(|_, _| Reply::Status(200, vec![], "{}".into()));
    let chain = DefaultChain::with_env(env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", md.url())]), None);
    let t = personalize(&pz, chain);
    for i in 0..1_000 {
        t.track(
            &Identity::user(format!("u{i}")).with_session("s1"),
            "view",
            Properties::new(),
        )
        .unwrap();
    }
    assert_eq!(pz.requests().len(), 1_000);
    assert!(key_ids(&pz).iter().all(|k| k == "AKSHORT"));
    let (puts, gets) = (puts.load(Ordering::SeqCst), gets.load(Ordering::SeqCst));
    assert!(
        gets <= 2,
        "credentials fetched {gets} times for one 4-minute lifetime"
    );
    assert_eq!(puts, 1, "the session token is reused");
}
