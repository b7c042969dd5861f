//! `ddb-lake schema` and the catalog behind it, checked against Athena's rules: under the Glue
//! definitions inferred from the rows, every value of every row must be readable exactly.
//!
//! The checker here is written apart from the inference: it applies the OpenX JSON SerDe's
//! reading (a column reads the key its `mapping.<column>` names, case-sensitively; a struct
//! field likewise) and Athena's types to each value, with exact decimal arithmetic:
//! `bigint` holds integers from −2^63 to 2^63−1, `decimal(p,s)` values with at most `s` digits
//! after the point and `p − s` before it, `boolean` JSON booleans, `array<T>` arrays whose
//! elements `T` holds, `struct<…>` objects each of whose keys is a field holding its value,
//! `string` any value (the SerDe writes numbers, arrays and objects as their JSON text).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bigdecimal::BigDecimal;
use ddb_lake::catalog::{schema_of, table_input, Catalog, GlueSettings, TableInput};
use ddb_lake::lake::event_builder::firehose_event_for;
use ddb_lake::{transform_event, Config};
use flate2::read::MultiGzDecoder;
use proptest::prelude::*;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

const BIN: &str = env!("CARGO_BIN_EXE_ddb-lake");
/// Names no column may take: the layout's keys and the Glue tables' partition keys.
const PARTITION_KEYS: [&str; 6] = ["table", "year", "month", "day", "hour", "datehour"];

// ---- a JSON value with its numbers' text, parsed by serde_json -------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Raw {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Raw>),
    Obj(Vec<(String, Raw)>),
}

fn raw(text: &str) -> Raw {
    let text = text.trim();
    match text.as_bytes()[0] {
        b'n' => Raw::Null,
        b't' => Raw::Bool(true),
        b'f' => Raw::Bool(false),
        b'"' => Raw::Str(serde_json::from_str(text).unwrap()),
        b'[' => {
            let items: Vec<&RawValue> = serde_json::from_str(text).unwrap();
            Raw::Arr(items.into_iter().map(|v| raw(v.get())).collect())
        }
        b'{' => Raw::Obj(
            entries(text)
                .into_iter()
                .map(|(k, v)| (k, raw(&v)))
                .collect(),
        ),
        _ => Raw::Num(text.to_owned()),
    }
}

fn entries(text: &str) -> Vec<(String, String)> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = m.next_entry::<String, &RawValue>()? {
                out.push((k, v.get().to_owned()));
            }
            Ok(out)
        }
    }
    serde_json::Deserializer::from_str(text)
        .deserialize_map(V)
        .unwrap()
}

// ---- the checker ----------------------------------------------------------------------------

/// A Glue type, parsed here on its own (not by the catalog's parser).
#[derive(Debug, Clone)]
enum Type {
    String,
    Boolean,
    BigInt,
    Decimal(u32, u32),
    Array(Box<Type>),
    Struct(Vec<(String, Type)>),
}

fn glue_type(text: &str) -> Type {
    fn one(s: &str) -> (Type, &str) {
        let s = s.trim_start();
        for (word, t) in [
            ("string", Type::String),
            ("boolean", Type::Boolean),
            ("bigint", Type::BigInt),
        ] {
            if let Some(rest) = s.strip_prefix(word) {
                return (t, rest);
            }
        }
        if let Some(rest) = s.strip_prefix("decimal(") {
            let (inside, rest) = rest.split_once(')').unwrap();
            let (p, sc) = inside.split_once(',').unwrap();
            return (Type::Decimal(p.parse().unwrap(), sc.parse().unwrap()), rest);
        }
        if let Some(rest) = s.strip_prefix("array<") {
            let (element, rest) = one(rest);
            return (
                Type::Array(Box::new(element)),
                rest.strip_prefix('>').unwrap(),
            );
        }
        let mut rest = s
            .strip_prefix("struct<")
            .unwrap_or_else(|| panic!("type {s}"));
        let mut fields = Vec::new();
        loop {
            let (name, after) = rest.split_once(':').unwrap();
            let (t, after) = one(after);
            fields.push((name.to_owned(), t));
            match after.as_bytes()[0] {
                b',' => rest = &after[1..],
                _ => return (Type::Struct(fields), &after[1..]),
            }
        }
    }
    let (t, rest) = one(text);
    assert!(rest.is_empty(), "type {text}");
    t
}

