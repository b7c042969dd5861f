//! The backfill Lambda's two tasks, as the Step Functions state machine
//! (`cloudformation/backfill.yaml`) invokes them:
//!
//! * `loadDataFile` — one invocation per line of the export's `manifest-files.json` (a
//!   Distributed Map item): loads that data file into the lake with [`backfill_file`], the code
//!   the `ddb-lake backfill` command runs, and returns its [`FileReport`]. The report is also
//!   written to `<lake>/<reportPrefix><ExportId>/<file>.json` (the failure's reason too, when
//!   the file fails: the invocation then fails, so Step Functions retries it).
//! * `summarize` — once, after the map: reads the export's manifests and those reports and
//!   returns the [`Summary`]: items, rows, failed items, files loaded, and the files that were
//!   not (with their last reason).
//!
//! Both take and return JSON (field names in camelCase). The lake's layout (table and error
//! prefixes, delivery stream name) comes with each task, so one function serves any lake.

use crate::config::Config;
use crate::lake::backfill::BackfillStats;
use crate::lake::backfill_files::backfill_file;
use crate::lake::export::{Export, ExportError};
use crate::lake::store::{Location, S3Access, Store};
use crate::lake::writer::LakeSettings;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// Where reports go, under the lake, when the task does not say.
pub const DEFAULT_REPORT_PREFIX: &str = "backfill-reports/";
/// Failed files listed in a summary at most (Step Functions passes at most 256 KiB between
/// states); the rest are counted.
pub const LISTED_FAILED_FILES: usize = 100;
/// Reports read at once by `summarize`.
const REPORT_READS: usize = 32;

/// What an invocation is asked to do.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    LoadDataFile,
    Summarize,
}

/// An invocation's input: the export, the lake and, for `loadDataFile`, the data file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Task {
    pub action: Action,
    /// The export's folder: `s3://<bucket>/<prefix>/AWSDynamoDB/<ExportId>/`.
    pub export: String,
    /// The lake: `s3://<bucket>/` or `s3://<bucket>/<prefix>/`.
    pub lake: String,
    /// `loadDataFile`: the file's `dataFileS3Key`, as in `manifest-files.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_file_s3_key: Option<String>,
    /// The KMS key (ARN) every object written is encrypted with; the bucket's default when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// The stacks' `TablePrefix` (default `lake/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_prefix: Option<String>,
    /// The stacks' `ErrorPrefix` (default `errors/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_prefix: Option<String>,
    /// Starts every object name (default `ddb-lake-backfill`, as the command's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_stream: Option<String>,
    /// Where reports go under the lake (default [`DEFAULT_REPORT_PREFIX`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_prefix: Option<String>,
    /// `loadDataFile`: read the file without comparing it with its `md5Checksum`.
    #[serde(default)]
    pub skip_checksums: bool,
}

/// What loading one data file did (or why it did not).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    pub data_file_s3_key: String,
    pub items: u64,
    pub rows: u64,
    /// Items that became failed records in the error layout.
    pub failed: u64,
    /// Failed items by reason code.
    pub failures: BTreeMap<String, u64>,
    /// Objects written.
    pub objects: u64,
    /// Why the file could not be loaded; absent when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A file that was not loaded.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailedFile {
    pub data_file_s3_key: String,
    /// The last attempt's reason, or that no attempt left a report.
    pub error: String,
}

/// `summarize`'s answer: the whole backfill.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub export_arn: String,
    pub table: String,
    pub export_time: String,
    /// Items the export holds, by its manifest.
    pub export_items: u64,
    /// Data files in the export.
    pub files: u64,
    pub files_loaded: u64,
    pub files_failed: u64,
    /// Items read from the files loaded.
    pub items: u64,
    pub rows: u64,
    pub failed_items: u64,
    /// Failed items by reason code.
    pub failures: BTreeMap<String, u64>,
    /// The first [`LISTED_FAILED_FILES`] files not loaded.
    pub failed_files: Vec<FailedFile>,
}

