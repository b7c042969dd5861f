//! `ddb-lake replay`: change records, or Firehose events, through the Lambda's own code path into
//! the local lake.
//!
//! Change records are gathered into Firehose-sized batches, wrapped into a Firehose event the
//! way Firehose wraps what it reads from the Kinesis stream ([`firehose_event_for`]), and run
//! through [`transform_event`], exactly what the Lambda runs. The response is then delivered the
//! way Firehose delivers it: each `Ok` record's decoded `data` under the folder its
//! `metadata.partitionKeys` name, each `ProcessingFailed` record's original `data` to the error
//! layout. Nothing here transforms a record itself.

use crate::catalog::key_schema::KeySchema;
use crate::config::Config;
use crate::firehose::batch::RecordResult;
use crate::firehose::error::EventError;
use crate::firehose::event::FirehoseEvent;
use crate::firehose::payload::Payload;
use crate::firehose::transform_event;
use crate::lake::event_builder::firehose_event_for;
use crate::lake::input::{self, InputError, Piece, Stop};
use crate::lake::writer::{partition_prefix, FailedRecord, LakeError, LakeWriter};
use crate::limits::{PROCESSOR_BUFFER_BYTES, PROCESSOR_MAX_RECORDS};
use crate::telemetry::logs;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;
use std::time::Instant;
use thiserror::Error;

/// When a batch is handed to the transformation: at `max_records` records or when the next
/// record would take its data past `max_bytes`, like Firehose's Lambda processor buffer
/// (`BufferSizeInMBs`, 1 MB in the stacks, at most 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_records: usize,
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_records: PROCESSOR_MAX_RECORDS,
            max_bytes: PROCESSOR_BUFFER_BYTES,
        }
    }
}

/// What a replay did, record by record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub records: u64,
    pub ok: u64,
    pub failed: u64,
    /// Answered `Dropped` by the transformation (not delivered).
    pub dropped: u64,
    /// Transformation invocations.
    pub batches: u64,
    /// Failed records by reason code.
    pub failures: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("cannot read {input}: {source}")]
    Read {
        input: String,
        source: std::io::Error,
    },
    #[error("{input}: {reason}")]
    Input { input: String, reason: String },
    #[error("{input}: {source}")]
    Event { input: String, source: EventError },
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("the transformation's response does not match its event: {0}")]
    Response(String),
}

/// What Firehose reads from the error prefix: the Lambda marked the record `ProcessingFailed`.
const ERROR_OUTPUT_TYPE: &str = "processing-failed";
const ERROR_CODE: &str = "Lambda.ProcessingFailedStatus";
const ERROR_MESSAGE: &str = "ProcessingFailed status set for record";

/// Feeds inputs through the transformation into a lake.
pub struct Replay<'a> {
    config: &'a Config,
    lake: &'a mut LakeWriter,
    limits: BatchLimits,
    stats: ReplayStats,
    /// The change records of the batch being gathered, each exactly as read.
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    /// Position of the next change record in the whole replay, for record ids.
    next_index: usize,
    row: Vec<u8>,
    /// Each source table's key, from the first of its records that shows it; written into the
    /// lake at the end, as the table-attachment function does on AWS.
    key_schemas: BTreeMap<String, KeySchema>,
    payload: Payload,
}

