//! Splitting an input into what Firehose would hand the Lambda: change records (Kinesis Data
//! Streams for DynamoDB or DynamoDB Streams, one per line, in a JSON array, inside DynamoDB
//! Streams Lambda events, or as the data of Kinesis records in a Kinesis Lambda event or
//! `aws kinesis get-records` output) and whole Firehose transformation events. The one place
//! `ddb-lake firehose-event` and `ddb-lake replay` read their inputs, so both treat a file alike:
//! a line that is not a change record is still a record (it fails alone, as in Firehose), and
//! only an input that cannot be split at all (a broken JSON array) is refused.

use flate2::read::MultiGzDecoder;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::io::{BufRead, BufReader, Read};
use thiserror::Error;

/// One piece of an input, as its exact bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// One change record (or a line meant to be one), to be wrapped into an event.
    ChangeRecord(&'a [u8]),
    /// A whole Firehose transformation event, to be run as the batch it is.
    FirehoseEvent(&'a [u8]),
}

/// The input cannot be split into pieces.
#[derive(Debug, Error)]
pub enum InputError {
    #[error("cannot read it")]
    Read(#[source] std::io::Error),
    #[error("it is not a JSON array of change records ({0})")]
    BrokenArray(String),
    /// For `firehose-event`: its input is change records, not an event.
    #[error("it holds a Firehose event already: run it with `ddb-lake transform`")]
    AlreadyAnEvent,
}

/// Why splitting stopped: the input, or what `take` said.
#[derive(Debug)]
pub enum Stop<E> {
    Input(InputError),
    Take(E),
}

/// Reads `input`, plain or gzip-compressed, and hands its pieces to `take` in order:
/// * newline-delimited JSON values, read line by line in constant memory; each line a change
///   record, a Lambda event or `get-records` output (`{"Records": [...]}`: its records; a
///   Kinesis record's base64 `kinesis.data` or `Data` is the change record) or a Firehose
///   event, as the first line shows;
/// * a JSON array of change records;
/// * values spread over several lines (a pretty-printed event); a file that is not JSON
///   throughout is one record per line.
pub fn for_each_piece<E>(
    input: impl Read,
    mut take: impl FnMut(Piece) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let gzip = reader
        .fill_buf()
        .map_err(|e| Stop::Input(InputError::Read(e)))?
        .starts_with(&[0x1f, 0x8b]);
    if gzip {
        let inflated = BufReader::with_capacity(1 << 20, MultiGzDecoder::new(reader));
        split_plain(inflated, &mut take)
    } else {
        split_plain(reader, &mut take)
    }
}

/// What the values of an input are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ChangeRecords,
    LambdaEvents,
    FirehoseEvents,
}

fn split_plain<E>(
    mut reader: impl BufRead,
    take: &mut impl FnMut(Piece) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let mut line = Vec::new();
    loop {
        if !next_line(&mut reader, &mut line)? {
            return Ok(());
        }
        if !line.trim_ascii().is_empty() {
            break;
        }
    }
    let first = line.trim_ascii();
    let one_value_per_line =
        first[0] != b'[' && serde_json::from_slice::<IgnoredAny>(first).is_ok();
    if !one_value_per_line {
        let mut all = std::mem::take(&mut line);
        reader
            .read_to_end(&mut all)
            .map_err(|e| Stop::Input(InputError::Read(e)))?;
        return split_whole(&all, take);
    }
    let kind = kind_of(first);
    give(kind, first, take)?;
    while next_line(&mut reader, &mut line)? {
        let value = line.trim_ascii();
        if !value.is_empty() {
            give(kind, value, take)?;
        }
    }
    Ok(())
}

fn split_whole<E>(
    all: &[u8],
    take: &mut impl FnMut(Piece) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    if all.trim_ascii().starts_with(b"[") {
        let records: Vec<&RawValue> = serde_json::from_slice(all)
            .map_err(|e| Stop::Input(InputError::BrokenArray(e.to_string())))?;
        return records
            .iter()
            .try_for_each(|r| take(Piece::ChangeRecord(r.get().as_bytes())))
            .map_err(Stop::Take);
    }
    let values: Result<Vec<&RawValue>, _> = serde_json::Deserializer::from_slice(all)
        .into_iter::<&RawValue>()
        .collect();
    match values {
        Ok(values) => {
            let kind = values
                .first()
                .map_or(Kind::ChangeRecords, |v| kind_of(v.get().as_bytes()));
            values
                .iter()
                .try_for_each(|v| give(kind, v.get().as_bytes(), take))
        }
        // Not JSON throughout: one record per line, and the bad lines fail on their own.
        Err(_) => all
            .split(|&b| b == b'\n')
            .map(<[u8]>::trim_ascii)
            .filter(|record| !record.is_empty())
            .try_for_each(|record| take(Piece::ChangeRecord(record)))
            .map_err(Stop::Take),
    }
}

fn give<E>(
    kind: Kind,
    value: &[u8],
    take: &mut impl FnMut(Piece) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    match kind {
        Kind::ChangeRecords => take(Piece::ChangeRecord(value)),
        // A value that is not a Lambda event after all is a record of its own, to fail.
        Kind::LambdaEvents => match lambda_event_records(value) {
            Some(records) => records.iter().try_for_each(|r| {
                let record = r.get().as_bytes();
                match kinesis_data(record) {
                    Some(data) => take(Piece::ChangeRecord(&data)),
                    None => take(Piece::ChangeRecord(record)),
                }
            }),
            None => take(Piece::ChangeRecord(value)),
        },
        Kind::FirehoseEvents => take(Piece::FirehoseEvent(value)),
    }
    .map_err(Stop::Take)
}

/// A DynamoDB Streams Lambda event, as a Lambda trigger receives it and users capture it: its
/// `Records` are change records in the DynamoDB Streams format
/// (<https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html>). The output of
/// `aws dynamodbstreams get-records` has the same shape, and so do a Kinesis Lambda event and
/// `aws kinesis get-records` output, whose records hold change records in their data (see
/// [`KinesisRecord`]). A change record never has a `Records` field; a Firehose event's is
/// `records`.
#[derive(Deserialize)]
struct LambdaEvent<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
    #[serde(default)]
    dynamodb: Option<IgnoredAny>,
}

