//! The benchmarks' generated event (examples/bench_event/event.rs): what the benchmarks measure
//! is the transformation of valid change records, so every record must come back `Ok`; the
//! event is the same for a seed and stays within its size.

use crate::bench_event::firehose_event;
use crate::common::transform;
use ddb_lake::Config;
use serde_json::Value;
use std::collections::BTreeMap;

#[test]
fn the_bench_event_is_valid_bounded_and_fixed_by_its_seed() {
    let event = firehose_event(300_000, 7);
    assert!(event.bytes.len() <= 300_000, "{}", event.bytes.len());
    assert!(event.bytes.len() > 290_000, "{}", event.bytes.len());
    assert_eq!(firehose_event(300_000, 7).bytes, event.bytes);
    assert_ne!(firehose_event(300_000, 8).bytes, event.bytes);

    let rows = transform(&event.bytes, &Config::default());
    assert_eq!(rows.len(), event.records);
    assert!(rows.iter().all(|r| r.result == "Ok"), "{rows:?}");
    let mut kinds = BTreeMap::new();
    for row in &rows {
        let name: Value = serde_json::from_str(&row.column("_event_name").unwrap()).unwrap();
        *kinds.entry(name.as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    // A tenth REMOVE, a third MODIFY (but for REMOVEs), the rest INSERT.
    let n = rows.len();
    assert_eq!(kinds["REMOVE"], n / 10, "{kinds:?}");
    assert!(
        kinds["MODIFY"] > n / 4 && kinds["INSERT"] > n / 2,
        "{kinds:?}"
    );
}
