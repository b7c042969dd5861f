//! The Firehose side: the transformation event Firehose sends, the response it expects, and the
//! per-record transformation lifted over the batch, so one bad record only fails itself.
//!
//! The event and response types are our own rather than `aws_lambda_events::firehose`'s: there,
//! `data` is decoded while the event is parsed (one record with bad base64 fails the whole event,
//! and a failed record could not be returned byte for byte) and the arrival timestamps are read
//! through a float with an `assert!` that panics on a fractional value.

use crate::config::Config;
use crate::error::{describe_json_error, EventError, RecordError};
use crate::event_time::{EventTime, TimeError};
use crate::json_out::write_json_str;
use crate::partition::PartitionKeys;
use crate::payload::Payload;
use crate::row::{RowWriter, StreamPosition};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::ops::Range;
use thiserror::Error;

/// A Firehose data-transformation event, read in one pass.
#[derive(Debug, Deserialize)]
pub struct FirehoseEvent<'a> {
    #[serde(rename = "invocationId", borrow, default)]
    pub invocation_id: Option<Cow<'a, str>>,
    #[serde(rename = "deliveryStreamArn", borrow, default)]
    pub delivery_stream_arn: Option<Cow<'a, str>>,
    /// Absent when the delivery stream's source is Direct PUT.
    #[serde(rename = "sourceKinesisStreamArn", borrow, default)]
    pub source_kinesis_stream_arn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub records: Vec<FirehoseRecord<'a>>,
}

/// One record of the event. Without a `recordId` and a `data` string it could not be answered
/// at all, so the event fails; its other fields stay raw until [`FirehoseRecord::envelope`]
/// reads them, so a malformed one fails only its own record.
#[derive(Debug, Deserialize)]
pub struct FirehoseRecord<'a> {
    #[serde(rename = "recordId", borrow)]
    pub record_id: Cow<'a, str>,
    /// Kept as the original string, so a failed record is returned exactly as it came.
    #[serde(borrow)]
    pub data: Cow<'a, str>,
    #[serde(rename = "approximateArrivalTimestamp", borrow, default)]
    pub approximate_arrival_timestamp: Option<&'a RawValue>,
    #[serde(rename = "kinesisRecordMetadata", borrow, default)]
    pub kinesis_record_metadata: Option<&'a RawValue>,
}

/// The rest of a record's envelope, read.
#[derive(Debug, Default)]
pub struct Envelope<'a> {
    /// Firehose's arrival time, epoch milliseconds: read only for a record with no change time
    /// of its own, so a malformed one fails no other record.
    pub approximate_arrival_timestamp: Option<&'a RawValue>,
    /// Absent for Direct PUT.
    pub kinesis_record_metadata: Option<KinesisRecordMetadata<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct KinesisRecordMetadata<'a> {
    #[serde(rename = "shardId", borrow, default)]
    pub shard_id: Option<Cow<'a, str>>,
    #[serde(rename = "partitionKey", borrow, default)]
    pub partition_key: Option<Cow<'a, str>>,
    #[serde(rename = "sequenceNumber", borrow, default)]
    pub sequence_number: Option<Cow<'a, str>>,
}

impl<'a> FirehoseEvent<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<FirehoseEvent<'a>, EventError> {
        serde_json::from_slice(bytes)
            .map_err(|e| EventError::NotAFirehoseEvent(describe_json_error(&e)))
    }
}

impl<'a> FirehoseRecord<'a> {
    /// Reads the Kinesis metadata (`null` is the same as absent); the arrival time stays raw
    /// until a record without a change time needs it.
    pub fn envelope(&self) -> Result<Envelope<'a>, RecordError> {
        let metadata = self
            .kinesis_record_metadata
            .map(|raw| serde_json::from_str::<Option<KinesisRecordMetadata>>(raw.get()))
            .transpose()
            .map_err(|e| {
                RecordError::Envelope(format!(
                    "kinesisRecordMetadata: {}",
                    describe_json_error(&e)
                ))
            })?;
        Ok(Envelope {
            approximate_arrival_timestamp: self.approximate_arrival_timestamp,
            kinesis_record_metadata: metadata.flatten(),
        })
    }
}

