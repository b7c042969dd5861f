//! `ddb-lake replay`: change records through the Lambda's code into a local lake laid out like
//! the stacks' S3 bucket.

use crate::common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::lake_files::{files, gunzip, gzip};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ddb-lake");

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-records")
        .join(name)
}

fn ddb_lake(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("FLATTEN_SEPARATOR")
        .env_remove("METADATA_PREFIX")
        .env_remove("LIST_MODE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn replay(lake: &Path, inputs: &[&Path], extra: &[&str]) -> String {
    let mut args = vec!["replay".to_owned()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--lake".to_owned(), lake.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ddb_lake(&args, b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// All rows of the lake, object after object in path order.
fn rows(root: &Path) -> String {
    files(root)
        .iter()
        .filter(|f| f.starts_with("lake/"))
        .map(|f| gunzip(&root.join(f)))
        .collect()
}

/// `<prefix><stream>-1-<time>-<uuid>.gz`: the name Firehose gives an object.
fn assert_firehose_name(file: &str, prefix: &str, stream: &str, time: &str) {
    let start = format!("{prefix}{stream}-1-{time}-");
    assert!(file.starts_with(&start), "{file} should start with {start}");
    let uuid = file[start.len()..].strip_suffix(".gz").unwrap();
    let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{uuid}");
    assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
}

#[test]
fn sample_records_land_in_the_stacks_layout_as_the_lambdas_rows() {
    let lake = tempfile::tempdir().unwrap();
    let summary = replay(lake.path(), &[&sample("change-records.jsonl")], &[]);
    let names = files(lake.path());
    assert_eq!(names.len(), 2, "{names:?}");
    // Each object is named after the arrival time of its first record (the change time + 250 ms
    // in the Firehose event replay builds).
    assert_firehose_name(
        &names[0],
        "lake/table=orders/year=2025/month=11/day=20/hour=09/",
        "ddb-lake-replay",
        "2025-11-20-09-59-59",
    );
    assert_firehose_name(
        &names[1],
        "lake/table=orders/year=2025/month=11/day=20/hour=10/",
        "ddb-lake-replay",
        "2025-11-20-10-00-00",
    );
    // Byte for byte the rows the Lambda returns for the same records, as newline-delimited JSON.
    let expected = std::fs::read_to_string(sample("firehose-event.expected-rows.jsonl")).unwrap();
    assert_eq!(rows(lake.path()), expected);
    assert!(
        summary
            .starts_with("replayed 7 change records in 1 transformation batch: 7 rows, 0 failed"),
        "{summary}"
    );
    assert!(summary.contains("2 partitions, 2 objects of rows, 0 objects of failed records"));
}

#[test]
fn failed_records_go_to_the_error_layout_with_their_original_bytes() {
    let good = std::fs::read_to_string(sample("change-records.jsonl")).unwrap();
    let good = good.lines().next().unwrap();
    let not_json = "this is not JSON \u{1F4A5}";
    let bad_number = good.replace(r#"{"N": "129.90"}"#, r#"{"N": "12,990"}"#);
    assert_ne!(bad_number, good);
    let input = format!("{good}\n{not_json}\n{bad_number}\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.jsonl");
    std::fs::write(&path, &input).unwrap();
    let lake = dir.path().join("lake");
    let summary = replay(&lake, &[&path], &[]);
    assert!(
        summary.contains("1 row, 2 failed (bad_typed_value 1, not_json 1)"),
        "{summary}"
    );
    // The error prefix is timed by Firehose's arrival time: the change time + 250 ms for the
    // record that has one, the replay's fallback arrival for the line that is not JSON at all.
    let names = files(&lake);
    let errors: Vec<&String> = names.iter().filter(|n| n.starts_with("errors/")).collect();
    assert_eq!(errors.len(), 2, "{names:?}");
    assert!(errors[0].starts_with("errors/processing-failed/year=2023/month=11/day=14/hour=22/"));
    assert!(errors[1].starts_with("errors/processing-failed/year=2025/month=11/day=20/hour=09/"));
    let lines: Vec<serde_json::Value> = errors
        .iter()
        .flat_map(|e| {
            gunzip(&lake.join(e))
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let raw: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| STANDARD.decode(l["rawData"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(raw, [not_json.as_bytes(), bad_number.as_bytes()]);
    for line in &lines {
        assert_eq!(line["errorCode"], "Lambda.ProcessingFailedStatus");
        assert_eq!(
            line["errorMessage"],
            "ProcessingFailed status set for record"
        );
        assert_eq!(line["attemptsMade"], 1);
        assert!(line["arrivalTimestamp"].is_u64());
        assert_eq!(line["attemptEndingTimestamp"], line["arrivalTimestamp"]);
        assert_eq!(
            line["lambdaArn"],
            "arn:aws:lambda:eu-central-1:111122223333:function:ddb-lake-transform"
        );
    }
    assert_eq!(lines[1]["arrivalTimestamp"], 1_763_632_799_350u64);
}

#[test]
fn arrays_firehose_events_gzip_and_stdin_give_the_same_rows() {
    let ndjson = std::fs::read(sample("change-records.jsonl")).unwrap();
    let expected = {
        let lake = tempfile::tempdir().unwrap();
        replay(lake.path(), &[&sample("change-records.jsonl")], &[]);
        rows(lake.path())
    };
    let dir = tempfile::tempdir().unwrap();
    let array = dir.path().join("records.json");
    let texts: Vec<&str> = std::str::from_utf8(&ndjson).unwrap().lines().collect();
    std::fs::write(&array, format!("[\n{}\n]\n", texts.join(",\n"))).unwrap();
    let gzipped = dir.path().join("records.jsonl.gz");
    std::fs::write(&gzipped, gzip(&ndjson)).unwrap();
    for input in [array, gzipped, sample("firehose-event.json")] {
        let lake = tempfile::tempdir().unwrap();
        replay(lake.path(), &[&input], &[]);
        assert_eq!(rows(lake.path()), expected, "{}", input.display());
    }
    let lake = tempfile::tempdir().unwrap();
    let lake_arg = lake.path().display().to_string();
    let out = ddb_lake(&["replay", "--lake", &lake_arg], &ndjson);
    assert!(out.status.success());
    assert_eq!(rows(lake.path()), expected);
}

#[test]
fn batches_are_firehose_sized_and_change_nothing_in_the_rows() {
    let lake = tempfile::tempdir().unwrap();
    let input = sample("change-records.jsonl");
    let summary = replay(lake.path(), &[&input], &["--batch-records", "3"]);
    assert!(
        summary.contains("7 change records in 3 transformation batches"),
        "{summary}"
    );
    let by_bytes = tempfile::tempdir().unwrap();
    let summary = replay(by_bytes.path(), &[&input], &["--batch-bytes", "1"]);
    assert!(summary.contains("in 7 transformation batches"), "{summary}");
    // Record ids and sequence numbers run on across batches, so the rows are the same.
    assert_eq!(rows(lake.path()), rows(by_bytes.path()));
}

#[test]
fn replaying_the_same_input_again_rewrites_the_same_objects() {
    let lake = tempfile::tempdir().unwrap();
    replay(lake.path(), &[&sample("change-records.jsonl")], &[]);
    let first = files(lake.path());
    replay(lake.path(), &[&sample("change-records.jsonl")], &[]);
    assert_eq!(files(lake.path()), first);
}

#[test]
fn objects_are_cut_by_buffer_interval_and_prefixes_are_configurable() {
    let lake = tempfile::tempdir().unwrap();
    replay(
        lake.path(),
        &[&sample("change-records.jsonl")],
        &[
            "--table-prefix",
            "",
            "--delivery-stream",
            "orders-lake",
            "--object-mib",
            "1",
            "--buffer-seconds",
            "0",
        ],
    );
    // A zero buffer interval closes an object at every record that arrives later than the
    // object's first: 6 objects for 7 records, as the last record is a late duplicate.
    let names = files(lake.path());
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names
        .iter()
        .all(|n| n.starts_with("table=orders/year=2025/")));
    assert!(names
        .iter()
        .all(|n| n.contains("/orders-lake-1-2025-11-20-")));
}

#[test]
fn the_lambda_settings_apply() {
    let lake = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["replay", "--lake"])
        .arg(lake.path())
        .arg(sample("change-records.jsonl"))
        .env("FLATTEN_SEPARATOR", ".")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(rows(lake.path()).contains("\"shipping.address.geo.lat\":47.3769"));
    let out = Command::new(BIN)
        .args(["replay", "--lake"])
        .arg(lake.path())
        .arg(sample("change-records.jsonl"))
        .env("LIST_MODE", "lists")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LIST_MODE"));
}

#[test]
fn unusable_inputs_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let folder = dir.path().display().to_string();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[{\"a\": 1},").unwrap();
    let broken = broken.display().to_string();
    let missing = dir.path().join("missing.jsonl").display().to_string();
    for (input, mentions) in [
        (folder.as_str(), "is a folder"),
        (broken.as_str(), "not a JSON array"),
        (missing.as_str(), "cannot read"),
    ] {
        let out = ddb_lake(&["replay", input, "--lake", &lake], b"");
        assert!(!out.status.success(), "{input}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.trim();
        assert!(line.starts_with("ddb-lake: "), "{line}");
        assert!(line.contains(mentions), "{line} should mention {mentions}");
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(!line.contains("panicked"));
    }
}

/// The rows of a lake, sorted: objects are read in path order, which is by table first.
fn sorted_rows(root: &Path) -> Vec<String> {
    let mut rows: Vec<String> = rows(root).lines().map(str::to_owned).collect();
    rows.sort();
    rows
}

fn sorted_lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn dynamodb_streams_records_land_in_their_tables_partitions() {
    let lake = tempfile::tempdir().unwrap();
    let input = sample("dynamodb-streams/change-records.jsonl");
    let summary = replay(lake.path(), &[&input], &[]);
    assert!(
        summary
            .starts_with("replayed 13 change records in 1 transformation batch: 13 rows, 0 failed"),
        "{summary}"
    );
    assert_eq!(
        sorted_rows(lake.path()),
        sorted_lines(&sample(
            "dynamodb-streams/firehose-event.expected-rows.jsonl"
        ))
    );
    let folders: std::collections::BTreeSet<String> = files(lake.path())
        .iter()
        .map(|f| f.rsplit_once('/').unwrap().0.to_owned())
        .collect();
    let folders: Vec<&str> = folders.iter().map(String::as_str).collect();
    assert_eq!(
        folders,
        [
            "lake/table=carts/year=2025/month=11/day=20/hour=10",
            "lake/table=invoices/year=2025/month=11/day=20/hour=10",
            "lake/table=orders/year=2025/month=11/day=20/hour=09",
            "lake/table=orders/year=2025/month=11/day=20/hour=10",
            "lake/table=orders/year=2025/month=11/day=20/hour=11",
            "lake/table=sessions/year=2025/month=11/day=20/hour=10",
        ]
    );
    // Gzipped, as a JSON array, or mixed with Kinesis-format records: the same rows.
    let dir = tempfile::tempdir().unwrap();
    let ndjson = std::fs::read(&input).unwrap();
    let gzipped = dir.path().join("streams.jsonl.gz");
    std::fs::write(&gzipped, gzip(&ndjson)).unwrap();
    let array = dir.path().join("streams.json");
    let texts: Vec<&str> = std::str::from_utf8(&ndjson).unwrap().lines().collect();
    std::fs::write(&array, format!("[{}]", texts.join(",\n"))).unwrap();
    for other in [gzipped, array] {
        let lake = tempfile::tempdir().unwrap();
        replay(lake.path(), &[&other], &[]);
        assert_eq!(
            sorted_rows(lake.path()),
            sorted_lines(&sample(
                "dynamodb-streams/firehose-event.expected-rows.jsonl"
            )),
            "{}",
            other.display()
        );
    }
    let both = tempfile::tempdir().unwrap();
    let summary = replay(both.path(), &[&sample("change-records.jsonl"), &input], &[]);
    assert!(summary.contains("20 rows, 0 failed"), "{summary}");
    let mut expected = sorted_lines(&sample("firehose-event.expected-rows.jsonl"));
    expected.extend(sorted_lines(&sample(
        "dynamodb-streams/firehose-event.expected-rows.jsonl",
    )));
    expected.sort();
    assert_eq!(sorted_rows(both.path()), expected);
}

#[test]
fn a_captured_lambda_event_replays_as_its_records() {
    let expected =
        std::fs::read_to_string(sample("dynamodb-streams/lambda-event.expected-rows.jsonl"))
            .unwrap();
    let lake = tempfile::tempdir().unwrap();
    let summary = replay(
        lake.path(),
        &[&sample("dynamodb-streams/lambda-event.json")],
        &[],
    );
    assert!(summary.contains("replayed 3 change records"), "{summary}");
    assert_eq!(rows(lake.path()), expected);
    let names = files(lake.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0]
        .starts_with("lake/table=ExampleTableWithStream/year=2015/month=04/day=09/hour=00/"));
    // Gzipped, from standard input, and several compact events one per line.
    let event = std::fs::read(sample("dynamodb-streams/lambda-event.json")).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let lake_arg = lake.path().display().to_string();
    let out = ddb_lake(&["replay", "--lake", &lake_arg], &gzip(&event));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows(lake.path()), expected);
    let compact =
        serde_json::to_string(&serde_json::from_slice::<serde_json::Value>(&event).unwrap())
            .unwrap();
    let lake = tempfile::tempdir().unwrap();
    let out = ddb_lake(
        &["replay", "--lake", &lake.path().display().to_string()],
        format!("{compact}\n{compact}\n").as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("replayed 6 change records"));
    assert_eq!(rows(lake.path()), format!("{expected}{expected}"));
}

#[test]
fn replay_keeps_each_tables_key_schema_beside_the_rows() {
    let lake = tempfile::tempdir().unwrap();
    replay(
        lake.path(),
        &[
            &sample("change-records.jsonl"),
            &sample("devices-change-records.jsonl"),
        ],
        &[],
    );
    let read = |table: &str| -> serde_json::Value {
        let path = lake.path().join(format!("lake/_key_schemas/{table}.json"));
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    };
    // The orders table: string partition and sort key; devices: a number key, no sort key.
    assert_eq!(
        read("orders"),
        serde_json::json!({"TableName": "orders",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "S"}]})
    );
    assert_eq!(
        read("devices")["KeySchema"],
        serde_json::json!([{"AttributeName": "device_id", "KeyType": "HASH"}])
    );
    assert_eq!(
        read("devices")["AttributeDefinitions"][0]["AttributeType"],
        "N"
    );
}