fn number(text: &str) -> BigDecimal {
    BigDecimal::from_str(text).unwrap()
}

/// Whether `t` holds `v` exactly; the reason when it does not.
fn holds(t: &Type, v: &Raw, mappings: &HashMap<String, String>) -> Result<(), String> {
    let fail = || Err(format!("{t:?} does not hold {v:?}"));
    match (t, v) {
        (_, Raw::Null) | (Type::String, _) => Ok(()),
        (Type::Boolean, Raw::Bool(_)) => Ok(()),
        (Type::BigInt, Raw::Num(n)) => {
            let n = number(n);
            let (min, max) = (BigDecimal::from(i64::MIN), BigDecimal::from(i64::MAX));
            let ok = n.is_integer() && n >= min && n <= max;
            if ok {
                Ok(())
            } else {
                fail()
            }
        }
        (Type::Decimal(p, s), Raw::Num(n)) => {
            let n = number(n);
            let limit = number(&format!("1e{}", p - s));
            if n.with_scale(i64::from(*s)) == n && n.abs() < limit {
                Ok(())
            } else {
                fail()
            }
        }
        (Type::Array(element), Raw::Arr(items)) => items
            .iter()
            .try_for_each(|item| holds(element, item, mappings)),
        (Type::Struct(fields), Raw::Obj(entries)) => {
            for (key, value) in entries {
                // The field that reads this key: its mapping, or its own name.
                let field = fields.iter().find(|(name, _)| {
                    mappings.get(name).map_or(name.as_str(), String::as_str) == key
                });
                match field {
                    Some((_, ft)) => holds(ft, value, mappings)?,
                    None => return Err(format!("no field reads {key:?} of {v:?}")),
                }
            }
            Ok(())
        }
        _ => fail(),
    }
}

/// Checks the Glue definition itself and every row under it.
fn check_table(input: &TableInput, rows: &[String]) -> Result<(), String> {
    let sd = &input.storage_descriptor;
    let serde = &sd.serde_info.parameters;
    if serde.get("case.insensitive").map(String::as_str) != Some("false") {
        return Err("case.insensitive must be false".into());
    }
    let mappings: HashMap<String, String> = serde
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("mapping.")?.to_owned(), v.clone())))
        .collect();
    let mut names = std::collections::HashSet::new();
    let mut by_key: HashMap<&str, Type> = HashMap::new();
    for c in &sd.columns {
        let ok_name = !c.name.is_empty()
            && c.name.len() <= 200
            && c.name
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'));
        if !ok_name || PARTITION_KEYS.contains(&c.name.as_str()) || !names.insert(&c.name) {
            return Err(format!("column name {:?}", c.name));
        }
        let key = mappings
            .get(&c.name)
            .map_or(c.name.as_str(), String::as_str);
        let t = glue_type(c.column_type.as_deref().unwrap());
        if by_key.insert(key, t).is_some() {
            return Err(format!("two columns read {key:?}"));
        }
    }
    for row in rows {
        let Raw::Obj(entries) = raw(row) else {
            return Err(format!("row {row}"));
        };
        for (key, value) in &entries {
            let t = by_key
                .get(key.as_str())
                .ok_or_else(|| format!("no column reads {key:?}"))?;
            holds(t, value, &mappings).map_err(|e| format!("{key:?}: {e}"))?;
        }
    }
    Ok(())
}

// ---- random tables ----------------------------------------------------------------------

