//! `ddb-lake coverage`: which stretches of a table's history the lake holds, from which source,
//! and where it may miss changes.
//!
//! A table's rows come from three sources, told apart by `_event_id`:
//! * a **full export** (`export:<ExportId>:…`) gives the table's state at one point in time, its
//!   export time (the rows' `_event_time`);
//! * an **incremental export** (`incremental-export:<ExportId>:…`) gives every change in its
//!   window [`exportFromTime`, `exportToTime`). The window is not in the rows (a window without
//!   changes has none), so `ddb-lake backfill` records each incremental export it loads in
//!   `<TablePrefix>_exports/<ExportId>.json` ([`ExportRecord`]), with the rows it wrote;
//! * the **stream** (every other row) gives the changes it delivered, each at its change time.
//!
//! What rows can prove, and what they cannot: a full export covers everything before its time,
//! and an incremental export (whose rows are all in the lake) covers its window, for certain. The
//! stream's rows never prove that nothing is missing between two of them: a table may simply not
//! change for a while. So a stretch without stream rows is taken as quiet when it is no longer
//! than `max_quiet` (the longest the table normally goes without a change) and as a **hole**
//! otherwise, unless an incremental export's window covers it.
//!
//! Precisely: the current state needs every change after the latest full export (or, with none,
//! after the lake's first row: the lake then holds only items changed since). Walking forward from
//! that time over the stream's stretches (consecutive rows at most `max_quiet` apart) and the
//! incremental exports' windows in time order, every gap longer than `max_quiet` between what is
//! covered so far and the next stretch or window is a hole. In particular, a stream whose first
//! row comes more than `max_quiet` after the full export time leaves a hole at the seam (the
//! stream may have been connected after the export). Holes before the latest full export are
//! reported too, as gaps in the history only: that export re-anchors the current state. After the
//! last row nothing is claimed: the stream may be quiet or not yet delivered.

use crate::config::Config;
use crate::lake::backfill::{BackfillStats, FULL_EXPORT_EVENT_ID, INCREMENTAL_EXPORT_EVENT_ID};
use crate::lake::export::{Export, ExportType};
use crate::lake::store::Store;
use flate2::read::MultiGzDecoder;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The folder, below the table prefix, where `ddb-lake backfill` records incremental exports.
/// Its name starts with `_`, so Athena's Hive-style readers skip it, and it is outside every
/// `table=…` partition the Glue table projects.
pub const EXPORTS_FOLDER: &str = "_exports";

/// What `ddb-lake backfill` loaded from one incremental export, as JSON in
/// `<TablePrefix>_exports/<ExportId>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRecord {
    pub export_arn: String,
    pub export_id: String,
    pub table_name: String,
    /// `INCREMENTAL_EXPORT`.
    pub export_type: String,
    /// The window, as the manifest gives it (RFC 3339).
    pub export_from_time: String,
    pub export_to_time: String,
    pub output_view: String,
    /// Lines in the export.
    pub item_count: u64,
    /// Rows written to the lake.
    pub rows: u64,
    /// Lines that could not be made rows (in `<ErrorPrefix>backfill-failed/`).
    pub failed_items: u64,
}

impl ExportRecord {
    /// The record of a loaded incremental export; none for a full export, whose rows tell its
    /// time themselves.
    pub fn of(export: &Export, stats: &BackfillStats) -> Option<ExportRecord> {
        let ExportType::Incremental(window) = &export.export_type else {
            return None;
        };
        Some(ExportRecord {
            export_arn: export.export_arn.clone(),
            export_id: export.export_id.clone(),
            table_name: export.table_name.clone(),
            export_type: "INCREMENTAL_EXPORT".to_owned(),
            export_from_time: window.from.clone(),
            export_to_time: window.to.clone(),
            output_view: window.view.as_str().to_owned(),
            item_count: export.item_count,
            rows: stats.ok,
            failed_items: stats.failed,
        })
    }

