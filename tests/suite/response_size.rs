//! `Batch::fit`, the pure half of the contract's "Response size": which records are answered
//! `Dropped` (to be put back on the source stream) so that the response fits its budget.

use crate::common;

use common::*;
use ddb_lake::Config;
use ddb_lake::{transform_event, Batch, FitError, RecordResult};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use std::io::Write;

fn change(i: usize) -> Vec<u8> {
    serde_json::to_vec(&insert(
        json!({"pk": {"S": format!("K{i}")}, "pad": {"S": "p".repeat(300)}}),
    ))
    .unwrap()
}

/// Record `i` holding `bytes`.
fn rec(i: usize, bytes: &[u8]) -> Value {
    firehose_record(i, &b64(bytes))
}

fn batch_of(event: &[u8]) -> Batch {
    transform_event(event, &Config::default()).unwrap()
}

fn results(batch: &Batch) -> String {
    batch
        .outcomes
        .iter()
        .map(|o| match o.result {
            RecordResult::Ok => 'o',
            RecordResult::ProcessingFailed => 'f',
            RecordResult::Dropped => 'd',
        })
        .collect()
}

fn response(batch: Batch) -> Vec<ResponseRecord> {
    let bytes = batch.finish(usize::MAX).unwrap();
    serde_json::from_slice::<Response>(&bytes).unwrap().records
}

#[test]
fn a_response_that_fits_is_left_alone() {
    let event = event_of((0..5).map(|i| rec(i, &change(i))).collect());
    let mut batch = batch_of(&event);
    let size = batch.response_len();
    assert!(batch.fit(&event, size).unwrap().is_empty());
    assert_eq!(batch.response_len(), size);
    assert_eq!(results(&batch), "ooooo");
}

#[test]
fn the_longest_prefix_that_fits_is_kept_and_the_rest_dropped() {
    let event = event_of((0..10).map(|i| rec(i, &change(i))).collect());
    let full = batch_of(&event);
    let entry = full.outcomes[1].entry_len();
    let mut batch = batch_of(&event);
    // Room for about six records' entries.
    let budget = full.response_len() - 4 * entry;
    let put_back = batch.fit(&event, budget).unwrap();
    let kept = results(&batch).matches('o').count();
    assert_eq!(results(&batch), "o".repeat(kept) + &"d".repeat(10 - kept));
    assert!(batch.response_len() <= budget);
    assert!((5..=6).contains(&kept), "{}", results(&batch));
    // Maximal: keeping the first dropped record too would not fit.
    let with_one_more =
        batch.response_len() - batch.outcomes[kept].entry_len() + full.outcomes[kept].entry_len();
    assert!(with_one_more > budget);

    // What goes back is what the stream held, with its partition key, in order.
    let indices: Vec<usize> = put_back.iter().map(|r| r.index).collect();
    assert_eq!(indices, (kept..10).collect::<Vec<_>>());
    for r in &put_back {
        assert_eq!(r.data, change(r.index));
        assert_eq!(r.partition_key, format!("pk-{}", r.index));
        assert_eq!(r.record_id, format!("rec-{:04}", r.index));
    }

    // Kept entries are untouched; dropped ones say only that.
    let before = response(batch_of(&event));
    let after = response(batch);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.record_id, b.record_id);
        if a.result == "Dropped" {
            assert_eq!(a.data, "");
            assert!(a.metadata.is_none());
        } else {
            assert_eq!((&a.result, &a.data), (&b.result, &b.data));
        }
    }
}

#[test]
fn compressed_records_go_back_compressed() {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&change(1)).unwrap();
    let compressed = gz.finish().unwrap();
    let event = event_of(vec![rec(0, &change(0)), rec(1, &compressed)]);
    let mut batch = batch_of(&event);
    let budget = batch.outcomes[0].entry_len() + 100;
    let put_back = batch.fit(&event, budget).unwrap();
    assert_eq!(results(&batch), "od");
    assert_eq!(put_back[0].data, compressed);
}

