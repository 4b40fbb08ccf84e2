//! `trackflow collect`: a local collector that speaks each backend's protocol well enough for
//! its client (success replies; no SigV4 or token checks), decodes every request (gzip,
//! snappy, XOR, protobuf) and prints it, readably or as JSON lines. For developing
//! integrations without the vendor.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::{json, Map, Value as Json};
use trackflow::backend::growingio::proto::{EventV3List, ItemDtoList};

/// The longest request or header line.
const MAX_LINE: u64 = 16 << 10;
/// The most header lines, and their bytes in all.
const MAX_HEADERS: usize = 100;
const MAX_HEADER_BYTES: usize = 64 << 10;
/// The largest body taken (trackflow's own requests stay far below).
const MAX_BODY: usize = 32 << 20;
/// The largest body after gunzip or snappy: a small bomb cannot take the memory.
const MAX_DECODED: usize = 128 << 20;
/// Connections served at once; past it a new one is answered 503 and closed.
const MAX_CONNECTIONS: usize = 1024;

/// A request refused before it was read whole: the status and why.
struct Refused(u16, String);

/// Which protocol to answer; `Auto` tells them apart by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Recognise each request by its path.
    Auto,
    /// GrowingIO CDP.
    Growingio,
    /// Gravity Engine.
    Gravity,
    /// AWS Personalize Events.
    Personalize,
    /// Google Cloud Retail.
    Retail,
    /// Google Cloud Talent.
    Talent,
    /// trackflow's webhook: JSON array or lines, signature checked with `--webhook-secret`.
    Webhook,
}

/// How `collect` serves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which protocol to answer.
    pub protocol: Protocol,
    /// Print each request as one JSON line.
    pub json_lines: bool,
    /// Exit after answering this many.
    pub max_requests: Option<u64>,
    /// The webhook's shared secret: a request whose signature does not verify gets 401.
    pub webhook_secret: Option<String>,
    /// How long a connection may stay silent.
    pub idle_timeout: Duration,
    /// How long one request may take to arrive whole.
    pub request_deadline: Duration,
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves until `max_requests` (if any) have been answered.
pub fn run(port: u16, opts: Options) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "trackflow collect: listening on http://{addr} ({:?})",
        opts.protocol
    );
    let served = Arc::new(AtomicU64::new(0));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let opts = Arc::new(opts);
    let open = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::AcqRel);
            busy(conn);
            continue;
        }
        let (served, out, opts, open2) = (served.clone(), out.clone(), opts.clone(), open.clone());
        let spawned = std::thread::Builder::new()
            // A connection's thread needs little: a small stack lets a thousand idle ones be.
            .stack_size(256 << 10)
            .spawn(move || {
                serve(conn, &opts, &served, &out);
                open2.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::AcqRel);
        }
    }
    Ok(())
}