impl Envelope<'_> {
    pub fn arrival_millis(&self) -> Result<u64, TimeError> {
        let raw = self
            .approximate_arrival_timestamp
            .ok_or(TimeError::Missing)?;
        let ms: Option<serde_json::Number> =
            serde_json::from_str(raw.get()).map_err(|_| TimeError::NotWhole)?;
        crate::change_record::whole(&ms.ok_or(TimeError::Missing)?)
    }

    pub fn arrival_time(&self) -> Result<EventTime, TimeError> {
        EventTime::from_millis(self.arrival_millis()?)
    }

    pub fn position(&self) -> StreamPosition<'_> {
        match &self.kinesis_record_metadata {
            Some(m) => StreamPosition {
                shard_id: m.shard_id.as_deref(),
                sequence_number: m.sequence_number.as_deref(),
            },
            None => StreamPosition::default(),
        }
    }
}

/// What Firehose is told about one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordResult {
    Ok,
    ProcessingFailed,
    Dropped,
}

impl RecordResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordResult::Ok => "Ok",
            RecordResult::ProcessingFailed => "ProcessingFailed",
            RecordResult::Dropped => "Dropped",
        }
    }
}

/// The outcome of one record, in event order.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub record_id: String,
    pub result: RecordResult,
    pub failure: Option<RecordError>,
    /// Where this record's entry sits in the response.
    pub entry: Range<usize>,
}

/// A record answered `Dropped` because the response had no room for it: what must be put back on
/// the source stream, exactly as the stream held it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reingest {
    /// Its position in the event.
    pub index: usize,
    pub record_id: String,
    /// The base64-decoded `data`: the stream record's own bytes (still compressed if they were).
    pub data: Vec<u8>,
    /// `kinesisRecordMetadata.partitionKey`.
    pub partition_key: String,
}

/// The response cannot be made to fit: the invocation fails and Firehose retries the batch.
#[derive(Debug, Error)]
pub enum FitError {
    #[error(
        "the response would be {size} bytes, more than MAX_RESPONSE_BYTES={budget}, and the event \
         has no source Kinesis stream to put records back on (Direct PUT): send smaller batches \
         (the delivery stream's Lambda processor BufferSizeInMBs) or raise MAX_RESPONSE_BYTES"
    )]
    DirectPut { size: usize, budget: usize },
    #[error(
        "the response would still be {size} bytes, more than MAX_RESPONSE_BYTES={budget}, with \
         every record that can be put back on the source stream answered Dropped"
    )]
    CannotFit { size: usize, budget: usize },
    #[error("the event does not match the transformed batch")]
    NotThisEvent,
    #[error(transparent)]
    Event(#[from] EventError),
}

/// The transformed batch: the response being built and each record's outcome.
#[derive(Debug)]
pub struct Batch {
    pub invocation_id: Option<String>,
    pub source_kinesis_stream_arn: Option<String>,
    pub outcomes: Vec<Outcome>,
    /// `{"records":[` and the entries so far; [`Batch::finish`] closes it.
    response: Vec<u8>,
}

const RESPONSE_HEAD: &[u8] = b"{\"records\":[";
const RESPONSE_TAIL: &[u8] = b"]}";

impl Batch {
    /// The size the encoded response has.
    pub fn response_len(&self) -> usize {
        self.response.len() + RESPONSE_TAIL.len()
    }

    pub fn count(&self, result: RecordResult) -> usize {
        self.outcomes.iter().filter(|o| o.result == result).count()
    }

