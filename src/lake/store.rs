//! Where exports are read and lakes written: a local folder, or a bucket and key prefix on S3.
//! One small interface (get, put, list) over both, with keys relative to the folder, so the
//! export reader and the lake writer do not care which side they are on.
//!
//! * A local folder is written the way the lake has always been: whole objects only (written
//!   under a hidden temporary name, then renamed), so a reader never sees half an object.
//! * On S3, objects are read as a stream (a bounded read-ahead, never the whole object in
//!   memory) and written with one `PutObject` each, which S3 makes visible only when complete.
//!   With a KMS key, every `PutObject` asks for SSE-KMS with that key
//!   (`x-amz-server-side-encryption: aws:kms`, `x-amz-server-side-encryption-aws-kms-key-id`),
//!   which is what the stacks' bucket policies require of writers that name an encryption
//!   (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/specifying-kms-encryption.html>).
//!
//! The interface is blocking, as the export reader and the lake writer are: S3 calls run on a
//! Tokio runtime ([`S3Access`]) and are waited for with [`Handle::block_on`], so they must not
//! be made from inside that runtime's tasks (use `spawn_blocking`, as the Lambda handler does).
//! Errors are [`std::io::Error`]s (S3's error code and message in the text, `NotFound` and
//! `PermissionDenied` kinds where S3 says so), so callers report both sides alike.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
use bytes::{Buf, Bytes};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use thiserror::Error;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::mpsc;

/// Chunks of an S3 object read ahead of the reader: enough to keep the connection busy while
/// the reader works, few enough that memory stays bounded (a chunk is one HTTP body frame, KiBs
/// to a few hundred KiB).
const READ_AHEAD_CHUNKS: usize = 16;

/// Attempts per S3 call (the SDK's standard retry mode: exponential backoff with jitter on
/// throttling, 5xx and connection errors).
const S3_ATTEMPTS: u32 = 5;

/// A folder named on the command line or in an event: `s3://bucket/prefix/` or a local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    /// `prefix` is empty or ends in `/`.
    S3 {
        bucket: String,
        prefix: String,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0:?} is not an S3 folder: write s3://<bucket>/ or s3://<bucket>/<prefix>/")]
pub struct BadLocation(pub String);

impl Location {
    /// `s3://bucket`, `s3://bucket/` and `s3://bucket/a/b` (read as the folder `a/b/`) are S3
    /// folders; anything else is a local path.
    pub fn parse(text: &str) -> Result<Location, BadLocation> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(Location::Local(PathBuf::from(text)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // Bucket naming rules, loosely: what could never be a bucket is refused here rather
        // than by S3 after the first request.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok || prefix.starts_with('/') || prefix.contains("//") {
            return Err(BadLocation(text.to_owned()));
        }
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Location::S3 {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// An S3 client and the runtime its calls run on.
pub struct S3Access {
    client: Client,
    handle: Handle,
    /// Owned when this access started its own runtime (the command); kept alive with it.
    _runtime: Option<Runtime>,
}

impl S3Access {
    /// Starts a runtime for S3 I/O (two worker threads: the calls wait on the network, the CPU
    /// work is elsewhere) and a client configured from the environment.
    pub fn start() -> io::Result<S3Access> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3-io")
            .enable_all()
            .build()?;
        let client = runtime.block_on(client_from_environment());
        Ok(S3Access {
            client,
            handle: runtime.handle().clone(),
            _runtime: Some(runtime),
        })
    }

    /// S3 calls made with `client` on the runtime of `handle` (e.g. the Lambda runtime's).
    pub fn with(client: Client, handle: Handle) -> S3Access {
        S3Access {
            client,
            handle,
            _runtime: None,
        }
    }
}

/// An S3 client from the standard AWS configuration (environment, profile, instance role).
/// When the S3 endpoint is overridden (`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`: moto,
/// MinIO), buckets are addressed path-style, as such endpoints expect.
pub async fn client_from_environment() -> Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    client_for(&shared)
}

/// [`client_from_environment`] from settings already loaded (by a Lambda that makes other
/// clients from them too).
pub fn client_for(shared: &aws_config::SdkConfig) -> Client {
    let overridden = shared.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty());
    let config = aws_sdk_s3::config::Builder::from(shared)
        .force_path_style(overridden)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(S3_ATTEMPTS))
        .build();
    Client::from_conf(config)
}

