//! One request, carried out: the calls [`super::tables`] decides on, made through
//! [`DynamoDb`] and [`KeySchemaStore`], until every table is where it should be or the time is up.
//!
//! - Create / Update: every table is described (a missing table fails the request) and its key
//!   schema object written; then, with KinesisDataStreams, every table's destination is driven
//!   to ACTIVE on our stream (all tables at once, so the waits overlap), and on Update the tables
//!   that left the list (or all of them, when ChangeSource left KinesisDataStreams) are
//!   detached from the old stream; with DynamoDBStreams, the one table's stream is enabled or
//!   checked and its ARN returned as `LatestStreamArn`.
//! - Delete: with KinesisDataStreams, destinations to our stream are disabled (tables already
//!   gone are fine). With DynamoDBStreams nothing is done: other readers may use the stream.
//!   Key schema objects stay (the lake's data stays too). Properties that do not read (a Create
//!   that failed on them) mean nothing was attached: Delete succeeds.

use super::dynamodb::DynamoDb;
use super::error::AttachError;
use super::event::{ChangeSource, Properties, Request, RequestType};
use super::key_schemas::KeySchemaStore;
use super::tables::{
    attach_step, detach_step, only_table, removed_tables, stream_step, Progress, Step, StreamStep,
};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The `Data` key holding the table's DynamoDB stream ARN (DynamoDBStreams; the Pipe's source).
pub const LATEST_STREAM_ARN: &str = "LatestStreamArn";

/// How often destinations are looked at while they change, and when to stop waiting (early
/// enough to still answer CloudFormation).
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub poll: Duration,
    pub deadline: Instant,
}

/// The answer's `Data` on success.
pub type Data = BTreeMap<String, String>;

/// Carries out `request`.
pub async fn apply<D: DynamoDb + Sync, S: KeySchemaStore + Sync>(
    request: &Request,
    dynamodb: &D,
    store: &S,
    pacing: Pacing,
) -> Result<Data, AttachError> {
    match &request.request_type {
        RequestType::Create | RequestType::Update => {
            let properties = Properties::from_value(&request.resource_properties)?;
            // Old properties that do not read attached nothing to undo.
            let old = match request.request_type {
                RequestType::Update => request
                    .old_resource_properties
                    .as_ref()
                    .and_then(|v| Properties::from_value(v).ok()),
                _ => None,
            };
            put_in_place(&properties, old.as_ref(), dynamodb, store, pacing).await
        }
        RequestType::Delete => {
            match Properties::from_value(&request.resource_properties) {
                Ok(properties) => {
                    if let Some(stream) = &properties.stream_arn {
                        detach(dynamodb, properties.kinesis_tables(), stream, pacing).await?;
                    }
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "Delete with properties that do not read: nothing was attached with them"
                ),
            }
            Ok(Data::new())
        }
        RequestType::Other(kind) => Err(AttachError::UnknownRequestType(kind.clone())),
    }
}

async fn put_in_place<D: DynamoDb + Sync, S: KeySchemaStore + Sync>(
    properties: &Properties,
    old: Option<&Properties>,
    dynamodb: &D,
    store: &S,
    pacing: Pacing,
) -> Result<Data, AttachError> {
    // Checked before anything is written.
    let streams_table = match properties.change_source {
        ChangeSource::DynamoDbStreams => Some(only_table(&properties.table_names)?),
        ChangeSource::KinesisDataStreams => None,
    };
    let mut infos = Vec::with_capacity(properties.table_names.len());
    for table in &properties.table_names {
        let info =
            dynamodb
                .describe_table(table)
                .await?
                .ok_or_else(|| AttachError::TableNotFound {
                    table: table.clone(),
                })?;
        let key = store
            .put(
                &properties.lake_bucket,
                &properties.table_prefix,
                &properties.lake_kms_key_arn,
                &info.key_schema,
            )
            .await?;
        tracing::info!(
            table,
            bucket = properties.lake_bucket,
            key,
            "key schema written"
        );
        infos.push(info);
    }
    let mut data = Data::new();
    match (&properties.stream_arn, streams_table) {
        (Some(ours), _) => {
            let previous = old.and_then(|o| o.stream_arn.as_deref());
            attach(dynamodb, &properties.table_names, ours, previous, pacing).await?;
        }
        (None, Some(table)) => {
            let arn = match stream_step(table, infos[0].stream.as_ref())? {
                StreamStep::Use(arn) => {
                    tracing::info!(table, stream = arn, "the table's stream is used as it is");
                    arn
                }
                StreamStep::Enable => enable_stream(dynamodb, table).await?,
            };
            data.insert(LATEST_STREAM_ARN.to_owned(), arn);
        }
        (None, None) => {}
    }
    if let Some(old) = old {
        if let Some(old_stream) = &old.stream_arn {
            let gone = removed_tables(old.kinesis_tables(), properties.kinesis_tables());
            detach(dynamodb, &gone, old_stream, pacing).await?;
        }
    }
    Ok(data)
}

