//! A local endpoint speaking the Lambda Runtime API (next invocation, response, error), so the
//! built `bootstrap` binary runs exactly as it does in Lambda.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    Response { request_id: String, body: Vec<u8> },
    Error { request_id: String, body: Vec<u8> },
    InitError { body: Vec<u8> },
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Vec<u8>, u64)>,
    posted: Vec<Posted>,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    /// Serves `events` in order, each with `deadline_in` to run.
    pub fn start(events: Vec<Vec<u8>>, deadline_in: Duration) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        {
            let mut s = state.0.lock().unwrap();
            for (i, body) in events.into_iter().enumerate() {
                let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + deadline_in;
                s.queue
                    .push_back((format!("req-{i}"), body, deadline.as_millis() as u64));
            }
        }
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, shared));
            }
        });
        RuntimeApi { addr, state }
    }

    /// The built Lambda binary, started as Lambda starts it against this endpoint: the Runtime
    /// API address and the function's variables set, and none of the host's settings or AWS
    /// endpoint and profile leaking in. Callers add their own settings.
    pub fn lambda_command(&self, function_name: &str) -> Command {
        self.command_for(env!("CARGO_BIN_EXE_bootstrap"), function_name)
    }

    /// [`RuntimeApi::lambda_command`] for another of the crate's Lambda binaries.
    pub fn command_for(&self, binary: &str, function_name: &str) -> Command {
        let mut cmd = Command::new(binary);
        cmd.env("AWS_LAMBDA_RUNTIME_API", self.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            );
        for host_setting in [
            "FLATTEN_SEPARATOR",
            "METADATA_PREFIX",
            "LIST_MODE",
            "MAX_RESPONSE_BYTES",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_KINESIS",
            "AWS_ENDPOINT_URL_S3",
            "AWS_PROFILE",
        ] {
            cmd.env_remove(host_setting);
        }
        cmd
    }

    /// Waits until `n` posts (responses or errors) have arrived, or `timeout` passes.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Posted> {
        let (lock, cond) = &*self.state;
        let until = Instant::now() + timeout;
        let mut s = lock.lock().unwrap();
        while s.posted.len() < n && Instant::now() < until {
            s = cond.wait_timeout(s, Duration::from_millis(50)).unwrap().0;
        }
        s.posted.clone()
    }
}

fn serve(stream: TcpStream, state: Arc<(Mutex<State>, Condvar)>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let (method, path, body) = (request.method.as_str(), request.path.as_str(), request.body);
        let (lock, cond) = &*state;
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let next = lock.lock().unwrap().queue.pop_front();
            let Some((id, event, deadline)) = next else {
                // Nothing more to run: hold the request, as Lambda does between invocations.
                std::thread::sleep(Duration::from_secs(3600));
                return;
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:111122223333:function:ddb-lake\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\nContent-Length: {}\r\n\r\n",
                event.len()
            );
            if writer
                .write_all(head.as_bytes())
                .and_then(|()| writer.write_all(&event))
                .is_err()
            {
                return;
            }
            continue;
        }
        let segments: Vec<&str> = path.split('/').collect();
        let posted = match segments.as_slice() {
            [.., "invocation", id, "response"] => Posted::Response {
                request_id: id.to_string(),
                body,
            },
            [.., "invocation", id, "error"] => Posted::Error {
                request_id: id.to_string(),
                body,
            },
            [.., "init", "error"] => Posted::InitError { body },
            _ => {
                let _ = writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                continue;
            }
        };
        lock.lock().unwrap().posted.push(posted);
        cond.notify_all();
        let ok = br#"{"status":"OK"}"#;
        let head = format!(
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            ok.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(ok))
            .is_err()
        {
            return;
        }
    }
}

/// One HTTP/1.1 request as a test server reads it: header names lower-cased, the body by
/// `Content-Length` or chunked transfer encoding.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The next request on a connection, or `None` when the client closed it.
pub fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let mut parts = request_line.split_whitespace();
    let mut request = Request {
        method: parts.next().unwrap_or_default().to_owned(),
        path: parts.next().unwrap_or_default().to_owned(),
        headers,
        body: Vec::new(),
    };
    request.body = if request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        read_chunked(reader)
    } else {
        let length = request
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        read_exact(reader, length)
    };
    Some(request)
}

fn read_exact(reader: &mut impl Read, n: usize) -> Vec<u8> {
    let mut body = vec![0; n];
    let _ = reader.read_exact(&mut body);
    body
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size).unwrap_or(0) == 0 {
            return body;
        }
        let n =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if n == 0 {
            let mut trailer = String::new();
            let _ = reader.read_line(&mut trailer);
            return body;
        }
        body.extend(read_exact(reader, n));
        let mut crlf = [0; 2];
        let _ = reader.read_exact(&mut crlf);
    }
}