    /// Its key below the lake's root: `<table prefix>_exports/<ExportId>.json`.
    pub fn key(&self, table_prefix: &str) -> String {
        format!("{table_prefix}{EXPORTS_FOLDER}/{}.json", self.export_id)
    }

    /// Writes it into the lake (a local folder or an S3 bucket; whole, so a reader never sees half
    /// a record) and returns where. Loading the same export again rewrites the same record.
    pub fn write(&self, lake: &Store, table_prefix: &str) -> std::io::Result<PathBuf> {
        let key = self.key(table_prefix);
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        lake.put(&key, text)?;
        Ok(lake.display(&key))
    }
}

/// A time, in microseconds since the epoch (as the rows' `_event_time`).
pub type Micros = i64;

/// Rows of one export found in a table's partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowSpan {
    pub rows: u64,
    pub first: Micros,
    pub last: Micros,
}

impl RowSpan {
    fn add(&mut self, t: Micros) {
        self.rows += 1;
        self.first = self.first.min(t);
        self.last = self.last.max(t);
    }
}

/// The stream's rows of a table, kept as the first and last change time in each `max_quiet`-wide
/// bucket of time: a stretch longer than `max_quiet` without rows always spans a bucket boundary,
/// so it is found exactly, in memory bounded by the number of buckets, not rows.
#[derive(Debug, Clone, Default)]
pub struct StreamRows {
    pub rows: u64,
    buckets: BTreeMap<i64, (Micros, Micros)>,
}

impl StreamRows {
    fn add(&mut self, t: Micros, max_quiet: Micros) {
        self.rows += 1;
        let slot = self
            .buckets
            .entry(t.div_euclid(max_quiet.max(1)))
            .or_insert((t, t));
        slot.0 = slot.0.min(t);
        slot.1 = slot.1.max(t);
    }

    /// The stretches of rows no more than `max_quiet` apart, in time order.
    pub fn stretches(&self, max_quiet: Micros) -> Vec<(Micros, Micros)> {
        let mut out: Vec<(Micros, Micros)> = Vec::new();
        for &(first, last) in self.buckets.values() {
            match out.last_mut() {
                Some(run) if first - run.1 <= max_quiet => run.1 = run.1.max(last),
                _ => out.push((first, last)),
            }
        }
        out
    }
}

/// Everything the lake holds for one table.
#[derive(Debug, Clone, Default)]
pub struct TableRows {
    /// By ExportId.
    pub full_exports: BTreeMap<String, RowSpan>,
    /// Rows of incremental exports, by ExportId.
    pub incremental_rows: BTreeMap<String, RowSpan>,
    /// Records of incremental exports, by ExportId.
    pub incremental_records: BTreeMap<String, ExportRecord>,
    pub stream: StreamRows,
    /// Rows without a readable `_event_id` and `_event_time`.
    pub unreadable: u64,
}

impl TableRows {
    /// Files one row, by its `_event_id` and `_event_time`.
    pub fn add_row(&mut self, event_id: &str, time: Micros, max_quiet: Micros) {
        let (spans, id) = match export_of(event_id) {
            Some((FULL_EXPORT_EVENT_ID, id)) => (&mut self.full_exports, id),
            Some((_, id)) => (&mut self.incremental_rows, id),
            None => return self.stream.add(time, max_quiet),
        };
        match spans.get_mut(id) {
            Some(span) => span.add(time),
            None => {
                spans.insert(
                    id.to_owned(),
                    RowSpan {
                        rows: 1,
                        first: time,
                        last: time,
                    },
                );
            }
        }
    }
}

/// `("export" | "incremental-export", ExportId)` of an export row's `_event_id`.
fn export_of(event_id: &str) -> Option<(&'static str, &str)> {
    for kind in [FULL_EXPORT_EVENT_ID, INCREMENTAL_EXPORT_EVENT_ID] {
        if let Some(rest) = event_id
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix(':'))
        {
            let id = rest.split(':').next().unwrap_or_default();
            return Some((kind, id));
        }
    }
    None
}

