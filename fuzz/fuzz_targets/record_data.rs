//! One record's data: any bytes as a decoded change record (and, when they are text, as the
//! base64 `data` string, gzip included). A row must be one line of one JSON object whose first
//! columns are the metadata columns; its partition keys must form a valid S3 prefix.
#![no_main]

#[path = "../common/knobs.rs"]
mod knobs;

use ddb_lake::record::event_time::EventTime;
use ddb_lake::firehose::payload::Payload;
use ddb_lake::record::row::{RowWriter, StreamPosition};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn check(line: &[u8], prefix: &str) {
    let text = std::str::from_utf8(line).expect("a row is UTF-8");
    let body = text.strip_suffix('\n').expect("a row ends with a newline");
    assert!(!body.contains('\n'), "a row is one line");
    let row: Value = serde_json::from_str(body).expect("a row is JSON");
    let first = row.as_object().expect("a row is an object").keys().next();
    assert_eq!(
        first.map(String::as_str),
        Some(format!("{prefix}event_name").as_str())
    );
}

/// `table=<a DynamoDB table name>/year=YYYY/month=MM/day=DD/hour=HH/`: nothing else can reach
/// the S3 key. (A name like `ord..ers` is a valid table name; a key segment is never `..` alone.)
fn check_prefix(prefix: &str) {
    let parts: Vec<&str> = prefix.split('/').collect();
    let [table, year, month, day, hour, ""] = parts[..] else {
        panic!("{prefix}");
    };
    let name = table.strip_prefix("table=").expect(prefix);
    assert!(ddb_lake::record::partition::is_table_name(name), "{prefix}");
    for (part, key, width) in [
        (year, "year=", 4),
        (month, "month=", 2),
        (day, "day=", 2),
        (hour, "hour=", 2),
    ] {
        let digits = part.strip_prefix(key).expect(prefix);
        assert!(
            digits.len() == width && digits.bytes().all(|b| b.is_ascii_digit()),
            "{prefix}"
        );
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&knobs, data)) = input.split_first() else {
        return;
    };
    let config = knobs::config(knobs);
    let position = StreamPosition {
        shard_id: (knobs & 4 != 0).then_some("shardId-000000000000"),
        sequence_number: (knobs & 4 != 0).then_some("1"),
    };
    let arrival = || EventTime::from_millis(1_700_000_000_000);
    let mut rows = RowWriter::new(&config);
    if let Ok((line, keys)) = rows.change_record(data, arrival, position) {
        check(line, "_");
        check_prefix(&keys.s3_prefix());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let mut payload = Payload::default();
        if let Ok(bytes) = payload.decode(text) {
            if let Ok((line, _)) = rows.change_record(bytes, arrival, position) {
                check(line, "_");
            }
        }
    }
});
