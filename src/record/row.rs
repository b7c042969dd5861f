//! One row of the lake: the metadata columns, then the item's flattened attributes, as one
//! compact JSON object followed by `\n`.

use crate::config::Config;
use crate::record::change_record::{ChangeRecord, EventName, Format, Image};
use crate::record::error::{describe_json_error, RecordError};
use crate::record::event_time::{EventTime, TimeError};
use crate::record::flatten::Flattener;
use crate::record::json_out::write_json_str;
use crate::record::partition::{is_table_name, PartitionKeys};
use crate::record::typed_json::ItemError;

/// The metadata columns, in row order, without their prefix. All are reserved names, also in
/// rows that omit some of them (`stream_sequence_number` is written for DynamoDB Streams
/// records only, the `kinesis_` ones for records read from a Kinesis stream only).
pub const METADATA_COLUMNS: [&str; 10] = [
    "event_name",
    "event_id",
    "event_time",
    "table_name",
    "aws_region",
    "is_deleted",
    "expired_by_ttl",
    "stream_sequence_number",
    "kinesis_shard_id",
    "kinesis_sequence_number",
];

/// Where the change was read from the source stream; absent for Direct PUT.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamPosition<'a> {
    pub shard_id: Option<&'a str>,
    pub sequence_number: Option<&'a str>,
}

/// Everything of a row except the item's attributes.
#[derive(Debug, Clone, Copy)]
pub struct RowMeta<'a> {
    pub event_name: EventName,
    pub event_id: &'a str,
    pub time: EventTime,
    pub table_name: &'a str,
    pub aws_region: &'a str,
    pub expired_by_ttl: bool,
    /// `dynamodb.SequenceNumber` of a DynamoDB Streams record; `None` for the Kinesis format.
    pub stream_sequence_number: Option<&'a str>,
    pub position: StreamPosition<'a>,
}

/// Builds rows one after another, reusing its buffers.
pub struct RowWriter {
    /// `"<prefix><column>":`, ready to copy.
    keys: [Vec<u8>; 10],
    flattener: Flattener,
    /// The attribute columns of the row being built (each with a leading comma).
    columns: Vec<u8>,
    line: Vec<u8>,
    /// See [`crate::limits::Limits::max_row_bytes`].
    max_row_bytes: usize,
}

impl RowWriter {
    pub fn new(config: &Config) -> RowWriter {
        let names = METADATA_COLUMNS.map(|c| format!("{}{c}", config.metadata_prefix));
        let keys = names.clone().map(|name| {
            let mut key = Vec::new();
            write_json_str(&mut key, &name);
            key.push(b':');
            key
        });
        RowWriter {
            keys,
            flattener: Flattener::new(config, names.to_vec()),
            columns: Vec::with_capacity(4096),
            line: Vec::with_capacity(4096),
            max_row_bytes: config.limits.max_row_bytes(),
        }
    }

    /// Writes the row of `meta` and `image` (a JSON map of typed values) and returns it,
    /// newline included.
    pub fn write(&mut self, meta: &RowMeta, image: &str) -> Result<&[u8], RecordError> {
        self.columns.clear();
        self.flattener.write_columns(image, &mut self.columns)?;
        self.assemble(meta)
    }

    /// The row: `meta`'s columns, then the attribute columns already in `self.columns`.
    fn assemble(&mut self, meta: &RowMeta) -> Result<&[u8], RecordError> {
        let [name, id, time, table, region, deleted, ttl, stream_sequence, shard, sequence] =
            &self.keys;
        let out = &mut self.line;
        out.clear();
        out.push(b'{');
        out.extend_from_slice(name);
        write_json_str(out, meta.event_name.as_str());
        column(out, id);
        write_json_str(out, meta.event_id);
        column(out, time);
        meta.time.write_json(out);
        column(out, table);
        write_json_str(out, meta.table_name);
        column(out, region);
        write_json_str(out, meta.aws_region);
        column(out, deleted);
        out.extend_from_slice(bool_text(meta.event_name == EventName::Remove));
        column(out, ttl);
        out.extend_from_slice(bool_text(meta.expired_by_ttl));
        if let Some(sequence_number) = meta.stream_sequence_number {
            column(out, stream_sequence);
            write_json_str(out, sequence_number);
        }
        if let Some(shard_id) = meta.position.shard_id {
            column(out, shard);
            write_json_str(out, shard_id);
        }
        if let Some(sequence_number) = meta.position.sequence_number {
            column(out, sequence);
            write_json_str(out, sequence_number);
        }
        out.extend_from_slice(&self.columns);
        out.extend_from_slice(b"}\n");
        // The flattener stops a row within one value of the limit; this catches that value.
        if self.line.len() > self.max_row_bytes {
            return Err(ItemError::RowTooLarge.into());
        }
        Ok(&self.line)
    }

