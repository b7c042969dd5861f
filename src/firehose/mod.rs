//! The Firehose side: the data-transformation event Firehose sends ([`event`]), the response it
//! expects ([`batch`]), the per-record step lifted over the batch so one bad record only fails
//! itself ([`transform_event`]), and making the response fit Lambda's limit ([`fit`]).

pub mod batch;
pub mod error;
pub mod event;
pub mod fit;
pub mod payload;

use crate::config::Config;
use crate::firehose::batch::Batch;
use crate::firehose::error::EventError;
use crate::firehose::event::{FirehoseEvent, FirehoseRecord};
use crate::firehose::payload::Payload;
use crate::record::error::RecordError;
use crate::record::partition::PartitionKeys;
use crate::record::row::RowWriter;

/// Transforms every record of a Firehose event (its JSON bytes) into a [`Batch`]: one outcome
/// per record, in order. Fails only when the event itself cannot be answered
/// ([`EventError::NotAFirehoseEvent`]); a bad record becomes a `ProcessingFailed` entry.
pub fn transform_event(event: &[u8], config: &Config) -> Result<Batch, EventError> {
    let parsed = FirehoseEvent::parse(event)?;
    let mut batch = Batch::new(&parsed, event.len());
    let mut step = RecordStep::new(config);
    for record in parsed.records {
        let transformed = if batch.response_len() > config.limits.max_batch_bytes {
            Err(RecordError::BatchTooLarge)
        } else {
            step.transform(&record)
        };
        batch.push(record.record_id, &record.data, transformed);
    }
    Ok(batch)
}

/// The per-record step, with the buffers it reuses from record to record.
struct RecordStep {
    payload: Payload,
    rows: RowWriter,
}

impl RecordStep {
    fn new(config: &Config) -> RecordStep {
        RecordStep {
            payload: Payload::default(),
            rows: RowWriter::new(config),
        }
    }

    /// One Firehose record's `data` to a row and its partition keys.
    fn transform<'s>(
        &'s mut self,
        record: &FirehoseRecord,
    ) -> Result<(&'s [u8], PartitionKeys<'s>), RecordError> {
        let envelope = record.envelope()?;
        let bytes = self.payload.decode(&record.data)?;
        self.rows
            .change_record(bytes, || envelope.arrival_time(), envelope.position())
    }
}
