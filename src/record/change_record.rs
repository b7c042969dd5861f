//! The change record of an item change, in either format a DynamoDB table's changes arrive in:
//! as *Kinesis Data Streams for DynamoDB* writes it (`tableName`, change time in epoch
//! milliseconds or microseconds) or as a **DynamoDB Streams** consumer receives it
//! (`eventSourceARN`, `dynamodb.SequenceNumber`, change time in epoch seconds). The format is
//! recognised per record. The envelope is read into borrowed fields, and the images are kept as
//! raw JSON text for the flattener, so nothing of the item is parsed twice or copied.

use crate::record::event_time::{whole_number, EventTime, Precision, TimeError};
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

/// Which of the two change-record formats a record is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Written by Kinesis Data Streams for DynamoDB: it has `tableName`.
    KinesisDataStreams,
    /// A record of the table's DynamoDB stream, as a DynamoDB Streams consumer (a Lambda
    /// trigger, an EventBridge Pipe) receives it: no `tableName`, but `eventSourceARN` and
    /// `dynamodb.SequenceNumber` (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Record.html>).
    DynamoDbStreams,
}

/// The envelope of one change record. Fields are borrowed from the payload where JSON escapes
/// allow it.
#[derive(Debug)]
pub struct ChangeRecord<'a> {
    pub format: Format,
    pub event_id: Cow<'a, str>,
    pub event_name: Cow<'a, str>,
    /// `tableName`, or for a DynamoDB Streams record the `table/<name>` part of `eventSourceARN`
    /// (empty when the ARN has none: not a valid table name).
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
    /// Kept as the JSON number's text: its unit depends on the format, which a DynamoDB Streams
    /// record names only after it (`eventSourceARN` comes last), and it is read exactly from
    /// its digits (`1.7e12` as exactly as `1700000000000`; `1693997155.123456` to the µs).
    pub approximate_creation_date_time: Option<&'a RawValue>,
    pub approximate_creation_date_time_precision: Option<Cow<'a, str>>,
    /// `SequenceNumber`: present in DynamoDB Streams records only.
    pub sequence_number: Option<Cow<'a, str>>,
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

    /// The change time, or `None` when the record has none (then Firehose's arrival time is used):
    /// epoch milliseconds or microseconds in a Kinesis-format record, epoch seconds (perhaps with
    /// a fraction) in a DynamoDB Streams record. Not yet checked against the plausible window.
    pub fn creation_time(&self) -> Option<Result<EventTime, TimeError>> {
        let d = &self.dynamodb;
        let text = d.approximate_creation_date_time?.get();
        if self.format == Format::DynamoDbStreams {
            return Some(EventTime::from_epoch_seconds(text));
        }
        let precision = match d.approximate_creation_date_time_precision.as_deref() {
            None => None,
            Some(name) => match Precision::from_name(name) {
                Some(p) => Some(p),
                None => return Some(Err(TimeError::UnknownPrecision)),
            },
        };
        Some(whole_number(text).and_then(|v| EventTime::from_creation_time(v, precision)))
    }

    /// `dynamodb.SequenceNumber` of a DynamoDB Streams record (its `_stream_sequence_number`);
    /// `None` for the Kinesis format.
    pub fn stream_sequence_number(&self) -> Option<&str> {
        match self.format {
            Format::DynamoDbStreams => self.dynamodb.sequence_number.as_deref(),
            Format::KinesisDataStreams => None,
        }
    }
}