/// Answers a connection past the cap with 503 and closes it, without waiting on it.
fn busy(mut conn: TcpStream) {
    let _ = conn.set_write_timeout(Some(Duration::from_millis(100)));
    let body = r#"{"error":"too many connections"}"#;
    let _ = write!(
        conn,
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A webhook request's signature: `None` when it verifies (or no secret was given), else why
/// it is refused.
fn refuse_signature(r: &Request, secret: Option<&str>) -> Option<&'static str> {
    let secret = secret?;
    let (Some(sig), Some(ts)) = (
        r.header(trackflow::backend::webhook::SIGNATURE_HEADER),
        r.header(trackflow::backend::webhook::TIMESTAMP_HEADER),
    ) else {
        return Some("the request is not signed");
    };
    (!trackflow::backend::webhook::verify(secret, ts, &r.body, sig))
        .then_some("the signature does not verify")
}

fn serve(conn: TcpStream, opts: &Options, served: &AtomicU64, out: &Mutex<std::io::Stdout>) {
    let (protocol, json_lines, max) = (opts.protocol, opts.json_lines, opts.max_requests);
    // Replies go out in one write; without this, Nagle's algorithm holds the last segment of
    // each reply for the client's delayed ACK (~40 ms per keep-alive request).
    let _ = conn.set_nodelay(true);
    // A silent client holds nothing for ever.
    let _ = conn.set_read_timeout(Some(opts.idle_timeout));
    let Ok(mut writer) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    loop {
        let req = match read_request(&mut reader, opts.request_deadline) {
            Ok(Some(req)) => req,
            Ok(None) => return,
            Err(Refused(status, why)) => {
                // The rest of the request was not read: answer and close.
                // Not eprintln!: with stderr closed it would panic and drop the reply.
                let _ = writeln!(std::io::stderr(), "trackflow collect: refused a request: {why}");
                let _ = reply_to(&mut writer, status, &json!({ "error": why }).to_string(), true);
                linger(&mut writer, reader);
                return;
            }
        };
        let proto = match protocol {
            Protocol::Auto => guess(&req),
            p => p,
        };
        let (decoded, steps) = match decode(&req) {
            Ok(d) => d,
            Err(Refused(status, why)) => {
                let _ = reply_to(&mut writer, status, &json!({ "error": why }).to_string(), false);
                continue;
            }
        };
        let refused = (proto == Protocol::Webhook)
            .then(|| refuse_signature(&req, opts.webhook_secret.as_deref()))
            .flatten();
        let (status, reply) = match refused {
            Some(why) => (401, json!({ "error": why }).to_string()),
            None => answer(proto, &req, &decoded),
        };
        print(out, json_lines, proto, &req, &decoded, &steps, status);
        if reply_to(&mut writer, status, &reply, false).is_err() {
            return;
        }
        let n = served.fetch_add(1, Ordering::SeqCst) + 1;
        if max.is_some_and(|m| n >= m) {
            // Printed and answered: the last request ends the process.
            std::process::exit(0);
        }
    }
}

/// Prints one request, decoded, with its secrets masked.
fn print(
    out: &Mutex<std::io::Stdout>,
    json_lines: bool,
    proto: Protocol,
    req: &Request,
    decoded: &Json,
    steps: &[&str],
    status: u16,
) {
    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
    let _ = if json_lines {
        let headers: Map<String, Json> = req
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), mask(k, v).into()))
            .collect();
        writeln!(
            o,
            "{}",
            json!({"backend": format!("{proto:?}").to_lowercase(), "method": req.method, "path": req.path,
                           "query": mask_query(&req.query), "headers": headers, "decoded": decoded, "steps": steps, "status": status})
        )
    } else {
        let q = if req.query.is_empty() {
            String::new()
        } else {
            format!("?{}", mask_query(&req.query))
        };
        writeln!(
            o,
            "{} {}{} ({:?}, {}) -> {status}\n{}",
            req.method,
            req.path,
            q,
            proto,
            steps.join(" + "),
            serde_json::to_string_pretty(&decoded).unwrap_or_default()
        )
    };
    let _ = o.flush();
}

/// Closes a connection whose request was not read whole: the client may still be sending,
/// and closing with unread data would reset the connection and lose the reply. So: no more
/// writes, then discard what arrives for a moment (at most 1 MiB or 1 s).
fn linger(w: &mut TcpStream, mut r: BufReader<TcpStream>) {
    let _ = w.shutdown(std::net::Shutdown::Write);
    let _ = w.set_read_timeout(Some(std::time::Duration::from_secs(1)));
    let _ = std::io::copy(&mut r.by_ref().take(1 << 20), &mut std::io::sink());
}

/// Writes one reply, head and body in a single write.
fn reply_to(w: &mut TcpStream, status: u16, body: &str, close: bool) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let connection = if close { "connection: close\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{connection}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    w.write_all(&out)
}

/// Secrets stay out of the printout even here.
fn mask(name: &str, v: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n == "authorization" || n.contains("token") {
        "***".into()
    } else {
        v.to_owned()
    }
}

fn mask_query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.to_ascii_lowercase().contains("token") => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn guess(r: &Request) -> Protocol {
    let p = r.path.as_str();
    if r.header(trackflow::backend::webhook::TIMESTAMP_HEADER).is_some()
        || r.header("content-type") == Some("application/x-ndjson")
    {
        Protocol::Webhook
    } else if p.contains("/collect")
        && (p.starts_with("/v3/projects/") || p.starts_with("/projects/"))
        && !r.query.contains("access_token")
    {
        Protocol::Growingio
    } else if r.query.contains("access_token")
        || r.header("GE-Integration-Type").is_some()
        || r.header("Turbo-Debug-Mode").is_some()
    {
        Protocol::Gravity
    } else if matches!(
        p,
        "/events" | "/users" | "/items" | "/actions" | "/action-interactions"
    ) {
        Protocol::Personalize
    } else if p.ends_with("/clientEvents") {
        Protocol::Talent
    } else {
        Protocol::Retail
    }
}

