//! The contract's "Response size" against a real Kinesis API (moto_server): a batch over the
//! budget comes back within it, every record `Ok`, `ProcessingFailed` or `Dropped`, and every
//! dropped record's exact bytes and partition key are on the source stream; a batch that fits
//! makes no Kinesis call. Through the library, the Lambda binary and the command.

use crate::common;
use crate::fault_proxy;
use crate::moto;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::runtime_api::{Posted, RuntimeApi};
use common::*;
use ddb_lake::reingest::{fit_and_put_back, KinesisApi};
use ddb_lake::transform_event;
use ddb_lake::Config;
use fault_proxy::{Fault, FaultProxy};
use flate2::write::GzEncoder;
use flate2::Compression;
use moto::Moto;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `n` records of about 1 KB, every tenth gzip-compressed, record 7 not a change record; on
/// stream `stream` (moto's account).
fn big_event(stream: &str, n: usize) -> Vec<u8> {
    let records = (0..n)
        .map(|i| {
            let change = insert(json!({
                "pk": {"S": format!("ORDER#{i:05}")},
                "note": {"S": "x".repeat(900)},
                "n": {"N": i.to_string()}
            }));
            let mut bytes = serde_json::to_vec(&change).unwrap();
            if i == 7 {
                bytes = b"not a change record".to_vec();
            } else if i % 10 == 3 {
                let mut gz = GzEncoder::new(Vec::new(), Compression::default());
                gz.write_all(&bytes).unwrap();
                bytes = gz.finish().unwrap();
            }
            firehose_record(i, &b64(&bytes))
        })
        .collect();
    on_stream(event_of(records), stream)
}

/// `event` with its source stream set to moto's stream `stream`.
fn on_stream(event: Vec<u8>, stream: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&event).unwrap();
    v["sourceKinesisStreamArn"] = json!(moto::stream_arn(stream));
    serde_json::to_vec(&v).unwrap()
}

/// (original bytes, partition key) of every record of `event`, by record id.
fn originals(event: &[u8]) -> Vec<(String, Vec<u8>, String)> {
    let v: Value = serde_json::from_slice(event).unwrap();
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["recordId"].as_str().unwrap().to_owned(),
                STANDARD.decode(r["data"].as_str().unwrap()).unwrap(),
                r["kinesisRecordMetadata"]["partitionKey"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

/// Checks a response to `event` made within `budget`: one entry per record in order, only the
/// three results, kept entries as the unconstrained transform made them, `Dropped` entries
/// empty; returns the dropped records' (data, partition key), sorted.
fn check_response(event: &[u8], response: &[u8], budget: usize) -> Vec<(Vec<u8>, String)> {
    assert!(
        response.len() <= budget,
        "{} > {budget} bytes",
        response.len()
    );
    let records: Response = serde_json::from_slice(response).expect("valid JSON");
    let unconstrained = transform(event, &Config::default());
    let originals = originals(event);
    assert_eq!(records.records.len(), originals.len());
    let mut dropped = Vec::new();
    let mut seen_dropped_ok = false;
    for ((r, full), (id, data, key)) in records.records.iter().zip(&unconstrained).zip(originals) {
        assert_eq!(r.record_id, id);
        match r.result.as_str() {
            "Dropped" => {
                assert_eq!(r.data, "");
                assert!(r.metadata.is_none());
                seen_dropped_ok |= full.result == "Ok";
                dropped.push((data, key));
            }
            "Ok" | "ProcessingFailed" => {
                assert_eq!(r.result, full.result);
                assert_eq!(r.data, full.data);
                // The kept Ok records are the batch's longest prefix that fits.
                assert!(!(seen_dropped_ok && r.result == "Ok"), "Ok after Dropped");
            }
            other => panic!("unexpected result {other}"),
        }
    }
    dropped.sort();
    dropped
}

#[tokio::test]
async fn an_oversize_batch_comes_back_within_budget_with_the_rest_on_the_stream() {
    let moto = Moto::start();
    let client = moto::client(&moto.endpoint).await;
    moto::create_stream(&client, "orders-oversize", 2).await;
    let event = big_event("orders-oversize", 300);
    let budget = 100_000;
    let mut batch = transform_event(&event, &Config::default()).unwrap();
    assert!(
        batch.response_len() > 3 * budget,
        "the test needs a big batch"
    );

    let api = KinesisApi::with_config(moto::sdk_config(&moto.endpoint).await);
    // Deadlines and waits here only bound a hang: generous for a busy machine.
    let deadline = Instant::now() + Duration::from_secs(180);
    let report = fit_and_put_back(&mut batch, &event, budget, &api, deadline)
        .await
        .expect("put back")
        .expect("something was put back");
    let response = batch.finish(budget).unwrap();

    let dropped = check_response(&event, &response, budget);
    assert_eq!(report.records, dropped.len());
    assert!(dropped.len() > 150, "{}", dropped.len());
    // Byte for byte (gzip-compressed ones still compressed), with their own partition keys,
    // and nothing else.
    assert_eq!(
        moto::on_the_stream(&moto.endpoint, "orders-oversize").await,
        dropped
    );
}

#[tokio::test]
async fn a_batch_that_fits_makes_no_kinesis_call() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint, Fault::None);
    let event = big_event("orders-fits", 20);
    let mut batch = transform_event(&event, &Config::default()).unwrap();
    let before = batch.response_len();
    let api = KinesisApi::with_config(moto::sdk_config(&proxy.endpoint).await);
    let deadline = Instant::now() + Duration::from_secs(10);
    let put = fit_and_put_back(&mut batch, &event, before, &api, deadline)
        .await
        .unwrap();
    assert!(put.is_none());
    assert_eq!(proxy.stats().requests, 0);
    let response = batch.finish(before).unwrap();
    assert!(check_response(&event, &response, before).is_empty());
}

