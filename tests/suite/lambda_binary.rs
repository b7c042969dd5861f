//! The built Lambda binary (`bootstrap`) against a local Lambda Runtime API: `main`, the settings
//! and the runtime wiring, not only the handler function.

use crate::common;

use common::runtime_api::{Posted, RuntimeApi};
use std::process::{Child, Stdio};
use std::time::Duration;

/// How long to wait for the Lambda's answers: only bounds a hang (a busy machine is slow).
const HANG: Duration = Duration::from_secs(120);

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/sample-records/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn start_lambda(api: &RuntimeApi, settings: &[(&str, &str)]) -> Child {
    api.lambda_command("ddb-lake")
        .envs(settings.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn trim(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&b'\n') {
        v.pop();
    }
    v
}

#[test]
fn answers_invocations_through_the_runtime_api() {
    let events = vec![
        sample("firehose-event.json"),
        br#"{"records": "nope"}"#.to_vec(),
        sample("firehose-event.json"),
    ];
    let api = RuntimeApi::start(events, Duration::from_secs(60));
    let _lambda = Running(start_lambda(&api, &[]));
    let posted = api.wait_for(3, HANG);
    assert_eq!(posted.len(), 3, "{posted:?}");
    let expected = trim(sample("firehose-event.expected.json"));
    assert_eq!(
        posted[0],
        Posted::Response {
            request_id: "req-0".into(),
            body: expected.clone()
        }
    );
    match &posted[1] {
        Posted::Error { request_id, body } => {
            assert_eq!(request_id, "req-1");
            let err: serde_json::Value = serde_json::from_slice(body).unwrap();
            let message = err["errorMessage"].as_str().unwrap();
            assert!(
                message.contains("not a Firehose transformation event"),
                "{message}"
            );
            // A stable name operators can alarm on, not a Rust type name.
            assert_eq!(err["errorType"], "NotAFirehoseEvent");
        }
        other => panic!("expected an invocation error, got {other:?}"),
    }
    // The process lives on after a failed invocation.
    assert_eq!(
        posted[2],
        Posted::Response {
            request_id: "req-2".into(),
            body: expected
        }
    );
}

#[test]
fn settings_reach_the_lambda() {
    let api = RuntimeApi::start(vec![sample("firehose-event.json")], Duration::from_secs(60));
    let _lambda = Running(start_lambda(
        &api,
        &[("METADATA_PREFIX", "meta_"), ("LIST_MODE", "json_string")],
    ));
    let posted = api.wait_for(1, HANG);
    let Some(Posted::Response { body, .. }) = posted.first() else {
        panic!("{posted:?}")
    };
    let response: serde_json::Value = serde_json::from_slice(body).unwrap();
    use base64::Engine;
    let row = base64::engine::general_purpose::STANDARD
        .decode(response["records"][0]["data"].as_str().unwrap())
        .unwrap();
    let row = String::from_utf8(row).unwrap();
    assert!(row.starts_with(r#"{"meta_event_name":"INSERT""#), "{row}");
    assert!(row.contains(r#""tags":"[\"express\",\"gift\"]""#), "{row}");
}

#[test]
fn an_oversize_direct_put_response_fails_the_invocation() {
    // Without a source stream nothing can be put back (tests/reingest.rs covers the stream case).
    let mut event: serde_json::Value =
        serde_json::from_slice(&sample("firehose-event.json")).unwrap();
    event
        .as_object_mut()
        .unwrap()
        .remove("sourceKinesisStreamArn");
    let api = RuntimeApi::start(
        vec![serde_json::to_vec(&event).unwrap()],
        Duration::from_secs(60),
    );
    let _lambda = Running(start_lambda(&api, &[("MAX_RESPONSE_BYTES", "2048")]));
    let posted = api.wait_for(1, HANG);
    match posted.first() {
        Some(Posted::Error { body, .. }) => {
            let text = String::from_utf8_lossy(body);
            assert!(text.contains("MAX_RESPONSE_BYTES=2048"), "{text}");
            assert!(text.contains("Direct PUT"), "{text}");
            let err: serde_json::Value = serde_json::from_slice(body).unwrap();
            assert_eq!(err["errorType"], "ResponseTooLargeForDirectPut");
        }
        other => panic!("expected an invocation error, got {other:?}"),
    }
}

#[test]
fn a_bad_setting_stops_the_start_naming_the_variable() {
    let api = RuntimeApi::start(vec![sample("firehose-event.json")], Duration::from_secs(60));
    let child = start_lambda(&api, &[("LIST_MODE", "rows")]);
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LIST_MODE"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // It never took an invocation it could not answer.
    assert!(api.wait_for(1, Duration::from_millis(200)).is_empty());
}
