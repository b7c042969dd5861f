//! The change record Kinesis Data Streams for DynamoDB writes for every item change: its envelope
//! is read into borrowed fields, and its images are kept as raw JSON text for the flattener, so
//! nothing of the item is parsed twice or copied.

use crate::record::event_time::{EventTime, Precision, TimeError};
use crate::record::flatten::Flattener;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

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
#[derive(Debug)]
pub struct ChangeRecord<'a> {
    pub event_id: Cow<'a, str>,
    pub event_name: Cow<'a, str>,
    pub table_name: Cow<'a, str>,
    pub aws_region: Cow<'a, str>,
    pub user_identity: Option<UserIdentity<'a>>,
    pub event_source: Option<Cow<'a, str>>,
    pub dynamodb: StreamRecord<'a>,
}

#[derive(Debug, Deserialize)]
pub struct UserIdentity<'a> {
    #[serde(rename = "principalId", borrow, default)]
    pub principal_id: Option<Cow<'a, str>>,
}

#[derive(Debug, Default)]
pub struct StreamRecord<'a> {
    /// Kept as a JSON number so a whole float (`1.7e12`) is read as exactly as an integer.
    pub approximate_creation_date_time: Option<serde_json::Number>,
    pub approximate_creation_date_time_precision: Option<Cow<'a, str>>,
    pub keys: Option<&'a RawValue>,
    pub new_image: Option<&'a RawValue>,
    pub old_image: Option<&'a RawValue>,
    /// `NewImage` was flattened while it was read (see [`ChangeRecord::parse`]).
    pub new_image_flattened: bool,
}

/// The image a row is made of.
#[derive(Debug, Clone, Copy)]
pub enum Image<'a> {
    /// Already flattened while the record was read.
    Flattened,
    Raw(&'a RawValue),
}

impl<'a> ChangeRecord<'a> {
    /// Reads a change record from `text`. With `eager`, the `NewImage` of an INSERT or MODIFY
    /// is flattened into the buffer while it is read, saving a second pass over the item: every
    /// record the stream writes names its event before its images (in another order the image
    /// is kept raw, with the same result).
    pub fn parse(
        text: &'a str,
        eager: Option<(&mut Flattener, &mut Vec<u8>)>,
    ) -> serde_json::Result<ChangeRecord<'a>> {
        let mut de = serde_json::Deserializer::from_str(text);
        let record = de.deserialize_map(RecordVisitor { eager })?;
        de.end()?;
        Ok(record)
    }

    /// The image the row is made of: `NewImage` for INSERT and MODIFY, `OldImage` for REMOVE,
    /// `Keys` when that image is absent (a stream that does not carry it).
    pub fn image(&self, event: EventName) -> Option<Image<'a>> {
        let d = &self.dynamodb;
        match event {
            EventName::Insert | EventName::Modify if d.new_image_flattened => {
                Some(Image::Flattened)
            }
            EventName::Insert | EventName::Modify => d.new_image.or(d.keys).map(Image::Raw),
            EventName::Remove => d.old_image.or(d.keys).map(Image::Raw),
        }
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

// The record is read by hand rather than derived, so the image can be flattened mid-read.

#[derive(Deserialize)]
enum Field {
    #[serde(rename = "eventID")]
    EventId,
    #[serde(rename = "eventName")]
    EventName,
    #[serde(rename = "tableName")]
    TableName,
    #[serde(rename = "awsRegion")]
    AwsRegion,
    #[serde(rename = "userIdentity")]
    UserIdentity,
    #[serde(rename = "eventSource")]
    EventSource,
    #[serde(rename = "dynamodb")]
    Dynamodb,
    #[serde(rename = "ApproximateCreationDateTime")]
    CreationTime,
    #[serde(rename = "ApproximateCreationDateTimePrecision")]
    CreationTimePrecision,
    #[serde(rename = "Keys")]
    Keys,
    #[serde(rename = "NewImage")]
    NewImage,
    #[serde(rename = "OldImage")]
    OldImage,
    #[serde(other)]
    Other,
}

/// Reads the next value into `slot`, refusing a field given twice as the derived code would.
fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

struct RecordVisitor<'e> {
    eager: Option<(&'e mut Flattener, &'e mut Vec<u8>)>,
}

