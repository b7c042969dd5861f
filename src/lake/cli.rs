//! The `replay` and `backfill` commands of `ddb-lake`: their options, progress bar and summary.
//! The work itself is in [`crate::lake::replay`], [`crate::lake::backfill`] and [`crate::lake`].

use crate::config::Config;
use crate::lake::backfill_files::backfill_export;
use crate::lake::coverage::ExportRecord;
use crate::lake::export::{Export, ExportType};
use crate::lake::replay::{BatchLimits, Replay};
use crate::lake::store::{Location, S3Access, Store};
use crate::lake::writer::{LakeSettings, LakeSummary, LakeWriter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where and how the lake is written; the defaults are the stacks' defaults.
#[derive(Debug, clap::Args)]
pub struct LakeArgs {
    /// The lake folder, laid out like the stacks' S3 bucket (created if missing); for
    /// `backfill`, also the bucket itself: s3://BUCKET/ or s3://BUCKET/PREFIX/.
    #[arg(long, value_name = "DIR")]
    pub lake: PathBuf,
    /// The stacks' TablePrefix: rows go under <DIR>/<PREFIX>table=…/ ("" for none).
    #[arg(long, default_value = "lake/", value_name = "PREFIX")]
    pub table_prefix: String,
    /// The stacks' ErrorPrefix: failed records go under <DIR>/<PREFIX><error-output-type>/….
    #[arg(long, default_value = "errors/", value_name = "PREFIX")]
    pub error_prefix: String,
    /// Most rows an object holds, in MiB before compression (the stacks' BufferSizeMB).
    #[arg(long, default_value_t = 64, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub object_mib: u64,
    /// An object is closed when a record arrives this long after its first one (the stacks'
    /// BufferIntervalSeconds).
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub buffer_seconds: u64,
    /// The delivery stream name that starts every object name.
    #[arg(long, value_name = "NAME")]
    pub delivery_stream: Option<String>,
}

/// `ddb-lake replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Change records (newline-delimited JSON or a JSON array; as Kinesis Data Streams for
    /// DynamoDB writes them or as a DynamoDB stream delivers them), DynamoDB Streams Lambda
    /// events ({"Records": [...]}) or Firehose events, plain or gzip-compressed; standard input
    /// when omitted or `-`.
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Most change records per transformation batch.
    #[arg(long, default_value_t = BatchLimits::default().max_records as u64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_records: u64,
    /// Most bytes of change records per batch (the stacks' Lambda processor BufferSizeInMBs is 1
    /// MB; Firehose allows up to 3).
    #[arg(long, default_value_t = BatchLimits::default().max_bytes as u64, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_bytes: u64,
}

/// `ddb-lake backfill`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The export's folder, `<export prefix>/AWSDynamoDB/<ExportId>/`, where DynamoDB wrote it
    /// (s3://BUCKET/PREFIX/AWSDynamoDB/<ExportId>/) or a local copy: it holds
    /// manifest-summary.json, manifest-files.json and data/ (an incremental export's data files
    /// may instead be in the shared ../data/, as its manifest says).
    pub export: PathBuf,
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Read the data files without comparing them with their md5Checksum (on S3, each data
    /// file is then read once instead of twice).
    #[arg(long)]
    pub skip_checksums: bool,
    /// With an S3 lake: the KMS key (ARN) objects are encrypted with (SSE-KMS), the lake's key
    /// as the stacks' bucket policy requires; without it the bucket's default encryption applies.
    #[arg(long, value_name = "KEY_ARN")]
    pub kms_key_id: Option<String>,
    /// Data files loaded at once (default: one per core, or RAYON_NUM_THREADS).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
}

/// Inputs above this size get a progress bar (when standard error is a terminal).
const LARGE_INPUT_BYTES: u64 = 32 << 20;
const LARGE_EXPORT_ITEMS: u64 = 100_000;

