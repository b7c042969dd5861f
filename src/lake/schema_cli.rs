//! `ddb-lake schema`: Glue table definitions for a local lake, inferred from its rows by
//! [`crate::catalog`]. Change records and DynamoDB exports are first made into rows by the very
//! code `replay` and `backfill` run, into a temporary lake that is removed afterwards.

use crate::catalog::glue::KEY_ATTRIBUTES_PARAMETER;
use crate::catalog::key_schema::{
    key_schema_object_key, table_of_key_schema_object, KeySchema, KEY_SCHEMAS_DIR,
};
use crate::catalog::view::current_state_sql;
use crate::catalog::{Catalog, GlueSettings, TableInput};
use crate::config::{Config, ConfigError};
use crate::lake::backfill::{backfill, BackfillError};
use crate::lake::export::{Export, ExportError};
use crate::lake::replay::{BatchLimits, Replay, ReplayError};
use crate::lake::writer::{LakeError, LakeSettings, LakeWriter};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The bucket part of the default location: not a valid bucket name, so a definition used
/// without `--location` fails visibly instead of reading another bucket.
pub const PLACEHOLDER_BUCKET: &str = "<lake-bucket>";

/// `ddb-lake schema`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("rows").required(true).multiple(true).args(["lake", "records", "export"])))]
pub struct SchemaArgs {
    /// A local lake, as `replay` and `backfill` write it.
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// Change records (or Firehose events), run through the transformation as `replay` runs
    /// them; may be given more than once.
    #[arg(long, value_name = "FILE")]
    pub records: Vec<PathBuf>,
    /// A DynamoDB export's folder, loaded as `backfill` loads it.
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
    /// The stacks' TablePrefix: rows are under <DIR>/<PREFIX>table=…/ ("" for none).
    #[arg(long, default_value = "lake/", value_name = "PREFIX")]
    pub table_prefix: String,
    /// Where the rows are on S3: s3://<bucket>/<TablePrefix>, ending in '/'. Without it the
    /// definitions name a placeholder bucket, <lake-bucket>.
    #[arg(long, value_name = "S3_URI")]
    pub location: Option<String>,
    /// Print only this source table's definition (a TableInput object, not a list).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// First year of partition projection, which lists every hour from its start to now (the
    /// stacks' ProjectionStartYear; moved back to the lake's earliest year).
    #[arg(long, default_value_t = 2025, value_name = "YEAR")]
    pub projection_start_year: u16,
    /// Print each table's current-state view instead, as Athena SQL (`CREATE OR REPLACE VIEW`),
    /// for the tables whose key schema the lake holds (`<PREFIX>_key_schemas/<table>.json`).
    #[arg(long)]
    pub views: bool,
    /// The Glue database the views name.
    #[arg(long, default_value = "ddb_lake", value_name = "NAME")]
    pub database: String,
}

