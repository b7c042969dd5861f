//! Builds a Firehose transformation event from change records, the way Firehose wraps the
//! records it receives: those of Kinesis Data Streams for DynamoDB as read from the Kinesis
//! stream, those of a DynamoDB stream as an EventBridge Pipe puts them (Direct PUT). To try the
//! transformation on records of your own, and for `ddb-lake replay`, which feeds change records
//! through the Lambda's code in batches.

use crate::lake::input::{self, InputError, Piece, Stop};
use crate::record::event_time::{whole_number, EventTime};
use crate::record::json_out::write_json_str;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::io::Write;

/// The fields of a change record that shape its Firehose envelope; all optional, so a broken
/// record is wrapped too and can be seen to fail.
#[derive(Deserialize, Default)]
struct Peek<'a> {
    #[serde(rename = "awsRegion", borrow, default)]
    aws_region: Option<&'a str>,
    #[serde(rename = "tableName", borrow, default)]
    table_name: Option<&'a str>,
    #[serde(rename = "eventSourceARN", borrow, default)]
    event_source_arn: Option<&'a str>,
    #[serde(default)]
    dynamodb: Option<PeekStream<'a>>,
}

#[derive(Deserialize, Default)]
struct PeekStream<'a> {
    #[serde(rename = "ApproximateCreationDateTime", borrow, default)]
    time: Option<&'a RawValue>,
    #[serde(rename = "Keys", borrow, default)]
    keys: Option<&'a RawValue>,
    #[serde(rename = "SequenceNumber", borrow, default)]
    sequence_number: Option<&'a str>,
}

impl Peek<'_> {
    /// A DynamoDB Streams record, recognised as the transformation recognises it.
    fn is_dynamodb_streams(&self) -> bool {
        self.table_name.is_none()
            && self.event_source_arn.is_some()
            && self
                .dynamodb
                .as_ref()
                .is_some_and(|d| d.sequence_number.is_some())
    }

    fn table(&self) -> Option<&str> {
        self.table_name.or_else(|| {
            let arn = self.event_source_arn?;
            crate::arn::dynamodb_table_span(arn).map(|range| &arn[range])
        })
    }

    /// When Firehose would see the record: a moment (250 ms) after its change time.
    ///
    /// A record the transformation will fail still arrives at a plausible time, which decides
    /// its error partition: a record in neither format (a DynamoDB Streams record without its
    /// `eventSourceARN`, as `aws dynamodbstreams get-records` prints it) or a Kinesis-format
    /// record in the wrong unit has its unit told by magnitude, never read as milliseconds of
    /// January 1970.
    fn arrival_ms(&self) -> Option<u64> {
        let text = self.dynamodb.as_ref()?.time?.get();
        let seconds =
            self.is_dynamodb_streams() || whole_number(text).map_or(true, |t| t < SECONDS_BELOW);
        let change_ms = if seconds {
            let millis = EventTime::from_epoch_seconds(text).ok()?.timestamp_millis();
            u64::try_from(millis).ok()?
        } else {
            // Microseconds become milliseconds.
            let t = whole_number(text).ok()?;
            if t >= 100_000_000_000_000 {
                t / 1000
            } else {
                t
            }
        };
        change_ms.checked_add(250)
    }
}

/// Epoch values below this (10^11: as milliseconds 1973-03-03, as seconds the year 5138) are
/// seconds when the record's format does not say: no change time the lake accepts
/// (2000 … 2200) is below it in milliseconds or microseconds.
const SECONDS_BELOW: u64 = 100_000_000_000;

/// Firehose's arrival time for records whose change time cannot be read.
const DEFAULT_ARRIVAL_MS: u64 = 1_700_000_000_000;

/// Wraps the change records in `bytes` (split by [`crate::lake::input`]) into a Firehose event: base64
/// `data`, record ids, arrival times a moment after each change, and for Kinesis-format records
/// the shard, partition key and sequence number as Kinesis would assign them (see
/// [`firehose_event_for`]). Pretty-printed, for people to read.
pub fn firehose_event(bytes: &[u8]) -> Result<Vec<u8>, InputError> {
    let mut records: Vec<Vec<u8>> = Vec::new();
    input::for_each_piece(bytes, |piece| match piece {
        Piece::ChangeRecord(record) => {
            records.push(record.to_vec());
            Ok(())
        }
        Piece::FirehoseEvent(_) => Err(InputError::AlreadyAnEvent),
    })
    .map_err(|stop| match stop {
        Stop::Input(e) | Stop::Take(e) => e,
    })?;
    let compact = firehose_event_for(&records, 0);
    // Our own compact JSON, re-indented for people to read.
    let event: serde_json::Value =
        serde_json::from_slice(&compact).map_err(|e| InputError::Read(std::io::Error::other(e)))?;
    serde_json::to_vec_pretty(&event).map_err(|e| InputError::Read(std::io::Error::other(e)))
}

