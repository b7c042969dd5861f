//! One change record to one row and its partition keys: the pure heart of the pipeline.
//!
//! A record's bytes are read once ([`change_record`]): its envelope into borrowed fields, its
//! image flattened while it is read ([`flatten`], over DynamoDB's typed JSON in [`typed_json`]
//! with exact numbers from [`number`]). [`row`] writes the metadata columns and the attributes as
//! one JSON line; [`event_time`] and [`partition`] give the change time and the Firehose
//! dynamic-partitioning keys. [`error`] says why a record fails, with stable reason codes.

pub mod change_record;
pub mod error;
pub mod event_time;
pub(crate) mod flatten;
pub(crate) mod json_out;
pub(crate) mod number;
pub mod partition;
pub mod row;
pub(crate) mod typed_json;

#[cfg(test)]
mod properties;
