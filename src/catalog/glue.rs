//! Glue table definitions (`TableInput`, as `aws glue create-table --table-input` and
//! `update-table` take it) made from, and read back into, [`TableSchema`]s.
//!
//! The definition: newline-delimited JSON (gzip) read by the OpenX JSON SerDe, and two partition
//! keys projected over the lake's layout (`table=<t>/year=YYYY/month=MM/day=DD/hour=HH/`):
//! `table` (`enum`, the one source table) and `datehour` (`date`, one value per hour from
//! `projection_start_year` to `NOW`, spelled as the layout spells it:
//! `year=2025/month=11/day=20/hour=09`). Athena User Guide, "Supported types for partition
//! projection" and "How to use the date type": a `date` projection lists only dates that exist and
//! none after now, and a query filtering on `datehour` lists only the hours it asks for. (The four
//! `integer` keys `year`/`month`/`day`/`hour` this replaces listed 11 × 12 × 31 × 24 combinations,
//! `02-30` among them, for every query.) The definition adds what any table needs (Athena User
//! Guide, "OpenX JSON SerDe"):
//! * `case.insensitive` = `false`, so keys differing only in case (`Url`, `url`) are two keys
//!   rather than a `Duplicate key` error (Hive's SerDe) or one value silently hiding the other;
//! * `mapping.<column>` = the key, for every column whose name is not exactly its key;
//! * `dots.in.keys` = `false` and `ignore.malformed.json` = `false`: keys are only ever matched
//!   through the names and mappings above, and a broken row fails the query rather than reading
//!   as nulls.
//!
//! Each column carries the type Athena is given and a comment naming its key. Where the
//! catalog's own type differs (nothing but nulls seen yet: `null`, `array<null>`), the column's
//! `Parameters` keep it under [`INFERRED_TYPE_PARAMETER`], so that reading the table back and
//! adding rows gives the same types as inferring from all rows at once.

use crate::catalog::athena_type::{AthenaType, TypeParseError};
use crate::catalog::names::{glue_table_base_name, next_free};
use crate::catalog::table::{Catalog, Column, TableSchema};
use crate::record::partition::partition_path;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// The SerDe the stacks' tables use.
pub const SERDE: &str = "org.openx.data.jsonserde.JsonSerDe";
pub const INPUT_FORMAT: &str = "org.apache.hadoop.mapred.TextInputFormat";
pub const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
/// The column parameter holding the catalog's own type when Glue is told another.
pub const INFERRED_TYPE_PARAMETER: &str = "ddb_lake.inferred_type";
/// The SerDe parameter prefix naming a column's JSON key.
pub const MAPPING_PREFIX: &str = "mapping.";
/// The table parameter naming the source table (the one value of the `table` partition key).
pub const SOURCE_TABLE_PARAMETER: &str = "projection.table.values";
/// The table parameter listing the source table's key attributes (a JSON array of names,
/// partition key first), from its key schema object: what its current-state view is keyed by.
pub const KEY_ATTRIBUTES_PARAMETER: &str = "ddb_lake.key_attributes";
/// The Glue tables' partition keys, both `string`: the source table and the hour of the change.
pub const GLUE_PARTITION_KEYS: [&str; 2] = ["table", "datehour"];
/// `projection.datehour.format` (Java's `DateTimeFormatter`, literal text quoted): the lake's
/// layout after `table=<t>/` ([`partition_path`]'s `year=…/month=…/day=…/hour=…`).
pub const DATEHOUR_FORMAT: &str = "'year='yyyy'/month='MM'/day='dd'/hour='HH";

/// The `datehour` partition value of an hour: `year=2025/month=11/day=20/hour=09`, the part of
/// [`partition_path`] after the table.
pub fn datehour_value(year: &str, month: &str, day: &str, hour: &str) -> String {
    let path = partition_path(["", year, month, day, hour]);
    let after_table = path.split_once('/').map_or("", |(_, rest)| rest);
    after_table.trim_end_matches('/').to_owned()
}

/// Glue's limit on a column comment, in characters.
const MAX_COMMENT_CHARS: usize = 255;