/// Attribute names, awkward ones first.
fn attribute_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "Url", "url", "URL", "first name", "a.b", "x-y", "2fa", "größe", "数据", "year",
            "table", "Status", "status", "_x", "qty", "Qty", "lines", "a", "a_b", "A",
        ])
        .prop_map(String::from),
        1 => "[a-zA-Z0-9 ._-]{1,6}",
    ]
}

/// DynamoDB numbers, big and small, as their text.
fn dynamodb_number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (any::<i32>(), 1u32..12).prop_map(|(n, scale)| {
            let digits = n.unsigned_abs().to_string();
            let sign = if n < 0 { "-" } else { "" };
            let padded = format!("{digits:0>width$}", width = scale as usize + 1);
            let (int, frac) = padded.split_at(padded.len() - scale as usize);
            format!("{sign}{int}.{frac}")
        }),
        ("[1-9][0-9]{0,37}", -100i32..80).prop_map(|(d, e)| format!("{d}E{e}")),
        prop::sample::select(vec![
            "0",
            "0.30000000000000004",
            "12345678901234567890123456789012345678",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "12345678901234567890",
            "1E+19",
            "1E-130",
            "9.9999999999999999999999999999999999999E+125",
        ])
        .prop_map(String::from),
    ]
}

/// A typed DynamoDB value.
fn typed_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        "[a-z0-9 ]{0,5}".prop_map(|s| json!({ "S": s })),
        dynamodb_number().prop_map(|n| json!({ "N": n })),
        any::<bool>().prop_map(|b| json!({ "BOOL": b })),
        Just(json!({"NULL": true})),
        Just(json!({"B": "AAEC"})),
        prop::collection::btree_set("[a-z]{1,3}", 1..3).prop_map(|s| json!({ "SS": s })),
        prop::collection::vec(dynamodb_number(), 1..3).prop_map(|n| json!({ "NS": n })),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|l| json!({ "L": l })),
            prop::collection::vec((attribute_name(), inner), 0..3).prop_map(|m| {
                let map: Map<String, Value> = m.into_iter().collect();
                json!({ "M": map })
            }),
        ]
    })
}

/// A key value of the table's key type: number, binary or string.
fn key(table: usize, i: usize) -> Value {
    match table {
        0 => json!({"N": format!("{}", 1000 + i)}),
        1 => json!({"B": STANDARD.encode(format!("key-{i}"))}),
        _ => json!({"S": format!("user#{i}")}),
    }
}

const TABLES: [&str; 3] = ["sensor-readings", "Blobs.v2", "users"];
const KEYS: [&str; 3] = ["device", "Id", "user id"];

fn change_record(table: usize, i: usize, attributes: &[(String, Value)], remove: bool) -> Value {
    let mut image = Map::new();
    image.insert(KEYS[table].to_owned(), key(table, i));
    for (name, value) in attributes {
        image.entry(name.clone()).or_insert_with(|| value.clone());
    }
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1_763_632_799_100u64 + i as u64 * 1000,
        "Keys": {KEYS[table]: key(table, i)},
        "SizeBytes": 100,
    });
    dynamodb[if remove { "OldImage" } else { "NewImage" }] = Value::Object(image);
    json!({
        "awsRegion": "eu-central-1",
        "eventID": format!("event-{table}-{i}"),
        "eventName": if remove { "REMOVE" } else { "INSERT" },
        "tableName": TABLES[table],
        "dynamodb": dynamodb,
        "eventSource": "aws:dynamodb",
    })
}

/// Rows by source table, through the Lambda's own transformation.
fn rows_of(records: &[Value], config: &Config) -> BTreeMap<String, Vec<String>> {
    let texts: Vec<Vec<u8>> = records
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap())
        .collect();
    let event = firehose_event_for(&texts, 0);
    let response = transform_event(&event, config)
        .unwrap()
        .finish(usize::MAX)
        .unwrap();
    let response: Value = serde_json::from_slice(&response).unwrap();
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in response["records"].as_array().unwrap() {
        if record["result"] == "Ok" {
            let table = record["metadata"]["partitionKeys"]["table"]
                .as_str()
                .unwrap()
                .to_owned();
            let row = STANDARD.decode(record["data"].as_str().unwrap()).unwrap();
            rows.entry(table)
                .or_default()
                .push(String::from_utf8(row).unwrap());
        }
    }
    rows
}

