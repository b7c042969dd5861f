//! ddb-lake turns DynamoDB change records, as Amazon Data Firehose hands them to a transformation
//! Lambda, into flat newline-delimited JSON rows with Firehose dynamic-partitioning keys. The
//! transformation is pure and synchronous (bytes in, bytes out): the Lambda
//! (`src/bin/bootstrap.rs`), the `ddb-lake` command, the tests, the fuzzers and the benchmarks all
//! call [`transform_event`].
//!
//! # The path of one record
//!
//! ```text
//! Firehose event (JSON bytes)
//!   │ firehose::event      FirehoseEvent / FirehoseRecord: recordId, data, kinesisRecordMetadata
//!   │ firehose::payload    data: base64 → bytes (gunzipped when they start 1f 8b)
//!   ▼
//! change record (JSON: Kinesis Data Streams for DynamoDB, or a DynamoDB Streams record)
//!   │ record::change_record   envelope read in one pass; the image flattened while it is read
//!   │ record::flatten, typed_json, number   typed JSON → columns, numbers exact
//!   │ record::row             metadata columns + attributes → one JSON line
//!   │ record::partition       table / year / month / day / hour keys
//!   ▼
//! firehose::batch      one response entry: Ok (row, base64) | ProcessingFailed (data as it came)
//! firehose::fit        too large? records answered Dropped ──► reingest (PutRecords, the only I/O)
//!   ▼
//! Lambda response ─► Firehose ─► S3  (locally: lake::replay / lake::backfill ─► lake::writer)
//! ```
//!
//! Dependencies point down that list: `record` knows nothing of Firehose, `firehose` nothing of
//! AWS clients; `reingest`, `telemetry` and `lake` sit on top. [`catalog`] is the Glue/Athena
//! side: table definitions inferred from rows (it reads `record`'s metadata column names; only
//! the `ddb-lake schema` command uses it). [`attach`] is the table-attachment custom resource
//! (its own Lambda, `table-attach`). [`config`] and [`limits`] hold the
//! settings and every size bound; [`arn`] reads every ARN the pipeline meets.

pub mod arn;
pub mod attach;
pub mod catalog;
pub mod config;
pub mod firehose;
pub mod keeper;
pub mod lake;
pub mod limits;
pub mod record;
pub mod reingest;
pub mod telemetry;

pub use config::{Config, ConfigError, ListMode};
pub use firehose::batch::{Batch, RecordResult};
pub use firehose::error::EventError;
pub use firehose::event::FirehoseEvent;
pub use firehose::fit::FitError;
pub use firehose::transform_event;
pub use limits::Limits;
pub use record::error::RecordError;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The README's layout table names every folder and file of `src/`, and nothing that is gone.
    #[test]
    fn the_readme_layout_matches_src() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let start = readme.find("\n## Layout\n").expect("a Layout section");
        let section = &readme[start..];
        let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
        // Paths as the table gives them: `src/x/` folders, `src/x.rs` files, and bare file names
        // after a folder's entry.
        let mut named = Vec::new();
        for row in section.lines().filter(|l| l.starts_with("| `src/")) {
            let mut folder = String::new();
            for quoted in row.split('`').skip(1).step_by(2) {
                if quoted.starts_with("src/") {
                    named.push(quoted.to_owned());
                    if quoted.ends_with('/') {
                        folder = quoted.to_owned();
                    }
                } else if quoted.ends_with(".rs") && !folder.is_empty() {
                    named.push(format!("{folder}{quoted}"));
                }
            }
        }
        for path in &named {
            assert!(
                root.join(path).exists(),
                "the README names {path}, which is not there"
            );
        }
        let mut missing = Vec::new();
        let mut stack = vec![root.join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                // Source folders and files only: an editor's or a tool's hidden or temporary
                // file is no part of the layout.
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                let is_source = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
                if name.starts_with('.') || !is_source {
                    continue;
                }
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if path.is_dir() {
                    let rel = format!("{rel}/");
                    if !named.contains(&rel) && rel != "src/bin/" {
                        missing.push(rel);
                    }
                    stack.push(path);
                } else {
                    let parent = format!("{}/", Path::new(&rel).parent().unwrap().display());
                    let covered = named.contains(&rel) || named.contains(&parent);
                    if !covered && rel != "src/lib.rs" {
                        missing.push(rel);
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "the README's Layout does not name {missing:?}"
        );
    }
}
