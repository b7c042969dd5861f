//! The Firehose data-transformation event, as Firehose sends it to the Lambda, read in one pass.
//!
//! The types are our own rather than `aws_lambda_events::firehose`'s: there, `data` is decoded
//! while the event is parsed (one record with bad base64 fails the whole event, and a failed
//! record could not be returned byte for byte) and the arrival timestamps are read through a
//! float with an `assert!` that panics on a fractional value.

use crate::firehose::error::EventError;
use crate::record::change_record::whole;
use crate::record::error::{describe_json_error, RecordError};
use crate::record::event_time::{EventTime, TimeError};
use crate::record::row::StreamPosition;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// `{"invocationId", "deliveryStreamArn", "sourceKinesisStreamArn"?, "region", "records": [...]}`.
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

/// `kinesisRecordMetadata`: where Firehose read the record on its source stream.
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
    /// Reads the event. Fails only when it is not a Firehose event at all.
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
    /// `approximateArrivalTimestamp`, epoch milliseconds.
    pub fn arrival_millis(&self) -> Result<u64, TimeError> {
        let raw = self
            .approximate_arrival_timestamp
            .ok_or(TimeError::Missing)?;
        let ms: Option<serde_json::Number> =
            serde_json::from_str(raw.get()).map_err(|_| TimeError::NotWhole)?;
        whole(&ms.ok_or(TimeError::Missing)?)
    }

    pub fn arrival_time(&self) -> Result<EventTime, TimeError> {
        EventTime::from_millis(self.arrival_millis()?)
    }

    /// The shard and sequence number the row records (none for Direct PUT).
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
