//! A DynamoDB export to S3 in `DYNAMODB_JSON` format, read where DynamoDB wrote it or from a
//! local copy of its folder (`<export-prefix>/AWSDynamoDB/<ExportId>/`), through a [`Store`]:
//!
//! ```text
//! manifest-summary.json   one JSON object: exportArn, exportTime, tableArn, itemCount, outputFormat…
//! manifest-files.json     JSON lines: {"itemCount":…,"md5Checksum":…,"etag":…,"dataFileS3Key":…}
//! data/<name>.json.gz     gzip'd JSON lines: {"Item":{<attribute>:{<type>:<value>}…}}
//! ```
//!
//! A full export (`exportType` `FULL_EXPORT`, or none) shows the table at `exportTime`. An
//! incremental export (`INCREMENTAL_EXPORT`) holds the items changed in
//! [`exportFromTime`, `exportToTime`), one line per item in the `outputView` it was made with
//! (see [`crate::lake::export_record`]). Its data files may sit in the export prefix's shared
//! `AWSDynamoDB/data/` folder rather than under the export's own folder: the manifest's
//! `dataFileS3Key` says which, and the local copy is looked for at the same place relative to the
//! export folder ("DynamoDB table export output format", Amazon DynamoDB Developer Guide).
//!
//! The manifests are read and checked up front; the items are then streamed one line at a time
//! ([`Export::items`]), so an export of any size is read in constant memory. Each data file's MD5
//! is checked before its items are read, and its item count after.

use crate::lake::store::Store;
use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const SUMMARY_FILE: &str = "manifest-summary.json";
pub const FILES_FILE: &str = "manifest-files.json";

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a DynamoDB export manifest: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("the export is in {0} format; only DYNAMODB_JSON exports can be loaded (export the table again with ExportFormat DYNAMODB_JSON)")]
    UnsupportedFormat(String),
    #[error("the export is an {0}; only FULL_EXPORT and INCREMENTAL_EXPORT exports can be loaded")]
    UnsupportedType(String),
    #[error("{what} should hold {expected} items by its manifest, but holds {found}: the export is incomplete or not this export's")]
    ItemCount {
        what: String,
        expected: u64,
        found: u64,
    },
    #[error("{path} does not match its md5Checksum in {FILES_FILE}: the file is damaged or incomplete (re-download it)")]
    Checksum { path: PathBuf },
}

/// `manifest-summary.json`, the fields read from it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SummaryJson {
    export_arn: String,
    /// Full exports only.
    #[serde(default)]
    export_time: Option<String>,
    table_arn: String,
    item_count: u64,
    #[serde(default)]
    output_format: Option<String>,
    #[serde(default)]
    export_type: Option<String>,
    /// Incremental exports only.
    #[serde(default)]
    export_from_time: Option<String>,
    #[serde(default)]
    export_to_time: Option<String>,
    #[serde(default)]
    output_view: Option<String>,
}

/// One line of `manifest-files.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DataFileJson {
    item_count: u64,
    #[serde(default)]
    md5_checksum: Option<String>,
    data_file_s3_key: String,
}

/// One data file of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// `dataFileS3Key` as the manifest gives it.
    pub key: String,
    /// Where it is read: `data/<name>` in the export's folder.
    pub path: PathBuf,
    /// `data/<name>`: its key in the export's [`Store`].
    pub store_key: String,
    /// The file name without `.json.gz`, stable for the export.
    pub stem: String,
    pub item_count: u64,
    /// Base64 MD5 of the file's bytes.
    pub md5_checksum: Option<String>,
}

/// Which kind of export, from `exportType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportType {
    /// `FULL_EXPORT`: the table at `exportTime`; each line `{"Item":{…}}`.
    Full,
    /// `INCREMENTAL_EXPORT`: the items changed in a time window, each line one item's change.
    Incremental(IncrementalWindow),
}

