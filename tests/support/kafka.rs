//! A real Kafka-protocol broker for the tests: tansu (Apache-2.0, a Kafka-compatible broker
//! in Rust), found or installed, started on a free 127.0.0.1 port and killed by PID on
//! drop; a TCP forwarder in front of it that can go dark; and a consumer (rdkafka's) that
//! reads a topic back.
//!
//! The binary is looked for in `TRACKFLOW_TANSU`, then `PATH`, then the CI cache
//! (`$TRACKFLOW_CI_CACHE` or `~/.cache/trackflow-ci`, under `tansu/bin`), then `~/.cargo/bin`.
//! Where there is none, it is installed into the CI cache with `cargo install` (minutes,
//! once); a test never skips for want of a broker.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// The tansu release the tests were written against.
const TANSU_VERSION: &str = "0.6.0";

/// A broker process, killed when dropped.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:port` it listens on.
    pub addr: String,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// The broker's process id (a benchmark reads its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A broker on a free port, advertising itself.
    pub fn start() -> Broker {
        let port = free_port();
        Broker::start_advertising(port, port)
    }

    /// A broker on `port` that tells clients to connect to `advertised` (a forwarder's).
    pub fn start_advertising(port: u16, advertised: u16) -> Broker {
        let child = Command::new(tansu())
            .arg("broker")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{advertised}"))
            .arg("--storage-engine")
            .arg("memory://tansu/")
            .stdout(log())
            .stderr(log())
            .spawn()
            .expect("start tansu");
        let addr = format!("127.0.0.1:{port}");
        let up = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < up, "tansu did not listen on {addr} within 20 s");
            thread::sleep(Duration::from_millis(20));
        }
        Broker { child, addr }
    }

    /// Creates `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let status = Command::new(tansu())
            .args(["topic", "create", topic, "--partitions", &partitions.to_string()])
            .arg("--broker")
            .arg(format!("tcp://{}", self.addr))
            .stdout(Stdio::null())
            .status()
            .expect("run tansu topic create");
        assert!(status.success(), "tansu topic create {topic}: {status}");
    }
}

/// Every message of `topic` (partitions `0..partitions`) as (partition, key, payload),
/// read from the beginning until `expected` arrived or nothing new came for `idle`, by a
/// consumer with `settings` besides the defaults (TLS).
pub fn read_back(
    settings: &[(&str, &str)],
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    idle: Duration,
) -> Vec<(i32, Option<String>, serde_json::Value)> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{topic}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let consumer: BaseConsumer = config.create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut last = Instant::now();
    while out.len() < expected && last.elapsed() < idle {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
                let payload = serde_json::from_slice(m.payload().unwrap_or_default()).expect("a JSON event");
                out.push((m.partition(), key, payload));
                last = Instant::now();
            }
            Some(Err(e)) => eprintln!("consumer: {e}"),
            None => {}
        }
    }
    out
}

/// A TCP forwarder on its own port in front of `target`, which can go dark: while dark its
/// port refuses connections and every connection it carried is shut.
pub struct Forwarder {
    pub port: u16,
    dark: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Forwarder {
    pub fn start(port: u16, target: String) -> Forwarder {
        let dark = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (d, c) = (dark.clone(), conns.clone());
        thread::spawn(move || forward(port, &target, &d, &c));
        let up = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < up, "forwarder did not listen");
            thread::sleep(Duration::from_millis(10));
        }
        Forwarder { port, dark, conns }
    }

    /// Cuts every connection and refuses new ones until [`light`](Self::light).
    pub fn go_dark(&self) {
        self.dark.store(true, Ordering::SeqCst);
        for s in self.conns.lock().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Accepts connections again.
    pub fn light(&self) {
        self.dark.store(false, Ordering::SeqCst);
    }
}

/// Accepts while light; while dark, the listener is closed (connections refused) and
/// reopened on the same port afterwards.
fn forward(port: u16, target: &str, dark: &AtomicBool, conns: &Mutex<Vec<TcpStream>>) {
    loop {
        let listener = match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => l,
            Err(_) => {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        listener.set_nonblocking(true).unwrap();
        while !dark.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((client, _)) => relay(client, target, conns),
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
        drop(listener);
        while dark.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn relay(client: TcpStream, target: &str, conns: &Mutex<Vec<TcpStream>>) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    let mut list = conns.lock();
    list.push(client.try_clone().unwrap());
    list.push(server.try_clone().unwrap());
    let pipe = |mut from: TcpStream, mut to: TcpStream| {
        thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Both);
        });
    };
    pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
    pipe(server, client);
}

/// TLS in front of a broker: terminates TLS with `cert` on `port` and relays the plain
/// bytes to `target`, so the broker can advertise a TLS address.
pub fn tls_front(
    port: u16,
    target: String,
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) {
    let config = super::tls_server_config(cert, key);
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let (config, target) = (config.clone(), target.clone());
            thread::spawn(move || tls_relay(client, &target, config));
        }
    });
}

/// Relays one TLS connection: one thread, both directions, short read timeouts (a
/// rustls stream cannot be split).
fn tls_relay(client: TcpStream, target: &str, config: Arc<rustls::ServerConfig>) {
    let Ok(mut server) = TcpStream::connect(target) else {
        return;
    };
    let wait = Some(Duration::from_millis(2));
    let _ = (client.set_read_timeout(wait), server.set_read_timeout(wait));
    let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), client);
    let mut buf = vec![0u8; 64 * 1024];
    let timed_out = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    loop {
        match tls.read(&mut buf) {
            Ok(0) => return,
            Ok(n) if server.write_all(&buf[..n]).is_err() => return,
            Ok(_) => {}
            Err(e) if timed_out(&e) => {}
            Err(_) => return,
        }
        match server.read(&mut buf) {
            Ok(0) => return,
            Ok(n) if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() => return,
            Ok(_) => {}
            Err(e) if timed_out(&e) => {}
            Err(_) => return,
        }
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The tansu binary: found, or installed once into the CI cache.
pub fn tansu() -> &'static Path {
    static TANSU: OnceLock<PathBuf> = OnceLock::new();
    TANSU.get_or_init(|| find_tansu().unwrap_or_else(install_tansu))
}

fn cache_root() -> PathBuf {
    std::env::var_os("TRACKFLOW_CI_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/trackflow-ci")
        })
}

fn find_tansu() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TRACKFLOW_TANSU") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("tansu"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    on_path
        .into_iter()
        .chain([
            cache_root().join("tansu/bin/tansu"),
            home.join(".cargo/bin/tansu"),
        ])
        .find(|p| p.is_file())
}

fn install_tansu() -> PathBuf {
    let root = cache_root().join("tansu");
    eprintln!(
        "tansu not found: installing tansu {TANSU_VERSION} into {} (minutes, once)",
        root.display()
    );
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "install",
            "tansu",
            "--version",
            TANSU_VERSION,
            "--features",
            "dynostore",
            "--locked",
            "--root",
        ])
        .arg(&root)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("run cargo install tansu");
    assert!(status.success(), "cargo install tansu failed: {status}");
    root.join("bin/tansu")
}

/// Where the broker's output goes: nowhere, or appended to the file `TRACKFLOW_TANSU_LOG`
/// names (with `RUST_LOG=info` its group coordinator says who joined, led and expired).
fn log() -> Stdio {
    std::env::var_os("TRACKFLOW_TANSU_LOG")
        .and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        })
        .map_or_else(Stdio::null, Stdio::from)
}