fn settings() -> GlueSettings {
    GlueSettings::new("s3://bucket/lake/")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random items of three tables (number, binary and string keys, no sort key), random
    /// attribute names, random values: the inferred definitions hold every value of every row;
    /// a definition read back from Glue and widened by the later rows declares the same types
    /// as one inferred from all rows at once.
    #[test]
    fn inferred_tables_hold_every_value_of_every_row(
        items in prop::collection::vec(
            (0usize..3, prop::collection::vec((attribute_name(), typed_value()), 0..6), any::<bool>()),
            1..24,
        ),
        split in any::<prop::sample::Index>(),
    ) {
        let config = Config::default();
        let records: Vec<Value> = items
            .iter()
            .enumerate()
            .map(|(i, (table, attributes, remove))| change_record(*table, i, attributes, *remove))
            .collect();
        let rows = rows_of(&records, &config);
        let mut catalog = Catalog::new(&config);
        for (table, rows) in &rows {
            for row in rows {
                prop_assert!(catalog.table_mut(table).observe_row(row.as_bytes()).is_ok());
            }
        }
        let inputs = catalog.table_inputs(&settings());
        prop_assert_eq!(inputs.len(), rows.len());
        for (schema, input) in catalog.tables().zip(&inputs) {
            let table_rows = &rows[&schema.source_table];
            if let Err(e) = check_table(input, table_rows) {
                prop_assert!(false, "{}: {}\n{}", schema.source_table, e,
                    serde_json::to_string_pretty(input).unwrap());
            }
            // Kept up to date object by object: the first rows, into Glue and back, then the rest.
            let at = split.index(table_rows.len() + 1);
            let mut first = ddb_lake::catalog::TableSchema::new(&schema.source_table, "_");
            for row in &table_rows[..at] {
                first.observe_row(row.as_bytes()).unwrap();
            }
            let stored = serde_json::to_string(&table_input(&first, &input.name, &settings())).unwrap();
            let mut kept = schema_of(&serde_json::from_str(&stored).unwrap(), "_").unwrap();
            for row in &table_rows[at..] {
                kept.observe_row(row.as_bytes()).unwrap();
            }
            for column in &schema.columns {
                let other = kept.column(&column.key).unwrap();
                prop_assert_eq!(&other.column_type, &column.column_type, "{}", column.key);
            }
            // And it holds the rows too (names may differ: they are given in arrival order).
            let kept_input = table_input(&kept, &input.name, &settings());
            prop_assert!(check_table(&kept_input, table_rows).is_ok());
        }
    }
}

#[test]
fn the_checker_refuses_what_athena_cannot_read() {
    let m = HashMap::new();
    let no = |t: &str, v: &str| assert!(holds(&glue_type(t), &raw(v), &m).is_err(), "{t} {v}");
    let yes = |t: &str, v: &str| assert!(holds(&glue_type(t), &raw(v), &m).is_ok(), "{t} {v}");
    yes("bigint", "9223372036854775807");
    no("bigint", "9223372036854775808");
    no("bigint", "1.5");
    yes("bigint", "1.0");
    yes("decimal(3,2)", "9.99");
    no("decimal(3,2)", "10.0");
    no("decimal(3,2)", "0.001");
    no("boolean", "1");
    yes("array<bigint>", "[1,null]");
    no("array<bigint>", "[1,\"a\"]");
    no("array<bigint>", "1");
    yes("struct<a:bigint>", "{\"a\":1}");
    no("struct<a:bigint>", "{\"a\":1,\"b\":2}");
    no("struct<a:bigint>", "{\"A\":1}");
    yes("string", "[1,{\"x\":true}]");
    // A mapping applies to struct fields of that name as well.
    let mapped = HashMap::from([("a".to_owned(), "A".to_owned())]);
    assert!(holds(&glue_type("struct<a:bigint>"), &raw("{\"A\":1}"), &mapped).is_ok());
    assert!(holds(&glue_type("struct<a:bigint>"), &raw("{\"a\":1}"), &mapped).is_err());
}

