//! The local lake: a folder laid out exactly like the S3 bucket the stacks' Firehose delivery
//! stream writes, so the same Glue/Athena SQL (or DuckDB) reads it.
//!
//! ```text
//! <root>/<table prefix>table=orders/year=2025/month=11/day=20/hour=09/<object>.gz
//! <root>/<error prefix>processing-failed/year=2025/month=11/day=20/hour=09/<object>.gz
//! ```
//!
//! * Rows land under the stacks' `Prefix`: `<TablePrefix>table=!{partitionKeyFromLambda:table}/
//!   year=…/month=…/day=…/hour=…/`; failed records under its `ErrorOutputPrefix`:
//!   `<ErrorPrefix>!{firehose:error-output-type}/year=!{timestamp:yyyy}/…/hour=!{timestamp:HH}/`,
//!   where the timestamp is the arrival time of the oldest record in the object.
//! * Objects are named like Firehose's: `<DeliveryStreamName>-<DeliveryStreamVersion>-
//!   YYYY-MM-dd-HH-mm-ss-<uuid>.gz` (GZIP compression adds `.gz`), newline-delimited JSON.
//! * Like Firehose's buffer, an object is closed when it holds `object_bytes` of rows or when a
//!   record arrives `buffer_interval_ms` after its first one.
//! * The uuid is name-based (version 3, MD5) on the object's rows and its position among the
//!   partition's objects, so running the same input again rewrites the same objects instead of
//!   adding copies. Objects are written under a hidden temporary name and renamed when complete:
//!   a reader never sees half an object.
//! * [`LakeWriter::to_store`] writes the same objects into any [`Store`]: on S3 each object is
//!   built in memory (gzip'd) and put whole when closed, under the same key and name, with the
//!   same bytes as in a local folder.

use crate::catalog::key_schema::{key_schema_object_key, KeySchema};
use crate::lake::store::Store;
use crate::record::json_out::write_json_str;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// Numbers the temporary files of every writer of this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The layout and buffering of the lake. Defaults are the stacks' defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeSettings {
    /// The stacks' `TablePrefix`: rows go under `<table_prefix>table=…/`. May be empty.
    pub table_prefix: String,
    /// The stacks' `ErrorPrefix`: failed records go under `<error_prefix><error-output-type>/…`.
    pub error_prefix: String,
    /// The first part of every object name, as Firehose names objects after its stream.
    pub delivery_stream: String,
    /// Firehose counts configuration changes of the stream; a local lake is version 1.
    pub stream_version: u32,
    /// Uncompressed bytes an object holds at most (the stacks' `BufferSizeMB`, 64 MiB).
    pub object_bytes: u64,
    /// An object is closed when a record arrives this long after its first one (the stacks'
    /// `BufferIntervalSeconds`, 120 s).
    pub buffer_interval_ms: u64,
    /// Objects kept open at once (each holds a gzip stream); past this the least recently used
    /// is closed, which keeps memory bounded however many partitions the input touches.
    pub max_open_objects: usize,
}

impl Default for LakeSettings {
    fn default() -> Self {
        LakeSettings {
            table_prefix: "lake/".to_owned(),
            error_prefix: "errors/".to_owned(),
            delivery_stream: "ddb-lake-local".to_owned(),
            stream_version: 1,
            object_bytes: 64 << 20,
            buffer_interval_ms: 120_000,
            max_open_objects: 32,
        }
    }
}

#[derive(Debug, Error)]
pub enum LakeError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {value:?} cannot be part of an object key (empty, '.', '..', a '/' or a control character)")]
    BadKeyPart { what: &'static str, value: String },
}

/// A record Firehose could not deliver, written to the error layout in the JSON format Firehose
/// uses for records that failed processing.
#[derive(Debug, Clone, Copy)]
pub struct FailedRecord<'a> {
    /// The `!{firehose:error-output-type}` folder, e.g. `processing-failed`.
    pub output_type: &'a str,
    /// When the record reached Firehose, epoch milliseconds.
    pub arrival_ms: u64,
    /// The record's data, base64, exactly as it came.
    pub raw_data: &'a str,
    pub error_code: &'a str,
    pub error_message: &'a str,
    pub lambda_arn: Option<&'a str>,
}