/// A stretch of time the lake holds nothing for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    pub from: Micros,
    pub to: Micros,
    /// What covers the time up to the hole, and what resumes after it.
    pub after: String,
    pub before: String,
}

/// One source of changes in time order, for the walk.
#[derive(Debug, Clone)]
struct Cover {
    from: Micros,
    to: Micros,
    what: String,
}

/// The findings for one table.
#[derive(Debug, Clone, Default)]
pub struct TableReport {
    /// Lines describing what the lake holds.
    pub lines: Vec<String>,
    /// Holes the current state depends on.
    pub holes: Vec<Hole>,
    /// Holes before the latest full export: the history misses changes, the current state not.
    pub history_holes: Vec<Hole>,
    /// Incremental exports with fewer rows in the lake than their record says were written.
    pub incomplete: Vec<String>,
    /// The latest full export, which the current state starts from.
    pub anchor: Option<String>,
}

impl TableReport {
    /// Whether the current state can be trusted to miss nothing (beyond `max_quiet`).
    pub fn is_complete(&self) -> bool {
        self.holes.is_empty() && self.incomplete.is_empty()
    }
}

/// Walks from `start` over `covers` (sorted by start) and returns the gaps longer than
/// `max_quiet`. `start_what` names what covers the time up to `start`.
fn walk(start: Micros, start_what: &str, covers: &[Cover], max_quiet: Micros) -> Vec<Hole> {
    let mut holes = Vec::new();
    let mut covered = start;
    let mut what = start_what.to_owned();
    for c in covers {
        if c.to <= covered {
            continue;
        }
        if c.from > covered.saturating_add(max_quiet) {
            holes.push(Hole {
                from: covered,
                to: c.from,
                after: what.clone(),
                before: c.what.clone(),
            });
        }
        covered = c.to;
        what = c.what.clone();
    }
    holes
}

