//! Putting records back under the faults we can make, through a fault-injecting proxy in front
//! of moto_server: throttled entries are retried until they succeed; a dead, refusing, stalling
//! or dying endpoint, or a deadline, fails the invocation, so no record is ever answered
//! `Dropped` without being on the stream.

use crate::common;
use crate::fault_proxy;
use crate::moto;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::runtime_api::{Posted, RuntimeApi};
use common::*;
use ddb_lake::reingest::{fit_and_put_back, KinesisApi, PutBackError, ReingestError};
use ddb_lake::Config;
use ddb_lake::{transform_event, Batch, RecordResult};
use fault_proxy::{Fault, FaultProxy};
use moto::Moto;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `n` small records on moto's stream `stream`.
fn event(stream: &str, n: usize) -> Vec<u8> {
    let records = (0..n)
        .map(|i| {
            let change = insert(
                json!({"pk": {"S": format!("ORDER#{i:05}")}, "note": {"S": "y".repeat(200)}}),
            );
            firehose_record(i, &b64(&serde_json::to_vec(&change).unwrap()))
        })
        .collect();
    let mut v: Value = serde_json::from_slice(&event_of(records)).unwrap();
    v["sourceKinesisStreamArn"] = json!(moto::stream_arn(stream));
    serde_json::to_vec(&v).unwrap()
}

