//! ddb-lake: turns DynamoDB change records, as Kinesis Data Firehose hands them to a
//! transformation Lambda, into flat newline-delimited JSON rows with Firehose dynamic-partitioning
//! keys. The transformation is pure and synchronous (bytes in, bytes out): the Lambda
//! (`src/bin/bootstrap.rs`), the `ddb-lake` command, the tests and the benchmarks all call it.

pub mod backfill;
pub mod backfill_files;
pub mod backfill_task;
pub mod change_record;
pub mod config;
pub mod error;
pub mod event_time;
pub mod export;
pub mod firehose;
pub mod flatten;
pub mod json_out;
pub mod lake;
pub mod lake_cli;
pub mod metrics;
pub mod number;
pub mod partition;
pub mod payload;
pub mod reingest;
pub mod replay;
pub mod report;
pub mod row;
pub mod sample_event;
pub mod store;
pub mod typed_json;