/// A Glue `TableInput` (Glue API Reference, "TableInput"); only the fields the lake's tables set.
/// Unknown fields are ignored when reading, so `aws glue get-table`'s `Table` reads too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableInput {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_type: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub partition_keys: Vec<GlueColumn>,
    pub storage_descriptor: StorageDescriptor,
    /// A view's definition (`VIRTUAL_VIEW` only, [`crate::catalog::view`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_original_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_expanded_text: Option<String>,
}

/// Glue's `StorageDescriptor`, the fields the lake's tables set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StorageDescriptor {
    #[serde(default)]
    pub columns: Vec<GlueColumn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    #[serde(default)]
    pub serde_info: SerDeInfo,
}

/// Glue's `SerDeInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SerDeInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serialization_library: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// Glue's `Column`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GlueColumn {
    pub name: String,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub column_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

/// Where the lake is on S3 and from which year partition projection lists hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlueSettings {
    /// `s3://<bucket>/<TablePrefix>`, ending in `/`: rows are under `<location>table=<name>/…`.
    pub location: String,
    /// The stacks' `ProjectionStartYear`: hours from its 1 January 00:00 UTC to now.
    pub projection_start_year: u16,
}

impl GlueSettings {
    /// The stacks' default (2025) over `location`.
    pub fn new(location: impl Into<String>) -> GlueSettings {
        GlueSettings {
            location: location.into(),
            projection_start_year: 2025,
        }
    }
}

/// Why a Glue table cannot be read back into a schema.
#[derive(Debug, Error)]
pub enum GlueTableError {
    #[error("table {table}: no {SOURCE_TABLE_PARAMETER} parameter naming its source table")]
    NoSourceTable { table: String },
    #[error("table {table}, column {column}: {source}")]
    Type {
        table: String,
        column: String,
        source: TypeParseError,
    },
    #[error("table {table}: column {column} has no type")]
    NoType { table: String, column: String },
    #[error("table {table}: two columns named {column} or reading the same key")]
    Duplicate { table: String, column: String },
}

/// The `TableInput` of `schema`, named `name`.
pub fn table_input(schema: &TableSchema, name: &str, settings: &GlueSettings) -> TableInput {
    let location = &settings.location;
    let source = &schema.source_table;
    let mut serde_parameters = BTreeMap::from([
        ("case.insensitive".to_owned(), "false".to_owned()),
        ("dots.in.keys".to_owned(), "false".to_owned()),
        ("ignore.malformed.json".to_owned(), "false".to_owned()),
    ]);
    let mut columns = Vec::with_capacity(schema.columns.len());
    for column in &schema.columns {
        if column.is_mapped() {
            serde_parameters.insert(
                format!("{MAPPING_PREFIX}{}", column.name),
                column.key.clone(),
            );
        }
        columns.push(glue_column(schema, column));
    }
    let range = format!(
        "{},NOW",
        datehour_value(
            &format!("{:04}", settings.projection_start_year),
            "01",
            "01",
            "00"
        )
    );
    let mut parameters = BTreeMap::new();
    for (key, value) in [
        ("classification", "json"),
        ("compressionType", "gzip"),
        // Partition projection: partitions are computed from the query, no crawler and no
        // MSCK REPAIR, so rows are queryable as soon as they land.
        ("projection.enabled", "true"),
        ("projection.table.type", "enum"),
        (SOURCE_TABLE_PARAMETER, source),
        ("projection.datehour.type", "date"),
        ("projection.datehour.format", DATEHOUR_FORMAT),
        ("projection.datehour.range", &range),
        ("projection.datehour.interval", "1"),
        ("projection.datehour.interval.unit", "HOURS"),
    ] {
        parameters.insert(key.to_owned(), value.to_owned());
    }
    parameters.insert(
        "storage.location.template".to_owned(),
        format!("{location}table=${{table}}/${{datehour}}/"),
    );
    TableInput {
        name: name.to_owned(),
        description: Some(format!(
            "One row per change of DynamoDB table {source} (newline-delimited JSON, gzip); \
             columns inferred from the rows by ddb-lake schema"
        )),
        table_type: Some("EXTERNAL_TABLE".to_owned()),
        parameters,
        partition_keys: GLUE_PARTITION_KEYS
            .iter()
            .map(|key| GlueColumn {
                name: (*key).to_owned(),
                column_type: Some("string".to_owned()),
                comment: None,
                parameters: BTreeMap::new(),
            })
            .collect(),
        storage_descriptor: StorageDescriptor {
            columns,
            location: Some(format!("{location}table={source}/")),
            input_format: Some(INPUT_FORMAT.to_owned()),
            output_format: Some(OUTPUT_FORMAT.to_owned()),
            serde_info: SerDeInfo {
                serialization_library: Some(SERDE.to_owned()),
                parameters: serde_parameters,
            },
        },
        view_original_text: None,
        view_expanded_text: None,
    }
}

