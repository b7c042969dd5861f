//! A source table's primary key, as DynamoDB's `DescribeTable` gives it, kept beside the lake.
//!
//! Rows do not say which attributes form the key (the transform contract keeps attribute names
//! only), yet each table's current-state view is keyed by them. Whoever knows the key writes one
//! small JSON object per source table into the lake, under the lake's prefix:
//!
//! ```text
//! <TablePrefix>_key_schemas/<table name>.json
//! {"TableName":"orders","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},…],
//!  "AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},…]}
//! ```
//!
//! On AWS the table-attachment custom resource writes it from `DescribeTable` (in the account
//! that owns the tables, into the lake bucket, which may be in another account); locally
//! `ddb-lake replay` writes it from the change records' `Keys`. The schema keeper reads it to make
//! the view. The field names and shapes are `DescribeTable`'s (DynamoDB API Reference,
//! "TableDescription", "KeySchemaElement", "AttributeDefinition"), so the object can also be
//! written by hand from `aws dynamodb describe-table --query Table`.

use serde::{Deserialize, Serialize};

/// The folder, under the lake's prefix, holding one key schema object per source table.
pub const KEY_SCHEMAS_DIR: &str = "_key_schemas";

/// A table's name, key schema and the definitions of its key attributes. Unknown fields (the rest
/// of a `TableDescription`) are ignored when reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchema {
    pub table_name: String,
    /// The partition key (`HASH`) first, then the sort key (`RANGE`) if the table has one.
    pub key_schema: Vec<KeySchemaElement>,
    /// At least the key attributes' types (`S`, `N` or `B`).
    #[serde(default)]
    pub attribute_definitions: Vec<AttributeDefinition>,
}

/// `KeySchemaElement`: `KeyType` is `HASH` (partition key) or `RANGE` (sort key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    pub attribute_name: String,
    pub key_type: String,
}

/// `AttributeDefinition`: `AttributeType` is `S`, `N` or `B`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

impl KeySchema {
    /// The key attributes' names, partition key first: what a current-state view partitions by.
    pub fn key_attributes(&self) -> Vec<&str> {
        let mut keys: Vec<&KeySchemaElement> = self.key_schema.iter().collect();
        // HASH before RANGE, whatever order the object lists them in.
        keys.sort_by_key(|k| k.key_type != "HASH");
        keys.iter().map(|k| k.attribute_name.as_str()).collect()
    }
}

impl KeySchema {
    /// The key schema a change record shows for `table`: its `dynamodb.Keys` attribute names
    /// and types, in the order the record lists them, named `HASH` then `RANGE`. Which one is
    /// the partition key is a guess: `Keys` is a JSON object, unordered, and AWS's own examples
    /// list either first (the DynamoDB Streams tutorial's `BarkTable` record lists its sort key
    /// `Timestamp` before its partition key `Username`). The view needs only which attributes
    /// form the key, which `Keys` does say. `None` when the record has no readable `Keys`. Used
    /// where no `DescribeTable` is at hand (`ddb-lake replay` on a laptop), and never over a key
    /// schema the lake already has.
    pub fn from_change_record(table: &str, change_record: &[u8]) -> Option<KeySchema> {
        #[derive(Deserialize)]
        struct Change {
            dynamodb: Dynamodb,
        }
        #[derive(Deserialize)]
        struct Dynamodb {
            #[serde(rename = "Keys")]
            keys: serde_json::Map<String, serde_json::Value>,
        }
        let change: Change = serde_json::from_slice(change_record).ok()?;
        let keys = change.dynamodb.keys;
        if keys.is_empty() || keys.len() > 2 {
            return None;
        }
        let mut schema = KeySchema {
            table_name: table.to_owned(),
            key_schema: Vec::new(),
            attribute_definitions: Vec::new(),
        };
        for (i, (name, value)) in keys.iter().enumerate() {
            let attribute_type = value.as_object()?.keys().next()?.clone();
            schema.key_schema.push(KeySchemaElement {
                attribute_name: name.clone(),
                key_type: if i == 0 { "HASH" } else { "RANGE" }.to_owned(),
            });
            schema.attribute_definitions.push(AttributeDefinition {
                attribute_name: name.clone(),
                attribute_type,
            });
        }
        Some(schema)
    }
}

