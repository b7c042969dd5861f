//! The table-attachment custom resource's handler against moto: DescribeTable, UpdateTable
//! (the stream specification) and the key schema objects' PutObject are moto's.
//!
//! moto does not implement DynamoDB's Kinesis streaming destination API
//! (Describe/Enable/Update/DisableKinesisStreamingDestination): for those calls only,
//! [`Destinations`] stands in, an in-memory record of each table's destinations that goes
//! straight to the end state (ACTIVE, DISABLED). Which table exists is still moto's answer.

use crate::moto::{sdk_config, Moto, ACCOUNT, REGION};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use ddb_lake::attach::dynamodb::{DynamoDb, SdkDynamoDb};
use ddb_lake::attach::key_schemas::S3KeySchemas;
use ddb_lake::attach::resource::{apply, Data, Pacing, LATEST_STREAM_ARN};
use ddb_lake::attach::tables::{Destination, DestinationStatus, Precision, TableInfo};
use ddb_lake::attach::{AttachError, Request};
use ddb_lake::lake::store::client_for;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const BUCKET: &str = "lake";
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn stream_arn() -> String {
    crate::moto::stream_arn("lake")
}

/// moto's DynamoDB for the table calls; the stand-in for the Kinesis streaming destination
/// calls moto lacks.
struct Destinations {
    moto: SdkDynamoDb,
    destinations: Mutex<HashMap<String, Vec<Destination>>>,
    calls: Mutex<Vec<String>>,
}

impl Destinations {
    fn new(moto: SdkDynamoDb) -> Destinations {
        Destinations {
            moto,
            destinations: Mutex::default(),
            calls: Mutex::default(),
        }
    }
    fn set(&self, table: &str, stream: &str, status: DestinationStatus) {
        let mut all = self.destinations.lock().unwrap();
        let list = all.entry(table.to_owned()).or_default();
        list.retain(|d| d.stream_arn != stream);
        list.push(Destination {
            stream_arn: stream.to_owned(),
            status,
            precision: Some(Precision::Microsecond),
            description: None,
        });
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl DynamoDb for Destinations {
    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, AttachError> {
        self.moto.describe_table(table).await
    }
    async fn describe_destinations(
        &self,
        table: &str,
    ) -> Result<Option<Vec<Destination>>, AttachError> {
        // A table moto does not have has no destinations to describe.
        if self.moto.describe_table(table).await?.is_none() {
            return Ok(None);
        }
        let all = self.destinations.lock().unwrap();
        Ok(Some(all.get(table).cloned().unwrap_or_default()))
    }
    async fn enable_destination(&self, table: &str, stream: &str) -> Result<(), AttachError> {
        self.calls.lock().unwrap().push(format!("enable {table}"));
        self.set(table, stream, DestinationStatus::Active);
        Ok(())
    }
    async fn raise_precision(&self, table: &str, _stream: &str) -> Result<(), AttachError> {
        self.calls.lock().unwrap().push(format!("raise {table}"));
        Ok(())
    }
    async fn disable_destination(&self, table: &str, stream: &str) -> Result<(), AttachError> {
        self.calls.lock().unwrap().push(format!("disable {table}"));
        self.set(table, stream, DestinationStatus::Disabled);
        Ok(())
    }
    async fn enable_stream(&self, table: &str) -> Result<Option<String>, AttachError> {
        self.moto.enable_stream(table).await
    }
}

struct World {
    _moto: Moto,
    dynamodb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
}

async fn world() -> World {
    let moto = Moto::start();
    let config = sdk_config(&moto.endpoint).await;
    let s3 = client_for(&config);
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create the bucket");
    World {
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        s3,
        _moto: moto,
    }
}

/// Creates `table` in moto with key `(name, type, HASH|RANGE)…` and, optionally, a stream.
async fn create_table(
    w: &World,
    table: &str,
    key: &[(&str, ScalarAttributeType, KeyType)],
    stream: Option<StreamViewType>,
) {
    let mut create = w
        .dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    for (name, ty, key_type) in key {
        create = create
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*name)
                    .attribute_type(ty.clone())
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(*name)
                    .key_type(key_type.clone())
                    .build()
                    .unwrap(),
            );
    }
    if let Some(view) = stream {
        create = create.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view)
                .build()
                .unwrap(),
        );
    }
    create.send().await.expect("create the table");
}

fn request(kind: &str, tables: &[&str], source: &str) -> Request {
    Request::from_value(json!({
        "RequestType": kind,
        "RequestId": "cfn-1",
        "ResponseURL": "https://example.invalid/response",
        "ResourceType": "Custom::TableAttachment",
        "LogicalResourceId": "Tables",
        "StackId": format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/lake/1"),
        "PhysicalResourceId": "ddb-lake-tables-lake-Tables",
        "ResourceProperties": {
            "ServiceToken": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:attach"),
            "TableNames": tables,
            "ChangeSource": source,
            "StreamArn": stream_arn(),
            "LakeBucket": BUCKET,
            "TablePrefix": "changes/",
            "LakeKmsKeyArn": KMS_KEY
        }
    }))
    .unwrap()
}

async fn run(w: &World, stand_in: &Destinations, request: &Request) -> Result<Data, AttachError> {
    let store = S3KeySchemas::new(w.s3.clone());
    let pacing = Pacing {
        poll: Duration::ZERO,
        // Only bounds a hang.
        deadline: Instant::now() + Duration::from_secs(600),
    };
    apply(request, stand_in, &store, pacing).await
}

