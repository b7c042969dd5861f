//! The change record Kinesis Data Streams for DynamoDB writes for every item change: its envelope
//! is read into borrowed fields, and its images are kept as raw JSON text for the flattener, so
//! nothing of the item is parsed twice or copied.

use crate::event_time::{EventTime, Precision, TimeError};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The principal DynamoDB's TTL process writes into `userIdentity` of the deletes it makes.
const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    Insert,
    Modify,
    Remove,
}

impl EventName {
    pub fn from_name(name: &str) -> Option<EventName> {
        match name {
            "INSERT" => Some(EventName::Insert),
            "MODIFY" => Some(EventName::Modify),
            "REMOVE" => Some(EventName::Remove),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
        }
    }
}

/// The envelope of one change record. Fields are borrowed from the payload where JSON escapes
/// allow it.
#[derive(Debug, Deserialize)]
pub struct ChangeRecord<'a> {
    #[serde(rename = "eventID", borrow)]
    pub event_id: Cow<'a, str>,
    #[serde(rename = "eventName", borrow)]
    pub event_name: Cow<'a, str>,
    #[serde(rename = "tableName", borrow)]
    pub table_name: Cow<'a, str>,
    #[serde(rename = "awsRegion", borrow)]
    pub aws_region: Cow<'a, str>,
    #[serde(rename = "userIdentity", borrow, default)]
    pub user_identity: Option<UserIdentity<'a>>,
    #[serde(rename = "eventSource", borrow, default)]
    pub event_source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub dynamodb: StreamRecord<'a>,
}

#[derive(Debug, Deserialize)]
pub struct UserIdentity<'a> {
    #[serde(rename = "principalId", borrow, default)]
    pub principal_id: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord<'a> {
    /// Kept as a JSON number so a whole float (`1.7e12`) is read as exactly as an integer.
    #[serde(rename = "ApproximateCreationDateTime", default)]
    pub approximate_creation_date_time: Option<serde_json::Number>,
    #[serde(rename = "ApproximateCreationDateTimePrecision", borrow, default)]
    pub approximate_creation_date_time_precision: Option<Cow<'a, str>>,
    #[serde(rename = "Keys", borrow, default)]
    pub keys: Option<&'a RawValue>,
    #[serde(rename = "NewImage", borrow, default)]
    pub new_image: Option<&'a RawValue>,
    #[serde(rename = "OldImage", borrow, default)]
    pub old_image: Option<&'a RawValue>,
}

impl<'a> ChangeRecord<'a> {
    /// The image the row is made of: `NewImage` for INSERT and MODIFY, `OldImage` for REMOVE,
    /// `Keys` when that image is absent (a stream that does not carry it).
    pub fn image(&self, event: EventName) -> Option<&'a RawValue> {
        let d = &self.dynamodb;
        let image = match event {
            EventName::Insert | EventName::Modify => d.new_image,
            EventName::Remove => d.old_image,
        };
        image
            .filter(|raw| raw.get() != "null")
            .or(d.keys.filter(|raw| raw.get() != "null"))
    }

    /// A REMOVE made by the TTL service rather than by a user or application.
    pub fn expired_by_ttl(&self, event: EventName) -> bool {
        event == EventName::Remove
            && self
                .user_identity
                .as_ref()
                .and_then(|u| u.principal_id.as_deref())
                == Some(TTL_PRINCIPAL)
    }

    /// The change time, or `None` when the record has none (then Firehose's arrival time is used).
    pub fn creation_time(&self) -> Option<Result<EventTime, TimeError>> {
        let d = &self.dynamodb;
        let value = d.approximate_creation_date_time.as_ref()?;
        let precision = match d.approximate_creation_date_time_precision.as_deref() {
            None => None,
            Some(name) => match Precision::from_name(name) {
                Some(p) => Some(p),
                None => return Some(Err(TimeError::UnknownPrecision)),
            },
        };
        Some(whole(value).and_then(|v| EventTime::from_creation_time(v, precision)))
    }
}