/// The body as JSON after undoing what the headers say was done to it, and the steps taken.
fn decode(r: &Request) -> Result<(Json, Vec<&'static str>), Refused> {
    let mut steps = Vec::new();
    let body = unwrap_body(r, &mut steps)?;
    if r.header("content-type").is_some_and(|c| c.contains("protobuf")) {
        steps.push("protobuf");
        return Ok((decode_protobuf(&r.path, &body), steps));
    }
    if body.is_empty() {
        return Ok((Json::Null, steps));
    }
    if r.header("content-type") == Some("application/x-ndjson") {
        // JSON lines: each line an event; a line that is not JSON is kept as text.
        let text = String::from_utf8_lossy(&body);
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Json>(l).unwrap_or_else(|_| l.into()))
            .collect();
        steps.push("json lines");
        return Ok((Json::Array(lines), steps));
    }
    Ok(match serde_json::from_slice::<Json>(&body) {
        Ok(v) => {
            steps.push("json");
            (v, steps)
        }
        Err(_) => {
            steps.push("text");
            (String::from_utf8_lossy(&body).into_owned().into(), steps)
        }
    })
}

/// The body with gzip, GrowingIO's XOR crypt and snappy undone, as the headers say.
fn unwrap_body(r: &Request, steps: &mut Vec<&'static str>) -> Result<Vec<u8>, Refused> {
    let too_large = || {
        Refused(
            413,
            format!("the body decompresses to more than {MAX_DECODED} bytes"),
        )
    };
    let mut body = r.body.clone();
    let gz =
        r.header("Gravity-Content-Compress") == Some("gzip") || r.header("Content-Encoding") == Some("gzip");
    if gz {
        let mut out = Vec::new();
        let read = flate2::read::GzDecoder::new(&body[..])
            .take(MAX_DECODED as u64 + 1)
            .read_to_end(&mut out);
        if out.len() > MAX_DECODED {
            return Err(too_large());
        }
        if read.is_ok() {
            body = out;
            steps.push("gunzip");
        }
    }
    if r.header("X-Crypt-Codec") == Some("1") {
        let stm: i64 = r
            .query
            .split('&')
            .find_map(|kv| kv.strip_prefix("stm="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        for b in &mut body {
            *b ^= (stm & 0xff) as u8;
        }
        steps.push("xor");
    }
    if r.header("X-Compress-Codec") == Some("2") {
        if snap::raw::decompress_len(&body).is_ok_and(|n| n > MAX_DECODED) {
            return Err(too_large());
        }
        match snap::raw::Decoder::new().decompress_vec(&body) {
            Ok(b) => {
                body = b;
                steps.push("unsnappy");
            }
            Err(_) => steps.push("unsnappy failed"),
        }
    }
    Ok(body)
}

/// A GrowingIO protobuf list (items at `/item`, else events) as JSON.
fn decode_protobuf(path: &str, body: &[u8]) -> Json {
    let values: Vec<Json> = if path.ends_with("/item") {
        ItemDtoList::decode(body)
            .unwrap_or_default()
            .values
            .into_iter()
            .map(|v| json!({"id": v.id, "key": v.key, "attributes": v.attributes, "data_source_id": v.data_source_id, "project_key": v.project_key}))
            .collect()
    } else {
        EventV3List::decode(body)
            .unwrap_or_default()
            .values
            .into_iter()
            .map(|v| {
                json!({"device_id": v.device_id, "user_id": v.user_id, "user_key": v.user_key, "event_type": v.event_type,
                       "event_name": v.event_name, "timestamp": v.timestamp, "send_time": v.send_time, "attributes": v.attributes,
                       "platform": v.platform, "sdk_version": v.sdk_version, "data_source_id": v.data_source_id, "project_key": v.project_key})
            })
            .collect()
    };
    json!({ "values": values })
}

/// The success reply each client expects.
fn answer(p: Protocol, r: &Request, decoded: &Json) -> (u16, String) {
    let parent_op = |kind: &str| {
        let parent = r
            .path
            .trim_start_matches("/v2/")
            .split("/userEvents")
            .next()
            .unwrap_or_default()
            .to_owned();
        let count = decoded["inputConfig"]["userEventInlineSource"]["userEvents"]
            .as_array()
            .map_or(0, |a| a.len());
        json!({"name": format!("{parent}/operations/{kind}-1"), "done": true,
               "metadata": {"successCount": count.to_string()}, "response": {}})
        .to_string()
    };
    match p {
        Protocol::Growingio => (200, String::new()),
        Protocol::Gravity => (200, r#"{"code":0,"msg":"ok","data":null,"extra":{}}"#.into()),
        Protocol::Personalize => (200, "{}".into()),
        Protocol::Talent => (
            200,
            if decoded.is_null() {
                "{}".into()
            } else {
                decoded.to_string()
            },
        ),
        Protocol::Retail => {
            let path = r.path.as_str();
            if path.ends_with(":collect") {
                (200, r#"{"contentType":"image/gif","data":"R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="}"#.into())
            } else if path.ends_with(":import") {
                (200, parent_op("import-user-events"))
            } else if path.ends_with(":purge") {
                (200, parent_op("purge-user-events"))
            } else if path.ends_with(":rejoin") {
                (200, parent_op("rejoin-user-events"))
            } else if path.contains("/operations/") {
                (
                    200,
                    json!({"name": path.trim_start_matches("/v2/"), "done": true, "response": {}})
                        .to_string(),
                )
            } else {
                (
                    200,
                    if decoded.is_null() {
                        "{}".into()
                    } else {
                        decoded.to_string()
                    },
                )
            }
        }
        Protocol::Auto | Protocol::Webhook => (200, "{}".into()),
    }
}

/// One line, at most [`MAX_LINE`] bytes; `None` at the end of the stream.
fn read_line(r: &mut BufReader<TcpStream>, deadline: Instant) -> Result<Option<String>, Refused> {
    let mut line = Vec::new();
    // Buffer by buffer, so that a client sending a byte at a time meets the deadline.
    loop {
        if Instant::now() > deadline {
            return Err(too_slow());
        }
        let Ok(available) = r.fill_buf() else {
            return Ok(None);
        };
        if available.is_empty() {
            break;
        }
        let room = (MAX_LINE as usize + 1).saturating_sub(line.len());
        let take = available.len().min(room);
        match available[..take].iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&available[..=i]);
                r.consume(i + 1);
                break;
            }
            None => {
                line.extend_from_slice(&available[..take]);
                r.consume(take);
                if take == room {
                    break;
                }
            }
        }
    }
    let n = line.len();
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        if n as u64 > MAX_LINE {
            return Err(Refused(
                431,
                format!("a request line or header is longer than {MAX_LINE} bytes"),
            ));
        }
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&line).trim_end().to_owned()))
}

