//! `trackflow collect` under load and abuse: keep-alive requests answered without the
//! Nagle/delayed-ACK stall, and bodies, headers and decompressed sizes capped with a clear
//! refusal before anything large is allocated.
#![cfg(feature = "cli")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Collect(Child, String);

impl Drop for Collect {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn collect() -> Collect {
    let (child, url) = support::trackflow_collect(&["--json"], &[], Stdio::null());
    Collect(child, url.trim_start_matches("http://").to_owned())
}

/// Reads one reply: its status and body.
fn read_reply(r: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end().to_ascii_lowercase();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

#[test]
fn a_thousand_keep_alive_requests_are_answered_without_stalls() {
    let c = collect();
    let conn = TcpStream::connect(&c.1).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let body = br#"{"eventList":[{"eventType":"view"}]}"#;
    let start = Instant::now();
    for _ in 0..1000 {
        // One write, as HTTP clients send a small request: two would stall on this side.
        let mut req = format!(
            "POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        w.write_all(&req).unwrap();
        assert_eq!(read_reply(&mut r).0, 200);
    }
    // ~44 ms each before (Nagle + delayed ACK on a reply written in two parts): 44 s.
    let took = start.elapsed();
    assert!(took < Duration::from_secs(2), "1,000 requests took {took:?}");
}

#[test]
fn an_oversized_body_is_refused_with_413_before_it_is_read() {
    let c = collect();
    let conn = TcpStream::connect(&c.1).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    // Announces a gigabyte and sends none of it: the answer comes at once.
    w.write_all(b"POST /events HTTP/1.1\r\ncontent-length: 1000000000\r\n\r\n")
        .unwrap();
    let (status, body) = read_reply(&mut r);
    assert_eq!(status, 413);
    assert!(body.contains("over the 33554432-byte limit"), "{body}");
}

#[test]
fn oversized_headers_get_431() {
    let c = collect();
    let conn = TcpStream::connect(&c.1).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let long = format!("POST /events HTTP/1.1\r\nx-long: {}\r\n\r\n", "a".repeat(20_000));
    w.write_all(long.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut r).0, 431);
}

#[test]
fn compression_bombs_are_refused_with_413() {
    let c = collect();
    // Snappy announces its size first: 200 MiB in a few bytes.
    let mut snappy = Vec::new();
    let mut n: u64 = 200 << 20;
    while n >= 0x80 {
        snappy.push((n as u8) | 0x80);
        n >>= 7;
    }
    snappy.push(n as u8);
    snappy.extend_from_slice(&[0, 0, 0]);
    // 129 MiB of zeros gzip to about 130 KB.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..129 {
        gz.write_all(&zeros).unwrap();
    }
    let gz = gz.finish().unwrap();
    for (headers, body) in [
        (
            "x-compress-codec: 2\r\ncontent-type: application/json\r\n",
            snappy,
        ),
        ("content-encoding: gzip\r\n", gz),
    ] {
        let conn = TcpStream::connect(&c.1).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut w = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        let head = format!(
            "POST /v3/projects/p/collect HTTP/1.1\r\n{headers}content-length: {}\r\n\r\n",
            body.len()
        );
        w.write_all(head.as_bytes()).unwrap();
        w.write_all(&body).unwrap();
        let (status, reply) = read_reply(&mut r);
        assert_eq!(status, 413, "{headers}: {reply}");
        assert!(reply.contains("decompresses to more than"), "{reply}");
    }
}

/// Abusive clients do not starve a well-behaved one. A thousand idle connections and one
/// declaring a 30 MiB body it never sends: a good client is still answered at once, and past
/// the cap of 1,024 connections a new one is answered 503 at once.
#[test]
fn a_thousand_idle_connections_do_not_starve_a_good_client() {
    let c = collect();
    let idle: Vec<TcpStream> = (0..1000).map(|_| TcpStream::connect(&c.1).unwrap()).collect();
    // Nothing is allocated for a body that is only declared.
    let mut promise = TcpStream::connect(&c.1).unwrap();
    promise
        .write_all(b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-length: 31457280\r\n\r\n")
        .unwrap();
    good_client_answered(&c.1);
    let extra: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(&c.1).unwrap()).collect();
    let busy = extra
        .into_iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let mut line = String::new();
            let _ = BufReader::new(s.try_clone().unwrap()).read_line(&mut line);
            line.contains(" 503 ")
        })
        .count();
    // 1,000 idle + 1 promise + 40 = 1,041 against a cap of 1,024 (the good client has gone).
    assert!(
        busy >= 15,
        "{busy} of the connections past the cap were refused with 503"
    );
    drop((idle, promise));
}

/// A slow loris dribbling its headers is answered 408 at the request deadline, and silent
/// connections are closed at the idle timeout, while a good client is answered throughout.
#[test]
fn a_slow_loris_gets_408_and_silent_connections_are_closed() {
    let (child, url) = support::trackflow_collect(
        &[
            "--json",
            "--idle-timeout-ms",
            "1500",
            "--request-deadline-ms",
            "2500",
        ],
        &[],
        Stdio::null(),
    );
    let c = Collect(child, url.trim_start_matches("http://").to_owned());
    let idle: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(&c.1).unwrap()).collect();
    let loris = TcpStream::connect(&c.1).unwrap();
    let mut loris_w = loris.try_clone().unwrap();
    let dribble = std::thread::spawn(move || {
        // A byte every 50 ms: never silent for the idle timeout, never done.
        for b in b"POST /events HTTP/1.1\r\nhost: x\r\nx-slow: "
            .iter()
            .cycle()
            .take(200)
        {
            if loris_w.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    good_client_answered(&c.1);
    loris.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = String::new();
    let started = Instant::now();
    BufReader::new(&loris).read_line(&mut line).unwrap();
    assert!(line.contains(" 408 "), "the slow loris: {line:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(
            matches!(s.read(&mut [0u8; 1]), Ok(0)),
            "an idle connection is closed"
        );
    }
    good_client_answered(&c.1);
    dribble.join().unwrap();
}

/// Ten requests from a well-behaved client, each answered 200, all within 2 s.
fn good_client_answered(addr: &str) {
    let conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let body = br#"{"eventList":[{"eventType":"view"}]}"#;
    let started = Instant::now();
    for _ in 0..10 {
        let mut req = format!(
            "POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        w.write_all(&req).unwrap();
        assert_eq!(read_reply(&mut r).0, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