/// Judges one table's rows: what each source covers, and the holes.
pub fn judge(rows: &TableRows, max_quiet: Micros) -> TableReport {
    let mut report = TableReport::default();
    let mut covers: Vec<Cover> = Vec::new();

    for (id, span) in &rows.full_exports {
        report.lines.push(format!(
            "full export {id}: the table at {}, {}",
            time_text(span.last),
            plural(span.rows, "row", "rows")
        ));
    }
    let ids: std::collections::BTreeSet<&String> = rows
        .incremental_records
        .keys()
        .chain(rows.incremental_rows.keys())
        .collect();
    for id in ids {
        let span = rows.incremental_rows.get(id);
        let present = span.map_or(0, |s| s.rows);
        let what = format!("incremental export {id}");
        match rows.incremental_records.get(id) {
            Some(record) => {
                let window = (
                    parse_time(&record.export_from_time),
                    parse_time(&record.export_to_time),
                );
                let shown = |text: &str, t: Option<Micros>| t.map_or(text.to_owned(), time_text);
                let mut line = format!(
                    "{what}: the changes in [{}, {}), {}, {} of {} in the lake",
                    shown(&record.export_from_time, window.0),
                    shown(&record.export_to_time, window.1),
                    record.output_view,
                    present,
                    plural(record.rows, "row", "rows")
                );
                if record.failed_items > 0 {
                    line += &format!(
                        "; {} could not be loaded (see backfill-failed/ under the error prefix): \
                         those changes are missing",
                        plural(record.failed_items, "line", "lines")
                    );
                }
                report.lines.push(line);
                match window {
                    (Some(from), Some(to)) if present >= record.rows => covers.push(Cover {
                        from,
                        to,
                        what: what.clone(),
                    }),
                    (Some(_), Some(_)) => report.incomplete.push(format!(
                        "{what}: only {} of its {} are in the lake (load it again)",
                        present,
                        plural(record.rows, "row", "rows")
                    )),
                    _ => report.incomplete.push(format!(
                        "{what}: its record's window is not readable (load it again)"
                    )),
                }
            }
            None => {
                // Rows without a record: the window is unknown, only the rows' times are sure.
                if let Some(span) = span {
                    report.lines.push(format!(
                        "{what}: {} from {} to {}, window unknown (no {EXPORTS_FOLDER}/{id}.json \
                         record): counted as covering only that span",
                        plural(span.rows, "row", "rows"),
                        time_text(span.first),
                        time_text(span.last)
                    ));
                    covers.push(Cover {
                        from: span.first,
                        to: span.last,
                        what,
                    });
                }
            }
        }
    }

    let stretches = rows.stream.stretches(max_quiet);
    if let (Some(first), Some(last)) = (stretches.first(), stretches.last()) {
        report.lines.push(format!(
            "stream: {} from {} to {}",
            plural(rows.stream.rows, "row", "rows"),
            time_text(first.0),
            time_text(last.1)
        ));
        for pair in stretches.windows(2) {
            let (from, to) = (pair[0].1, pair[1].0);
            report.lines.push(format!(
                "stream silent from {} to {} ({})",
                time_text(from),
                time_text(to),
                duration_text(to - from)
            ));
        }
    } else {
        report.lines.push("stream: no rows".to_owned());
    }
    covers.extend(stretches.iter().map(|&(from, to)| Cover {
        from,
        to,
        what: "the stream".to_owned(),
    }));
    covers.sort_by_key(|c| (c.from, c.to));
    if rows.unreadable > 0 {
        report.lines.push(format!(
            "{} without a readable _event_id and _event_time (not counted)",
            plural(rows.unreadable, "row", "rows")
        ));
    }

    let anchors = || rows.full_exports.iter().map(|(id, s)| (s.last, id));
    match (anchors().min(), anchors().max()) {
        (Some((first, first_id)), Some((latest, latest_id))) => {
            let latest_what = format!("full export {latest_id}");
            report.anchor = Some(latest_what.clone());
            report.holes = walk(latest, &latest_what, &covers, max_quiet);
            report.history_holes = walk(
                first,
                &format!("full export {first_id}"),
                &covers,
                max_quiet,
            )
            .into_iter()
            .filter(|h| h.from < latest)
            .map(|mut h| {
                if h.to > latest {
                    h.to = latest;
                    h.before = latest_what.clone();
                }
                h
            })
            .collect();
        }
        _ => {
            if let Some(start) = covers.first() {
                report.lines.push(format!(
                    "no full export: the lake holds only items changed since {}",
                    time_text(start.from)
                ));
                report.holes = walk(start.from, &start.what, &covers, max_quiet);
            }
        }
    }
    report
}

/// `_event_id` and `_event_time` of one row, read without building the rest of it.
struct RowFields<'n> {
    id: &'n str,
    time: &'n str,
}

impl<'de> DeserializeSeed<'de> for RowFields<'_> {
    type Value = (Option<String>, Option<String>);

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowFields<'_> {
    type Value = (Option<String>, Option<String>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut id, mut time) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            if key == self.id {
                id = Some(map.next_value::<String>()?);
            } else if key == self.time {
                time = Some(map.next_value::<String>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok((id, time))
    }
}

