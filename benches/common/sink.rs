//! An HTTP sink in a process of its own (the bench binary run again): it answers each request
//! after a fixed delay, counts bytes and events as each protocol marks them, and reports both
//! at `GET /stats`. Out of process, it takes no CPU time from the measured process's threads
//! but what the kernel's scheduler gives it, as a real collector's host would not.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const ENV: &str = "TF_BENCH_SINK_DELAY_MS";

/// The sink as a child process, and its URL.
pub struct Sink {
    child: Child,
    pub url: String,
}

impl Sink {
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
        let mut s = TcpStream::connect(self.url.trim_start_matches("http://")).unwrap();
        s.write_all(b"GET /stats HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        let mut it = reply.rsplit("\r\n\r\n").next().unwrap().split_whitespace();
        let mut num = || it.next().unwrap().parse().unwrap();
        (num(), num())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    for conn in listener.incoming().flatten() {
        let counts = counts.clone();
        thread::spawn(move || serve(conn, delay, &counts));
    }
    true
}

fn serve(conn: TcpStream, delay: Duration, counts: &[AtomicU64; 2]) {
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
        let reply = if path == "/stats" {
            format!(
                "{} {}",
                counts[0].load(Ordering::Acquire),
                counts[1].load(Ordering::Acquire)
            )
        } else {
            if !delay.is_zero() {
                thread::sleep(delay);
            }
            counts[0].fetch_add(events_in(&path, &body), Ordering::AcqRel);
            counts[1].fetch_add(len as u64, Ordering::AcqRel);
            if path.starts_with("/collect/") {
                r#"{"code":0,"msg":"ok","data":null,"extra":{}}"#.to_owned()
            } else {
                "{}".to_owned()
            }
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        // The stats' asker reads to the end: close after it.
        if out.write_all(format!("{head}{reply}").as_bytes()).is_err() || path == "/stats" {
            return;
        }
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