/// The object at `key`, as JSON, and its metadata.
async fn object(
    w: &World,
    key: &str,
) -> (Value, aws_sdk_s3::operation::head_object::HeadObjectOutput) {
    let out =
        w.s3.get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
    let head =
        w.s3.head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
    let bytes = out.body.collect().await.unwrap().into_bytes();
    (serde_json::from_slice(&bytes).unwrap(), head)
}

#[tokio::test]
async fn create_writes_each_tables_key_schema_as_describe_table_gives_it() {
    let w = world().await;
    use KeyType::{Hash, Range};
    use ScalarAttributeType::{B, N, S};
    create_table(&w, "devices", &[("device id", N, Hash)], None).await;
    create_table(
        &w,
        "Blobs.v2",
        &[("Owner", S, Hash), ("digest", B, Range)],
        None,
    )
    .await;
    let stand_in = Destinations::new(SdkDynamoDb::new(w.dynamodb.clone()));
    let data = run(
        &w,
        &stand_in,
        &request("Create", &["devices", "Blobs.v2"], "KinesisDataStreams"),
    )
    .await
    .unwrap();
    assert!(data.is_empty());
    assert_eq!(stand_in.calls(), ["enable devices", "enable Blobs.v2"]);

    let (devices, head) = object(&w, "changes/_key_schemas/devices.json").await;
    assert_eq!(
        devices,
        json!({"TableName": "devices",
               "KeySchema": [{"AttributeName": "device id", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "device id", "AttributeType": "N"}]})
    );
    // Written with SSE-KMS under the lake's key.
    assert_eq!(
        head.server_side_encryption().map(|s| s.as_str()),
        Some("aws:kms")
    );
    assert_eq!(head.ssekms_key_id(), Some(KMS_KEY));
    let (blobs, _) = object(&w, "changes/_key_schemas/Blobs.v2.json").await;
    let read: ddb_lake::catalog::key_schema::KeySchema = serde_json::from_value(blobs).unwrap();
    assert_eq!(read.key_attributes(), ["Owner", "digest"]);
    assert_eq!(read.attribute_definitions[1].attribute_type, "B");

    // Delete detaches from our stream only and never touches the objects.
    let stand_in_other = "arn:aws:kinesis:us-east-1:123456789012:stream/audit";
    stand_in.set("Blobs.v2", stand_in_other, DestinationStatus::Active);
    stand_in.set("Blobs.v2", &stream_arn(), DestinationStatus::Disabled);
    run(
        &w,
        &stand_in,
        &request(
            "Delete",
            &["devices", "Blobs.v2", "gone"],
            "KinesisDataStreams",
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        stand_in.calls(),
        ["enable devices", "enable Blobs.v2", "disable devices"]
    );
    object(&w, "changes/_key_schemas/devices.json").await;
}

#[tokio::test]
async fn a_table_moto_does_not_have_fails_the_create_by_name() {
    let w = world().await;
    let stand_in = Destinations::new(SdkDynamoDb::new(w.dynamodb.clone()));
    let e = run(
        &w,
        &stand_in,
        &request("Create", &["missing"], "KinesisDataStreams"),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        AttachError::TableNotFound {
            table: "missing".into()
        }
    );
    assert!(stand_in.calls().is_empty());
}

#[tokio::test]
async fn dynamodb_streams_turns_on_new_and_old_images_through_update_table() {
    let w = world().await;
    create_table(
        &w,
        "orders",
        &[("pk", ScalarAttributeType::S, KeyType::Hash)],
        None,
    )
    .await;
    let stand_in = Destinations::new(SdkDynamoDb::new(w.dynamodb.clone()));
    let data = run(
        &w,
        &stand_in,
        &request("Create", &["orders"], "DynamoDBStreams"),
    )
    .await
    .unwrap();
    let table = w
        .dynamodb
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let spec = table.stream_specification().expect("a stream now");
    assert!(spec.stream_enabled());
    assert_eq!(
        spec.stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
    assert_eq!(
        Some(data[LATEST_STREAM_ARN].as_str()),
        table.latest_stream_arn()
    );
    assert!(stand_in.calls().is_empty(), "no Kinesis destination call");
    object(&w, "changes/_key_schemas/orders.json").await;

    // Again (an Update with the same table): the stream is used as it is.
    let again = run(
        &w,
        &stand_in,
        &request("Update", &["orders"], "DynamoDBStreams"),
    )
    .await
    .unwrap();
    assert_eq!(again, data);
}

#[tokio::test]
async fn dynamodb_streams_keeps_a_new_image_stream_and_refuses_keys_only() {
    let w = world().await;
    let key = [("pk", ScalarAttributeType::S, KeyType::Hash)];
    create_table(&w, "newimage", &key, Some(StreamViewType::NewImage)).await;
    create_table(&w, "keysonly", &key, Some(StreamViewType::KeysOnly)).await;
    let stand_in = Destinations::new(SdkDynamoDb::new(w.dynamodb.clone()));
    let data = run(
        &w,
        &stand_in,
        &request("Create", &["newimage"], "DynamoDBStreams"),
    )
    .await
    .unwrap();
    let described = w
        .dynamodb
        .describe_table()
        .table_name("newimage")
        .send()
        .await
        .unwrap();
    assert_eq!(
        Some(data[LATEST_STREAM_ARN].as_str()),
        described.table().unwrap().latest_stream_arn()
    );

    let e = run(
        &w,
        &stand_in,
        &request("Create", &["keysonly"], "DynamoDBStreams"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "UnusableStreamViewType");
    let described = w
        .dynamodb
        .describe_table()
        .table_name("keysonly")
        .send()
        .await
        .unwrap();
    let spec = described.table().unwrap().stream_specification().unwrap();
    assert_eq!(
        spec.stream_view_type(),
        Some(&StreamViewType::KeysOnly),
        "left as it was"
    );
}
