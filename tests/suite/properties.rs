//! Properties over random typed-JSON items and random bytes: the transformation never panics,
//! an Ok row is exactly one line of valid JSON, every number keeps its decimal value, a column
//! collision always fails the record instead of overwriting a value, the same change gives the
//! same row in the Kinesis and the DynamoDB Streams format, a change time is accepted exactly
//! inside the plausible window, and a response fitted to its size budget hands back exactly the
//! records it answers `Dropped`.

use crate::common;

use bigdecimal::BigDecimal;
use common::*;
use ddb_lake::transform_event;
use ddb_lake::{Config, ListMode};
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::str::FromStr;

/// A DynamoDB value, generated.
#[derive(Debug, Clone)]
enum Typed {
    S(String),
    N(String),
    B(String),
    Bool(bool),
    Null,
    M(Vec<(String, Typed)>),
    L(Vec<Typed>),
    SS(Vec<String>),
    NS(Vec<String>),
    BS(Vec<String>),
}

impl Typed {
    fn to_json(&self) -> String {
        let s = |v: &str| serde_json::to_string(v).unwrap();
        let list = |items: Vec<String>| format!("[{}]", items.join(","));
        match self {
            Typed::S(v) => format!("{{\"S\":{}}}", s(v)),
            Typed::N(v) => format!("{{\"N\":{}}}", s(v)),
            Typed::B(v) => format!("{{\"B\":{}}}", s(v)),
            Typed::Bool(v) => format!("{{\"BOOL\":{v}}}"),
            Typed::Null => "{\"NULL\":true}".to_owned(),
            Typed::M(entries) => format!("{{\"M\":{}}}", map_json(entries)),
            Typed::L(items) => format!(
                "{{\"L\":{}}}",
                list(items.iter().map(Typed::to_json).collect())
            ),
            Typed::SS(v) => format!("{{\"SS\":{}}}", list(v.iter().map(|x| s(x)).collect())),
            Typed::NS(v) => format!("{{\"NS\":{}}}", list(v.iter().map(|x| s(x)).collect())),
            Typed::BS(v) => format!("{{\"BS\":{}}}", list(v.iter().map(|x| s(x)).collect())),
        }
    }

    /// Every `N` in document order, the order the row writes them in.
    fn numbers(&self, out: &mut Vec<String>) {
        match self {
            Typed::N(v) => out.push(v.clone()),
            Typed::NS(v) => out.extend(v.iter().cloned()),
            Typed::M(entries) => entries.iter().for_each(|(_, t)| t.numbers(out)),
            Typed::L(items) => items.iter().for_each(|t| t.numbers(out)),
            _ => {}
        }
    }
}

fn map_json(entries: &[(String, Typed)]) -> String {
    let parts: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v.to_json()))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// A reference model of the column names flattening must produce, in order.
fn model_columns(
    entries: &[(String, Typed)],
    prefix: Option<&str>,
    sep: &str,
    out: &mut Vec<String>,
) {
    for (k, v) in entries {
        let name = match prefix {
            Some(p) => format!("{p}{sep}{k}"),
            None => k.clone(),
        };
        match v {
            Typed::M(children) => model_columns(children, Some(&name), sep, out),
            _ => out.push(name),
        }
    }
}

/// DynamoDB numbers: up to 38 significant digits, magnitudes from 1E-130 to below 1E+126.
fn number() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        "[1-9][0-9]{0,37}",
        0usize..40,
        // With the point anywhere in up to 38 digits, the value stays within 1E-130..<1E+126.
        -129i32..=88,
        0u8..4,
    )
        .prop_map(|(neg, digits, point, exp, style)| {
            let sign = if neg { "-" } else { "" };
            let point = point.min(digits.len());
            let (int, frac) = digits.split_at(digits.len() - point);
            let int = if int.is_empty() { "0" } else { int };
            let mantissa = if frac.is_empty() {
                int.to_string()
            } else {
                format!("{int}.{frac}")
            };
            match style {
                0 => format!("{sign}{mantissa}"),
                1 => format!("{sign}{mantissa}E{exp:+}"),
                2 => format!("{sign}{mantissa}e{exp}"),
                _ => format!("{sign}0"),
            }
        })
}

