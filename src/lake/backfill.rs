//! `ddb-lake backfill`: a DynamoDB export's lines into the lake as the rows the stream would have
//! written, through the same [`RowWriter`] the Lambda uses (`_table_name` and `_aws_region` from
//! the table ARN, no Kinesis columns).
//!
//! A full export's items become `INSERT`s at the export time, so the lake starts from the
//! table's state at the export time and the stream's later changes override it:
//! * `_event_time` the export time (`exportTime`: the point in time the export shows), all rows
//!   in its partition;
//! * `_event_id` `export:<ExportId>:<data file>:<line>`: unique by construction and the same
//!   every time the same export is loaded, so loading it twice adds nothing to the current state
//!   (duplicate `_event_id`s are ignored), and a row can be traced to its line in the export.
//!
//! An incremental export's lines become the changes they record ([`crate::lake::export_record`]):
//! * `_event_name` from the line's shape, `_is_deleted` for a `REMOVE`; `_expired_by_ttl` false
//!   (the export does not say who deleted an item);
//! * `_event_time` the line's `WriteTimestampMicros`, each row in the partition of its own change
//!   time, so a gap in the stream is filled where the stream would have filled it;
//! * `_event_id` `incremental-export:<ExportId>:<data file>:<line>`, stable like a full export's.
//!
//! A line that cannot be made a row goes, base64-encoded, to `<error prefix>backfill-failed/…`
//! in Firehose's error format, `errorCode` the reason code (`column_collision`, …), filed (like
//! every object of the run) under the export time.

use crate::config::Config;
use crate::lake::export::{Export, ExportError, ExportItem, ExportType};
use crate::lake::export_record::{incremental_change, item_image};
use crate::lake::writer::{FailedRecord, LakeError, LakeWriter};
use crate::record::change_record::EventName;
use crate::record::error::RecordError;
use crate::record::event_time::{EventTime, Precision};
use crate::record::partition::PartitionKeys;
use crate::record::row::{RowMeta, RowWriter, StreamPosition};
use std::collections::BTreeMap;
use std::fmt::Write as _;
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

/// `_event_id` of a full export's rows: `export:<ExportId>:<data file>:<line>`.
pub const FULL_EXPORT_EVENT_ID: &str = "export";
/// `_event_id` of an incremental export's rows: `incremental-export:<ExportId>:<data file>:<line>`.
pub const INCREMENTAL_EXPORT_EVENT_ID: &str = "incremental-export";

/// Makes the rows of one export's lines, reusing its buffers.
pub struct ExportRows<'e> {
    export: &'e Export,
    rows: RowWriter,
    /// The export time, where a full export's rows (and every failed line) are filed.
    export_time: EventTime,
    /// The partition of the export time.
    export_partition: String,
    /// The partition of the last change time, to skip rebuilding it for the next row.
    partition: String,
    partition_hour: Option<(u32, u32, u32, u32)>,
    event_id: String,
}

impl<'e> ExportRows<'e> {
    pub fn new(export: &'e Export, config: &Config) -> Result<ExportRows<'e>, BackfillError> {
        let export_time = EventTime::from_creation_time(
            export.export_time_ms.saturating_mul(1000),
            Some(Precision::Microsecond),
        )
        .map_err(|_| BackfillError::ExportTime)?;
        Ok(ExportRows {
            export,
            rows: RowWriter::new(config),
            export_time,
            export_partition: partition_of(&export.table_name, export_time),
            partition: String::new(),
            partition_hour: None,
            event_id: String::new(),
        })
    }

    /// The row of one line, and the partition (`table=…/year=…/…/hour=…/`) it goes to.
    pub fn row(&mut self, item: &ExportItem) -> Result<(&str, &[u8]), RecordError> {
        let export = self.export;
        self.event_id.clear();
        let (kind, event_name, time, image) = match &export.export_type {
            ExportType::Full => (
                FULL_EXPORT_EVENT_ID,
                EventName::Insert,
                self.export_time,
                item_image(&item.text)?,
            ),
            ExportType::Incremental(window) => {
                let change = incremental_change(&item.text, window.view)?;
                (
                    INCREMENTAL_EXPORT_EVENT_ID,
                    change.event_name,
                    change.time,
                    change.image,
                )
            }
        };
        // Writing into a String cannot fail.
        let _ = write!(
            self.event_id,
            "{kind}:{}:{}:{}",
            export.export_id, export.files[item.file].stem, item.line
        );
        let meta = RowMeta {
            event_name,
            event_id: &self.event_id,
            time,
            table_name: &export.table_name,
            aws_region: &export.region,
            expired_by_ttl: false,
            stream_sequence_number: None,
            position: StreamPosition::default(),
        };
        let row = self.rows.write(&meta, image.get())?;
        let partition = if time == self.export_time {
            &self.export_partition
        } else {
            let hour = (time.year(), time.month(), time.day(), time.hour());
            if self.partition_hour != Some(hour) {
                self.partition = partition_of(&export.table_name, time);
                self.partition_hour = Some(hour);
            }
            &self.partition
        };
        Ok((partition, row))
    }
}

fn partition_of(table: &str, time: EventTime) -> String {
    PartitionKeys {
        table: table.into(),
        time,
    }
    .s3_prefix()
}

/// Writes every line of `export` into `lake`. `progress` is called after each line.
pub fn backfill(
    export: &Export,
    config: &Config,
    lake: &mut LakeWriter,
    verify_checksums: bool,
    mut progress: impl FnMut(&BackfillStats),
) -> Result<BackfillStats, BackfillError> {
    let mut rows = ExportRows::new(export, config)?;
    let mut stats = BackfillStats::default();
    for item in export.items(verify_checksums) {
        let item = item?;
        stats.items += 1;
        match rows.row(&item) {
            Ok((partition, row)) => {
                // Every object of the run is timed by the export time, as Firehose times them
                // by arrival: rows in any order then fill objects by size only.
                lake.write_row(partition, export.export_time_ms, row)?;
                stats.ok += 1;
            }
            Err(reason) => {
                let raw_data = base64_simd::STANDARD.encode_to_string(&item.text);
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
