//! `ddb-lake backfill` with S3 on either side, against a real S3 API (moto_server), and the
//! backfill Lambda (`backfill-lambda`) against moto's S3 and a local Lambda Runtime API: the
//! same lake objects as a local backfill, whatever the side, the parallelism or the route;
//! SSE-KMS with the given key; re-runs rewrite the same objects; failures are reported.

use crate::common::lake_files::{files, gzip};
use crate::common::run::{backfill, failure, ok};
use crate::common::runtime_api::{Posted, RuntimeApi};
use crate::moto::{self, Moto};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::read::MultiGzDecoder;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ddb-lake");
const LAMBDA: &str = env!("CARGO_BIN_EXE_backfill-lambda");
const EXPORT_ID: &str = "01700000000000-0badcafe";
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// Where the export sits in its bucket, as DynamoDB writes it.
const EXPORT_FOLDER: &str = "exports/AWSDynamoDB/01700000000000-0badcafe/";

/// `n` item lines of about 500 bytes.
fn items(prefix: &str, n: usize) -> String {
    let body = "lorem ipsum dolor sit amet ".repeat(12);
    (0..n)
        .map(|i| {
            format!(
                r#"{{"Item":{{"id":{{"S":"{prefix}{i}"}},"n":{{"N":"{i}.25"}},"doc":{{"M":{{"body":{{"S":"{body}"}},"tags":{{"SS":["a","b"]}}}}}}}}}}"#
            ) + "\n"
        })
        .collect()
}

/// An export of `files` (stem, item lines) in the documented layout, in the folder `dir`.
fn write_export(dir: &Path, files: &[(&str, String)]) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let mut manifest = String::new();
    let mut total = 0;
    for (stem, text) in files {
        let bytes = gzip(text.as_bytes());
        std::fs::write(dir.join(format!("data/{stem}.json.gz")), &bytes).unwrap();
        let count = text.lines().count() as u64;
        total += count;
        manifest += &json!({
            "itemCount": count,
            "md5Checksum": STANDARD.encode(md5::compute(&bytes).0),
            "etag": format!("{:x}-1", md5::compute(&bytes)),
            "dataFileS3Key": format!("{EXPORT_FOLDER}data/{stem}.json.gz"),
        })
        .to_string();
        manifest.push('\n');
    }
    std::fs::write(dir.join("manifest-files.json"), manifest).unwrap();
    let summary = json!({
        "version": "2020-06-30",
        "exportArn": format!("arn:aws:dynamodb:us-east-1:123456789012:table/things/export/{EXPORT_ID}"),
        "tableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/things",
        "exportTime": "2023-11-14T22:13:20.123Z",
        "s3Bucket": "exports",
        "s3Prefix": "exports",
        "manifestFilesS3Key": format!("{EXPORT_FOLDER}manifest-files.json"),
        "itemCount": total,
        "outputFormat": "DYNAMODB_JSON",
        "exportType": "FULL_EXPORT",
    });
    std::fs::write(dir.join("manifest-summary.json"), summary.to_string()).unwrap();
}

/// Four data files of different sizes, one with two items that cannot be rows, one empty.
fn sample_export(dir: &Path) {
    let collision = r#"{"Item":{"id":{"S":"c"},"a_b":{"S":"x"},"a":{"M":{"b":{"S":"y"}}}}}"#;
    let mixed = format!("{}{collision}\n{{\"Item\":{{\"id\":\n", items("m", 40));
    write_export(
        dir,
        &[
            ("aaaaaaaaaaaaaaaaaaaaaaaaaa", items("a", 700)),
            ("bbbbbbbbbbbbbbbbbbbbbbbbbb", mixed),
            ("cccccccccccccccccccccccccc", items("c", 1500)),
            ("dddddddddddddddddddddddddd", String::new()),
        ],
    );
}