impl<'a> Replay<'a> {
    pub fn new(config: &'a Config, lake: &'a mut LakeWriter, limits: BatchLimits) -> Replay<'a> {
        Replay {
            config,
            lake,
            limits,
            stats: ReplayStats::default(),
            pending: Vec::new(),
            pending_bytes: 0,
            next_index: 0,
            row: Vec::new(),
            key_schemas: BTreeMap::new(),
            payload: Payload::default(),
        }
    }

    /// Replays one input named `name` (for messages), plain or gzip-compressed:
    /// * newline-delimited change records, in either format (one per line; read line by line,
    ///   in constant memory),
    /// * a JSON array of change records,
    /// * one or more DynamoDB Streams Lambda events (`{"Records": [...]}`, as a Lambda trigger
    ///   receives them): their records are change records,
    /// * one or more Firehose transformation events (each is run as the batch it is).
    ///
    /// A line that is not a change record is still a record: it fails and goes to the error
    /// layout, as it would in Firehose. Only an input that cannot be split into records at all
    /// (a broken JSON array) is refused.
    pub fn read(&mut self, name: &str, input: impl Read) -> Result<(), ReplayError> {
        input::for_each_piece(input, |piece| match piece {
            Piece::ChangeRecord(record) => self.push_change_record(record),
            Piece::FirehoseEvent(event) => {
                // Records gathered so far go first, to keep the input's order.
                self.flush()?;
                self.run(name, event)
            }
        })
        .map_err(|stop| match stop {
            Stop::Input(InputError::Read(source)) => ReplayError::Read {
                input: name.to_owned(),
                source,
            },
            Stop::Input(e) => ReplayError::Input {
                input: name.to_owned(),
                reason: e.to_string(),
            },
            Stop::Take(e) => e,
        })
    }

    /// Sends the last, partly filled batch through and returns what the replay did.
    pub fn finish(mut self) -> Result<ReplayStats, ReplayError> {
        self.flush()?;
        for schema in self.key_schemas.values() {
            self.lake.write_key_schema_if_absent(schema)?;
        }
        Ok(self.stats)
    }

    pub fn stats(&self) -> &ReplayStats {
        &self.stats
    }

    fn push_change_record(&mut self, record: &[u8]) -> Result<(), ReplayError> {
        let full = self.pending.len() >= self.limits.max_records
            || self.pending_bytes + record.len() > self.limits.max_bytes;
        if full && !self.pending.is_empty() {
            self.flush()?;
        }
        self.pending.push(record.to_vec());
        self.pending_bytes += record.len();
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ReplayError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let records: Vec<&[u8]> = self.pending.iter().map(Vec::as_slice).collect();
        let event = firehose_event_for(&records, self.next_index);
        self.next_index += records.len();
        self.pending.clear();
        self.pending_bytes = 0;
        self.run("change records", &event)
    }

    /// One Lambda invocation, and Firehose's delivery of its response.
    fn run(&mut self, name: &str, event: &[u8]) -> Result<(), ReplayError> {
        let started = Instant::now();
        let event_error = |source| ReplayError::Event {
            input: name.to_owned(),
            source,
        };
        let mut batch = transform_event(event, self.config).map_err(event_error)?;
        logs::log_batch(&batch, event.len(), started.elapsed());
        let outcomes = std::mem::take(&mut batch.outcomes);
        // No Lambda response limit here: the whole batch is delivered.
        let response = batch.finish(usize::MAX).map_err(event_error)?;
        let response: Response =
            serde_json::from_slice(&response).map_err(|e| ReplayError::Response(e.to_string()))?;
        let parsed = FirehoseEvent::parse(event).map_err(event_error)?;
        if response.records.len() != parsed.records.len() || outcomes.len() != parsed.records.len()
        {
            return Err(ReplayError::Response(format!(
                "{} records in, {} out",
                parsed.records.len(),
                response.records.len()
            )));
        }
        let lambda_arn = lambda_arn(parsed.delivery_stream_arn.as_deref());
        for (index, ((record, entry), outcome)) in parsed
            .records
            .iter()
            .zip(&response.records)
            .zip(&outcomes)
            .enumerate()
        {
            let arrival_ms = record
                .envelope()
                .ok()
                .and_then(|e| e.arrival_millis().ok())
                // Firehose always sets it; a hand-made event without one is filed at the epoch.
                .unwrap_or(0);
            self.stats.records += 1;
            match RecordResult::from_name(&entry.result) {
                Some(RecordResult::Ok) => {
                    let keys = entry
                        .metadata
                        .as_ref()
                        .map(|m| &m.partition_keys)
                        .ok_or_else(|| {
                            ReplayError::Response(format!(
                                "record {index} is Ok without partition keys"
                            ))
                        })?;
                    let partition = partition_prefix(
                        &keys.table,
                        &keys.year,
                        &keys.month,
                        &keys.day,
                        &keys.hour,
                    )?;
                    self.row.clear();
                    base64_simd::STANDARD
                        .decode_append(entry.data.as_bytes(), &mut self.row)
                        .map_err(|e| ReplayError::Response(format!("record {index}: {e}")))?;
                    self.lake.write_row(&partition, arrival_ms, &self.row)?;
                    if !self.key_schemas.contains_key(keys.table.as_ref()) {
                        let shown = self
                            .payload
                            .decode(record.data.as_ref())
                            .ok()
                            .and_then(|change| KeySchema::from_change_record(&keys.table, change));
                        if let Some(schema) = shown {
                            self.key_schemas.insert(keys.table.to_string(), schema);
                        }
                    }
                    self.stats.ok += 1;
                }
                Some(RecordResult::ProcessingFailed) => {
                    self.lake.write_failed(&FailedRecord {
                        output_type: ERROR_OUTPUT_TYPE,
                        arrival_ms,
                        raw_data: &entry.data,
                        error_code: ERROR_CODE,
                        error_message: ERROR_MESSAGE,
                        lambda_arn: Some(&lambda_arn),
                    })?;
                    self.stats.failed += 1;
                    let code = outcome.failure.as_ref().map_or("unknown", |f| f.code());
                    *self.stats.failures.entry(code).or_insert(0) += 1;
                }
                Some(RecordResult::Dropped) => self.stats.dropped += 1,
                None => {
                    return Err(ReplayError::Response(format!(
                        "record {index} has an unknown result"
                    )))
                }
            }
        }
        self.stats.batches += 1;
        Ok(())
    }
}