/// What an incremental export covers, from its `manifest-summary.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalWindow {
    /// `exportFromTime`, inclusive: epoch milliseconds, and as written in the manifest.
    pub from_ms: u64,
    pub from: String,
    /// `exportToTime`, exclusive.
    pub to_ms: u64,
    pub to: String,
    pub view: OutputView,
}

/// `outputView` of an incremental export (the request's `ExportViewType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputView {
    /// `NEW_AND_OLD_IMAGES`, the default: an update carries `OldImage` and `NewImage`.
    NewAndOldImages,
    /// `NEW_IMAGE`: no `OldImage`, so an insert and an update look the same.
    NewImage,
}

impl OutputView {
    /// The manifest's name. The API reference spells the second `NEW_IMAGES` in its prose and
    /// `NEW_IMAGE` in its valid values; both are read.
    pub fn from_name(name: &str) -> Option<OutputView> {
        match name {
            "NEW_AND_OLD_IMAGES" => Some(OutputView::NewAndOldImages),
            "NEW_IMAGE" | "NEW_IMAGES" => Some(OutputView::NewImage),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OutputView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
            OutputView::NewImage => "NEW_IMAGE",
        }
    }
}

/// A checked export: what it is, and where its items are.
#[derive(Debug, Clone)]
pub struct Export {
    pub export_arn: String,
    /// The last part of the export ARN (`01234567890123-a1b2c3d4`).
    pub export_id: String,
    pub table_arn: String,
    pub table_name: String,
    pub region: String,
    /// The point in time the export shows, epoch milliseconds, and as written in the manifest:
    /// `exportTime` for a full export, `exportToTime` (the end of its window) for an incremental
    /// one.
    pub export_time_ms: u64,
    pub export_time: String,
    pub export_type: ExportType,
    pub item_count: u64,
    pub files: Vec<DataFile>,
    /// The export's folder, where the data files are read.
    pub store: Store,
}

impl Export {
    /// Reads and checks the manifests in `dir`. The data files are in `dir/data/`, as the
    /// export wrote them (an incremental export's may be in the shared `dir/../data/`, as its
    /// manifest says).
    pub fn open(dir: &Path) -> Result<Export, ExportError> {
        Export::open_in(Store::local(dir))
    }

