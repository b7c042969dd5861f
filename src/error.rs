//! Why a record, or a whole event, could not be transformed. Reasons never carry item contents:
//! they go to logs, while the record's original bytes go to the error prefix.

use crate::event_time::TimeError;
use crate::typed_json::ItemError;
use thiserror::Error;

/// One record cannot be transformed: it is returned as `ProcessingFailed` with its original
/// `data`, and the rest of the batch is unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("the record envelope is malformed: {0}")]
    Envelope(String),
    #[error("data is not valid base64")]
    Base64,
    #[error("data is gzip-compressed but does not inflate")]
    Gzip,
    #[error("data inflates past {limit} bytes")]
    TooLarge { limit: usize },
    #[error("data is not valid UTF-8")]
    NotUtf8,
    #[error("data is not valid JSON ({0})")]
    NotJson(String),
    #[error("not a DynamoDB change record ({0})")]
    NotAChangeRecord(String),
    #[error("eventSource is not aws:dynamodb")]
    WrongEventSource,
    #[error("unknown eventName (expected INSERT, MODIFY or REMOVE)")]
    UnknownEventName,
    #[error("tableName is not a valid DynamoDB table name")]
    BadTableName,
    #[error("eventSourceARN does not name a valid DynamoDB table (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL)")]
    NoTableInEventSourceArn,
    #[error("the record has no image and no Keys")]
    NoImage,
    #[error("the batch's rows already pass four times Lambda's response limit: this record goes to the error prefix rather than into memory")]
    BatchTooLarge,
    #[error(transparent)]
    Time(#[from] TimeError),
    #[error(transparent)]
    Item(#[from] ItemError),
}

impl RecordError {
    /// A short, stable name for the kind of failure, for log queries and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Envelope(_) => "bad_envelope",
            RecordError::Base64 => "bad_base64",
            RecordError::Gzip => "bad_gzip",
            RecordError::TooLarge { .. } => "too_large",
            RecordError::NotUtf8 => "not_utf8",
            RecordError::NotJson(_) => "not_json",
            RecordError::NotAChangeRecord(_) | RecordError::WrongEventSource => {
                "not_a_change_record"
            }
            RecordError::UnknownEventName => "unknown_event_name",
            RecordError::BadTableName | RecordError::NoTableInEventSourceArn => "bad_table_name",
            RecordError::NoImage => "no_image",
            RecordError::Time(_) => "bad_change_time",
            RecordError::Item(ItemError::ColumnCollision) => "column_collision",
            RecordError::Item(ItemError::TooDeep) => "too_deep",
            RecordError::Item(ItemError::RowTooLarge) => "row_too_large",
            RecordError::BatchTooLarge => "batch_too_large",
            RecordError::Item(_) => "bad_typed_value",
        }
    }
}

/// The whole invocation fails: Firehose retries it, then delivers the batch to the error prefix.
#[derive(Debug, Error)]
pub enum EventError {
    #[error("the input is not a Firehose transformation event: {0}")]
    NotAFirehoseEvent(String),
    #[error("the response would be {size} bytes, more than MAX_RESPONSE_BYTES={budget}")]
    ResponseTooLarge { size: usize, budget: usize },
}

/// Describes a serde_json error by its kind and position only: the message of a type error
/// quotes the offending value, which may be item data.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let msg = e.to_string();
    let names_only = msg.starts_with("missing field") || msg.starts_with("duplicate field");
    match e.classify() {
        Category::Data if names_only => msg,
        Category::Data => format!(
            "a field has the wrong type at line {} column {}",
            e.line(),
            e.column()
        ),
        Category::Syntax => format!("syntax error at line {} column {}", e.line(), e.column()),
        Category::Eof => "unexpected end of input".to_owned(),
        Category::Io => "read error".to_owned(),
    }
}
