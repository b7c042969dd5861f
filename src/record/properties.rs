//! Property tests of the hand-written codecs against the libraries they stand in for: the hot
//! path writes JSON strings and timestamps itself, and must write exactly what `serde_json` and
//! `chrono` would.

use crate::record::event_time::{EventTime, Precision};
use crate::record::json_out::write_json_str;
use chrono::{DateTime, SecondsFormat};
use proptest::prelude::*;

/// The last microsecond of the year 9999: RFC 3339 has no later four-digit year.
const LAST_MICROS: u64 = 253_402_300_799_999_999;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn json_strings_are_written_as_serde_json_writes_them(s in any::<String>()) {
        let mut ours = Vec::new();
        write_json_str(&mut ours, &s);
        let theirs = serde_json::to_vec(&s).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
    }

    #[test]
    fn json_strings_of_control_and_escape_characters(
        chars in proptest::collection::vec(prop_oneof![0u32..0x20, Just(0x22), Just(0x5c), Just(0x7f), 0x80u32..0x800, 0xd800u32..0x10ffff], 0..40)
    ) {
        let s: String = chars.into_iter().filter_map(char::from_u32).collect();
        let mut ours = Vec::new();
        write_json_str(&mut ours, &s);
        prop_assert_eq!(ours, serde_json::to_vec(&s).unwrap());
    }

    #[test]
    fn change_times_are_written_as_chrono_writes_rfc_3339(micros in 0..=LAST_MICROS) {
        let ours = EventTime::from_creation_time(micros, Some(Precision::Microsecond)).unwrap();
        let mut text = Vec::new();
        ours.write_json(&mut text);
        let theirs = DateTime::from_timestamp_micros(micros as i64)
            .unwrap()
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        prop_assert_eq!(String::from_utf8(text).unwrap(), format!("\"{theirs}\""));
    }
}

mod field_order {
    use crate::config::Config;
    use crate::record::event_time::{EventTime, TimeError};
    use crate::record::row::{RowWriter, StreamPosition};
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    /// An attribute value, valid or not: names and values are drawn so that collisions, bad
    /// numbers and unknown tags happen often.
    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!({"S": "x"})),
            Just(json!({"N": "1.50"})),
            Just(json!({"N": "1,5"})),
            Just(json!({"BOOL": true})),
            Just(json!({"M": {"b": {"S": "y"}}})),
            Just(json!({"L": [{"N": "7"}, {"S": "z"}]})),
            Just(json!({"Q": "unknown tag"})),
        ]
    }

    fn image() -> impl Strategy<Value = Vec<(String, Value)>> {
        prop::collection::vec(
            (prop::sample::select(vec!["a", "b", "a_b", "c"]), value()),
            0..4,
        )
        .prop_map(|attrs| attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn object(fields: Vec<(&str, Value)>, order: &[usize]) -> Value {
        let mut map = Map::new();
        for &i in order.iter().filter(|&&i| i < fields.len()) {
            map.insert(fields[i].0.to_owned(), fields[i].1.clone());
        }
        Value::Object(map)
    }

    /// The row, or the reason code, of `record`.
    fn outcome(rows: &mut RowWriter, record: &Value) -> Result<Vec<u8>, &'static str> {
        let text = serde_json::to_vec(record).unwrap();
        let arrival =
            || -> Result<EventTime, TimeError> { EventTime::from_millis(1_600_000_000_000) };
        match rows.change_record(&text, arrival, StreamPosition::default()) {
            Ok((line, _)) => Ok(line.to_vec()),
            Err(e) => Err(e.code()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// The NewImage is flattened while the record is read when `eventName` comes before it,
        /// and after the record is read otherwise: rows, and the reason a record with several
        /// faults fails, must be the same in every field order.
        #[test]
        fn rows_and_reasons_do_not_depend_on_field_order(
            new_image in image(),
            event_name in prop::sample::select(vec!["INSERT", "MODIFY", "REMOVE", "UPSERT"]),
            table in prop::sample::select(vec!["orders", "a/b"]),
            time in prop::sample::select(vec![1_700_000_000_123u64, 5]),
            order in Just((0..7).collect::<Vec<usize>>()).prop_shuffle(),
            inner in Just((0..4).collect::<Vec<usize>>()).prop_shuffle(),
        ) {
            let image: Map<String, Value> = new_image.into_iter().collect();
            let dynamodb = |o: &[usize]| object(vec![
                ("ApproximateCreationDateTime", json!(time)),
                ("Keys", json!({"a": {"S": "k"}})),
                ("NewImage", Value::Object(image.clone())),
                ("SizeBytes", json!(10)),
            ], o);
            let record = |o: &[usize], inner: &[usize]| object(vec![
                ("awsRegion", json!("us-east-1")),
                ("eventID", json!("e-1")),
                ("eventName", json!(event_name)),
                ("tableName", json!(table)),
                ("eventSource", json!("aws:dynamodb")),
                ("recordFormat", json!("application/json")),
                ("dynamodb", dynamodb(inner)),
            ], o);
            let mut rows = RowWriter::new(&Config::default());
            let shuffled = outcome(&mut rows, &record(&order, &inner));
            // Event name first and NewImage first: flattened while read.
            let eager = outcome(&mut rows, &record(&[2, 0, 1, 3, 4, 5, 6], &[2, 0, 1, 3]));
            // The dynamodb map before the event name: flattened after.
            let late = outcome(&mut rows, &record(&[6, 0, 1, 2, 3, 4, 5], &[0, 1, 2, 3]));
            prop_assert_eq!(&eager, &late);
            prop_assert_eq!(&shuffled, &late);
        }
    }
}