/// What a lake writer wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LakeSummary {
    pub rows: u64,
    pub failed_records: u64,
    /// Objects written under each prefix (data partitions and error folders).
    pub objects: BTreeMap<String, u64>,
}

impl LakeSummary {
    /// The data partitions (`<table_prefix>table=…/…/hour=…/`) that received rows.
    pub fn partitions<'a>(&'a self, settings: &'a LakeSettings) -> impl Iterator<Item = &'a str> {
        self.objects
            .keys()
            .map(String::as_str)
            .filter(move |p| is_data_prefix(p, settings))
    }

    pub fn data_objects(&self, settings: &LakeSettings) -> u64 {
        self.count_objects(|p| is_data_prefix(p, settings))
    }

    pub fn error_objects(&self, settings: &LakeSettings) -> u64 {
        self.count_objects(|p| !is_data_prefix(p, settings))
    }

    fn count_objects(&self, keep: impl Fn(&str) -> bool) -> u64 {
        self.objects
            .iter()
            .filter(|(p, _)| keep(p))
            .map(|(_, n)| n)
            .sum()
    }
}

fn is_data_prefix(prefix: &str, settings: &LakeSettings) -> bool {
    prefix
        .strip_prefix(settings.table_prefix.as_str())
        .is_some_and(|rest| rest.starts_with("table="))
}

/// One object being filled.
struct OpenObject {
    sink: Sink,
    /// Of the uncompressed rows: names the object.
    digest: md5::Context,
    bytes: u64,
    first_arrival_ms: u64,
    last_used: u64,
}

/// Where an open object's gzip stream goes.
enum Sink {
    /// A hidden temporary file in the local lake, renamed when complete.
    File {
        temp_path: PathBuf,
        gzip: GzEncoder<BufWriter<File>>,
    },
    /// Memory, put whole into `store` when complete.
    Memory {
        gzip: GzEncoder<Vec<u8>>,
        store: Store,
    },
}

/// Writes rows and failed records into the lake folder at `root`.
pub struct LakeWriter {
    root: PathBuf,
    /// Set when the lake is not a local folder.
    store: Option<Store>,
    settings: LakeSettings,
    open: HashMap<String, OpenObject>,
    /// Counts writes, to find the least recently used object.
    tick: u64,
    summary: LakeSummary,
    line: Vec<u8>,
}

impl LakeWriter {
    pub fn new(root: impl Into<PathBuf>, settings: LakeSettings) -> Result<LakeWriter, LakeError> {
        check_prefix("table prefix", &settings.table_prefix)?;
        check_prefix("error prefix", &settings.error_prefix)?;
        check_part("delivery stream name", &settings.delivery_stream)?;
        Ok(LakeWriter {
            root: root.into(),
            store: None,
            settings,
            open: HashMap::new(),
            tick: 0,
            summary: LakeSummary::default(),
            line: Vec::with_capacity(1024),
        })
    }

    /// Writes into `store`: a local folder as [`LakeWriter::new`] does, any other store (S3)
    /// with each object built in memory and put whole when closed.
    pub fn to_store(store: Store, settings: LakeSettings) -> Result<LakeWriter, LakeError> {
        if let Some(dir) = store.local_dir() {
            return LakeWriter::new(dir.to_owned(), settings);
        }
        let mut writer = LakeWriter::new(PathBuf::new(), settings)?;
        writer.store = Some(store);
        Ok(writer)
    }

    /// Appends one row (a JSON object and its `\n`) to the partition `partition`
    /// (`table=…/year=…/month=…/day=…/hour=…/`, as [`partition_prefix`] makes it).
    pub fn write_row(
        &mut self,
        partition: &str,
        arrival_ms: u64,
        row: &[u8],
    ) -> Result<(), LakeError> {
        let mut key = String::with_capacity(self.settings.table_prefix.len() + partition.len());
        key.push_str(&self.settings.table_prefix);
        key.push_str(partition);
        self.append(&key, arrival_ms, row)?;
        self.summary.rows += 1;
        Ok(())
    }