/// Reads every table (or `only`) of the local lake at `root`: rows under
/// `<table_prefix>table=<name>/…/*.gz`, records under `<table_prefix>_exports/`.
pub fn read_lake(
    root: &Path,
    table_prefix: &str,
    metadata_prefix: &str,
    only: Option<&str>,
    max_quiet: Micros,
) -> Result<BTreeMap<String, TableRows>, String> {
    let base = root.join(table_prefix);
    let mut tables: BTreeMap<String, TableRows> = BTreeMap::new();
    let entries = std::fs::read_dir(&base)
        .map_err(|e| format!("cannot read the lake's rows in {}: {e}", base.display()))?;
    let mut folders = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", base.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(table) = name.strip_prefix("table=") {
            if only.is_none_or(|t| t == table) && entry.path().is_dir() {
                folders.push((table.to_owned(), entry.path()));
            }
        }
    }
    let id_name = format!("{metadata_prefix}event_id");
    let time_name = format!("{metadata_prefix}event_time");
    for (table, folder) in folders {
        let rows = tables.entry(table).or_default();
        for file in gz_files(&folder)? {
            read_rows(&file, &id_name, &time_name, rows, max_quiet)?;
        }
    }
    let records = base.join(EXPORTS_FOLDER);
    if records.is_dir() {
        let entries = std::fs::read_dir(&records)
            .map_err(|e| format!("cannot read {}: {e}", records.display()))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("cannot read {}: {e}", records.display()))?
                .path();
            let is_record = path.extension().is_some_and(|x| x == "json")
                && !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !is_record {
                continue;
            }
            let text =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let record: ExportRecord = serde_json::from_slice(&text)
                .map_err(|e| format!("{} is not an export record: {e}", path.display()))?;
            if only.is_none_or(|t| t == record.table_name) {
                tables
                    .entry(record.table_name.clone())
                    .or_default()
                    .incremental_records
                    .insert(record.export_id.clone(), record);
            }
        }
    }
    Ok(tables)
}

/// The `*.gz` objects below `dir` (not the hidden ones being written), sorted.
fn gz_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| format!("cannot read {}: {e}", d.display()))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("cannot read {}: {e}", d.display()))?
                .path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".gz") && !name.starts_with('.') {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read_rows(
    path: &Path,
    id_name: &str,
    time_name: &str,
    rows: &mut TableRows,
    max_quiet: Micros,
) -> Result<(), String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(256 << 10, MultiGzDecoder::new(file));
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut de = serde_json::Deserializer::from_slice(&line);
        let fields = RowFields {
            id: id_name,
            time: time_name,
        };
        match fields.deserialize(&mut de) {
            Ok((Some(id), Some(time))) => match parse_time(&time) {
                Some(t) => rows.add_row(&id, t, max_quiet),
                None => rows.unreadable += 1,
            },
            _ => rows.unreadable += 1,
        }
    }
}

/// An RFC 3339 time as epoch microseconds.
pub fn parse_time(text: &str) -> Option<Micros> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// `2025-11-20T08:00:00.000000Z`, as the rows write `_event_time`.
pub fn time_text(t: Micros) -> String {
    chrono::DateTime::from_timestamp_micros(t)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_else(|| format!("{t} µs"))
}

/// `1h 59m 59.1s`, `4m 56s`, `2d 3h`: the parts that are not zero.
pub fn duration_text(micros: Micros) -> String {
    let s = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let mut parts: Vec<String> = [(s / 86_400, "d"), (s / 3600 % 24, "h"), (s / 60 % 60, "m")]
        .iter()
        .filter(|(n, _)| *n != 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if frac != 0 {
        let digits = format!("{frac:06}");
        parts.push(format!("{}.{}s", s % 60, digits.trim_end_matches('0')));
    } else if s % 60 != 0 || parts.is_empty() {
        parts.push(format!("{}s", s % 60));
    }
    parts.join(" ")
}

/// `90s`, `15m`, `1h`, `2d` as microseconds; at least one second.
pub fn parse_duration(text: &str) -> Result<Micros, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_micros: i64 = match unit {
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return Err("expected a whole number and s, m, h or d (e.g. 30m)".to_owned()),
    };
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_micros))
        .filter(|&m| m >= 1_000_000)
        .ok_or_else(|| "expected at least 1s, in s, m, h or d (e.g. 30m)".to_owned())
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `ddb-lake coverage`.
#[derive(Debug, clap::Args)]
pub struct CoverageArgs {
    /// The lake folder, as given to `replay` and `backfill`.
    #[arg(long, value_name = "DIR")]
    pub lake: PathBuf,
    /// Only this table.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// The stacks' TablePrefix: rows are under <DIR>/<PREFIX>table=…/ ("" for none).
    #[arg(long, default_value = "lake/", value_name = "PREFIX")]
    pub table_prefix: String,
    /// The longest the table normally goes without a change: a longer stretch with no stream row
    /// and no incremental export is reported as a hole (s, m, h or d).
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = parse_duration)]
    pub max_quiet: Micros,
}