/// The change records of `value` if it is a DynamoDB Streams Lambda event (`{"Records": [...]}`),
/// each as its exact text; `None` for anything else.
pub fn lambda_event_records(value: &[u8]) -> Option<Vec<&RawValue>> {
    match serde_json::from_slice::<LambdaEvent>(value) {
        Ok(event) if event.dynamodb.is_none() => Some(event.records),
        _ => None,
    }
}

/// A Kinesis data stream record as a Kinesis consumer sees it: in a Lambda event (`kinesis.data`,
/// <https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html>) or in the output of
/// `aws kinesis get-records` (`Data`, Kinesis Data Streams API Reference, "Record"), the way
/// the DynamoDB Developer Guide's "Getting started with Kinesis Data Streams for DynamoDB"
/// reads a table's changes. Its data, base64, is the change record.
#[derive(Deserialize)]
struct KinesisRecord<'a> {
    #[serde(default, borrow)]
    kinesis: Option<KinesisPayload<'a>>,
    #[serde(rename = "Data", default, borrow)]
    data: Option<&'a str>,
    #[serde(default)]
    dynamodb: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct KinesisPayload<'a> {
    #[serde(borrow)]
    data: &'a str,
}

/// The change record inside `record` if it is a Kinesis data stream record with base64 data;
/// `None` for anything else (a change record itself, or data that is not base64, which then
/// fails as the record it is).
fn kinesis_data(record: &[u8]) -> Option<Vec<u8>> {
    let parsed: KinesisRecord = serde_json::from_slice(record).ok()?;
    if parsed.dynamodb.is_some() {
        return None;
    }
    let data = parsed.kinesis.map(|k| k.data).or(parsed.data)?;
    base64_simd::STANDARD.decode_to_vec(data).ok()
}

/// Just enough of a JSON value to tell a Firehose event from a change record.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    records: Option<IgnoredAny>,
    #[serde(default)]
    dynamodb: Option<IgnoredAny>,
}

fn kind_of(value: &[u8]) -> Kind {
    match serde_json::from_slice::<Probe>(value) {
        Ok(Probe {
            records: Some(_),
            dynamodb: None,
        }) => Kind::FirehoseEvents,
        _ if lambda_event_records(value).is_some() => Kind::LambdaEvents,
        _ => Kind::ChangeRecords,
    }
}

