//! The benchmarks' input: a Firehose transformation event of DynamoDB change records as an order
//! table would produce them. Items hold nested maps, a list of maps, string and number sets,
//! exact numbers (one with 38 digits), a binary, Unicode text, booleans and a null; a third of
//! the changes are MODIFY (both images), a tenth REMOVE, the rest INSERT. The event is
//! Kinesis-sourced and stays under a size in bytes (Lambda's request limit is 6 MB).
//!
//! Deterministic for a seed. The JSON is spaced (`", "`, `": "`) as Python's `json.dumps`
//! writes it, the form the README's figures were measured on.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io;

/// The default size bound: just under Lambda's 6 MB request limit.
pub const DEFAULT_BYTES: usize = 6_000_000;

/// 2025-11-23T00:00:00Z in epoch milliseconds.
const START_MS: u64 = 1_763_856_000_000;

const WORDS: [&str; 14] = [
    "alpha", "beta", "gamma", "delta", "Zürich", "数据", "café", "naïve", "ørsted", "lake",
    "stream", "shard", "order", "item",
];

/// A generated event: its JSON bytes and how many records it holds.
pub struct Event {
    pub bytes: Vec<u8>,
    pub records: usize,
}

/// The largest event of generated change records whose JSON stays within `max_bytes`.
pub fn firehose_event(max_bytes: usize, seed: u64) -> Event {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut records = Vec::new();
    // The envelope around the records, and two bytes of separator per record.
    let mut size = 400;
    loop {
        let i = records.len();
        let record = firehose_record(i, &change(&mut rng, i));
        let cost = spaced(&record).len() + 2;
        if size + cost > max_bytes {
            break;
        }
        records.push(record);
        size += cost;
    }
    let count = records.len();
    let event = json!({
        "invocationId": "bench",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:111122223333:deliverystream/orders",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:111122223333:stream/orders",
        "region": "us-east-1",
        "records": records,
    });
    Event {
        bytes: spaced(&event),
        records: count,
    }
}

fn firehose_record(i: usize, change: &Value) -> Value {
    let arrival = START_MS + 500 + i as u64;
    json!({
        "recordId": format!("{i:056}"),
        "approximateArrivalTimestamp": arrival,
        "data": STANDARD.encode(spaced(change)),
        "kinesisRecordMetadata": {
            "shardId": "shardId-000000000004",
            "partitionKey": format!("pk{i}"),
            "sequenceNumber": format!("49{i:054}"),
            "subsequenceNumber": 0,
            "approximateArrivalTimestamp": arrival
        }
    })
}

/// Change record `i`, as Kinesis Data Streams for DynamoDB writes it (millisecond times).
fn change(rng: &mut fastrand::Rng, i: usize) -> Value {
    let event_name = match (i % 10, i % 3) {
        (9, _) => "REMOVE",
        (_, 1) => "MODIFY",
        _ => "INSERT",
    };
    let new = item(rng, i);
    let old = item(rng, i);
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": START_MS + 37 * i as u64,
        "Keys": {"pk": new["pk"], "sk": new["sk"]},
        "SizeBytes": 900
    });
    if event_name != "REMOVE" {
        dynamodb["NewImage"] = new;
    }
    if event_name != "INSERT" {
        dynamodb["OldImage"] = old;
    }
    json!({
        "awsRegion": "us-east-1",
        "eventID": format!("{i:08x}-0000-4000-8000-{:012x}", rng.u64(..1 << 48)),
        "eventName": event_name,
        "userIdentity": null,
        "recordFormat": "application/json",
        "tableName": "orders",
        "dynamodb": dynamodb,
        "eventSource": "aws:dynamodb"
    })
}

/// Order `i` in DynamoDB's typed JSON.
fn item(rng: &mut fastrand::Rng, i: usize) -> Value {
    let lines: Vec<Value> = (0..rng.usize(1..6))
        .map(|_| {
            json!({"M": {
                "sku": s(format!("SKU-{:06}", rng.u32(..1_000_000))),
                "qty": n(rng.u32(1..9)),
                "price": n(cents(rng.u64(100..99_999))),
                "attrs": {"M": {"color": s(word(rng)), "size": s(rng.choice(["S", "M", "L", "X"]).unwrap_or("M"))}}
            }})
        })
        .collect();
    let note: Vec<&str> = (0..rng.usize(3..25)).map(|_| word(rng)).collect();
    let tags: BTreeSet<&str> = (0..3).map(|_| word(rng)).collect();
    let ratings: BTreeSet<String> = (0..3).map(|_| rng.u32(1..6).to_string()).collect();
    let mut thumb = [0; 24];
    rng.fill(&mut thumb);
    json!({
        "pk": s(format!("CUSTOMER#{:05}", i % 5000)),
        "sk": s(format!("ORDER#{i:09}")),
        "status": s(rng.choice(["NEW", "PAID", "SHIPPED", "CANCELLED"]).unwrap_or("NEW")),
        "total": n(cents(rng.u64(100..10_000_000))),
        "big": n(format!("1234567890123456789012345678901234567{}", i % 10)),
        "gift": {"BOOL": rng.f64() < 0.2},
        "coupon": {"NULL": true},
        "note": s(note.join(" ")),
        "shipping": {"M": {
            "name": s(title(word(rng))),
            "city": s(word(rng)),
            "geo": {"M": {
                "lat": n(format!("{:.6}", rng.f64() * 180.0 - 90.0)),
                "lng": n(format!("{:.6}", rng.f64() * 360.0 - 180.0))
            }}
        }},
        "lines": {"L": lines},
        "tags": {"SS": tags.into_iter().collect::<Vec<_>>()},
        "ratings": {"NS": ratings.into_iter().collect::<Vec<_>>()},
        "thumb": {"B": STANDARD.encode(thumb)}
    })
}

fn word(rng: &mut fastrand::Rng) -> &'static str {
    WORDS[rng.usize(..WORDS.len())]
}

fn s(v: impl Into<String>) -> Value {
    json!({"S": v.into()})
}

fn n(v: impl ToString) -> Value {
    json!({"N": v.to_string()})
}

/// An amount in cents as an exact decimal with two places.
fn cents(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

fn title(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// `value` as JSON with a space after each `,` and `:`.
fn spaced(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Spaced);
    value.serialize(&mut ser).expect("a JSON value serializes");
    out
}

struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}