impl<'de> Visitor<'de> for RecordVisitor<'_> {
    type Value = ChangeRecord<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a DynamoDB change record")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<ChangeRecord<'de>, A::Error> {
        let (mut event_id, mut event_name, mut table_name, mut aws_region) =
            (None, None, None, None);
        let (mut user_identity, mut event_source, mut dynamodb) = (None, None, None);
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::EventId => once(&mut map, &mut event_id, "eventID")?,
                Field::EventName => once(&mut map, &mut event_name, "eventName")?,
                Field::TableName => once(&mut map, &mut table_name, "tableName")?,
                Field::AwsRegion => once(&mut map, &mut aws_region, "awsRegion")?,
                Field::UserIdentity => once(&mut map, &mut user_identity, "userIdentity")?,
                Field::EventSource => once(&mut map, &mut event_source, "eventSource")?,
                Field::Dynamodb => {
                    if dynamodb.is_some() {
                        return Err(de::Error::duplicate_field("dynamodb"));
                    }
                    let wants_new_image = event_name
                        .as_ref()
                        .and_then(|n: &Text| EventName::from_name(&n.0))
                        .is_some_and(|e| e != EventName::Remove);
                    let eager = if wants_new_image {
                        self.eager.take()
                    } else {
                        None
                    };
                    dynamodb = Some(map.next_value_seed(StreamRecordSeed { eager })?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let text = |t: Option<Text<'de>>, name| {
            t.map(|t| t.0).ok_or_else(|| de::Error::missing_field(name))
        };
        Ok(ChangeRecord {
            event_id: text(event_id, "eventID")?,
            event_name: text(event_name, "eventName")?,
            table_name: text(table_name, "tableName")?,
            aws_region: text(aws_region, "awsRegion")?,
            user_identity: user_identity.flatten(),
            event_source: event_source.flatten().map(|t: Text| t.0),
            dynamodb: dynamodb.ok_or_else(|| de::Error::missing_field("dynamodb"))?,
        })
    }
}

struct StreamRecordSeed<'e> {
    eager: Option<(&'e mut Flattener, &'e mut Vec<u8>)>,
}

impl<'de> DeserializeSeed<'de> for StreamRecordSeed<'_> {
    type Value = StreamRecord<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<StreamRecord<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StreamRecordSeed<'_> {
    type Value = StreamRecord<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the dynamodb part of a change record")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<StreamRecord<'de>, A::Error> {
        let (mut time, mut precision, mut keys, mut new_image, mut old_image) =
            (None, None, None, None, None);
        let mut new_image_flattened = false;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::CreationTime => once(&mut map, &mut time, "ApproximateCreationDateTime")?,
                Field::CreationTimePrecision => once(
                    &mut map,
                    &mut precision,
                    "ApproximateCreationDateTimePrecision",
                )?,
                Field::Keys => once(&mut map, &mut keys, "Keys")?,
                Field::OldImage => once(&mut map, &mut old_image, "OldImage")?,
                Field::NewImage => match self.eager.take() {
                    Some((flattener, out)) => {
                        if new_image.is_some() {
                            return Err(de::Error::duplicate_field("NewImage"));
                        }
                        new_image_flattened =
                            map.next_value_seed(Nullable(flattener.image_seed(out)))?;
                    }
                    None if new_image_flattened => {
                        return Err(de::Error::duplicate_field("NewImage"))
                    }
                    None => once(&mut map, &mut new_image, "NewImage")?,
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(StreamRecord {
            approximate_creation_date_time: time.flatten(),
            approximate_creation_date_time_precision: precision.flatten().map(|t: Text| t.0),
            keys: keys.flatten(),
            new_image: new_image.flatten(),
            old_image: old_image.flatten(),
            new_image_flattened,
        })
    }
}

/// Runs a seed unless the value is `null` (an absent image); says whether it ran.
struct Nullable<S>(S);

impl<'de, S: DeserializeSeed<'de, Value = ()>> DeserializeSeed<'de> for Nullable<S> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de, Value = ()>> Visitor<'de> for Nullable<S> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an image or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        self.0.deserialize(d).map(|()| true)
    }
}