// ---- the "done when": three tables through replay and schema ------------------------

fn attrs(pairs: Value) -> Vec<(String, Value)> {
    pairs
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Change records of three tables: number keys (partition and sort key), binary keys, and a
/// string key without sort key; names differing only in case, with blanks, dots and dashes; a
/// number attribute that is sometimes a string; numbers that do not fit `decimal(38,6)`.
fn three_tables() -> Vec<Value> {
    let readings = |i: usize, value: Value, reading: &str| {
        let mut r = change_record(
            0,
            i,
            &attrs(json!({
                "ts": {"N": format!("{}", 1_763_632_799 + i)},
                "value": value,
                "reading": {"N": reading},
                "Temperature": {"N": "21.5"},
                "temperature": {"S": "warm"},
                "calibration.offset": {"N": "-0.000001"},
                "history": {"L": [{"N": "1"}, {"N": "2.25"}]},
            })),
            false,
        );
        r["dynamodb"]["Keys"]["ts"] = json!({"N": format!("{}", 1_763_632_799 + i)});
        r
    };
    let blobs = |i: usize, remove: bool| {
        let mut r = change_record(
            1,
            i,
            &attrs(json!({
                "Part": {"B": STANDARD.encode([i as u8, 0xff])},
                "payload": {"B": "iVBORw0KGgo="},
                "sizes": {"NS": ["1", "1E+40", "0.5"]},
                "checksums": {"BS": ["AAEC", "AwQF"]},
                "parts": {"L": [{"M": {"n": {"N": "1"}, "etag": {"S": "a"}}}, {"M": {"n": {"N": "2"}}}]},
                "labels": {"L": [{"M": {"Name": {"S": "x"}}}]},
            })),
            remove,
        );
        r["dynamodb"]["Keys"]["Part"] = json!({"B": STANDARD.encode([i as u8, 0xff])});
        r
    };
    let users = |i: usize, extra: Value| {
        let mut a = json!({
            "Url": {"S": "https://example.com/A"},
            "url": {"S": "https://example.com/a"},
            "URL": {"NULL": true},
            "first name": {"S": "Anna"},
            "e-mail": {"S": "anna@example.com"},
            "2fa": {"BOOL": true},
            "größe": {"S": "M"},
            "year": {"N": "1990"},
            "table": {"S": "kitchen"},
            "Address": {"M": {"City": {"S": "Zürich"}, "zip code": {"S": "8001"}}},
            "tags": {"SS": ["a", "b"]},
        });
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        change_record(2, i, &attrs(a), false)
    };
    vec![
        readings(
            0,
            json!({"N": "12"}),
            "0.1234567890123456789012345678901234567",
        ),
        readings(
            1,
            json!({"S": "n/a"}),
            "12345678901234567890123456789012345678",
        ),
        readings(2, json!({"N": "0.5"}), "1E-130"),
        readings(
            3,
            json!({"N": "99999999999999999999"}),
            "9.9999999999999999999999999999999999999E+125",
        ),
        blobs(10, false),
        blobs(11, false),
        blobs(10, true),
        users(20, json!({})),
        users(
            21,
            json!({"URL": {"S": "HTTPS://EXAMPLE.COM"}, "score": {"N": "0.30000000000000004"}}),
        ),
        users(22, json!({"score": {"N": "7"}, "Score": {"S": "seven"}})),
    ]
}

fn ddb_lake(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("METADATA_PREFIX")
        .env_remove("FLATTEN_SEPARATOR")
        .env_remove("LIST_MODE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every row of the lake's `table=<source>/` objects.
fn lake_rows(lake: &Path, source: &str) -> Vec<String> {
    let mut rows = Vec::new();
    let mut stack = vec![lake.join("lake").join(format!("table={source}"))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mut text = String::new();
                MultiGzDecoder::new(std::fs::File::open(&path).unwrap())
                    .read_to_string(&mut text)
                    .unwrap();
                rows.extend(text.lines().map(String::from));
            }
        }
    }
    rows
}

#[test]
fn replay_then_schema_gives_three_tables_that_read_every_value_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("changes.jsonl");
    let text: Vec<String> = three_tables().iter().map(Value::to_string).collect();
    std::fs::write(&records, text.join("\n") + "\n").unwrap();
    let lake = dir.path().join("lake");
    ddb_lake(&[
        "replay",
        records.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
    ]);
    let out = ddb_lake(&["schema", "--lake", lake.to_str().unwrap()]);
    let inputs: Vec<TableInput> = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = inputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "blobs_v2_changes",
            "sensor_readings_changes",
            "users_changes"
        ]
    );
    let mut total = 0;
    for input in &inputs {
        let source = &input.parameters["projection.table.values"];
        let rows = lake_rows(&lake, source);
        total += rows.len();
        check_table(input, &rows).unwrap_or_else(|e| panic!("{source}: {e}"));
    }
    assert_eq!(total, 10, "every change is a row");

    let column = |table: &str, name: &str| -> (String, Option<String>) {
        let input = inputs.iter().find(|t| t.name == table).unwrap();
        let c = input
            .storage_descriptor
            .columns
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{table} has no column {name}"));
        let mapping = input
            .storage_descriptor
            .serde_info
            .parameters
            .get(&format!("mapping.{name}"))
            .cloned();
        (c.column_type.clone().unwrap(), mapping)
    };
    let typed = |table: &str, name: &str| column(table, name).0;
    // Number keys are bigint; binary keys base64 strings.
    assert_eq!(typed("sensor_readings_changes", "device"), "bigint");
    assert_eq!(typed("sensor_readings_changes", "ts"), "bigint");
    assert_eq!(typed("blobs_v2_changes", "id"), "string");
    // A number that is sometimes a string, and numbers past decimal(38,6): strings.
    assert_eq!(typed("sensor_readings_changes", "value"), "string");
    assert_eq!(typed("sensor_readings_changes", "reading"), "string");
    assert_eq!(
        typed("sensor_readings_changes", "history"),
        "array<decimal(21,2)>"
    );
    assert_eq!(
        column("sensor_readings_changes", "calibration_offset"),
        (
            "decimal(6,6)".to_owned(),
            Some("calibration.offset".to_owned())
        )
    );
    // 0.30000000000000004 and 7: seventeen digits after the point, bigint's nineteen before.
    assert_eq!(typed("users_changes", "score"), "decimal(36,17)");
    assert_eq!(
        column("users_changes", "score_2"),
        ("string".into(), Some("Score".into()))
    );
    // Names differing only in case: a column each, through mappings.
    assert_eq!(
        column("sensor_readings_changes", "temperature"),
        ("decimal(3,1)".into(), Some("Temperature".into()))
    );
    assert_eq!(
        column("sensor_readings_changes", "temperature_2"),
        ("string".into(), Some("temperature".into()))
    );
    assert_eq!(
        column("users_changes", "url"),
        ("string".into(), Some("Url".into()))
    );
    assert_eq!(
        column("users_changes", "url_2"),
        ("string".into(), Some("url".into()))
    );
    assert_eq!(column("users_changes", "url_3").1.as_deref(), Some("URL"));
    assert_eq!(
        column("users_changes", "user_id").1.as_deref(),
        Some("user id")
    );
    assert_eq!(
        column("users_changes", "e_mail").1.as_deref(),
        Some("e-mail")
    );
    assert_eq!(column("users_changes", "year_2").1.as_deref(), Some("year"));
    assert_eq!(
        column("users_changes", "table_2").1.as_deref(),
        Some("table")
    );
    assert_eq!(
        column("users_changes", "address_city").1.as_deref(),
        Some("Address_City")
    );
    assert_eq!(
        column("users_changes", "address_zip_code").1.as_deref(),
        Some("Address_zip code")
    );
    assert_eq!(typed("users_changes", "2fa"), "boolean");
    assert_eq!(typed("users_changes", "tags"), "array<string>");
    // Lists of maps: struct where the keys are plain, string otherwise.
    assert_eq!(
        typed("blobs_v2_changes", "parts"),
        "array<struct<n:bigint,etag:string>>"
    );
    assert_eq!(typed("blobs_v2_changes", "labels"), "string");
    // 1E+40 fits no decimal: the set is read as its JSON text.
    assert_eq!(typed("blobs_v2_changes", "sizes"), "string");
    assert_eq!(typed("blobs_v2_changes", "checksums"), "array<string>");
}

