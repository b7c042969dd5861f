//! One test (at least) per rule of the transformation contract, run through the whole batch
//! transformation as Firehose would call it.

use crate::common;

use common::*;
use ddb_lake::transform_event;
use ddb_lake::EventError;
use ddb_lake::{Config, Limits, ListMode};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use std::io::Write;

fn cols(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The attribute columns of a row (everything after the metadata columns).
fn attributes(r: &ResponseRecord) -> Vec<(String, String)> {
    r.columns()
        .into_iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .collect()
}

#[test]
fn one_response_record_per_input_record_same_ids_same_order() {
    let good = insert(json!({"pk": {"S": "a"}}));
    let mut records = Vec::new();
    for i in 0..20 {
        let data = if i % 3 == 0 {
            "%%%".to_string()
        } else {
            b64(&serde_json::to_vec(&good).unwrap())
        };
        records.push(firehose_record(i, &data));
    }
    let out = transform(&event_of(records), &Config::default());
    assert_eq!(out.len(), 20);
    for (i, r) in out.iter().enumerate() {
        assert_eq!(r.record_id, format!("rec-{i:04}"));
        let expected = if i % 3 == 0 { "ProcessingFailed" } else { "Ok" };
        assert_eq!(r.result, expected);
    }
}

#[test]
fn metadata_columns_come_first_in_contract_order() {
    let r = transform_one(&insert(json!({"pk": {"S": "a"}, "n": {"N": "1"}})));
    assert_eq!(r.result, "Ok");
    let line = r.line();
    assert!(
        line.ends_with("}\n") && line.matches('\n').count() == 1,
        "{line:?}"
    );
    assert_eq!(
        r.columns(),
        cols(&[
            ("_event_name", r#""INSERT""#),
            ("_event_id", r#""7f4c0a52-0d5f-4c3e-9a57-5a1c0d1e2f30""#),
            ("_event_time", r#""2023-11-14T22:13:20.123000Z""#),
            ("_table_name", r#""orders""#),
            ("_aws_region", r#""us-east-1""#),
            ("_is_deleted", "false"),
            ("_expired_by_ttl", "false"),
            ("_kinesis_shard_id", r#""shardId-000000000003""#),
            ("_kinesis_sequence_number", r#""496300000000000000000000""#),
            ("pk", r#""a""#),
            ("n", "1"),
        ])
    );
}

#[test]
fn metadata_prefix_is_configurable() {
    let config = Config {
        metadata_prefix: "meta__".into(),
        ..Config::default()
    };
    let r = transform_one_with(
        &insert(json!({"_event_name": {"S": "no clash now"}})),
        &config,
    );
    let names: Vec<String> = r.columns().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names[0], "meta__event_name");
    assert_eq!(names[8], "meta__kinesis_sequence_number");
    assert_eq!(names[9], "_event_name");
    let clash = transform_one_with(&insert(json!({"meta__event_id": {"S": "x"}})), &config);
    assert_eq!(clash.result, "ProcessingFailed");
}

#[test]
fn direct_put_records_have_no_stream_columns() {
    let data = b64(&serde_json::to_vec(&insert(json!({"pk": {"S": "a"}}))).unwrap());
    let event = serde_json::to_vec(&json!({
        "invocationId": "i", "deliveryStreamArn": "arn:aws:firehose:us-east-1:1:deliverystream/d", "region": "us-east-1",
        "records": [{"recordId": "r1", "approximateArrivalTimestamp": 1_600_000_000_000u64, "data": data}]
    }))
    .unwrap();
    let r = &transform(&event, &Config::default())[0];
    assert_eq!(r.result, "Ok");
    assert!(r.column("_kinesis_shard_id").is_none());
    assert!(r.column("_kinesis_sequence_number").is_none());
    assert_eq!(r.column("_expired_by_ttl").as_deref(), Some("false"));
}

#[test]
fn image_is_new_for_insert_and_modify_old_for_remove_keys_when_absent() {
    let old = json!({"pk": {"S": "k"}, "state": {"S": "old"}});
    let new = json!({"pk": {"S": "k"}, "state": {"S": "new"}});
    let both = json!({"ApproximateCreationDateTime": T_MS, "Keys": {"pk": {"S": "k"}}, "NewImage": new, "OldImage": old});
    let modify = transform_one(&change("MODIFY", both.clone()));
    assert_eq!(modify.column("state").as_deref(), Some(r#""new""#));
    assert_eq!(modify.column("_is_deleted").as_deref(), Some("false"));
    let remove = transform_one(&change(
        "REMOVE",
        json!({"ApproximateCreationDateTime": T_MS, "Keys": {"pk": {"S": "k"}}, "OldImage": old}),
    ));
    assert_eq!(remove.column("state").as_deref(), Some(r#""old""#));
    assert_eq!(remove.column("_is_deleted").as_deref(), Some("true"));
    let keys_only = transform_one(&change(
        "REMOVE",
        json!({"ApproximateCreationDateTime": T_MS, "Keys": {"pk": {"S": "k"}, "sk": {"N": "7"}}}),
    ));
    assert_eq!(
        attributes(&keys_only),
        cols(&[("pk", r#""k""#), ("sk", "7")])
    );
    let insert_keys_only = transform_one(&change(
        "INSERT",
        json!({"ApproximateCreationDateTime": T_MS, "Keys": {"pk": {"S": "k"}}}),
    ));
    assert_eq!(attributes(&insert_keys_only), cols(&[("pk", r#""k""#)]));
}

#[test]
fn ttl_deletes_are_flagged_user_deletes_are_not() {
    let mut ttl = change(
        "REMOVE",
        json!({"ApproximateCreationDateTime": T_MS, "Keys": {"pk": {"S": "k"}}}),
    );
    ttl["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
    assert_eq!(
        transform_one(&ttl).column("_expired_by_ttl").as_deref(),
        Some("true")
    );
    let mut user = ttl.clone();
    user["userIdentity"] = json!({"type": "User", "principalId": "AIDAEXAMPLE"});
    assert_eq!(
        transform_one(&user).column("_expired_by_ttl").as_deref(),
        Some("false")
    );
    let plain = change(
        "REMOVE",
        json!({"ApproximateCreationDateTime": T_MS, "Keys": {"pk": {"S": "k"}}}),
    );
    assert_eq!(
        transform_one(&plain).column("_expired_by_ttl").as_deref(),
        Some("false")
    );
}

#[test]
fn maps_flatten_recursively_with_the_separator_and_empty_maps_vanish() {
    let image = json!({
        "address": {"M": {"geo": {"M": {"lat": {"N": "47.6"}, "lng": {"N": "-122.3"}}}, "city": {"S": "Seattle"}, "extra": {"M": {}}}},
        "name with space": {"S": "ok"}, "名前": {"M": {"ü": {"BOOL": true}}}
    });
    let r = transform_one(&insert(image.clone()));
    assert_eq!(
        attributes(&r),
        cols(&[
            ("address_geo_lat", "47.6"),
            ("address_geo_lng", "-122.3"),
            ("address_city", r#""Seattle""#),
            ("name with space", r#""ok""#),
            ("名前_ü", "true"),
        ])
    );
    let dotted = Config {
        separator: ".".into(),
        ..Config::default()
    };
    let r = transform_one_with(&insert(image), &dotted);
    assert_eq!(r.column("address.geo.lat").as_deref(), Some("47.6"));
    assert_eq!(r.column("名前.ü").as_deref(), Some("true"));
}

#[test]
fn every_dynamodb_type_has_its_json_form() {
    let image = json!({
        "s": {"S": "text"}, "n": {"N": "42"}, "b": {"B": "3q2+7w=="}, "t": {"BOOL": true}, "f": {"BOOL": false},
        "null": {"NULL": true}, "m": {"M": {"x": {"S": "y"}}}, "l": {"L": [{"S": "a"}, {"N": "1.5"}, {"M": {"k": {"L": [{"NULL": true}]}}}, {"BS": ["AA=="]}]},
        "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.25"]}, "bs": {"BS": ["AAE=", "AgM="]}
    });
    let r = transform_one(&insert(image));
    assert_eq!(
        attributes(&r),
        cols(&[
            ("s", r#""text""#),
            ("n", "42"),
            ("b", r#""3q2+7w==""#),
            ("t", "true"),
            ("f", "false"),
            ("null", "null"),
            ("m_x", r#""y""#),
            ("l", r#"["a",1.5,{"k":[null]},["AA=="]]"#),
            ("ss", r#"["a","b"]"#),
            ("ns", "[1,2.25]"),
            ("bs", r#"["AAE=","AgM="]"#),
        ])
    );
}

#[test]
fn json_string_list_mode_makes_every_list_and_set_a_string() {
    let config = Config {
        list_mode: ListMode::JsonString,
        ..Config::default()
    };
    let image = json!({"l": {"L": [{"S": "a\"q"}, {"M": {"k": {"N": "1"}}}]}, "ss": {"SS": ["x"]}, "ns": {"NS": ["3"]}, "bs": {"BS": ["AA=="]}, "m": {"M": {"l": {"L": []}}}, "s": {"S": "scalar"}});
    let r = transform_one_with(&insert(image), &config);
    let attrs = attributes(&r);
    assert_eq!(
        attrs,
        cols(&[
            ("l", r#""[\"a\\\"q\",{\"k\":1}]""#),
            ("ss", r#""[\"x\"]""#),
            ("ns", r#""[3]""#),
            ("bs", r#""[\"AA==\"]""#),
            ("m_l", r#""[]""#),
            ("s", r#""scalar""#),
        ])
    );
    // Each string holds exactly the array mode's value.
    let inner: String = serde_json::from_str(&attrs[0].1).unwrap();
    assert_eq!(inner, r#"["a\"q",{"k":1}]"#);
}

#[test]
fn numbers_keep_their_exact_decimal_value() {
    let values = [
        "12345678901234567890123456789012345678",
        "-12345678901234567890123456789012345678",
        "0.1000000000000000000001",
        "1E-130",
        "9.9999999999999999999999999999999999999E+125",
        "-1.0000000000000000000000000000000000001E-130",
        "123.4500",
        "0",
    ];
    let image: serde_json::Map<String, Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("n{i}"), json!({"N": v})))
        .collect();
    let mut image = Value::Object(image);
    image["ns"] = json!({"NS": ["99999999999999999999999999999999999999", "1E+125"]});
    image["l"] = json!({"L": [{"N": "3.14159265358979323846264338327950288"}]});
    let r = transform_one(&insert(image));
    for (i, v) in values.iter().enumerate() {
        assert_eq!(r.column(&format!("n{i}")).as_deref(), Some(*v));
    }
    assert_eq!(
        r.column("ns").as_deref(),
        Some("[99999999999999999999999999999999999999,1E+125]")
    );
    assert_eq!(
        r.column("l").as_deref(),
        Some("[3.14159265358979323846264338327950288]")
    );
}

#[test]
fn collisions_fail_the_record_never_overwrite() {
    for image in [
        json!({"a_b": {"S": "flat"}, "a": {"M": {"b": {"S": "nested"}}}}),
        json!({"a": {"M": {"b": {"S": "nested"}}}, "a_b": {"S": "flat"}}),
        json!({"_event_time": {"S": "spoof"}}),
        json!({"_kinesis_shard_id": {"S": "x"}}),
        json!({"": {"M": {"event_id": {"S": "x"}}}}),
    ] {
        let r = transform_one(&insert(image.clone()));
        assert_eq!(r.result, "ProcessingFailed", "{image}");
    }
    // Duplicate attribute names in the JSON text are a collision too.
    let text = r#"{"awsRegion":"r","eventID":"e","eventName":"INSERT","tableName":"orders","dynamodb":{"ApproximateCreationDateTime":1700000000123,"NewImage":{"a":{"S":"1"},"a":{"S":"2"}}}}"#;
    let r = &transform(
        &event_of(vec![firehose_record(0, &b64(text.as_bytes()))]),
        &Config::default(),
    )[0];
    assert_eq!(r.result, "ProcessingFailed");
}

fn nested_maps(levels: usize) -> Value {
    let mut v = json!({"S": "leaf"});
    for _ in 0..levels {
        v = json!({"M": {"a": v}});
    }
    json!({ "root": v })
}

fn nested_lists(levels: usize) -> Value {
    let mut v = json!({"S": "leaf"});
    for _ in 0..levels {
        v = json!({"L": [v]});
    }
    json!({ "root": v })
}

/// DynamoDB counts the item as the first of its 32 levels: an attribute value holds at most 31
/// nested maps or lists (31 nested `M`s are accepted by the service, 32 refused).
#[test]
fn nesting_counts_the_item_as_the_first_of_32_levels() {
    for (image, containers) in [
        (nested_maps(31), 31),
        (nested_lists(31), 31),
        (nested_maps(32), 32),
        (nested_lists(32), 32),
    ] {
        for change in [insert(image.clone()), streams_insert(image)] {
            let r = transform_one(&change);
            if containers <= 31 {
                assert_eq!(r.result, "Ok", "{containers}");
                assert!(r.columns().last().unwrap().1.contains(r#""leaf""#));
            } else {
                assert_eq!(r.result, "ProcessingFailed", "{containers}");
                assert_eq!(r.data, b64(&serde_json::to_vec(&change).unwrap()));
            }
        }
    }
    // The same count in a REMOVE's OldImage, which is flattened after the record is read.
    let old = |image: Value| {
        change(
            "REMOVE",
            json!({"ApproximateCreationDateTime": T_MS, "Keys": {"pk": {"S": "k"}}, "OldImage": image}),
        )
    };
    assert_eq!(transform_one(&old(nested_maps(31))).result, "Ok");
    assert_eq!(
        transform_one(&old(nested_maps(32))).result,
        "ProcessingFailed"
    );
    // Deep enough to overflow a naive recursive parser: still only this record fails.
    let deep = format!(
        r#"{{"awsRegion":"r","eventID":"e","eventName":"INSERT","tableName":"orders","dynamodb":{{"NewImage":{{"a":{}{}}}}}}}"#,
        r#"{"L":["#.repeat(100_000),
        "]}".repeat(100_000)
    );
    let r = &transform(
        &event_of(vec![firehose_record(0, &b64(deep.as_bytes()))]),
        &Config::default(),
    )[0];
    assert_eq!(r.result, "ProcessingFailed");
}

#[test]
fn change_time_in_milliseconds_or_microseconds() {
    let at = |value: Value, precision: Option<&str>| {
        let mut d = json!({"ApproximateCreationDateTime": value, "Keys": {"pk": {"S": "k"}}});
        if let Some(p) = precision {
            d["ApproximateCreationDateTimePrecision"] = json!(p);
        }
        transform_one(&change("INSERT", d))
    };
    let ms = at(json!(1_700_000_000_123u64), None);
    let us = at(json!(1_700_000_000_123_456u64), None);
    let us_named = at(json!(1_700_000_000_123_456u64), Some("MICROSECOND"));
    let ms_named = at(json!(1_700_000_000_123u64), Some("MILLISECOND"));
    assert_eq!(
        ms.column("_event_time").unwrap(),
        r#""2023-11-14T22:13:20.123000Z""#
    );
    assert_eq!(
        ms_named.column("_event_time").unwrap(),
        r#""2023-11-14T22:13:20.123000Z""#
    );
    assert_eq!(
        us.column("_event_time").unwrap(),
        r#""2023-11-14T22:13:20.123456Z""#
    );
    assert_eq!(
        us_named.column("_event_time").unwrap(),
        r#""2023-11-14T22:13:20.123456Z""#
    );
    let keys = |r: &ResponseRecord| r.metadata.clone().unwrap().partition_keys;
    assert_eq!(keys(&ms), keys(&us));
    // A value named MICROSECOND is not read as milliseconds (10^12 µs is 1970-01-12, which
    // then fails as implausible; as milliseconds it would have been 2001).
    let named = at(json!(1_000_000_000_000u64), Some("MICROSECOND"));
    assert_eq!(named.result, "ProcessingFailed");
    assert_eq!(at(json!(1_000_000_000_000u64), None).result, "Ok");
    assert_eq!(
        at(json!(1_700_000_000_123u64), Some("NANOSECOND")).result,
        "ProcessingFailed"
    );
    assert_eq!(at(json!("1700000000123"), None).result, "ProcessingFailed");
}

#[test]
fn partition_keys_come_from_the_change_time_as_padded_strings() {
    // 2024-03-05T07:08:09Z, while Firehose saw it in 2020.
    let r = transform_one(&change(
        "INSERT",
        json!({"ApproximateCreationDateTime": 1_709_622_489_000u64, "Keys": {"pk": {"S": "k"}}}),
    ));
    let keys = r.metadata.unwrap().partition_keys;
    let expected: Vec<(&str, &str)> = vec![
        ("day", "05"),
        ("hour", "07"),
        ("month", "03"),
        ("table", "orders"),
        ("year", "2024"),
    ];
    assert_eq!(
        keys.iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn firehose_arrival_time_is_used_only_when_the_change_time_is_absent() {
    let r = transform_one(&change("INSERT", json!({"Keys": {"pk": {"S": "k"}}})));
    // firehose_record(0, ..) arrives at 1_600_000_000_000 ms = 2020-09-13T12:26:40Z.
    assert_eq!(
        r.column("_event_time").unwrap(),
        r#""2020-09-13T12:26:40.000000Z""#
    );
    let keys = r.metadata.unwrap().partition_keys;
    assert_eq!(
        (
            keys["year"].as_str(),
            keys["month"].as_str(),
            keys["day"].as_str(),
            keys["hour"].as_str()
        ),
        ("2020", "09", "13", "12")
    );
    // Neither time: the record fails rather than landing in a made-up partition.
    let data =
        b64(&serde_json::to_vec(&change("INSERT", json!({"Keys": {"pk": {"S": "k"}}}))).unwrap());
    let event = serde_json::to_vec(&json!({"records": [{"recordId": "r", "data": data}]})).unwrap();
    assert_eq!(
        transform(&event, &Config::default())[0].result,
        "ProcessingFailed"
    );
}

#[test]
fn gzip_payloads_are_decompressed() {
    let change = insert(json!({"pk": {"S": "zipped"}}));
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&serde_json::to_vec(&change).unwrap()).unwrap();
    let data = b64(&gz.finish().unwrap());
    let r = &transform(
        &event_of(vec![firehose_record(0, &data)]),
        &Config::default(),
    )[0];
    assert_eq!(r.result, "Ok");
    assert_eq!(r.column("pk").as_deref(), Some(r#""zipped""#));
}

/// Every kind of bad record fails alone and gives back its original `data`.
#[test]
fn bad_records_fail_with_their_original_data() {
    let good = insert(json!({"pk": {"S": "a"}}));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        b64(&serde_json::to_vec(&c).unwrap())
    };
    let mut truncated_gzip = GzEncoder::new(Vec::new(), Compression::default());
    truncated_gzip.write_all(b"{\"awsRegion\":\"x\"}").unwrap();
    let truncated_gzip = truncated_gzip.finish().unwrap()[..12].to_vec();
    let bad: Vec<(&str, String)> = vec![
        ("bad base64", "this is not base64!".into()),
        ("bad base64 (padding)", "eyJ".into()),
        ("bad gzip", b64(&truncated_gzip)),
        ("invalid UTF-8", b64(b"{\"eventName\":\"INSERT\xff\"}")),
        ("invalid JSON", b64(b"{\"eventName\": INSERT}")),
        ("empty", String::new()),
        ("JSON but not a change record", b64(b"[1,2,3]")),
        (
            "missing dynamodb",
            with(&|c| drop(c.as_object_mut().unwrap().remove("dynamodb"))),
        ),
        (
            "missing eventID",
            with(&|c| drop(c.as_object_mut().unwrap().remove("eventID"))),
        ),
        (
            "unknown eventName",
            with(&|c| c["eventName"] = json!("UPSERT")),
        ),
        (
            "other event source",
            with(&|c| c["eventSource"] = json!("aws:kinesis")),
        ),
        (
            "bad table name",
            with(&|c| c["tableName"] = json!("../../etc")),
        ),
        (
            "no type tag",
            with(&|c| c["dynamodb"]["NewImage"]["x"] = json!({})),
        ),
        (
            "two type tags",
            with(&|c| c["dynamodb"]["NewImage"]["x"] = json!({"S": "a", "N": "1"})),
        ),
        (
            "unknown type tag",
            with(&|c| c["dynamodb"]["NewImage"]["x"] = json!({"STR": "a"})),
        ),
        (
            "untyped value",
            with(&|c| c["dynamodb"]["NewImage"]["x"] = json!("plain")),
        ),
        (
            "N not a number",
            with(&|c| c["dynamodb"]["NewImage"]["x"] = json!({"N": "twelve"})),
        ),
        (
            "NS element not a number",
            with(&|c| c["dynamodb"]["NewImage"]["x"] = json!({"NS": ["1", "NaN"]})),
        ),
        (
            "S not a string",
            with(&|c| c["dynamodb"]["NewImage"]["x"] = json!({"S": 5})),
        ),
        (
            "too deep",
            with(&|c| c["dynamodb"]["NewImage"] = nested_maps(40)),
        ),
        (
            "collision",
            with(&|c| c["dynamodb"]["NewImage"]["_event_name"] = json!({"S": "x"})),
        ),
        (
            "no image and no keys",
            with(&|c| c["dynamodb"] = json!({"ApproximateCreationDateTime": T_MS})),
        ),
        (
            "time out of range",
            with(&|c| c["dynamodb"]["ApproximateCreationDateTime"] = json!(u64::MAX)),
        ),
        (
            "epoch seconds in a Kinesis-format record",
            with(&|c| c["dynamodb"]["ApproximateCreationDateTime"] = json!(T_S)),
        ),
        (
            "a DynamoDB Streams record whose ARN names no table",
            b64(&serde_json::to_vec(&{
                let mut c = streams_insert(json!({"pk": {"S": "a"}}));
                c["eventSourceARN"] = json!("stream-ARN");
                c
            })
            .unwrap()),
        ),
        (
            "a DynamoDB Streams record in milliseconds",
            b64(&serde_json::to_vec(&{
                let mut c = streams_insert(json!({"pk": {"S": "a"}}));
                c["dynamodb"]["ApproximateCreationDateTime"] = json!(T_MS);
                c
            })
            .unwrap()),
        ),
    ];
    let mut records: Vec<Value> = bad
        .iter()
        .enumerate()
        .map(|(i, (_, d))| firehose_record(i, d))
        .collect();
    records.push(firehose_record(bad.len(), &with(&|_| ())));
    let out = transform(&event_of(records), &Config::default());
    for (i, (what, data)) in bad.iter().enumerate() {
        assert_eq!(out[i].result, "ProcessingFailed", "{what}");
        assert_eq!(&out[i].data, data, "{what}: data must come back unchanged");
        assert!(out[i].metadata.is_none(), "{what}");
    }
    assert_eq!(out[bad.len()].result, "Ok");
}

#[test]
fn failed_data_comes_back_as_the_same_string_even_with_json_escapes() {
    // `\/` is a legal JSON escape for `/`; the string value is what Firehose holds.
    let event =
        br#"{"records":[{"recordId":"r0","approximateArrivalTimestamp":1,"data":"ab\/cd!"}]}"#;
    let out = transform(event, &Config::default());
    assert_eq!(out[0].result, "ProcessingFailed");
    assert_eq!(out[0].data, "ab/cd!");
}

#[test]
fn a_malformed_record_in_hundreds_changes_only_its_own_response() {
    let changes: Vec<Value> = (0..400)
        .map(|i| insert(json!({"pk": {"S": format!("item-{i}")}, "n": {"N": i.to_string()}, "m": {"M": {"x": {"L": [{"N": "1"}]}}}})))
        .collect();
    let clean = transform(&event(&changes), &Config::default());
    assert!(clean.iter().all(|r| r.result == "Ok"));
    for (victim, poison) in [(0, "!!!"), (199, "e30="), (399, "H4sI")] {
        let mut records: Vec<Value> = changes
            .iter()
            .enumerate()
            .map(|(i, c)| firehose_record(i, &b64(&serde_json::to_vec(c).unwrap())))
            .collect();
        records[victim]["data"] = json!(poison);
        let out = transform(&event_of(records), &Config::default());
        assert_eq!(out.len(), clean.len());
        for (i, (a, b)) in out.iter().zip(&clean).enumerate() {
            if i == victim {
                assert_eq!(
                    (a.result.as_str(), a.data.as_str()),
                    ("ProcessingFailed", poison)
                );
            } else {
                assert_eq!(
                    (&a.record_id, &a.result, &a.data),
                    (&b.record_id, &b.result, &b.data),
                    "record {i}"
                );
            }
        }
    }
}

#[test]
fn a_record_with_a_broken_envelope_fails_alone() {
    let good = b64(&serde_json::to_vec(&insert(json!({"pk": {"S": "a"}}))).unwrap());
    let mut broken = firehose_record(0, &good);
    broken["approximateArrivalTimestamp"] = json!("yesterday");
    broken["kinesisRecordMetadata"] = json!(17);
    let out = transform(
        &event_of(vec![broken, firehose_record(1, &good)]),
        &Config::default(),
    );
    assert_eq!(
        (out[0].result.as_str(), out[0].data.as_str()),
        ("ProcessingFailed", good.as_str())
    );
    assert_eq!(out[1].result, "Ok");
}

#[test]
fn a_malformed_arrival_time_matters_only_to_a_record_without_a_change_time() {
    let timed = b64(&serde_json::to_vec(&insert(json!({"pk": {"S": "a"}}))).unwrap());
    let untimed =
        b64(&serde_json::to_vec(&change("INSERT", json!({"Keys": {"pk": {"S": "k"}}}))).unwrap());
    let mut records = vec![firehose_record(0, &timed), firehose_record(1, &untimed)];
    for r in &mut records {
        r["approximateArrivalTimestamp"] = json!("yesterday");
    }
    let out = transform(&event_of(records), &Config::default());
    assert_eq!(out[0].result, "Ok");
    assert_eq!(
        (out[1].result.as_str(), out[1].data.as_str()),
        ("ProcessingFailed", untimed.as_str())
    );
}

#[test]
fn an_event_that_cannot_be_answered_is_an_error() {
    let cases: [&[u8]; 6] = [
        b"",
        b"not json",
        b"[]",
        br#"{"invocationId":"i"}"#,
        br#"{"records":[{"data":"e30="}]}"#,
        br#"{"records":[{"recordId":"r","data":17}]}"#,
    ];
    for bytes in cases {
        let err = transform_event(bytes, &Config::default()).unwrap_err();
        assert!(
            matches!(err, EventError::NotAFirehoseEvent(_)),
            "{}: {err}",
            String::from_utf8_lossy(bytes)
        );
    }
    let empty = transform(br#"{"records":[]}"#, &Config::default());
    assert!(empty.is_empty());
}

#[test]
fn the_response_budget_is_honoured() {
    let changes: Vec<Value> = (0..50)
        .map(|i| insert(json!({"pk": {"S": format!("{i:0>200}")}})))
        .collect();
    let event = event(&changes);
    let batch = transform_event(&event, &Config::default()).unwrap();
    let size = batch.response_len();
    let response = batch.finish(size).unwrap();
    assert_eq!(response.len(), size);
    let batch = transform_event(&event, &Config::default()).unwrap();
    match batch.finish(size - 1) {
        Err(EventError::ResponseTooLarge { size: s, budget }) => {
            assert_eq!((s, budget), (size, size - 1))
        }
        other => panic!("expected ResponseTooLarge, got {other:?}"),
    }
}

#[test]
fn duplicate_deliveries_carry_the_same_event_id() {
    let c = insert(json!({"pk": {"S": "a"}}));
    let out = transform(&event(&[c.clone(), c]), &Config::default());
    assert_eq!(out[0].column("_event_id"), out[1].column("_event_id"));
}

#[test]
fn a_row_too_large_for_any_response_fails_alone() {
    let config = Config {
        limits: Limits {
            max_response_bytes: 20_000,
            ..Limits::default()
        },
        ..Config::default()
    };
    // A long key above many leaves repeats in every column name: the row would be far larger
    // than its record. And a plain value larger than a response may hold.
    let leaves: serde_json::Map<String, Value> = (0..300)
        .map(|i| (format!("a{i}"), json!({"S": ""})))
        .collect();
    let amplified = insert(json!({ "k".repeat(2000): {"M": leaves} }));
    let huge_value = insert(json!({"note": {"S": "x".repeat(20_000)}}));
    let fine = insert(json!({"pk": {"S": "a"}}));
    let event = event(&[amplified.clone(), huge_value.clone(), fine]);
    let batch = transform_event(&event, &config).unwrap();
    let out = serde_json::from_slice::<Response>(&batch.finish(usize::MAX).unwrap())
        .unwrap()
        .records;
    for (r, change) in out.iter().zip([&amplified, &huge_value]) {
        assert_eq!(r.result, "ProcessingFailed");
        assert_eq!(r.data, b64(&serde_json::to_vec(change).unwrap()));
    }
    assert_eq!(out[2].result, "Ok");
}

#[test]
fn rows_past_the_batch_bound_fail_instead_of_filling_memory() {
    let config = Config {
        limits: Limits {
            max_batch_bytes: 32_000,
            ..Limits::default()
        },
        ..Config::default()
    };
    let changes: Vec<Value> = (0..40)
        .map(|i| insert(json!({"pk": {"S": format!("{i}")}, "note": {"S": "n".repeat(3000)}})))
        .collect();
    let event = event(&changes);
    let batch = transform_event(&event, &config).unwrap();
    // Ok entries are ~4.3 KB: about 8 fit under 32,000 bytes; the rest fail with their data
    // kept, so the response stays within the event's size plus that bound.
    assert!(batch.response_len() < event.len() + config.limits.max_batch_bytes);
    let response: Response = serde_json::from_slice(&batch.finish(usize::MAX).unwrap()).unwrap();
    let ok = response
        .records
        .iter()
        .take_while(|r| r.result == "Ok")
        .count();
    assert!((6..=9).contains(&ok), "{ok} Ok records");
    for (r, change) in response.records.iter().zip(&changes).skip(ok) {
        assert_eq!(r.result, "ProcessingFailed");
        assert_eq!(r.data, b64(&serde_json::to_vec(change).unwrap()));
    }
}

/// Each rule, as a DynamoDB Streams record: the same row as the Kinesis format, except that the
/// table comes from `eventSourceARN`, the change time is epoch seconds, and
/// `_stream_sequence_number` follows `_expired_by_ttl`.
#[test]
fn a_dynamodb_streams_record_gives_the_kinesis_row_plus_its_sequence_number() {
    let image = json!({"pk": {"S": "a"}, "n": {"N": "12345678901234567890123456789012345678"},
                       "m": {"M": {"x": {"L": [{"N": "1"}, {"M": {"k": {"S": "v"}}}]}}}});
    let kinesis = change(
        "INSERT",
        json!({"ApproximateCreationDateTime": T_S * 1000, "Keys": {"pk": {"S": "a"}}, "NewImage": image}),
    );
    let streams = streams_change(
        "INSERT",
        json!({"ApproximateCreationDateTime": T_S, "Keys": {"pk": {"S": "a"}}, "NewImage": image,
               "SequenceNumber": "4421584500000000017450439091", "SizeBytes": 26,
               "StreamViewType": "NEW_AND_OLD_IMAGES"}),
    );
    let out = transform(&direct_put_event(&[kinesis, streams]), &Config::default());
    let (k, s) = (&out[0], &out[1]);
    assert_eq!((k.result.as_str(), s.result.as_str()), ("Ok", "Ok"));
    let mut expected = k.columns();
    let at = expected
        .iter()
        .position(|(c, _)| c == "_expired_by_ttl")
        .unwrap();
    expected.insert(
        at + 1,
        (
            "_stream_sequence_number".to_owned(),
            r#""4421584500000000017450439091""#.to_owned(),
        ),
    );
    assert_eq!(s.columns(), expected);
    assert_eq!(
        s.column("_event_time").as_deref(),
        Some(r#""2015-04-09T00:00:00.000000Z""#)
    );
    assert_eq!(s.column("_table_name").as_deref(), Some(r#""orders""#));
    assert_eq!(
        k.metadata.as_ref().unwrap().partition_keys,
        s.metadata.as_ref().unwrap().partition_keys
    );
    // Read from a Kinesis stream the record would carry both sequence numbers.
    let r = transform_one(&streams_insert(json!({"pk": {"S": "a"}})));
    let names: Vec<String> = r.columns().into_iter().map(|(c, _)| c).collect();
    assert_eq!(
        names[6..10],
        [
            "_expired_by_ttl",
            "_stream_sequence_number",
            "_kinesis_shard_id",
            "_kinesis_sequence_number"
        ]
    );
}

#[test]
fn a_dynamodb_streams_record_names_its_table_in_its_stream_arn() {
    let mut c = streams_insert(json!({"pk": {"S": "a"}}));
    c["eventSourceARN"] =
        json!("arn:aws:dynamodb:eu-central-1:123456789012:table/Orders-2024.v1_x/stream/2025-01-01T00:00:00.000");
    let r = transform_one(&c);
    assert_eq!(
        r.column("_table_name").as_deref(),
        Some(r#""Orders-2024.v1_x""#)
    );
    assert_eq!(
        r.metadata.unwrap().partition_keys["table"],
        "Orders-2024.v1_x"
    );
    for bad in [
        "stream-ARN",
        "arn:aws:dynamodb:eu-central-1:123456789012:table/a/stream/x",
        "arn:aws:dynamodb:eu-central-1:123456789012:table/or ders/stream/x",
        "arn:aws:kinesis:eu-central-1:123456789012:stream/orders",
    ] {
        c["eventSourceARN"] = json!(bad);
        assert_eq!(transform_one(&c).result, "ProcessingFailed", "{bad}");
    }
    // Without its SequenceNumber it is neither format: not a change record.
    let mut no_sequence = streams_insert(json!({"pk": {"S": "a"}}));
    no_sequence["dynamodb"]
        .as_object_mut()
        .unwrap()
        .remove("SequenceNumber");
    assert_eq!(transform_one(&no_sequence).result, "ProcessingFailed");
}

/// What each view type carries, and so what each row holds: the image rules apply to the images
/// there are (`Keys` when the rule's image is absent).
#[test]
fn dynamodb_streams_view_types_give_the_images_they_carry() {
    let keys = json!({"pk": {"S": "k"}});
    let old = json!({"pk": {"S": "k"}, "state": {"S": "old"}});
    let new = json!({"pk": {"S": "k"}, "state": {"S": "new"}});
    let record = |event: &str, view: &str| {
        let (has_new, has_old) = match view {
            "NEW_AND_OLD_IMAGES" => (event != "REMOVE", event != "INSERT"),
            "NEW_IMAGE" => (event != "REMOVE", false),
            "OLD_IMAGE" => (false, event != "INSERT"),
            _ => (false, false),
        };
        let mut d = json!({"ApproximateCreationDateTime": T_S, "Keys": keys,
                           "SequenceNumber": "4421584500000000017450439091", "SizeBytes": 26,
                           "StreamViewType": view});
        if has_new {
            d["NewImage"] = new.clone();
        }
        if has_old {
            d["OldImage"] = old.clone();
        }
        streams_change(event, d)
    };
    for (view, insert, modify, remove) in [
        ("NEW_AND_OLD_IMAGES", "new", "new", "old"),
        ("NEW_IMAGE", "new", "new", "keys"),
        ("OLD_IMAGE", "keys", "keys", "old"),
        ("KEYS_ONLY", "keys", "keys", "keys"),
    ] {
        for (event, holds) in [("INSERT", insert), ("MODIFY", modify), ("REMOVE", remove)] {
            let r = transform_one(&record(event, view));
            assert_eq!(r.result, "Ok", "{view} {event}");
            let expected = match holds {
                "keys" => cols(&[("pk", r#""k""#)]),
                state => cols(&[("pk", r#""k""#), ("state", &format!("\"{state}\""))]),
            };
            assert_eq!(attributes(&r), expected, "{view} {event}");
            assert_eq!(
                r.column("_is_deleted").as_deref(),
                Some(if event == "REMOVE" { "true" } else { "false" })
            );
        }
    }
}

#[test]
fn dynamodb_streams_ttl_deletes_are_flagged_user_deletes_are_not() {
    let remove = |identity: Option<Value>| {
        let mut c = streams_change(
            "REMOVE",
            json!({"ApproximateCreationDateTime": T_S, "Keys": {"pk": {"S": "k"}},
                   "SequenceNumber": "4421584500000000017450439093", "SizeBytes": 10,
                   "StreamViewType": "KEYS_ONLY"}),
        );
        if let Some(identity) = identity {
            c["userIdentity"] = identity;
        }
        transform_one(&c).column("_expired_by_ttl")
    };
    let ttl = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
    assert_eq!(remove(Some(ttl)).as_deref(), Some("true"));
    let user = json!({"type": "User", "principalId": "AIDAEXAMPLE"});
    assert_eq!(remove(Some(user)).as_deref(), Some("false"));
    assert_eq!(remove(None).as_deref(), Some("false"));
}

/// The plausible window, 2000-01-01T00:00:00Z up to 2200-01-01T00:00:00Z, in each format's unit
/// and for Firehose's arrival time: outside it a record fails (`bad_change_time`) with its bytes.
#[test]
fn a_change_time_outside_2000_to_2200_fails_in_either_format() {
    let kinesis = |value: Value| {
        change(
            "INSERT",
            json!({"ApproximateCreationDateTime": value, "Keys": {"pk": {"S": "k"}}}),
        )
    };
    let streams = |value: Value| {
        streams_change(
            "INSERT",
            json!({"ApproximateCreationDateTime": value, "Keys": {"pk": {"S": "k"}},
                   "SequenceNumber": "4421584500000000017450439091"}),
        )
    };
    let cases: Vec<(Value, Option<&str>)> = vec![
        // Kinesis format, milliseconds and microseconds.
        (
            kinesis(json!(946_684_800_000u64)),
            Some("2000-01-01T00:00:00.000000Z"),
        ),
        (kinesis(json!(946_684_799_999u64)), None),
        (
            kinesis(json!(7_258_118_399_999u64)),
            Some("2199-12-31T23:59:59.999000Z"),
        ),
        (kinesis(json!(7_258_118_400_000u64)), None),
        (
            kinesis(json!(7_258_118_399_999_999u64)),
            Some("2199-12-31T23:59:59.999999Z"),
        ),
        (kinesis(json!(946_684_799_999_999u64)), None),
        // Epoch seconds where milliseconds belong: 1970.
        (kinesis(json!(1_763_632_799u64)), None),
        (kinesis(json!(0)), None),
        // DynamoDB Streams format, seconds, whole or not.
        (
            streams(json!(946_684_800u64)),
            Some("2000-01-01T00:00:00.000000Z"),
        ),
        (streams(json!(946_684_799.999999)), None),
        (
            streams(json!(7_258_118_399.999999)),
            Some("2199-12-31T23:59:59.999999Z"),
        ),
        (streams(json!(7_258_118_400u64)), None),
        // Milliseconds where seconds belong: the year 57,000.
        (streams(json!(1_763_632_799_100u64)), None),
    ];
    let event = direct_put_event(&cases.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>());
    let out = transform(&event, &Config::default());
    for ((change, time), r) in cases.iter().zip(&out) {
        match time {
            Some(t) => assert_eq!(
                r.column("_event_time"),
                Some(format!("\"{t}\"")),
                "{change}"
            ),
            None => {
                assert_eq!(r.result, "ProcessingFailed", "{change}");
                assert_eq!(r.data, b64(&serde_json::to_vec(change).unwrap()));
            }
        }
    }
    // Firehose's arrival time, used only without a change time, is held to the same window.
    let untimed =
        b64(&serde_json::to_vec(&change("INSERT", json!({"Keys": {"pk": {"S": "k"}}}))).unwrap());
    let arriving = |ms: u64| {
        let mut r = firehose_record(0, &untimed);
        r["approximateArrivalTimestamp"] = json!(ms);
        transform(&event_of(vec![r]), &Config::default())
            .remove(0)
            .result
    };
    assert_eq!(arriving(946_684_800_000), "Ok");
    assert_eq!(arriving(946_684_799_999), "ProcessingFailed");
    assert_eq!(arriving(7_258_118_400_000), "ProcessingFailed");
    assert_eq!(arriving(1_763_632_799), "ProcessingFailed");
}