#[derive(Debug, Error)]
pub enum TaskError {
    #[error("{field}: {reason}")]
    BadInput { field: &'static str, reason: String },
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("{data_file_s3_key} is not a data file of export {export}")]
    UnknownDataFile {
        data_file_s3_key: String,
        export: String,
    },
    #[error("{data_file_s3_key}: {reason}")]
    DataFile {
        data_file_s3_key: String,
        reason: String,
    },
    #[error("cannot write the report {key}: {source}")]
    Report { key: String, source: std::io::Error },
    #[error("cannot read the reports under {folder}: {source}")]
    Reports {
        folder: String,
        source: std::io::Error,
    },
    #[error("cannot start threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

impl TaskError {
    /// A stable code for operators (the error name Step Functions shows and retries on).
    pub fn code(&self) -> &'static str {
        match self {
            TaskError::BadInput { .. } => "BadInput",
            TaskError::Export(_) | TaskError::UnknownDataFile { .. } => "BadExport",
            TaskError::DataFile { .. } => "DataFileFailed",
            TaskError::Report { .. } | TaskError::Reports { .. } => "ReportFailed",
            TaskError::Threads(_) => "Internal",
        }
    }
}

/// The export, lake and settings of a task, opened.
struct Opened {
    export: Export,
    lake: Store,
    reports: Store,
    settings: LakeSettings,
}

fn open(target: &Task, s3: &S3Access) -> Result<Opened, TaskError> {
    let location = |field: &'static str, text: &str| {
        Location::parse(text).map_err(|e| TaskError::BadInput {
            field,
            reason: e.to_string(),
        })
    };
    let export_at = location("export", &target.export)?;
    let lake_at = location("lake", &target.lake)?;
    let store = |field: &'static str, at: &Location, kms: Option<&str>| {
        Store::open(at, Some(s3), kms).map_err(|e| TaskError::BadInput {
            field,
            reason: e.to_string(),
        })
    };
    let export = Export::open_in(store("export", &export_at, None)?)?;
    let lake = store("lake", &lake_at, target.kms_key_id.as_deref())?;
    let defaults = LakeSettings::default();
    let settings = LakeSettings {
        table_prefix: target
            .table_prefix
            .clone()
            .unwrap_or(defaults.table_prefix.clone()),
        error_prefix: target
            .error_prefix
            .clone()
            .unwrap_or(defaults.error_prefix.clone()),
        delivery_stream: target
            .delivery_stream
            .clone()
            .unwrap_or_else(|| "ddb-lake-backfill".to_owned()),
        ..defaults
    };
    let report_prefix = target
        .report_prefix
        .as_deref()
        .unwrap_or(DEFAULT_REPORT_PREFIX);
    if !report_prefix.is_empty() && !report_prefix.ends_with('/') {
        return Err(TaskError::BadInput {
            field: "reportPrefix",
            reason: format!("{report_prefix:?} must end in '/'"),
        });
    }
    let reports = lake.child(&format!("{report_prefix}{}/", export.export_id));
    Ok(Opened {
        export,
        lake,
        reports,
        settings,
    })
}

/// The report's name for a data file: its name in `data/`, `.json` for `.json.gz`.
fn report_key(export: &Export, index: usize) -> String {
    format!("{}.json", export.files[index].stem)
}

/// Runs `task`. Blocking: call it off the runtime's threads (`spawn_blocking`).
pub fn run(task: &Task, config: &Config, s3: &S3Access) -> Result<serde_json::Value, TaskError> {
    let value = match task.action {
        Action::LoadDataFile => serde_json::to_value(load_data_file(task, config, s3)?),
        Action::Summarize => serde_json::to_value(summarize(task, s3)?),
    };
    // Plain structs of strings and numbers always serialize.
    value.map_err(|e| TaskError::BadInput {
        field: "output",
        reason: e.to_string(),
    })
}

/// `loadDataFile`.
pub fn load_data_file(
    task: &Task,
    config: &Config,
    s3: &S3Access,
) -> Result<FileReport, TaskError> {
    let key = task
        .data_file_s3_key
        .clone()
        .ok_or_else(|| TaskError::BadInput {
            field: "dataFileS3Key",
            reason: "loadDataFile needs the data file's key".to_owned(),
        })?;
    let opened = open(task, s3)?;
    let export = &opened.export;
    let index = export
        .files
        .iter()
        .position(|f| f.key == key)
        .ok_or_else(|| TaskError::UnknownDataFile {
            data_file_s3_key: key.clone(),
            export: export.export_arn.clone(),
        })?;
    let result = backfill_file(
        export,
        index,
        config,
        &opened.lake,
        &opened.settings,
        !task.skip_checksums,
        &|_| {},
    );
    let report = match &result {
        Ok(outcome) => FileReport {
            data_file_s3_key: key.clone(),
            items: outcome.stats.items,
            rows: outcome.lake.rows,
            failed: outcome.stats.failed,
            failures: failures(&outcome.stats),
            objects: outcome.lake.objects.values().sum(),
            error: None,
        },
        Err(e) => FileReport {
            data_file_s3_key: key.clone(),
            error: Some(e.to_string()),
            ..FileReport::default()
        },
    };
    let report_key = report_key(export, index);
    let bytes = serde_json::to_vec(&report).unwrap_or_default();
    opened
        .reports
        .put(&report_key, bytes)
        .map_err(|source| TaskError::Report {
            key: opened.reports.display(&report_key).display().to_string(),
            source,
        })?;
    match result {
        Ok(_) => Ok(report),
        Err(e) => Err(TaskError::DataFile {
            data_file_s3_key: key,
            reason: e.to_string(),
        }),
    }
}

