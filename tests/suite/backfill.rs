//! `ddb-lake backfill`: a DynamoDB export to S3 (DYNAMODB_JSON) into the local lake, streamed.

use crate::common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::lake_files::{files, gunzip, gzip};
use ddb_lake::export::{Export, ExportError};
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ddb-lake");
const EXPORT_ID: &str = "01700000000000-abcdef12";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-records/export")
}

fn backfill(export: &Path, lake: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("backfill")
        .arg(export)
        .arg("--lake")
        .arg(lake)
        .args(extra)
        .env_remove("FLATTEN_SEPARATOR")
        .env_remove("METADATA_PREFIX")
        .env_remove("LIST_MODE")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The one line of a failed run, checked to be a clean message.
fn failure(out: Output) -> String {
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let line = stderr.trim().to_owned();
    assert!(line.starts_with("ddb-lake: "), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(!line.contains("panicked"), "{line}");
    line
}

fn md5_base64(bytes: &[u8]) -> String {
    STANDARD.encode(md5::compute(bytes).0)
}

/// Writes an export in the documented layout into `dir`: one data file per entry of `files`
/// (its name stem and its gzip'd bytes), each claimed to hold `claimed` items (None: its lines).
fn write_export(dir: &Path, files: &[(&str, Vec<u8>, Option<u64>)], summary_items: Option<u64>) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let mut manifest = String::new();
    let mut total = 0;
    for (stem, bytes, claimed) in files {
        std::fs::write(dir.join(format!("data/{stem}.json.gz")), bytes).unwrap();
        let lines = gunzip_bytes(bytes).lines().count() as u64;
        let count = claimed.unwrap_or(lines);
        total += count;
        manifest += &serde_json::json!({
            "itemCount": count,
            "md5Checksum": md5_base64(bytes),
            "etag": format!("{:x}-1", md5::compute(bytes)),
            "dataFileS3Key": format!("exports/AWSDynamoDB/{EXPORT_ID}/data/{stem}.json.gz"),
        })
        .to_string();
        manifest.push('\n');
    }
    std::fs::write(dir.join("manifest-files.json"), manifest).unwrap();
    let summary = serde_json::json!({
        "version": "2020-06-30",
        "exportArn": format!("arn:aws:dynamodb:us-west-2:123456789012:table/things/export/{EXPORT_ID}"),
        "startTime": "2023-11-14T22:13:21.000Z",
        "endTime": "2023-11-14T22:20:00.000Z",
        "tableArn": "arn:aws:dynamodb:us-west-2:123456789012:table/things",
        "tableId": "00000000-0000-0000-0000-000000000000",
        "exportTime": "2023-11-14T22:13:20.123Z",
        "s3Bucket": "bucket",
        "s3Prefix": "exports",
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": null,
        "manifestFilesS3Key": format!("exports/AWSDynamoDB/{EXPORT_ID}/manifest-files.json"),
        "billedSizeBytes": 0,
        "itemCount": summary_items.unwrap_or(total),
        "outputFormat": "DYNAMODB_JSON",
    });
    std::fs::write(dir.join("manifest-summary.json"), summary.to_string()).unwrap();
}

fn gunzip_bytes(bytes: &[u8]) -> String {
    let mut text = String::new();
    MultiGzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// `n` item lines of about 700 bytes, `{"Item":{"id":{"S":"<prefix><i>"},…}}`.
fn items(prefix: &str, n: usize) -> String {
    let body = "lorem ipsum dolor sit amet ".repeat(20);
    (0..n)
        .map(|i| {
            format!(
                r#"{{"Item":{{"id":{{"S":"{prefix}{i}"}},"n":{{"N":"{i}.5"}},"doc":{{"M":{{"title":{{"S":"item {i} of a generated export"}},"body":{{"S":"{body}"}},"tags":{{"SS":["a","b"]}}}}}}}}}}"#
            ) + "\n"
        })
        .collect()
}

#[test]
fn the_fixture_becomes_insert_rows_at_the_export_time() {
    let lake = tempfile::tempdir().unwrap();
    let summary = ok(backfill(&fixture(), lake.path(), &[]));
    assert!(
        summary.starts_with(
            "backfilled 5 items of table orders as of 2025-11-20T08:00:00.000Z \
             (export 01763625600000-5a1e0b7c): 5 rows, 0 failed"
        ),
        "{summary}"
    );
    let names = files(lake.path());
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    let prefix = "lake/table=orders/year=2025/month=11/day=20/hour=08/\
                  ddb-lake-backfill-1-2025-11-20-08-00-00-";
    assert!(name.starts_with(prefix) && name.ends_with(".gz"), "{name}");
    let rows: Vec<serde_json::Value> = gunzip(&lake.path().join(name))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 5);
    let first = &rows[0];
    assert_eq!(
        first["_event_id"],
        "export:01763625600000-5a1e0b7c:3kxqbvuzvq7ovm4yiwrlmqw5ha:1"
    );
    assert_eq!(first["_event_name"], "INSERT");
    assert_eq!(first["_event_time"], "2025-11-20T08:00:00.000000Z");
    assert_eq!(first["_table_name"], "orders");
    assert_eq!(first["_aws_region"], "eu-central-1");
    assert_eq!(first["_is_deleted"], false);
    assert!(first.get("_kinesis_sequence_number").is_none());
    assert_eq!(first["address_city"], "Zürich");
    assert_eq!(first["tags"], serde_json::json!(["gift"]));
    assert_eq!(
        rows[4]["_event_id"],
        "export:01763625600000-5a1e0b7c:7hqzv5yx3e4j3n2sdkz7xq2y4e:2"
    );
    // Loading the same export again rewrites the same objects: nothing is added.
    ok(backfill(&fixture(), lake.path(), &[]));
    assert_eq!(files(lake.path()), names);
}

#[test]
fn items_stream_file_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let files_in: Vec<(String, Vec<u8>)> = (0..3)
        .map(|f| {
            (
                format!("file{f}"),
                gzip(items(&format!("f{f}-"), 1000).as_bytes()),
            )
        })
        .collect();
    let with_counts: Vec<(&str, Vec<u8>, Option<u64>)> = files_in
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone(), None))
        .collect();
    write_export(&export, &with_counts, None);
    let opened = Export::open(&export).unwrap();
    assert_eq!(opened.item_count, 3000);
    assert_eq!(opened.table_name, "things");
    assert_eq!(opened.region, "us-west-2");
    assert_eq!(opened.export_id, EXPORT_ID);
    let mut all = opened.items(true);
    let first = all.next().unwrap().unwrap();
    assert_eq!((first.file, first.line), (0, 1));
    assert!(first.text.starts_with(br#"{"Item":{"id":{"S":"f0-0"}"#));
    assert_eq!(all.by_ref().take(999).count(), 999);
    // The iterator holds one file at a time: the third is read only when reached, so removing
    // it now makes the iteration fail there, after the second file's items.
    std::fs::remove_file(export.join("data/file2.json.gz")).unwrap();
    let rest: Vec<_> = all.collect();
    assert_eq!(rest.len(), 1001);
    assert!(rest[..1000].iter().all(Result::is_ok));
    assert!(
        matches!(rest[1000], Err(ExportError::Io { .. })),
        "{:?}",
        rest[1000]
    );
}

#[test]
fn a_large_export_is_loaded_in_constant_memory() {
    // 4 data files of 25,000 items (~70 MB of item text in all): holding them, or their rows,
    // would take far more memory than streaming through.
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let text = items("x", 25_000);
    let bytes = gzip(text.as_bytes());
    let uncompressed = 4 * text.len();
    let parts: Vec<(&str, Vec<u8>, Option<u64>)> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| (*n, bytes.clone(), None))
        .collect();
    write_export(&export, &parts, None);
    let lake = dir.path().join("lake");
    let summary = ok(backfill(&export, &lake, &["--object-mib", "8"]));
    assert!(summary.contains("100000 rows, 0 failed"), "{summary}");
    let rows: usize = files(&lake)
        .iter()
        .map(|f| gunzip(&lake.join(f)).lines().count())
        .sum();
    assert_eq!(rows, 100_000);
    let Some(peak) = summary
        .split("peak memory ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse::<f64>().ok())
    else {
        return; // no /proc on this system: nothing to measure
    };
    let input_mib = uncompressed as f64 / (1 << 20) as f64;
    assert!(input_mib > 60.0, "{input_mib}");
    assert!(
        peak < 48.0,
        "peak memory {peak} MiB for {input_mib:.0} MiB of items: not streaming"
    );
}

#[test]
fn bad_items_go_to_the_error_layout_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let collision = r#"{"Item":{"id":{"S":"c"},"a_b":{"S":"x"},"a":{"M":{"b":{"S":"y"}}}}}"#;
    let not_json = r#"{"Item":{"id":"#;
    let text = format!("{}{collision}\n{not_json}\n", items("ok", 2));
    write_export(&export, &[("mixed", gzip(text.as_bytes()), None)], None);
    let lake = dir.path().join("lake");
    let summary = ok(backfill(&export, &lake, &[]));
    assert!(
        summary.contains("2 rows, 2 failed (column_collision 1, not_json 1)"),
        "{summary}"
    );
    let names = files(&lake);
    let errors: Vec<&String> = names.iter().filter(|n| n.starts_with("errors/")).collect();
    assert_eq!(errors.len(), 1, "{names:?}");
    assert!(errors[0].starts_with(
        "errors/backfill-failed/year=2023/month=11/day=14/hour=22/ddb-lake-backfill-1-2023-11-14-22-13-20-"
    ));
    let lines: Vec<serde_json::Value> = gunzip(&lake.join(errors[0]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let raw: Vec<String> = lines
        .iter()
        .map(|l| {
            String::from_utf8(STANDARD.decode(l["rawData"].as_str().unwrap()).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(raw, [collision, not_json]);
    assert_eq!(lines[0]["errorCode"], "column_collision");
    assert_eq!(lines[0]["arrivalTimestamp"], 1_700_000_000_123u64);
    // The reason, never the item's contents.
    assert!(!lines[0]["errorMessage"].as_str().unwrap().contains("x"));
}

#[test]
fn manifest_problems_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let good = gzip(items("i", 3).as_bytes());

    let export = dir.path().join("summary-count");
    write_export(&export, &[("one", good.clone(), None)], Some(4));
    let line = failure(backfill(&export, &lake, &[]));
    assert!(
        line.contains("manifest-files.json") && line.contains("should hold 4 items"),
        "{line}"
    );

    let export = dir.path().join("file-count");
    write_export(&export, &[("one", good.clone(), Some(5))], None);
    let line = failure(backfill(&export, &lake, &[]));
    assert!(
        line.contains("one.json.gz should hold 5 items") && line.contains("holds 3"),
        "{line}"
    );

    let export = dir.path().join("damaged");
    write_export(&export, &[("one", good.clone(), None)], None);
    let mut damaged = good.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    std::fs::write(export.join("data/one.json.gz"), &damaged).unwrap();
    let line = failure(backfill(&export, &lake, &[]));
    assert!(line.contains("does not match its md5Checksum"), "{line}");
    // Without the check the damage still shows, as the gzip trailer no longer matches.
    let line = failure(backfill(&export, &lake, &["--skip-checksums"]));
    assert!(line.contains("one.json.gz"), "{line}");

    let export = dir.path().join("ion");
    write_export(&export, &[("one", good.clone(), None)], None);
    let summary = std::fs::read_to_string(export.join("manifest-summary.json")).unwrap();
    std::fs::write(
        export.join("manifest-summary.json"),
        summary.replace("DYNAMODB_JSON", "ION"),
    )
    .unwrap();
    let line = failure(backfill(&export, &lake, &[]));
    assert!(line.contains("ION format"), "{line}");

    let export = dir.path().join("missing-file");
    write_export(&export, &[("one", good, None)], None);
    std::fs::remove_file(export.join("data/one.json.gz")).unwrap();
    let line = failure(backfill(&export, &lake, &[]));
    assert!(
        line.contains("cannot read") && line.contains("one.json.gz"),
        "{line}"
    );

    let line = failure(backfill(&dir.path().join("nowhere"), &lake, &[]));
    assert!(line.contains("manifest-summary.json"), "{line}");
}
