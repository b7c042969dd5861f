//! `ddb-lake backfill`: a DynamoDB export to S3 (DYNAMODB_JSON) into the local lake, streamed.

use crate::common;
use crate::common::run::{backfill, failure, ok};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::lake_files::{files, gunzip, gzip};
use ddb_lake::lake::export::{Export, ExportError};
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ddb-lake");
const EXPORT_ID: &str = "01700000000000-abcdef12";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-records/export")
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
    // One object per data file that holds items (data files are loaded each on its own).
    let names = files(lake.path());
    assert_eq!(names.len(), 2, "{names:?}");
    let prefix = "lake/table=orders/year=2025/month=11/day=20/hour=08/\
                  ddb-lake-backfill-1-2025-11-20-08-00-00-";
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for name in &names {
        assert!(name.starts_with(prefix) && name.ends_with(".gz"), "{name}");
        rows.extend(
            gunzip(&lake.path().join(name))
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    rows.sort_by_key(|r| r["_event_id"].as_str().unwrap_or_default().to_owned());
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

// Incremental exports.

const INCREMENTAL_ID: &str = "01700003600000-fedcba98";

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-records")
        .join(name)
}

/// The rows of every object under `lake/` (not the error layout), by `_event_id`.
fn rows_by_id(lake: &Path) -> std::collections::BTreeMap<String, serde_json::Value> {
    files(lake)
        .iter()
        .filter(|f| f.starts_with("lake/table="))
        .flat_map(|f| {
            gunzip(&lake.join(f))
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .map(|r| (r["_event_id"].as_str().unwrap().to_owned(), r))
        .collect()
}

/// Writes an incremental export whose data files hold `lines`, one file per entry. With
/// `shared_data`, the data files are in the export prefix's shared `AWSDynamoDB/data/` folder
/// (`dir` must then be `<…>/AWSDynamoDB/<ExportId>`).
fn write_incremental_export(dir: &Path, view: &str, files: &[&str], shared_data: bool) {
    let data = if shared_data {
        dir.join("../data")
    } else {
        dir.join("data")
    };
    std::fs::create_dir_all(&data).unwrap();
    let mut manifest = String::new();
    let mut total = 0;
    for (i, lines) in files.iter().enumerate() {
        let bytes = gzip(lines.as_bytes());
        std::fs::write(data.join(format!("part{i}.json.gz")), &bytes).unwrap();
        let count = lines.lines().count() as u64;
        total += count;
        let key = if shared_data {
            format!("exports/AWSDynamoDB/data/part{i}.json.gz")
        } else {
            format!("exports/AWSDynamoDB/{INCREMENTAL_ID}/data/part{i}.json.gz")
        };
        manifest += &serde_json::json!({"itemCount": count, "md5Checksum": md5_base64(&bytes),
            "etag": format!("{:x}-1", md5::compute(&bytes)), "dataFileS3Key": key})
        .to_string();
        manifest.push('\n');
    }
    std::fs::write(dir.join("manifest-files.json"), manifest).unwrap();
    let summary = serde_json::json!({
        "version": "2023-08-01",
        "exportArn": format!("arn:aws:dynamodb:us-west-2:123456789012:table/things/export/{INCREMENTAL_ID}"),
        "startTime": "2023-11-15T00:00:00.000Z",
        "endTime": "2023-11-15T00:05:00.000Z",
        "tableArn": "arn:aws:dynamodb:us-west-2:123456789012:table/things",
        "tableId": "00000000-0000-0000-0000-000000000000",
        "exportFromTime": "2023-11-14T22:00:00.000Z",
        "exportToTime": "2023-11-14T23:00:00.000Z",
        "s3Bucket": "bucket",
        "s3Prefix": "exports",
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": null,
        "manifestFilesS3Key": format!("exports/AWSDynamoDB/{INCREMENTAL_ID}/manifest-files.json"),
        "billedSizeBytes": 0,
        "itemCount": total,
        "outputFormat": "DYNAMODB_JSON",
        "outputView": view,
        "exportType": "INCREMENTAL_EXPORT",
    });
    std::fs::write(dir.join("manifest-summary.json"), summary.to_string()).unwrap();
}

/// An incremental export line changing item `id` at `micros`, with the images given.
fn change_line(micros: u64, id: &str, old: Option<&str>, new: Option<&str>) -> String {
    let image = |status: &str| format!(r#"{{"id":{{"S":"{id}"}},"status":{{"S":"{status}"}}}}"#);
    let mut line = format!(
        r#"{{"Metadata":{{"WriteTimestampMicros":{{"N":"{micros}"}}}},"Keys":{{"id":{{"S":"{id}"}}}}"#
    );
    if let Some(status) = new {
        line += &format!(r#","NewImage":{}"#, image(status));
    }
    if let Some(status) = old {
        line += &format!(r#","OldImage":{}"#, image(status));
    }
    line + "}\n"
}

#[test]
fn incremental_exports_become_change_rows_at_their_change_times() {
    // The same four changes in both view types: an insert (10:15), two updates (10:45, 11:20)
    // and a delete (11:59:59.999999) in [10:05, 12:00).
    let cases = [
        (
            "incremental-export",
            "01763640600000-9e1f2a3b",
            "NEW_AND_OLD_IMAGES",
            ["INSERT", "MODIFY", "MODIFY", "REMOVE"],
        ),
        (
            "incremental-export-new-image",
            "01763640660000-4b5c6d7e",
            "NEW_IMAGE",
            ["MODIFY", "MODIFY", "MODIFY", "REMOVE"],
        ),
    ];
    for (fixture, id, view, names) in cases {
        let lake = tempfile::tempdir().unwrap();
        let summary = ok(backfill(&sample(fixture), lake.path(), &[]));
        assert!(
            summary.starts_with(&format!(
                "backfilled 4 changes of table orders in [2025-11-20T10:05:00.000Z, \
                 2025-11-20T12:00:00.000Z) (incremental export {id}, {view}): 4 rows, 0 failed\n\
                 recorded the export's window in "
            )),
            "{summary}"
        );
        let names_before = files(lake.path());
        // Each row in the partition of its own change time, objects timed by the export's end.
        let day = "lake/table=orders/year=2025/month=11/day=20";
        let objects: Vec<&String> = names_before.iter().filter(|f| f.ends_with(".gz")).collect();
        // One object per data file and partition: each of the two files holds a change of each
        // hour.
        assert_eq!(objects.len(), 4, "{names_before:?}");
        for (object, hour) in objects.iter().zip(["10", "10", "11", "11"]) {
            assert!(object.starts_with(&format!(
                "{day}/hour={hour}/ddb-lake-backfill-1-2025-11-20-12-00-00-"
            )));
        }
        assert!(names_before.contains(&format!("lake/_exports/{id}.json")));

        let rows: Vec<serde_json::Value> = rows_by_id(lake.path()).into_values().collect();
        let mut rows = rows;
        rows.sort_by_key(|r| r["_event_time"].as_str().unwrap().to_owned());
        let got: Vec<(&str, &str, bool)> = rows
            .iter()
            .map(|r| {
                (
                    r["_event_name"].as_str().unwrap(),
                    r["_event_time"].as_str().unwrap(),
                    r["_is_deleted"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (names[0], "2025-11-20T10:15:30.123456Z", false),
                (names[1], "2025-11-20T10:45:00.000001Z", false),
                (names[2], "2025-11-20T11:20:00.500000Z", false),
                (names[3], "2025-11-20T11:59:59.999999Z", true),
            ],
            "{fixture}"
        );
        assert!(rows[0]["_event_id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("incremental-export:{id}:")));
        assert!(rows.iter().all(|r| r["_expired_by_ttl"] == false
            && r["_aws_region"] == "eu-central-1"
            && r.get("_kinesis_sequence_number").is_none()));
        // Updates carry the new image; the delete its old image, or only its keys.
        assert_eq!(rows[1]["status"], "DELIVERED");
        assert_eq!(rows[2]["status"], "SHIPPED");
        assert_eq!(rows[2]["gift"], true);
        let deleted = rows[3].as_object().unwrap();
        assert_eq!(deleted["pk"], "CUSTOMER#00200");
        if view == "NEW_IMAGE" {
            let columns: Vec<&String> = deleted.keys().filter(|k| !k.starts_with('_')).collect();
            assert_eq!(columns, ["pk", "sk"]);
        } else {
            assert_eq!(deleted["status"], "NEW");
        }

        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(lake.path().join(format!("lake/_exports/{id}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            record,
            serde_json::json!({"exportArn": format!("arn:aws:dynamodb:eu-central-1:111122223333:table/orders/export/{id}"),
                "exportId": id, "tableName": "orders", "exportType": "INCREMENTAL_EXPORT",
                "exportFromTime": "2025-11-20T10:05:00.000Z", "exportToTime": "2025-11-20T12:00:00.000Z",
                "outputView": view, "itemCount": 4, "rows": 4, "failedItems": 0})
        );

        // Loading it again rewrites the same objects and record: nothing is added.
        let before: Vec<Vec<u8>> = names_before
            .iter()
            .map(|f| std::fs::read(lake.path().join(f)).unwrap())
            .collect();
        ok(backfill(&sample(fixture), lake.path(), &[]));
        assert_eq!(files(lake.path()), names_before);
        let after: Vec<Vec<u8>> = names_before
            .iter()
            .map(|f| std::fs::read(lake.path().join(f)).unwrap())
            .collect();
        assert_eq!(after, before);
    }
}

#[test]
fn incremental_lines_that_cannot_be_rows_go_to_the_error_layout() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let good = change_line(1_699_999_200_000_001, "a", None, Some("NEW"));
    let no_metadata = r#"{"Keys":{"id":{"S":"b"}},"NewImage":{"id":{"S":"b"}}}"#;
    let bad_time = r#"{"Metadata":{"WriteTimestampMicros":{"N":"soon"}},"Keys":{"id":{"S":"c"}}}"#;
    let nothing = r#"{"Metadata":{"WriteTimestampMicros":{"N":"1699999200000002"}}}"#;
    let full_item = r#"{"Item":{"id":{"S":"d"}}}"#;
    let text = format!("{good}{no_metadata}\n{bad_time}\n{nothing}\n{full_item}\n");
    write_incremental_export(&export, "NEW_AND_OLD_IMAGES", &[&text], false);
    let lake = dir.path().join("lake");
    let summary = ok(backfill(&export, &lake, &[]));
    assert!(
        summary.contains(
            "5 changes of table things in [2023-11-14T22:00:00.000Z, 2023-11-14T23:00:00.000Z) \
             (incremental export 01700003600000-fedcba98, NEW_AND_OLD_IMAGES): 1 row, 4 failed \
             (bad_change_time 1, bad_envelope 2, no_image 1)"
        ),
        "{summary}"
    );
    let names = files(&lake);
    let errors: Vec<&String> = names.iter().filter(|n| n.starts_with("errors/")).collect();
    assert_eq!(errors.len(), 1, "{names:?}");
    // Filed under the export's end, like its rows' objects.
    assert!(errors[0].starts_with(
        "errors/backfill-failed/year=2023/month=11/day=14/hour=23/ddb-lake-backfill-1-2023-11-14-23-00-00-"
    ));
    let raw: Vec<String> = gunzip(&lake.join(errors[0]))
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            String::from_utf8(STANDARD.decode(v["rawData"].as_str().unwrap()).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(raw, [no_metadata, bad_time, nothing, full_item]);
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lake.join(format!("lake/_exports/{INCREMENTAL_ID}.json")))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (record["rows"].as_u64(), record["failedItems"].as_u64()),
        (Some(1), Some(4))
    );
}

#[test]
fn incremental_data_files_in_the_shared_data_folder_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join(format!("AWSDynamoDB/{INCREMENTAL_ID}"));
    std::fs::create_dir_all(&export).unwrap();
    let lines = change_line(1_699_999_200_000_001, "a", None, Some("NEW"))
        + &change_line(1_699_999_300_000_000, "b", Some("OLD"), None);
    write_incremental_export(&export, "NEW_IMAGE", &[&lines], true);
    assert!(!export.join("data").exists());
    let lake = dir.path().join("lake");
    let summary = ok(backfill(&export, &lake, &[]));
    assert!(summary.contains("2 rows, 0 failed"), "{summary}");
    let rows = rows_by_id(&lake);
    let names: Vec<&str> = rows
        .values()
        .map(|r| r["_event_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["MODIFY", "REMOVE"]);
    // The checksums are checked there too.
    std::fs::write(
        dir.path().join("AWSDynamoDB/data/part0.json.gz"),
        gzip(b"{}\n"),
    )
    .unwrap();
    let line = failure(backfill(&export, &lake, &[]));
    assert!(line.contains("does not match its md5Checksum"), "{line}");
}

#[test]
fn incremental_manifest_problems_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let line = change_line(1_699_999_200_000_001, "a", None, Some("NEW"));
    let cases: [(&str, &str, Option<serde_json::Value>, &str); 5] = [
        (
            "view",
            "outputView",
            Some("NEW_AND_OLD".into()),
            "outputView is neither",
        ),
        ("from", "exportFromTime", None, "exportFromTime is missing"),
        (
            "to",
            "exportToTime",
            Some("yesterday".into()),
            "exportToTime is missing or not",
        ),
        (
            "backwards",
            "exportToTime",
            Some("2023-11-14T22:00:00.000Z".into()),
            "exportToTime is not after exportFromTime",
        ),
        (
            "type",
            "exportType",
            Some("DIFF_EXPORT".into()),
            "DIFF_EXPORT",
        ),
    ];
    for (name, field, value, message) in cases {
        let export = dir.path().join(name);
        write_incremental_export(&export, "NEW_IMAGE", &[&line], false);
        let path = export.join("manifest-summary.json");
        let mut summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        match value {
            Some(v) => summary[field] = v,
            None => {
                summary.as_object_mut().unwrap().remove(field);
            }
        }
        std::fs::write(&path, summary.to_string()).unwrap();
        let err = failure(backfill(&export, &lake, &[]));
        assert!(err.contains(message), "{name}: {err}");
    }
    // Without outputView, the API's default view is assumed.
    let export = dir.path().join("default-view");
    write_incremental_export(&export, "NEW_IMAGE", &[&line], false);
    let path = export.join("manifest-summary.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(r#","outputView":"NEW_IMAGE""#, "");
    std::fs::write(&path, text).unwrap();
    assert!(ok(backfill(&export, &lake, &[])).contains("NEW_AND_OLD_IMAGES): 1 row"));
}

// `ddb-lake coverage`.

fn coverage(lake: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("coverage")
        .arg("--lake")
        .arg(lake)
        .args(extra)
        .env_remove("METADATA_PREFIX")
        .output()
        .unwrap()
}

#[test]
fn coverage_reports_each_source_and_the_holes_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    ok(backfill(&fixture(), lake, &[]));
    let replayed = Command::new(BIN)
        .arg("replay")
        .arg(sample("change-records.jsonl"))
        .arg("--lake")
        .arg(lake)
        .output()
        .unwrap();
    ok(replayed);
    ok(backfill(&sample("incremental-export"), lake, &[]));

    // The export at 08:00, the stream's first row at 09:59:59.1: with the default max quiet of
    // an hour, the lake cannot show that the stream was connected before the export.
    let out = coverage(lake, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success());
    assert_eq!(
        stderr.trim(),
        "ddb-lake: the lake may miss changes of orders (1 hole, 0 incomplete exports) (see \
         above; max quiet 1h)"
    );
    assert_eq!(
        report,
        "table orders\n\
         \x20 full export 01763625600000-5a1e0b7c: the table at 2025-11-20T08:00:00.000000Z, 5 rows\n\
         \x20 incremental export 01763640600000-9e1f2a3b: the changes in [2025-11-20T10:05:00.000000Z, \
         2025-11-20T12:00:00.000000Z), NEW_AND_OLD_IMAGES, 4 of 4 rows in the lake\n\
         \x20 stream: 7 rows from 2025-11-20T09:59:59.100000Z to 2025-11-20T10:00:04.000000Z\n\
         \x20 HOLE from 2025-11-20T08:00:00.000000Z to 2025-11-20T09:59:59.100000Z (1h 59m 59.1s): \
         nothing between full export 01763625600000-5a1e0b7c and the stream\n"
    );
    // A table that is quiet for up to two hours has no hole here: the stream's last row at
    // 10:00:04 and the incremental export from 10:05 are less apart.
    let out = coverage(lake, &["--max-quiet", "2h", "--table", "orders"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .ends_with("  no holes\n"));
    // ...but with a max quiet of a minute, the 5 minutes between them are a hole too.
    let report = String::from_utf8(coverage(lake, &["--max-quiet", "1m"]).stdout).unwrap();
    assert!(
        report.contains(
            "HOLE from 2025-11-20T10:00:04.000000Z to 2025-11-20T10:05:00.000000Z (4m 56s): \
         nothing between the stream and incremental export 01763640600000-9e1f2a3b"
        ),
        "{report}"
    );

    // An incremental export whose rows are not all in the lake is reported, and covers nothing.
    let hour11 = files(lake)
        .into_iter()
        .find(|f| f.contains("hour=11/ddb-lake-backfill"))
        .unwrap();
    std::fs::remove_file(lake.join(hour11)).unwrap();
    let out = coverage(lake, &["--max-quiet", "2h"]);
    assert!(!out.status.success());
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        report.contains(
            "INCOMPLETE incremental export 01763640600000-9e1f2a3b: only 3 of its 4 rows are in \
             the lake (load it again)"
        ),
        "{report}"
    );

    // Unknown tables and lakes without rows are errors, not empty reports.
    let line = failure(coverage(lake, &["--table", "nope"]));
    assert!(line.contains("holds no table nope"), "{line}");
    let line = failure(coverage(&dir.path().join("nowhere"), &[]));
    assert!(line.contains("cannot read the lake's rows"), "{line}");
    let out = coverage(lake, &["--max-quiet", "soon"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-quiet"));
}