/// Reads the next line of `reader` into `line`; `false` at the end of the input.
fn next_line<E>(reader: &mut impl BufRead, line: &mut Vec<u8>) -> Result<bool, Stop<E>> {
    line.clear();
    let n = reader
        .read_until(b'\n', line)
        .map_err(|e| Stop::Input(InputError::Read(e)))?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces of `input`, as text: `R:` a change record, `E:` a Firehose event.
    fn pieces(input: &[u8]) -> Result<Vec<String>, InputError> {
        let mut out = Vec::new();
        let split = for_each_piece(input, |p| {
            out.push(match p {
                Piece::ChangeRecord(r) => format!("R:{}", String::from_utf8_lossy(r)),
                Piece::FirehoseEvent(e) => format!("E:{}", String::from_utf8_lossy(e)),
            });
            Ok::<(), ()>(())
        });
        match split {
            Ok(()) => Ok(out),
            Err(Stop::Input(e)) => Err(e),
            Err(Stop::Take(())) => unreachable!("take never fails here"),
        }
    }

    #[test]
    fn lines_arrays_lambda_events_and_firehose_events() {
        assert_eq!(
            pieces(b"{\"a\":1}\n\n {\"b\":2} \n").unwrap(),
            ["R:{\"a\":1}", "R:{\"b\":2}"]
        );
        assert_eq!(
            pieces(b"[{\"a\":1},\n{\"b\":2}]").unwrap(),
            ["R:{\"a\":1}", "R:{\"b\":2}"]
        );
        assert_eq!(
            pieces(b"{\"Records\":[{\"a\":1},{\"b\":2}]}\n{\"Records\":[{\"c\":3}]}").unwrap(),
            ["R:{\"a\":1}", "R:{\"b\":2}", "R:{\"c\":3}"]
        );
        assert_eq!(
            pieces(b"{\"records\":[]}\n{\"records\":[1]}").unwrap(),
            ["E:{\"records\":[]}", "E:{\"records\":[1]}"]
        );
        // A pretty-printed event spans lines.
        assert_eq!(
            pieces(b"{\n \"records\": []\n}\n").unwrap(),
            ["E:{\n \"records\": []\n}"]
        );
        assert!(pieces(b"").unwrap().is_empty());
    }

    #[test]
    fn a_line_that_is_not_json_is_a_record_of_its_own() {
        assert_eq!(
            pieces(b"{\"a\":1}\nnot json\n{\"b\":2}").unwrap(),
            ["R:{\"a\":1}", "R:not json", "R:{\"b\":2}"]
        );
        // Also when the first line is the bad one.
        assert_eq!(
            pieces(b"oops\n{\"a\":1}").unwrap(),
            ["R:oops", "R:{\"a\":1}"]
        );
    }

    #[test]
    fn gzip_inputs_and_broken_arrays() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        assert_eq!(
            pieces(&gz.finish().unwrap()).unwrap(),
            ["R:{\"a\":1}", "R:{\"b\":2}"]
        );
        assert!(matches!(
            pieces(b"[{\"a\":1},"),
            Err(InputError::BrokenArray(_))
        ));
    }

    #[test]
    fn kinesis_records_give_the_change_records_in_their_data() {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        let change =
            r#"{"awsRegion":"eu-west-1","tableName":"t","dynamodb":{"Keys":{"id":{"S":"a"}}}}"#;
        let data = STANDARD.encode(change);
        // A Kinesis Lambda event, and `aws kinesis get-records` output.
        let lambda = format!(
            r#"{{"Records":[{{"kinesis":{{"partitionKey":"p","data":"{data}"}},"eventSource":"aws:kinesis"}}]}}"#
        );
        let cli = format!(
            r#"{{"Records":[{{"SequenceNumber":"1","Data":"{data}","PartitionKey":"p"}}],"NextShardIterator":"x","MillisBehindLatest":0}}"#
        );
        for input in [lambda, cli] {
            assert_eq!(pieces(input.as_bytes()).unwrap(), [format!("R:{change}")]);
        }
        // Data that is not base64 leaves the Kinesis record to fail as the record it is.
        let bad = r#"{"Records":[{"kinesis":{"data":"%%"}}]}"#;
        assert_eq!(
            pieces(bad.as_bytes()).unwrap(),
            [r#"R:{"kinesis":{"data":"%%"}}"#]
        );
    }

    #[test]
    fn lambda_events_are_told_from_records() {
        assert_eq!(
            lambda_event_records(br#"{"Records":[]}"#).map(|r| r.len()),
            Some(0)
        );
        for other in [
            &br#"{"records":[]}"#[..],
            br#"{"Records":[],"dynamodb":{}}"#,
            br#"{"eventName":"INSERT"}"#,
            b"[1]",
            b"nope",
        ] {
            assert!(lambda_event_records(other).is_none());
        }
    }
}
