//! The shipped sample records stay consistent: the Firehose event is built from the change
//! records, and transforming it gives exactly the expected response and rows.

use crate::common;

use common::{columns, Response};
use ddb_lake::lake::event_builder::firehose_event;
use ddb_lake::transform_event;
use ddb_lake::Config;
use std::fs;

fn sample(name: &str) -> Vec<u8> {
    fs::read(format!(
        "{}/sample-records/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn trim_newline(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes
}

#[test]
fn the_sample_event_wraps_the_sample_change_records() {
    let built = firehose_event(&sample("change-records.jsonl")).unwrap();
    assert_eq!(
        String::from_utf8(built).unwrap(),
        String::from_utf8(trim_newline(sample("firehose-event.json"))).unwrap()
    );
}

#[test]
fn the_sample_event_transforms_to_the_expected_response() {
    let batch = transform_event(&sample("firehose-event.json"), &Config::default()).unwrap();
    let response = batch
        .finish(Config::default().limits.max_response_bytes)
        .unwrap();
    assert_eq!(
        String::from_utf8(response.clone()).unwrap(),
        String::from_utf8(trim_newline(sample("firehose-event.expected.json"))).unwrap()
    );
    let parsed: Response = serde_json::from_slice(&response).unwrap();
    let rows: String = parsed.records.iter().map(|r| r.line()).collect();
    assert_eq!(
        rows,
        String::from_utf8(sample("firehose-event.expected-rows.jsonl")).unwrap()
    );
}

/// The samples show what a newcomer should see: every change kind and every DynamoDB type.
#[test]
fn the_samples_cover_the_contract() {
    let rows = String::from_utf8(sample("firehose-event.expected-rows.jsonl")).unwrap();
    let rows: Vec<Vec<(String, String)>> = rows.split_inclusive('\n').map(columns).collect();
    let get = |row: &Vec<(String, String)>, name: &str| {
        row.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    };
    let names: Vec<String> = rows.iter().filter_map(|r| get(r, "_event_name")).collect();
    for kind in ["\"INSERT\"", "\"MODIFY\"", "\"REMOVE\""] {
        assert!(names.iter().any(|n| n == kind), "{kind}");
    }
    assert!(rows
        .iter()
        .any(|r| get(r, "_expired_by_ttl").as_deref() == Some("true")));
    let first = &rows[0];
    for (column, value) in [
        (
            "loyalty_points_exact",
            "12345678901234567890123456789012345678",
        ),
        ("tiny", "1E-130"),
        ("huge", "9.9999999999999999999999999999999999999E+125"),
        ("gift", "true"),
        ("coupon", "null"),
        ("shipping_address_geo_lat", "47.3769"),
        ("tags", r#"["express","gift"]"#),
        ("ratings", "[4,5,4.5]"),
        ("signatures", r#"["AAEC","AwQF"]"#),
    ] {
        assert_eq!(get(first, column).as_deref(), Some(value), "{column}");
    }
    assert!(get(first, "receipt_pdf_thumb").is_some());
    assert!(get(first, "größe").is_some());
    assert!(get(first, "lines").unwrap().starts_with(r#"[{"sku":"#));
}

// DynamoDB Streams samples: `dynamodb-streams/change-records.jsonl` holds records as a DynamoDB
// Streams consumer receives them, one table per view type, every event and a TTL delete;
// `dynamodb-streams/lambda-event.json` is the AWS Lambda guide's "Example DynamoDB Streams record
// event" (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html), as a user captures it.

#[test]
fn the_dynamodb_streams_sample_event_wraps_its_change_records() {
    let built = firehose_event(&sample("dynamodb-streams/change-records.jsonl")).unwrap();
    assert_eq!(
        String::from_utf8(built).unwrap(),
        String::from_utf8(trim_newline(sample("dynamodb-streams/firehose-event.json"))).unwrap()
    );
}

#[test]
fn the_dynamodb_streams_sample_event_transforms_to_the_expected_response() {
    let event = sample("dynamodb-streams/firehose-event.json");
    let batch = transform_event(&event, &Config::default()).unwrap();
    let response = batch
        .finish(Config::default().limits.max_response_bytes)
        .unwrap();
    assert_eq!(
        String::from_utf8(response.clone()).unwrap(),
        String::from_utf8(trim_newline(sample(
            "dynamodb-streams/firehose-event.expected.json"
        )))
        .unwrap()
    );
    let parsed: Response = serde_json::from_slice(&response).unwrap();
    let rows: String = parsed.records.iter().map(|r| r.line()).collect();
    assert_eq!(
        rows,
        String::from_utf8(sample(
            "dynamodb-streams/firehose-event.expected-rows.jsonl"
        ))
        .unwrap()
    );
}

#[test]
fn the_aws_example_lambda_event_gives_its_expected_rows() {
    let event = firehose_event(&sample("dynamodb-streams/lambda-event.json")).unwrap();
    let batch = transform_event(&event, &Config::default()).unwrap();
    let parsed: Response = serde_json::from_slice(&batch.finish(usize::MAX).unwrap()).unwrap();
    let rows: String = parsed.records.iter().map(|r| r.line()).collect();
    assert_eq!(
        rows,
        String::from_utf8(sample("dynamodb-streams/lambda-event.expected-rows.jsonl")).unwrap()
    );
}

/// Column names of a typed image, flattened with `_` (maps only; everything else is a column).
fn flat_names(image: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in image.as_object().unwrap() {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}_{k}")
        };
        match v.get("M") {
            Some(m) => flat_names(m, &name, out),
            None => out.push(name),
        }
    }
}

/// The samples show the README's table "What each DynamoDB Streams view type gives in the
/// lake": every view type with every event, each row made of the image the table names.
#[test]
fn the_dynamodb_streams_samples_show_what_each_view_type_gives() {
    use serde_json::Value;
    let records: Vec<Value> = String::from_utf8(sample("dynamodb-streams/change-records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows = String::from_utf8(sample(
        "dynamodb-streams/firehose-event.expected-rows.jsonl",
    ))
    .unwrap();
    let rows: Vec<Vec<(String, String)>> = rows.split_inclusive('\n').map(columns).collect();
    assert_eq!(records.len(), rows.len());
    let mut seen = std::collections::BTreeSet::new();
    let mut ttl_deletes = 0;
    for (record, row) in records.iter().zip(&rows) {
        let d = &record["dynamodb"];
        let view = d["StreamViewType"].as_str().unwrap();
        let event = record["eventName"].as_str().unwrap();
        seen.insert((view, event));
        let image = match (view, event) {
            ("NEW_AND_OLD_IMAGES" | "NEW_IMAGE", "INSERT" | "MODIFY") => "NewImage",
            ("NEW_AND_OLD_IMAGES" | "OLD_IMAGE", "REMOVE") => "OldImage",
            _ => "Keys",
        };
        let mut expected = Vec::new();
        flat_names(&d[image], "", &mut expected);
        let names: Vec<String> = row.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(names[8..], expected[..], "{view} {event}");
        let get = |name: &str| row.iter().find(|(k, _)| k == name).unwrap().1.clone();
        assert_eq!(names[7], "_stream_sequence_number");
        assert_eq!(
            get("_stream_sequence_number"),
            d["SequenceNumber"].to_string()
        );
        let arn = record["eventSourceARN"].as_str().unwrap();
        let table = arn.split('/').nth(1).unwrap();
        assert_eq!(get("_table_name"), format!("\"{table}\""));
        let ttl = record["userIdentity"]["principalId"] == "dynamodb.amazonaws.com";
        ttl_deletes += usize::from(ttl);
        assert_eq!(get("_expired_by_ttl"), ttl.to_string());
        // Delivered by an EventBridge Pipe (Direct PUT): no Kinesis columns.
        assert!(!names.iter().any(|n| n.starts_with("_kinesis")));
    }
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert_eq!(ttl_deletes, 1);
}