fn name() -> impl Strategy<Value = String> {
    // Few letters and the separator: collisions happen often enough to be tested.
    prop_oneof![3 => "[ab_]{0,3}", 1 => "\\PC{0,6}", 1 => Just("_event_id".to_owned())]
}

fn scalar() -> impl Strategy<Value = Typed> {
    prop_oneof![
        "\\PC{0,12}".prop_map(Typed::S),
        number().prop_map(Typed::N),
        "[A-Za-z0-9+/]{0,8}".prop_map(|b| Typed::B(format!("{b}=="))),
        any::<bool>().prop_map(Typed::Bool),
        Just(Typed::Null),
        prop::collection::vec("\\PC{0,5}", 0..3).prop_map(Typed::SS),
        prop::collection::vec(number(), 0..3).prop_map(Typed::NS),
        prop::collection::vec("[A-Z]{4}", 0..3).prop_map(Typed::BS),
    ]
}

fn typed() -> impl Strategy<Value = Typed> {
    scalar().prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec((name(), inner.clone()), 0..4).prop_map(Typed::M),
            prop::collection::vec(inner, 0..4).prop_map(Typed::L),
        ]
    })
}

fn image() -> impl Strategy<Value = Vec<(String, Typed)>> {
    prop::collection::vec((name(), typed()), 0..6)
}

fn record_with_image(image_json: &str) -> String {
    format!(
        r#"{{"awsRegion":"us-east-1","eventID":"e-1","eventName":"INSERT","tableName":"orders","dynamodb":{{"ApproximateCreationDateTime":{T_MS},"NewImage":{image_json}}},"eventSource":"aws:dynamodb"}}"#
    )
}

fn run_one(record_text: &str, config: &Config) -> ResponseRecord {
    let event = event_of(vec![firehose_record(0, &b64(record_text.as_bytes()))]);
    transform(&event, config).remove(0)
}