    /// [`Export::open`] for an export folder in any store (an S3 bucket and prefix).
    pub fn open_in(store: Store) -> Result<Export, ExportError> {
        let summary_path = store.display(SUMMARY_FILE);
        let bytes = store
            .read_all(SUMMARY_FILE)
            .map_err(|e| io(&summary_path, e))?;
        let summary: SummaryJson =
            serde_json::from_slice(&bytes).map_err(|e| manifest(&summary_path, e.to_string()))?;
        match summary.output_format.as_deref() {
            None | Some("DYNAMODB_JSON") => {}
            Some(other) => return Err(ExportError::UnsupportedFormat(other.to_owned())),
        }
        let export_type = match summary.export_type.as_deref() {
            None | Some("FULL_EXPORT") => ExportType::Full,
            Some("INCREMENTAL_EXPORT") => ExportType::Incremental(window(&summary, &summary_path)?),
            Some(other) => return Err(ExportError::UnsupportedType(other.to_owned())),
        };
        let export_id = summary
            .export_arn
            .rsplit_once("/export/")
            .map(|(_, id)| id.to_owned())
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .ok_or_else(|| manifest(&summary_path, "exportArn has no /export/<id>".into()))?;
        let (region, table_name) = crate::arn::dynamodb_table(&summary.table_arn)
            .map(|(r, t)| (r.to_owned(), t.to_owned()))
            .ok_or_else(|| {
                manifest(
                    &summary_path,
                    "tableArn is not arn:aws:dynamodb:<region>:<account>:table/<name>".into(),
                )
            })?;
        let (export_time_ms, export_time) = match &export_type {
            ExportType::Full => {
                let text = summary.export_time.clone().unwrap_or_default();
                let ms = epoch_ms(&text).ok_or_else(|| {
                    manifest(
                        &summary_path,
                        "exportTime is missing or not an RFC 3339 time".into(),
                    )
                })?;
                (ms, text)
            }
            ExportType::Incremental(w) => (w.to_ms, w.to.clone()),
        };

        let files_path = store.display(FILES_FILE);
        let text = store
            .read_all(FILES_FILE)
            .and_then(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })
            .map_err(|e| io(&files_path, e))?;
        let mut files = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let entry: DataFileJson = serde_json::from_str(line)
                .map_err(|e| manifest(&files_path, format!("line {}: {e}", i + 1)))?;
            let name = data_file_name(&entry.data_file_s3_key).ok_or_else(|| {
                manifest(
                    &files_path,
                    format!(
                        "line {}: dataFileS3Key does not end in data/<name>.json.gz",
                        i + 1
                    ),
                )
            })?;
            let store_key = match export_type {
                ExportType::Full => format!("data/{name}"),
                ExportType::Incremental(_) => {
                    incremental_data_key(&export_id, &entry.data_file_s3_key, name)
                }
            };
            files.push(DataFile {
                path: store.display(&store_key),
                store_key,
                stem: name.trim_end_matches(".json.gz").to_owned(),
                key: entry.data_file_s3_key,
                item_count: entry.item_count,
                md5_checksum: entry.md5_checksum,
            });
        }
        let listed: u64 = files.iter().map(|f| f.item_count).sum();
        if listed != summary.item_count {
            return Err(ExportError::ItemCount {
                what: format!("{FILES_FILE} (by {SUMMARY_FILE})"),
                expected: summary.item_count,
                found: listed,
            });
        }
        Ok(Export {
            export_arn: summary.export_arn,
            export_id,
            table_arn: summary.table_arn,
            table_name,
            region,
            export_time_ms,
            export_time,
            export_type,
            item_count: summary.item_count,
            files,
            store,
        })
    }

    /// This export reduced to its data file `index`: the same table, time and ids, that file's
    /// items only. Each data file can so be loaded on its own (in parallel, or by one Lambda
    /// invocation each) with the same rows as when the whole export is loaded.
    pub fn for_file(&self, index: usize) -> Option<Export> {
        let file = self.files.get(index)?.clone();
        Some(Export {
            export_arn: self.export_arn.clone(),
            export_id: self.export_id.clone(),
            table_arn: self.table_arn.clone(),
            table_name: self.table_name.clone(),
            region: self.region.clone(),
            export_time_ms: self.export_time_ms,
            export_time: self.export_time.clone(),
            export_type: self.export_type.clone(),
            item_count: file.item_count,
            files: vec![file],
            store: self.store.clone(),
        })
    }

    /// The export's items, one line of a data file at a time, file after file. With
    /// `verify_checksums`, each file's MD5 is compared with the manifest before it is read.
    pub fn items(&self, verify_checksums: bool) -> Items<'_> {
        Items {
            export: self,
            verify_checksums,
            next_file: 0,
            current: None,
            total: 0,
            done: false,
        }
    }
}

/// One item line, `{"Item":{…}}`, exactly as the export wrote it (without its newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportItem {
    /// Index into [`Export::files`].
    pub file: usize,
    /// 1-based line number in that file.
    pub line: u64,
    pub text: Vec<u8>,
}

/// Iterator over an export's items; see [`Export::items`]. Stops after the first error.
pub struct Items<'e> {
    export: &'e Export,
    verify_checksums: bool,
    next_file: usize,
    current: Option<OpenFile>,
    total: u64,
    done: bool,
}

struct OpenFile {
    index: usize,
    reader: Option<BufReader<MultiGzDecoder<Box<dyn Read + Send>>>>,
    line: u64,
    items: u64,
}