/// Wraps `records` (each the bytes of one stream record, valid or not) into one compact
/// Firehose event, written straight into bytes (no JSON tree: `replay` calls this for every
/// batch). `first_index` is the position of `records[0]` in the whole input, so that
/// consecutive batches of one stream keep distinct record ids and increasing sequence numbers,
/// as Kinesis assigns them.
///
/// Each record is wrapped as its source delivers it: a DynamoDB Streams record as an
/// EventBridge Pipe puts it on the delivery stream (Direct PUT: no `kinesisRecordMetadata`),
/// any other as read from a Kinesis stream. The event names a `sourceKinesisStreamArn` unless
/// every record is a DynamoDB Streams record.
pub fn firehose_event_for<R: AsRef<[u8]>>(records: &[R], first_index: usize) -> Vec<u8> {
    let peeks: Vec<Peek> = records
        .iter()
        .map(|r| serde_json::from_slice(r.as_ref()).unwrap_or_default())
        .collect();
    let region = peeks
        .iter()
        .find_map(|p| p.aws_region)
        .unwrap_or("us-east-1");
    let table = peeks.iter().find_map(Peek::table).unwrap_or("table");
    let from_kinesis = peeks.is_empty() || !peeks.iter().all(Peek::is_dynamodb_streams);
    let account = "111122223333";
    let data_len: usize = records.iter().map(|r| r.as_ref().len()).sum();
    let mut out = Vec::with_capacity(data_len / 3 * 4 + records.len() * 320 + 512);
    // `write!` into a Vec cannot fail.
    let _ = write!(
        out,
        "{{\"invocationId\":\"00000000-0000-4000-8000-{first_index:012x}\",\"deliveryStreamArn\":"
    );
    write_json_str(
        &mut out,
        &format!("arn:aws:firehose:{region}:{account}:deliverystream/{table}-lake"),
    );
    if from_kinesis {
        out.extend_from_slice(b",\"sourceKinesisStreamArn\":");
        write_json_str(
            &mut out,
            &format!("arn:aws:kinesis:{region}:{account}:stream/{table}-changes"),
        );
    }
    out.extend_from_slice(b",\"region\":");
    write_json_str(&mut out, region);
    out.extend_from_slice(b",\"records\":[");
    for (offset, (raw, peek)) in records.iter().zip(&peeks).enumerate() {
        let i = first_index + offset;
        let stream = peek.dynamodb.as_ref();
        let arrival = peek.arrival_ms().unwrap_or(DEFAULT_ARRIVAL_MS + i as u64);
        if offset > 0 {
            out.push(b',');
        }
        let _ = write!(
            out,
            "{{\"recordId\":\"{:056}\",\"approximateArrivalTimestamp\":{arrival},\"data\":\"",
            i + 1
        );
        push_base64(&mut out, raw.as_ref());
        if peek.is_dynamodb_streams() {
            out.extend_from_slice(b"\"}");
            continue;
        }
        out.extend_from_slice(b"\",\"kinesisRecordMetadata\":{\"shardId\":\"shardId-000000000000\",\"partitionKey\":\"");
        match stream.and_then(|d| d.keys) {
            Some(k) => {
                let _ = write!(out, "{:016X}", fnv1a(k.get().as_bytes()));
            }
            None => {
                let _ = write!(out, "record-{i}");
            }
        }
        let _ = write!(
            out,
            "\",\"sequenceNumber\":\"4964{:052}\",\"subsequenceNumber\":0,\"approximateArrivalTimestamp\":{arrival}}}}}",
            i + 1
        );
    }
    out.extend_from_slice(b"]}");
    out
}

/// Appends the base64 of `bytes` to `out`.
fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    base64_simd::STANDARD.encode_append(bytes, out);
}

