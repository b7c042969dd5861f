//! The local lake: Firehose and S3 emulated on a folder, so the Lambda's own code path can be run
//! without AWS. [`replay`] feeds change records (or Firehose events) through
//! [`crate::firehose::transform_event`] in Firehose-sized batches; [`backfill`] turns a DynamoDB
//! export ([`export`]) into rows through the same row writer; [`writer`] lays the results out as
//! the stacks' bucket is laid out. [`input`] splits files into records, [`event_builder`] wraps
//! records into Firehose events as Firehose does, and [`cli`] is the `ddb-lake` command's side;
//! [`schema_cli`] is `ddb-lake schema`, which reads a lake into [`crate::catalog`].

pub mod backfill;
pub mod backfill_files;
pub mod backfill_task;
pub mod cli;
pub mod coverage;
pub mod event_builder;
pub mod export;
pub mod export_record;
pub mod input;
pub mod replay;
pub mod schema_cli;
pub mod store;
pub mod writer;
