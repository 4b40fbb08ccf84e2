//! `trackflow collect`: a local collector that speaks each backend's protocol well enough for
//! its client (success replies; no SigV4 or token checks), decodes every request (gzip,
//! snappy, XOR, protobuf) and prints it, readably or as JSON lines. For developing
//! integrations without the vendor.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prost::Message;
use serde_json::{json, Map, Value as Json};
use trackflow::backend::growingio::proto::{EventV3List, ItemDtoList};

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
pub fn run(
    port: u16,
    protocol: Protocol,
    json_lines: bool,
    max_requests: Option<u64>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let addr = listener.local_addr()?;
    eprintln!("trackflow collect: listening on http://{addr} ({protocol:?})");
    let served = Arc::new(AtomicU64::new(0));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let (served, out) = (served.clone(), out.clone());
        std::thread::spawn(move || serve(conn, protocol, json_lines, &served, &out, max_requests));
    }
    Ok(())
}

fn serve(
    conn: TcpStream,
    protocol: Protocol,
    json_lines: bool,
    served: &AtomicU64,
    out: &Mutex<std::io::Stdout>,
    max: Option<u64>,
) {
    let Ok(mut writer) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    while let Some(req) = read_request(&mut reader) {
        let proto = match protocol {
            Protocol::Auto => guess(&req),
            p => p,
        };
        let (decoded, steps) = decode(&req);
        let (status, reply) = answer(proto, &req, &decoded);
        {
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
        let head = format!(
            "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|_| writer.write_all(reply.as_bytes()))
            .is_err()
        {
            return;
        }
        let n = served.fetch_add(1, Ordering::SeqCst) + 1;
        if max.is_some_and(|m| n >= m) {
            // Printed and answered: the last request ends the process.
            std::process::exit(0);
        }
    }
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
    if p.contains("/collect")
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
fn decode(r: &Request) -> (Json, Vec<&'static str>) {
    let mut steps = Vec::new();
    let mut body = r.body.clone();
    let gz =
        r.header("Gravity-Content-Compress") == Some("gzip") || r.header("Content-Encoding") == Some("gzip");
    if gz {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .is_ok()
        {
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
        match snap::raw::Decoder::new().decompress_vec(&body) {
            Ok(b) => {
                body = b;
                steps.push("unsnappy");
            }
            Err(_) => steps.push("unsnappy failed"),
        }
    }
    if r.header("content-type").is_some_and(|c| c.contains("protobuf")) {
        steps.push("protobuf");
        return if r.path.ends_with("/item") {
            let list = ItemDtoList::decode(&body[..]).unwrap_or_default();
            let values: Vec<Json> = list
                .values
                .into_iter()
                .map(|v| json!({"id": v.id, "key": v.key, "attributes": v.attributes, "data_source_id": v.data_source_id, "project_key": v.project_key}))
                .collect();
            (json!({ "values": values }), steps)
        } else {
            let list = EventV3List::decode(&body[..]).unwrap_or_default();
            let values: Vec<Json> = list
                .values
                .into_iter()
                .map(|v| {
                    json!({"device_id": v.device_id, "user_id": v.user_id, "user_key": v.user_key, "event_type": v.event_type,
                           "event_name": v.event_name, "timestamp": v.timestamp, "send_time": v.send_time, "attributes": v.attributes,
                           "platform": v.platform, "sdk_version": v.sdk_version, "data_source_id": v.data_source_id, "project_key": v.project_key})
                })
                .collect();
            (json!({ "values": values }), steps)
        };
    }
    if body.is_empty() {
        return (Json::Null, steps);
    }
    match serde_json::from_slice::<Json>(&body) {
        Ok(v) => {
            steps.push("json");
            (v, steps)
        }
        Err(_) => {
            steps.push("text");
            (String::from_utf8_lossy(&body).into_owned().into(), steps)
        }
    }
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
        Protocol::Auto => (200, "{}".into()),
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
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
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        query,
        headers,
        body,
    })
}