struct S3 {
    moto: Moto,
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl S3 {
    fn start() -> S3 {
        let moto = Moto::start();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = runtime.block_on(async {
            let shared = moto::sdk_config(&moto.endpoint).await;
            Client::from_conf(
                aws_sdk_s3::config::Builder::from(&shared)
                    .force_path_style(true)
                    .build(),
            )
        });
        S3 {
            moto,
            runtime,
            client,
        }
    }

    fn create_bucket(&self, bucket: &str) {
        self.runtime
            .block_on(self.client.create_bucket().bucket(bucket).send())
            .unwrap();
    }

    fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        self.runtime
            .block_on(
                self.client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from(bytes))
                    .send(),
            )
            .unwrap();
    }

    /// Copies the local folder `dir` to `bucket` under `prefix`.
    fn upload(&self, dir: &Path, bucket: &str, prefix: &str) {
        for name in files(dir) {
            self.put(
                bucket,
                &format!("{prefix}{name}"),
                std::fs::read(dir.join(&name)).unwrap(),
            );
        }
    }

    /// Every object in `bucket` under `prefix`: key (without the prefix) → bytes.
    fn objects(&self, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        self.runtime.block_on(async {
            let mut out = BTreeMap::new();
            let listed = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .send()
                .await
                .unwrap();
            for object in listed.contents() {
                let key = object.key().unwrap();
                let got = self
                    .client
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .unwrap();
                let bytes = got.body.collect().await.unwrap().into_bytes().to_vec();
                out.insert(key.strip_prefix(prefix).unwrap().to_owned(), bytes);
            }
            out
        })
    }

    /// The encryption S3 recorded for an object: (algorithm, key).
    fn encryption(&self, bucket: &str, key: &str) -> (Option<String>, Option<String>) {
        let head = self
            .runtime
            .block_on(self.client.head_object().bucket(bucket).key(key).send())
            .unwrap();
        (
            head.server_side_encryption().map(|e| e.as_str().to_owned()),
            head.ssekms_key_id().map(str::to_owned),
        )
    }

    /// `ddb-lake backfill EXPORT --lake LAKE [extra]` with this S3 as the standard AWS
    /// configuration would point at it.
    fn backfill(&self, export: &str, lake: &str, extra: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        command.arg("backfill").arg(export).arg("--lake").arg(lake);
        self.aws_env(&mut command);
        command.args(extra).output().unwrap()
    }

    fn aws_env(&self, command: &mut Command) {
        command
            .env("AWS_ENDPOINT_URL_S3", &self.moto.endpoint)
            .env("AWS_REGION", moto::REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .env_remove("FLATTEN_SEPARATOR")
            .env_remove("METADATA_PREFIX")
            .env_remove("LIST_MODE")
            .env_remove("RUST_LOG");
    }
}

/// Every file of a local lake: relative path → bytes.
fn local_objects(root: &Path) -> BTreeMap<String, Vec<u8>> {
    files(root)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(root.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    MultiGzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn rows(objects: &BTreeMap<String, Vec<u8>>, prefix: &str) -> usize {
    objects
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| gunzip(v).lines().count())
        .sum()
}

#[test]
fn an_export_in_s3_becomes_the_same_objects_in_the_lake_bucket_as_in_a_local_lake() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    sample_export(&export);
    let local = dir.path().join("lake-local");
    let summary = ok(backfill(&export, &local, &[]));
    assert!(
        summary.contains("backfilled 2242 items") && summary.contains("2240 rows, 2 failed"),
        "{summary}"
    );
    let expected = local_objects(&local);
    // One object per data file with items; one error object for the file with bad items.
    assert_eq!(expected.len(), 4, "{:?}", expected.keys());
    assert_eq!(rows(&expected, "lake/"), 2240);

    let s3 = S3::start();
    s3.create_bucket("exports");
    s3.create_bucket("lake-bucket");
    s3.upload(&export, "exports", EXPORT_FOLDER);
    let from = format!("s3://exports/{EXPORT_FOLDER}");
    let summary = ok(s3.backfill(&from, "s3://lake-bucket/", &["--kms-key-id", KMS_KEY]));
    assert!(summary.contains("2240 rows, 2 failed"), "{summary}");
    assert!(summary.contains("lake s3://lake-bucket/:"), "{summary}");
    let written = s3.objects("lake-bucket", "");
    // Same keys, same names, same bytes.
    assert_eq!(written, expected);
    for key in written.keys() {
        assert_eq!(
            s3.encryption("lake-bucket", key),
            (Some("aws:kms".to_owned()), Some(KMS_KEY.to_owned())),
            "{key}"
        );
    }

    // Loading again rewrites the same objects: nothing is added.
    ok(s3.backfill(&from, "s3://lake-bucket/", &["--kms-key-id", KMS_KEY]));
    assert_eq!(s3.objects("lake-bucket", ""), expected);

    // Any combination of sides: S3 export into a local lake, local export into a lake under a
    // prefix (without a key: the bucket's default encryption).
    let from_s3 = dir.path().join("lake-from-s3");
    ok(s3.backfill(&from, from_s3.to_str().unwrap(), &["--threads", "1"]));
    assert_eq!(local_objects(&from_s3), expected);
    ok(s3.backfill(
        export.to_str().unwrap(),
        "s3://lake-bucket/tenant-a",
        &["--threads", "3"],
    ));
    let under_prefix = s3.objects("lake-bucket", "tenant-a/");
    assert_eq!(under_prefix, expected);
    let any = under_prefix.keys().next().unwrap();
    assert_eq!(
        s3.encryption("lake-bucket", &format!("tenant-a/{any}")),
        (None, None)
    );
}

