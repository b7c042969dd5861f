//! The whole transformation: any bytes as a Firehose event, then the response-size fitting.
//! Beyond "no panic, no hang, no runaway memory" it checks the contract's shape: one entry per
//! record, in order, with the record's id; `Ok` data is one line of one JSON object;
//! `ProcessingFailed` data is the original; `Dropped` data is empty; a fitted response is within
//! its budget.
#![no_main]

#[path = "../common/knobs.rs"]
mod knobs;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ddb_lake::{transform_event, FirehoseEvent};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    // The first byte picks the settings and the budget, so every combination is explored.
    let Some((&knobs, event)) = input.split_first() else {
        return;
    };
    let config = knobs::config(knobs);
    let Ok(mut batch) = transform_event(event, &config) else {
        return;
    };
    let parsed = FirehoseEvent::parse(event).expect("an answered event parses");
    assert_eq!(batch.outcomes.len(), parsed.records.len());
    let mut originals = Vec::new();
    for record in parsed.records {
        originals.push((record.record_id.into_owned(), record.data.into_owned()));
    }

    let budget = 1024 + batch.response_len() * usize::from(knobs >> 2) / 64;
    if batch.fit(event, budget).is_ok() {
        assert!(batch.response_len() <= budget, "fitted past its budget");
    }
    let bytes = batch.finish(usize::MAX).expect("no budget");
    let response: Value = serde_json::from_slice(&bytes).expect("the response is JSON");
    let entries = response["records"].as_array().expect("records");
    assert_eq!(entries.len(), originals.len());
    for (entry, (id, data)) in entries.iter().zip(&originals) {
        assert_eq!(entry["recordId"].as_str(), Some(id.as_str()));
        match entry["result"].as_str() {
            Some("Ok") => {
                let line = STANDARD
                    .decode(entry["data"].as_str().expect("data"))
                    .expect("Ok data is base64");
                let text = std::str::from_utf8(&line).expect("a row is UTF-8");
                let body = text.strip_suffix('\n').expect("a row ends with a newline");
                assert!(!body.contains('\n'), "a row is one line");
                let row: Value = serde_json::from_str(body).expect("a row is JSON");
                assert!(row.is_object(), "a row is an object");
                assert!(entry["metadata"]["partitionKeys"].is_object());
            }
            Some("ProcessingFailed") => assert_eq!(entry["data"].as_str(), Some(data.as_str())),
            Some("Dropped") => assert_eq!(entry["data"].as_str(), Some("")),
            other => panic!("unexpected result {other:?}"),
        }
    }
});