/// `range` of `text`, borrowed as long as `text` is.
fn sub_cow<'a>(text: Cow<'a, str>, range: std::ops::Range<usize>) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(&s[range]),
        Cow::Owned(s) => Cow::Owned(s[range].to_owned()),
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
    #[serde(rename = "eventSourceARN")]
    EventSourceArn,
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
    #[serde(rename = "SequenceNumber")]
    SequenceNumber,
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
        let mut event_source_arn = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::EventId => once(&mut map, &mut event_id, "eventID")?,
                Field::EventName => once(&mut map, &mut event_name, "eventName")?,
                Field::TableName => once(&mut map, &mut table_name, "tableName")?,
                Field::EventSourceArn => once(&mut map, &mut event_source_arn, "eventSourceARN")?,
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
        let event_id = text(event_id, "eventID")?;
        let event_name = text(event_name, "eventName")?;
        // A DynamoDB Streams record has no tableName: its stream ARN names the table.
        let event_source_arn = event_source_arn.flatten().map(|t: Text| t.0);
        let has_sequence_number = dynamodb
            .as_ref()
            .is_some_and(|d: &StreamRecord| d.sequence_number.is_some());
        let (format, table_name) = match (table_name, event_source_arn) {
            (Some(Text(name)), _) => (Format::KinesisDataStreams, name),
            (None, Some(arn)) if has_sequence_number => {
                let table = crate::arn::dynamodb_table_span(&arn)
                    .map_or(Cow::Borrowed(""), |range| sub_cow(arn, range));
                (Format::DynamoDbStreams, table)
            }
            // The shape `aws dynamodbstreams get-records` prints: a stream record, but only a
            // consumer (Lambda, a pipe) adds the ARN that names its table.
            (None, None) if has_sequence_number => return Err(de::Error::custom(NO_STREAM_ARN)),
            (None, _) => return Err(de::Error::missing_field("tableName")),
        };
        Ok(ChangeRecord {
            format,
            event_id,
            event_name,
            table_name,
            aws_region: text(aws_region, "awsRegion")?,
            user_identity: user_identity.flatten(),
            event_source: event_source.flatten().map(|t: Text| t.0),
            dynamodb: dynamodb.ok_or_else(|| de::Error::missing_field("dynamodb"))?,
        })
    }
}

