//! The schema keeper against moto's S3 and Glue: objects put in the lake bucket, their S3 event
//! notifications built as Lambda receives them (URL-encoded keys), the keeper's Glue tables and
//! views read back. moto ignores `UpdateTable`'s `VersionId`; the harness adds Glue's check
//! (tests/common/moto_glue_versions.py), which the race tests rely on.

use crate::common::runtime_api::{Posted, RuntimeApi};
use crate::moto::{self, Moto};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use ddb_lake::catalog::glue::{schema_of, TableInput};
use ddb_lake::catalog::key_schema::key_schema_object_key;
use ddb_lake::catalog::AthenaType;
use ddb_lake::keeper::glue_tables::{GlueTables, Write};
use ddb_lake::keeper::keep::{TableChange, ViewChange};
use ddb_lake::keeper::{Keeper, KeeperSettings, Outcome, S3Event};
use flate2::write::GzEncoder;
use serde_json::{json, Value};
use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

const BUCKET: &str = "lake-bucket";
const DATABASE: &str = "ddb_lake";

struct Lake {
    moto: Moto,
    runtime: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
    keeper: Keeper,
}

fn settings() -> KeeperSettings {
    KeeperSettings::from_lookup(|name| {
        match name {
            "GLUE_DATABASE" => Some(DATABASE),
            "TABLE_PREFIX" => Some("lake/"),
            "PROJECTION_START_YEAR" => Some("2025"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap()
}

impl Lake {
    fn start() -> Lake {
        let moto = Moto::start();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        let (s3, glue) = runtime.block_on(async {
            let shared = moto::sdk_config(&moto.endpoint).await;
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&shared)
                    .force_path_style(true)
                    .build(),
            );
            let glue = aws_sdk_glue::Client::new(&shared);
            s3.create_bucket().bucket(BUCKET).send().await.unwrap();
            glue.create_database()
                .database_input(
                    aws_sdk_glue::types::DatabaseInput::builder()
                        .name(DATABASE)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            (s3, glue)
        });
        let keeper = Keeper {
            glue: GlueTables::new(glue, DATABASE),
            s3: s3.clone(),
            settings: settings(),
        };
        Lake {
            moto,
            runtime,
            s3,
            keeper,
        }
    }

    fn put(&self, key: &str, bytes: Vec<u8>) {
        self.runtime
            .block_on(
                self.s3
                    .put_object()
                    .bucket(BUCKET)
                    .key(key)
                    .body(ByteStream::from(bytes))
                    .send(),
            )
            .unwrap();
    }

    /// Puts `rows` (one JSON object each) gzipped as a lake object of `table`; returns its key.
    fn put_rows(&self, table: &str, name: &str, rows: &[Value]) -> String {
        let key = format!("lake/table={table}/year=2025/month=11/day=20/hour=09/{name}.gz");
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for row in rows {
            writeln!(gz, "{row}").unwrap();
        }
        self.put(&key, gz.finish().unwrap());
        key
    }

    fn put_key_schema(&self, table: &str, keys: &[(&str, &str, &str)]) -> String {
        let key = key_schema_object_key("lake/", table);
        let body = json!({
            "TableName": table,
            "KeySchema": keys.iter().map(|(name, kind, _)| json!({"AttributeName": name, "KeyType": kind})).collect::<Vec<_>>(),
            "AttributeDefinitions": keys.iter().map(|(name, _, t)| json!({"AttributeName": name, "AttributeType": t})).collect::<Vec<_>>(),
        });
        self.put(&key, serde_json::to_vec(&body).unwrap());
        key
    }

    /// Hands the keeper the notification S3 sends for `keys`, as the Lambda gets it.
    fn notify(&self, keys: &[&str]) -> Vec<Outcome> {
        let event: S3Event = serde_json::from_value(notification(keys)).unwrap();
        self.runtime.block_on(async {
            let mut outcomes = Vec::new();
            for record in &event.records {
                let key = record.object_key().unwrap();
                outcomes.push(
                    self.keeper
                        .keep_object(&record.s3.bucket.name, &key)
                        .await
                        .unwrap(),
                );
            }
            outcomes
        })
    }

    fn table(&self, name: &str) -> Option<(TableInput, Option<String>)> {
        self.runtime
            .block_on(self.keeper.glue.get(name))
            .unwrap()
            .map(|v| (v.table, v.version_id))
    }

    fn column_type(&self, table: &str, key: &str) -> Option<AthenaType> {
        let (input, _) = self.table(table)?;
        let schema = schema_of(&input, "_").unwrap();
        schema.column(key).map(|c| c.column_type.clone())
    }
}

/// S3's URL encoding of a key in notifications: blanks as `+`, reserved characters `%XX`.
fn url_encode(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An S3 event notification (Amazon S3 User Guide, "Event message structure") for `keys`.
fn notification(keys: &[&str]) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": moto::REGION,
                "eventTime": "2025-11-20T09:00:00.000Z", "eventName": "ObjectCreated:Put",
                "s3": {"s3SchemaVersion": "1.0", "configurationId": "keeper",
                       "bucket": {"name": BUCKET, "arn": format!("arn:aws:s3:::{BUCKET}")},
                       "object": {"key": url_encode(key), "size": 1, "sequencer": "0A1B2C3D4E5F678901"}}
            })
        })
        .collect();
    json!({ "Records": records })
}