/// Every number token of a JSON text, in document order, exactly as written.
fn number_tokens(raw: &str, out: &mut Vec<String>) {
    match raw.as_bytes()[0] {
        b'{' => columns(&format!("{raw}\n"))
            .iter()
            .for_each(|(_, v)| number_tokens(v, out)),
        b'[' => serde_json::from_str::<Vec<&RawValue>>(raw)
            .unwrap()
            .iter()
            .for_each(|v| number_tokens(v.get(), out)),
        b'-' | b'0'..=b'9' => out.push(raw.to_owned()),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn rows_are_one_json_line_with_exact_numbers_and_no_silent_overwrites(image in image(), dotted in any::<bool>()) {
        let config = Config { separator: if dotted { ".".into() } else { "_".into() }, ..Config::default() };
        let r = run_one(&record_with_image(&map_json(&image)), &config);

        let mut expected = Vec::new();
        model_columns(&image, None, &config.separator, &mut expected);
        let metadata: HashSet<&str> = ["_event_name", "_event_id", "_event_time", "_table_name", "_aws_region",
            "_is_deleted", "_expired_by_ttl", "_stream_sequence_number", "_kinesis_shard_id", "_kinesis_sequence_number"].into();
        let mut seen = HashSet::new();
        let collides = expected.iter().any(|c| metadata.contains(c.as_str()) || !seen.insert(c.clone()));

        if collides {
            prop_assert_eq!(r.result.as_str(), "ProcessingFailed");
        } else {
            prop_assert_eq!(r.result.as_str(), "Ok");
            let cols = r.columns(); // asserts: one line, one JSON object
            let names: Vec<String> = cols.iter().skip(9).map(|(k, _)| k.clone()).collect();
            prop_assert_eq!(names, expected);
            let mut want = Vec::new();
            image.iter().for_each(|(_, t)| t.numbers(&mut want));
            let mut got = Vec::new();
            cols.iter().skip(9).for_each(|(_, v)| number_tokens(v, &mut got));
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(BigDecimal::from_str(g).unwrap(), BigDecimal::from_str(w).unwrap(), "{} became {}", w, g);
            }
        }
    }

    #[test]
    fn a_collision_is_always_a_failure(image in image(), key in "[a-z]{1,4}", leaf in "[a-z]{1,4}", value in scalar()) {
        // `key_leaf` as an attribute beside a map `key` holding `leaf`, in either order.
        let mut colliding = image.clone();
        colliding.push((key.clone(), Typed::M(vec![(leaf.clone(), value.clone())])));
        colliding.push((format!("{key}_{leaf}"), value.clone()));
        let r = run_one(&record_with_image(&map_json(&colliding)), &Config::default());
        prop_assert_eq!(r.result.as_str(), "ProcessingFailed");
        let mut reversed = image;
        reversed.insert(0, (format!("{key}_{leaf}"), value.clone()));
        reversed.push((key, Typed::M(vec![(leaf, value)])));
        let r = run_one(&record_with_image(&map_json(&reversed)), &Config::default());
        prop_assert_eq!(r.result.as_str(), "ProcessingFailed");
    }

    #[test]
    fn json_string_mode_holds_the_array_mode_value(image in image()) {
        let arrays = run_one(&record_with_image(&map_json(&image)), &Config::default());
        let strings = run_one(&record_with_image(&map_json(&image)), &Config { list_mode: ListMode::JsonString, ..Config::default() });
        prop_assert_eq!(&arrays.result, &strings.result);
        if arrays.result == "Ok" {
            for ((ka, va), (ks, vs)) in arrays.columns().iter().zip(strings.columns().iter()) {
                prop_assert_eq!(ka, ks);
                if va.starts_with('[') {
                    let inner: String = serde_json::from_str(vs).unwrap();
                    prop_assert_eq!(&inner, va);
                } else {
                    prop_assert_eq!(va, vs);
                }
            }
        }
    }

    #[test]
    fn random_data_never_panics_and_fails_alone(data in prop::collection::vec(any::<u8>(), 0..300), gz in any::<bool>()) {
        let mut bytes = data;
        if gz { bytes.splice(0..0, [0x1f, 0x8b]); }
        let good = b64(&serde_json::to_vec(&insert(json!({"pk": {"S": "a"}}))).unwrap());
        let event = event_of(vec![firehose_record(0, &b64(&bytes)), firehose_record(1, &good)]);
        let out = transform(&event, &Config::default());
        prop_assert_eq!(out.len(), 2);
        if out[0].result == "ProcessingFailed" {
            prop_assert_eq!(&out[0].data, &b64(&bytes));
        }
        prop_assert_eq!(out[1].result.as_str(), "Ok");
    }

    #[test]
    fn mangled_change_records_never_panic(image in image(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let text = record_with_image(&map_json(&image));
        let mut bytes = text.into_bytes();
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        let event = event_of(vec![firehose_record(0, &b64(&bytes))]);
        let out = transform(&event, &Config::default());
        prop_assert_eq!(out.len(), 1);
        prop_assert!(out[0].result == "Ok" || out[0].result == "ProcessingFailed");
        let truncated = &bytes[..at];
        let out = transform(&event_of(vec![firehose_record(0, &b64(truncated))]), &Config::default());
        prop_assert_eq!(out.len(), 1);
    }

    #[test]
    fn arbitrary_event_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = transform_event(&bytes, &Config::default());
    }
}

/// The same change in both formats: Kinesis Data Streams for DynamoDB (`tableName`, epoch
/// microseconds) and DynamoDB Streams (`eventSourceARN`, epoch seconds with a fraction).
fn both_formats(
    image_json: &str,
    event: &str,
    ttl: bool,
    seconds: u64,
    micros: u32,
) -> (String, String) {
    let image = if event == "REMOVE" {
        "OldImage"
    } else {
        "NewImage"
    };
    let identity = if ttl {
        r#""userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"},"#
    } else {
        ""
    };
    let kinesis = format!(
        r#"{{"awsRegion":"us-east-1","eventID":"e-1","eventName":"{event}",{identity}"recordFormat":"application/json","tableName":"orders","dynamodb":{{"ApproximateCreationDateTime":{}{micros:06},"Keys":{{"pk":{{"S":"k"}}}},"{image}":{image_json},"SizeBytes":10}},"eventSource":"aws:dynamodb"}}"#,
        seconds
    );
    let streams = format!(
        r#"{{"eventID":"e-1","eventName":"{event}","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1","dynamodb":{{"ApproximateCreationDateTime":{seconds}.{micros:06},"Keys":{{"pk":{{"S":"k"}}}},"{image}":{image_json},"SequenceNumber":"4421584500000000017450439091","SizeBytes":10,"StreamViewType":"NEW_AND_OLD_IMAGES"}},"eventSourceARN":"arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/2025-11-20T08:00:00.000",{identity}"x":0}}"#
    );
    (kinesis, streams)
}