fn glue_column(schema: &TableSchema, column: &Column) -> GlueColumn {
    let declared = column.column_type.declared();
    let mut parameters = BTreeMap::new();
    if declared != column.column_type {
        parameters.insert(
            INFERRED_TYPE_PARAMETER.to_owned(),
            column.column_type.to_string(),
        );
    }
    let mut comment = match schema.metadata_name(&column.key) {
        Some(name) => metadata_comment(name).to_owned(),
        // JSON quoting shows blanks and control characters plainly.
        None => format!(
            "attribute {}",
            serde_json::to_string(&column.key).unwrap_or_default()
        ),
    };
    if declared != column.column_type {
        comment.push_str("; no value but null yet, declared string until one comes");
    }
    GlueColumn {
        name: column.name.clone(),
        column_type: Some(declared.to_string()),
        comment: Some(comment.chars().take(MAX_COMMENT_CHARS).collect()),
        parameters,
    }
}

/// What each metadata column of the transform contract holds.
fn metadata_comment(name: &str) -> &'static str {
    match name {
        "event_name" => "INSERT, MODIFY or REMOVE",
        "event_id" => "stream event ID, for de-duplication",
        "event_time" => "change time, RFC 3339 UTC with microseconds",
        "table_name" => "source DynamoDB table",
        "aws_region" => "region of the source table",
        "is_deleted" => "true for a REMOVE",
        "expired_by_ttl" => "true for a REMOVE made by the TTL service",
        "kinesis_shard_id" => "Kinesis shard of the change (absent for Direct PUT)",
        "kinesis_sequence_number" => "Kinesis sequence number (absent for Direct PUT)",
        "stream_sequence_number" => "DynamoDB stream sequence number",
        _ => "metadata column",
    }
}

/// Reads a table made by [`table_input`] (or kept up to date from one) back into a schema, to
/// add rows to it: each column's key is its `mapping.<column>` parameter or its name, its type
/// the [`INFERRED_TYPE_PARAMETER`] when that still agrees with `Type` (someone may have widened
/// `Type` by hand: then `Type`).
pub fn schema_of(table: &TableInput, metadata_prefix: &str) -> Result<TableSchema, GlueTableError> {
    let source = table
        .parameters
        .get(SOURCE_TABLE_PARAMETER)
        .ok_or_else(|| GlueTableError::NoSourceTable {
            table: table.name.clone(),
        })?;
    let mappings = &table.storage_descriptor.serde_info.parameters;
    let mut schema = TableSchema::empty(source, metadata_prefix);
    for c in &table.storage_descriptor.columns {
        let type_error = |source| GlueTableError::Type {
            table: table.name.clone(),
            column: c.name.clone(),
            source,
        };
        let declared_text = c
            .column_type
            .as_deref()
            .ok_or_else(|| GlueTableError::NoType {
                table: table.name.clone(),
                column: c.name.clone(),
            })?;
        let declared = AthenaType::parse(declared_text).map_err(type_error)?;
        let column_type = match c.parameters.get(INFERRED_TYPE_PARAMETER) {
            Some(text) => {
                let inferred = AthenaType::parse(text).map_err(type_error)?;
                if inferred.declared() == declared {
                    inferred
                } else {
                    declared
                }
            }
            None => declared,
        };
        let key = mappings
            .get(&format!("{MAPPING_PREFIX}{}", c.name))
            .cloned()
            .unwrap_or_else(|| c.name.clone());
        schema
            .push_column(Column {
                name: c.name.clone(),
                key,
                column_type,
            })
            .map_err(|c| GlueTableError::Duplicate {
                table: table.name.clone(),
                column: c.name,
            })?;
    }
    Ok(schema)
}

