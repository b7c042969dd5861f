//! A real Kinesis API for the tests: `moto_server` on a free loopback port, killed on drop, and
//! the few Kinesis calls the tests make against it (create a stream, read everything on it).
//!
//! Included with `#[path]` by the tests that need it, so the other test binaries do not compile
//! SDK calls they never make.
#![allow(dead_code)]

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kinesis::config::{Credentials, Region};
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// moto's account: stream ARNs must name it.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

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

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

impl Moto {
    /// Starts `moto_server`: from PATH (scripts/test.sh puts the project's Python tools there),
    /// else from the project's virtualenv, which `scripts/python-env.sh` creates on first use.
    pub fn start() -> Moto {
        let port = free_port().to_string();
        let mut command = if on_path("moto_server") {
            Command::new("moto_server")
        } else {
            let env_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python-env.sh");
            let mut c = Command::new("bash");
            c.arg("-c")
                .arg(format!(
                    "source '{}' && exec moto_server \"$@\"",
                    env_script.display()
                ))
                .arg("moto_server");
            c
        };
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let mut moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        moto.wait_until_up(&port);
        moto
    }

    fn wait_until_up(&mut self, port: &str) {
        // The first run may be creating the virtualenv.
        let until = Instant::now() + Duration::from_secs(300);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto_server exited early: {status}");
            }
            if answers(port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto_server did not answer on port {port}");
    }
}

/// moto answers HTTP (not only accepts connections).
fn answers(port: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(format!("127.0.0.1:{port}")) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut head = [0; 12];
    s.write_all(request.as_bytes()).is_ok()
        && s.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.")
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