fn row(attributes: Value) -> Value {
    let mut row = json!({
        "_event_name": "INSERT", "_event_id": "e1", "_event_time": "2025-11-20T09:00:00.000000Z",
        "_table_name": "Devices", "_aws_region": "eu-west-1", "_is_deleted": false,
        "_expired_by_ttl": false, "_kinesis_shard_id": "shardId-000000000000",
        "_kinesis_sequence_number": "1"
    });
    for (k, v) in attributes.as_object().unwrap() {
        row[k] = v.clone();
    }
    row
}

fn presto_view(view: &TableInput) -> Value {
    let text = view.view_original_text.as_deref().unwrap();
    let encoded = text
        .strip_prefix("/* Presto View: ")
        .and_then(|t| t.strip_suffix(" */"))
        .unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn rows_create_the_table_and_a_later_object_widens_it() {
    let lake = Lake::start();
    let first = lake.put_rows(
        "Devices",
        "a",
        &[row(
            json!({"Device Id": 7, "reading": 3, "Url": "a", "url": "b"}),
        )],
    );
    let outcome = &lake.notify(&[&first])[0];
    assert_eq!(outcome.table, TableChange::Created);
    assert_eq!(outcome.glue_table.as_deref(), Some("devices_changes"));
    let (table, _) = lake.table("devices_changes").unwrap();
    assert_eq!(
        table.parameters["projection.table.values"], "Devices",
        "the table names its source"
    );
    assert_eq!(
        table.storage_descriptor.location.as_deref(),
        Some("s3://lake-bucket/lake/table=Devices/")
    );
    let serde = &table.storage_descriptor.serde_info.parameters;
    assert_eq!(serde["case.insensitive"], "false");
    assert_eq!(serde["mapping.device_id"], "Device Id");
    assert_eq!(serde["mapping.url"], "Url");
    assert_eq!(serde["mapping.url_2"], "url");
    assert_eq!(
        lake.column_type("devices_changes", "reading"),
        Some(AthenaType::BigInt)
    );

    // A fraction and a 40-digit number: the column widens to a decimal holding any bigint and
    // two decimal places, then to string.
    let second = lake.put_rows("Devices", "b", &[row(json!({"reading": 2.25}))]);
    let outcome = &lake.notify(&[&second])[0];
    assert_eq!(outcome.table, TableChange::Updated);
    assert_eq!(
        outcome.widened,
        [(
            "reading".to_owned(),
            "bigint".to_owned(),
            "decimal(21,2)".to_owned()
        )]
    );
    let third = lake.put_rows(
        "Devices",
        "c",
        &[row(
            json!({"reading": serde_json::from_str::<Value>("1234567890123456789012345678901234567890").unwrap(), "battery": true}),
        )],
    );
    let outcome = &lake.notify(&[&third])[0];
    assert_eq!(outcome.added, ["battery"]);
    assert_eq!(
        lake.column_type("devices_changes", "reading"),
        Some(AthenaType::String)
    );
    // Nothing ever dropped: every column of the first object is still there.
    for key in ["Device Id", "Url", "url", "_event_name"] {
        assert!(lake.column_type("devices_changes", key).is_some(), "{key}");
    }
}

#[test]
fn duplicate_and_out_of_order_events_give_the_same_table() {
    let lake = Lake::start();
    let rows_a = [row(json!({"n": 1}))];
    let rows_b = [row(json!({"n": 1.5, "s": "x"}))];
    // Table T1 sees a then b; table T2 sees b then a.
    let (a1, b1) = (
        lake.put_rows("T1", "a", &rows_a),
        lake.put_rows("T1", "b", &rows_b),
    );
    let (a2, b2) = (
        lake.put_rows("T2", "a", &rows_a),
        lake.put_rows("T2", "b", &rows_b),
    );
    lake.notify(&[&a1, &b1]);
    lake.notify(&[&b2, &a2]);
    let columns = |table: &str| {
        let (input, _) = lake.table(table).unwrap();
        input.storage_descriptor.columns
    };
    assert_eq!(columns("t1_changes"), columns("t2_changes"));
    assert_eq!(
        lake.column_type("t1_changes", "n"),
        Some(AthenaType::Decimal {
            precision: 20,
            scale: 1
        })
    );
    // The same events again: nothing to change, no write at all.
    let (before, version) = lake.table("t1_changes").unwrap();
    let outcomes = lake.notify(&[&b1, &a1, &b1]);
    assert!(
        outcomes.iter().all(|o| o.table == TableChange::Unchanged),
        "{outcomes:?}"
    );
    let (after, version_after) = lake.table("t1_changes").unwrap();
    assert_eq!((after, version_after), (before, version));
}

#[test]
fn a_key_schema_makes_the_current_state_view_which_follows_the_table() {
    let lake = Lake::start();
    // The key schema first: the table is created with the metadata columns and the key; the
    // view waits for the key attribute to show up in rows.
    let ks = lake.put_key_schema("Devices", &[("Device Id", "HASH", "N")]);
    let outcome = &lake.notify(&[&ks])[0];
    assert_eq!(outcome.table, TableChange::Created);
    assert!(
        matches!(&outcome.view, ViewChange::NotYet(why) if why.contains("Device Id")),
        "{outcome:?}"
    );
    let rows = lake.put_rows("Devices", "a", &[row(json!({"Device Id": 7, "temp": 20}))]);
    let outcome = &lake.notify(&[&rows])[0];
    assert_eq!(outcome.view, ViewChange::Created);
    let (view, _) = lake.table("devices_changes_current").unwrap();
    assert_eq!(view.table_type.as_deref(), Some("VIRTUAL_VIEW"));
    let presto = presto_view(&view);
    let sql = presto["originalSql"].as_str().unwrap();
    assert!(sql.contains("PARTITION BY \"device_id\""), "{sql}");
    assert!(
        sql.contains("FROM \"ddb_lake\".\"devices_changes\""),
        "{sql}"
    );
    let names = |p: &Value| -> Vec<String> {
        p["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(names(&presto).contains(&"temp".to_owned()));

    // A new column and a widened type: the view is remade with them (a stale view fails queries).
    let more = lake.put_rows(
        "Devices",
        "b",
        &[row(json!({"Device Id": 8, "temp": 20.5, "Room": "k"}))],
    );
    let outcome = &lake.notify(&[&more])[0];
    assert_eq!(outcome.view, ViewChange::Replaced);
    let (view, _) = lake.table("devices_changes_current").unwrap();
    let presto = presto_view(&view);
    assert!(names(&presto).contains(&"room".to_owned()));
    let temp = presto["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "temp")
        .unwrap()["type"]
        .clone();
    assert_eq!(temp, "decimal(20,1)");
    // The same key schema again changes nothing.
    let outcome = &lake.notify(&[&ks])[0];
    assert_eq!(
        (outcome.table, &outcome.view),
        (TableChange::Unchanged, &ViewChange::Unchanged)
    );
}

#[test]
fn source_tables_whose_names_fold_together_get_their_own_tables() {
    let lake = Lake::start();
    let a = lake.put_rows("Orders", "a", &[row(json!({"x": 1}))]);
    let b = lake.put_rows("orders", "a", &[row(json!({"y": "z"}))]);
    let outcomes = lake.notify(&[&a, &b, &a]);
    assert_eq!(outcomes[0].glue_table.as_deref(), Some("orders_changes"));
    assert_eq!(outcomes[1].glue_table.as_deref(), Some("orders_changes_2"));
    assert_eq!(outcomes[2].glue_table.as_deref(), Some("orders_changes"));
    assert!(lake.column_type("orders_changes", "y").is_none());
    assert!(lake.column_type("orders_changes_2", "y").is_some());
}

#[test]
fn a_write_from_a_stale_read_is_refused() {
    let lake = Lake::start();
    let a = lake.put_rows("T", "a", &[row(json!({"a": 1}))]);
    lake.notify(&[&a]);
    let (stale, stale_version) = lake.table("t_changes").unwrap();
    let b = lake.put_rows("T", "b", &[row(json!({"b": 1}))]);
    lake.notify(&[&b]);
    let write = lake
        .runtime
        .block_on(lake.keeper.glue.update(&stale, stale_version.as_deref()))
        .unwrap();
    assert_eq!(write, Write::Raced);
    assert!(lake.column_type("t_changes", "b").is_some());
}

#[test]
fn racing_keepers_lose_no_column() {
    let lake = Lake::start();
    let keys: Vec<String> = (0..8)
        .map(|i| {
            lake.put_rows(
                "Race",
                &format!("o{i}"),
                &[row(json!({ format!("c{i}"): i }))],
            )
        })
        .collect();
    let outcomes: Vec<Outcome> = lake.runtime.block_on(async {
        let tasks: Vec<_> = keys
            .iter()
            .map(|key| {
                let keeper = lake.keeper.clone();
                let key = key.clone();
                tokio::spawn(async move { keeper.keep_object(BUCKET, &key).await.unwrap() })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        outcomes
    });
    for i in 0..8 {
        assert!(
            lake.column_type("race_changes", &format!("c{i}")).is_some(),
            "column c{i} lost; outcomes: {outcomes:?}"
        );
    }
}

#[test]
fn the_keeper_binary_keeps_tables_from_notifications_through_the_runtime_api() {
    let lake = Lake::start();
    let rows = lake.put_rows("Bin Table", "a", &[row(json!({"k": "v", "n": 5}))]);
    let ks = lake.put_key_schema("Bin Table", &[("k", "HASH", "S")]);
    let events = vec![
        serde_json::to_vec(&notification(&[&rows])).unwrap(),
        serde_json::to_vec(&notification(&[&ks])).unwrap(),
        br#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"lake-bucket"}"#.to_vec(),
        br#"[1, 2]"#.to_vec(),
    ];
    let api = RuntimeApi::start(events, Duration::from_secs(60));
    let mut command = api.command_for(env!("CARGO_BIN_EXE_schema-keeper"), "schema-keeper");
    command
        .env("AWS_ENDPOINT_URL", &lake.moto.endpoint)
        .env("AWS_REGION", moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("GLUE_DATABASE", DATABASE)
        .env("TABLE_PREFIX", "lake/")
        .env("PROJECTION_START_YEAR", "2025")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let posted = api.wait_for(4, Duration::from_secs(120));
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert_eq!(posted.len(), 4, "{posted:?}");
    for ok in &posted[..3] {
        assert!(matches!(ok, Posted::Response { .. }), "{ok:?}");
    }
    match &posted[3] {
        Posted::Error { body, .. } => {
            let error: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(error["errorType"], "NotAnS3Event");
        }
        other => panic!("{other:?}"),
    }
    assert!(lake.table("bin_table_changes").is_some());
    assert!(lake.table("bin_table_changes_current").is_some());
    // One EMF line per invocation on standard output.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let emf: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 3, "{stdout}");
    assert_eq!(emf[0]["TablesCreated"], 1);
    assert_eq!(emf[1]["ViewsWritten"], 1);
}

#[test]
fn a_bad_setting_stops_the_keeper_naming_it() {
    let api = RuntimeApi::start(Vec::new(), Duration::from_secs(5));
    let output = api
        .command_for(env!("CARGO_BIN_EXE_schema-keeper"), "schema-keeper")
        .env("GLUE_DATABASE", "Bad-Name")
        .env("TABLE_PREFIX", "lake/")
        .env("PROJECTION_START_YEAR", "2025")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(all.contains("GLUE_DATABASE"), "{all}");
}
