//! Making a response fit Lambda's limit (the contract's "Response size"): the records that do
//! not fit are answered `Dropped` and handed to [`crate::reingest`] to be put back on the
//! source Kinesis stream, exactly as the stream held them.

use crate::firehose::batch::{write_dropped_entry, Batch, RecordResult};
use crate::firehose::error::EventError;
use crate::firehose::event::{FirehoseEvent, FirehoseRecord};
use thiserror::Error;

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

impl FitError {
    /// A stable name for the Lambda's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            FitError::DirectPut { .. } => "ResponseTooLargeForDirectPut",
            FitError::CannotFit { .. } => "ResponseCannotFit",
            FitError::NotThisEvent => "NotThisEvent",
            FitError::Event(e) => e.error_type(),
        }
    }
}

impl Batch {
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
            let Some(reingest) = reingestable(&parsed.records[index], index) else {
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
        let dropped: Vec<usize> = put_back.iter().map(|r| r.index).collect();
        self.mark_dropped(&dropped);
        debug_assert_eq!(self.response_len(), total);
        Ok(put_back)
    }
}

/// Record `index` as it can be put back on its stream, or `None` when it cannot be put back as
/// it was.
fn reingestable(record: &FirehoseRecord, index: usize) -> Option<Reingest> {
    let partition_key = record
        .envelope()
        .ok()
        .and_then(|e| e.kinesis_record_metadata)
        .and_then(|m| m.partition_key)
        .filter(|k| !k.is_empty())?;
    let data = base64_simd::STANDARD
        .decode_to_vec(record.data.as_bytes())
        .ok()?;
    Some(Reingest {
        index,
        record_id: record.record_id.to_string(),
        data,
        partition_key: partition_key.into_owned(),
    })
}