/// The object key (or local path, relative to the lake) of `table`'s key schema:
/// `<table_prefix>_key_schemas/<table>.json`. `table_prefix` is empty or ends in `/`. DynamoDB
/// table names (`[a-zA-Z0-9_.-]{3,255}`) are safe in S3 keys and file names as they are.
pub fn key_schema_object_key(table_prefix: &str, table: &str) -> String {
    format!("{table_prefix}{KEY_SCHEMAS_DIR}/{table}.json")
}

/// The source table named by a key-schema object key `<table_prefix>_key_schemas/<table>.json`,
/// or `None` for any other key.
pub fn table_of_key_schema_object<'a>(table_prefix: &str, object_key: &'a str) -> Option<&'a str> {
    let rest = object_key
        .strip_prefix(table_prefix)?
        .strip_prefix(KEY_SCHEMAS_DIR)?
        .strip_prefix('/')?;
    let table = rest.strip_suffix(".json")?;
    (!table.is_empty() && !table.contains('/')).then_some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_describe_table_output_and_orders_the_key() {
        // The shape of `aws dynamodb describe-table --query Table`, trimmed.
        let text = r#"{"TableName":"Music","TableStatus":"ACTIVE",
            "KeySchema":[{"AttributeName":"SongTitle","KeyType":"RANGE"},
                         {"AttributeName":"Artist","KeyType":"HASH"}],
            "AttributeDefinitions":[{"AttributeName":"Artist","AttributeType":"S"},
                                    {"AttributeName":"SongTitle","AttributeType":"S"}],
            "ItemCount":0}"#;
        let k: KeySchema = serde_json::from_str(text).unwrap();
        assert_eq!(k.table_name, "Music");
        assert_eq!(k.key_attributes(), ["Artist", "SongTitle"]);
    }

    #[test]
    fn a_change_record_shows_its_tables_key() {
        let record =
            br#"{"tableName":"Music","dynamodb":{"Keys":{"Artist":{"S":"a"},"SongTitle":{"S":"b"}},
            "NewImage":{"Artist":{"S":"a"},"SongTitle":{"S":"b"},"Year":{"N":"2024"}}}}"#;
        let k = KeySchema::from_change_record("Music", record).unwrap();
        assert_eq!(k.key_attributes(), ["Artist", "SongTitle"]);
        assert_eq!(k.attribute_definitions[1].attribute_type, "S");
        let one = KeySchema::from_change_record("T", br#"{"dynamodb":{"Keys":{"id":{"N":"1"}}}}"#)
            .unwrap();
        assert_eq!(one.key_schema[0].key_type, "HASH");
        for bad in [
            &b"{}"[..],
            b"not json",
            br#"{"dynamodb":{"Keys":{}}}"#,
            br#"{"dynamodb":{"Keys":{"a":1}}}"#,
        ] {
            assert_eq!(KeySchema::from_change_record("T", bad), None);
        }
    }

    #[test]
    fn object_keys_round_trip() {
        let key = key_schema_object_key("lake/", "my.table-1");
        assert_eq!(key, "lake/_key_schemas/my.table-1.json");
        assert_eq!(
            table_of_key_schema_object("lake/", &key),
            Some("my.table-1")
        );
        assert_eq!(
            table_of_key_schema_object("", "_key_schemas/t.json"),
            Some("t")
        );
        for other in [
            "lake/table=t/year=2025/month=01/day=01/hour=00/x.gz",
            "lake/_key_schemas/.json",
            "lake/_key_schemas/a/b.json",
            "other/_key_schemas/t.json",
            "lake/_key_schemas/t.txt",
        ] {
            assert_eq!(table_of_key_schema_object("lake/", other), None, "{other}");
        }
    }
}