#[test]
fn schema_reads_change_records_and_exports_as_replay_and_backfill_write_them() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let export = format!("{root}/sample-records/export");
    let changes = format!("{root}/sample-records/change-records.jsonl");
    ddb_lake(&["backfill", &export, "--lake", lake.to_str().unwrap()]);
    ddb_lake(&["replay", &changes, "--lake", lake.to_str().unwrap()]);
    let from_lake = ddb_lake(&["schema", "--lake", lake.to_str().unwrap()]);
    let direct = ddb_lake(&["schema", "--export", &export, "--records", &changes]);
    assert_eq!(direct, from_lake);
    // One table, as an object, at a location of your own.
    let one: Value = serde_json::from_str(&ddb_lake(&[
        "schema",
        "--records",
        &changes,
        "--table",
        "orders",
        "--location",
        "s3://my-lake/lake/",
    ]))
    .unwrap();
    assert_eq!(one["Name"], "orders_changes");
    assert_eq!(
        one["StorageDescriptor"]["Location"],
        "s3://my-lake/lake/table=orders/"
    );
}

#[test]
fn schema_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let fail = |args: &[&str], mentions: &str| {
        let out = Command::new(BIN).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(err.contains(mentions), "{err} should mention {mentions}");
        assert!(!err.contains("panicked"), "{err}");
    };
    let lake = dir.path().to_str().unwrap();
    fail(&["schema"], "--lake");
    fail(&["schema", "--lake", lake], "cannot read");
    std::fs::create_dir(dir.path().join("lake")).unwrap();
    fail(&["schema", "--lake", lake], "no rows to infer from");
    let changes = format!(
        "{}/sample-records/change-records.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    fail(
        &["schema", "--records", &changes, "--table", "nope"],
        "no source table nope",
    );
    fail(
        &[
            "schema",
            "--records",
            &changes,
            "--location",
            "s3://b/no-slash",
        ],
        "--location",
    );
    fail(
        &["schema", "--records", &changes, "--location", "/local/"],
        "--location",
    );
    fail(
        &[
            "schema",
            "--records",
            &changes,
            "--projection-start-year",
            "1990",
        ],
        "--projection-start-year",
    );
    // A row that is not JSON is reported and skipped, not fatal.
    let object = dir
        .path()
        .join("lake/table=t/year=2024/month=01/day=01/hour=00/x.gz");
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, b"{\"a\":1}\nnot json\n").unwrap();
    std::fs::write(&object, gz.finish().unwrap()).unwrap();
    let out = Command::new(BIN)
        .args(["schema", "--lake", lake])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.gz:2:") && err.contains("skipped"), "{err}");
    let tables: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The lake's 2024 rows move the projection's start back.
    assert_eq!(
        tables[0]["Parameters"]["projection.datehour.range"],
        "year=2024/month=01/day=01/hour=00,NOW"
    );
}
