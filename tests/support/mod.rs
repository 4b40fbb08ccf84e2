//! A loopback HTTP/1.1 collector for integration tests: binds 127.0.0.1:0, records every
//! request, answers as the test's script says, and decodes bodies for assertions.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the support code"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

pub mod gio;
#[cfg(feature = "kafka")]
pub mod kafka;

/// One request as it crossed the wire.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header as `(name, value)`, in the order sent.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The body decoded as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is not UTF-8")
    }
}

/// What to answer to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A status, extra headers and a body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// Close the connection without answering (the client sees a reset / EOF).
    Close,
    /// Wait, then answer.
    Stall(Duration, u16),
    /// Wait until the hold is released, then answer 200.
    Hold(Hold),
}

/// A switch that holds requests until released: a collector that accepts and never answers,
/// then comes back.
#[derive(Debug, Clone, Default)]
pub struct Hold(Arc<(Mutex<bool>, Condvar)>);

impl Hold {
    pub fn release(&self) {
        *self.0 .0.lock() = true;
        self.0 .1.notify_all();
    }

    pub fn is_released(&self) -> bool {
        *self.0 .0.lock()
    }

    fn wait(&self) {
        let mut g = self.0 .0.lock();
        while !*g {
            self.0 .1.wait(&mut g);
        }
    }
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Status(200, vec![], String::new())
    }
    pub fn status(code: u16) -> Reply {
        Reply::Status(code, vec![], String::new())
    }
}

type Script = dyn Fn(&Captured, usize) -> Reply + Send + Sync;

struct State {
    requests: Mutex<Vec<Captured>>,
    arrived: Condvar,
    count: AtomicUsize,
    stop: AtomicBool,
    script: Box<Script>,
}

/// The collector; stops accepting when dropped.
pub struct Collector {
    addr: std::net::SocketAddr,
    state: Arc<State>,
}

impl Collector {
    /// Answers 200 to everything.
    pub fn ok() -> Collector {
        Collector::start(|_, _| Reply::ok())
    }

    /// Answers each request (with its 0-based arrival number) as `script` says.
    pub fn start(script: impl Fn(&Captured, usize) -> Reply + Send + Sync + 'static) -> Collector {
        Collector::start_on(0, script)
    }

