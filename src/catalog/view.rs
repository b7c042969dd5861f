//! The current-state view of a source table: per primary key the latest change, a change
//! delivered more than once counted once, keys whose latest change is a delete left out.
//!
//! It is made from the table's own schema and key (`catalog::key_schema`), whatever the key
//! attributes are called and typed, in two forms:
//! * [`current_state_sql`]: Athena SQL (`CREATE OR REPLACE VIEW … AS …`), also what DuckDB runs
//!   locally after `sqlglot` translates it;
//! * [`view_input`]: the same view as a Glue `TableInput` of type `VIRTUAL_VIEW`, the form in
//!   which Athena stores a view it created (a "Presto view": `ViewOriginalText` holds the query and
//!   its columns, base64-encoded JSON, and `presto_view` = `true`), so the schema keeper can create
//!   and replace views with Glue calls alone. Athena refuses a view whose stored columns differ
//!   from its table's ("View is stale"): the keeper remakes the view whenever the table changes.
//!
//! The order that decides "latest" (README, "Query it"): change time; at equal times the stream's
//! sequence number (the Kinesis one, or the DynamoDB stream's), longer first, then greater; a
//! full export's row (`_event_id` `export:…`) after every change.

use crate::catalog::athena_type::AthenaType;
use crate::catalog::glue::{GlueColumn, SerDeInfo, StorageDescriptor, TableInput};
use crate::catalog::names::next_free;
use crate::catalog::table::{Column, TableSchema};
use base64_simd::STANDARD;
use serde_json::json;
use std::collections::BTreeMap;
use thiserror::Error;

/// The view parameter holding the `VersionId` of the table version it was made from: a view is
/// only ever replaced by one made from a later version.
pub const TABLE_VERSION_PARAMETER: &str = "ddb_lake.table_version";

/// Why a table's current-state view cannot be made yet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ViewError {
    /// No row has carried this key attribute yet (the key schema came before the data).
    #[error("key attribute {0:?} is not a column of the table yet")]
    KeyNotAColumn(String),
    #[error("the table has no key attributes")]
    NoKey,
}

/// The view of Glue table `table` in `database`: `<table>_current`.
pub fn view_name(table: &str) -> String {
    format!("{table}_current")
}

/// The view's columns: the item's attributes, in the table's order, and the time of its latest
/// change (the metadata column `event_time`; the other metadata columns describe one delivery of
/// one change, not the item).
fn view_columns(schema: &TableSchema) -> impl Iterator<Item = &Column> {
    schema
        .columns
        .iter()
        .filter(|c| match schema.metadata_name(&c.key) {
            Some(name) => name == "event_time",
            None => true,
        })
}

