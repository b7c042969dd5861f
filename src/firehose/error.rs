//! Why a whole invocation fails: Firehose retries it, then delivers the batch to the error
//! prefix. (A single bad record never fails the invocation: see [`crate::record::error`].)

use thiserror::Error;

/// The event cannot be answered at all.
#[derive(Debug, Error)]
pub enum EventError {
    #[error("the input is not a Firehose transformation event: {0}")]
    NotAFirehoseEvent(String),
    #[error("the response would be {size} bytes, more than MAX_RESPONSE_BYTES={budget}")]
    ResponseTooLarge { size: usize, budget: usize },
}

impl EventError {
    /// A stable name for the Lambda's `errorType`, for alarms and log queries.
    pub fn error_type(&self) -> &'static str {
        match self {
            EventError::NotAFirehoseEvent(_) => "NotAFirehoseEvent",
            EventError::ResponseTooLarge { .. } => "ResponseTooLarge",
        }
    }
}