/// A folder to read objects from and write objects to. Cheap to clone; safe to share between
/// threads.
#[derive(Debug, Clone)]
pub struct Store(Inner);

#[derive(Debug, Clone)]
enum Inner {
    Local(PathBuf),
    S3(Arc<S3Folder>),
}

#[derive(Debug)]
struct S3Folder {
    client: Client,
    handle: Handle,
    bucket: String,
    /// Empty or ending in `/`.
    prefix: String,
    kms_key_id: Option<String>,
}

/// An object opened for reading.
pub struct Object {
    pub reader: Box<dyn Read + Send>,
    /// Its size in bytes.
    pub len: u64,
}

impl Store {
    pub fn local(dir: impl Into<PathBuf>) -> Store {
        Store(Inner::Local(dir.into()))
    }

    /// The folder at `location`; an S3 location needs `s3`. `kms_key_id` (S3 only) is the key
    /// every object put is encrypted with (SSE-KMS); without it the bucket's default applies.
    pub fn open(
        location: &Location,
        s3: Option<&S3Access>,
        kms_key_id: Option<&str>,
    ) -> io::Result<Store> {
        match location {
            Location::Local(path) => Ok(Store::local(path)),
            Location::S3 { bucket, prefix } => {
                let s3 =
                    s3.ok_or_else(|| io::Error::other(format!("no S3 client for {location}")))?;
                Ok(Store(Inner::S3(Arc::new(S3Folder {
                    client: s3.client.clone(),
                    handle: s3.handle.clone(),
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    kms_key_id: kms_key_id.map(str::to_owned),
                }))))
            }
        }
    }

    /// The local folder, when this is one.
    pub fn local_dir(&self) -> Option<&Path> {
        match &self.0 {
            Inner::Local(dir) => Some(dir),
            Inner::S3(_) => None,
        }
    }

    pub fn location(&self) -> Location {
        match &self.0 {
            Inner::Local(dir) => Location::Local(dir.clone()),
            Inner::S3(s3) => Location::S3 {
                bucket: s3.bucket.clone(),
                prefix: s3.prefix.clone(),
            },
        }
    }

    /// The sub-folder `folder` (empty or ending in `/`) as a store of its own.
    pub fn child(&self, folder: &str) -> Store {
        match &self.0 {
            Inner::Local(dir) => Store::local(dir.join(folder)),
            Inner::S3(s3) => Store(Inner::S3(Arc::new(S3Folder {
                client: s3.client.clone(),
                handle: s3.handle.clone(),
                bucket: s3.bucket.clone(),
                prefix: format!("{}{folder}", s3.prefix),
                kms_key_id: s3.kms_key_id.clone(),
            }))),
        }
    }

    /// Where `key` is, for messages: a path, or `s3://bucket/prefix/key`.
    pub fn display(&self, key: &str) -> PathBuf {
        match &self.0 {
            Inner::Local(dir) => dir.join(key),
            Inner::S3(s3) => PathBuf::from(format!("s3://{}/{}{key}", s3.bucket, s3.prefix)),
        }
    }

    /// Opens the object `key` for reading, as a stream.
    pub fn get(&self, key: &str) -> io::Result<Object> {
        match &self.0 {
            Inner::Local(dir) => {
                let file = File::open(dir.join(key))?;
                let len = file.metadata()?.len();
                Ok(Object {
                    reader: Box::new(file),
                    len,
                })
            }
            Inner::S3(s3) => s3.get(key),
        }
    }