#[test]
fn the_objects_do_not_depend_on_the_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    // About 2 MB and 3 MB of rows in two of the files: several 1 MiB objects each.
    write_export(
        &export,
        &[
            ("aaaaaaaaaaaaaaaaaaaaaaaaaa", items("a", 4000)),
            ("bbbbbbbbbbbbbbbbbbbbbbbbbb", items("b", 30)),
            ("cccccccccccccccccccccccccc", items("c", 6000)),
            ("dddddddddddddddddddddddddd", String::new()),
        ],
    );
    let mut lakes = Vec::new();
    for threads in ["1", "2", "4"] {
        let lake = dir.path().join(format!("lake-{threads}"));
        let summary = ok(backfill(
            &export,
            &lake,
            &["--threads", threads, "--object-mib", "1"],
        ));
        assert!(
            summary.contains(&format!("4 data files on {threads} thread")),
            "{summary}"
        );
        lakes.push(local_objects(&lake));
    }
    // Small objects: a file's rows span several, each named by its rows and position.
    assert!(lakes[0].len() >= 6, "{:?}", lakes[0].keys());
    assert_eq!(lakes[0], lakes[1]);
    assert_eq!(lakes[0], lakes[2]);
}

#[test]
fn s3_failures_are_clear_errors_and_a_damaged_file_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    write_export(&export, &[("onlyfileonlyfileonlyfile00", items("x", 50))]);
    let s3 = S3::start();
    s3.create_bucket("exports");
    s3.create_bucket("lake-bucket");

    let line = failure(s3.backfill(
        &format!("s3://exports/{EXPORT_FOLDER}"),
        "s3://lake-bucket/",
        &[],
    ));
    assert!(
        line.contains(&format!(
            "cannot read s3://exports/{EXPORT_FOLDER}manifest-summary.json"
        )) && line.contains("NoSuchKey"),
        "{line}"
    );

    s3.upload(&export, "exports", EXPORT_FOLDER);
    let key = format!("{EXPORT_FOLDER}data/onlyfileonlyfileonlyfile00.json.gz");
    let mut damaged =
        std::fs::read(export.join("data/onlyfileonlyfileonlyfile00.json.gz")).unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    s3.put("exports", &key, damaged);
    let line = failure(s3.backfill(
        &format!("s3://exports/{EXPORT_FOLDER}"),
        "s3://lake-bucket/",
        &[],
    ));
    assert!(
        line.contains(&format!("s3://exports/{key}"))
            && line.contains("does not match its md5Checksum"),
        "{line}"
    );
    assert!(s3.objects("lake-bucket", "").is_empty());

    s3.upload(&export, "exports", EXPORT_FOLDER);
    let line = failure(s3.backfill(
        &format!("s3://exports/{EXPORT_FOLDER}"),
        "s3://no-such-bucket/",
        &["--skip-checksums"],
    ));
    assert!(line.contains("s3://no-such-bucket/"), "{line}");
    let line = failure(s3.backfill("s3://Not_A_Bucket/x/", "s3://lake-bucket/", &[]));
    assert!(line.contains("is not an S3 folder"), "{line}");
    let line = failure(backfill(
        &export,
        &dir.path().join("lake"),
        &["--kms-key-id", KMS_KEY],
    ));
    assert!(line.contains("--kms-key-id"), "{line}");
}

