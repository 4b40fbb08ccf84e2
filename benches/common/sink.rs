//! An HTTP sink in a process of its own (the bench binary run again): it answers each request
//! after a fixed delay, counts bytes, events (as each protocol marks them), requests and
//! throttled requests, and reports them at `GET /stats`. `POST /quota/N` makes it answer 429
//! at once to requests above N per second (a token bucket holding a tenth of a second's
//! worth); `/quota/0` lifts it. Out of process, it takes no CPU time from the measured process's threads
//! but what the kernel's scheduler gives it, as a real collector's host would not.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const ENV: &str = "TF_BENCH_SINK_DELAY_MS";

/// The sink as a child process, and its URL.
pub struct Sink {
    child: Child,
    pub url: String,
}

impl Sink {
    /// The sink's process id (a benchmark reads its CPU time).
    #[allow(dead_code, reason = "one bench reads it")]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts this binary again as a sink answering after `delay`.
    pub fn start(delay: Duration) -> Sink {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ENV, delay.as_millis().to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        Sink {
            child,
            url: line.trim().to_owned(),
        }
    }

    /// Events and bytes received so far.
    pub fn stats(&self) -> (u64, u64) {
        let c = self.counts();
        (c.events, c.bytes)
    }

    /// Everything counted so far.
    pub fn counts(&self) -> Counts {
        let reply = self.ask("GET /stats");
        let mut it = reply.split_whitespace();
        let mut num = || it.next().unwrap().parse().unwrap();
        Counts {
            events: num(),
            bytes: num(),
            requests: num(),
            throttled: num(),
        }
    }

    /// Answers 429 to requests above `per_second` (0: no quota).
    pub fn quota(&self, per_second: u64) {
        self.ask(&format!("POST /quota/{per_second}"));
    }

    fn ask(&self, line: &str) -> String {
        let mut s = TcpStream::connect(self.url.trim_start_matches("http://")).unwrap();
        s.write_all(format!("{line} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n").as_bytes())
            .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        reply.rsplit("\r\n\r\n").next().unwrap().to_owned()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the sink counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub events: u64,
    pub bytes: u64,
    pub requests: u64,
    pub throttled: u64,
}

/// What every connection shares: the counts (events, bytes, requests, throttled) and the quota.
#[derive(Default)]
struct State {
    counts: [AtomicU64; 4],
    // Requests per second allowed (0: any), and its bucket: (tokens, last refill).
    quota: AtomicU64,
    bucket: Mutex<(f64, Option<Instant>)>,
}

impl State {
    /// Whether a request may go through the quota now.
    fn admit(&self) -> bool {
        let rate = self.quota.load(Ordering::Acquire) as f64;
        if rate == 0.0 {
            return true;
        }
        let mut b = self.bucket.lock().unwrap();
        let now = Instant::now();
        let elapsed = b.1.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
        b.0 = (b.0 + elapsed * rate).min(rate / 10.0);
        b.1 = Some(now);
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// In the child: serves for ever and returns `true`; in the parent: returns `false` at once.
pub fn serve_if_child() -> bool {
    let Ok(ms) = std::env::var(ENV) else {
        return false;
    };
    let delay = Duration::from_millis(ms.parse().unwrap_or(0));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("http://{}", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    let state = Arc::new(State::default());
    for conn in listener.incoming().flatten() {
        let state = state.clone();
        thread::spawn(move || serve(conn, delay, &state));
    }
    true
}

fn serve(conn: TcpStream, delay: Duration, state: &State) {
    let _ = conn.set_nodelay(true);
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::with_capacity(1 << 16, conn);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let Some(len) = content_length(&mut r, &mut line) else {
            return;
        };
        body.resize(len, 0);
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let (status, reply) = answer(&path, &body, delay, state);
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        // The stats' asker reads to the end: close after it.
        let control = path == "/stats" || path.starts_with("/quota/");
        if out.write_all(format!("{head}{reply}").as_bytes()).is_err() || control {
            return;
        }
    }
}

/// The status line's tail and the body for one request.
fn answer(path: &str, body: &[u8], delay: Duration, state: &State) -> (&'static str, String) {
    let counts = &state.counts;
    if path == "/stats" {
        let c: Vec<String> = counts
            .iter()
            .map(|c| c.load(Ordering::Acquire).to_string())
            .collect();
        return ("200 OK", c.join(" "));
    }
    if let Some(n) = path.strip_prefix("/quota/") {
        state.quota.store(n.parse().unwrap_or(0), Ordering::Release);
        *state.bucket.lock().unwrap() = (0.0, None);
        return ("200 OK", "{}".to_owned());
    }
    counts[2].fetch_add(1, Ordering::AcqRel);
    if !state.admit() {
        counts[3].fetch_add(1, Ordering::AcqRel);
        let busy = r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#;
        return ("429 Too Many Requests", busy.to_owned());
    }
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    counts[0].fetch_add(events_in(path, body), Ordering::AcqRel);
    counts[1].fetch_add(body.len() as u64, Ordering::AcqRel);
    if path.starts_with("/collect/") {
        (
            "200 OK",
            r#"{"code":0,"msg":"ok","data":null,"extra":{}}"#.to_owned(),
        )
    } else {
        ("200 OK", "{}".to_owned())
    }
}

/// Reads the headers; the body's length.
fn content_length(r: &mut impl BufRead, line: &mut String) -> Option<usize> {
    let mut len = 0;
    loop {
        line.clear();
        if r.read_line(line).unwrap_or(0) == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            return Some(len);
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
}

/// Events in one request, by the mark each protocol puts on every event.
fn events_in(path: &str, body: &[u8]) -> u64 {
    let text = std::str::from_utf8(body).unwrap_or("");
    let mark = if path.contains("/v3/projects/") {
        r#"{"eventType":"#
    } else if path.starts_with("/collect/") {
        r#""time_free""#
    } else if path.ends_with("/events") {
        r#""eventType""#
    } else {
        // Retail writes one user event per request.
        return 1;
    };
    text.matches(mark).count() as u64
}
