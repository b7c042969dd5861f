//! Every size bound of the pipeline, in one place, each with the AWS limit it follows.
//!
//! The fixed ones are constants; the two the transformation is run with are a [`Limits`] value
//! inside [`crate::config::Config`]: `max_response_bytes` is the `MAX_RESPONSE_BYTES` setting,
//! `max_batch_bytes` is no setting (tests lower it).

/// Lambda refuses a synchronous response above 6 MB (6,291,556 bytes; AWS Lambda quotas,
/// "Invocation payload"): a response budget above it can never be met.
pub const LAMBDA_RESPONSE_LIMIT: usize = 6_291_556;

/// The default response budget: Lambda's limit with room to spare.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 6_000_000;

/// A DynamoDB item is at most 400 KB and a change record holds two images; a record's data
/// inflating far past that is refused before it can exhaust memory.
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;

/// DynamoDB supports nested attributes up to 32 levels deep, counting the item itself as the
/// first level: an attribute's value holds at most 31 nested `M`/`L` containers (31 nested maps
/// are accepted, 32 refused, as captured against the service). A deeper value is not a DynamoDB
/// item. (Amazon DynamoDB developer guide, "Quotas": nested attribute depth.)
pub const MAX_NESTED_CONTAINERS: u32 = 31;

/// Kinesis `PutRecords` takes at most 500 records a call (Kinesis API reference, PutRecords) ...
pub const PUT_RECORDS_MAX_RECORDS: usize = 500;
/// ... and at most 5 MiB a call, data and partition keys together.
pub const PUT_RECORDS_MAX_BYTES: usize = 5 << 20;

/// Firehose's Lambda processor hands the function at most this many records (the stacks'
/// `BufferSizeInMBs` bounds it first) ...
pub const PROCESSOR_MAX_RECORDS: usize = 1000;
/// ... and about this many bytes: the stacks' processor `BufferSizeInMBs` of 1 MB (Firehose
/// allows 0.2 to 3).
pub const PROCESSOR_BUFFER_BYTES: usize = 1 << 20;

/// The bounds one transformation runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded response allowed, bytes (`MAX_RESPONSE_BYTES`, at most
    /// [`LAMBDA_RESPONSE_LIMIT`]). Records past it are put back on the source stream.
    pub max_response_bytes: usize,
    /// Past this many response bytes, further rows fail their records (`batch_too_large`)
    /// instead of being held in memory. Only pathological items get there (gzip payloads
    /// inflating to huge rows): a 6 MB event flattens to less than its own size.
    pub max_batch_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_batch_bytes: 4 * LAMBDA_RESPONSE_LIMIT,
        }
    }
}

impl Limits {
    /// The largest row that can still be answered `Ok`: its base64 (4/3 of it) and the entry
    /// around it must fit in the response. A larger row fails its record (`row_too_large`)
    /// instead of being built (a long map key above many leaves repeats in every column name)
    /// or put back on the stream again and again.
    pub fn max_row_bytes(&self) -> usize {
        self.max_response_bytes.saturating_sub(512) / 4 * 3
    }
}