/// The (data, partition key) of the records `batch` answered `Dropped`, sorted.
fn dropped(event: &[u8], batch: &Batch) -> Vec<(Vec<u8>, String)> {
    let v: Value = serde_json::from_slice(event).unwrap();
    let mut out: Vec<(Vec<u8>, String)> = batch
        .outcomes
        .iter()
        .zip(v["records"].as_array().unwrap())
        .filter(|(o, _)| o.result == RecordResult::Dropped)
        .map(|(_, r)| {
            (
                STANDARD.decode(r["data"].as_str().unwrap()).unwrap(),
                r["kinesisRecordMetadata"]["partitionKey"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

struct Setup {
    moto: Moto,
    event: Vec<u8>,
    batch: Batch,
}

async fn setup(stream: &str, n: usize) -> Setup {
    let moto = Moto::start();
    moto::create_stream(&moto::client(&moto.endpoint).await, stream, 1).await;
    let event = event(stream, n);
    let batch = transform_event(&event, &Config::default()).unwrap();
    Setup { moto, event, batch }
}

const BUDGET: usize = 4096;

/// A deadline for tests whose outcome needs no call to succeed before it.
const SHORT: Duration = Duration::from_secs(2);
/// A deadline for tests that need a call through to moto first: room for a busy machine.
const ROOM_FOR_A_CALL: Duration = Duration::from_secs(8);
/// How long after its deadline putting back may still run before the test fails. This bounds a
/// hang (a deadline not honoured), not speed: the exact stopping rule is unit-tested in
/// src/reingest.rs with a scripted API.
const PAST_DEADLINE: Duration = Duration::from_secs(15);

#[tokio::test]
async fn throttled_entries_are_retried_until_they_succeed() {
    let mut s = setup("faults-throttle", 40).await;
    let proxy = FaultProxy::start(&s.moto.endpoint, Fault::Throttle { times: 2 });
    let api = KinesisApi::with_config(moto::sdk_config(&proxy.endpoint).await);
    let deadline = Instant::now() + Duration::from_secs(120);
    let report = fit_and_put_back(&mut s.batch, &s.event, BUDGET, &api, deadline)
        .await
        .expect("throttling is survived")
        .expect("records were put back");
    assert!(s.batch.response_len() <= BUDGET);
    let stats = proxy.stats();
    assert!(stats.throttled >= report.records / 2, "{stats:?}");
    assert!(stats.put_records_calls >= 3, "{stats:?}");
    assert_eq!(report.retried_entries, stats.throttled);
    // Only the failed entries were sent again: moto saw each record exactly once.
    assert_eq!(stats.forwarded_entries, report.records);
    let dropped = dropped(&s.event, &s.batch);
    assert_eq!(dropped.len(), report.records);
    assert_eq!(
        moto::on_the_stream(&s.moto.endpoint, "faults-throttle").await,
        dropped
    );
}

/// Asserts that putting back with a deadline `within` from now failed, and returns the error.
async fn fails(s: &mut Setup, endpoint: &str, within: Duration) -> PutBackError {
    fails_within_budget(s, endpoint, within, BUDGET).await
}

async fn fails_within_budget(
    s: &mut Setup,
    endpoint: &str,
    within: Duration,
    budget: usize,
) -> PutBackError {
    let api = KinesisApi::with_config(moto::sdk_config(endpoint).await);
    let deadline = Instant::now() + within;
    let result = tokio::time::timeout(
        within + PAST_DEADLINE,
        fit_and_put_back(&mut s.batch, &s.event, budget, &api, deadline),
    )
    .await
    .unwrap_or_else(|_| panic!("still putting back {PAST_DEADLINE:?} after the deadline"));
    match result {
        Err(ReingestError::PutBack(e)) => e,
        other => panic!("expected a put-back failure, got {other:?}"),
    }
}

#[tokio::test]
async fn endless_throttling_fails_at_the_deadline_with_nothing_throttled_on_the_stream() {
    let mut s = setup("faults-throttle-forever", 40).await;
    let proxy = FaultProxy::start(&s.moto.endpoint, Fault::Throttle { times: usize::MAX });
    let err = fails(&mut s, &proxy.endpoint, ROOM_FOR_A_CALL).await;
    match &err {
        PutBackError::Deadline { not_put, last, .. } => {
            assert!(*not_put > 0);
            assert!(
                last.contains("ProvisionedThroughputExceededException"),
                "{last}"
            );
        }
        other => panic!("{other}"),
    }
    // The odd entries went through on the first call; the throttled ones never did.
    let on_stream = moto::on_the_stream(&s.moto.endpoint, "faults-throttle-forever").await;
    assert_eq!(on_stream.len(), proxy.stats().forwarded_entries);
}

#[tokio::test]
async fn a_dead_endpoint_fails_the_invocation() {
    let mut s = setup("faults-dead", 40).await;
    let dead = format!("http://127.0.0.1:{}", moto::free_port());
    let err = fails(&mut s, &dead, SHORT).await;
    assert!(
        matches!(&err, PutBackError::Deadline { not_put, total, .. } if not_put == total),
        "{err}"
    );
    assert!(moto::on_the_stream(&s.moto.endpoint, "faults-dead")
        .await
        .is_empty());
}

#[tokio::test]
async fn a_refusing_endpoint_fails_the_invocation() {
    let mut s = setup("faults-refuse", 40).await;
    let proxy = FaultProxy::start(&s.moto.endpoint, Fault::Refuse);
    let err = fails(&mut s, &proxy.endpoint, SHORT).await;
    assert!(matches!(err, PutBackError::Deadline { .. }), "{err}");
    assert!(moto::on_the_stream(&s.moto.endpoint, "faults-refuse")
        .await
        .is_empty());
}

#[tokio::test]
async fn a_stalled_endpoint_fails_the_invocation_at_its_deadline() {
    let mut s = setup("faults-stall", 40).await;
    let proxy = FaultProxy::start(&s.moto.endpoint, Fault::Stall);
    let err = fails(&mut s, &proxy.endpoint, SHORT).await;
    assert!(err.to_string().contains("deadline"), "{err}");
    assert_eq!(proxy.stats().put_records_calls, 1);
    assert!(moto::on_the_stream(&s.moto.endpoint, "faults-stall")
        .await
        .is_empty());
}

#[tokio::test]
async fn an_endpoint_dying_midway_fails_the_invocation() {
    // Over 500 records to put back: more than one call; the endpoint dies after the first.
    let mut s = setup("faults-midway", 1200).await;
    let proxy = FaultProxy::start(&s.moto.endpoint, Fault::RefuseAfter { calls: 1 });
    // 1200 Dropped entries alone take some 65 kB.
    let err = fails_within_budget(&mut s, &proxy.endpoint, ROOM_FOR_A_CALL, 100_000).await;
    match err {
        PutBackError::Deadline { not_put, total, .. } => {
            assert!(total > 1000, "{total}");
            assert_eq!(not_put, total - 500);
        }
        other => panic!("{other}"),
    }
    // The first call's records are there (the retried batch may duplicate them: same
    // `_event_id`), and the invocation fails, so none is answered Dropped.
    assert_eq!(
        moto::on_the_stream(&s.moto.endpoint, "faults-midway")
            .await
            .len(),
        500
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_fails_the_invocation_when_records_cannot_be_put_back() {
    let dead = format!("http://127.0.0.1:{}", moto::free_port());
    let event = event("faults-lambda", 40);
    let deadline_in = Duration::from_secs(3);
    let api = RuntimeApi::start(vec![event], deadline_in);
    let mut child = api
        .lambda_command("ddb-lake-orders")
        .env("MAX_RESPONSE_BYTES", BUDGET.to_string())
        .env("AWS_ENDPOINT_URL_KINESIS", &dead)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", moto::REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // It fails at the deadline the Runtime API gave: waiting longer only bounds a hang.
    let posted = tokio::task::spawn_blocking(move || api.wait_for(1, deadline_in + PAST_DEADLINE))
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    match posted.first() {
        Some(Posted::Error { body, .. }) => {
            let text = String::from_utf8_lossy(body);
            assert!(text.contains("could not be put back"), "{text}");
            assert!(text.contains("faults-lambda"), "{text}");
        }
        other => panic!("expected an invocation error, got {other:?}"),
    }
}
