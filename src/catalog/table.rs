//! The inferred schema of one source table's rows, and of many.
//!
//! [`TableSchema`] is a list of columns, each reading one JSON key of the rows with a type that
//! holds every value seen under that key. Observing rows (or merging another schema) only ever
//! adds columns and widens types, through [`widen`]; names, once given, never change. So a
//! schema kept up to date object by object, in any order, declares no type a row in the lake
//! violates.

use crate::catalog::athena_type::{widen, AthenaType};
use crate::catalog::glue::GLUE_PARTITION_KEYS;
use crate::catalog::infer::{object_entries, value_type};
use crate::catalog::names::{base_column_name, next_free};
use crate::config::Config;
use crate::record::partition::PARTITION_KEYS;
use crate::record::row::METADATA_COLUMNS;
use flate2::read::MultiGzDecoder;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use thiserror::Error;

/// One column of a table over the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The name Athena knows it by ([`crate::catalog::names`]).
    pub name: String,
    /// The JSON key it reads in the rows: the attribute's (or metadata column's) name exactly.
    pub key: String,
    /// Every value seen under `key` fits it; may be or hold [`AthenaType::Null`].
    pub column_type: AthenaType,
}

impl Column {
    /// Whether the SerDe needs a `mapping.<name>` property to find the key.
    pub fn is_mapped(&self) -> bool {
        self.name != self.key
    }
}

/// A row that is not a JSON object (the lake's own rows always are).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a JSON object: {0}")]
pub struct RowError(pub String);

/// What reading one object gave.
#[derive(Debug, Default)]
pub struct ObjectReport {
    pub rows: u64,
    /// Rows that could not be read, by line number (1-based), with the reason. The object is
    /// left as it is; these rows are not in the schema.
    pub bad_rows: Vec<(u64, RowError)>,
}

/// The schema of one source table's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// The DynamoDB table (the `table=` partition value).
    pub source_table: String,
    /// `METADATA_PREFIX`: which keys are the metadata columns.
    pub metadata_prefix: String,
    /// Metadata columns first, then attributes in the order first seen.
    pub columns: Vec<Column>,
    by_key: HashMap<String, usize>,
}

impl TableSchema {
    /// An empty schema for `source_table`: just the metadata columns of the transform contract
    /// (`_event_name` …), `_is_deleted` and `_expired_by_ttl` boolean, the others string. They
    /// are declared whether or not a row has them (the Kinesis columns are absent for Direct PUT).
    pub fn new(source_table: &str, metadata_prefix: &str) -> TableSchema {
        let mut schema = TableSchema::empty(source_table, metadata_prefix);
        for name in METADATA_COLUMNS {
            let t = match name {
                "is_deleted" | "expired_by_ttl" => AthenaType::Boolean,
                _ => AthenaType::String,
            };
            schema.widen_column(&format!("{metadata_prefix}{name}"), &t);
        }
        schema
    }

    /// A schema with no column at all, to fill from an existing Glue table.
    pub(crate) fn empty(source_table: &str, metadata_prefix: &str) -> TableSchema {
        TableSchema {
            source_table: source_table.to_owned(),
            metadata_prefix: metadata_prefix.to_owned(),
            columns: Vec::new(),
            by_key: HashMap::new(),
        }
    }

    /// The column reading `key`, if any.
    pub fn column(&self, key: &str) -> Option<&Column> {
        self.by_key.get(key).map(|&i| &self.columns[i])
    }

