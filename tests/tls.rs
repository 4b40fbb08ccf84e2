//! A collector behind a certificate from a private CA (made here with rcgen): reachable with
//! `ca_file`, refused without it, verification on throughout.
#![cfg(all(feature = "growingio", feature = "toml"))]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::private_ca;
use trackflow::transport::{HttpTransport, RetryPolicy};
use trackflow::{Config, GrowingIo, Identity, ImmediateConsumer, Properties, Tracker};

/// An HTTPS server on 127.0.0.1 answering 200 to each whole request; counts them.
fn https_server(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> (String, Arc<AtomicUsize>) {
    https_server_with(cert, key, "")
}

/// As [`https_server`], answering with `body` (JSON).
fn https_server_with(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    body: &'static str,
) -> (String, Arc<AtomicUsize>) {
    let config = support::tls_server_config(cert, key);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then the body its Content-Length announces.
            let whole = loop {
                match tls.read(&mut chunk) {
                    Ok(0) | Err(_) => break false,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break true;
                    }
                }
            };
            if whole {
                count.fetch_add(1, Ordering::SeqCst);
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes());
                let _ = tls.flush();
            }
        }
    });
    (url, served)
}

fn track_through(transport: HttpTransport, url: &str) -> trackflow::Result<()> {
    let gio = GrowingIo::builder(url, "p", "d").transport(transport).build()?;
    let t = Tracker::builder().consumer(ImmediateConsumer::new(gio)).build()?;
    t.track(&Identity::user("u1"), "e", Properties::new())
}