/// A non-negative whole number, from an integer or an integral float.
pub fn whole(n: &serde_json::Number) -> Result<u64, TimeError> {
    if let Some(v) = n.as_u64() {
        return Ok(v);
    }
    match n.as_f64() {
        // 2^64 is the first float past u64; below it the cast is exact for integral values.
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 => Ok(f as u64),
        _ => Err(TimeError::NotWhole),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ChangeRecord<'_> {
        serde_json::from_str(json).unwrap()
    }

    const BASE: &str = r#"{"awsRegion":"eu-west-1","eventID":"e1","eventName":"REMOVE","tableName":"orders",
        "userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"},
        "dynamodb":{"ApproximateCreationDateTime":1700000000123,"Keys":{"pk":{"S":"k"}},"OldImage":{"pk":{"S":"k"},"x":{"N":"1"}}},
        "eventSource":"aws:dynamodb"}"#;

    #[test]
    fn image_choice_follows_the_event() {
        let r = parse(BASE);
        assert_eq!(
            r.image(EventName::Remove).unwrap().get(),
            r#"{"pk":{"S":"k"},"x":{"N":"1"}}"#
        );
        // No NewImage: an INSERT/MODIFY falls back to Keys.
        assert_eq!(
            r.image(EventName::Modify).unwrap().get(),
            r#"{"pk":{"S":"k"}}"#
        );
        let keys_only = parse(
            r#"{"awsRegion":"r","eventID":"e","eventName":"REMOVE","tableName":"t","dynamodb":{"Keys":{"pk":{"S":"k"}},"OldImage":null}}"#,
        );
        assert_eq!(
            keys_only.image(EventName::Remove).unwrap().get(),
            r#"{"pk":{"S":"k"}}"#
        );
        let nothing = parse(
            r#"{"awsRegion":"r","eventID":"e","eventName":"INSERT","tableName":"t","dynamodb":{}}"#,
        );
        assert!(nothing.image(EventName::Insert).is_none());
    }

    #[test]
    fn ttl_deletes_are_recognised() {
        let r = parse(BASE);
        assert!(r.expired_by_ttl(EventName::Remove));
        assert!(!r.expired_by_ttl(EventName::Modify));
        let user = BASE.replace("dynamodb.amazonaws.com", "AIDAEXAMPLE");
        assert!(!parse(&user).expired_by_ttl(EventName::Remove));
        let none = BASE.replace(
            r#"{"type":"Service","principalId":"dynamodb.amazonaws.com"}"#,
            "null",
        );
        assert!(!parse(&none).expired_by_ttl(EventName::Remove));
    }

    #[test]
    fn creation_time_units() {
        let r = parse(BASE);
        assert_eq!(
            r.creation_time(),
            Some(EventTime::from_millis(1_700_000_000_123))
        );
        let micro = BASE.replace(
            "1700000000123",
            r#"1700000000123456,"ApproximateCreationDateTimePrecision":"MICROSECOND""#,
        );
        let t = parse(&micro).creation_time().unwrap().unwrap();
        assert_eq!(
            t,
            EventTime::from_creation_time(1_700_000_000_123_456, None).unwrap()
        );
        let float = BASE.replace("1700000000123", "1.700000000123e12");
        assert_eq!(
            parse(&float).creation_time(),
            Some(EventTime::from_millis(1_700_000_000_123))
        );
        for bad in ["-5", "1.5", "1e300"] {
            let r = BASE.replace("1700000000123", bad);
            assert!(parse(&r).creation_time().unwrap().is_err(), "{bad}");
        }
        let unknown = BASE.replace(
            "1700000000123",
            r#"1700000000123,"ApproximateCreationDateTimePrecision":"SECOND""#,
        );
        assert_eq!(
            parse(&unknown).creation_time(),
            Some(Err(TimeError::UnknownPrecision))
        );
    }
}
