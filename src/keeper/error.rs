//! Why the keeper could not bring a table up to date. Each has a stable code, the Lambda's
//! `errorType` and the `code` field of its log line.

use crate::catalog::glue::GlueTableError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum KeeperError {
    /// An S3 or Glue call failed (after the SDK's own retries).
    #[error("{call}: {message}")]
    Aws { call: &'static str, message: String },
    /// The object is not gzip or its rows cannot be read at all.
    #[error("object s3://{bucket}/{key}: {source}")]
    Object {
        bucket: String,
        key: String,
        source: std::io::Error,
    },
    /// A key schema object that is not `DescribeTable`'s shape.
    #[error("key schema object s3://{bucket}/{key}: {source}")]
    KeySchema {
        bucket: String,
        key: String,
        source: serde_json::Error,
    },
    /// A Glue table of the lake's name that cannot be read back (changed by hand).
    #[error(transparent)]
    Table(#[from] GlueTableError),
    /// Other writers kept changing the table between our read and our write.
    #[error("table {table}: still changed by another writer after {attempts} attempts")]
    Contended { table: String, attempts: u32 },
    /// No name free for a new table (every candidate belongs to another source table).
    #[error("no free Glue table name for source table {source_table}")]
    NoName { source_table: String },
}

impl KeeperError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            KeeperError::Aws { .. } => "AwsCallFailed",
            KeeperError::Object { .. } => "UnreadableObject",
            KeeperError::KeySchema { .. } => "BadKeySchema",
            KeeperError::Table(_) => "UnreadableGlueTable",
            KeeperError::Contended { .. } => "Contended",
            KeeperError::NoName { .. } => "NoTableName",
        }
    }

    /// An SDK error with the whole chain of causes, on one line.
    pub fn aws(call: &'static str, error: &(dyn std::error::Error + 'static)) -> KeeperError {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(e) = source {
            message.push_str(": ");
            message.push_str(&e.to_string());
            source = e.source();
        }
        KeeperError::Aws { call, message }
    }
}