#[test]
fn failed_records_stay_and_ok_records_go_first() {
    // Record 8 fails; it is near the end but stays, since putting it back would fail it again.
    let records = (0..10)
        .map(|i| {
            if i == 8 {
                rec(i, b"not json")
            } else {
                rec(i, &change(i))
            }
        })
        .collect();
    let event = event_of(records);
    let mut batch = batch_of(&event);
    let budget = batch.response_len() - 3 * batch.outcomes[1].entry_len();
    batch.fit(&event, budget).unwrap();
    // Three entries' worth, less what the Dropped entries take: four go.
    assert_eq!(results(&batch), "ooooodddfd");
}

#[test]
fn failed_records_go_too_when_dropping_every_ok_record_is_not_enough() {
    let records = (0..6)
        .map(|i| {
            if i % 2 == 0 {
                rec(i, &[b'x'; 2000])
            } else {
                rec(i, &change(i))
            }
        })
        .collect();
    let event = event_of(records);
    let mut batch = batch_of(&event);
    assert_eq!(results(&batch), "fofofo");
    let one_failed = batch.outcomes[0].entry_len();
    let budget = 2 * one_failed + 400;
    let put_back = batch.fit(&event, budget).unwrap();
    // All Ok records first, then failed ones from the end.
    assert_eq!(results(&batch), "fdfddd");
    assert_eq!(
        put_back.iter().map(|r| r.index).collect::<Vec<_>>(),
        [1, 3, 4, 5]
    );
    assert_eq!(put_back[2].data, vec![b'x'; 2000]);
}

#[test]
fn records_that_cannot_go_back_as_they_were_stay() {
    // Record 2's data is not base64 and record 3 has no partition key: neither can be put back.
    let mut no_key = rec(3, &change(3));
    no_key
        .as_object_mut()
        .unwrap()
        .remove("kinesisRecordMetadata");
    let mut records: Vec<Value> = (0..3).map(|i| rec(i, &change(i))).collect();
    records[2] = firehose_record(2, "%%%not base64");
    records.push(no_key);
    let event = event_of(records);
    let mut batch = batch_of(&event);
    assert_eq!(results(&batch), "oofo");
    let budget = batch.response_len() - batch.outcomes[0].entry_len() + 100;
    batch.fit(&event, budget).unwrap();
    assert_eq!(results(&batch), "odfo");

    let mut batch = batch_of(&event);
    let budget = batch.outcomes[2].entry_len() + batch.outcomes[3].entry_len();
    match batch.fit(&event, budget) {
        Err(e @ FitError::CannotFit { .. }) => {
            assert!(e.to_string().contains("MAX_RESPONSE_BYTES"), "{e}")
        }
        other => panic!("expected CannotFit, got {other:?}"),
    }
    // A refusal changes nothing.
    assert_eq!(results(&batch), "oofo");
}

#[test]
fn a_direct_put_batch_cannot_be_put_back() {
    let event: Value = serde_json::from_slice(&event_of(vec![rec(0, &change(0))])).unwrap();
    let mut event = event;
    event
        .as_object_mut()
        .unwrap()
        .remove("sourceKinesisStreamArn");
    let event = serde_json::to_vec(&event).unwrap();
    let mut batch = batch_of(&event);
    let err = batch.fit(&event, 100).unwrap_err();
    assert!(matches!(err, FitError::DirectPut { .. }));
    assert!(err.to_string().contains("Direct PUT"), "{err}");
    assert!(err.to_string().contains("MAX_RESPONSE_BYTES=100"), "{err}");
}

#[test]
fn a_budget_too_small_even_for_dropped_entries_is_refused() {
    let event = event_of((0..50).map(|i| rec(i, &change(i))).collect());
    let mut batch = batch_of(&event);
    assert!(matches!(
        batch.fit(&event, 1024),
        Err(FitError::CannotFit { budget: 1024, .. })
    ));
}

#[test]
fn another_event_is_refused() {
    let event = event_of((0..3).map(|i| rec(i, &change(i))).collect());
    let other = event_of((0..2).map(|i| rec(i, &change(i))).collect());
    let mut batch = batch_of(&event);
    assert!(matches!(batch.fit(&other, 10), Err(FitError::NotThisEvent)));
}