    /// The metadata column name `key` stands for (`event_name` for `_event_name`), if it is one.
    pub fn metadata_name<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(self.metadata_prefix.as_str())
            .filter(|name| METADATA_COLUMNS.contains(name))
    }

    /// Takes in one row: a JSON object (a trailing newline is fine). Each key's value widens its
    /// column; a new key gets a column.
    pub fn observe_row(&mut self, row: &[u8]) -> Result<(), RowError> {
        let text = std::str::from_utf8(row).map_err(|e| RowError(e.to_string()))?;
        let entries = object_entries(text.trim()).map_err(|e| RowError(e.to_string()))?;
        for (key, value) in entries {
            let t = value_type(value)
                .map_err(|e| RowError(e.to_string()))?
                .unwrap_or(AthenaType::String);
            self.widen_column(&key, &t);
        }
        Ok(())
    }

    /// Takes in every row of one lake object: newline-delimited JSON, gzip-compressed or not
    /// (recognised by its first bytes, `1f 8b`). A row that cannot be read is reported and
    /// skipped; only a broken gzip stream stops the object (the rows before it are taken in).
    pub fn observe_object(&mut self, bytes: &[u8]) -> Result<ObjectReport, std::io::Error> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            self.observe_lines(BufReader::new(MultiGzDecoder::new(bytes)))
        } else {
            self.observe_lines(bytes)
        }
    }

    fn observe_lines(&mut self, mut reader: impl BufRead) -> Result<ObjectReport, std::io::Error> {
        let mut report = ObjectReport::default();
        let mut line = Vec::new();
        let mut number = 0;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Ok(report);
            }
            number += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match self.observe_row(&line) {
                Ok(()) => report.rows += 1,
                Err(e) => report.bad_rows.push((number, e)),
            }
        }
    }

    /// Takes in another schema of the same table (rows seen elsewhere): its columns widen ours
    /// or join them, in its order.
    pub fn merge(&mut self, other: &TableSchema) {
        for column in &other.columns {
            self.widen_column(&column.key, &column.column_type);
        }
    }

    /// Widens the column reading `key` by `t`, adding the column if there is none.
    pub fn widen_column(&mut self, key: &str, t: &AthenaType) {
        match self.by_key.get(key) {
            Some(&i) => {
                let widened = widen(&self.columns[i].column_type, t);
                if widened != self.columns[i].column_type {
                    self.columns[i].column_type = widened;
                    self.settle(i);
                }
            }
            None => {
                let name = next_free(&base_column_name(key), |name| self.is_taken(name, key));
                let column = Column {
                    name,
                    key: key.to_owned(),
                    column_type: t.clone(),
                };
                let mapped = column.is_mapped().then(|| column.name.clone());
                self.by_key.insert(column.key.clone(), self.columns.len());
                self.columns.push(column);
                self.settle(self.columns.len() - 1);
                if let Some(name) = mapped {
                    // The SerDe applies `mapping.<name>` to struct fields of that name too: a
                    // struct that has one can no longer be read field by field.
                    for i in 0..self.columns.len() {
                        if has_struct_field(&self.columns[i].column_type, &name) {
                            self.columns[i].column_type = AthenaType::String;
                        }
                    }
                }
            }
        }
    }

    /// Whether a new column reading `key` may not be called `name`: a partition key (of the layout or of Glue: `datehour`), another
    /// column's name, or (for a name that needs a mapping) a struct field name of the table.
    fn is_taken(&self, name: &str, key: &str) -> bool {
        PARTITION_KEYS.contains(&name)
            || GLUE_PARTITION_KEYS.contains(&name)
            || self.columns.iter().any(|c| c.name == name)
            || (name != key
                && self
                    .columns
                    .iter()
                    .any(|c| has_struct_field(&c.column_type, name)))
    }

    /// Column `i` becomes `string` when a struct in it has a field named like a mapped column.
    fn settle(&mut self, i: usize) {
        let mut fields = Vec::new();
        self.columns[i].column_type.struct_field_names(&mut fields);
        let clash = fields
            .iter()
            .any(|f| self.columns.iter().any(|c| c.is_mapped() && c.name == *f));
        if clash {
            self.columns[i].column_type = AthenaType::String;
        }
    }

    /// Adds a column read from an existing table as it is (name, key and type kept).
    pub(crate) fn push_column(&mut self, column: Column) -> Result<(), Column> {
        if self.by_key.contains_key(&column.key)
            || self.columns.iter().any(|c| c.name == column.name)
        {
            return Err(column);
        }
        self.by_key.insert(column.key.clone(), self.columns.len());
        self.columns.push(column);
        Ok(())
    }
}

fn has_struct_field(t: &AthenaType, name: &str) -> bool {
    let mut fields = Vec::new();
    t.struct_field_names(&mut fields);
    fields.contains(&name)
}

/// The schemas of many source tables, by table name.
#[derive(Debug, Clone)]
pub struct Catalog {
    metadata_prefix: String,
    tables: BTreeMap<String, TableSchema>,
}

impl Catalog {
    /// An empty catalog for rows written with `config`'s `METADATA_PREFIX`.
    pub fn new(config: &Config) -> Catalog {
        Catalog {
            metadata_prefix: config.metadata_prefix.clone(),
            tables: BTreeMap::new(),
        }
    }

    /// The schema of `source_table`, created (metadata columns only) on first use.
    pub fn table_mut(&mut self, source_table: &str) -> &mut TableSchema {
        self.tables
            .entry(source_table.to_owned())
            .or_insert_with(|| TableSchema::new(source_table, &self.metadata_prefix))
    }