    /// The whole object `key` (for small objects: manifests, reports).
    pub fn read_all(&self, key: &str) -> io::Result<Vec<u8>> {
        let mut object = self.get(key)?;
        let mut bytes = Vec::with_capacity(usize::try_from(object.len).unwrap_or(0));
        object.reader.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Writes the object `key` whole, replacing any object of that name.
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> io::Result<()> {
        match &self.0 {
            Inner::Local(dir) => put_local(&dir.join(key), &bytes),
            Inner::S3(s3) => s3.put(key, bytes),
        }
    }

    /// The keys of every object under `folder` (empty or ending in `/`), relative to this
    /// store, sorted. Hidden local files (unfinished objects) are left out.
    pub fn list(&self, folder: &str) -> io::Result<Vec<String>> {
        let mut keys = match &self.0 {
            Inner::Local(dir) => list_local(dir, folder)?,
            Inner::S3(s3) => s3.list(folder)?,
        };
        keys.sort();
        Ok(keys)
    }
}

fn put_local(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("object");
    let temp = dir.join(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = File::create(&temp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

fn list_local(root: &Path, folder: &str) -> io::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut stack = vec![root.join(folder)];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                keys.push(parts.join("/"));
            }
        }
    }
    Ok(keys)
}

/// `prefix` (empty or ending in `/`) and `key`, each leading `../` of `key` taking one folder off
/// `prefix`.
fn join_key(prefix: &str, key: &str) -> String {
    let mut prefix = prefix;
    let mut rest = key;
    while let Some(after) = rest.strip_prefix("../") {
        let folder = prefix.strip_suffix('/').unwrap_or(prefix);
        prefix = folder.rfind('/').map_or("", |i| &folder[..=i]);
        rest = after;
    }
    format!("{prefix}{rest}")
}

impl S3Folder {
    /// The object key of `key`, which may climb out of the prefix with leading `../` (an
    /// incremental export's data files sit in the export prefix's shared `data/` folder).
    fn key(&self, key: &str) -> String {
        join_key(&self.prefix, key)
    }

    fn get(&self, key: &str) -> io::Result<Object> {
        let full = self.key(key);
        let output = self
            .handle
            .block_on(
                self.client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(&full)
                    .send(),
            )
            .map_err(|e| s3_error("GetObject", e))?;
        let len = output
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        let (sender, receiver) = mpsc::channel(READ_AHEAD_CHUNKS);
        let mut body = output.body;
        // Reads ahead while the reader works; stops when the reader is dropped.
        self.handle.spawn(async move {
            loop {
                let chunk = match body.next().await {
                    None => break,
                    Some(Ok(bytes)) => Ok(bytes),
                    Some(Err(e)) => Err(io::Error::other(format!(
                        "reading the object's body: {}",
                        DisplayErrorContext(&e)
                    ))),
                };
                let failed = chunk.is_err();
                if sender.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Object {
            reader: Box::new(S3Body {
                receiver,
                current: Bytes::new(),
                done: false,
            }),
            len,
        })
    }

    fn put(&self, key: &str, bytes: Vec<u8>) -> io::Result<()> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .body(ByteStream::from(bytes));
        if let Some(kms_key_id) = &self.kms_key_id {
            request = request
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms_key_id);
        }
        self.handle
            .block_on(request.send())
            .map(|_| ())
            .map_err(|e| s3_error("PutObject", e))
    }

    fn list(&self, folder: &str) -> io::Result<Vec<String>> {
        let prefix = self.key(folder);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        self.handle.block_on(async {
            let mut keys = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| s3_error("ListObjectsV2", e))?;
                for object in page.contents() {
                    if let Some(rel) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) {
                        keys.push(rel.to_owned());
                    }
                }
            }
            Ok(keys)
        })
    }
}