/// Why a DynamoDB Streams record without `eventSourceARN` is not a change record. Quotes no
/// record data, so its reason is logged whole ([`crate::record::error::describe_json_error`]).
pub const NO_STREAM_ARN: &str = "a DynamoDB Streams record without `eventSourceARN`: nothing \
    names its table (records read with GetRecords lack it; add the stream's ARN to each)";

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
        let mut sequence_number = None;
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
                Field::SequenceNumber => once(&mut map, &mut sequence_number, "SequenceNumber")?,
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
            sequence_number: sequence_number.flatten().map(|t: Text| t.0),
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

    /// The INSERT of the AWS Lambda guide's "Example DynamoDB Streams record event"
    /// (<https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html>), compacted.
    const STREAMS: &str = r#"{"eventID":"c4ca4238a0b923820dcc509a6f75849b","eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1","dynamodb":{"Keys":{"Id":{"N":"101"}},"NewImage":{"Message":{"S":"New item!"},"Id":{"N":"101"}},"ApproximateCreationDateTime":1428537600,"SequenceNumber":"4421584500000000017450439091","SizeBytes":26,"StreamViewType":"NEW_AND_OLD_IMAGES"},"eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899"}"#;

    #[test]
    fn dynamodb_streams_records_are_recognised_per_record() {
        let r = parse(STREAMS);
        assert_eq!(r.format, Format::DynamoDbStreams);
        assert_eq!(r.table_name, "ExampleTableWithStream");
        assert!(matches!(r.table_name, Cow::Borrowed(_)));
        assert_eq!(
            r.stream_sequence_number(),
            Some("4421584500000000017450439091")
        );
        assert_eq!(
            r.creation_time(),
            Some(EventTime::from_epoch_seconds("1428537600"))
        );
        assert_eq!(raw(r.image(EventName::Remove)), r#"{"Id":{"N":"101"}}"#);
        // The NewImage is flattened while read, as for the Kinesis format.
        let mut f = Flattener::new(&crate::config::Config::default(), vec![]);
        let mut columns = Vec::new();
        let r = ChangeRecord::parse(STREAMS, Some((&mut f, &mut columns))).unwrap();
        assert!(matches!(r.image(EventName::Insert), Some(Image::Flattened)));
        assert_eq!(
            String::from_utf8(columns).unwrap(),
            r#","Message":"New item!","Id":101"#
        );
        // A tableName makes it the Kinesis format, whatever else it holds: its time is in ms,
        // and it has no stream sequence number.
        let kinesis = STREAMS.replace(r#""awsRegion""#, r#""tableName":"orders","awsRegion""#);
        let r = parse(&kinesis);
        assert_eq!(r.format, Format::KinesisDataStreams);
        assert_eq!(r.table_name, "orders");
        assert_eq!(r.stream_sequence_number(), None);
        assert_eq!(
            r.creation_time().unwrap().unwrap(),
            EventTime::from_millis(1_428_537_600).unwrap()
        );
        // Without its SequenceNumber, or without its ARN, it is not a change record.
        let no_sequence =
            STREAMS.replace(r#""SequenceNumber":"4421584500000000017450439091","#, "");
        let no_arn = STREAMS.replace(
            r#","eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899""#,
            "",
        );
        let err = ChangeRecord::parse(&no_sequence, None).unwrap_err();
        assert!(err.to_string().contains("tableName"), "{err}");
        // A record as GetRecords gives it is told what it lacks.
        let err = ChangeRecord::parse(&no_arn, None).unwrap_err();
        assert!(
            err.to_string().contains("without `eventSourceARN`"),
            "{err}"
        );
    }

    #[test]
    fn the_table_name_is_the_table_part_of_the_stream_arn() {
        let table = |arn: &str| crate::arn::dynamodb_table_span(arn).map(|r| arn[r].to_owned());
        assert_eq!(
            table("arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2025-11-20T08:00:00.000")
                .as_deref(),
            Some("orders")
        );
        assert_eq!(
            table("arn:aws-cn:dynamodb:cn-north-1:123456789012:table/Orders.v2-x_y/stream/L")
                .as_deref(),
            Some("Orders.v2-x_y")
        );
        assert_eq!(
            table("arn:aws:dynamodb:us-east-1:1:table/orders").as_deref(),
            Some("orders")
        );
        assert_eq!(
            table("arn:aws:dynamodb:us-east-1:1:table/").as_deref(),
            Some("")
        );
        for none in [
            "stream-ARN",
            "",
            "arn:aws:kinesis:us-east-1:1:stream/orders",
            "arn:aws:dynamodb:us-east-1:1:global-table/orders",
            "arn:aws:dynamodb:us-east-1:table/orders/stream/x",
        ] {
            assert_eq!(table(none), None, "{none}");
        }
        // An ARN spelled with escapes is read all the same.
        let escaped = STREAMS.replace(
            "table/ExampleTableWithStream/stream/",
            r"table\/Esc\/stream\/",
        );
        assert_eq!(parse(&escaped).table_name, "Esc");
        // One that names no table leaves the name empty: the row fails on it.
        let placeholder = STREAMS.replace(
            "arn:aws:dynamodb:us-east-1:123456789012:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899",
            "stream-ARN",
        );
        let r = parse(&placeholder);
        assert_eq!(
            (r.format, r.table_name.as_ref()),
            (Format::DynamoDbStreams, "")
        );
    }

    #[test]
    fn a_streams_change_time_is_in_epoch_seconds() {
        let at = |value: &str| {
            let text = STREAMS.replace("1428537600", value);
            parse(&text).creation_time().unwrap()
        };
        assert_eq!(
            at("1428537600.5"),
            EventTime::from_millis(1_428_537_600_500)
        );
        assert_eq!(at("1.4285376e9"), EventTime::from_millis(1_428_537_600_000));
        assert_eq!(at("-1"), Err(TimeError::NotWhole));
        // A precision field belongs to the Kinesis format: it does not change the unit here.
        let named = STREAMS.replace(
            "1428537600,",
            r#"1428537600,"ApproximateCreationDateTimePrecision":"MICROSECOND","#,
        );
        assert_eq!(
            parse(&named).creation_time(),
            Some(EventTime::from_millis(1_428_537_600_000))
        );
        let none = STREAMS.replace(r#""ApproximateCreationDateTime":1428537600,"#, "");
        assert_eq!(parse(&none).creation_time(), None);
        let null = STREAMS.replace("1428537600,", "null,");
        assert_eq!(parse(&null).creation_time(), None);
    }
}
