//! Why an attachment request failed. Every variant has a stable code ([`AttachError::code`]):
//! the FAILED response's `Reason` starts with it (CloudFormation shows it in the stack's events)
//! and the function's logs carry it as `code`.

use thiserror::Error;

/// A failed Create, Update or Delete, or an answer that could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttachError {
    /// The invocation is not a CloudFormation custom resource request (CloudFormation User
    /// Guide, "Custom resource request objects"), so there is no ResponseURL to answer.
    #[error("not a CloudFormation custom resource request: {0}")]
    NotARequest(String),

    #[error("RequestType {0:?} is none of Create, Update, Delete")]
    UnknownRequestType(String),

    /// A ResourceProperties entry is missing or malformed.
    #[error("property {name}: {reason}")]
    BadProperty { name: &'static str, reason: String },

    /// DynamoDB Streams feeds one Pipe from one table's stream.
    #[error(
        "ChangeSource DynamoDBStreams takes exactly one table, but ExistingTableNames names \
         {count} ({tables}): give one table, or use ChangeSource KinesisDataStreams for several"
    )]
    NotOneTable { count: usize, tables: String },

    /// The table already streams to a Kinesis stream other than the pipeline's. It is never
    /// moved: its owner decides.
    #[error(
        "table {table} already streams to another Kinesis stream, {other} (destination \
         {status}); it is left as it is: disable that destination first \
         (aws dynamodb disable-kinesis-streaming-destination --table-name {table} --stream-arn \
         {other}) or take the table out of ExistingTableNames"
    )]
    StreamsElsewhere {
        table: String,
        other: String,
        status: String,
    },

    /// The table's DynamoDB stream does not carry the new image, which every row is made of.
    #[error(
        "table {table} has a DynamoDB stream with StreamViewType {view_type}, which carries no \
         new image: the lake needs NEW_AND_OLD_IMAGES or NEW_IMAGE. A table's view type cannot \
         be changed in place: disable its stream and enable it with NEW_AND_OLD_IMAGES (other \
         readers of the stream are affected), or use ChangeSource KinesisDataStreams"
    )]
    UnusableStreamViewType { table: String, view_type: String },

    #[error("table {table} does not exist in this account and region")]
    TableNotFound { table: String },

    /// DescribeKinesisStreamingDestination reports ENABLE_FAILED after our enable.
    #[error("table {table}: enabling its Kinesis streaming destination to {stream} failed: {description}")]
    EnableFailed {
        table: String,
        stream: String,
        description: String,
    },

    /// Destinations still changing when the function had to answer.
    #[error(
        "the function's time ran out while waiting for Kinesis streaming destinations: {waiting}; \
         DynamoDB goes on with them, and updating the stack again picks up where this stopped"
    )]
    TimedOut { waiting: String },

    /// A DynamoDB call failed (after the SDK's own retries).
    #[error("DynamoDB {operation} on table {table} failed: {message}")]
    DynamoDb {
        operation: &'static str,
        table: String,
        message: String,
    },

    /// PutObject of a key schema object failed (after the SDK's own retries).
    #[error("writing the key schema object s3://{bucket}/{key} failed: {message}")]
    KeySchemaWrite {
        bucket: String,
        key: String,
        message: String,
    },

    /// The ResponseURL is not one this function sends an answer to.
    #[error("ResponseURL {url:?}: {reason}")]
    BadResponseUrl { url: String, reason: &'static str },

    /// The answer could not be PUT to the ResponseURL (after retries).
    #[error("the answer could not be sent to the ResponseURL: {0}")]
    ResponseNotDelivered(String),
}

impl AttachError {
    /// The stable code: the start of a FAILED `Reason` and the `code` of the log line.
    pub fn code(&self) -> &'static str {
        match self {
            AttachError::NotARequest(_) => "NotACustomResourceRequest",
            AttachError::UnknownRequestType(_) => "UnknownRequestType",
            AttachError::BadProperty { .. } => "BadProperty",
            AttachError::NotOneTable { .. } => "NotOneTable",
            AttachError::StreamsElsewhere { .. } => "TableStreamsElsewhere",
            AttachError::UnusableStreamViewType { .. } => "UnusableStreamViewType",
            AttachError::TableNotFound { .. } => "TableNotFound",
            AttachError::EnableFailed { .. } => "EnableFailed",
            AttachError::TimedOut { .. } => "TimedOut",
            AttachError::DynamoDb { .. } => "DynamoDbCallFailed",
            AttachError::KeySchemaWrite { .. } => "KeySchemaWriteFailed",
            AttachError::BadResponseUrl { .. } => "BadResponseUrl",
            AttachError::ResponseNotDelivered(_) => "ResponseNotDelivered",
        }
    }

    /// `Reason` of a FAILED answer: `<code>: <message>`.
    pub fn reason(&self) -> String {
        format!("{}: {self}", self.code())
    }
}