/// A Direct PUT event (as an EventBridge Pipe fills the delivery stream) of these payloads.
fn direct_put_of(payloads: &[&[u8]]) -> Vec<u8> {
    let records: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"recordId": format!("r{i}"), "approximateArrivalTimestamp": 1_600_000_000_000u64, "data": b64(p)}))
        .collect();
    serde_json::to_vec(&json!({"records": records})).unwrap()
}

/// The plausible window in epoch microseconds: 2000-01-01T00:00:00Z up to 2200-01-01T00:00:00Z.
const WINDOW_MICROS: std::ops::Range<u64> = 946_684_800_000_000..7_258_118_400_000_000;

fn rfc3339(micros: u64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(micros as i64).unwrap();
    format!("\"{}\"", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

/// Change-time values: anywhere, and near the window's edges in every unit.
fn time_value() -> impl Strategy<Value = u64> {
    let edges = [
        946_684_800u64,
        7_258_118_400,
        946_684_800_000,
        7_258_118_400_000,
        946_684_800_000_000,
        7_258_118_400_000_000,
        100_000_000_000_000,
    ];
    prop_oneof![
        any::<u64>(),
        0u64..20_000_000_000_000_000,
        (prop::sample::select(edges.to_vec()), -3i64..3)
            .prop_map(|(e, d)| e.saturating_add_signed(d)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_same_change_gives_the_same_row_in_either_format(
        image in image(),
        event in prop::sample::select(vec!["INSERT", "MODIFY", "REMOVE"]),
        ttl in any::<bool>(),
        seconds in 946_684_800u64..7_258_118_400,
        micros in 0u32..1_000_000,
    ) {
        let (kinesis, streams) = both_formats(&map_json(&image), event, ttl, seconds, micros);
        let out = transform(&direct_put_of(&[kinesis.as_bytes(), streams.as_bytes()]), &Config::default());
        let (k, s) = (&out[0], &out[1]);
        prop_assert_eq!(&k.result, &s.result);
        if k.result == "Ok" {
            let mut expected = k.columns();
            expected.insert(7, ("_stream_sequence_number".to_owned(), r#""4421584500000000017450439091""#.to_owned()));
            prop_assert_eq!(s.columns(), expected);
            prop_assert_eq!(k.column("_event_time"), Some(rfc3339(seconds * 1_000_000 + u64::from(micros))));
            prop_assert_eq!(format!("{:?}", k.metadata), format!("{:?}", s.metadata));
        } else {
            prop_assert_eq!(&k.data, &b64(kinesis.as_bytes()));
            prop_assert_eq!(&s.data, &b64(streams.as_bytes()));
        }
    }

    #[test]
    fn a_change_time_is_accepted_exactly_inside_the_window(value in time_value(), fraction in 0u32..1_000_000) {
        let (kinesis, _) = both_formats("{}", "INSERT", false, 0, 0);
        let kinesis = kinesis.replace(r#""ApproximateCreationDateTime":0000000"#, &format!(r#""ApproximateCreationDateTime":{value}"#));
        let (_, streams) = both_formats("{}", "INSERT", false, value, fraction);
        let out = transform(&direct_put_of(&[kinesis.as_bytes(), streams.as_bytes()]), &Config::default());
        // The model: a Kinesis-format value ≥ 10^14 is microseconds, else milliseconds; a
        // DynamoDB Streams value is seconds with a fraction.
        let kinesis_micros = if value >= 100_000_000_000_000 { Some(value) } else { value.checked_mul(1000) };
        let streams_micros = value.checked_mul(1_000_000).and_then(|v| v.checked_add(u64::from(fraction)));
        for (r, micros, text) in [(&out[0], kinesis_micros, &kinesis), (&out[1], streams_micros, &streams)] {
            match micros.filter(|m| WINDOW_MICROS.contains(m)) {
                Some(m) => prop_assert_eq!(r.column("_event_time"), Some(rfc3339(m)), "{}", text),
                None => {
                    prop_assert_eq!(r.result.as_str(), "ProcessingFailed", "{}", text);
                    prop_assert_eq!(&r.data, &b64(text.as_bytes()));
                }
            }
        }
    }

    #[test]
    fn mangled_dynamodb_streams_records_never_panic(image in image(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (_, streams) = both_formats(&map_json(&image), "MODIFY", false, 1_763_632_799, 0);
        let mut bytes = streams.into_bytes();
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        let out = transform(&direct_put_of(&[&bytes, &bytes[..at]]), &Config::default());
        prop_assert_eq!(out.len(), 2);
        for r in &out {
            prop_assert!(r.result == "Ok" || r.result == "ProcessingFailed");
        }
    }
}

#[test]
fn mutated_events_never_panic() {
    // Byte-level mutations of a real event: every position, a few replacement bytes.
    let event = String::from_utf8(event(&[insert(
        json!({"pk": {"S": "a"}, "m": {"M": {"n": {"N": "1"}}}}),
    )]))
    .unwrap();
    let event: Value = serde_json::from_str(&event).unwrap();
    let bytes = serde_json::to_vec(&event).unwrap();
    for i in 0..bytes.len() {
        for b in [b'"', b'{', b'}', b'0', 0xff] {
            let mut m = bytes.clone();
            m[i] = b;
            if let Ok(batch) = transform_event(&m, &Config::default()) {
                assert!(batch.finish(usize::MAX).is_ok());
            }
        }
    }
}

/// One record of a random batch, for the response-size properties.
#[derive(Debug, Clone)]
enum Kind {
    Good { pad: usize, gzip: bool },
    NotJson,
    NotBase64,
    NoPartitionKey { pad: usize },
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => (0usize..1500, any::<bool>()).prop_map(|(pad, gzip)| Kind::Good { pad, gzip }),
        1 => Just(Kind::NotJson),
        1 => Just(Kind::NotBase64),
        1 => (0usize..600).prop_map(|pad| Kind::NoPartitionKey { pad }),
    ]
}

fn firehose_record_of(i: usize, kind: &Kind) -> Value {
    let good = |pad: usize| {
        serde_json::to_vec(&insert(
            json!({"pk": {"S": format!("K{i}")}, "pad": {"S": "p".repeat(pad)}}),
        ))
        .unwrap()
    };
    match kind {
        Kind::Good { pad, gzip: false } => firehose_record(i, &b64(&good(*pad))),
        Kind::Good { pad, gzip: true } => {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&good(*pad)).unwrap();
            firehose_record(i, &b64(&gz.finish().unwrap()))
        }
        Kind::NotJson => firehose_record(i, &b64(b"{not json")),
        Kind::NotBase64 => firehose_record(i, "*not base64*"),
        Kind::NoPartitionKey { pad } => {
            let mut r = firehose_record(i, &b64(&good(*pad)));
            r["kinesisRecordMetadata"]
                .as_object_mut()
                .unwrap()
                .remove("partitionKey");
            r
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The contract's "Response size": a fitted response is within its budget, answers every
    /// record in order, keeps the entries it keeps byte for byte, answers `Dropped` exactly the
    /// records handed back (with what the stream held and their partition keys), keeps the
    /// longest prefix of the Ok records, and refuses only when nothing could make it fit.
    #[test]
    fn a_fitted_response_is_within_budget_and_hands_back_exactly_the_dropped_records(
        kinds in prop::collection::vec(kind(), 0..25),
        fraction in 0.0f64..1.2,
    ) {
        use ddb_lake::{FitError, RecordResult};
        let records: Vec<Value> = kinds.iter().enumerate().map(|(i, k)| firehose_record_of(i, k)).collect();
        let event = event_of(records.clone());
        let config = Config::default();
        let mut batch = transform_event(&event, &config).unwrap();
        let full = transform_event(&event, &config).unwrap();
        let budget = 1024.max((full.response_len() as f64 * fraction) as usize);
        let before: Vec<RecordResult> = batch.outcomes.iter().map(|o| o.result).collect();
        match batch.fit(&event, budget) {
            Ok(put_back) => {
                prop_assert!(batch.response_len() <= budget);
                let dropped: Vec<usize> = batch.outcomes.iter().enumerate()
                    .filter(|(_, o)| o.result == RecordResult::Dropped).map(|(i, _)| i).collect();
                prop_assert_eq!(put_back.iter().map(|r| r.index).collect::<Vec<_>>(), dropped);
                for r in &put_back {
                    let original = &records[r.index];
                    prop_assert_eq!(b64(&r.data), original["data"].as_str().unwrap());
                    prop_assert_eq!(Some(r.partition_key.as_str()), original["kinesisRecordMetadata"]["partitionKey"].as_str());
                    let can_go = matches!(kinds[r.index], Kind::Good { .. } | Kind::NotJson);
                    prop_assert!(can_go, "record {} cannot go back", r.index);
                }
                // Ok records go from the end first: the kept ones are a prefix of those that can
                // go (one without a partition key always stays).
                let mut dropped_an_ok = false;
                for ((o, was), k) in batch.outcomes.iter().zip(&before).zip(&kinds) {
                    if *was == RecordResult::Ok && matches!(k, Kind::Good { .. }) {
                        prop_assert!(!(dropped_an_ok && o.result == RecordResult::Ok));
                        dropped_an_ok |= o.result == RecordResult::Dropped;
                    }
                }
                // A failed record goes only once every Ok record that can go has gone.
                let failed_went = batch.outcomes.iter().zip(&before).any(|(o, was)|
                    *was == RecordResult::ProcessingFailed && o.result == RecordResult::Dropped);
                if failed_went {
                    for (i, o) in batch.outcomes.iter().enumerate() {
                        if matches!(kinds[i], Kind::Good { .. }) {
                            prop_assert_eq!(o.result, RecordResult::Dropped);
                        }
                    }
                }
                let after = batch.finish(budget).unwrap();
                let after: Response = serde_json::from_slice(&after).unwrap();
                let before: Response = serde_json::from_slice(&full.finish(usize::MAX).unwrap()).unwrap();
                prop_assert_eq!(after.records.len(), before.records.len());
                for (a, b) in after.records.iter().zip(&before.records) {
                    prop_assert_eq!(&a.record_id, &b.record_id);
                    if a.result == "Dropped" {
                        prop_assert_eq!(a.data.as_str(), "");
                    } else {
                        prop_assert_eq!((&a.result, &a.data), (&b.result, &b.data));
                        prop_assert_eq!(format!("{:?}", a.metadata), format!("{:?}", b.metadata));
                    }
                }
            }
            Err(FitError::CannotFit { .. }) => {
                // Refused only when even handing back every record that can go would not fit.
                let least: usize = full.outcomes.iter().enumerate().map(|(i, o)| {
                    let can_go = matches!(kinds[i], Kind::Good { .. } | Kind::NotJson);
                    if can_go {
                        format!(",{{\"recordId\":\"rec-{i:04}\",\"result\":\"Dropped\",\"data\":\"\"}}").len() - usize::from(i == 0)
                    } else {
                        o.entry_len()
                    }
                }).sum::<usize>() + "{\"records\":[]}".len();
                prop_assert!(least > budget, "{} <= {}", least, budget);
                let unchanged: Vec<RecordResult> = batch.outcomes.iter().map(|o| o.result).collect();
                prop_assert_eq!(unchanged, before);
            }
            Err(other) => prop_assert!(false, "{}", other),
        }
    }
}

#[test]
fn an_n_outside_dynamodb_range_fails_its_record() {
    // Found by fuzzing (record_data): the row held `9.99…E+1225`, which JSON readers built on
    // 64-bit floats refuse; DynamoDB never stores such a value.
    for n in [
        "9.9999999999999999999999999999999999999E+1225",
        "1E+126",
        "1E-131",
    ] {
        let text = record_with_image(&format!(r#"{{"x":{{"N":"{n}"}}}}"#));
        let r = run_one(&text, &Config::default());
        assert_eq!(r.result, "ProcessingFailed", "{n}");
        assert_eq!(r.data, b64(text.as_bytes()));
    }
    let ok = run_one(
        &record_with_image(r#"{"x":{"N":"9.9999999999999999999999999999999999999E+125"}}"#),
        &Config::default(),
    );
    assert_eq!(
        ok.column("x").as_deref(),
        Some("9.9999999999999999999999999999999999999E+125")
    );
}
