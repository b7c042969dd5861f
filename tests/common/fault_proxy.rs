//! A fault-injecting HTTP/1.1 proxy in front of moto, for the Kinesis calls of the tests.
//!
//! - `Fault::None` forwards everything (and counts requests: "no call was made" is checkable).
//! - `Fault::Throttle { times }` answers the entries at even positions of every `PutRecords` call
//!   with `ProvisionedThroughputExceededException`, until that entry has been throttled `times`
//!   times. Throttled entries are removed from the request moto sees, so they are on the stream
//!   only once a retry succeeds, as with Kinesis.
//! - `Fault::Refuse` closes every connection at once; `Fault::Stall` reads the request and never
//!   answers; `Fault::RefuseAfter { calls }` forwards that many `PutRecords` calls, then refuses.
//!
//! moto does not check request signatures, so a rewritten body is accepted.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Throttle { times: usize },
    Refuse,
    Stall,
    RefuseAfter { calls: usize },
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub requests: usize,
    pub put_records_calls: usize,
    /// Entries answered with ProvisionedThroughputExceededException.
    pub throttled: usize,
    /// Entries moto received.
    pub forwarded_entries: usize,
}

struct State {
    fault: Fault,
    stats: Stats,
    /// Times each entry (data, partition key) was throttled.
    throttled: HashMap<(String, String), usize>,
}

pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    pub fn start(upstream: &str, fault: Fault) -> FaultProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let state = Arc::new(Mutex::new(State {
            fault,
            stats: Stats::default(),
            throttled: HashMap::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopping) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let (shared, stopping, upstream) =
                    (shared.clone(), stopping.clone(), upstream.clone());
                std::thread::spawn(move || serve(client, &upstream, &shared, &stopping));
            }
        });
        FaultProxy {
            endpoint,
            state,
            stop,
        }
    }

    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap().stats.clone()
    }

    pub fn set_fault(&self, fault: Fault) {
        self.state.lock().unwrap().fault = fault;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let mut request = Request {
        head,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).ok()?;
    Some(request)
}

fn serve(client: TcpStream, upstream: &str, state: &Mutex<State>, stop: &AtomicBool) {
    let mut reader = BufReader::new(client.try_clone().expect("clone the connection"));
    let mut writer = client;
    loop {
        let fault = state.lock().unwrap().fault;
        if fault == Fault::Refuse {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        let is_put_records = request
            .header("x-amz-target")
            .is_some_and(|t| t.ends_with(".PutRecords"));
        let fault = {
            let mut s = state.lock().unwrap();
            s.stats.requests += 1;
            if is_put_records {
                s.stats.put_records_calls += 1;
            }
            match s.fault {
                Fault::RefuseAfter { calls }
                    if is_put_records && s.stats.put_records_calls > calls =>
                {
                    Fault::Refuse
                }
                other => other,
            }
        };
        let response = match fault {
            Fault::Refuse => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Fault::Stall => {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                return;
            }
            Fault::Throttle { times } if is_put_records => {
                throttled_put_records(request, upstream, state, times)
            }
            _ => {
                if is_put_records {
                    let entries = serde_json::from_slice::<Value>(&request.body)
                        .map(|v| v["Records"].as_array().map_or(0, Vec::len))
                        .unwrap_or(0);
                    state.lock().unwrap().stats.forwarded_entries += entries;
                }
                forward(&request, upstream)
            }
        };
        let Some((status, headers, body)) = response else {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        };
        let mut out = format!("{status}\r\n");
        for h in headers {
            out.push_str(&h);
            out.push_str("\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        if writer
            .write_all(out.as_bytes())
            .and_then(|()| writer.write_all(&body))
            .is_err()
        {
            return;
        }
    }
}

/// Sends `request` to moto on a fresh connection; returns the status line, the headers that
/// still hold (framing ones are redone) and the body.
fn forward(request: &Request, upstream: &str) -> Option<(String, Vec<String>, Vec<u8>)> {
    let mut up = TcpStream::connect(upstream).ok()?;
    let mut head = format!("{}\r\n", request.head[0]);
    for h in &request.head[1..] {
        let name = header_name(h);
        if !matches!(
            name.as_str(),
            "content-length" | "connection" | "transfer-encoding"
        ) {
            head.push_str(h);
            head.push_str("\r\n");
        }
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        request.body.len()
    ));
    up.write_all(head.as_bytes()).ok()?;
    up.write_all(&request.body).ok()?;
    let mut raw = Vec::new();
    up.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines.next()?.to_owned();
    let mut chunked = false;
    let mut headers = Vec::new();
    for h in lines {
        let name = header_name(h);
        match name.as_str() {
            "transfer-encoding" => chunked = h.to_ascii_lowercase().contains("chunked"),
            "content-length" | "connection" => {}
            _ => headers.push(h.to_owned()),
        }
    }
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body);
    }
    Some((status, headers, body))
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        body.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    body
}

/// Throttles the entries at even positions (while each has been throttled fewer than `times`
/// times), forwards only the others, and answers for all of them in order.
fn throttled_put_records(
    request: Request,
    upstream: &str,
    state: &Mutex<State>,
    times: usize,
) -> Option<(String, Vec<String>, Vec<u8>)> {
    let mut body: Value = serde_json::from_slice(&request.body).ok()?;
    let entries = body["Records"].as_array()?.clone();
    let mut throttle = Vec::with_capacity(entries.len());
    {
        let mut s = state.lock().unwrap();
        for (position, entry) in entries.iter().enumerate() {
            let key = (
                entry["Data"].as_str().unwrap_or("").to_owned(),
                entry["PartitionKey"].as_str().unwrap_or("").to_owned(),
            );
            let count = s.throttled.entry(key).or_insert(0);
            let yes = position % 2 == 0 && *count < times;
            if yes {
                *count += 1;
                s.stats.throttled += 1;
            }
            throttle.push(yes);
        }
    }
    let kept: Vec<Value> = entries
        .iter()
        .zip(&throttle)
        .filter(|(_, t)| !**t)
        .map(|(e, _)| e.clone())
        .collect();
    let (status, headers, answered) = if kept.is_empty() {
        let headers = vec!["Content-Type: application/x-amz-json-1.1".to_owned()];
        (
            "HTTP/1.1 200 OK".to_owned(),
            headers,
            json!({"FailedRecordCount": 0, "Records": []}),
        )
    } else {
        state.lock().unwrap().stats.forwarded_entries += kept.len();
        body["Records"] = Value::Array(kept);
        let forwarded = Request {
            head: request.head,
            body: serde_json::to_vec(&body).ok()?,
        };
        let (status, headers, raw) = forward(&forwarded, upstream)?;
        (status, headers, serde_json::from_slice(&raw).ok()?)
    };
    let mut results = answered["Records"].as_array()?.iter().cloned();
    let mut merged = Vec::with_capacity(throttle.len());
    let mut failed = answered["FailedRecordCount"].as_u64().unwrap_or(0);
    for &t in &throttle {
        if t {
            failed += 1;
            merged.push(json!({
                "ErrorCode": "ProvisionedThroughputExceededException",
                "ErrorMessage": "Rate exceeded for shard shardId-000000000000 in stream under account 123456789012."
            }));
        } else {
            merged.push(results.next()?);
        }
    }
    let answer = json!({"FailedRecordCount": failed, "Records": merged});
    Some((status, headers, serde_json::to_vec(&answer).ok()?))
}

/// A header line's name, lowercased.
fn header_name(line: &str) -> String {
    line.split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}
