//! What a transformation tells its operators: one structured log line per failed record (its
//! `recordId` and reason, never item contents) and one summary line per batch.

use crate::firehose::batch::{Batch, RecordResult};
use std::time::Duration;

/// Installs the JSON log format on standard error. `RUST_LOG` sets the level (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

/// Logs every failed record and a summary of the batch.
pub fn log_batch(batch: &Batch, bytes_in: usize, elapsed: Duration) {
    for outcome in &batch.outcomes {
        if let Some(reason) = &outcome.failure {
            tracing::warn!(
                record_id = %outcome.record_id,
                reason_code = reason.code(),
                reason = %reason,
                "record failed"
            );
        }
    }
    tracing::info!(
        invocation_id = batch.invocation_id.as_deref().unwrap_or(""),
        records = batch.outcomes.len(),
        ok = batch.count(RecordResult::Ok),
        processing_failed = batch.count(RecordResult::ProcessingFailed),
        dropped = batch.count(RecordResult::Dropped),
        bytes_in,
        bytes_out = batch.response_len(),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "batch transformed"
    );
}
