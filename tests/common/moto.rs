//! Real AWS APIs for the tests (Kinesis, S3, Glue…): `moto_server` on a free loopback port, killed
//! on drop (with Glue's `UpdateTable` version check added, `moto_glue_versions.py`), and the few
//! Kinesis calls the tests make against it (create a stream, read everything on it).
//!
//! Part of the `moto` test binary only (tests/moto/), so the other tests do not compile SDK
//! calls they never make. `moto_server` must be on PATH: the harness never installs anything.
#![allow(dead_code)]

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kinesis::config::{Credentials, Region};
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// moto's account: stream ARNs must name it.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// What to do when `moto_server` is missing.
const HOW_TO_GET_MOTO: &str = "moto_server is not on PATH. Run the suite with scripts/test.sh, or \
     `source scripts/python-env.sh` (the project's Python tools, moto among them) and then \
     `cargo test --features moto-tests`";

/// Ports tried before giving up: another process may take the one we picked before moto binds it.
const PORT_TRIES: usize = 5;

/// Only bounds a hang: moto's start is a Python import, slow on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(180);

pub fn stream_arn(name: &str) -> String {
    format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}")
}

pub struct Moto {
    pub endpoint: String,
    child: Child,
}

/// A port nothing listens on (just freed).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

fn find_on_path(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// The interpreter moto is installed for (the one beside `moto_server`), running
/// `tests/common/moto_glue_versions.py`: moto_server plus Glue's `VersionId` check.
fn moto_command() -> Command {
    let server = find_on_path("moto_server").unwrap_or_else(|| panic!("{HOW_TO_GET_MOTO}"));
    let python = server
        .parent()
        .map(|dir| dir.join("python"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "python3".into());
    let mut command = Command::new(python);
    command.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/common/moto_glue_versions.py"
    ));
    command
}

/// How one attempt to start moto on a port ended.
enum Start {
    Up(Moto),
    /// Another process had the port.
    PortTaken(String),
}

impl Moto {
    /// Starts `moto_server` from PATH on a free loopback port; when another process takes that
    /// port first, tries another one.
    pub fn start() -> Moto {
        Moto::start_on_first_free(std::iter::repeat_with(free_port).take(PORT_TRIES))
    }

    /// Starts moto on the first of `ports` it can listen on.
    fn start_on_first_free(ports: impl IntoIterator<Item = u16>) -> Moto {
        let mut taken = Vec::new();
        for port in ports {
            match Moto::start_on(port) {
                Start::Up(moto) => return moto,
                Start::PortTaken(output) => taken.push((port, output)),
            }
        }
        panic!("moto_server found every port it tried taken: {taken:#?}");
    }

    /// Starts moto on `port` and waits for its own word that it listens there: werkzeug's
    /// "Running on http://127.0.0.1:PORT" on standard error. (Waiting for the port to answer
    /// instead could take another process's server on that port for ours.)
    fn start_on(port: u16) -> Start {
        let mut child = moto_command()
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start moto_server: {e}. {HOW_TO_GET_MOTO}"));
        let lines = stderr_lines(child.stderr.take().expect("piped standard error"));
        let listening = format!("Running on http://127.0.0.1:{port}");
        let mut output = String::new();
        let until = Instant::now() + START_TIMEOUT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(&listening) => {
                    return Start::Up(Moto {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        child,
                    })
                }
                Ok(line) => {
                    output.push_str(&line);
                    output.push('\n');
                }
                // Standard error closed: moto exited.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().expect("wait for moto_server");
                    if output.contains("in use") {
                        return Start::PortTaken(output);
                    }
                    panic!(
                        "moto_server exited ({status}) before listening on port {port}:\n{output}"
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "moto_server did not listen on port {port} within {START_TIMEOUT:?}:\n{output}"
                    );
                }
            }
        }
    }
}

/// The lines of moto's standard error as they come. It is read to the end (moto logs every
/// request there), so moto never blocks on a full pipe.
fn stderr_lines(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            // Nobody listens once moto is up; keep draining.
            let _ = tx.send(line);
        }
    });
    rx
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK settings for `endpoint`: static credentials, moto's region.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

pub async fn client(endpoint: &str) -> Client {
    Client::new(&sdk_config(endpoint).await)
}

/// Creates stream `name` with `shards` shards. (Stream names, not ARNs, throughout: moto's
/// shard iterators only work with the form they were asked with.)
pub async fn create_stream(client: &Client, name: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("create the stream");
}

/// Every record on stream `name`: (data, partition key), shard by shard, in order.
pub async fn read_stream(client: &Client, name: &str) -> Vec<(Vec<u8>, String)> {
    let shards = client
        .list_shards()
        .stream_name(name)
        .send()
        .await
        .expect("list shards");
    let mut records = Vec::new();
    for shard in shards.shards() {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(name)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("get a shard iterator")
            .shard_iterator;
        while let Some(it) = iterator {
            let page = client
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await
                .expect("get records");
            if page.records().is_empty() {
                break;
            }
            for r in page.records() {
                records.push((
                    r.data().as_ref().to_vec(),
                    r.partition_key().unwrap_or_default().to_owned(),
                ));
            }
            iterator = page.next_shard_iterator;
        }
    }
    records
}

/// Every (data, partition key) on `stream`, sorted.
pub async fn on_the_stream(endpoint: &str, stream: &str) -> Vec<(Vec<u8>, String)> {
    let client = client(endpoint).await;
    let mut records = read_stream(&client, stream).await;
    records.sort();
    records
}

/// The harness itself: a port another process holds is given up for the next one.
#[test]
fn moto_moves_to_another_port_when_its_port_is_taken() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let held = holder.local_addr().expect("held address").port();
    let free = free_port();
    let moto = Moto::start_on_first_free([held, free]);
    assert_eq!(moto.endpoint, format!("http://127.0.0.1:{free}"));
}

/// Without moto_server on PATH the harness stops at once, naming what to run (and never
/// installs anything): this runs one moto test in a child process with an empty PATH.
#[test]
fn moto_missing_from_path_fails_fast_naming_the_command() {
    let out = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "reingest::a_batch_that_fits_makes_no_kinesis_call",
            "--exact",
        ])
        .env("PATH", "")
        .output()
        .expect("run the test binary");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("moto_server is not on PATH"), "{text}");
    assert!(text.contains("scripts/test.sh"), "{text}");
    assert!(text.contains("source scripts/python-env.sh"), "{text}");
}