fn failures(stats: &BackfillStats) -> BTreeMap<String, u64> {
    stats
        .failures
        .iter()
        .map(|(code, n)| ((*code).to_owned(), *n))
        .collect()
}

/// `summarize`.
pub fn summarize(target: &Task, s3: &S3Access) -> Result<Summary, TaskError> {
    let opened = open(target, s3)?;
    let export = &opened.export;
    let folder = || opened.reports.display("").display().to_string();
    let present: std::collections::HashSet<String> = opened
        .reports
        .list("")
        .map_err(|source| TaskError::Reports {
            folder: folder(),
            source,
        })?
        .into_iter()
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(REPORT_READS)
        .build()?;
    let reports: Vec<Result<Option<FileReport>, TaskError>> = pool.install(|| {
        (0..export.files.len())
            .into_par_iter()
            .map(|index| {
                let key = report_key(export, index);
                if !present.contains(&key) {
                    return Ok(None);
                }
                let bytes = opened
                    .reports
                    .read_all(&key)
                    .map_err(|source| TaskError::Reports {
                        folder: folder(),
                        source,
                    })?;
                // A report that cannot be read counts as no report: the file is reported.
                Ok(serde_json::from_slice::<FileReport>(&bytes).ok())
            })
            .collect()
    });
    let mut summary = Summary {
        export_arn: export.export_arn.clone(),
        table: export.table_name.clone(),
        export_time: export.export_time.clone(),
        export_items: export.item_count,
        files: export.files.len() as u64,
        ..Summary::default()
    };
    for (file, report) in export.files.iter().zip(reports) {
        let error = match report? {
            Some(r) if r.error.is_none() && r.data_file_s3_key == file.key => {
                summary.files_loaded += 1;
                summary.items += r.items;
                summary.rows += r.rows;
                summary.failed_items += r.failed;
                for (code, n) in r.failures {
                    *summary.failures.entry(code).or_insert(0) += n;
                }
                continue;
            }
            Some(r) => r
                .error
                .unwrap_or_else(|| "its report names another file".to_owned()),
            None => "no attempt left a report (not run, timed out or crashed)".to_owned(),
        };
        summary.files_failed += 1;
        if summary.failed_files.len() < LISTED_FAILED_FILES {
            summary.failed_files.push(FailedFile {
                data_file_s3_key: file.key.clone(),
                error,
            });
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_read_as_the_state_machine_writes_them() {
        let task: Task = serde_json::from_str(
            r#"{"action":"loadDataFile","export":"s3://exports/AWSDynamoDB/01-ab/",
                "lake":"s3://lake/","kmsKeyId":"arn:aws:kms:eu-west-1:1:key/k",
                "tablePrefix":"lake/","dataFileS3Key":"AWSDynamoDB/01-ab/data/x.json.gz"}"#,
        )
        .unwrap();
        assert_eq!(task.action, Action::LoadDataFile);
        assert_eq!(
            task.data_file_s3_key.as_deref(),
            Some("AWSDynamoDB/01-ab/data/x.json.gz")
        );
        assert_eq!(
            task.kms_key_id.as_deref(),
            Some("arn:aws:kms:eu-west-1:1:key/k")
        );
        assert!(!task.skip_checksums);
        let summarize: Task = serde_json::from_str(
            r#"{"action":"summarize","export":"s3://e/x/","lake":"s3://lake/"}"#,
        )
        .unwrap();
        assert_eq!(summarize.action, Action::Summarize);
        // A misspelt setting is refused, not ignored.
        assert!(serde_json::from_str::<Task>(
            r#"{"action":"summarize","export":"s3://e/x/","lake":"s3://lake/","kmsKey":"k"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<Task>(
            r#"{"action":"nothing","export":"s3://e/x/","lake":"s3://lake/"}"#
        )
        .is_err());
    }
}