pub fn replay(args: ReplayArgs) -> Result<(), String> {
    if args.lake.lake.to_string_lossy().starts_with("s3://") {
        return Err("replay writes a local lake: give --lake a folder".to_owned());
    }
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let settings = lake_settings(&args.lake, "ddb-lake-replay");
    let mut lake = LakeWriter::new(&args.lake.lake, settings.clone()).map_err(|e| e.to_string())?;
    let limits = BatchLimits {
        max_records: usize::try_from(args.batch_records).unwrap_or(usize::MAX),
        max_bytes: usize::try_from(args.batch_bytes).unwrap_or(usize::MAX),
    };
    let inputs: Vec<Option<&Path>> = if args.inputs.is_empty() {
        vec![None]
    } else {
        args.inputs
            .iter()
            .map(|p| (p.as_os_str() != "-").then_some(p.as_path()))
            .collect()
    };
    let mut total = 0;
    for path in inputs.iter().flatten() {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            return Err(format!(
                "{} is a folder: name the files to replay (e.g. {}/*.jsonl)",
                path.display(),
                path.display()
            ));
        }
        total += meta.len();
    }
    let bar = if inputs.contains(&None) || total >= LARGE_INPUT_BYTES {
        progress_bar(
            (!inputs.contains(&None)).then_some(total),
            "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let mut replay = Replay::new(&config, &mut lake, limits);
    for input in &inputs {
        match input {
            Some(path) => {
                let name = path.display().to_string();
                let file =
                    std::fs::File::open(path).map_err(|e| format!("cannot read {name}: {e}"))?;
                replay
                    .read(&name, bar.wrap_read(file))
                    .map_err(|e| e.to_string())?;
            }
            None => replay
                .read("standard input", bar.wrap_read(std::io::stdin().lock()))
                .map_err(|e| e.to_string())?,
        }
    }
    let stats = replay.finish().map_err(|e| e.to_string())?;
    let summary = lake.finish().map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let mut text = format!(
        "replayed {} change records in {}: {}, {} failed{}{}\n",
        stats.records,
        plural(
            stats.batches,
            "transformation batch",
            "transformation batches"
        ),
        plural(stats.ok, "row", "rows"),
        stats.failed,
        reasons(&stats.failures),
        if stats.dropped > 0 {
            format!(", {} dropped (not delivered)", stats.dropped)
        } else {
            String::new()
        }
    );
    text += &lake_text(&args.lake.lake.display().to_string(), &settings, &summary);
    text += &speed_text(stats.records, "records", started.elapsed());
    print(&text);
    Ok(())
}

pub fn backfill_command(args: BackfillArgs) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let export_at = location(&args.export)?;
    let lake_at = location(&args.lake.lake)?;
    if args.kms_key_id.is_some() && !lake_at.is_s3() {
        return Err("--kms-key-id applies to an S3 lake (s3://BUCKET/...) only".to_owned());
    }
    // The S3 client and its runtime only when a side is on S3.
    let s3 = if export_at.is_s3() || lake_at.is_s3() {
        Some(S3Access::start().map_err(|e| format!("cannot start the S3 client: {e}"))?)
    } else {
        None
    };
    let open = |at: &Location, kms: Option<&str>| {
        Store::open(at, s3.as_ref(), kms).map_err(|e| e.to_string())
    };
    let export = Export::open_in(open(&export_at, None)?).map_err(|e| e.to_string())?;
    let lake = open(&lake_at, args.kms_key_id.as_deref())?;
    let settings = lake_settings(&args.lake, "ddb-lake-backfill");
    // Checks the lake's settings before any file is read.
    LakeWriter::to_store(lake.clone(), settings.clone()).map_err(|e| e.to_string())?;
    let bar = if export.item_count >= LARGE_EXPORT_ITEMS {
        progress_bar(
            Some(export.item_count),
            "{spinner} {elapsed_precise} [{wide_bar}] {human_pos}/{human_len} items {per_sec} eta {eta}",
        )
    } else {
        ProgressBar::hidden()
    };
    let threads = if args.threads == 0 {
        rayon::current_num_threads()
    } else {
        args.threads
    };
    let started = Instant::now();
    let outcome = backfill_export(
        &export,
        &config,
        &lake,
        &settings,
        !args.skip_checksums,
        threads,
        &|n| bar.inc(n),
    )
    .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let stats = &outcome.stats;
    let mut text = match &export.export_type {
        ExportType::Full => format!(
            "backfilled {} items of table {} as of {} (export {}): {}, {} failed{}\n",
            stats.items,
            export.table_name,
            export.export_time,
            export.export_id,
            plural(stats.ok, "row", "rows"),
            stats.failed,
            reasons(&stats.failures)
        ),
        ExportType::Incremental(window) => format!(
            "backfilled {} changes of table {} in [{}, {}) (incremental export {}, {}): {}, {} failed{}\n",
            stats.items,
            export.table_name,
            window.from,
            window.to,
            export.export_id,
            window.view.as_str(),
            plural(stats.ok, "row", "rows"),
            stats.failed,
            reasons(&stats.failures)
        ),
    };
    // The incremental export's window, for `ddb-lake coverage`: its rows alone do not tell it.
    if let Some(record) = ExportRecord::of(&export, stats) {
        let path = record
            .write(&lake, &settings.table_prefix)
            .map_err(|e| format!("cannot write the export's record in {lake_at}: {e}"))?;
        text += &format!("recorded the export's window in {}\n", path.display());
    }
    text += &lake_text(&lake_at.to_string(), &settings, &outcome.lake);
    text += &format!(
        "{} on {}\n",
        plural(export.files.len() as u64, "data file", "data files"),
        plural(threads as u64, "thread", "threads")
    );
    text += &speed_text(stats.items, "items", started.elapsed());
    print(&text);
    Ok(())
}