impl Catalog {
    /// One `TableInput` per source table, in source table order, each named
    /// `<source>_changes` ([`glue_table_base_name`]), `_2`, `_3`… where two source tables would
    /// get the same name.
    pub fn table_inputs(&self, settings: &GlueSettings) -> Vec<TableInput> {
        let mut inputs: Vec<TableInput> = Vec::new();
        for schema in self.tables() {
            let name = next_free(&glue_table_base_name(&schema.source_table), |n| {
                inputs.iter().any(|t| t.name == n)
            });
            inputs.push(table_input(schema, &name, settings));
        }
        inputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::record::partition::PARTITION_KEYS;
    use serde_json::json;

    fn sample() -> TableSchema {
        let mut s = TableSchema::new("Sessions-2024", "_");
        let row = r#"{"_event_name":"INSERT","pk":1,"Url":"a","url":"b","first name":"x","gone":null,"lines":[],"total":1.25}"#;
        s.observe_row(row.as_bytes()).unwrap();
        s
    }

    #[test]
    fn the_table_input_is_what_glue_create_table_takes() {
        let input = table_input(
            &sample(),
            "sessions_2024_changes",
            &GlueSettings::new("s3://bucket/lake/"),
        );
        let v = serde_json::to_value(&input).unwrap();
        assert_eq!(v["Name"], "sessions_2024_changes");
        assert_eq!(v["TableType"], "EXTERNAL_TABLE");
        let sd = &v["StorageDescriptor"];
        assert_eq!(sd["Location"], "s3://bucket/lake/table=Sessions-2024/");
        assert_eq!(sd["InputFormat"], INPUT_FORMAT);
        assert_eq!(sd["OutputFormat"], OUTPUT_FORMAT);
        assert_eq!(sd["SerdeInfo"]["SerializationLibrary"], SERDE);
        assert_eq!(
            sd["SerdeInfo"]["Parameters"],
            json!({"case.insensitive": "false", "dots.in.keys": "false",
                   "ignore.malformed.json": "false",
                   "mapping.url": "Url", "mapping.url_2": "url",
                   "mapping.first_name": "first name"})
        );
        let columns = sd["Columns"].as_array().unwrap();
        let by_name = |n: &str| columns.iter().find(|c| c["Name"] == n).unwrap().clone();
        assert_eq!(
            by_name("_event_name"),
            json!({"Name": "_event_name", "Type": "string", "Comment": "INSERT, MODIFY or REMOVE"})
        );
        assert_eq!(by_name("_is_deleted")["Type"], "boolean");
        assert_eq!(
            by_name("url"),
            json!({"Name": "url", "Type": "string", "Comment": "attribute \"Url\""})
        );
        assert_eq!(by_name("pk")["Type"], "bigint");
        assert_eq!(by_name("total")["Type"], "decimal(3,2)");
        assert_eq!(
            by_name("gone"),
            json!({"Name": "gone", "Type": "string",
                   "Comment": "attribute \"gone\"; no value but null yet, declared string until one comes",
                   "Parameters": {INFERRED_TYPE_PARAMETER: "null"}})
        );
        assert_eq!(by_name("lines")["Type"], "array<string>");
        assert_eq!(
            v["PartitionKeys"],
            json!([{"Name": "table", "Type": "string"}, {"Name": "datehour", "Type": "string"}])
        );
        let p = &v["Parameters"];
        assert_eq!(p["projection.table.values"], "Sessions-2024");
        assert_eq!(p["projection.datehour.type"], "date");
        assert_eq!(
            p["projection.datehour.format"],
            "'year='yyyy'/month='MM'/day='dd'/hour='HH"
        );
        assert_eq!(
            p["projection.datehour.range"],
            "year=2025/month=01/day=01/hour=00,NOW"
        );
        assert_eq!(p["projection.datehour.interval.unit"], "HOURS");
        assert!(p.get("projection.year.type").is_none());
        assert_eq!(
            p["storage.location.template"],
            "s3://bucket/lake/table=${table}/${datehour}/"
        );
    }

    #[test]
    fn the_template_and_a_datehour_value_make_the_layouts_path() {
        // What Athena does with the template, done by hand: the layout's path of that hour.
        let value = datehour_value("2025", "11", "20", "09");
        assert_eq!(value, "year=2025/month=11/day=20/hour=09");
        let input = table_input(&sample(), "t", &GlueSettings::new("s3://b/lake/"));
        let location = input.parameters["storage.location.template"]
            .replace("${table}", "orders")
            .replace("${datehour}", &value);
        assert_eq!(
            location,
            format!(
                "s3://b/lake/{}",
                partition_path(["orders", "2025", "11", "20", "09"])
            )
        );
        // The format's literal text is the layout's key names, in the layout's order.
        let literals: Vec<&str> = DATEHOUR_FORMAT.split('\'').skip(1).step_by(2).collect();
        assert_eq!(literals, ["year=", "/month=", "/day=", "/hour="]);
        assert_eq!(&PARTITION_KEYS[1..], ["year", "month", "day", "hour"]);
    }

    #[test]
    fn a_table_reads_back_into_the_same_schema() {
        let s = sample();
        let input = table_input(&s, "t", &GlueSettings::new("s3://b/"));
        // Through JSON, as GetTable would give it.
        let text = serde_json::to_string(&input).unwrap();
        let back: TableInput = serde_json::from_str(&text).unwrap();
        assert_eq!(schema_of(&back, "_").unwrap(), s);
        // Rows added to the read-back schema widen it as they would the original.
        let mut original = s.clone();
        let mut again = schema_of(&back, "_").unwrap();
        let row = br#"{"gone":5,"lines":[1.5],"Neu":true}"#;
        original.observe_row(row).unwrap();
        again.observe_row(row).unwrap();
        assert_eq!(again, original);
        assert_eq!(
            again.column("gone").unwrap().column_type,
            AthenaType::BigInt
        );
    }

    #[test]
    fn a_type_widened_by_hand_wins_over_the_stale_parameter() {
        let mut input = table_input(&sample(), "t", &GlueSettings::new("s3://b/"));
        let gone = input
            .storage_descriptor
            .columns
            .iter_mut()
            .find(|c| c.name == "gone")
            .unwrap();
        gone.column_type = Some("array<string>".to_owned());
        let s = schema_of(&input, "_").unwrap();
        assert_eq!(
            s.column("gone").unwrap().column_type,
            AthenaType::parse("array<string>").unwrap()
        );
    }

    #[test]
    fn tables_that_cannot_be_read_back_say_why() {
        let base = table_input(&sample(), "t", &GlueSettings::new("s3://b/"));
        let mut no_source = base.clone();
        no_source.parameters.remove(SOURCE_TABLE_PARAMETER);
        assert!(matches!(
            schema_of(&no_source, "_"),
            Err(GlueTableError::NoSourceTable { .. })
        ));
        let mut odd_type = base.clone();
        odd_type.storage_descriptor.columns[0].column_type = Some("double".to_owned());
        let err = schema_of(&odd_type, "_").unwrap_err();
        assert!(err.to_string().contains("_event_name"), "{err}");
        let mut twice = base;
        let first = twice.storage_descriptor.columns[0].clone();
        twice.storage_descriptor.columns.push(first);
        assert!(matches!(
            schema_of(&twice, "_"),
            Err(GlueTableError::Duplicate { .. })
        ));
    }

    #[test]
    fn each_source_table_gets_its_own_glue_table() {
        let mut catalog = Catalog::new(&Config::default());
        for table in ["orders", "Orders", "my-table"] {
            catalog.observe_object(table, b"{\"a\":1}\n").unwrap();
        }
        let names: Vec<String> = catalog
            .table_inputs(&GlueSettings::new("s3://b/lake/"))
            .into_iter()
            .map(|t| t.name)
            .collect();
        // Sorted by source table: "Orders" < "my-table" < "orders".
        assert_eq!(
            names,
            ["orders_changes", "my_table_changes", "orders_changes_2"]
        );
    }
}