#[test]
fn a_private_ca_is_trusted_with_ca_file_and_refused_without() {
    let (ca_pem, cert, key) = private_ca();
    let (url, served) = https_server(cert, key);
    let dir = support::temp_dir("tls-ca");
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();

    // The built-in roots do not know the private CA: refused, nothing delivered.
    let plain = HttpTransport::builder().retry(RetryPolicy::none()).build();
    let err = track_through(plain, &url).unwrap_err();
    assert!(matches!(err, trackflow::Error::Transport(_)), "{err}");
    assert_eq!(served.load(Ordering::SeqCst), 0);

    // With the CA's bundle: delivered.
    let trusted = HttpTransport::builder()
        .retry(RetryPolicy::none())
        .ca_file(&ca_file)
        .unwrap()
        .build();
    track_through(trusted, &url).unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 1);

    // The same through the config's `ca_file`.
    let cfg = Config::from_toml_str(&format!(
        "[consumer]\nkind = \"immediate\"\n[transport]\nmax_retries = 0\nca_file = {:?}\n[backend]\nkind = \"growingio\"\nhost = \"{url}\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n",
        ca_file.display().to_string()
    ))
    .unwrap();
    let t = Tracker::from_config(&cfg).unwrap();
    t.track(&Identity::user("u1"), "e", Properties::new()).unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 2);

    // A bundle of another CA is no help.
    let (other_pem, _, _) = private_ca();
    let wrong = HttpTransport::builder()
        .retry(RetryPolicy::none())
        .ca_certs_pem(other_pem.as_bytes())
        .unwrap()
        .build();
    assert!(track_through(wrong, &url).is_err());
    assert_eq!(served.load(Ordering::SeqCst), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A private CA for the token endpoint only (the events go to a plain loopback collector):
/// with the backend's `ca_file`, its tokens are fetched through the same settings; without,
/// the token endpoint's certificate is refused and nothing is sent.
#[cfg(feature = "talent")]
#[test]
fn the_token_endpoint_is_reached_with_the_backends_ca_file() {
    use trackflow::auth::google::{MetadataServer, Tokens};
    use trackflow::{EventOptions, Interaction, InteractionItem, Talent};
    let (ca_pem, cert, key) = private_ca();
    let (md, fetched) = https_server_with(
        cert,
        key,
        r#"{"access_token":"ya29.private-ca","expires_in":3600}"#,
    );
    let collector = support::Collector::start(|_, _| support::Reply::Status(200, vec![], "{}".into()));
    let dir = support::temp_dir("tls-token");
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let send = |transport: HttpTransport| {
        let talent = Talent::builder("projects/p/tenants/t")
            .endpoint(collector.url())
            .tokens(Tokens::new(MetadataServer::new(&md)))
            .transport(transport)
            .build()
            .unwrap();
        let t = Tracker::builder()
            .consumer(ImmediateConsumer::new(talent))
            .build()
            .unwrap();
        let jobs = Interaction::new().items([InteractionItem::new("projects/p/tenants/t/jobs/1")]);
        t.with(EventOptions::new().interaction(jobs))
            .track(&Identity::user("u1"), "VIEW", Properties::new())
    };
    let err = send(HttpTransport::builder().retry(RetryPolicy::none()).build()).unwrap_err();
    assert!(matches!(err, trackflow::Error::Credentials(_)), "{err}");
    assert_eq!(
        (fetched.load(Ordering::SeqCst), collector.requests().len()),
        (0, 0)
    );
    let trusted = HttpTransport::builder()
        .retry(RetryPolicy::none())
        .ca_file(&ca_file)
        .unwrap()
        .build();
    send(trusted).unwrap();
    assert_eq!(fetched.load(Ordering::SeqCst), 1);
    let sent = collector.requests();
    assert_eq!(sent[0].header("authorization"), Some("Bearer ya29.private-ca"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same for AWS: a container credentials endpoint behind a private CA is reached with the
/// Personalize backend's `ca_file`, and refused without it (nothing is sent).
#[cfg(feature = "personalize")]
#[test]
fn aws_credential_calls_go_through_the_backends_ca_file() {
    use trackflow::auth::aws::DefaultChain;
    use trackflow::Personalize;
    let (ca_pem, cert, key) = private_ca();
    let (endpoint, fetched) = https_server_with(
        cert,
        key,
        r#"{"AccessKeyId":"AKPRIVATECA","SecretAccessKey":"sk","Token":"tk","Expiration":"2099-01-01T00:00:00Z"}"#,
    );
    let collector = support::Collector::start(|_, _| support::Reply::Status(200, vec![], "{}".into()));
    let dir = support::temp_dir("tls-aws");
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let full_uri = format!("{endpoint}/creds");
    let send = |transport: HttpTransport| {
        let uri = full_uri.clone();
        let env = move |k: &str| (k == "AWS_CONTAINER_CREDENTIALS_FULL_URI").then(|| uri.clone());
        let pz = Personalize::builder()
            .endpoint(collector.url())
            .region("us-east-1")
            .credentials_provider(DefaultChain::with_env(env, None))
            .tracking_id("tracking-1")
            .transport(transport)
            .build()
            .unwrap();
        let t = Tracker::builder()
            .consumer(ImmediateConsumer::new(pz))
            .build()
            .unwrap();
        t.track(
            &Identity::user("u1").with_session("s1"),
            "view",
            Properties::new(),
        )
    };
    let err = send(HttpTransport::builder().retry(RetryPolicy::none()).build()).unwrap_err();
    assert!(matches!(err, trackflow::Error::Credentials(_)), "{err}");
    assert_eq!(
        (fetched.load(Ordering::SeqCst), collector.requests().len()),
        (0, 0)
    );
    let trusted = HttpTransport::builder()
        .retry(RetryPolicy::none())
        .ca_file(&ca_file)
        .unwrap()
        .build();
    send(trusted).unwrap();
    assert_eq!(fetched.load(Ordering::SeqCst), 1);
    let auth = collector.requests()[0]
        .header("authorization")
        .unwrap()
        .to_owned();
    assert!(auth.contains("Credential=AKPRIVATECA/"), "{auth}");
    std::fs::remove_dir_all(&dir).unwrap();
}
