//! The response Firehose expects, built record by record: `{"records":[{"recordId", "result",
//! "data", "metadata"?}, ...]}`, one entry per input record, same `recordId`, same order.
//! [`Batch`] records each record's outcome and where its entry sits, so the response can later be
//! made to fit ([`crate::firehose::fit`]) without parsing it again.

use crate::firehose::error::EventError;
use crate::firehose::event::FirehoseEvent;
use crate::record::error::RecordError;
use crate::record::json_out::write_json_str;
use crate::record::partition::PartitionKeys;
use std::borrow::Cow;
use std::ops::Range;

/// What Firehose is told about one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordResult {
    Ok,
    ProcessingFailed,
    Dropped,
}

impl RecordResult {
    /// The `result` value of the Firehose response.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordResult::Ok => "Ok",
            RecordResult::ProcessingFailed => "ProcessingFailed",
            RecordResult::Dropped => "Dropped",
        }
    }

    /// The result named `name` in a Firehose response.
    pub fn from_name(name: &str) -> Option<RecordResult> {
        [
            RecordResult::Ok,
            RecordResult::ProcessingFailed,
            RecordResult::Dropped,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// The outcome of one record, in event order.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub record_id: String,
    pub result: RecordResult,
    pub failure: Option<RecordError>,
    /// Where this record's entry sits in the response.
    pub(crate) entry: Range<usize>,
}

impl Outcome {
    /// The bytes this record's entry takes in the response (its separating comma included).
    pub fn entry_len(&self) -> usize {
        self.entry.len()
    }
}

/// The transformed batch: the response being built and each record's outcome.
#[derive(Debug)]
pub struct Batch {
    pub invocation_id: Option<String>,
    pub source_kinesis_stream_arn: Option<String>,
    pub outcomes: Vec<Outcome>,
    /// `{"records":[` and the entries so far; [`Batch::finish`] closes it.
    pub(crate) response: Vec<u8>,
}

const RESPONSE_HEAD: &[u8] = b"{\"records\":[";
const RESPONSE_TAIL: &[u8] = b"]}";

impl Batch {
    /// An empty batch for `event`, whose encoded form is `event_len` bytes.
    pub(crate) fn new(event: &FirehoseEvent, event_len: usize) -> Batch {
        // The response is about the size of the event: records grow a little when flattened.
        let mut response = Vec::with_capacity(event_len + event_len / 4 + 64);
        response.extend_from_slice(RESPONSE_HEAD);
        Batch {
            invocation_id: event.invocation_id.as_deref().map(str::to_owned),
            source_kinesis_stream_arn: event
                .source_kinesis_stream_arn
                .as_deref()
                .map(str::to_owned),
            outcomes: Vec::with_capacity(event.records.len()),
            response,
        }
    }

    /// Records the outcome of the next record: its row and partition keys, or why it failed
    /// (then its original `data` goes back as it came).
    pub(crate) fn push(
        &mut self,
        record_id: Cow<str>,
        data: &str,
        transformed: Result<(&[u8], PartitionKeys), RecordError>,
    ) {
        let start = self.response.len();
        if !self.outcomes.is_empty() {
            self.response.push(b',');
        }
        let (result, failure) = match transformed {
            Ok((line, keys)) => {
                write_ok_entry(&mut self.response, &record_id, line, &keys);
                (RecordResult::Ok, None)
            }
            Err(reason) => {
                write_failed_entry(&mut self.response, &record_id, data);
                (RecordResult::ProcessingFailed, Some(reason))
            }
        };
        self.outcomes.push(Outcome {
            record_id: record_id.into_owned(),
            result,
            failure,
            entry: start..self.response.len(),
        });
    }

    /// The size the encoded response has, bytes.
    pub fn response_len(&self) -> usize {
        self.response.len() + RESPONSE_TAIL.len()
    }

    /// How many records have `result`.
    pub fn count(&self, result: RecordResult) -> usize {
        self.outcomes.iter().filter(|o| o.result == result).count()
    }

    /// Rewrites the entries of the records at `dropped` (sorted event positions) as `Dropped`.
    pub(crate) fn mark_dropped(&mut self, dropped: &[usize]) {
        let mut response = Vec::with_capacity(self.response.len());
        response.extend_from_slice(RESPONSE_HEAD);
        let mut next = dropped.iter().copied().peekable();
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

fn write_ok_entry(out: &mut Vec<u8>, record_id: &str, line: &[u8], keys: &PartitionKeys) {
    out.extend_from_slice(b"{\"recordId\":");
    write_json_str(out, record_id);
    out.extend_from_slice(b",\"result\":\"Ok\",\"data\":\"");
    base64_simd::STANDARD.encode_append(line, out);
    out.extend_from_slice(b"\",\"metadata\":{\"partitionKeys\":");
    keys.write_json(out);
    out.extend_from_slice(b"}}");
}

fn write_failed_entry(out: &mut Vec<u8>, record_id: &str, data: &str) {
    out.extend_from_slice(b"{\"recordId\":");
    write_json_str(out, record_id);
    out.extend_from_slice(b",\"result\":\"ProcessingFailed\",\"data\":");
    write_json_str(out, data);
    out.push(b'}');
}

/// Firehose requires `data` on every entry; an empty one is accepted for `Dropped`. The entry
/// of the record at `index` (its comma included).
pub(crate) fn write_dropped_entry(out: &mut Vec<u8>, index: usize, record_id: &str) {
    if index > 0 {
        out.push(b',');
    }
    out.extend_from_slice(b"{\"recordId\":");
    write_json_str(out, record_id);
    out.extend_from_slice(b",\"result\":\"Dropped\",\"data\":\"\"}");
}