/// Why `ddb-lake schema` could not give definitions.
#[derive(Debug, Error)]
pub enum SchemaError {
    #[error(transparent)]
    Setting(#[from] ConfigError),
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no rows to infer from: {0} (is --table-prefix right?)")]
    NoRows(String),
    #[error("no source table {name} in the rows (there are: {known})")]
    UnknownTable { name: String, known: String },
    #[error("invalid --location {0:?}: give s3://<bucket>/<prefix>/, ending in '/'")]
    Location(String),
    #[error("--projection-start-year {0}: give a year from 2000 to 2199")]
    Year(u16),
    #[error("cannot make a temporary lake")]
    TempLake(#[source] std::io::Error),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Backfill(#[from] BackfillError),
}

/// What `ddb-lake schema` prints: the definitions on standard output, notes on standard error.
#[derive(Debug)]
pub struct SchemaOutput {
    /// Pretty-printed JSON: a list of `TableInput`s, or one with `--table`; with `--views`, SQL
    /// statements each ending in `;` and a blank line.
    pub json: Vec<u8>,
    /// Rows that could not be read, records that failed the transformation: one line each.
    pub warnings: Vec<String>,
}

/// Rows of objects reported one by one, then counted.
const WARNINGS_SHOWN: usize = 10;

pub fn schema(args: &SchemaArgs) -> Result<SchemaOutput, SchemaError> {
    let config = Config::from_env()?;
    let location = match &args.location {
        Some(l)
            if l.strip_prefix("s3://")
                .is_some_and(|rest| rest.ends_with('/') && !rest.starts_with('/')) =>
        {
            l.clone()
        }
        Some(l) => return Err(SchemaError::Location(l.clone())),
        None => format!("s3://{PLACEHOLDER_BUCKET}/{}", args.table_prefix),
    };
    if !(2000..2200).contains(&args.projection_start_year) {
        return Err(SchemaError::Year(args.projection_start_year));
    }
    let mut warnings = Vec::new();
    let mut reader = LakeReader::new(&config);
    if let Some(dir) = &args.lake {
        reader.read(dir, &args.table_prefix)?;
    }
    if !args.records.is_empty() || args.export.is_some() {
        let temp = tempfile::tempdir().map_err(SchemaError::TempLake)?;
        let settings = LakeSettings {
            table_prefix: args.table_prefix.clone(),
            delivery_stream: "ddb-lake-schema".to_owned(),
            ..LakeSettings::default()
        };
        let mut lake = LakeWriter::new(temp.path(), settings)?;
        if let Some(dir) = &args.export {
            let export = Export::open(dir)?;
            let stats = backfill(&export, &config, &mut lake, true, |_| {})?;
            if stats.failed > 0 {
                warnings.push(format!(
                    "{} of the export's items could not be made rows ({}); they are not in the schema",
                    stats.failed,
                    reasons(&stats.failures)
                ));
            }
        }
        if !args.records.is_empty() {
            let mut replay = Replay::new(&config, &mut lake, BatchLimits::default());
            for path in &args.records {
                let file = std::fs::File::open(path).map_err(|source| SchemaError::Io {
                    path: path.clone(),
                    source,
                })?;
                replay.read(&path.display().to_string(), file)?;
            }
            let stats = replay.finish()?;
            if stats.failed > 0 {
                warnings.push(format!(
                    "{} change records failed the transformation ({}); they are not in the schema",
                    stats.failed,
                    reasons(&stats.failures)
                ));
            }
        }
        lake.finish()?;
        reader.read(temp.path(), &args.table_prefix)?;
    }
    warnings.append(&mut reader.warnings());
    if reader.catalog.tables().next().is_none() {
        let what = match &args.lake {
            Some(dir) => format!(
                "{} has no table=<name>/ folder with rows",
                dir.join(&args.table_prefix).display()
            ),
            None => "no change record or item became a row".to_owned(),
        };
        return Err(SchemaError::NoRows(what));
    }
    let start_year = reader
        .years
        .first()
        .map_or(args.projection_start_year, |first| {
            args.projection_start_year.min(*first)
        });
    let glue = GlueSettings {
        location,
        projection_start_year: start_year,
    };
    let mut inputs = reader.catalog.table_inputs(&glue);
    for (schema, input) in reader.catalog.tables().zip(inputs.iter_mut()) {
        if let Some(keys) = reader.key_schemas.get(&schema.source_table) {
            // The same parameter the schema keeper sets from the key schema object.
            input.parameters.insert(
                KEY_ATTRIBUTES_PARAMETER.to_owned(),
                serde_json::to_string(&keys.key_attributes()).unwrap_or_default(),
            );
        }
    }
    if args.views {
        let mut sql = String::new();
        for (schema, input) in reader.catalog.tables().zip(&inputs) {
            if args
                .table
                .as_ref()
                .is_some_and(|t| *t != schema.source_table)
            {
                continue;
            }
            let Some(keys) = reader.key_schemas.get(&schema.source_table) else {
                warnings.push(format!(
                    "table {}: no key schema in the lake ({}), so no view",
                    schema.source_table,
                    key_schema_object_key(&args.table_prefix, &schema.source_table)
                ));
                continue;
            };
            match current_state_sql(&args.database, &input.name, schema, &keys.key_attributes()) {
                Ok(view) => {
                    sql.push_str(&view);
                    sql.push_str(";\n\n");
                }
                Err(e) => warnings.push(format!("table {}: {e}, so no view", schema.source_table)),
            }
        }
        return Ok(SchemaOutput {
            json: sql.into_bytes(),
            warnings,
        });
    }
    let json = match &args.table {
        None => serde_json::to_vec_pretty(&inputs),
        Some(name) => {
            let wanted: Option<&TableInput> = reader
                .catalog
                .tables()
                .zip(&inputs)
                .find(|(schema, _)| schema.source_table == *name)
                .map(|(_, input)| input);
            match wanted {
                Some(input) => serde_json::to_vec_pretty(input),
                None => {
                    let known: Vec<&str> = reader
                        .catalog
                        .tables()
                        .map(|t| t.source_table.as_str())
                        .collect();
                    return Err(SchemaError::UnknownTable {
                        name: name.clone(),
                        known: known.join(", "),
                    });
                }
            }
        }
    }
    // Serializing maps of strings cannot fail.
    .unwrap_or_default();
    Ok(SchemaOutput { json, warnings })
}

fn reasons(failures: &BTreeMap<&'static str, u64>) -> String {
    failures
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads lake folders into a catalog.
struct LakeReader {
    catalog: Catalog,
    /// The key schema objects found beside the rows, by source table.
    key_schemas: BTreeMap<String, KeySchema>,
    /// Years of the partitions read, sorted.
    years: Vec<u16>,
    bad_rows: Vec<String>,
    bad_row_count: usize,
}

impl LakeReader {
    fn new(config: &Config) -> LakeReader {
        LakeReader {
            catalog: Catalog::new(config),
            key_schemas: BTreeMap::new(),
            years: Vec::new(),
            bad_rows: Vec::new(),
            bad_row_count: 0,
        }
    }

    /// Every object under `<root>/<table_prefix>table=<name>/`, in path order (so rows are
    /// taken in roughly the order they landed, and names are given the same way every time).
    fn read(&mut self, root: &Path, table_prefix: &str) -> Result<(), SchemaError> {
        let dir = root.join(table_prefix);
        let key_dir = dir.join(KEY_SCHEMAS_DIR);
        if let Ok(entries) = std::fs::read_dir(&key_dir) {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let object_key = format!("{KEY_SCHEMAS_DIR}/{name}");
                let Some(table) = table_of_key_schema_object("", &object_key) else {
                    continue;
                };
                let bytes = std::fs::read(&path).map_err(|source| SchemaError::Io {
                    path: path.clone(),
                    source,
                })?;
                match serde_json::from_slice::<KeySchema>(&bytes) {
                    Ok(schema) => {
                        self.key_schemas.insert(table.to_owned(), schema);
                    }
                    Err(e) => self.bad_row(format!("{}: not a key schema: {e}", path.display())),
                }
            }
        }
        for (table, path) in lake_objects(&dir)? {
            if let Some(year) = partition_year(&path) {
                if let Err(i) = self.years.binary_search(&year) {
                    self.years.insert(i, year);
                }
            }
            let bytes = std::fs::read(&path).map_err(|source| SchemaError::Io {
                path: path.clone(),
                source,
            })?;
            match self.catalog.observe_object(&table, &bytes) {
                Ok(report) => {
                    for (line, reason) in report.bad_rows {
                        self.bad_row(format!("{}:{line}: {reason}", path.display()));
                    }
                }
                Err(e) => self.bad_row(format!(
                    "{}: {e}; the rows after this point are not in the schema",
                    path.display()
                )),
            }
        }
        Ok(())
    }

    fn bad_row(&mut self, text: String) {
        self.bad_row_count += 1;
        if self.bad_rows.len() < WARNINGS_SHOWN {
            self.bad_rows.push(text);
        }
    }

    fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .bad_rows
            .iter()
            .map(|w| format!("{w} (skipped)"))
            .collect();
        if self.bad_row_count > self.bad_rows.len() {
            out.push(format!(
                "… and {} more rows that could not be read",
                self.bad_row_count - self.bad_rows.len()
            ));
        }
        out
    }
}

/// `(source table, object)` for every `.gz` object under `dir`'s `table=<name>/` folders,
/// sorted by path. Hidden files (an object being written) are left out.
fn lake_objects(dir: &Path) -> Result<Vec<(String, PathBuf)>, SchemaError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SchemaError::Io { path, source }
    };
    let mut objects = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(table) = name.to_str().and_then(|n| n.strip_prefix("table=")) else {
            continue;
        };
        if !entry.file_type().map_err(io(&entry.path()))?.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        walk(&entry.path(), &mut files)?;
        objects.extend(files.into_iter().map(|f| (table.to_owned(), f)));
    }
    objects.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(objects)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SchemaError> {
    let io = |source| SchemaError::Io {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type().map_err(io)?.is_dir() {
            walk(&path, out)?;
        } else if name.ends_with(".gz") {
            out.push(path);
        }
    }
    Ok(())
}