/// A string borrowed from the input when it has no escapes (serde's `Cow` always copies).
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ChangeRecord<'_> {
        ChangeRecord::parse(json, None).unwrap()
    }

    fn raw(image: Option<Image<'_>>) -> &str {
        match image {
            Some(Image::Raw(r)) => r.get(),
            other => panic!("expected a raw image, got {other:?}"),
        }
    }

    const BASE: &str = r#"{"awsRegion":"eu-west-1","eventID":"e1","eventName":"REMOVE","tableName":"orders",
        "userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"},
        "dynamodb":{"ApproximateCreationDateTime":1700000000123,"Keys":{"pk":{"S":"k"}},"OldImage":{"pk":{"S":"k"},"x":{"N":"1"}}},
        "eventSource":"aws:dynamodb"}"#;

    #[test]
    fn image_choice_follows_the_event() {
        let r = parse(BASE);
        assert_eq!(
            raw(r.image(EventName::Remove)),
            r#"{"pk":{"S":"k"},"x":{"N":"1"}}"#
        );
        // No NewImage: an INSERT/MODIFY falls back to Keys.
        assert_eq!(raw(r.image(EventName::Modify)), r#"{"pk":{"S":"k"}}"#);
        let keys_only = parse(
            r#"{"awsRegion":"r","eventID":"e","eventName":"REMOVE","tableName":"t","dynamodb":{"Keys":{"pk":{"S":"k"}},"OldImage":null}}"#,
        );
        assert_eq!(
            raw(keys_only.image(EventName::Remove)),
            r#"{"pk":{"S":"k"}}"#
        );
        let nothing = parse(
            r#"{"awsRegion":"r","eventID":"e","eventName":"INSERT","tableName":"t","dynamodb":{}}"#,
        );
        assert!(nothing.image(EventName::Insert).is_none());
    }

    #[test]
    fn an_insert_or_modify_new_image_is_flattened_while_read() {
        use crate::config::Config;
        let mut f = Flattener::new(&Config::default(), vec![]);
        let mut columns = Vec::new();
        let insert = BASE
            .replace("REMOVE", "INSERT")
            .replace("OldImage", "NewImage");
        let r = ChangeRecord::parse(&insert, Some((&mut f, &mut columns))).unwrap();
        assert!(matches!(r.image(EventName::Insert), Some(Image::Flattened)));
        assert_eq!(String::from_utf8(columns).unwrap(), r#","pk":"k","x":1"#);
        // A REMOVE keeps its images raw; so does a record naming its event after them.
        let mut columns = Vec::new();
        let r = ChangeRecord::parse(BASE, Some((&mut f, &mut columns))).unwrap();
        assert!(columns.is_empty());
        assert!(matches!(r.image(EventName::Remove), Some(Image::Raw(_))));
        let late = r#"{"dynamodb":{"NewImage":{"a":{"S":"x"}}},"awsRegion":"r","eventID":"e","eventName":"INSERT","tableName":"t"}"#;
        let r = ChangeRecord::parse(late, Some((&mut f, &mut columns))).unwrap();
        assert!(columns.is_empty());
        assert_eq!(raw(r.image(EventName::Insert)), r#"{"a":{"S":"x"}}"#);
        // A null NewImage is absent: Keys are used.
        let null = insert.replace(
            r#""NewImage":{"pk":{"S":"k"},"x":{"N":"1"}}"#,
            r#""NewImage":null"#,
        );
        let r = ChangeRecord::parse(&null, Some((&mut f, &mut columns))).unwrap();
        assert_eq!(raw(r.image(EventName::Insert)), r#"{"pk":{"S":"k"}}"#);
    }

    #[test]
    fn fields_given_twice_or_missing_are_refused() {
        for bad in [
            BASE.replace(r#""eventID":"e1","#, r#""eventID":"e1","eventID":"e2","#),
            BASE.replace(r#""Keys":"#, r#""OldImage":{},"Keys":"#),
            BASE.replace(r#""tableName":"orders","#, ""),
            BASE.replace(r#""awsRegion":"eu-west-1","#, r#""awsRegion":5,"#),
        ] {
            assert!(ChangeRecord::parse(&bad, None).is_err(), "{bad}");
        }
        let twice = BASE
            .replace("REMOVE", "INSERT")
            .replace(r#""OldImage""#, r#""NewImage":{},"NewImage""#);
        let mut f = Flattener::new(&crate::config::Config::default(), vec![]);
        assert!(ChangeRecord::parse(&twice, Some((&mut f, &mut Vec::new()))).is_err());
        assert!(ChangeRecord::parse(&twice, None).is_err());
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