async fn enable_stream<D: DynamoDb>(dynamodb: &D, table: &str) -> Result<String, AttachError> {
    let arn = match dynamodb.enable_stream(table).await? {
        Some(arn) => arn,
        // Not in UpdateTable's answer: DescribeTable has it.
        None => dynamodb
            .describe_table(table)
            .await?
            .and_then(|info| info.stream)
            .and_then(|s| s.arn)
            .ok_or_else(|| AttachError::DynamoDb {
                operation: "UpdateTable",
                table: table.to_owned(),
                message: "the stream was enabled but no LatestStreamArn was reported".to_owned(),
            })?,
    };
    tracing::info!(
        table,
        stream = arn,
        "DynamoDB stream enabled (NEW_AND_OLD_IMAGES)"
    );
    Ok(arn)
}

/// Where one table's destination is heading.
#[derive(Clone, Copy)]
enum Goal<'a> {
    Attach {
        ours: &'a str,
        previous: Option<&'a str>,
    },
    Detach {
        ours: &'a str,
    },
}

async fn attach<D: DynamoDb>(
    dynamodb: &D,
    tables: &[String],
    ours: &str,
    previous: Option<&str>,
    pacing: Pacing,
) -> Result<(), AttachError> {
    drive(dynamodb, tables, Goal::Attach { ours, previous }, pacing).await
}

async fn detach<D: DynamoDb>(
    dynamodb: &D,
    tables: &[String],
    ours: &str,
    pacing: Pacing,
) -> Result<(), AttachError> {
    drive(dynamodb, tables, Goal::Detach { ours }, pacing).await
}