/// Prints each table's coverage; fails (after printing) when the current state of a table may
/// miss changes: a hole after its latest full export, or an incremental export not wholly loaded.
pub fn coverage_command(args: CoverageArgs) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let tables = read_lake(
        &args.lake,
        &args.table_prefix,
        &config.metadata_prefix,
        args.table.as_deref(),
        args.max_quiet,
    )?;
    if tables.is_empty() {
        return Err(match &args.table {
            Some(t) => format!("the lake {} holds no table {t}", args.lake.display()),
            None => format!("the lake {} holds no rows", args.lake.display()),
        });
    }
    let mut text = String::new();
    let mut failing = Vec::new();
    for (table, rows) in &tables {
        let report = judge(rows, args.max_quiet);
        text += &format!("table {table}\n");
        for line in &report.lines {
            text += &format!("  {line}\n");
        }
        for hole in &report.history_holes {
            text += &format!(
                "  history gap {} (before {}, which the current state starts from)\n",
                hole_text(hole),
                report.anchor.as_deref().unwrap_or("the latest full export")
            );
        }
        for hole in &report.holes {
            text += &format!("  HOLE {}\n", hole_text(hole));
        }
        for problem in &report.incomplete {
            text += &format!("  INCOMPLETE {problem}\n");
        }
        if report.is_complete() {
            text += "  no holes\n";
        } else {
            failing.push(format!(
                "{table} ({}, {})",
                plural(report.holes.len() as u64, "hole", "holes"),
                plural(
                    report.incomplete.len() as u64,
                    "incomplete export",
                    "incomplete exports"
                )
            ));
        }
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
    if failing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the lake may miss changes of {} (see above; max quiet {})",
            failing.join(", "),
            duration_text(args.max_quiet)
        ))
    }
}