/// The Lambda binary against `api`, its S3 calls going to moto.
fn start_lambda(s3: &S3, api: &RuntimeApi) -> std::process::Child {
    let mut command = api.command_for(LAMBDA, "ddb-lake-backfill");
    s3.aws_env(&mut command);
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

struct Running(std::process::Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn task(action: &str, data_file: Option<&str>) -> Vec<u8> {
    let mut task = json!({
        "action": action,
        "export": format!("s3://exports/{EXPORT_FOLDER}"),
        "lake": "s3://lake-bucket/",
        "kmsKeyId": KMS_KEY,
        "tablePrefix": "lake/",
        "errorPrefix": "errors/",
    });
    if let Some(key) = data_file {
        task["dataFileS3Key"] = json!(key);
    }
    serde_json::to_vec(&task).unwrap()
}

fn body(posted: &Posted) -> Value {
    match posted {
        Posted::Response { body, .. } | Posted::Error { body, .. } => {
            serde_json::from_slice(body).unwrap()
        }
        Posted::InitError { body } => panic!("init error: {}", String::from_utf8_lossy(body)),
    }
}

#[test]
fn the_lambda_loads_one_data_file_per_invocation_and_summarizes() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    sample_export(&export);
    let local = dir.path().join("lake-local");
    ok(backfill(&export, &local, &[]));
    let expected = local_objects(&local);

    let s3 = S3::start();
    s3.create_bucket("exports");
    s3.create_bucket("lake-bucket");
    s3.upload(&export, "exports", EXPORT_FOLDER);
    let key = |stem: &str| format!("{EXPORT_FOLDER}data/{stem}.json.gz");
    let (a, b, c, d) = (
        key("aaaaaaaaaaaaaaaaaaaaaaaaaa"),
        key("bbbbbbbbbbbbbbbbbbbbbbbbbb"),
        key("cccccccccccccccccccccccccc"),
        key("dddddddddddddddddddddddddd"),
    );
    // File c is first damaged (its invocation fails), then repaired: the retry loads it.
    let good_c = std::fs::read(export.join("data/cccccccccccccccccccccccccc.json.gz")).unwrap();
    let mut damaged = good_c.clone();
    damaged[20] ^= 0xff;
    s3.put("exports", &c, damaged);

    let first = vec![
        task("loadDataFile", Some(&a)),
        task("loadDataFile", Some(&b)),
        task("loadDataFile", Some(&c)),
        task("summarize", None),
        task(
            "loadDataFile",
            Some("exports/AWSDynamoDB/elsewhere/data/x.json.gz"),
        ),
        br#"{"action":"loadDataFile","export":"s3://exports/x/"}"#.to_vec(),
    ];
    let api = RuntimeApi::start(first, Duration::from_secs(300));
    let _lambda = Running(start_lambda(&s3, &api));
    let posted = api.wait_for(6, Duration::from_secs(120));
    assert_eq!(posted.len(), 6, "{posted:?}");
    assert!(matches!(posted[0], Posted::Response { .. }), "{posted:?}");
    assert_eq!(
        body(&posted[0]),
        json!({"dataFileS3Key": a, "items": 700, "rows": 700, "failed": 0, "failures": {}, "objects": 1})
    );
    assert_eq!(
        body(&posted[1]),
        json!({"dataFileS3Key": b, "items": 42, "rows": 40, "failed": 2,
               "failures": {"column_collision": 1, "not_json": 1}, "objects": 2})
    );
    assert!(matches!(posted[2], Posted::Error { .. }), "{posted:?}");
    let error = body(&posted[2]);
    assert_eq!(error["errorType"], "DataFileFailed");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("does not match its md5Checksum"),
        "{error}"
    );
    // The summary so far: c failed with its reason, d never ran.
    let summary = body(&posted[3]);
    assert_eq!(summary["files"], 4);
    assert_eq!(summary["filesLoaded"], 2);
    assert_eq!(summary["filesFailed"], 2);
    assert_eq!(summary["items"], 742);
    assert_eq!(summary["rows"], 740);
    assert_eq!(summary["failedItems"], 2);
    assert_eq!(summary["exportItems"], 2242);
    let failed = summary["failedFiles"].as_array().unwrap();
    assert_eq!(failed[0]["dataFileS3Key"], c);
    assert!(failed[0]["error"].as_str().unwrap().contains("md5Checksum"));
    assert_eq!(failed[1]["dataFileS3Key"], d);
    assert!(failed[1]["error"].as_str().unwrap().contains("no attempt"));
    assert_eq!(body(&posted[4])["errorType"], "BadExport");
    assert_eq!(body(&posted[5])["errorType"], "BadInput");

    // The retry, after the file is repaired, and the last file; then everything is there.
    s3.put("exports", &c, good_c);
    let second = vec![
        task("loadDataFile", Some(&c)),
        task("loadDataFile", Some(&d)),
        task("summarize", None),
    ];
    let api = RuntimeApi::start(second, Duration::from_secs(300));
    let _lambda = Running(start_lambda(&s3, &api));
    let posted = api.wait_for(3, Duration::from_secs(120));
    assert_eq!(posted.len(), 3, "{posted:?}");
    let summary = body(&posted[2]);
    assert_eq!(
        (
            &summary["filesLoaded"],
            &summary["filesFailed"],
            &summary["items"],
            &summary["rows"]
        ),
        (&json!(4), &json!(0), &json!(2242), &json!(2240)),
        "{summary}"
    );
    assert_eq!(
        summary["failures"],
        json!({"column_collision": 1, "not_json": 1})
    );
    // The lake holds what the command writes, plus the per-file reports.
    let mut lake = s3.objects("lake-bucket", "");
    let reports: Vec<String> = lake
        .keys()
        .filter(|k| k.starts_with("backfill-reports/"))
        .cloned()
        .collect();
    assert_eq!(reports.len(), 4, "{reports:?}");
    assert!(reports[0].starts_with(&format!("backfill-reports/{EXPORT_ID}/aaaa")));
    for report in &reports {
        assert_eq!(
            s3.encryption("lake-bucket", report).1.as_deref(),
            Some(KMS_KEY)
        );
        lake.remove(report);
    }
    assert_eq!(lake, expected);
}