/// Looks at every unfinished table, makes the call its next step asks for, and waits a poll
/// interval between rounds, until all are done or the deadline comes.
async fn drive<D: DynamoDb>(
    dynamodb: &D,
    tables: &[String],
    goal: Goal<'_>,
    pacing: Pacing,
) -> Result<(), AttachError> {
    let mut pending: Vec<(&str, Progress, String)> = tables
        .iter()
        .map(|t| (t.as_str(), Progress::default(), String::new()))
        .collect();
    loop {
        let mut unfinished = Vec::new();
        for (table, mut progress, _) in pending {
            let Some(destinations) = dynamodb.describe_destinations(table).await? else {
                match goal {
                    // A table deleted since: nothing streams from it.
                    Goal::Detach { .. } => continue,
                    Goal::Attach { .. } => {
                        return Err(AttachError::TableNotFound {
                            table: table.to_owned(),
                        })
                    }
                }
            };
            let step = match goal {
                Goal::Attach { ours, previous } => {
                    attach_step(table, &destinations, ours, previous, progress)?
                }
                Goal::Detach { ours } => detach_step(&destinations, ours, progress),
            };
            let ours = match goal {
                Goal::Attach { ours, .. } | Goal::Detach { ours } => ours,
            };
            match &step {
                Step::Done => {
                    tracing::info!(table, stream = ours, goal = goal.name(), "done");
                    continue;
                }
                Step::Enable => {
                    dynamodb.enable_destination(table, ours).await?;
                    progress.enabled = true;
                    tracing::info!(
                        table,
                        stream = ours,
                        "Kinesis streaming destination enabled (MICROSECOND)"
                    );
                }
                Step::RaisePrecision => {
                    dynamodb.raise_precision(table, ours).await?;
                    progress.precision_raised = true;
                    tracing::info!(table, stream = ours, "precision raised to MICROSECOND");
                }
                Step::Disable(stream) => {
                    dynamodb.disable_destination(table, stream).await?;
                    progress.disabled = true;
                    tracing::info!(
                        table,
                        stream = stream.as_str(),
                        "Kinesis streaming destination disabled"
                    );
                }
                Step::Wait => {}
            }
            let seen = destinations
                .iter()
                .map(|d| format!("{} {}", d.stream_arn, d.status.as_api()))
                .collect::<Vec<_>>()
                .join(", ");
            let seen = format!(
                "table {table} ({} {ours}; reported: {})",
                goal.name(),
                if seen.is_empty() { "none" } else { &seen }
            );
            unfinished.push((table, progress, seen));
        }
        if unfinished.is_empty() {
            return Ok(());
        }
        if Instant::now() + pacing.poll >= pacing.deadline {
            let waiting = unfinished
                .iter()
                .map(|(_, _, seen)| seen.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(AttachError::TimedOut { waiting });
        }
        tokio::time::sleep(pacing.poll).await;
        pending = unfinished;
    }
}

impl Goal<'_> {
    fn name(&self) -> &'static str {
        match self {
            Goal::Attach { .. } => "attaching to",
            Goal::Detach { .. } => "detaching from",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::tables::{
        Destination, DestinationStatus, Precision, TableInfo, TableStream,
    };
    use crate::catalog::key_schema::{AttributeDefinition, KeySchema, KeySchemaElement};
    use serde_json::{json, Value};
    use std::collections::HashMap;
    use std::sync::Mutex;

    const OURS: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/lake";
    const OTHER: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/audit";

    /// A DynamoDB held in memory: tables, their streams and destinations. A destination enabled
    /// or updated shows its in-between status (ENABLING, UPDATING, DISABLING) to the next
    /// DescribeKinesisStreamingDestination, then its end state, as DynamoDB does over time.
    #[derive(Default)]
    struct Memory {
        state: Mutex<State>,
    }

    #[derive(Default)]
    struct State {
        tables: HashMap<String, (TableInfo, Vec<Destination>)>,
        /// (table, stream) → the status the next look shows after the current one.
        settling: HashMap<(String, String), DestinationStatus>,
        calls: Vec<String>,
    }

    fn info(table: &str, stream: Option<(&str, &str)>) -> TableInfo {
        TableInfo {
            key_schema: KeySchema {
                table_name: table.to_owned(),
                key_schema: vec![KeySchemaElement {
                    attribute_name: "pk".into(),
                    key_type: "HASH".into(),
                }],
                attribute_definitions: vec![AttributeDefinition {
                    attribute_name: "pk".into(),
                    attribute_type: "N".into(),
                }],
            },
            stream: stream.map(|(view, arn)| TableStream {
                view_type: view.to_owned(),
                arn: Some(arn.to_owned()),
            }),
        }
    }

    impl Memory {
        fn with_table(self, table: &str, destinations: Vec<Destination>) -> Memory {
            self.with(table, info(table, None), destinations)
        }
        fn with(self, table: &str, info: TableInfo, destinations: Vec<Destination>) -> Memory {
            self.state
                .lock()
                .unwrap()
                .tables
                .insert(table.to_owned(), (info, destinations));
            self
        }
        fn calls(&self) -> Vec<String> {
            self.state.lock().unwrap().calls.clone()
        }
        fn destinations(&self, table: &str) -> Vec<Destination> {
            self.state.lock().unwrap().tables[table].1.clone()
        }
        fn set(&self, table: &str, stream: &str, now: DestinationStatus, then: DestinationStatus) {
            let mut s = self.state.lock().unwrap();
            let dests = &mut s.tables.get_mut(table).unwrap().1;
            match dests.iter_mut().find(|d| d.stream_arn == stream) {
                Some(d) => d.status = now,
                None => dests.push(dest(stream, now, None)),
            }
            s.settling
                .insert((table.to_owned(), stream.to_owned()), then);
        }
    }

    fn dest(stream: &str, status: DestinationStatus, precision: Option<Precision>) -> Destination {
        Destination::reported(stream, status, precision)
    }

    impl DynamoDb for Memory {
        async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, AttachError> {
            let s = self.state.lock().unwrap();
            Ok(s.tables.get(table).map(|(info, _)| info.clone()))
        }
        async fn describe_destinations(
            &self,
            table: &str,
        ) -> Result<Option<Vec<Destination>>, AttachError> {
            let mut s = self.state.lock().unwrap();
            let Some((_, dests)) = s.tables.get(table) else {
                return Ok(None);
            };
            let seen = dests.clone();
            // What this look showed settles before the next one.
            let settling: Vec<_> = s
                .settling
                .iter()
                .filter(|((t, _), _)| t == table)
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            for ((t, stream), then) in settling {
                s.settling.remove(&(t.clone(), stream.clone()));
                let dests = &mut s.tables.get_mut(&t).unwrap().1;
                if let Some(d) = dests.iter_mut().find(|d| d.stream_arn == stream) {
                    d.status = then;
                }
            }
            Ok(Some(seen))
        }
        async fn enable_destination(&self, table: &str, stream: &str) -> Result<(), AttachError> {
            self.state
                .lock()
                .unwrap()
                .calls
                .push(format!("enable {table}"));
            self.set(
                table,
                stream,
                DestinationStatus::Enabling,
                DestinationStatus::Active,
            );
            let mut s = self.state.lock().unwrap();
            let d = s.tables.get_mut(table).unwrap().1.iter_mut();
            for d in d.filter(|d| d.stream_arn == stream) {
                d.precision = Some(Precision::Microsecond);
            }
            Ok(())
        }
        async fn raise_precision(&self, table: &str, stream: &str) -> Result<(), AttachError> {
            self.state
                .lock()
                .unwrap()
                .calls
                .push(format!("raise {table}"));
            self.set(
                table,
                stream,
                DestinationStatus::Updating,
                DestinationStatus::Active,
            );
            let mut s = self.state.lock().unwrap();
            for d in s.tables.get_mut(table).unwrap().1.iter_mut() {
                d.precision = Some(Precision::Microsecond);
            }
            Ok(())
        }
        async fn disable_destination(&self, table: &str, stream: &str) -> Result<(), AttachError> {
            self.state
                .lock()
                .unwrap()
                .calls
                .push(format!("disable {table} {stream}"));
            self.set(
                table,
                stream,
                DestinationStatus::Disabling,
                DestinationStatus::Disabled,
            );
            Ok(())
        }
        async fn enable_stream(&self, table: &str) -> Result<Option<String>, AttachError> {
            let mut s = self.state.lock().unwrap();
            s.calls.push(format!("enable-stream {table}"));
            let arn = format!("arn:aws:dynamodb:us-east-1:111122223333:table/{table}/stream/1");
            s.tables.get_mut(table).unwrap().0.stream = Some(TableStream {
                view_type: "NEW_AND_OLD_IMAGES".into(),
                arn: Some(arn.clone()),
            });
            Ok(Some(arn))
        }
    }

    /// Key schema objects written, by key.
    #[derive(Default)]
    struct Objects(Mutex<BTreeMap<String, (String, String)>>);

    impl KeySchemaStore for Objects {
        async fn put(
            &self,
            bucket: &str,
            prefix: &str,
            kms: &str,
            schema: &KeySchema,
        ) -> Result<String, AttachError> {
            let key = crate::catalog::key_schema::key_schema_object_key(prefix, &schema.table_name);
            let body = serde_json::to_string(schema).unwrap();
            self.0
                .lock()
                .unwrap()
                .insert(format!("{bucket}/{key}"), (body, kms.to_owned()));
            Ok(key)
        }
    }

    fn properties(tables: &[&str], source: &str) -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:attach",
            "TableNames": tables,
            "ChangeSource": source,
            "StreamArn": OURS,
            "LakeBucket": "lake",
            "TablePrefix": "p/",
            "LakeKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/k"
        })
    }

    fn request(kind: &str, props: Value, old: Option<Value>) -> Request {
        let mut v = json!({
            "RequestType": kind,
            "RequestId": "r1",
            "ResponseURL": "https://example.invalid/r",
            "ResourceType": "Custom::TableAttachment",
            "LogicalResourceId": "Tables",
            "StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/s/u",
            "ResourceProperties": props,
        });
        if let Some(old) = old {
            v["OldResourceProperties"] = old;
            v["PhysicalResourceId"] = json!("ddb-lake-tables-s-Tables");
        }
        Request::from_value(v).unwrap()
    }

    fn pacing() -> Pacing {
        Pacing {
            poll: Duration::ZERO,
            // Only bounds a loop that never ends.
            deadline: Instant::now() + Duration::from_secs(3600),
        }
    }

    async fn run(db: &Memory, store: &Objects, r: &Request) -> Result<Data, AttachError> {
        apply(r, db, store, pacing()).await
    }

    #[tokio::test]
    async fn create_enables_each_table_and_writes_its_key_schema() {
        let db = Memory::default().with_table("orders", vec![]).with_table(
            "devices",
            vec![dest(OURS, DestinationStatus::Disabled, None)],
        );
        let store = Objects::default();
        let r = request(
            "Create",
            properties(&["orders", "devices"], "KinesisDataStreams"),
            None,
        );
        let data = run(&db, &store, &r).await.unwrap();
        assert!(data.is_empty());
        assert_eq!(db.calls(), ["enable orders", "enable devices"]);
        for t in ["orders", "devices"] {
            let d = db.destinations(t);
            assert_eq!(
                d.iter()
                    .filter(|d| d.status == DestinationStatus::Active)
                    .count(),
                1
            );
        }
        let objects = store.0.lock().unwrap();
        let (body, kms) = &objects["lake/p/_key_schemas/orders.json"];
        assert_eq!(kms, "arn:aws:kms:us-east-1:111122223333:key/k");
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["KeySchema"][0]["AttributeName"], "pk");
        assert_eq!(v["AttributeDefinitions"][0]["AttributeType"], "N");
        assert!(objects.contains_key("lake/p/_key_schemas/devices.json"));
    }

    #[tokio::test]
    async fn a_table_already_ours_gets_no_call_and_millisecond_is_raised() {
        let db = Memory::default()
            .with_table(
                "orders",
                vec![dest(
                    OURS,
                    DestinationStatus::Active,
                    Some(Precision::Microsecond),
                )],
            )
            .with_table(
                "devices",
                vec![dest(
                    OURS,
                    DestinationStatus::Active,
                    Some(Precision::Millisecond),
                )],
            );
        let store = Objects::default();
        let r = request(
            "Create",
            properties(&["orders", "devices"], "KinesisDataStreams"),
            None,
        );
        run(&db, &store, &r).await.unwrap();
        assert_eq!(db.calls(), ["raise devices"]);
        assert_eq!(
            db.destinations("devices")[0].precision,
            Some(Precision::Microsecond)
        );
    }

    #[tokio::test]
    async fn a_table_streaming_elsewhere_fails_and_is_not_moved() {
        let db = Memory::default()
            .with_table("orders", vec![dest(OTHER, DestinationStatus::Active, None)]);
        let store = Objects::default();
        let r = request(
            "Create",
            properties(&["orders"], "KinesisDataStreams"),
            None,
        );
        let e = run(&db, &store, &r).await.unwrap_err();
        assert_eq!(e.code(), "TableStreamsElsewhere");
        assert!(e.to_string().contains(OTHER) && e.to_string().contains("orders"));
        assert!(db.calls().is_empty(), "{:?}", db.calls());
        assert_eq!(
            db.destinations("orders")[0].status,
            DestinationStatus::Active
        );
    }

    #[tokio::test]
    async fn a_missing_table_fails_before_anything_is_enabled() {
        let db = Memory::default().with_table("orders", vec![]);
        let store = Objects::default();
        let r = request(
            "Create",
            properties(&["orders", "nope"], "KinesisDataStreams"),
            None,
        );
        let e = run(&db, &store, &r).await.unwrap_err();
        assert_eq!(
            e,
            AttachError::TableNotFound {
                table: "nope".into()
            }
        );
        assert!(db.calls().is_empty());
    }

    #[tokio::test]
    async fn update_detaches_removed_tables_only_from_our_stream() {
        let db = Memory::default()
            .with_table(
                "orders",
                vec![dest(
                    OURS,
                    DestinationStatus::Active,
                    Some(Precision::Microsecond),
                )],
            )
            .with_table(
                "devices",
                vec![dest(
                    OURS,
                    DestinationStatus::Active,
                    Some(Precision::Microsecond),
                )],
            )
            .with_table("audit", vec![dest(OTHER, DestinationStatus::Active, None)])
            .with_table("users", vec![]);
        let store = Objects::default();
        let old = properties(&["orders", "devices", "audit"], "KinesisDataStreams");
        let r = request(
            "Update",
            properties(&["orders", "users"], "KinesisDataStreams"),
            Some(old),
        );
        run(&db, &store, &r).await.unwrap();
        assert_eq!(
            db.calls(),
            ["enable users", &format!("disable devices {OURS}")]
        );
        assert_eq!(
            db.destinations("devices")[0].status,
            DestinationStatus::Disabled
        );
        // Another stream's destination on a removed table is untouched.
        assert_eq!(
            db.destinations("audit")[0].status,
            DestinationStatus::Active
        );
    }

    #[tokio::test]
    async fn a_new_stream_arn_on_update_moves_our_own_tables() {
        let db = Memory::default().with_table(
            "orders",
            vec![dest(
                OTHER,
                DestinationStatus::Active,
                Some(Precision::Microsecond),
            )],
        );
        let store = Objects::default();
        let mut old = properties(&["orders"], "KinesisDataStreams");
        old["StreamArn"] = json!(OTHER);
        let r = request(
            "Update",
            properties(&["orders"], "KinesisDataStreams"),
            Some(old),
        );
        run(&db, &store, &r).await.unwrap();
        assert_eq!(
            db.calls(),
            [
                format!("disable orders {OTHER}"),
                "enable orders".to_owned()
            ]
        );
    }

    #[tokio::test]
    async fn delete_disables_ours_and_a_table_already_gone_is_fine() {
        let db = Memory::default()
            .with_table("orders", vec![dest(OURS, DestinationStatus::Active, None)])
            .with_table("audit", vec![dest(OTHER, DestinationStatus::Active, None)]);
        let store = Objects::default();
        let r = request(
            "Delete",
            properties(&["orders", "audit", "gone"], "KinesisDataStreams"),
            None,
        );
        let data = run(&db, &store, &r).await.unwrap();
        assert!(data.is_empty());
        assert_eq!(db.calls(), [format!("disable orders {OURS}")]);
        assert_eq!(
            db.destinations("audit")[0].status,
            DestinationStatus::Active
        );
        assert!(store.0.lock().unwrap().is_empty(), "Delete writes nothing");
    }

    #[tokio::test]
    async fn delete_after_a_create_that_failed_on_its_properties_succeeds() {
        let db = Memory::default();
        let store = Objects::default();
        let mut props = properties(&["orders"], "KinesisDataStreams");
        props["ChangeSource"] = json!("Kafka");
        let r = request("Delete", props, None);
        assert_eq!(run(&db, &store, &r).await, Ok(Data::new()));
        assert!(db.calls().is_empty());
    }

    #[tokio::test]
    async fn dynamodb_streams_enables_a_missing_stream_and_returns_its_arn() {
        let db = Memory::default().with_table("orders", vec![]);
        let store = Objects::default();
        let r = request("Create", properties(&["orders"], "DynamoDBStreams"), None);
        let data = run(&db, &store, &r).await.unwrap();
        assert_eq!(
            data[LATEST_STREAM_ARN],
            "arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/1"
        );
        assert_eq!(db.calls(), ["enable-stream orders"]);
        assert_eq!(store.0.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn dynamodb_streams_uses_a_new_image_stream_as_it_is() {
        let arn = "arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/old";
        let db = Memory::default().with("orders", info("orders", Some(("NEW_IMAGE", arn))), vec![]);
        let store = Objects::default();
        let r = request("Create", properties(&["orders"], "DynamoDBStreams"), None);
        let data = run(&db, &store, &r).await.unwrap();
        assert_eq!(data[LATEST_STREAM_ARN], arn);
        assert!(db.calls().is_empty());
    }

    #[tokio::test]
    async fn dynamodb_streams_refuses_keys_only_and_more_than_one_table() {
        let arn = "arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/old";
        let db = Memory::default()
            .with("orders", info("orders", Some(("KEYS_ONLY", arn))), vec![])
            .with_table("devices", vec![]);
        let store = Objects::default();
        let r = request("Create", properties(&["orders"], "DynamoDBStreams"), None);
        let e = run(&db, &store, &r).await.unwrap_err();
        assert_eq!(e.code(), "UnusableStreamViewType");
        let r = request(
            "Create",
            properties(&["orders", "devices"], "DynamoDBStreams"),
            None,
        );
        let e = run(&db, &store, &r).await.unwrap_err();
        assert_eq!(e.code(), "NotOneTable");
        assert!(e.to_string().contains("ExistingTableNames"));
        assert!(db.calls().is_empty());
    }

    #[tokio::test]
    async fn dynamodb_streams_delete_leaves_the_stream_on() {
        let arn = "arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/old";
        let db = Memory::default().with(
            "orders",
            info("orders", Some(("NEW_AND_OLD_IMAGES", arn))),
            vec![],
        );
        let store = Objects::default();
        let r = request("Delete", properties(&["orders"], "DynamoDBStreams"), None);
        run(&db, &store, &r).await.unwrap();
        assert!(db.calls().is_empty());
    }

    #[tokio::test]
    async fn switching_to_dynamodb_streams_detaches_the_kinesis_tables() {
        let db = Memory::default()
            .with_table("orders", vec![dest(OURS, DestinationStatus::Active, None)]);
        let store = Objects::default();
        let old = properties(&["orders"], "KinesisDataStreams");
        let r = request(
            "Update",
            properties(&["orders"], "DynamoDBStreams"),
            Some(old),
        );
        run(&db, &store, &r).await.unwrap();
        assert_eq!(
            db.calls(),
            [
                "enable-stream orders".to_owned(),
                format!("disable orders {OURS}")
            ]
        );
    }

    #[tokio::test]
    async fn waiting_past_the_deadline_fails_naming_what_it_waited_for() {
        let db = Memory::default().with_table(
            "orders",
            vec![dest(OURS, DestinationStatus::Enabling, None)],
        );
        let store = Objects::default();
        let r = request(
            "Create",
            properties(&["orders"], "KinesisDataStreams"),
            None,
        );
        let past = Pacing {
            poll: Duration::from_secs(5),
            deadline: Instant::now(),
        };
        let e = apply(&r, &db, &store, past).await.unwrap_err();
        assert_eq!(e.code(), "TimedOut");
        let text = e.to_string();
        assert!(
            text.contains("table orders") && text.contains("ENABLING"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_unknown_request_type_fails() {
        let db = Memory::default();
        let r = request(
            "Import",
            properties(&["orders"], "KinesisDataStreams"),
            None,
        );
        let e = run(&db, &Objects::default(), &r).await.unwrap_err();
        assert_eq!(e.code(), "UnknownRequestType");
    }
}