fn hole_text(h: &Hole) -> String {
    format!(
        "from {} to {} ({}): nothing between {} and {}",
        time_text(h.from),
        time_text(h.to),
        duration_text(h.to - h.from),
        h.after,
        h.before
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Micros = 3_600_000_000;
    const M: Micros = 60_000_000;
    /// 2025-11-20T00:00:00Z
    const DAY: Micros = 1_763_596_800_000_000;

    fn record(id: &str, from: &str, to: &str, rows: u64) -> ExportRecord {
        ExportRecord {
            export_arn: format!("arn:aws:dynamodb:eu-central-1:1:table/orders/export/{id}"),
            export_id: id.to_owned(),
            table_name: "orders".to_owned(),
            export_type: "INCREMENTAL_EXPORT".to_owned(),
            export_from_time: from.to_owned(),
            export_to_time: to.to_owned(),
            output_view: "NEW_AND_OLD_IMAGES".to_owned(),
            item_count: rows,
            rows,
            failed_items: 0,
        }
    }

    /// Stream rows every `step` from `from` to `to` (inclusive).
    fn stream(rows: &mut TableRows, from: Micros, to: Micros, step: Micros) {
        let mut t = from;
        while t <= to {
            rows.add_row(&format!("stream-{t}"), t, H);
            t += step;
        }
    }

    #[test]
    fn sources_are_told_apart_by_event_id() {
        assert_eq!(
            export_of("export:0176-ab:file:3"),
            Some(("export", "0176-ab"))
        );
        assert_eq!(
            export_of("incremental-export:0176-cd:file:1"),
            Some(("incremental-export", "0176-cd"))
        );
        assert_eq!(export_of("3f6e9a1c-5b2d-4c7e-9f10-000000000002"), None);
        assert_eq!(export_of("exported-thing"), None);
    }

    #[test]
    fn stream_attached_before_the_export_leaves_no_hole() {
        let mut rows = TableRows::default();
        rows.add_row("export:e1:f:1", DAY + 8 * H, H);
        rows.add_row("export:e1:f:2", DAY + 8 * H, H);
        stream(&mut rows, DAY + 7 * H, DAY + 12 * H, 10 * M);
        let report = judge(&rows, H);
        assert!(report.is_complete(), "{report:?}");
        assert!(report.history_holes.is_empty());
        assert_eq!(
            report.lines[0],
            "full export e1: the table at 2025-11-20T08:00:00.000000Z, 2 rows"
        );
        assert_eq!(
            report.lines[1],
            "stream: 31 rows from 2025-11-20T07:00:00.000000Z to 2025-11-20T12:00:00.000000Z"
        );
    }

    #[test]
    fn a_stream_starting_long_after_the_export_leaves_a_hole_at_the_seam() {
        let mut rows = TableRows::default();
        rows.add_row("export:e1:f:1", DAY + 8 * H, H);
        stream(&mut rows, DAY + 10 * H, DAY + 12 * H, 10 * M);
        let report = judge(&rows, H);
        assert_eq!(
            report.holes,
            [Hole {
                from: DAY + 8 * H,
                to: DAY + 10 * H,
                after: "full export e1".into(),
                before: "the stream".into()
            }]
        );
        // Within max_quiet it is taken for a quiet table.
        assert!(judge(&rows, 2 * H).is_complete());
    }

    #[test]
    fn a_stream_outage_is_a_hole_until_an_incremental_export_covers_it() {
        let mut rows = TableRows::default();
        rows.add_row("export:e1:f:1", DAY + 8 * H, H);
        stream(&mut rows, DAY + 7 * H, DAY + 10 * H, 10 * M);
        stream(&mut rows, DAY + 14 * H, DAY + 16 * H, 10 * M);
        let report = judge(&rows, H);
        assert_eq!(report.holes.len(), 1);
        assert_eq!(
            (report.holes[0].from, report.holes[0].to),
            (DAY + 10 * H, DAY + 14 * H)
        );
        assert!(report.lines.contains(
            &"stream silent from 2025-11-20T10:00:00.000000Z to 2025-11-20T14:00:00.000000Z (4h)"
                .to_owned()
        ));

        // An incremental export over the gap, its rows all in the lake.
        let mut covered = rows.clone();
        covered.incremental_records.insert(
            "i1".into(),
            record("i1", "2025-11-20T10:00:00Z", "2025-11-20T14:30:00Z", 2),
        );
        covered.add_row("incremental-export:i1:f:1", DAY + 11 * H + 30 * M, H);
        covered.add_row("incremental-export:i1:f:2", DAY + 12 * H + 30 * M, H);
        let report = judge(&covered, H);
        assert!(report.is_complete(), "{report:?}");

        // A window that stops short leaves the rest a hole.
        let mut short = rows.clone();
        short.incremental_records.insert(
            "i1".into(),
            record("i1", "2025-11-20T10:00:00Z", "2025-11-20T12:00:00Z", 0),
        );
        let report = judge(&short, H);
        assert_eq!(
            report.holes,
            [Hole {
                from: DAY + 12 * H,
                to: DAY + 14 * H,
                after: "incremental export i1".into(),
                before: "the stream".into()
            }]
        );

        // An export whose rows are not all in the lake covers nothing.
        let mut partial = covered.clone();
        partial.incremental_records.get_mut("i1").unwrap().rows = 3;
        let report = judge(&partial, H);
        assert_eq!(report.holes.len(), 1);
        assert_eq!(report.incomplete.len(), 1, "{report:?}");

        // Rows without their record: only their own span is counted.
        let mut unrecorded = covered.clone();
        unrecorded.incremental_records.clear();
        let report = judge(&unrecorded, H);
        let spans: Vec<(Micros, Micros)> = report.holes.iter().map(|h| (h.from, h.to)).collect();
        assert_eq!(
            spans,
            [
                (DAY + 10 * H, DAY + 11 * H + 30 * M),
                (DAY + 12 * H + 30 * M, DAY + 14 * H)
            ],
            "{report:?}"
        );
    }

    #[test]
    fn a_later_full_export_re_anchors_the_current_state() {
        let mut rows = TableRows::default();
        rows.add_row("export:e1:f:1", DAY + 8 * H, H);
        stream(&mut rows, DAY + 7 * H, DAY + 10 * H, 10 * M);
        stream(&mut rows, DAY + 14 * H, DAY + 16 * H, 10 * M);
        rows.add_row("export:e2:f:1", DAY + 15 * H, H);
        let report = judge(&rows, H);
        assert!(report.holes.is_empty(), "{report:?}");
        assert_eq!(report.history_holes.len(), 1);
        assert_eq!(report.history_holes[0].to, DAY + 14 * H);
        // A gap that straddles the latest export is cut at it.
        let mut straddling = TableRows::default();
        straddling.add_row("export:e1:f:1", DAY + 8 * H, H);
        straddling.add_row("export:e2:f:1", DAY + 12 * H, H);
        stream(&mut straddling, DAY + 7 * H, DAY + 10 * H, 10 * M);
        stream(&mut straddling, DAY + 14 * H, DAY + 16 * H, 10 * M);
        let report = judge(&straddling, H);
        assert_eq!(
            report.history_holes,
            [Hole {
                from: DAY + 10 * H,
                to: DAY + 12 * H,
                after: "the stream".into(),
                before: "full export e2".into()
            }]
        );
        assert_eq!(
            report
                .holes
                .iter()
                .map(|h| (h.from, h.to))
                .collect::<Vec<_>>(),
            [(DAY + 12 * H, DAY + 14 * H)]
        );
    }

    #[test]
    fn without_a_full_export_history_starts_at_the_first_row() {
        let mut rows = TableRows::default();
        stream(&mut rows, DAY + 7 * H, DAY + 8 * H, 10 * M);
        let report = judge(&rows, H);
        assert!(report.is_complete());
        assert!(report.lines.contains(
            &"no full export: the lake holds only items changed since 2025-11-20T07:00:00.000000Z"
                .to_owned()
        ));
    }

    #[test]
    fn gaps_are_found_exactly_whatever_the_buckets() {
        // Rows 59 minutes apart never form a gap; 61 minutes apart always do, wherever the
        // bucket boundaries fall.
        for offset in [0, 1, 30 * M, 59 * M + 59_999_999] {
            let mut close = StreamRows::default();
            let mut far = StreamRows::default();
            for i in 0..10 {
                close.add(DAY + offset + i * 59 * M, H);
                far.add(DAY + offset + i * 61 * M, H);
            }
            assert_eq!(close.stretches(H).len(), 1, "{offset}");
            assert_eq!(far.stretches(H).len(), 10, "{offset}");
        }
        let mut exact = StreamRows::default();
        exact.add(DAY, H);
        exact.add(DAY + H, H);
        exact.add(DAY + 2 * H + 1, H);
        assert_eq!(
            exact.stretches(H),
            [(DAY, DAY + H), (DAY + 2 * H + 1, DAY + 2 * H + 1)]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90_000_000));
        assert_eq!(parse_duration("15m"), Ok(15 * M));
        assert_eq!(parse_duration("1h"), Ok(H));
        assert_eq!(parse_duration("2d"), Ok(48 * H));
        for bad in ["0s", "1", "h", "1.5h", "-1h", "1w", "99999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(duration_text(H + 59 * M + 59_100_000), "1h 59m 59.1s");
        assert_eq!(duration_text(4 * M + 56_000_000), "4m 56s");
        assert_eq!(duration_text(51 * H), "2d 3h");
        assert_eq!(duration_text(H), "1h");
        assert_eq!(duration_text(250), "0.00025s");
        assert_eq!(duration_text(0), "0s");
    }
}
