//! What the pipeline tells its operators: structured JSON logs ([`logs`]) and CloudWatch
//! embedded-metric-format lines ([`metrics`]). Never item contents.

pub mod logs;
pub mod metrics;
