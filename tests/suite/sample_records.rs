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
