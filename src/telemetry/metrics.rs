//! Per-invocation metrics in CloudWatch Embedded Metric Format: one JSON line that CloudWatch
//! Logs turns into metrics, with no API call and no agent. The Lambda prints it to standard
//! output; it describes the response Firehose received (a failed invocation shows in the
//! function's own `Errors` metric instead, and its batch is counted when it is answered).

use crate::firehose::batch::{Batch, RecordResult};
use serde_json::json;
use std::time::{Duration, SystemTime};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "DdbLake";

/// `t` in epoch milliseconds (0 before the epoch, which no clock here shows).
pub fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An EMF line (without its newline) of `counts` (unit `Count`), dimensioned by
/// `function_name`, stamped `at`: for functions other than the transformation (the schema keeper).
pub fn emf_counts(function_name: &str, at: SystemTime, counts: &[(&str, u64)]) -> String {
    let mut line = json!({
        "_aws": {
            "Timestamp": epoch_millis(at),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": counts.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
                    .collect::<Vec<_>>(),
            }]
        },
        "FunctionName": function_name,
    });
    for (name, value) in counts {
        line[*name] = json!(value);
    }
    line.to_string()
}

/// What one invocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationMetrics {
    pub records: usize,
    pub ok: usize,
    pub processing_failed: usize,
    /// Put back on the source stream and answered `Dropped`.
    pub dropped: usize,
    pub bytes_in: usize,
    pub bytes_out: usize,
    pub duration: Duration,
}

impl InvocationMetrics {
    pub fn of(batch: &Batch, bytes_in: usize, duration: Duration) -> InvocationMetrics {
        InvocationMetrics {
            records: batch.outcomes.len(),
            ok: batch.count(RecordResult::Ok),
            processing_failed: batch.count(RecordResult::ProcessingFailed),
            dropped: batch.count(RecordResult::Dropped),
            bytes_in,
            bytes_out: batch.response_len(),
            duration,
        }
    }

    /// The EMF line (without its newline), dimensioned by `function_name`, stamped `at`.
    pub fn emf_line(&self, function_name: &str, at: SystemTime) -> String {
        let timestamp_ms = epoch_millis(at);
        let metric = |name: &str, unit: &str| json!({"Name": name, "Unit": unit});
        json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [
                        metric("Records", "Count"),
                        metric("Ok", "Count"),
                        metric("ProcessingFailed", "Count"),
                        metric("Dropped", "Count"),
                        metric("BytesIn", "Bytes"),
                        metric("BytesOut", "Bytes"),
                        metric("Duration", "Milliseconds"),
                    ]
                }]
            },
            "FunctionName": function_name,
            "Records": self.records,
            "Ok": self.ok,
            "ProcessingFailed": self.processing_failed,
            "Dropped": self.dropped,
            "BytesIn": self.bytes_in,
            "BytesOut": self.bytes_out,
            "Duration": self.duration.as_secs_f64() * 1000.0,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_counts_line_declares_each_count() {
        let line = emf_counts("keeper", SystemTime::UNIX_EPOCH, &[("A", 1), ("B", 0)]);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!((v["A"].as_u64(), v["B"].as_u64()), (Some(1), Some(0)));
        assert_eq!(v["FunctionName"], "keeper");
    }

    #[test]
    fn an_emf_line_declares_every_metric_it_carries() {
        let m = InvocationMetrics {
            records: 10,
            ok: 7,
            processing_failed: 1,
            dropped: 2,
            bytes_in: 5000,
            bytes_out: 4000,
            duration: Duration::from_micros(12_500),
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let line = m.emf_line("ddb-lake-orders", at);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_123u64);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "DdbLake");
        assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(v["FunctionName"], "ddb-lake-orders");
        let expected = [
            ("Records", json!(10)),
            ("Ok", json!(7)),
            ("ProcessingFailed", json!(1)),
            ("Dropped", json!(2)),
            ("BytesIn", json!(5000)),
            ("BytesOut", json!(4000)),
            ("Duration", json!(12.5)),
        ];
        let declared: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(declared, expected.clone().map(|(name, _)| name));
        for (name, value) in expected {
            // EMF needs each declared metric as a top-level member holding a number.
            assert_eq!(v[name], value, "{name}");
        }
    }
}