fn too_slow() -> Refused {
    Refused(408, "the request did not arrive whole in time".into())
}

/// The `len` bytes of a body as they arrive (nothing allocated for what was only declared);
/// `None` when the client closed the connection first.
fn read_body(
    r: &mut BufReader<TcpStream>,
    len: usize,
    deadline: Instant,
) -> Result<Option<Vec<u8>>, Refused> {
    let mut body = Vec::with_capacity(len.min(64 << 10));
    let mut chunk = [0u8; 64 << 10];
    while body.len() < len {
        if Instant::now() > deadline {
            return Err(too_slow());
        }
        let want = (len - body.len()).min(chunk.len());
        match r.read(&mut chunk[..want]) {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(Some(body))
}

/// The next request; `Ok(None)` when the client closed the connection (or sent garbage).
fn read_request(r: &mut BufReader<TcpStream>, within: Duration) -> Result<Option<Request>, Refused> {
    // The deadline starts with the first byte of the request, not while the connection idles
    // between requests (the idle timeout bounds that).
    if r.fill_buf().map_or(true, |b| b.is_empty()) {
        return Ok(None);
    }
    let deadline = Instant::now() + within;
    let Some(line) = read_line(r, deadline)? else {
        return Ok(None);
    };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target.to_owned(), String::new()),
    };
    let method = method.to_owned();
    let mut headers = Vec::new();
    let mut header_bytes = 0;
    loop {
        let Some(h) = read_line(r, deadline)? else {
            return Ok(None);
        };
        if h.is_empty() {
            break;
        }
        header_bytes += h.len();
        if headers.len() >= MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
            return Err(Refused(
                431,
                format!("more than {MAX_HEADERS} headers or {MAX_HEADER_BYTES} bytes of them"),
            ));
        }
        let Some((k, v)) = h.split_once(':') else {
            return Ok(None);
        };
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    // Refused before anything is allocated for it.
    if len > MAX_BODY {
        return Err(Refused(
            413,
            format!("a {len}-byte body is over the {MAX_BODY}-byte limit"),
        ));
    }
    let Some(body) = read_body(r, len, deadline)? else {
        return Ok(None);
    };
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        body,
    }))
}
