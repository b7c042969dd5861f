//! ddb-lake turns DynamoDB change records, as Amazon Data Firehose hands them to a transformation
//! Lambda, into flat newline-delimited JSON rows with Firehose dynamic-partitioning keys. The
//! transformation is pure and synchronous (bytes in, bytes out): the Lambda
//! (`src/bin/bootstrap.rs`), the `ddb-lake` command, the tests, the fuzzers and the benchmarks all
//! call [`transform_event`].
//!
//! # The path of one record
//!
//! ```text
//! Firehose event (JSON bytes)
//!   │ firehose::event      FirehoseEvent / FirehoseRecord: recordId, data, kinesisRecordMetadata
//!   │ firehose::payload    data: base64 → bytes (gunzipped when they start 1f 8b)
//!   ▼
//! change record (JSON: Kinesis Data Streams for DynamoDB, or a DynamoDB Streams record)
//!   │ record::change_record   envelope read in one pass; the image flattened while it is read
//!   │ record::flatten, typed_json, number   typed JSON → columns, numbers exact
//!   │ record::row             metadata columns + attributes → one JSON line
//!   │ record::partition       table / year / month / day / hour keys
//!   ▼
//! firehose::batch      one response entry: Ok (row, base64) | ProcessingFailed (data as it came)
//! firehose::fit        too large? records answered Dropped ──► reingest (PutRecords, the only I/O)
//!   ▼
//! Lambda response ─► Firehose ─► S3  (locally: lake::replay / lake::backfill ─► lake::writer)
//! ```
//!
//! Dependencies point down that list: `record` knows nothing of Firehose, `firehose` nothing of
//! AWS clients; `reingest`, `telemetry` and `lake` sit on top. [`catalog`] is the Glue/Athena
//! side: table definitions inferred from rows (it reads `record`'s metadata column names; only
//! the `ddb-lake schema` command uses it). [`config`] and [`limits`] hold the
//! settings and every size bound; [`arn`] reads every ARN the pipeline meets.

pub mod arn;
pub mod catalog;
pub mod config;
pub mod firehose;
pub mod lake;
pub mod limits;
pub mod record;
pub mod reingest;
pub mod telemetry;

pub use config::{Config, ConfigError, ListMode};
pub use firehose::batch::{Batch, RecordResult};
pub use firehose::error::EventError;
pub use firehose::event::FirehoseEvent;
pub use firehose::fit::FitError;
pub use firehose::transform_event;
pub use limits::Limits;
pub use record::error::RecordError;