    /// Appends one failed record to the error layout, in Firehose's error record format.
    pub fn write_failed(&mut self, record: &FailedRecord) -> Result<(), LakeError> {
        check_part("error output type", record.output_type)?;
        let key = format!(
            "{}{}/{}",
            self.settings.error_prefix,
            record.output_type,
            utc(record.arrival_ms).format("year=%Y/month=%m/day=%d/hour=%H/")
        );
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        write_error_record(&mut line, record);
        let written = self.append(&key, record.arrival_ms, &line);
        self.line = line;
        written?;
        self.summary.failed_records += 1;
        Ok(())
    }

    /// Writes `schema` as the lake's key schema object of its table
    /// (`<table_prefix>_key_schemas/<table>.json`, [`crate::catalog::key_schema`]) unless the
    /// lake has one already: one written from `DescribeTable` (by the table attachment, or by
    /// hand) knows which key attribute is the partition key, which change records do not say.
    /// `true` when it was written.
    pub fn write_key_schema_if_absent(&mut self, schema: &KeySchema) -> Result<bool, LakeError> {
        let key = key_schema_object_key(&self.settings.table_prefix, &schema.table_name);
        check_part("table name", &schema.table_name)?;
        let mut bytes = serde_json::to_vec_pretty(schema).unwrap_or_default();
        bytes.push(b'\n');
        match &self.store {
            Some(store) => match store.get(&key) {
                Ok(_) => Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => store
                    .put(&key, bytes)
                    .map(|()| true)
                    .map_err(|e| io(&store.display(&key), e)),
                Err(e) => Err(io(&store.display(&key), e)),
            },
            None => {
                let path = self.root.join(&key);
                if path.try_exists().map_err(|e| io(&path, e))? {
                    return Ok(false);
                }
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
                }
                std::fs::write(&path, bytes)
                    .map(|()| true)
                    .map_err(|e| io(&path, e))
            }
        }
    }

    /// Closes every open object and tells what was written.
    pub fn finish(mut self) -> Result<LakeSummary, LakeError> {
        let mut keys: Vec<String> = self.open.keys().cloned().collect();
        keys.sort();
        for key in keys {
            if let Some(object) = self.open.remove(&key) {
                self.close(&key, object)?;
            }
        }
        Ok(self.summary)
    }

    fn append(&mut self, key: &str, arrival_ms: u64, line: &[u8]) -> Result<(), LakeError> {
        self.tick += 1;
        let full = self.open.get(key).is_some_and(|o| {
            o.bytes > 0
                && (o.bytes + line.len() as u64 > self.settings.object_bytes
                    || arrival_ms >= o.first_arrival_ms + self.settings.buffer_interval_ms)
        });
        if full {
            if let Some(object) = self.open.remove(key) {
                self.close(key, object)?;
            }
        }
        if !self.open.contains_key(key) {
            if self.open.len() >= self.settings.max_open_objects.max(1) {
                self.close_least_recently_used()?;
            }
            let object = self.create(key, arrival_ms)?;
            self.open.insert(key.to_owned(), object);
        }
        let tick = self.tick;
        let Some(object) = self.open.get_mut(key) else {
            return Ok(());
        };
        object.last_used = tick;
        object.bytes += line.len() as u64;
        object.digest.consume(line);
        match &mut object.sink {
            Sink::File { temp_path, gzip } => gzip.write_all(line).map_err(|e| io(temp_path, e)),
            Sink::Memory { gzip, store } => {
                gzip.write_all(line).map_err(|e| io(&store.display(key), e))
            }
        }
    }

    fn close_least_recently_used(&mut self) -> Result<(), LakeError> {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, o)| o.last_used)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest {
            if let Some(object) = self.open.remove(&key) {
                self.close(&key, object)?;
            }
        }
        Ok(())
    }

    fn create(&mut self, key: &str, arrival_ms: u64) -> Result<OpenObject, LakeError> {
        if let Some(store) = &self.store {
            return Ok(OpenObject {
                // The same compression as in a local lake: the same bytes on both sides.
                sink: Sink::Memory {
                    gzip: GzEncoder::new(Vec::new(), Compression::fast()),
                    store: store.clone(),
                },
                digest: md5::Context::new(),
                bytes: 0,
                first_arrival_ms: arrival_ms,
                last_used: self.tick,
            });
        }
        let dir = self.root.join(key);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        // Hidden and without `.gz`, so no `**/*.gz` reader picks up an unfinished object.
        let temp_path = dir.join(format!(
            ".{}-{}-{}.tmp",
            self.settings.delivery_stream,
            std::process::id(),
            // Unique in the process: writers of different data files fill the same partitions.
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create(&temp_path).map_err(|e| io(&temp_path, e))?;
        Ok(OpenObject {
            sink: Sink::File {
                temp_path,
                // Fast compression: a local lake is read far more often than it is short of disk.
                gzip: GzEncoder::new(
                    BufWriter::with_capacity(64 << 10, file),
                    Compression::fast(),
                ),
            },
            digest: md5::Context::new(),
            bytes: 0,
            first_arrival_ms: arrival_ms,
            last_used: self.tick,
        })
    }

    fn close(&mut self, key: &str, object: OpenObject) -> Result<(), LakeError> {
        let OpenObject {
            sink,
            mut digest,
            first_arrival_ms,
            ..
        } = object;
        let count = self.summary.objects.entry(key.to_owned()).or_insert(0);
        *count += 1;
        // The object's position in its partition: two objects with the same rows still get
        // different names.
        digest.consume(count.to_le_bytes());
        let name = object_name(
            &self.settings.delivery_stream,
            self.settings.stream_version,
            first_arrival_ms,
            digest.finalize().0,
        );
        match sink {
            Sink::File { temp_path, gzip } => {
                let mut file = gzip.finish().map_err(|e| io(&temp_path, e))?;
                file.flush().map_err(|e| io(&temp_path, e))?;
                drop(file);
                let path = self.root.join(key).join(name);
                std::fs::rename(&temp_path, &path).map_err(|e| io(&path, e))
            }
            Sink::Memory { gzip, store } => {
                let object_key = format!("{key}{name}");
                let bytes = gzip
                    .finish()
                    .map_err(|e| io(&store.display(&object_key), e))?;
                store
                    .put(&object_key, bytes)
                    .map_err(|e| io(&store.display(&object_key), e))
            }
        }
    }
}

/// `<stream>-<version>-YYYY-MM-dd-HH-mm-ss-<uuid>.gz`, the time in UTC.
pub fn object_name(stream: &str, version: u32, arrival_ms: u64, digest: [u8; 16]) -> String {
    let t = utc(arrival_ms);
    format!(
        "{stream}-{version}-{}-{}.gz",
        t.format("%Y-%m-%d-%H-%M-%S"),
        uuid_v3(digest)
    )
}

/// An arrival time in UTC. One past chrono's range (it cannot come from Firehose) is filed at
/// the epoch rather than failing the record.
fn utc(ms: u64) -> chrono::DateTime<chrono::Utc> {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_default()
}

/// Formats an MD5 digest as a name-based UUID (RFC 9562 version 3).
fn uuid_v3(digest: [u8; 16]) -> String {
    uuid::Builder::from_md5_bytes(digest)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// The partition folder of a row from the partition keys the Lambda returned, in the stacks'
/// order: `table=orders/year=2025/month=11/day=20/hour=09/`. Each value is checked, as it
/// becomes part of a path.
pub fn partition_prefix(
    table: &str,
    year: &str,
    month: &str,
    day: &str,
    hour: &str,
) -> Result<String, LakeError> {
    for value in [table, year, month, day, hour] {
        check_part("partition key value", value)?;
    }
    Ok(crate::record::partition::partition_path([
        table, year, month, day, hour,
    ]))
}

/// The JSON line Firehose writes for a record that failed processing (documented fields, in the
/// documented order). `attemptEndingTimestamp` is the arrival time: a local run makes no timed
/// attempts, and a fixed value keeps the lake reproducible.
fn write_error_record(out: &mut Vec<u8>, r: &FailedRecord) {
    use std::io::Write as _;
    // `write!` into a Vec cannot fail.
    let _ = write!(
        out,
        "{{\"attemptsMade\":1,\"arrivalTimestamp\":{},\"errorCode\":",
        r.arrival_ms
    );
    write_json_str(out, r.error_code);
    out.extend_from_slice(b",\"errorMessage\":");
    write_json_str(out, r.error_message);
    let _ = write!(out, ",\"attemptEndingTimestamp\":{}", r.arrival_ms);
    out.extend_from_slice(b",\"rawData\":");
    write_json_str(out, r.raw_data);
    if let Some(arn) = r.lambda_arn {
        out.extend_from_slice(b",\"lambdaArn\":");
        write_json_str(out, arn);
    }
    out.extend_from_slice(b"}\n");
}

/// A prefix is empty or `a/b/` made of safe parts.
fn check_prefix(what: &'static str, prefix: &str) -> Result<(), LakeError> {
    if prefix.is_empty() {
        return Ok(());
    }
    let bad = || LakeError::BadKeyPart {
        what,
        value: prefix.to_owned(),
    };
    let inner = prefix.strip_suffix('/').ok_or_else(bad)?;
    inner
        .split('/')
        .try_for_each(|part| check_part(what, part))
        .map_err(|_| bad())
}

fn check_part(what: &'static str, value: &str) -> Result<(), LakeError> {
    let bad = value.is_empty()
        || value == "."
        || value == ".."
        || value.contains('/')
        || value.contains('\\')
        || value.chars().any(char::is_control);
    if bad {
        Err(LakeError::BadKeyPart {
            what,
            value: value.to_owned(),
        })
    } else {
        Ok(())
    }
}

fn io(path: &Path, source: std::io::Error) -> LakeError {
    LakeError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;
    use std::io::Read;

    fn files(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(root).unwrap();
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    fn gunzip(path: &Path) -> String {
        let mut text = String::new();
        MultiGzDecoder::new(File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    const HOUR: &str = "table=orders/year=2025/month=11/day=20/hour=09/";

    #[test]
    fn rows_land_in_firehose_named_gzip_objects() {
        let dir = tempfile::tempdir().unwrap();
        let mut lake = LakeWriter::new(dir.path(), LakeSettings::default()).unwrap();
        lake.write_row(HOUR, 1_763_632_799_350, b"{\"a\":1}\n")
            .unwrap();
        lake.write_row(HOUR, 1_763_632_799_400, b"{\"a\":2}\n")
            .unwrap();
        let summary = lake.finish().unwrap();
        let names = files(dir.path());
        assert_eq!(names.len(), 1, "{names:?}");
        let name = &names[0];
        let prefix = format!("lake/{HOUR}ddb-lake-local-1-2025-11-20-09-59-59-");
        assert!(name.starts_with(&prefix), "{name}");
        let uuid = name[prefix.len()..].strip_suffix(".gz").unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "3", "a version-3 UUID: {uuid}");
        assert_eq!(gunzip(&dir.path().join(name)), "{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(summary.rows, 2);
        let settings = LakeSettings::default();
        assert_eq!(summary.data_objects(&settings), 1);
        assert_eq!(
            summary.partitions(&settings).collect::<Vec<_>>(),
            [format!("lake/{HOUR}")]
        );
    }

    #[test]
    fn the_same_rows_give_the_same_object_names() {
        let write = || {
            let dir = tempfile::tempdir().unwrap();
            let mut lake = LakeWriter::new(dir.path(), LakeSettings::default()).unwrap();
            lake.write_row(HOUR, 1_000, b"{\"a\":1}\n").unwrap();
            lake.finish().unwrap();
            (files(dir.path()), dir)
        };
        assert_eq!(write().0, write().0);
    }

    #[test]
    fn objects_close_by_size_and_by_buffer_interval() {
        let dir = tempfile::tempdir().unwrap();
        let settings = LakeSettings {
            object_bytes: 16,
            buffer_interval_ms: 1_000,
            ..LakeSettings::default()
        };
        let mut lake = LakeWriter::new(dir.path(), settings.clone()).unwrap();
        let row = b"{\"n\":123456}\n"; // 13 bytes: two do not fit in 16
        lake.write_row(HOUR, 0, row).unwrap();
        lake.write_row(HOUR, 10, row).unwrap(); // full: a second object
        lake.write_row(HOUR, 2_000, row).unwrap(); // past the interval: a third
        let summary = lake.finish().unwrap();
        assert_eq!(summary.data_objects(&settings), 3);
        // The same rows in one partition still make distinct objects.
        assert_eq!(files(dir.path()).len(), 3);
    }

    #[test]
    fn open_objects_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let settings = LakeSettings {
            max_open_objects: 2,
            ..LakeSettings::default()
        };
        let mut lake = LakeWriter::new(dir.path(), settings.clone()).unwrap();
        for hour in ["00", "01", "02", "00"] {
            let p = partition_prefix("orders", "2025", "11", "20", hour).unwrap();
            lake.write_row(&p, 0, b"{}\n").unwrap();
            assert!(lake.open.len() <= 2);
        }
        let summary = lake.finish().unwrap();
        // Hour 00 was closed to make room, then opened again.
        assert_eq!(summary.data_objects(&settings), 4);
        assert_eq!(summary.partitions(&settings).count(), 3);
    }

    #[test]
    fn failed_records_use_the_error_layout_and_format() {
        let dir = tempfile::tempdir().unwrap();
        let settings = LakeSettings::default();
        let mut lake = LakeWriter::new(dir.path(), settings.clone()).unwrap();
        lake.write_failed(&FailedRecord {
            output_type: "processing-failed",
            arrival_ms: 1_763_632_799_350,
            raw_data: "bm90IGpzb24=",
            error_code: "Lambda.ProcessingFailedStatus",
            error_message: "ProcessingFailed status set for record",
            lambda_arn: Some("arn:aws:lambda:eu-central-1:111122223333:function:f"),
        })
        .unwrap();
        let summary = lake.finish().unwrap();
        assert_eq!(summary.failed_records, 1);
        assert_eq!(summary.error_objects(&settings), 1);
        assert_eq!(summary.data_objects(&settings), 0);
        let names = files(dir.path());
        assert!(names[0].starts_with(
            "errors/processing-failed/year=2025/month=11/day=20/hour=09/ddb-lake-local-1-"
        ));
        let line: serde_json::Value =
            serde_json::from_str(&gunzip(&dir.path().join(&names[0]))).unwrap();
        assert_eq!(
            line,
            serde_json::json!({"attemptsMade":1,"arrivalTimestamp":1_763_632_799_350u64,
                "errorCode":"Lambda.ProcessingFailedStatus",
                "errorMessage":"ProcessingFailed status set for record",
                "attemptEndingTimestamp":1_763_632_799_350u64,"rawData":"bm90IGpzb24=",
                "lambdaArn":"arn:aws:lambda:eu-central-1:111122223333:function:f"})
        );
    }

    #[test]
    fn unsafe_key_parts_are_refused() {
        assert!(partition_prefix("..", "2025", "11", "20", "09").is_err());
        assert!(partition_prefix("a/b", "2025", "11", "20", "09").is_err());
        assert!(partition_prefix("orders", "", "11", "20", "09").is_err());
        for prefix in ["lake", "/lake/", "a//", "../x/"] {
            let settings = LakeSettings {
                table_prefix: prefix.to_owned(),
                ..LakeSettings::default()
            };
            assert!(LakeWriter::new("x", settings).is_err(), "{prefix}");
        }
        let settings = LakeSettings {
            table_prefix: String::new(),
            ..LakeSettings::default()
        };
        assert!(LakeWriter::new("x", settings).is_ok());
    }
}
