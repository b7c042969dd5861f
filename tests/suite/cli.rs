//! The `ddb-lake` binary itself: same code, same settings, clean errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ddb-lake");

fn sample(name: &str) -> String {
    format!("{}/sample-records/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn ddb_lake(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("FLATTEN_SEPARATOR")
        .env_remove("METADATA_PREFIX")
        .env_remove("LIST_MODE")
        .env_remove("MAX_RESPONSE_BYTES")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_clean_failure(o: &Output, mentions: &str) {
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
    // Structured log lines may come first; the error itself is one plain line.
    let all = stderr(o);
    let plain: Vec<&str> = all
        .lines()
        .filter(|l| !l.starts_with("{\"timestamp\""))
        .collect();
    assert_eq!(plain.len(), 1, "one line: {all}");
    let err = plain[0];
    assert!(err.starts_with("ddb-lake: "), "{err}");
    assert!(err.contains(mentions), "{err} should mention {mentions}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn transform_prints_the_expected_response() {
    let o = ddb_lake(&["transform", &sample("firehose-event.json")], &[], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        o.stdout,
        std::fs::read(sample("firehose-event.expected.json")).unwrap()
    );
    // The summary line is structured JSON on standard error.
    let summary: serde_json::Value =
        serde_json::from_str(stderr(&o).lines().last().unwrap()).unwrap();
    assert_eq!(summary["fields"]["records"], 7);
    assert_eq!(summary["fields"]["ok"], 7);
}

#[test]
fn transform_reads_standard_input() {
    let event = std::fs::read(sample("firehose-event.json")).unwrap();
    let o = ddb_lake(&["transform"], &[], &event);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        o.stdout,
        std::fs::read(sample("firehose-event.expected.json")).unwrap()
    );
}

#[test]
fn transform_uses_the_lambda_settings() {
    let o = ddb_lake(
        &["transform", &sample("firehose-event.json")],
        &[
            ("FLATTEN_SEPARATOR", "."),
            ("LIST_MODE", "json_string"),
            ("METADATA_PREFIX", "dl_"),
        ],
        b"",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let response: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    use base64::Engine;
    let data = response["records"][0]["data"].as_str().unwrap();
    let row = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap();
    assert!(row.starts_with(r#"{"dl_event_name":"INSERT""#), "{row}");
    assert!(
        row.contains(r#""shipping.address.geo.lat":47.3769"#),
        "{row}"
    );
    assert!(row.contains(r#""tags":"[\"express\",\"gift\"]""#), "{row}");
}

#[test]
fn a_bad_setting_stops_with_its_name() {
    let o = ddb_lake(
        &["transform", &sample("firehose-event.json")],
        &[("LIST_MODE", "list")],
        b"",
    );
    assert_clean_failure(&o, "LIST_MODE");
    let o = ddb_lake(
        &["transform", &sample("firehose-event.json")],
        &[("MAX_RESPONSE_BYTES", "lots")],
        b"",
    );
    assert_clean_failure(&o, "MAX_RESPONSE_BYTES");
}

#[test]
fn input_that_is_not_a_firehose_event_fails_cleanly() {
    for input in [&b"not json"[..], b"{\"records\": 5}", b"", b"\xff\xfe"] {
        let o = ddb_lake(&["transform"], &[], input);
        assert_clean_failure(&o, "not a Firehose transformation event");
    }
    let o = ddb_lake(&["transform", "/no/such/file.json"], &[], b"");
    assert_clean_failure(&o, "/no/such/file.json");
}

#[test]
fn an_oversize_direct_put_response_fails_the_invocation_clearly() {
    // Without a source stream nothing can be put back (tests/reingest.rs covers the stream case).
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample("firehose-event.json")).unwrap()).unwrap();
    event
        .as_object_mut()
        .unwrap()
        .remove("sourceKinesisStreamArn");
    let o = ddb_lake(
        &["transform"],
        &[("MAX_RESPONSE_BYTES", "2000")],
        &serde_json::to_vec(&event).unwrap(),
    );
    assert_clean_failure(&o, "MAX_RESPONSE_BYTES=2000");
    assert_clean_failure(&o, "Direct PUT");
}

#[test]
fn failed_records_are_logged_by_id_and_reason_without_contents() {
    let data = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        br#"{"awsRegion":"r","eventID":"e","eventName":"INSERT","tableName":"orders","dynamodb":{"ApproximateCreationDateTime":1700000000123,"NewImage":{"ssn":{"N":"123-45-6789"}}}}"#,
    );
    let event = format!(
        r#"{{"records":[{{"recordId":"rec-secret-test","approximateArrivalTimestamp":1,"data":"{data}"}}]}}"#
    );
    let o = ddb_lake(&["transform"], &[], event.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.contains("record failed"))
        .expect("a failure line");
    let log: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(log["level"], "WARN");
    assert_eq!(log["fields"]["record_id"], "rec-secret-test");
    assert_eq!(log["fields"]["reason_code"], "bad_typed_value");
    assert!(!err.contains("123-45-6789"), "{err}");
    let response: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(response["records"][0]["result"], "ProcessingFailed");
    assert_eq!(response["records"][0]["data"], data);
}

#[test]
fn firehose_event_wraps_change_records() {
    let o = ddb_lake(
        &["firehose-event", &sample("change-records.jsonl")],
        &[],
        b"",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        o.stdout,
        std::fs::read(sample("firehose-event.json")).unwrap()
    );
    // Only an input that cannot be split into records at all is refused: a broken JSON array.
    let o = ddb_lake(&["firehose-event"], &[], b"[{\"broken\": ");
    assert_clean_failure(&o, "not a JSON array of change records");
}

#[test]
fn firehose_event_and_replay_split_a_file_alike() {
    // A line that is not JSON is a record of its own for both: it fails alone.
    let records = std::fs::read_to_string(sample("change-records.jsonl")).unwrap();
    let mut lines: Vec<&str> = records.lines().take(2).collect();
    lines.insert(1, "this is not JSON");
    let input = lines.join("\n");
    let event = ddb_lake(&["firehose-event"], &[], input.as_bytes());
    assert!(event.status.success(), "{}", stderr(&event));
    let response = ddb_lake(&["transform"], &[], &event.stdout);
    let response: serde_json::Value = serde_json::from_slice(&response.stdout).unwrap();
    let results: Vec<&str> = response["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["Ok", "ProcessingFailed", "Ok"]);
    let lake = tempfile::tempdir().unwrap();
    let file = lake.path().join("in.jsonl");
    std::fs::write(&file, &input).unwrap();
    let out = ddb_lake(
        &[
            "replay",
            file.to_str().unwrap(),
            "--lake",
            lake.path().join("lake").to_str().unwrap(),
        ],
        &[],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("3 change records"), "{summary}");
    assert!(summary.contains("2 rows, 1 failed"), "{summary}");
}

#[test]
fn an_error_names_its_causes_on_its_one_line() {
    let o = ddb_lake(&["transform", "/nonexistent/event.json"], &[], b"");
    assert_clean_failure(&o, "cannot read /nonexistent/event.json: ");
    // The cause comes from the operating system, through `source()`.
    assert!(
        stderr(&o).contains("No such file or directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dynamodb_streams_records_go_through_firehose_event_and_transform() {
    // Records as a DynamoDB Streams consumer receives them, one per line.
    let o = ddb_lake(
        &[
            "firehose-event",
            &sample("dynamodb-streams/change-records.jsonl"),
        ],
        &[],
        b"",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        o.stdout,
        std::fs::read(sample("dynamodb-streams/firehose-event.json")).unwrap()
    );
    let o = ddb_lake(
        &["transform", &sample("dynamodb-streams/firehose-event.json")],
        &[],
        b"",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        o.stdout,
        std::fs::read(sample("dynamodb-streams/firehose-event.expected.json")).unwrap()
    );
}

#[test]
fn a_captured_dynamodb_streams_lambda_event_goes_through_firehose_event_and_transform() {
    let lambda_event = std::fs::read(sample("dynamodb-streams/lambda-event.json")).unwrap();
    // From a file and from standard input alike.
    let from_file = ddb_lake(
        &[
            "firehose-event",
            &sample("dynamodb-streams/lambda-event.json"),
        ],
        &[],
        b"",
    );
    let from_stdin = ddb_lake(&["firehose-event"], &[], &lambda_event);
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    assert_eq!(from_file.stdout, from_stdin.stdout);
    let o = ddb_lake(&["transform"], &[], &from_file.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    let response: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows: String = response["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["result"], "Ok");
            let data = r["data"].as_str().unwrap();
            String::from_utf8(
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(
        rows,
        std::fs::read_to_string(sample("dynamodb-streams/lambda-event.expected-rows.jsonl"))
            .unwrap()
    );
}