impl Iterator for Items<'_> {
    type Item = Result<ExportItem, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.advance();
        if !matches!(result, Some(Ok(_))) {
            self.done = true;
        }
        result
    }
}

impl Items<'_> {
    fn advance(&mut self) -> Option<Result<ExportItem, ExportError>> {
        loop {
            let Some(current) = self.current.as_mut() else {
                if self.next_file == self.export.files.len() {
                    return self.check_total().err().map(Err);
                }
                match self.open(self.next_file) {
                    Ok(file) => self.current = Some(file),
                    Err(e) => return Some(Err(e)),
                }
                self.next_file += 1;
                continue;
            };
            let file = &self.export.files[current.index];
            let mut text = Vec::new();
            let read = match current.reader.as_mut() {
                Some(reader) => reader.read_until(b'\n', &mut text),
                None => Ok(0),
            };
            match read {
                Err(e) => return Some(Err(io(&file.path, e))),
                Ok(0) => {
                    if current.items != file.item_count {
                        return Some(Err(ExportError::ItemCount {
                            what: file.path.display().to_string(),
                            expected: file.item_count,
                            found: current.items,
                        }));
                    }
                    self.current = None;
                }
                Ok(_) => {
                    current.line += 1;
                    while text.last().is_some_and(u8::is_ascii_whitespace) {
                        text.pop();
                    }
                    if text.is_empty() {
                        continue;
                    }
                    current.items += 1;
                    self.total += 1;
                    return Some(Ok(ExportItem {
                        file: current.index,
                        line: current.line,
                        text,
                    }));
                }
            }
        }
    }

    fn open(&self, index: usize) -> Result<OpenFile, ExportError> {
        let file = &self.export.files[index];
        let store = &self.export.store;
        if self.verify_checksums {
            if let Some(expected) = &file.md5_checksum {
                // A whole read before the items are: a damaged file writes no row.
                let object = store.get(&file.store_key).map_err(|e| io(&file.path, e))?;
                if md5_base64_of(object.reader, &file.path)? != *expected {
                    return Err(ExportError::Checksum {
                        path: file.path.clone(),
                    });
                }
            }
        }
        let object = store.get(&file.store_key).map_err(|e| io(&file.path, e))?;
        let (handle, empty) = (object.reader, object.len == 0);
        Ok(OpenFile {
            index,
            // An empty partition may leave an empty file, which is not a gzip stream.
            reader: (!empty)
                .then(|| BufReader::with_capacity(256 << 10, MultiGzDecoder::new(handle))),
            line: 0,
            items: 0,
        })
    }

    fn check_total(&self) -> Result<(), ExportError> {
        if self.total == self.export.item_count {
            Ok(())
        } else {
            Err(ExportError::ItemCount {
                what: "the export".to_owned(),
                expected: self.export.item_count,
                found: self.total,
            })
        }
    }
}

/// The window of an incremental export's summary.
fn window(summary: &SummaryJson, path: &Path) -> Result<IncrementalWindow, ExportError> {
    let time = |field: &str, value: &Option<String>| {
        let text = value.clone().unwrap_or_default();
        epoch_ms(&text)
            .map(|ms| (ms, text))
            .ok_or_else(|| manifest(path, format!("{field} is missing or not an RFC 3339 time")))
    };
    let (from_ms, from) = time("exportFromTime", &summary.export_from_time)?;
    let (to_ms, to) = time("exportToTime", &summary.export_to_time)?;
    if to_ms <= from_ms {
        return Err(manifest(
            path,
            "exportToTime is not after exportFromTime".into(),
        ));
    }
    // The API's default view type.
    let view = match summary.output_view.as_deref() {
        None => OutputView::NewAndOldImages,
        Some(name) => OutputView::from_name(name).ok_or_else(|| {
            manifest(
                path,
                "outputView is neither NEW_AND_OLD_IMAGES nor NEW_IMAGE".into(),
            )
        })?,
    };
    Ok(IncrementalWindow {
        from_ms,
        from,
        to_ms,
        to,
        view,
    })
}