/// An S3 object's body as a blocking reader, fed by the read-ahead task.
struct S3Body {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    done: bool,
}

impl Read for S3Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.receiver.blocking_recv() {
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                None => self.done = true,
            }
        }
        let n = buf.len().min(self.current.len());
        self.current.copy_to_slice(&mut buf[..n]);
        Ok(n)
    }
}

/// An S3 call's failure as an I/O error: S3's code and message (or the transport's reason), the
/// kind `NotFound` or `PermissionDenied` where the status says so.
fn s3_error<E, R>(operation: &str, error: SdkError<E, R>) -> io::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = error.code().map(str::to_owned);
    let kind = match code.as_deref() {
        Some("NoSuchKey" | "NoSuchBucket" | "NotFound") => io::ErrorKind::NotFound,
        Some("AccessDenied" | "Forbidden" | "KMS.AccessDeniedException") => {
            io::ErrorKind::PermissionDenied
        }
        _ => io::ErrorKind::Other,
    };
    let text = match (&code, error.message()) {
        (Some(code), Some(message)) => format!("S3 {operation}: {code}: {message}"),
        (Some(code), None) => format!("S3 {operation}: {code}"),
        _ => format!("S3 {operation}: {}", DisplayErrorContext(&error)),
    };
    io::Error::new(kind, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_may_climb_out_of_the_prefix() {
        assert_eq!(
            join_key("x/AWSDynamoDB/01-ab/", "data/f.json.gz"),
            "x/AWSDynamoDB/01-ab/data/f.json.gz"
        );
        assert_eq!(
            join_key("x/AWSDynamoDB/01-ab/", "../data/f.json.gz"),
            "x/AWSDynamoDB/data/f.json.gz"
        );
        assert_eq!(join_key("AWSDynamoDB/", "../../data/f"), "data/f");
        assert_eq!(join_key("", "../data/f"), "data/f");
    }

    #[test]
    fn locations() {
        assert_eq!(
            Location::parse("s3://lake-bucket/"),
            Ok(Location::S3 {
                bucket: "lake-bucket".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            Location::parse("s3://exports/x/AWSDynamoDB/0123-ab"),
            Ok(Location::S3 {
                bucket: "exports".into(),
                prefix: "x/AWSDynamoDB/0123-ab/".into()
            })
        );
        assert_eq!(
            Location::parse("s3://lake").map(|l| l.to_string()),
            Ok("s3://lake/".into())
        );
        assert_eq!(
            Location::parse("exports/x"),
            Ok(Location::Local("exports/x".into()))
        );
        for bad in [
            "s3://",
            "s3://UPPER/",
            "s3://b/",
            "s3://bucket//x",
            "s3://bucket/a//b",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_local_folder_lists_gets_and_puts_whole_objects() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::local(dir.path());
        store.put("a/b/one.gz", b"1".to_vec()).unwrap();
        store.put("a/two.json", b"22".to_vec()).unwrap();
        store.put("other/three", b"333".to_vec()).unwrap();
        // An unfinished object, as a crashed writer leaves it.
        std::fs::write(dir.path().join("a/.half.tmp"), b"x").unwrap();
        assert_eq!(store.list("a/").unwrap(), ["a/b/one.gz", "a/two.json"]);
        assert_eq!(store.list("").unwrap().len(), 3);
        assert!(store.list("nothing/").unwrap().is_empty());
        let object = store.get("a/two.json").unwrap();
        assert_eq!(object.len, 2);
        assert_eq!(store.read_all("a/two.json").unwrap(), b"22");
        // Replacing is whole: no temporary files are left behind.
        store.put("a/two.json", b"4444".to_vec()).unwrap();
        assert_eq!(store.read_all("a/two.json").unwrap(), b"4444");
        let child = store.child("a/");
        assert_eq!(child.list("").unwrap(), ["b/one.gz", "two.json"]);
        assert_eq!(
            store.get("missing").err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
    }
}