    /// Makes the response fit in `budget` bytes by answering the records that do not fit as
    /// `Dropped`, and returns those records (in event order) with the bytes the source stream held,
    /// to be put back on it. `event` must be the event this batch was made from: the original
    /// bytes and partition keys are read from it again, only on this rare path.
    ///
    /// Which records go: every `ProcessingFailed` entry stays (putting it back would only fail it
    /// again later), and `Ok` records are dropped from the end of the batch, so the kept ones are
    /// its longest prefix that fits. Only when that is not enough are failed records dropped too,
    /// from the end. A record that cannot be put back as it was (its `data` is not base64, or it
    /// has no partition key) always stays. Returns nothing and changes nothing when the response
    /// already fits.
    pub fn fit(&mut self, event: &[u8], budget: usize) -> Result<Vec<Reingest>, FitError> {
        let size = self.response_len();
        if size <= budget {
            return Ok(Vec::new());
        }
        if self.source_kinesis_stream_arn.is_none() {
            return Err(FitError::DirectPut { size, budget });
        }
        let parsed = FirehoseEvent::parse(event)?;
        if parsed.records.len() != self.outcomes.len() {
            return Err(FitError::NotThisEvent);
        }
        let oks = (0..self.outcomes.len())
            .rev()
            .filter(|&i| self.outcomes[i].result == RecordResult::Ok);
        let failed = (0..self.outcomes.len())
            .rev()
            .filter(|&i| self.outcomes[i].result == RecordResult::ProcessingFailed);
        let candidates: Vec<usize> = oks.chain(failed).collect();
        let mut total = size;
        let mut put_back = Vec::new();
        let mut scratch = Vec::new();
        for index in candidates {
            if total <= budget {
                break;
            }
            let Some(reingest) = reingestable(&parsed.records[index], index)? else {
                continue;
            };
            scratch.clear();
            write_dropped_entry(&mut scratch, index, &reingest.record_id);
            let kept = self.outcomes[index].entry.len();
            // A dropped entry is always shorter than an Ok or failed one: same id, no payload.
            total -= kept.saturating_sub(scratch.len());
            put_back.push(reingest);
        }
        if total > budget {
            return Err(FitError::CannotFit {
                size: total,
                budget,
            });
        }
        put_back.sort_by_key(|r| r.index);
        self.mark_dropped(&put_back);
        debug_assert_eq!(self.response_len(), total);
        Ok(put_back)
    }

    /// Rewrites the entries of `dropped` (sorted by index) as `Dropped`.
    fn mark_dropped(&mut self, dropped: &[Reingest]) {
        let mut response = Vec::with_capacity(self.response.len());
        response.extend_from_slice(RESPONSE_HEAD);
        let mut next = dropped.iter().map(|r| r.index).peekable();
        for (index, outcome) in self.outcomes.iter_mut().enumerate() {
            let start = response.len();
            if next.next_if_eq(&index).is_some() {
                write_dropped_entry(&mut response, index, &outcome.record_id);
                outcome.result = RecordResult::Dropped;
                // Not failed in this batch: it is transformed again when it comes back.
                outcome.failure = None;
            } else {
                response.extend_from_slice(&self.response[outcome.entry.clone()]);
            }
            outcome.entry = start..response.len();
        }
        self.response = response;
    }

    /// The encoded response, if it fits in `budget` bytes.
    pub fn finish(mut self, budget: usize) -> Result<Vec<u8>, EventError> {
        let size = self.response_len();
        if size > budget {
            return Err(EventError::ResponseTooLarge { size, budget });
        }
        self.response.extend_from_slice(RESPONSE_TAIL);
        Ok(self.response)
    }
}