    /// Makes the row of one change record (`payload`, the decoded bytes of a stream record), in
    /// either format (see [`crate::record::change_record::Format`]). `arrival` is Firehose's arrival
    /// time, used when the record carries no change time; either time must be plausible
    /// ([`EventTime::plausible`]), so nothing lands in a wrong partition.
    pub fn change_record<'p>(
        &mut self,
        payload: &'p [u8],
        arrival: impl FnOnce() -> Result<EventTime, TimeError>,
        position: StreamPosition,
    ) -> Result<(&[u8], PartitionKeys<'p>), RecordError> {
        let text = std::str::from_utf8(payload).map_err(|_| RecordError::NotUtf8)?;
        self.columns.clear();
        let eager = Some((&mut self.flattener, &mut self.columns));
        let record = match ChangeRecord::parse(text, eager) {
            Ok(record) => record,
            Err(e) => {
                let Some(item_fault) = self.flattener.take_failure(&e) else {
                    return Err(unreadable(&e));
                };
                // The image failed while it was read. Which reason wins must not depend on the
                // order of the record's fields: the envelope's faults come first (see
                // `check_envelope`), so the record is read again without its image.
                let record = ChangeRecord::parse(text, None).map_err(|e| unreadable(&e))?;
                check_envelope(&record, arrival)?;
                return Err(RecordError::Item(item_fault));
            }
        };
        let (event_name, time) = check_envelope(&record, arrival)?;
        let image = record.image(event_name).ok_or(RecordError::NoImage)?;
        let meta = RowMeta {
            event_name,
            event_id: &record.event_id,
            time,
            table_name: &record.table_name,
            aws_region: &record.aws_region,
            expired_by_ttl: record.expired_by_ttl(event_name),
            stream_sequence_number: record.stream_sequence_number(),
            position,
        };
        if let Image::Raw(raw) = image {
            self.flattener.write_columns(raw.get(), &mut self.columns)?;
        }
        self.assemble(&meta)?;
        Ok((
            &self.line,
            PartitionKeys {
                table: record.table_name,
                time,
            },
        ))
    }
}

/// The record's own faults, in the order they win when a record has several (the README's
/// "Reading a failure"): a record that cannot be read at all (`not_utf8`, `not_json`,
/// `not_a_change_record`), then `eventSource`, `eventName`, the table name, the change time; and
/// only then the image's faults (`no_image`, `bad_typed_value`, `too_deep`, `column_collision`,
/// `row_too_large`, the first met in the image's order). `arrival` is Firehose's arrival time,
/// used when the record carries no change time.
fn check_envelope(
    record: &ChangeRecord,
    arrival: impl FnOnce() -> Result<EventTime, TimeError>,
) -> Result<(EventName, EventTime), RecordError> {
    if record
        .event_source
        .as_deref()
        .is_some_and(|s| s != "aws:dynamodb")
    {
        return Err(RecordError::WrongEventSource);
    }
    let event_name =
        EventName::from_name(&record.event_name).ok_or(RecordError::UnknownEventName)?;
    if !is_table_name(&record.table_name) {
        return Err(match record.format {
            Format::KinesisDataStreams => RecordError::BadTableName,
            Format::DynamoDbStreams => RecordError::NoTableInEventSourceArn,
        });
    }
    let time = match record.creation_time() {
        Some(t) => t?,
        None => arrival()?,
    }
    .plausible()?;
    Ok((event_name, time))
}