#[test]
fn an_incremental_export_in_s3_becomes_the_same_change_rows_as_a_local_one() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-records/incremental-export");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("lake-local");
    ok(backfill(&sample, &local, &[]));
    let expected = local_objects(&local);
    assert!(
        expected.keys().any(|k| k.starts_with("lake/_exports/")),
        "{:?}",
        expected.keys()
    );
    assert_eq!(rows(&expected, "lake/table="), 4);

    let s3 = S3::start();
    s3.create_bucket("exports");
    s3.create_bucket("lake-bucket");
    // Where its manifest says: the data files in the export's own folder...
    let folder = "exports/AWSDynamoDB/01763640600000-9e1f2a3b/";
    s3.upload(&sample, "exports", folder);
    let from = format!("s3://exports/{folder}");
    ok(s3.backfill(&from, "s3://lake-bucket/own/", &["--kms-key-id", KMS_KEY]));
    assert_eq!(s3.objects("lake-bucket", "own/"), expected);

    // ...or in the export prefix's shared AWSDynamoDB/data/ folder.
    let shared = "other/AWSDynamoDB/01763640600000-9e1f2a3b/";
    let manifest = std::fs::read_to_string(sample.join("manifest-files.json"))
        .unwrap()
        .replace(&format!("{folder}data/"), "other/AWSDynamoDB/data/");
    s3.put(
        "exports",
        &format!("{shared}manifest-files.json"),
        manifest.into_bytes(),
    );
    s3.put(
        "exports",
        &format!("{shared}manifest-summary.json"),
        std::fs::read(sample.join("manifest-summary.json")).unwrap(),
    );
    for name in files(&sample.join("data")) {
        s3.put(
            "exports",
            &format!("other/AWSDynamoDB/data/{name}"),
            std::fs::read(sample.join("data").join(&name)).unwrap(),
        );
    }
    ok(s3.backfill(
        &format!("s3://exports/{shared}"),
        "s3://lake-bucket/shared/",
        &[],
    ));
    assert_eq!(s3.objects("lake-bucket", "shared/"), expected);
}