    /// As [`start`](Self::start), on a fixed port: the golden captures of signed requests
    /// (SigV4 signs `host:port`) were taken on fixed ports.
    pub fn start_on(
        port: u16,
        script: impl Fn(&Captured, usize) -> Reply + Send + Sync + 'static,
    ) -> Collector {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:{port} (is another test run using it?): {e}"));
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            count: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            script: Box::new(script),
        });
        let st = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::Acquire) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                thread::spawn(move || serve(conn, st));
            }
        });
        Collector { addr, state }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests arrived so far (cheap: no copy of what they carried).
    pub fn count(&self) -> usize {
        self.state.requests.lock().len()
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.state.requests.lock().clone()
    }

    /// Waits until at least `n` requests arrived; returns whether they did in time.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut reqs = self.state.requests.lock();
        while reqs.len() < n {
            if self.state.arrived.wait_until(&mut reqs, deadline).timed_out() {
                return reqs.len() >= n;
            }
        }
        true
    }

    /// All JSON array elements of all requests, in arrival order.
    pub fn json_events(&self) -> Vec<serde_json::Value> {
        self.requests()
            .iter()
            .flat_map(|r| r.json().as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(conn: TcpStream, st: Arc<State>) {
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut out = conn;
    loop {
        let Some(req) = read_request(&mut reader) else {
            return;
        };
        let n = st.count.fetch_add(1, Ordering::AcqRel);
        // Recorded before the script runs, so a test can see a request the script holds.
        {
            let mut reqs = st.requests.lock();
            reqs.push(req.clone());
            st.arrived.notify_all();
        }
        let reply = (st.script)(&req, n);
        let (code, headers, body) = match reply {
            Reply::Close => return,
            Reply::Stall(d, code) => {
                thread::sleep(d);
                (code, vec![], String::new())
            }
            Reply::Hold(h) => {
                h.wait();
                (200, vec![], String::new())
            }
            Reply::Status(code, headers, body) => (code, headers, body),
        };
        let mut head = format!("HTTP/1.1 {code} X\r\ncontent-length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        // One write: a reply in two would wait on Nagle's algorithm and the client's delayed
        // ACK (40 ms a request on loopback).
        head.push_str(&body);
        if out.write_all(head.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Captured> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body
    } else {
        let len: usize = find("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        r.read_exact(&mut body).ok()?;
        body
    };
    Some(Captured {
        method,
        path,
        query,
        headers,
        body,
        at: Instant::now(),
    })
}

/// The golden captures: `tests/golden` (a copy of `../shared/golden`, vendored so that a clone
/// on its own runs every test; `.ci/run` checks the copy against the original where both are
/// present), or `TRACKFLOW_GOLDEN_DIR`.
pub fn golden_dir() -> PathBuf {
    let dir = std::env::var_os("TRACKFLOW_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden"));
    assert!(
        dir.is_dir(),
        "golden captures not found at {} (set TRACKFLOW_GOLDEN_DIR)",
        dir.display()
    );
    dir
}

/// One golden request file.
pub fn golden(backend: &str, case: &str) -> serde_json::Value {
    let path = golden_dir().join(backend).join(format!("{case}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The headers of a golden request (`golden(..)["request"]`), in capture order.
pub fn golden_headers(request: &serde_json::Value) -> impl Iterator<Item = (&str, &str)> {
    request["headers"]
        .as_array()
        .expect("a golden request has a headers array")
        .iter()
        .map(|h| (h[0].as_str().unwrap(), h[1].as_str().unwrap()))
}

/// One header of a golden request, by name in any case.
pub fn golden_header(request: &serde_json::Value, name: &str) -> Option<String> {
    golden_headers(request)
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_owned())
}

/// Retries fast, so failure tests take milliseconds.
pub fn fast_transport() -> trackflow::transport::HttpTransport {
    trackflow::transport::HttpTransport::builder()
        .retry(
            trackflow::transport::RetryPolicy::default()
                .max_retries(3)
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(50))
                .max_retry_after(Duration::from_secs(5)),
        )
        .build()
}

/// Never retries, so a test against an unreachable host fails at once.
pub fn no_retry_transport() -> trackflow::transport::HttpTransport {
    trackflow::transport::HttpTransport::builder()
        .retry(trackflow::transport::RetryPolicy::none())
        .build()
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Gunzips a body.
pub fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("not gzip");
    out
}

/// Headers that belong to the HTTP library, not to any protocol.
pub const NOISE_HEADERS: [&str; 7] = [
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "content-length",
    "transfer-encoding",
];

/// The protocol headers of a request (names lowercased, the HTTP library's own left out), as a
/// set: header order is not part of any protocol.
pub fn protocol_headers<'a>(
    h: impl Iterator<Item = (&'a str, &'a str)>,
) -> std::collections::BTreeSet<(String, String)> {
    h.filter(|(k, _)| !NOISE_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect()
}

/// A fresh directory under the system temp dir, unique per call.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "tf-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Insert ids of every event a spool holds: pending and dead files and the disk queue.
/// The disk queue is locked while its consumer lives: drop the consumer first.
pub fn spooled_ids(dir: &std::path::Path) -> Vec<String> {
    let spool = trackflow::spool::Spool::open(dir).unwrap();
    // A shutdown that gave up at its deadline leaves the worker to finish its batch; it lets
    // go of the disk queue when it does.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while let Err(trackflow::Error::Io(e)) = spool.queued_events() {
        assert!(
            e.kind() == std::io::ErrorKind::WouldBlock && std::time::Instant::now() < until,
            "{e}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut ids = Vec::new();
    for f in spool
        .pending_files()
        .unwrap()
        .into_iter()
        .chain(spool.dead_files().unwrap())
    {
        for e in trackflow::spool::read_events(&f).unwrap() {
            ids.push(e.insert_id.to_string());
        }
    }
    for e in spool.queued_events().unwrap() {
        ids.push(e.insert_id.to_string());
    }
    ids
}

/// A small seeded generator for test schedules (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Starts `trackflow collect --port 0 <args>` with `env` added and its printout going to
/// `stdout` (piped: read it, or a long run fills the pipe and stalls the collector); returns
/// the child and the `http://…` address it prints on stderr.
#[cfg(feature = "cli")]
pub fn trackflow_collect(
    args: &[&str],
    env: &[(&str, &str)],
    stdout: std::process::Stdio,
) -> (std::process::Child, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_trackflow"))
        .args(["collect", "--port", "0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the collector prints its address")
        .to_owned();
    (child, url)
}

/// The CA's PEM, and a server certificate for 127.0.0.1 it signed, with its key.
pub fn private_ca() -> (
    String,
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Names of their own: OpenSSL (librdkafka's TLS) takes a certificate whose subject is its
    // issuer's for a self-signed one.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "trackflow test CA");
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    server_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let server = server_params.signed_by(&server_key, &issuer).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    (ca_pem, server.der().clone(), key)
}

/// A TLS server's settings for `cert` and its key.
pub fn tls_server_config(
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    )
}

/// Another thread writing and fsyncing a file in a loop, until dropped.
pub struct BusyDisk {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl BusyDisk {
    pub fn start(dir: &std::path::Path) -> BusyDisk {
        let stop = Arc::new(AtomicBool::new(false));
        let path = dir.join("busy.bin");
        let s = stop.clone();
        let thread = thread::spawn(move || {
            let mut f = std::fs::File::create(&path).unwrap();
            let block = vec![7u8; 256 << 10];
            // 4 MiB written over and over, each block forced to the disk.
            for n in 0u64.. {
                if s.load(Ordering::Acquire) {
                    break;
                }
                if n % 16 == 0 {
                    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0)).unwrap();
                }
                f.write_all(&block).unwrap();
                f.sync_data().unwrap();
            }
            drop(f);
            let _ = std::fs::remove_file(&path);
        });
        BusyDisk {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for BusyDisk {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every file under `dir` with its size and modification time.
pub fn listing(dir: &std::path::Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(listing(&p));
        } else if let Ok(m) = e.metadata() {
            out.push((p, m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}
