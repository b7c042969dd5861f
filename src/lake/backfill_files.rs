//! Backfill data file by data file: each data file of an export is loaded on its own, by
//! [`backfill_file`], into its own lake objects. The command runs the files in parallel on every
//! core ([`backfill_export`]); past one machine, a Step Functions Distributed Map runs one Lambda
//! invocation per file (`src/bin/backfill-lambda.rs`, [`crate::lake::backfill_task`]). Both call the
//! same function, so both write the same objects.
//!
//! Why this is deterministic whatever the parallelism: a file's rows go to lake objects of its
//! own, named (by [`crate::lake`]) from their rows and their position among that file's
//! objects; the rows' `_event_id`s hold the file's name. Which thread or invocation loads a
//! file, and in what order, changes nothing in any object's name or bytes; loading an export
//! again rewrites the same objects.
//!
//! Why rayon threads and blocking reads, with S3 I/O on a small Tokio runtime: the work is CPU
//! (gunzip, parse, flatten, gzip), so one file per core keeps every core busy and memory
//! bounded by the number of cores (one file streamed at a time per thread: a bounded read-ahead,
//! the objects being filled), not by the export's size. S3 reads run ahead of each thread on the
//! runtime, so the network overlaps the CPU work; puts happen as objects close.

use crate::config::Config;
use crate::lake::backfill::{backfill, BackfillError, BackfillStats};
use crate::lake::export::Export;
use crate::lake::store::Store;
use crate::lake::writer::{LakeSettings, LakeSummary, LakeWriter};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use thiserror::Error;

/// Items between two progress reports of one file.
const PROGRESS_EVERY: u64 = 4096;

#[derive(Debug, Error)]
pub enum BackfillFilesError {
    #[error(transparent)]
    File(#[from] BackfillError),
    #[error("cannot start the backfill threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

/// What loading one data file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOutcome {
    /// The file's `dataFileS3Key`.
    pub data_file_s3_key: String,
    pub stats: BackfillStats,
    pub lake: LakeSummary,
}

/// What loading a whole export did: the files' outcomes, in manifest order, and their sums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    pub stats: BackfillStats,
    pub lake: LakeSummary,
    pub files: Vec<FileOutcome>,
}

/// Loads data file `index` of `export` into the lake `lake` (its objects only; nothing else in
/// the lake is read or changed). `on_items(n)` is called as items are read, `n` at a time.
/// Errors: the file cannot be read, does not match its manifest entry (checksum, item count),
/// or an object cannot be written.
pub fn backfill_file(
    export: &Export,
    index: usize,
    config: &Config,
    lake: &Store,
    settings: &LakeSettings,
    verify_checksums: bool,
    on_items: &(dyn Fn(u64) + Sync),
) -> Result<FileOutcome, BackfillError> {
    // Callers pass indexes of `export.files`; past them there is no file, and nothing to load.
    let Some(one) = export.for_file(index) else {
        return Ok(FileOutcome::default());
    };
    let mut writer = LakeWriter::to_store(lake.clone(), settings.clone())?;
    let mut reported = 0;
    let stats = backfill(&one, config, &mut writer, verify_checksums, |stats| {
        if stats.items - reported >= PROGRESS_EVERY {
            on_items(stats.items - reported);
            reported = stats.items;
        }
    })?;
    on_items(stats.items - reported);
    let summary = writer.finish()?;
    Ok(FileOutcome {
        data_file_s3_key: one.files[0].key.clone(),
        stats,
        lake: summary,
    })
}

/// Loads every data file of `export` into `lake`, `threads` files at a time (0: one per core,
/// or `RAYON_NUM_THREADS`). After the first file that fails, no further file is started and
/// that error (the first in manifest order among those that failed) is returned; the objects of
/// the files already loaded stay, and loading again rewrites them.
pub fn backfill_export(
    export: &Export,
    config: &Config,
    lake: &Store,
    settings: &LakeSettings,
    verify_checksums: bool,
    threads: usize,
    on_items: &(dyn Fn(u64) + Sync),
) -> Result<ExportOutcome, BackfillFilesError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("backfill-{i}"))
        .build()?;
    let stop = AtomicBool::new(false);
    let results: Vec<Option<Result<FileOutcome, BackfillError>>> = pool.install(|| {
        (0..export.files.len())
            .into_par_iter()
            // One file per task: rayon then holds at most one file per thread.
            .with_max_len(1)
            .map(|index| {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                let result = backfill_file(
                    export,
                    index,
                    config,
                    lake,
                    settings,
                    verify_checksums,
                    on_items,
                );
                if result.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                Some(result)
            })
            .collect()
    });
    let mut outcome = ExportOutcome::default();
    let mut first_error = None;
    for result in results.into_iter().flatten() {
        match result {
            Ok(file) => {
                add_stats(&mut outcome.stats, &file.stats);
                add_summary(&mut outcome.lake, &file.lake);
                outcome.files.push(file);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(outcome),
    }
}

/// Adds `more` to `total`.
pub fn add_stats(total: &mut BackfillStats, more: &BackfillStats) {
    total.items += more.items;
    total.ok += more.ok;
    total.failed += more.failed;
    for (code, n) in &more.failures {
        *total.failures.entry(code).or_insert(0) += n;
    }
}

/// Adds `more` to `total`.
pub fn add_summary(total: &mut LakeSummary, more: &LakeSummary) {
    total.rows += more.rows;
    total.failed_records += more.failed_records;
    for (prefix, n) in &more.objects {
        *total.objects.entry(prefix.clone()).or_insert(0) += n;
    }
}