/// The Lambda's response, as Firehose reads it.
#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow)]
    records: Vec<ResponseRecord<'a>>,
}

#[derive(Deserialize)]
struct ResponseRecord<'a> {
    #[serde(borrow)]
    result: Cow<'a, str>,
    #[serde(borrow)]
    data: Cow<'a, str>,
    #[serde(borrow, default)]
    metadata: Option<ResponseMetadata<'a>>,
}

#[derive(Deserialize)]
struct ResponseMetadata<'a> {
    #[serde(rename = "partitionKeys", borrow)]
    partition_keys: Keys<'a>,
}

/// The keys the stacks' S3 prefix reads with `!{partitionKeyFromLambda:…}`.
#[derive(Deserialize)]
struct Keys<'a> {
    #[serde(borrow)]
    table: Cow<'a, str>,
    #[serde(borrow)]
    year: Cow<'a, str>,
    #[serde(borrow)]
    month: Cow<'a, str>,
    #[serde(borrow)]
    day: Cow<'a, str>,
    #[serde(borrow)]
    hour: Cow<'a, str>,
}

/// The transformation Lambda's ARN in the delivery stream's region and account, for the
/// `lambdaArn` of error records.
fn lambda_arn(delivery_stream_arn: Option<&str>) -> String {
    let (region, account) = delivery_stream_arn
        .and_then(crate::arn::firehose_region_account)
        .unwrap_or(("us-east-1", "111122223333"));
    format!("arn:aws:lambda:{region}:{account}:function:ddb-lake-transform")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::writer::LakeSettings;

    const INSERT: &str = r#"{"awsRegion":"eu-west-1","eventID":"e1","eventName":"INSERT","tableName":"orders","dynamodb":{"ApproximateCreationDateTime":1763632799100,"Keys":{"pk":{"S":"a"}},"NewImage":{"pk":{"S":"a"}}},"eventSource":"aws:dynamodb"}"#;

    fn replay(input: &[u8], limits: BatchLimits) -> ReplayStats {
        let dir = tempfile::tempdir().unwrap();
        let mut lake = LakeWriter::new(dir.path(), LakeSettings::default()).unwrap();
        let config = Config::default();
        let mut replay = Replay::new(&config, &mut lake, limits);
        replay.read("test", input).unwrap();
        let stats = replay.finish().unwrap();
        lake.finish().unwrap();
        stats
    }

    #[test]
    fn batches_by_count_and_by_bytes() {
        let input = format!("{INSERT}\n{INSERT}\n\n{INSERT}\n");
        let by_count = BatchLimits {
            max_records: 2,
            max_bytes: usize::MAX,
        };
        let stats = replay(input.as_bytes(), by_count);
        assert_eq!((stats.records, stats.ok, stats.batches), (3, 3, 2));
        let by_bytes = BatchLimits {
            max_records: 1000,
            max_bytes: INSERT.len() + 1,
        };
        assert_eq!(replay(input.as_bytes(), by_bytes).batches, 3);
    }

    #[test]
    fn arrays_events_and_bad_lines() {
        let array = format!("[{INSERT},\n {INSERT}]");
        assert_eq!(replay(array.as_bytes(), BatchLimits::default()).ok, 2);
        let event = crate::lake::event_builder::firehose_event(INSERT.as_bytes()).unwrap();
        let stats = replay(&event, BatchLimits::default());
        assert_eq!((stats.ok, stats.batches), (1, 1));
        let bad = format!("{INSERT}\nnot json at all\n{{\"eventName\":\"UPSERT\"}}\n");
        let stats = replay(bad.as_bytes(), BatchLimits::default());
        assert_eq!((stats.ok, stats.failed), (1, 2));
        assert_eq!(stats.failures.get("not_json"), Some(&1));
        // A first line that is not JSON: still one record per line.
        let bad_first = format!("garbage\n{INSERT}\n");
        let stats = replay(bad_first.as_bytes(), BatchLimits::default());
        assert_eq!((stats.ok, stats.failed), (1, 1));
    }

    #[test]
    fn dynamodb_streams_lambda_events_are_their_records() {
        let record = r#"{"eventID":"e1","eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"eu-west-1","dynamodb":{"ApproximateCreationDateTime":1763632799,"Keys":{"pk":{"S":"a"}},"SequenceNumber":"4421584500000000017450439091","StreamViewType":"KEYS_ONLY"},"eventSourceARN":"arn:aws:dynamodb:eu-west-1:1:table/orders/stream/x"}"#;
        let compact = format!("{{\"Records\":[{record},{record}]}}\n{{\"Records\":[{record}]}}\n");
        let stats = replay(compact.as_bytes(), BatchLimits::default());
        assert_eq!((stats.records, stats.ok), (3, 3));
        let pretty = format!("{{\n  \"Records\": [\n    {record}\n  ]\n}}\n");
        assert_eq!(replay(pretty.as_bytes(), BatchLimits::default()).ok, 1);
        // A line after the first that is no Lambda event is a record of its own, and fails.
        let broken = format!("{{\"Records\":[{record}]}}\n{{\"Records\": 5}}\n");
        let stats = replay(broken.as_bytes(), BatchLimits::default());
        assert_eq!((stats.ok, stats.failed), (1, 1));
        // Plain records of either format, mixed, one per line.
        let mixed = format!("{record}\n{INSERT}\n");
        assert_eq!(replay(mixed.as_bytes(), BatchLimits::default()).ok, 2);
    }

    #[test]
    fn lambda_arn_follows_the_delivery_stream() {
        assert_eq!(
            lambda_arn(Some(
                "arn:aws:firehose:eu-central-1:123456789012:deliverystream/x"
            )),
            "arn:aws:lambda:eu-central-1:123456789012:function:ddb-lake-transform"
        );
        assert!(lambda_arn(None).starts_with("arn:aws:lambda:us-east-1:"));
    }
}
