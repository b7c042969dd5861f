//! Builders for change records and Firehose events, and readers for the response, shared by the
//! integration tests.
#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ddb_lake::transform_event;
use ddb_lake::Config;
use serde::de::{MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;

/// 2023-11-14T22:13:20.123Z
pub const T_MS: u64 = 1_700_000_000_123;

/// A change record as Kinesis Data Streams for DynamoDB writes it.
pub fn change(event_name: &str, dynamodb: Value) -> Value {
    json!({
        "awsRegion": "us-east-1",
        "eventID": "7f4c0a52-0d5f-4c3e-9a57-5a1c0d1e2f30",
        "eventName": event_name,
        "userIdentity": null,
        "recordFormat": "application/json",
        "tableName": "orders",
        "dynamodb": dynamodb,
        "eventSource": "aws:dynamodb"
    })
}

/// An INSERT of `image` at `T_MS`.
pub fn insert(image: Value) -> Value {
    change(
        "INSERT",
        json!({"ApproximateCreationDateTime": T_MS, "Keys": {"pk": {"S": "k"}}, "NewImage": image, "SizeBytes": 10}),
    )
}

/// 2015-04-09T00:00:00Z in epoch seconds, as a DynamoDB Streams record holds its change time.
pub const T_S: u64 = 1_428_537_600;

/// The stream ARN of the `orders` table's DynamoDB stream.
pub const STREAM_ARN: &str =
    "arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/2025-11-20T08:00:00.000";

/// A change record as a DynamoDB Streams consumer (a Lambda trigger, an EventBridge Pipe)
/// receives it; `dynamodb` should hold a `SequenceNumber`.
pub fn streams_change(event_name: &str, dynamodb: Value) -> Value {
    json!({
        "eventID": "7f4c0a52-0d5f-4c3e-9a57-5a1c0d1e2f30",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": STREAM_ARN
    })
}

/// A DynamoDB Streams INSERT of `image` at `T_S`.
pub fn streams_insert(image: Value) -> Value {
    streams_change(
        "INSERT",
        json!({"ApproximateCreationDateTime": T_S, "Keys": {"pk": {"S": "k"}}, "NewImage": image,
               "SequenceNumber": "4421584500000000017450439091", "SizeBytes": 10,
               "StreamViewType": "NEW_AND_OLD_IMAGES"}),
    )
}

/// A Direct PUT Firehose event (no source stream, no Kinesis metadata), as an EventBridge Pipe
/// fills the delivery stream, holding these change records.
pub fn direct_put_event(changes: &[Value]) -> Vec<u8> {
    let records: Vec<Value> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "recordId": format!("rec-{i:04}"),
                "approximateArrivalTimestamp": 1_600_000_000_000u64 + i as u64,
                "data": b64(&serde_json::to_vec(c).unwrap())
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:111122223333:deliverystream/orders",
        "region": "us-east-1",
        "records": records
    }))
    .unwrap()
}

/// A Firehose record around raw `data` (already base64, or deliberately not).
pub fn firehose_record(i: usize, data: &str) -> Value {
    json!({
        "recordId": format!("rec-{i:04}"),
        "approximateArrivalTimestamp": 1_600_000_000_000u64 + i as u64,
        "data": data,
        "kinesisRecordMetadata": {
            "shardId": "shardId-000000000003",
            "partitionKey": format!("pk-{i}"),
            "sequenceNumber": format!("4963{i:020}"),
            "subsequenceNumber": 0,
            "approximateArrivalTimestamp": 1_600_000_000_000u64 + i as u64
        }
    })
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A Kinesis-sourced Firehose event holding `records` (already wrapped).
pub fn event_of(records: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:111122223333:deliverystream/orders",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:111122223333:stream/orders",
        "region": "us-east-1",
        "records": records
    }))
    .unwrap()
}

/// A Firehose event whose records carry these change records.
pub fn event(changes: &[Value]) -> Vec<u8> {
    let records = changes
        .iter()
        .enumerate()
        .map(|(i, c)| firehose_record(i, &b64(&serde_json::to_vec(c).unwrap())))
        .collect();
    event_of(records)
}

#[derive(Debug, Deserialize)]
pub struct Response {
    pub records: Vec<ResponseRecord>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ResponseRecord {
    #[serde(rename = "recordId")]
    pub record_id: String,
    pub result: String,
    pub data: String,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    #[serde(rename = "partitionKeys")]
    pub partition_keys: BTreeMap<String, String>,
}

impl ResponseRecord {
    /// The decoded row: its exact text.
    pub fn line(&self) -> String {
        String::from_utf8(STANDARD.decode(&self.data).unwrap()).unwrap()
    }
    /// The row's columns in order, each with its value's exact JSON text.
    pub fn columns(&self) -> Vec<(String, String)> {
        columns(&self.line())
    }
    pub fn column(&self, name: &str) -> Option<String> {
        self.columns()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

pub fn transform(event: &[u8], config: &Config) -> Vec<ResponseRecord> {
    let batch = transform_event(event, config).expect("event is answerable");
    let bytes = batch
        .finish(config.limits.max_response_bytes)
        .expect("response fits");
    let response: Response = serde_json::from_slice(&bytes).expect("response is valid JSON");
    response.records
}

pub fn transform_one(change: &Value) -> ResponseRecord {
    transform_one_with(change, &Config::default())
}

pub fn transform_one_with(change: &Value, config: &Config) -> ResponseRecord {
    transform(&event(std::slice::from_ref(change)), config).remove(0)
}

/// Splits one row (a JSON object followed by `\n`) into (name, exact value text) in order.
/// Panics unless it is exactly one line of one JSON object.
pub fn columns(line: &str) -> Vec<(String, String)> {
    let body = line.strip_suffix('\n').expect("row ends with a newline");
    assert!(!body.contains('\n'), "row is one line");
    let mut de = serde_json::Deserializer::from_str(body);
    let cols = de.deserialize_map_in_order();
    de.end().unwrap();
    cols
}

trait InOrder {
    fn deserialize_map_in_order(&mut self) -> Vec<(String, String)>;
}

impl<'de> InOrder for serde_json::Deserializer<serde_json::de::StrRead<'de>> {
    fn deserialize_map_in_order(&mut self) -> Vec<(String, String)> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &RawValue>()? {
                    out.push((k, v.get().to_owned()));
                }
                Ok(out)
            }
        }
        serde::Deserializer::deserialize_map(self, V).expect("row is a JSON object")
    }
}
pub mod lake_files;
pub mod run;
pub mod runtime_api;