    /// The schemas, by source table name.
    pub fn tables(&self) -> impl Iterator<Item = &TableSchema> {
        self.tables.values()
    }

    /// Takes in one lake object of `source_table` ([`TableSchema::observe_object`]).
    pub fn observe_object(
        &mut self,
        source_table: &str,
        bytes: &[u8],
    ) -> Result<ObjectReport, std::io::Error> {
        self.table_mut(source_table).observe_object(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AthenaType::*;

    fn schema(rows: &[&str]) -> TableSchema {
        let mut s = TableSchema::new("t", "_");
        for row in rows {
            s.observe_row(row.as_bytes()).unwrap();
        }
        s
    }

    fn column<'a>(s: &'a TableSchema, key: &str) -> &'a Column {
        s.column(key)
            .unwrap_or_else(|| panic!("no column for {key}"))
    }

    fn t(text: &str) -> AthenaType {
        AthenaType::parse(text).unwrap()
    }

    #[test]
    fn metadata_columns_come_first_with_their_types() {
        let s = schema(&[r#"{"_event_name":"INSERT","_is_deleted":false,"pk":"a"}"#]);
        let names: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
        let metadata: Vec<std::string::String> =
            METADATA_COLUMNS.iter().map(|n| format!("_{n}")).collect();
        assert_eq!(names[..metadata.len()], metadata);
        assert_eq!(names[0], "_event_name");
        assert_eq!(names[7], "_stream_sequence_number");
        assert_eq!(names.last(), Some(&"pk"));
        assert_eq!(column(&s, "_is_deleted").column_type, Boolean);
        assert_eq!(column(&s, "_expired_by_ttl").column_type, Boolean);
        assert_eq!(column(&s, "_event_time").column_type, String);
        assert_eq!(s.metadata_name("_event_id"), Some("event_id"));
        assert_eq!(s.metadata_name("event_id"), None);
        assert_eq!(s.metadata_name("_pk"), None);
        // Another prefix: other keys.
        let other = TableSchema::new("t", "meta_");
        assert!(other.column("meta_event_name").is_some());
    }

    #[test]
    fn a_number_attribute_that_is_sometimes_a_string_becomes_a_string() {
        let s = schema(&[r#"{"v":1}"#, r#"{"v":"n/a"}"#, r#"{"v":2.5}"#]);
        assert_eq!(column(&s, "v").column_type, String);
    }

    #[test]
    fn numbers_widen_from_bigint_to_decimal_to_string() {
        let mut s = schema(&[r#"{"n":1}"#]);
        assert_eq!(column(&s, "n").column_type, BigInt);
        s.observe_row(br#"{"n":0.25}"#).unwrap();
        assert_eq!(column(&s, "n").column_type, t("decimal(21,2)"));
        s.observe_row(br#"{"n":12345678901234567890123456789012345678}"#)
            .unwrap();
        assert_eq!(column(&s, "n").column_type, String, "38 + 2 digits");
        // And never back.
        s.observe_row(br#"{"n":1}"#).unwrap();
        assert_eq!(column(&s, "n").column_type, String);
    }

    #[test]
    fn nulls_wait_for_a_type() {
        let mut s = schema(&[r#"{"c":null}"#, r#"{"l":[]}"#]);
        assert_eq!(column(&s, "c").column_type, Null);
        assert_eq!(column(&s, "l").column_type, t("array<null>"));
        s.observe_row(br#"{"c":true,"l":[1]}"#).unwrap();
        assert_eq!(column(&s, "c").column_type, Boolean);
        assert_eq!(column(&s, "l").column_type, t("array<bigint>"));
    }

    #[test]
    fn lists_become_arrays_or_strings() {
        let s = schema(&[
            r#"{"tags":["a"],"mixed":[1],"lines":[{"sku":"a","qty":1}],"odd":[{"Sku":1}]}"#,
            r#"{"tags":["b","c"],"mixed":["x"],"lines":[{"sku":"b","price":1.5}]}"#,
        ]);
        assert_eq!(column(&s, "tags").column_type, t("array<string>"));
        assert_eq!(column(&s, "mixed").column_type, String);
        assert_eq!(
            column(&s, "lines").column_type,
            t("array<struct<sku:string,qty:bigint,price:decimal(2,1)>>")
        );
        assert_eq!(column(&s, "odd").column_type, String);
    }

    #[test]
    fn every_spelling_gets_a_column_and_case_twins_get_two() {
        let s = schema(&[
            r#"{"url":"a","Url":"b","URL":"c","first name":"d","a.b":1,"x-y":2,"2fa":true,"größe":"XL","year":1999,"table":"t","_Event_Name":"x"}"#,
        ]);
        let name = |key: &str| column(&s, key).name.clone();
        assert_eq!(name("url"), "url");
        assert_eq!(name("Url"), "url_2");
        assert_eq!(name("URL"), "url_3");
        assert_eq!(name("first name"), "first_name");
        assert_eq!(name("a.b"), "a_b");
        assert_eq!(name("x-y"), "x_y");
        assert_eq!(name("2fa"), "2fa");
        assert_eq!(name("größe"), "gr__e");
        // Partition keys and metadata columns keep their names.
        assert_eq!(name("year"), "year_2");
        assert_eq!(name("table"), "table_2");
        assert_eq!(name("_Event_Name"), "_event_name_2");
        assert!(!column(&s, "url").is_mapped());
        assert!(column(&s, "Url").is_mapped());
        // The first to come gets the plain name: a key seen later gets the next one.
        let later = schema(&[r#"{"Url":"b"}"#, r#"{"url":"a"}"#]);
        assert_eq!(column(&later, "Url").name, "url");
        assert_eq!(column(&later, "url").name, "url_2");
    }

    #[test]
    fn mapped_names_never_shadow_struct_fields() {
        // `Qty` would be column `qty`, mapped; the SerDe would then look for "Qty" inside the
        // structs too. So it takes another name.
        let s = schema(&[r#"{"lines":[{"qty":1}]}"#, r#"{"Qty":5}"#]);
        assert_eq!(column(&s, "Qty").name, "qty_2");
        assert_eq!(
            column(&s, "lines").column_type,
            t("array<struct<qty:bigint>>")
        );
        // The other way round: the struct arrives after the mapped column; it is read as text.
        let s = schema(&[r#"{"Qty":5}"#, r#"{"lines":[{"qty":1}]}"#]);
        assert_eq!(column(&s, "Qty").name, "qty");
        assert_eq!(column(&s, "lines").column_type, String);
        // An unmapped column of that name is harmless.
        let s = schema(&[r#"{"qty":5}"#, r#"{"lines":[{"qty":1}]}"#]);
        assert_eq!(
            column(&s, "lines").column_type,
            t("array<struct<qty:bigint>>")
        );
    }

    #[test]
    fn merging_widens_and_never_drops() {
        let mut a = schema(&[r#"{"x":1,"only_a":true}"#]);
        let b = schema(&[r#"{"x":1.5,"only_b":"s"}"#]);
        a.merge(&b);
        assert_eq!(column(&a, "x").column_type, t("decimal(20,1)"));
        assert_eq!(column(&a, "only_a").column_type, Boolean);
        assert_eq!(column(&a, "only_b").column_type, String);
        // Merging in any grouping gives the same types.
        let rows = [r#"{"x":1}"#, r#"{"x":[1]}"#, r#"{"y":null}"#, r#"{"y":2}"#];
        let all = schema(&rows);
        let mut halves = schema(&rows[..2]);
        halves.merge(&schema(&rows[2..]));
        assert_eq!(all, halves);
    }

    #[test]
    fn bad_rows_are_reported_and_the_rest_taken_in() {
        let mut s = TableSchema::new("t", "_");
        let report = s
            .observe_object(b"{\"a\":1}\n\nnot json\n[1]\n{\"b\":2}\n{\"c\":[[[")
            .unwrap();
        assert_eq!(report.rows, 2);
        let lines: Vec<u64> = report.bad_rows.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [3, 4, 6]);
        assert!(s.column("a").is_some() && s.column("b").is_some());
        assert!(report.bad_rows[1]
            .1
            .to_string()
            .starts_with("not a JSON object"));
    }

    #[test]
    fn gzip_objects_are_read_whole_including_concatenated_members() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let gz = |text: &str| {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(text.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let mut object = gz("{\"a\":1}\n");
        object.extend(gz("{\"b\":true}\n"));
        let mut catalog = Catalog::new(&Config::default());
        let report = catalog.observe_object("orders", &object).unwrap();
        assert_eq!(report.rows, 2);
        let table = catalog.tables().next().unwrap();
        assert_eq!(table.source_table, "orders");
        assert_eq!(table.column("b").unwrap().column_type, Boolean);
        // A damaged stream is an error, not a silent end.
        let mut broken = gz("{\"a\":1}\n");
        broken.truncate(broken.len() - 6);
        assert!(catalog.observe_object("orders", &broken).is_err());
    }
}