/// The `SELECT` of the current-state view over `"database"."table"`, whose rows `schema`
/// describes, keyed by the attributes `keys` (partition key first): [`view_columns`].
pub fn current_state_select(
    database: &str,
    table: &str,
    schema: &TableSchema,
    keys: &[&str],
) -> Result<String, ViewError> {
    if keys.is_empty() {
        return Err(ViewError::NoKey);
    }
    let key_columns = keys
        .iter()
        .map(|key| {
            schema
                .column(key)
                .map(|c| quote(&c.name))
                .ok_or_else(|| ViewError::KeyNotAColumn((*key).to_owned()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Metadata columns are always declared (`TableSchema::new`); their names follow the prefix.
    let meta = |name: &str| {
        let key = format!("{}{name}", schema.metadata_prefix);
        quote(
            schema
                .column(&key)
                .map_or(key.as_str(), |c| c.name.as_str()),
        )
    };
    let taken = |n: &str| schema.columns.iter().any(|c| c.name == n);
    let copy_number = quote(&next_free("copy_number", taken));
    let recency = quote(&next_free("recency", taken));
    let sequence = format!(
        "coalesce({}, {})",
        meta("kinesis_sequence_number"),
        meta("stream_sequence_number")
    );
    let columns = view_columns(schema)
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let source = format!("{}.{}", quote(database), quote(table));
    Ok(format!(
        "WITH deduplicated AS (\n  \
           SELECT *, row_number() OVER (PARTITION BY {event_id} ORDER BY {sequence}) AS {copy_number}\n  \
           FROM {source}\n\
         ),\n\
         ranked AS (\n  \
           SELECT *, row_number() OVER (\n    \
             PARTITION BY {keys}\n    \
             ORDER BY {event_time} DESC, length({sequence}) DESC, {sequence} DESC, {event_id} LIKE 'export:%'\n  \
           ) AS {recency}\n  \
           FROM deduplicated\n  \
           WHERE {copy_number} = 1\n\
         )\n\
         SELECT {columns}\n\
         FROM ranked\n\
         WHERE {recency} = 1 AND NOT {is_deleted}",
        event_id = meta("event_id"),
        event_time = meta("event_time"),
        is_deleted = meta("is_deleted"),
        keys = key_columns.join(", "),
    ))
}

/// `CREATE OR REPLACE VIEW "database"."<table>_current" AS <select>`: what to run in Athena by
/// hand, and what the local SQL runs after translation.
pub fn current_state_sql(
    database: &str,
    table: &str,
    schema: &TableSchema,
    keys: &[&str],
) -> Result<String, ViewError> {
    let select = current_state_select(database, table, schema, keys)?;
    Ok(format!(
        "CREATE OR REPLACE VIEW {}.{} AS\n{select}",
        quote(database),
        quote(&view_name(table))
    ))
}

/// The view as Glue stores an Athena view: `TableType` `VIRTUAL_VIEW`, the query and its
/// columns (Presto types) base64-encoded in `ViewOriginalText`, the columns (Hive types) in the
/// storage descriptor. Same output columns as the table.
pub fn view_input(
    database: &str,
    table: &str,
    schema: &TableSchema,
    keys: &[&str],
) -> Result<TableInput, ViewError> {
    let select = current_state_select(database, table, schema, keys)?;
    let presto_columns: Vec<_> = view_columns(schema)
        .map(|c| json!({"name": c.name, "type": presto_type(&c.column_type.declared())}))
        .collect();
    let presto_view = json!({
        "originalSql": select,
        "catalog": "awsdatacatalog",
        "schema": database,
        "columns": presto_columns,
    });
    let encoded = STANDARD.encode_to_string(presto_view.to_string().as_bytes());
    Ok(TableInput {
        name: view_name(table),
        description: Some(format!(
            "Current state of DynamoDB table {}: per key the latest change of {table}, \
             deletes left out; made by the schema keeper",
            schema.source_table
        )),
        table_type: Some("VIRTUAL_VIEW".to_owned()),
        parameters: BTreeMap::from([
            ("presto_view".to_owned(), "true".to_owned()),
            ("comment".to_owned(), "Presto View".to_owned()),
        ]),
        partition_keys: Vec::new(),
        storage_descriptor: StorageDescriptor {
            columns: view_columns(schema)
                .map(|c| GlueColumn {
                    name: c.name.clone(),
                    column_type: Some(c.column_type.declared().to_string()),
                    comment: None,
                    parameters: BTreeMap::new(),
                })
                .collect(),
            location: None,
            input_format: None,
            output_format: None,
            serde_info: SerDeInfo::default(),
        },
        view_original_text: Some(format!("/* Presto View: {encoded} */")),
        view_expanded_text: Some("/* Presto View */".to_owned()),
    })
}

/// A declared type in the spelling Athena's engine uses inside a view definition (Trino's:
/// `varchar`, `array(…)`, `row(name type, …)`), where Glue columns use Hive's.
pub fn presto_type(t: &AthenaType) -> String {
    match t {
        AthenaType::Null | AthenaType::String => "varchar".to_owned(),
        AthenaType::Boolean => "boolean".to_owned(),
        AthenaType::BigInt => "bigint".to_owned(),
        AthenaType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        AthenaType::Array(element) => format!("array({})", presto_type(element)),
        AthenaType::Struct(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(name, t)| format!("{name} {}", presto_type(t)))
                .collect();
            format!("row({})", fields.join(", "))
        }
    }
}

/// A quoted identifier: `"name"`, a `"` inside doubled (column names never have one; database
/// and table names come from settings).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> TableSchema {
        let mut s = TableSchema::new("Devices", "_");
        s.observe_row(br#"{"Device Id":7,"Reading":1.5,"tags":["a"],"loc":{"x":1}}"#)
            .unwrap();
        s
    }

    #[test]
    fn the_view_is_keyed_by_the_tables_own_key_columns() {
        let sql = current_state_sql("lake", "devices_changes", &schema(), &["Device Id"]).unwrap();
        assert!(sql.starts_with("CREATE OR REPLACE VIEW \"lake\".\"devices_changes_current\" AS\n"));
        assert!(sql.contains("PARTITION BY \"device_id\"\n"), "{sql}");
        assert!(sql.contains("FROM \"lake\".\"devices_changes\""), "{sql}");
        assert!(sql.contains("NOT \"_is_deleted\""), "{sql}");
        assert!(
            sql.contains("SELECT \"_event_time\", \"device_id\", \"reading\", "),
            "{sql}"
        );
        assert!(!sql.contains("SELECT \"_event_name\""), "{sql}");
    }

    #[test]
    fn a_key_not_yet_seen_in_the_rows_is_reported() {
        assert_eq!(
            current_state_sql("lake", "t", &schema(), &["missing"]),
            Err(ViewError::KeyNotAColumn("missing".to_owned()))
        );
        assert_eq!(
            current_state_sql("lake", "t", &schema(), &[]),
            Err(ViewError::NoKey)
        );
    }

    #[test]
    fn helper_columns_never_clash_with_attributes() {
        let mut s = schema();
        s.observe_row(br#"{"recency":1,"copy_number":2}"#).unwrap();
        let sql = current_state_select("lake", "t", &s, &["Device Id"]).unwrap();
        assert!(sql.contains("AS \"copy_number_2\""), "{sql}");
        assert!(sql.contains("AS \"recency_2\""), "{sql}");
    }

    #[test]
    fn the_glue_view_holds_the_query_and_presto_columns() {
        let input = view_input("lake", "devices_changes", &schema(), &["Device Id"]).unwrap();
        assert_eq!(input.name, "devices_changes_current");
        assert_eq!(input.table_type.as_deref(), Some("VIRTUAL_VIEW"));
        assert_eq!(input.parameters["presto_view"], "true");
        let text = input.view_original_text.unwrap();
        let encoded = text
            .strip_prefix("/* Presto View: ")
            .and_then(|t| t.strip_suffix(" */"))
            .unwrap();
        let decoded: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode_to_vec(encoded).unwrap()).unwrap();
        assert_eq!(decoded["catalog"], "awsdatacatalog");
        assert_eq!(decoded["schema"], "lake");
        assert!(decoded["originalSql"]
            .as_str()
            .unwrap()
            .starts_with("WITH deduplicated AS"));
        let columns = decoded["columns"].as_array().unwrap();
        let find = |n: &str| columns.iter().find(|c| c["name"] == n).unwrap()["type"].clone();
        assert_eq!(find("device_id"), "bigint");
        assert_eq!(find("reading"), "decimal(2,1)");
        assert_eq!(find("tags"), "array(varchar)");
        assert_eq!(find("loc"), "row(x bigint)");
        assert!(columns.iter().all(|c| c["name"] != "_is_deleted"));
        // Hive spelling in the storage descriptor, same columns in the same order.
        let hive: Vec<_> = input
            .storage_descriptor
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let presto: Vec<_> = columns
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(hive, presto);
        assert_eq!(
            input.storage_descriptor.columns[hive.iter().position(|n| *n == "loc").unwrap()]
                .column_type
                .as_deref(),
            Some("struct<x:bigint>")
        );
    }
}
