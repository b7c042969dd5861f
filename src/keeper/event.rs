//! What the schema keeper is handed: an S3 event notification (Amazon S3 User Guide, "Event
//! message structure"), and what each object key is to the lake.
//!
//! Only the fields the keeper reads are modelled (our own types: a notification may carry fields
//! this code has never seen). Object keys arrive URL-encoded, blanks as `+`.

use crate::catalog::key_schema::table_of_key_schema_object;
use serde::Deserialize;

/// An S3 event notification: `{"Records": [...]}`. The test message S3 sends when notifications
/// are configured (`{"Event": "s3:TestEvent", …}`) has no `Records` and reads as empty.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct S3Event {
    #[serde(rename = "Records", default)]
    pub records: Vec<S3EventRecord>,
}

/// One record of a notification.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3EventRecord {
    /// `ObjectCreated:Put`, `ObjectCreated:CompleteMultipartUpload`, …
    pub event_name: String,
    pub s3: S3Entity,
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Entity {
    pub bucket: S3Bucket,
    pub object: S3Object,
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Bucket {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Object {
    /// URL-encoded (`+` for a blank).
    pub key: String,
    #[serde(default)]
    pub size: Option<u64>,
}

impl S3EventRecord {
    /// Whether the record tells of a new object (the only kind the keeper acts on).
    pub fn is_object_created(&self) -> bool {
        self.event_name.starts_with("ObjectCreated:")
    }

    /// The object key as stored: `+` → blank, then `%XX` decoded. `None` if the decoded bytes
    /// are not UTF-8 (no key the lake writes is).
    pub fn object_key(&self) -> Option<String> {
        let plus_decoded = self.s3.object.key.replace('+', " ");
        percent_encoding::percent_decode_str(&plus_decoded)
            .decode_utf8()
            .ok()
            .map(|k| k.into_owned())
    }
}

/// What an object under the lake's prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeObject<'a> {
    /// Rows of source table `table`: `<prefix>table=<table>/year=…/…`.
    Rows { table: &'a str },
    /// The key schema of `table`: `<prefix>_key_schemas/<table>.json`.
    KeySchema { table: &'a str },
    /// Anything else (the keeper leaves it alone).
    Other,
}

/// Classifies `key` of the lake whose prefix is `table_prefix` (empty or ending in `/`).
pub fn classify<'a>(table_prefix: &str, key: &'a str) -> LakeObject<'a> {
    if let Some(table) = table_of_key_schema_object(table_prefix, key) {
        return LakeObject::KeySchema { table };
    }
    let table = key
        .strip_prefix(table_prefix)
        .and_then(|rest| rest.strip_prefix("table="))
        .and_then(|rest| rest.split_once('/'))
        .map(|(table, _)| table);
    match table {
        Some(table) if !table.is_empty() => LakeObject::Rows { table },
        _ => LakeObject::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_notification_and_decodes_keys() {
        // Amazon S3 User Guide, "Event message structure" (trimmed), with a key holding a blank
        // and a `=` as S3 encodes them.
        let text = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3",
            "awsRegion":"us-west-2","eventTime":"1970-01-01T00:00:00.000Z",
            "eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AIDAJDPLRKLG7UEXAMPLE"},
            "s3":{"s3SchemaVersion":"1.0","configurationId":"testConfigRule",
              "bucket":{"name":"amzn-s3-demo-bucket","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},
                        "arn":"arn:aws:s3:::amzn-s3-demo-bucket"},
              "object":{"key":"lake/table%3Dmy+table/year%3D2025/x.gz","size":1024,
                        "eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"0055AED6DCD90281E5"}}}]}"#;
        let event: S3Event = serde_json::from_str(text).unwrap();
        let record = &event.records[0];
        assert!(record.is_object_created());
        assert_eq!(record.s3.bucket.name, "amzn-s3-demo-bucket");
        assert_eq!(
            record.object_key().unwrap(),
            "lake/table=my table/year=2025/x.gz"
        );
        let test_event: S3Event = serde_json::from_str(
            r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2014-10-13T15:57:02.089Z",
                "Bucket":"amzn-s3-demo-bucket","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw"}"#,
        )
        .unwrap();
        assert!(test_event.records.is_empty());
    }

    #[test]
    fn classifies_lake_keys() {
        assert_eq!(
            classify(
                "lake/",
                "lake/table=orders/year=2025/month=01/day=02/hour=03/f.gz"
            ),
            LakeObject::Rows { table: "orders" }
        );
        assert_eq!(
            classify("lake/", "lake/_key_schemas/orders.json"),
            LakeObject::KeySchema { table: "orders" }
        );
        for other in [
            "errors/processing-failed/x.gz",
            "lake/table=/x",
            "lake/table=orders",
            "raw-backup/x",
        ] {
            assert_eq!(classify("lake/", other), LakeObject::Other, "{other}");
        }
    }
}
