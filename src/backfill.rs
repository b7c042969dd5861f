//! `ddb-lake backfill`: a DynamoDB export's items into the lake as the rows the stream would have
//! written had each item just been inserted, so the lake starts from the table's state at the
//! export time and the stream's later changes override it.
//!
//! Each item becomes a row through the same [`RowWriter`] the Lambda uses, with
//! * `_event_name` `INSERT`, `_event_time` the export time (`exportTime`: the point in time the
//!   export shows), `_table_name` and `_aws_region` from the table ARN, no Kinesis columns;
//! * `_event_id` `export:<ExportId>:<data file>:<line>`: unique by construction and the same
//!   every time the same export is loaded, so loading it twice adds nothing to the current state
//!   (duplicate `_event_id`s are ignored), and a row can be traced to its line in the export.
//!
//! All rows land in the partition of the export time. An item that cannot be made a row goes,
//! with its line base64-encoded, to `<error prefix>backfill-failed/…` in Firehose's error format,
//! `errorCode` the reason code (`column_collision`, …).

use crate::change_record::EventName;
use crate::config::Config;
use crate::error::{describe_json_error, RecordError};
use crate::event_time::{EventTime, Precision};
use crate::export::{Export, ExportError};
use crate::lake::{FailedRecord, LakeError, LakeWriter};
use crate::partition::PartitionKeys;
use crate::row::{RowMeta, RowWriter, StreamPosition};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use thiserror::Error;

/// The error-output-type folder of items that could not be made rows.
pub const ERROR_OUTPUT_TYPE: &str = "backfill-failed";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillStats {
    pub items: u64,
    pub ok: u64,
    pub failed: u64,
    /// Failed items by reason code.
    pub failures: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Error)]
pub enum BackfillError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("the export time is out of range")]
    ExportTime,
}

/// One line of a `DYNAMODB_JSON` export.
#[derive(Deserialize)]
struct ItemLine<'a> {
    #[serde(rename = "Item", borrow)]
    item: &'a RawValue,
}

/// Writes every item of `export` into `lake`. `progress` is called after each item.
pub fn backfill(
    export: &Export,
    config: &Config,
    lake: &mut LakeWriter,
    verify_checksums: bool,
    mut progress: impl FnMut(&BackfillStats),
) -> Result<BackfillStats, BackfillError> {
    let time = EventTime::from_creation_time(
        export.export_time_ms.saturating_mul(1000),
        Some(Precision::Microsecond),
    )
    .map_err(|_| BackfillError::ExportTime)?;
    let partition = PartitionKeys {
        table: export.table_name.as_str().into(),
        time,
    }
    .s3_prefix();
    let mut rows = RowWriter::new(config);
    let mut stats = BackfillStats::default();
    let mut event_id = String::new();
    let mut raw_data = String::new();
    for item in export.items(verify_checksums) {
        let item = item?;
        stats.items += 1;
        event_id.clear();
        // Writing into a String cannot fail.
        let _ = std::fmt::Write::write_fmt(
            &mut event_id,
            format_args!(
                "export:{}:{}:{}",
                export.export_id, export.files[item.file].stem, item.line
            ),
        );
        let meta = RowMeta {
            event_name: EventName::Insert,
            event_id: &event_id,
            time,
            table_name: &export.table_name,
            aws_region: &export.region,
            expired_by_ttl: false,
            stream_sequence_number: None,
            position: StreamPosition::default(),
        };
        match item_image(&item.text).and_then(|image| rows.write(&meta, image.get())) {
            Ok(row) => {
                lake.write_row(&partition, export.export_time_ms, row)?;
                stats.ok += 1;
            }
            Err(reason) => {
                raw_data.clear();
                STANDARD.encode_string(&item.text, &mut raw_data);
                lake.write_failed(&FailedRecord {
                    output_type: ERROR_OUTPUT_TYPE,
                    arrival_ms: export.export_time_ms,
                    raw_data: &raw_data,
                    error_code: reason.code(),
                    error_message: &reason.to_string(),
                    lambda_arn: None,
                })?;
                stats.failed += 1;
                *stats.failures.entry(reason.code()).or_insert(0) += 1;
            }
        }
        progress(&stats);
    }
    Ok(stats)
}

/// The typed-JSON image of an export line `{"Item":{…}}`.
fn item_image(line: &[u8]) -> Result<&RawValue, RecordError> {
    let text = std::str::from_utf8(line).map_err(|_| RecordError::NotUtf8)?;
    let parsed: ItemLine = serde_json::from_str(text).map_err(|e| {
        let reason = describe_json_error(&e);
        if e.is_data() {
            RecordError::Envelope(format!("not an export item ({reason})"))
        } else {
            RecordError::NotJson(reason)
        }
    })?;
    Ok(parsed.item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_lines() {
        let image = item_image(br#"{"Item":{"pk":{"S":"a"}}}"#).unwrap();
        assert_eq!(image.get(), r#"{"pk":{"S":"a"}}"#);
        assert_eq!(item_image(b"{\"Item\":").unwrap_err().code(), "not_json");
        assert_eq!(
            item_image(b"{\"pk\":1}").unwrap_err().code(),
            "bad_envelope"
        );
        assert_eq!(item_image(b"\xff").unwrap_err(), RecordError::NotUtf8);
    }
}