/// A stable 64-bit hash, standing in for the partition key Kinesis derives from the item's key.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::input::lambda_event_records;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde_json::Value;

    /// The change records of `input`, as `firehose-event` and `replay` split it.
    fn split_records(input: &[u8]) -> Result<Vec<String>, InputError> {
        let mut out = Vec::new();
        input::for_each_piece(input, |p| {
            if let Piece::ChangeRecord(r) = p {
                out.push(String::from_utf8_lossy(r).into_owned());
            }
            Ok::<(), ()>(())
        })
        .map_err(|stop| match stop {
            Stop::Input(e) => e,
            Stop::Take(()) => unreachable!(),
        })?;
        Ok(out)
    }

    #[test]
    fn ndjson_and_arrays_split_into_exact_record_texts() {
        let ndjson = b"{\"a\": 1}\n\n{\"b\":[2]}\n";
        let texts = split_records(ndjson).unwrap();
        assert_eq!(texts, ["{\"a\": 1}", "{\"b\":[2]}"]);
        let array = b" [{\"a\": 1}, {\"b\":[2]}]";
        let texts = split_records(array).unwrap();
        assert_eq!(texts, ["{\"a\": 1}", "{\"b\":[2]}"]);
        assert!(split_records(b"[{\"a\":").is_err());
    }

    #[test]
    fn wraps_records_as_firehose_does() {
        let records = br#"{"awsRegion":"eu-west-1","tableName":"orders","dynamodb":{"ApproximateCreationDateTime":1700000000123456,"Keys":{"pk":{"S":"a"}}}}
            not-json-but-kept"#;
        // A line that is not JSON is a record of its own, as `replay` takes it: it fails when
        // transformed, and the other records are wrapped as usual.
        let event: Value = serde_json::from_slice(&firehose_event(records).unwrap()).unwrap();
        let data = STANDARD
            .decode(event["records"][1]["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(data, b"not-json-but-kept");
        assert!(firehose_event(b"[{\"a\":1},").is_err());
        assert!(firehose_event(b"{\"records\":[]}").is_err());
        let records = br#"{"awsRegion":"eu-west-1","tableName":"orders","dynamodb":{"ApproximateCreationDateTime":1700000000123456,"Keys":{"pk":{"S":"a"}}}}
            {"broken": true}"#;
        let event: Value = serde_json::from_slice(&firehose_event(records).unwrap()).unwrap();
        assert_eq!(
            event["sourceKinesisStreamArn"],
            "arn:aws:kinesis:eu-west-1:111122223333:stream/orders-changes"
        );
        let first = &event["records"][0];
        assert_eq!(first["approximateArrivalTimestamp"], 1_700_000_000_373u64);
        let data = STANDARD.decode(first["data"].as_str().unwrap()).unwrap();
        assert!(data.starts_with(br#"{"awsRegion":"eu-west-1""#));
        assert_eq!(
            event["records"][1]["kinesisRecordMetadata"]["partitionKey"],
            "record-1"
        );
        assert_eq!(
            event["records"][1]["approximateArrivalTimestamp"],
            DEFAULT_ARRIVAL_MS + 1
        );
    }

    #[test]
    fn batches_continue_the_numbering_of_the_stream() {
        let input = br#"{"awsRegion":"eu-west-1","tableName":"orders","dynamodb":{"ApproximateCreationDateTime":1700000000123}}
            {"broken": true}
            {"tableName":"quote\"d"}"#;
        let records = split_records(input).unwrap();
        let records: Vec<&[u8]> = records.iter().map(|r| r.as_bytes()).collect();
        let first: Value = serde_json::from_slice(&firehose_event_for(&records[..2], 0)).unwrap();
        let second: Value = serde_json::from_slice(&firehose_event_for(&records[2..], 2)).unwrap();
        assert_eq!(first["records"].as_array().unwrap().len(), 2);
        assert_eq!(first["records"][1]["recordId"], format!("{:056}", 2));
        assert_eq!(second["records"][0]["recordId"], format!("{:056}", 3));
        assert_ne!(first["invocationId"], second["invocationId"]);
        // A record whose names cannot be borrowed still gets a valid event (parsed above).
        assert_eq!(second["region"], "us-east-1");
        let data = STANDARD
            .decode(second["records"][0]["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(data, records[2]);
        assert_eq!(
            second["records"][0]["kinesisRecordMetadata"]["sequenceNumber"],
            format!("4964{:052}", 3)
        );
    }

    const STREAMS: &str = r#"{"eventID":"c4ca4238a0b923820dcc509a6f75849b","eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"eu-west-1","dynamodb":{"ApproximateCreationDateTime":1428537600.25,"Keys":{"Id":{"N":"101"}},"SequenceNumber":"4421584500000000017450439091","SizeBytes":26,"StreamViewType":"KEYS_ONLY"},"eventSourceARN":"arn:aws:dynamodb:eu-west-1:123456789012:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899"}"#;

    #[test]
    fn lambda_events_split_into_their_records() {
        let event = format!(
            "{{\"Records\": [{STREAMS}, {STREAMS}]}}\n{{\"Records\":[{STREAMS}]}}\n{STREAMS}"
        );
        let texts = split_records(event.as_bytes()).unwrap();
        assert_eq!(texts, [STREAMS; 4]);
        assert_eq!(
            lambda_event_records(br#"{"Records":[]}"#).map(|r| r.len()),
            Some(0)
        );
        // Not Lambda events: a change record, a Firehose event, records that are not a list.
        for other in [
            STREAMS.as_bytes(),
            br#"{"records":[{"recordId":"r","data":""}]}"#,
            br#"{"Records":5}"#,
            br#"{"Records":[],"dynamodb":{}}"#,
            b"[1]",
        ] {
            assert!(
                lambda_event_records(other).is_none(),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn dynamodb_streams_records_are_wrapped_as_a_pipe_delivers_them() {
        let event: Value =
            serde_json::from_slice(&firehose_event(STREAMS.as_bytes()).unwrap()).unwrap();
        // Direct PUT: no source stream, no Kinesis metadata; named after the ARN's table.
        assert!(event.get("sourceKinesisStreamArn").is_none());
        assert_eq!(
            event["deliveryStreamArn"],
            "arn:aws:firehose:eu-west-1:111122223333:deliverystream/ExampleTableWithStream-lake"
        );
        let record = &event["records"][0];
        assert!(record.get("kinesisRecordMetadata").is_none());
        // Seconds, with their fraction, become the arrival in milliseconds, a moment later.
        assert_eq!(record["approximateArrivalTimestamp"], 1_428_537_600_500u64);
        assert_eq!(
            STANDARD.decode(record["data"].as_str().unwrap()).unwrap(),
            STREAMS.as_bytes()
        );
        // Beside a Kinesis-format record the event has its source stream; each record keeps
        // its own shape.
        let kinesis = r#"{"awsRegion":"eu-west-1","tableName":"orders","dynamodb":{"ApproximateCreationDateTime":1700000000123}}"#;
        let mixed: Value =
            serde_json::from_slice(&firehose_event_for(&[STREAMS, kinesis], 0)).unwrap();
        assert!(mixed["sourceKinesisStreamArn"].is_string());
        assert!(mixed["records"][0].get("kinesisRecordMetadata").is_none());
        assert!(mixed["records"][1]["kinesisRecordMetadata"].is_object());
        assert_eq!(
            mixed["records"][1]["approximateArrivalTimestamp"],
            1_700_000_000_373u64
        );
    }

    #[test]
    fn records_in_neither_format_arrive_in_seconds_read_as_seconds() {
        // A DynamoDB Streams record without its eventSourceARN (as `aws dynamodbstreams
        // get-records` prints it) fails, but lands in the error partition of its change time,
        // not in January 1970; so does a Kinesis-format record given seconds.
        let no_arn = STREAMS.replace(
            r#","eventSourceARN":"arn:aws:dynamodb:eu-west-1:123456789012:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899""#,
            "",
        );
        assert_ne!(no_arn, STREAMS);
        let seconds = r#"{"awsRegion":"eu-west-1","tableName":"orders","dynamodb":{"ApproximateCreationDateTime":1571849028.0}}"#;
        let event: Value =
            serde_json::from_slice(&firehose_event_for(&[no_arn.as_str(), seconds], 0)).unwrap();
        assert_eq!(
            event["records"][0]["approximateArrivalTimestamp"],
            1_428_537_600_500u64
        );
        assert_eq!(
            event["records"][1]["approximateArrivalTimestamp"],
            1_571_849_028_250u64
        );
    }
}