/// A payload that is not a change record at all.
fn unreadable(e: &serde_json::Error) -> RecordError {
    if e.is_data() {
        RecordError::NotAChangeRecord(describe_json_error(e))
    } else {
        RecordError::NotJson(describe_json_error(e))
    }
}

fn column(out: &mut Vec<u8>, key: &[u8]) {
    out.push(b',');
    out.extend_from_slice(key);
}

fn bool_text(b: bool) -> &'static [u8] {
    if b {
        b"true"
    } else {
        b"false"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::typed_json::ItemError;

    const INSERT: &str = r#"{"awsRegion":"us-east-1","eventID":"7f4c-1","eventName":"INSERT","userIdentity":null,"recordFormat":"application/json","tableName":"orders","dynamodb":{"ApproximateCreationDateTime":1700000000123,"Keys":{"pk":{"S":"o#1"}},"NewImage":{"pk":{"S":"o#1"},"total":{"N":"12.50"}},"SizeBytes":40},"eventSource":"aws:dynamodb"}"#;

    fn arrival() -> Result<EventTime, TimeError> {
        EventTime::from_millis(1_600_000_000_000)
    }

    fn row(
        config: &Config,
        payload: &str,
        position: StreamPosition,
    ) -> Result<String, RecordError> {
        let mut w = RowWriter::new(config);
        let (line, _) = w.change_record(payload.as_bytes(), arrival, position)?;
        Ok(String::from_utf8(line.to_vec()).unwrap())
    }

    #[test]
    fn metadata_first_then_attributes() {
        let position = StreamPosition {
            shard_id: Some("shardId-000000000003"),
            sequence_number: Some("4963"),
        };
        assert_eq!(
            row(&Config::default(), INSERT, position).unwrap(),
            concat!(
                r#"{"_event_name":"INSERT","_event_id":"7f4c-1","_event_time":"2023-11-14T22:13:20.123000Z","#,
                r#""_table_name":"orders","_aws_region":"us-east-1","_is_deleted":false,"_expired_by_ttl":false,"#,
                r#""_kinesis_shard_id":"shardId-000000000003","_kinesis_sequence_number":"4963","#,
                r#""pk":"o#1","total":12.50}"#,
                "\n"
            )
        );
    }

    #[test]
    fn direct_put_omits_stream_columns_and_prefix_is_configurable() {
        let config = Config {
            metadata_prefix: "dl_".into(),
            ..Config::default()
        };
        let line = row(&config, INSERT, StreamPosition::default()).unwrap();
        assert!(line.starts_with(r#"{"dl_event_name":"INSERT","dl_event_id":"7f4c-1","#));
        assert!(!line.contains("kinesis"));
        assert!(line.ends_with("\"dl_expired_by_ttl\":false,\"pk\":\"o#1\",\"total\":12.50}\n"));
    }

    #[test]
    fn missing_change_time_falls_back_to_arrival() {
        let no_time = INSERT.replace(r#""ApproximateCreationDateTime":1700000000123,"#, "");
        let mut w = RowWriter::new(&Config::default());
        let (line, keys) = w
            .change_record(no_time.as_bytes(), arrival, StreamPosition::default())
            .unwrap();
        assert!(String::from_utf8_lossy(line)
            .contains(r#""_event_time":"2020-09-13T12:26:40.000000Z""#));
        assert_eq!(
            keys.s3_prefix(),
            "table=orders/year=2020/month=09/day=13/hour=12/"
        );
        let neither = w.change_record(
            no_time.as_bytes(),
            || Err(TimeError::Missing),
            StreamPosition::default(),
        );
        assert_eq!(neither.unwrap_err(), RecordError::Time(TimeError::Missing));
    }

    #[test]
    fn records_that_are_not_change_records_fail() {
        let cases: Vec<(String, RecordError)> = vec![
            ("[1,2]".into(), RecordError::NotAChangeRecord(String::new())),
            ("{\"a\":".into(), RecordError::NotJson(String::new())),
            (INSERT.replace("\"INSERT\"", "\"UPSERT\""), RecordError::UnknownEventName),
            (INSERT.replace("aws:dynamodb", "aws:s3"), RecordError::WrongEventSource),
            (INSERT.replace("\"orders\"", "\"../etc\""), RecordError::BadTableName),
            (INSERT.replace(r#""eventID":"7f4c-1","#, ""), RecordError::NotAChangeRecord(String::new())),
            (
                INSERT.replace(r#""Keys":{"pk":{"S":"o#1"}},"NewImage":{"pk":{"S":"o#1"},"total":{"N":"12.50"}},"#, ""),
                RecordError::NoImage,
            ),
            (INSERT.replace(r#"{"N":"12.50"}"#, r#"{"N":"12,50"}"#), RecordError::Item(ItemError::BadNumber)),
            (INSERT.replace(r#""total""#, r#""_event_id""#), RecordError::Item(ItemError::ColumnCollision)),
        ];
        for (payload, expected) in cases {
            let err = row(&Config::default(), &payload, StreamPosition::default()).unwrap_err();
            assert_eq!(err.code(), expected.code(), "{payload}: {err}");
        }
        let err = row(&Config::default(), "\u{0}\u{ff}", StreamPosition::default());
        assert!(err.is_err());
        let mut w = RowWriter::new(&Config::default());
        let bad_utf8 = w.change_record(b"{\"a\":\"\xff\"}", arrival, StreamPosition::default());
        assert_eq!(bad_utf8.unwrap_err(), RecordError::NotUtf8);
    }

    #[test]
    fn failure_reasons_do_not_quote_item_data() {
        let secret = INSERT.replace(
            r#""tableName":"orders""#,
            r#""tableName":{"secret":"p@ss"}"#,
        );
        let err = row(&Config::default(), &secret, StreamPosition::default()).unwrap_err();
        assert!(!err.to_string().contains("p@ss"), "{err}");
        let err = row(
            &Config::default(),
            r#""john@example.com""#,
            StreamPosition::default(),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("john"), "{err}");
    }

    /// A DynamoDB Streams record (the AWS Lambda guide's example INSERT, compacted).
    const STREAMS: &str = r#"{"eventID":"c4ca4238a0b923820dcc509a6f75849b","eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1","dynamodb":{"Keys":{"Id":{"N":"101"}},"NewImage":{"Message":{"S":"New item!"},"Id":{"N":"101"}},"ApproximateCreationDateTime":1428537600,"SequenceNumber":"4421584500000000017450439091","SizeBytes":26,"StreamViewType":"NEW_AND_OLD_IMAGES"},"eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899"}"#;

    #[test]
    fn a_dynamodb_streams_record_gives_the_same_row_with_its_sequence_number() {
        assert_eq!(
            row(&Config::default(), STREAMS, StreamPosition::default()).unwrap(),
            concat!(
                r#"{"_event_name":"INSERT","_event_id":"c4ca4238a0b923820dcc509a6f75849b","#,
                r#""_event_time":"2015-04-09T00:00:00.000000Z","_table_name":"ExampleTableWithStream","#,
                r#""_aws_region":"us-east-1","_is_deleted":false,"_expired_by_ttl":false,"#,
                r#""_stream_sequence_number":"4421584500000000017450439091","#,
                r#""Message":"New item!","Id":101}"#,
                "\n"
            )
        );
        // Read from a Kinesis stream after all, it would carry both.
        let position = StreamPosition {
            shard_id: Some("shardId-000000000003"),
            sequence_number: Some("4963"),
        };
        let line = row(&Config::default(), STREAMS, position).unwrap();
        assert!(line.contains(r#""_stream_sequence_number":"4421584500000000017450439091","_kinesis_shard_id":"shardId-000000000003","_kinesis_sequence_number":"4963","Message""#), "{line}");
        let mut w = RowWriter::new(&Config::default());
        let (_, keys) = w
            .change_record(STREAMS.as_bytes(), arrival, StreamPosition::default())
            .unwrap();
        assert_eq!(
            keys.s3_prefix(),
            "table=ExampleTableWithStream/year=2015/month=04/day=09/hour=00/"
        );
    }

    #[test]
    fn a_stream_arn_without_a_table_fails_as_a_bad_table_name() {
        let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899";
        for bad in [
            "stream-ARN",
            "arn:aws:dynamodb:us-east-1:1:table/a/stream/x",
            "arn:aws:dynamodb:us-east-1:1:table/../x",
        ] {
            let err = row(
                &Config::default(),
                &STREAMS.replace(arn, bad),
                StreamPosition::default(),
            )
            .unwrap_err();
            assert_eq!(err, RecordError::NoTableInEventSourceArn, "{bad}");
            assert_eq!(err.code(), "bad_table_name");
        }
    }

    #[test]
    fn the_stream_sequence_number_column_is_reserved_in_both_formats() {
        let clash = r#""NewImage":{"_stream_sequence_number":{"S":"x"}}"#;
        let kinesis = INSERT.replace(
            r#""NewImage":{"pk":{"S":"o#1"},"total":{"N":"12.50"}}"#,
            clash,
        );
        let streams = STREAMS.replace(
            r#""NewImage":{"Message":{"S":"New item!"},"Id":{"N":"101"}}"#,
            clash,
        );
        for payload in [kinesis, streams] {
            assert_ne!(payload, INSERT);
            let err = row(&Config::default(), &payload, StreamPosition::default()).unwrap_err();
            assert_eq!(err.code(), "column_collision", "{payload}");
        }
    }

    #[test]
    fn an_implausible_change_time_fails_in_either_format() {
        // Epoch seconds in a Kinesis-format record would be 1970 read as milliseconds.
        let seconds = INSERT.replace("1700000000123", "1700000000");
        let err = row(&Config::default(), &seconds, StreamPosition::default()).unwrap_err();
        assert_eq!(err, RecordError::Time(TimeError::Implausible));
        assert_eq!(err.code(), "bad_change_time");
        // Milliseconds in a DynamoDB Streams record would be the year 47,000 read as seconds.
        let millis = STREAMS.replace("1428537600", "1428537600000");
        let err = row(&Config::default(), &millis, StreamPosition::default()).unwrap_err();
        assert_eq!(err.code(), "bad_change_time");
        // The edges: 2000-01-01T00:00:00Z is the first plausible instant, 2200-01-01 the first not.
        for (format, first, past) in [
            (INSERT, "946684800000", "7258118400000"),
            (STREAMS, "946684800", "7258118400"),
        ] {
            let time = if format == INSERT {
                "1700000000123"
            } else {
                "1428537600"
            };
            let at = |value: &str| {
                row(
                    &Config::default(),
                    &format.replace(time, value),
                    StreamPosition::default(),
                )
            };
            assert!(at(first)
                .unwrap()
                .contains(r#""_event_time":"2000-01-01T00:00:00.000000Z""#));
            let before = if format == INSERT {
                "946684799999"
            } else {
                "946684799.999999"
            };
            assert_eq!(
                at(before).unwrap_err(),
                RecordError::Time(TimeError::Implausible)
            );
            let last = if format == INSERT {
                "7258118399999999"
            } else {
                "7258118399.999999"
            };
            assert!(at(last)
                .unwrap()
                .contains(r#""_event_time":"2199-12-31T23:59:59.999999Z""#));
            assert_eq!(
                at(past).unwrap_err(),
                RecordError::Time(TimeError::Implausible)
            );
        }
        // The arrival time stands in for a missing change time under the same rule.
        let no_time = INSERT.replace(r#""ApproximateCreationDateTime":1700000000123,"#, "");
        let mut w = RowWriter::new(&Config::default());
        for (arrival_ms, ok) in [
            (946_684_799_999, false),
            (946_684_800_000, true),
            (7_258_118_400_000, false),
        ] {
            let result = w.change_record(
                no_time.as_bytes(),
                || EventTime::from_millis(arrival_ms),
                StreamPosition::default(),
            );
            assert_eq!(result.is_ok(), ok, "{arrival_ms}");
        }
    }
}