/// The `year=YYYY` folder an object is in.
fn partition_year(path: &Path) -> Option<u16> {
    path.components()
        .find_map(|c| c.as_os_str().to_str()?.strip_prefix("year=")?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_found_by_table_folder_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        for path in [
            "table=b/year=2024/month=01/day=01/hour=00/x.gz",
            "table=a/year=2026/month=01/day=01/hour=00/y.gz",
            "table=a/year=2025/month=12/day=31/hour=23/z.gz",
            "table=a/year=2025/month=12/day=31/hour=23/.tmp-unfinished",
            "table=a/year=2025/month=12/day=31/hour=23/notes.txt",
            "other/x.gz",
        ] {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"{}\n").unwrap();
        }
        let found: Vec<(String, String)> = lake_objects(&root)
            .unwrap()
            .into_iter()
            .map(|(t, p)| (t, p.strip_prefix(&root).unwrap().display().to_string()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "a".into(),
                    "table=a/year=2025/month=12/day=31/hour=23/z.gz".into()
                ),
                (
                    "a".into(),
                    "table=a/year=2026/month=01/day=01/hour=00/y.gz".into()
                ),
                (
                    "b".into(),
                    "table=b/year=2024/month=01/day=01/hour=00/x.gz".into()
                ),
            ]
        );
        assert_eq!(
            partition_year(Path::new("l/table=a/year=2024/m.gz")),
            Some(2024)
        );
        assert_eq!(partition_year(Path::new("l/table=a/m.gz")), None);
        assert!(matches!(
            lake_objects(&dir.path().join("missing")),
            Err(SchemaError::Io { .. })
        ));
    }
}