/// An RFC 3339 time as epoch milliseconds (none before 1970).
fn epoch_ms(text: &str) -> Option<u64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
}

/// Where an incremental export's data file is, relative to the export's folder: `data/<name>`
/// when its key is under the export's own folder (`…/AWSDynamoDB/<ExportId>/data/`), else
/// `../data/<name>`, the export prefix's shared `AWSDynamoDB/data/` folder.
fn incremental_data_key(export_id: &str, key: &str, name: &str) -> String {
    let own_folder = key
        .strip_suffix(name)
        .and_then(|k| k.strip_suffix("/data/"))
        .is_some_and(|folder| {
            folder == export_id
                || folder
                    .strip_suffix(export_id)
                    .is_some_and(|k| k.ends_with('/'))
        });
    if own_folder {
        format!("data/{name}")
    } else {
        format!("../data/{name}")
    }
}

/// The file name of `…/data/<name>.json.gz`, if it is a plain file name.
fn data_file_name(key: &str) -> Option<&str> {
    let (folder, name) = key.rsplit_once('/')?;
    let plain = name.ends_with(".json.gz")
        && name.len() > ".json.gz".len()
        && !name.starts_with('.')
        && !name.contains('\\');
    (plain && (folder == "data" || folder.ends_with("/data"))).then_some(name)
}

/// The base64 MD5 of a file, as `md5Checksum` gives it.
pub fn md5_base64(path: &Path) -> Result<String, ExportError> {
    let file = File::open(path).map_err(|e| io(path, e))?;
    md5_base64_of(file, path)
}

/// The base64 MD5 of what `file` reads (`path` names it in errors).
pub fn md5_base64_of(mut file: impl Read, path: &Path) -> Result<String, ExportError> {
    let mut digest = md5::Context::new();
    let mut buf = vec![0; 256 << 10];
    loop {
        let n = file.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        digest.consume(&buf[..n]);
    }
    Ok(base64_simd::STANDARD.encode_to_string(digest.finalize().0))
}

fn io(path: &Path, source: std::io::Error) -> ExportError {
    ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

fn manifest(path: &Path, reason: String) -> ExportError {
    ExportError::Manifest {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_keys() {
        assert_eq!(
            crate::arn::dynamodb_table("arn:aws:dynamodb:eu-central-1:123456789012:table/orders"),
            Some(("eu-central-1", "orders"))
        );
        assert_eq!(
            crate::arn::dynamodb_table("arn:aws:dynamodb:eu-central-1:1:table/../x"),
            None
        );
        assert_eq!(crate::arn::dynamodb_table("arn:aws:s3:::bucket"), None);
        assert_eq!(
            data_file_name("exports/AWSDynamoDB/0123-ab/data/bafy.json.gz"),
            Some("bafy.json.gz")
        );
        assert_eq!(
            data_file_name("AWSDynamoDB/0123-ab/data/../x.json.gz"),
            None
        );
        assert_eq!(data_file_name("data/x.json"), None);
        assert_eq!(data_file_name("elsewhere/x.json.gz"), None);
    }

    #[test]
    fn incremental_data_files_are_found_where_their_key_says() {
        let own = "data/x.json.gz";
        let shared = "../data/x.json.gz";
        for (key, expected) in [
            ("exports/AWSDynamoDB/0176-ab/data/x.json.gz", own),
            ("AWSDynamoDB/0176-ab/data/x.json.gz", own),
            ("0176-ab/data/x.json.gz", own),
            ("exports/AWSDynamoDB/data/x.json.gz", shared),
            ("data/x.json.gz", shared),
            ("exports/AWSDynamoDB/10176-ab/data/x.json.gz", shared),
        ] {
            assert_eq!(
                incremental_data_key("0176-ab", key, "x.json.gz"),
                expected,
                "{key}"
            );
        }
    }
}