/// The environment that points the standard AWS configuration chain at `endpoint`.
fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_KINESIS", endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", moto::REGION.into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

fn lambda(api: &RuntimeApi, env: &[(&'static str, String)]) -> std::process::Child {
    api.lambda_command("ddb-lake-orders")
        .envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Stops the process and returns its standard output and error.
fn stop(mut child: std::process::Child) -> (String, String) {
    let _ = child.kill();
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = child.wait();
    (out, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_puts_back_what_does_not_fit_and_reports_it() {
    let moto = Moto::start();
    let client = moto::client(&moto.endpoint).await;
    moto::create_stream(&client, "orders-lambda", 1).await;
    let event = big_event("orders-lambda", 120);
    let budget = 40_000;
    let fitting = big_event("orders-lambda", 3);
    let api = RuntimeApi::start(vec![event.clone(), fitting], Duration::from_secs(180));
    let mut env = aws_env(&moto.endpoint);
    env.push(("MAX_RESPONSE_BYTES", budget.to_string()));
    let child = lambda(&api, &env);
    let posted = tokio::task::spawn_blocking(move || api.wait_for(2, Duration::from_secs(180)))
        .await
        .unwrap();
    let (stdout, stderr) = stop(child);
    let Some(Posted::Response { body, .. }) = posted.first() else {
        panic!("{posted:?}\n{stderr}")
    };
    let dropped = check_response(&event, body, budget);
    assert!(!dropped.is_empty());
    assert_eq!(
        moto::on_the_stream(&moto.endpoint, "orders-lambda").await,
        dropped
    );
    assert!(
        matches!(posted.get(1), Some(Posted::Response { .. })),
        "{posted:?}"
    );

    // One EMF line per invocation on standard output.
    let emf: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout holds only EMF lines"))
        .collect();
    assert_eq!(emf.len(), 2, "{stdout}");
    assert_eq!(emf[0]["FunctionName"], "ddb-lake-orders");
    assert_eq!(
        emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "DdbLake"
    );
    assert_eq!(emf[0]["Records"], 120);
    assert_eq!(emf[0]["Dropped"], dropped.len());
    assert_eq!(emf[0]["ProcessingFailed"], 1);
    assert_eq!(emf[0]["BytesOut"], body.len());
    assert_eq!(emf[1]["Dropped"], 0);
    assert!(stderr.contains("put back on the source stream"), "{stderr}");
}

#[tokio::test]
async fn the_command_puts_back_what_does_not_fit() {
    let moto = Moto::start();
    let client = moto::client(&moto.endpoint).await;
    moto::create_stream(&client, "orders-cli", 1).await;
    let event = big_event("orders-cli", 60);
    let budget = 20_000;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .arg("transform")
        .arg("--reingest-timeout=180")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .envs(aws_env(&moto.endpoint))
        .env("MAX_RESPONSE_BYTES", budget.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&event).unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response = out.stdout.strip_suffix(b"\n").unwrap();
    let dropped = check_response(&event, response, budget);
    assert!(!dropped.is_empty());
    assert_eq!(
        moto::on_the_stream(&moto.endpoint, "orders-cli").await,
        dropped
    );
}
