//! The built `table-attach` binary end to end: invocations from a local Lambda Runtime API,
//! DynamoDB and S3 from moto, and a local HTTP server standing in for CloudFormation's
//! pre-signed ResponseURL (plain http on loopback, which the function allows only there). What
//! CloudFormation would read is what that server receives.
//!
//! moto has no Kinesis streaming destination API, so through the binary the KinesisDataStreams
//! path is seen only failing on it (answered FAILED, never left hanging); its success path is
//! tested with a stand-in for those calls in tests/moto/attach.rs.

use crate::common::runtime_api::{read_request, Posted, Request, RuntimeApi};
use crate::moto::{sdk_config, Moto, ACCOUNT, REGION};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use serde_json::{json, Value};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Only bounds a hang (a busy machine is slow; moto's unknown-operation answers are retried).
const HANG: Duration = Duration::from_secs(180);

/// One PUT the ResponseURL server received.
#[derive(Debug, Clone)]
struct Put {
    method: String,
    path: String,
    /// Header names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A local HTTP server recording every request and answering 200, as S3 answers a pre-signed
/// PUT.
struct ResponseUrl {
    addr: SocketAddr,
    received: Arc<(Mutex<Vec<Put>>, Condvar)>,
}

impl ResponseUrl {
    fn start() -> ResponseUrl {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Arc<(Mutex<Vec<Put>>, Condvar)> = Arc::default();
        let shared = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, shared));
            }
        });
        ResponseUrl { addr, received }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until `n` requests have arrived, or `timeout` passes.
    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Put> {
        let (lock, cond) = &*self.received;
        let until = Instant::now() + timeout;
        let mut got = lock.lock().unwrap();
        while got.len() < n && Instant::now() < until {
            got = cond.wait_timeout(got, Duration::from_millis(50)).unwrap().0;
        }
        got.clone()
    }
}

fn serve(stream: TcpStream, received: Arc<(Mutex<Vec<Put>>, Condvar)>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let Request {
            method,
            path,
            headers,
            body,
        } = request;
        let (lock, cond) = &*received;
        lock.lock().unwrap().push(Put {
            method,
            path,
            headers,
            body,
        });
        cond.notify_all();
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cfn_request(kind: &str, id: &str, url: &str, tables: &[&str], source: &str) -> Value {
    json!({
        "RequestType": kind,
        "RequestId": id,
        "ResponseURL": url,
        "ResourceType": "Custom::TableAttachment",
        "LogicalResourceId": "AttachedTables",
        "StackId": format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/lake/5b6c7d8e-1111"),
        "ResourceProperties": {
            "ServiceToken": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:table-attach"),
            "TableNames": tables,
            "ChangeSource": source,
            "StreamArn": crate::moto::stream_arn("lake"),
            "LakeBucket": "lake",
            "TablePrefix": "changes/",
            "LakeKmsKeyArn": format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        }
    })
}

#[test]
fn the_binary_answers_cloudformation_at_the_response_url() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream_arn = runtime.block_on(async {
        let config = sdk_config(&moto.endpoint).await;
        let s3 = ddb_lake::lake::store::client_for(&config);
        s3.create_bucket().bucket("lake").send().await.unwrap();
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        dynamodb
            .create_table()
            .table_name("orders")
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        dynamodb
    });

    let server = ResponseUrl::start();
    let url = |i: usize| server.url(&format!("/response/{i}?X-Amz-Signature=abc"));
    let mut delete = cfn_request("Delete", "cfn-2", &url(2), &["orders"], "DynamoDBStreams");
    delete["PhysicalResourceId"] = json!("ddb-lake-tables-lake-AttachedTables");
    let events = [
        cfn_request("Create", "cfn-0", &url(0), &["orders"], "DynamoDBStreams"),
        cfn_request(
            "Create",
            "cfn-1",
            &url(1),
            &["orders", "devices"],
            "DynamoDBStreams",
        ),
        delete,
        cfn_request(
            "Create",
            "cfn-3",
            &url(3),
            &["orders"],
            "KinesisDataStreams",
        ),
        json!({"hello": "world"}),
    ];
    let api = RuntimeApi::start(
        events
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect(),
        Duration::from_secs(300),
    );
    let _lambda = Running(
        api.command_for(env!("CARGO_BIN_EXE_table-attach"), "table-attach")
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_SESSION_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let posted = api.wait_for(events.len(), HANG);
    assert_eq!(posted.len(), events.len(), "{posted:?}");
    let puts = server.wait_for(4, HANG);
    assert_eq!(puts.len(), 4, "{puts:?}");
    let answer = |i: usize| -> Value {
        let put = puts
            .iter()
            .find(|p| p.path.starts_with(&format!("/response/{i}?")))
            .unwrap_or_else(|| panic!("no answer for request {i}: {puts:?}"));
        assert_eq!(put.method, "PUT");
        // The pre-signed URL is signed for an empty Content-Type.
        assert!(
            put.headers
                .iter()
                .any(|(n, v)| n == "content-type" && v.is_empty()),
            "{:?}",
            put.headers
        );
        assert!(put.body.len() <= 4096);
        serde_json::from_slice(&put.body).unwrap()
    };
    let ids = |v: &Value, request_id: &str| {
        assert_eq!(v["RequestId"], request_id);
        assert_eq!(v["StackId"], events[0]["StackId"]);
        assert_eq!(v["LogicalResourceId"], "AttachedTables");
        assert_eq!(
            v["PhysicalResourceId"],
            "ddb-lake-tables-lake-AttachedTables"
        );
    };

    // 0: the table's stream turned on; its ARN in Data, the key schema written.
    let created = answer(0);
    ids(&created, "cfn-0");
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let described = runtime
        .block_on(stream_arn.describe_table().table_name("orders").send())
        .unwrap();
    let latest = described.table().unwrap().latest_stream_arn().unwrap();
    assert_eq!(created["Data"], json!({"LatestStreamArn": latest}));

    // 1: two tables with DynamoDBStreams.
    let refused = answer(1);
    ids(&refused, "cfn-1");
    assert_eq!(refused["Status"], "FAILED");
    let reason = refused["Reason"].as_str().unwrap();
    assert!(reason.starts_with("NotOneTable: "), "{reason}");
    assert!(reason.contains("ExistingTableNames"), "{reason}");
    assert!(refused.get("Data").is_none());

    // 2: Delete leaves the stream on and answers with the id CloudFormation holds.
    let deleted = answer(2);
    ids(&deleted, "cfn-2");
    assert_eq!(deleted["Status"], "SUCCESS");

    // 3: moto cannot describe Kinesis streaming destinations: FAILED, naming call and table.
    let failed = answer(3);
    ids(&failed, "cfn-3");
    assert_eq!(failed["Status"], "FAILED");
    let reason = failed["Reason"].as_str().unwrap();
    assert!(reason.starts_with("DynamoDbCallFailed: "), "{reason}");
    assert!(
        reason.contains("DescribeKinesisStreamingDestination on table orders"),
        "{reason}"
    );

    // The Runtime API heard of each invocation: answered, except the payload that is no request.
    for (i, p) in posted.iter().take(4).enumerate() {
        match p {
            Posted::Response { body, .. } => {
                let v: Value = serde_json::from_slice(body).unwrap();
                let put = answer(i);
                assert_eq!(v["Status"], put["Status"], "{i}");
            }
            other => panic!("invocation {i}: {other:?}"),
        }
    }
    match &posted[4] {
        Posted::Error { body, .. } => {
            let err: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(err["errorType"], "NotACustomResourceRequest");
        }
        other => panic!("expected an invocation error, got {other:?}"),
    }
}