/// A folder argument: `s3://…` or a local path.
fn location(path: &Path) -> Result<Location, String> {
    Location::parse(&path.to_string_lossy()).map_err(|e| e.to_string())
}

fn lake_settings(args: &LakeArgs, default_stream: &str) -> LakeSettings {
    LakeSettings {
        table_prefix: args.table_prefix.clone(),
        error_prefix: args.error_prefix.clone(),
        delivery_stream: args
            .delivery_stream
            .clone()
            .unwrap_or_else(|| default_stream.to_owned()),
        object_bytes: args.object_mib.saturating_mul(1 << 20),
        buffer_interval_ms: args.buffer_seconds.saturating_mul(1000),
        ..LakeSettings::default()
    }
}

/// A bar on standard error, drawn only when it is a terminal.
fn progress_bar(len: Option<u64>, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn reasons(failures: &BTreeMap<&'static str, u64>) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let list: Vec<String> = failures
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect();
    format!(" ({})", list.join(", "))
}

/// The lake's folders that received objects, the first few of them by name.
fn lake_text(root: &str, settings: &LakeSettings, summary: &LakeSummary) -> String {
    const SHOWN: usize = 12;
    let mut text = format!("lake {root}:\n");
    for (prefix, objects) in summary.objects.iter().take(SHOWN) {
        text += &format!("  {prefix}  {}\n", plural(*objects, "object", "objects"));
    }
    if summary.objects.len() > SHOWN {
        text += &format!("  … {} more folders\n", summary.objects.len() - SHOWN);
    }
    text += &format!(
        "  {}, {} of rows, {} of failed records\n",
        plural(
            summary.partitions(settings).count() as u64,
            "partition",
            "partitions"
        ),
        plural(summary.data_objects(settings), "object", "objects"),
        plural(summary.error_objects(settings), "object", "objects"),
    );
    text
}

fn speed_text(count: u64, unit: &str, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    };
    let memory = peak_memory_mib()
        .map(|m| format!(", peak memory {m:.1} MiB"))
        .unwrap_or_default();
    format!("{seconds:.2} s, {rate:.0} {unit}/s{memory}\n")
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Prints the summary. The lake is written by now, so a closed standard output (`| head`) is
/// not an error worth reporting.
fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The process's peak resident memory (Linux's VmHWM), if the system tells.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