/// Transforms every record of a Firehose event. Fails only when the event itself cannot be
/// answered; a bad record becomes a `ProcessingFailed` entry.
pub fn transform_event(event: &[u8], config: &Config) -> Result<Batch, EventError> {
    let parsed = FirehoseEvent::parse(event)?;
    let mut rows = RowWriter::new(config);
    let mut payload = Payload::default();
    // The response is about the size of the event: records grow a little when flattened.
    let mut response = Vec::with_capacity(event.len() + event.len() / 4 + 64);
    response.extend_from_slice(RESPONSE_HEAD);
    let mut outcomes = Vec::with_capacity(parsed.records.len());
    for (index, record) in parsed.records.into_iter().enumerate() {
        let start = response.len();
        if index > 0 {
            response.push(b',');
        }
        let transformed = if response.len() > config.max_batch_bytes {
            Err(RecordError::BatchTooLarge)
        } else {
            transform_record(&record, &mut payload, &mut rows)
        };
        let (result, failure) = match transformed {
            Ok((line, keys)) => {
                write_ok_entry(&mut response, &record.record_id, line, &keys);
                (RecordResult::Ok, None)
            }
            Err(reason) => {
                write_failed_entry(&mut response, &record.record_id, &record.data);
                (RecordResult::ProcessingFailed, Some(reason))
            }
        };
        outcomes.push(Outcome {
            record_id: record.record_id.into_owned(),
            result,
            failure,
            entry: start..response.len(),
        });
    }
    Ok(Batch {
        invocation_id: parsed.invocation_id.map(Cow::into_owned),
        source_kinesis_stream_arn: parsed.source_kinesis_stream_arn.map(Cow::into_owned),
        outcomes,
        response,
    })
}

/// The per-record transformation: `data` to a row and its partition keys.
fn transform_record<'r>(
    record: &FirehoseRecord,
    payload: &'r mut Payload,
    rows: &'r mut RowWriter,
) -> Result<(&'r [u8], PartitionKeys<'r>), RecordError> {
    let envelope = record.envelope()?;
    let bytes = payload.decode(&record.data)?;
    rows.change_record(bytes, || envelope.arrival_time(), envelope.position())
}

fn write_ok_entry(out: &mut Vec<u8>, record_id: &str, line: &[u8], keys: &PartitionKeys) {
    out.extend_from_slice(b"{\"recordId\":");
    write_json_str(out, record_id);
    out.extend_from_slice(b",\"result\":\"Ok\",\"data\":\"");
    base64_simd::STANDARD.encode_append(line, out);
    out.extend_from_slice(b"\",\"metadata\":{\"partitionKeys\":");
    keys.write_json(out);
    out.extend_from_slice(b"}}");
}

/// Record `index` as it can be put back on its stream, or `None` when it cannot be put back as
/// it was.
fn reingestable(record: &FirehoseRecord, index: usize) -> Result<Option<Reingest>, EventError> {
    let partition_key = record
        .envelope()
        .ok()
        .and_then(|e| e.kinesis_record_metadata)
        .and_then(|m| m.partition_key)
        .filter(|k| !k.is_empty());
    let (Some(partition_key), Ok(data)) = (partition_key, STANDARD.decode(record.data.as_bytes()))
    else {
        return Ok(None);
    };
    Ok(Some(Reingest {
        index,
        record_id: record.record_id.to_string(),
        data,
        partition_key: partition_key.into_owned(),
    }))
}

/// Firehose requires `data` on every entry; an empty one is accepted for `Dropped`.
fn write_dropped_entry(out: &mut Vec<u8>, index: usize, record_id: &str) {
    if index > 0 {
        out.push(b',');
    }
    out.extend_from_slice(b"{\"recordId\":");
    write_json_str(out, record_id);
    out.extend_from_slice(b",\"result\":\"Dropped\",\"data\":\"\"}");
}

fn write_failed_entry(out: &mut Vec<u8>, record_id: &str, data: &str) {
    out.extend_from_slice(b"{\"recordId\":");
    write_json_str(out, record_id);
    out.extend_from_slice(b",\"result\":\"ProcessingFailed\",\"data\":");
    write_json_str(out, data);
    out.push(b'}');
}
