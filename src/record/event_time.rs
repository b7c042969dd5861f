//! The time of a change: `ApproximateCreationDateTime` in epoch milliseconds or microseconds
//! (the stream's precision setting), or Firehose's arrival time in milliseconds where the record
//! has none. Written as RFC 3339 UTC with microseconds, and split into partition fields.

use chrono::{DateTime, Datelike, Timelike, Utc};
use thiserror::Error;

/// Values at or above this are microseconds when the record does not say which (10^14 ms is
/// the year 5138; 10^14 µs is 1973).
const MICROS_THRESHOLD: u64 = 100_000_000_000_000;

/// The unit of `ApproximateCreationDateTime`, from the stream's timestamp precision setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Millisecond,
    Microsecond,
}

impl Precision {
    /// `ApproximateCreationDateTimePrecision` as Kinesis Data Streams for DynamoDB writes it.
    pub fn from_name(name: &str) -> Option<Precision> {
        match name {
            "MILLISECOND" => Some(Precision::Millisecond),
            "MICROSECOND" => Some(Precision::Microsecond),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimeError {
    #[error("the record has no ApproximateCreationDateTime and Firehose gave no arrival time")]
    Missing,
    #[error("the change time is not a whole non-negative epoch value")]
    NotWhole,
    #[error("the change time is out of range (after the year 9999)")]
    OutOfRange,
    #[error("ApproximateCreationDateTimePrecision is neither MILLISECOND nor MICROSECOND")]
    UnknownPrecision,
}

/// A point in time, in whole microseconds since the epoch, between 1970 and 9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventTime(DateTime<Utc>);

impl EventTime {
    /// From `ApproximateCreationDateTime` and its precision, when the record names it.
    pub fn from_creation_time(
        value: u64,
        precision: Option<Precision>,
    ) -> Result<EventTime, TimeError> {
        let precision = precision.unwrap_or(if value >= MICROS_THRESHOLD {
            Precision::Microsecond
        } else {
            Precision::Millisecond
        });
        let micros = match precision {
            Precision::Microsecond => Some(value),
            Precision::Millisecond => value.checked_mul(1000),
        };
        Self::from_micros(micros)
    }

    /// From an epoch-millisecond value such as Firehose's `approximateArrivalTimestamp`.
    pub fn from_millis(millis: u64) -> Result<EventTime, TimeError> {
        Self::from_micros(millis.checked_mul(1000))
    }

    fn from_micros(micros: Option<u64>) -> Result<EventTime, TimeError> {
        micros
            .and_then(|m| i64::try_from(m).ok())
            .and_then(DateTime::from_timestamp_micros)
            .filter(|t| t.year() <= 9999)
            .map(EventTime)
            .ok_or(TimeError::OutOfRange)
    }

    /// Writes `"2023-11-14T22:13:20.123000Z"` (quoted) into `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let t = &self.0;
        out.push(b'"');
        push_digits(out, t.year() as u32, 4);
        out.push(b'-');
        push_digits(out, t.month(), 2);
        out.push(b'-');
        push_digits(out, t.day(), 2);
        out.push(b'T');
        push_digits(out, t.hour(), 2);
        out.push(b':');
        push_digits(out, t.minute(), 2);
        out.push(b':');
        push_digits(out, t.second(), 2);
        out.push(b'.');
        push_digits(out, t.timestamp_subsec_micros(), 6);
        out.extend_from_slice(b"Z\"");
    }

    pub fn year(&self) -> u32 {
        self.0.year() as u32
    }
    pub fn month(&self) -> u32 {
        self.0.month()
    }
    pub fn day(&self) -> u32 {
        self.0.day()
    }
    pub fn hour(&self) -> u32 {
        self.0.hour()
    }
}

/// Appends `value` as exactly `width` decimal digits (zero-padded).
pub fn push_digits(out: &mut Vec<u8>, value: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    let mut v = value;
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: EventTime) -> String {
        let mut out = Vec::new();
        t.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn milliseconds_and_microseconds_give_the_same_instant() {
        let ms = EventTime::from_creation_time(1_700_000_000_123, None).unwrap();
        let us = EventTime::from_creation_time(1_700_000_000_123_000, None).unwrap();
        assert_eq!(ms, us);
        assert_eq!(text(ms), r#""2023-11-14T22:13:20.123000Z""#);
        let us = EventTime::from_creation_time(1_700_000_000_123_456, None).unwrap();
        assert_eq!(text(us), r#""2023-11-14T22:13:20.123456Z""#);
    }

    #[test]
    fn a_named_precision_wins_over_the_magnitude_rule() {
        // 10^14 - 1 is milliseconds by magnitude, but the record says microseconds.
        let t = EventTime::from_creation_time(99_999_999_999_999, Some(Precision::Microsecond))
            .unwrap();
        assert_eq!(text(t), r#""1973-03-03T09:46:39.999999Z""#);
        let t =
            EventTime::from_creation_time(1_700_000_000_123, Some(Precision::Millisecond)).unwrap();
        assert_eq!((t.year(), t.month(), t.day(), t.hour()), (2023, 11, 14, 22));
        assert_eq!(
            Precision::from_name("MICROSECOND"),
            Some(Precision::Microsecond)
        );
        assert_eq!(Precision::from_name("SECOND"), None);
    }

    #[test]
    fn the_threshold_is_ten_to_the_fourteen() {
        let below = EventTime::from_creation_time(MICROS_THRESHOLD - 1, None).unwrap();
        assert_eq!(below.year(), 5138); // read as milliseconds
        let at = EventTime::from_creation_time(MICROS_THRESHOLD, None).unwrap();
        assert_eq!(at.year(), 1973); // read as microseconds
    }

    #[test]
    fn epoch_and_range_edges() {
        assert_eq!(
            text(EventTime::from_millis(0).unwrap()),
            r#""1970-01-01T00:00:00.000000Z""#
        );
        assert_eq!(EventTime::from_millis(u64::MAX), Err(TimeError::OutOfRange));
        assert_eq!(
            EventTime::from_creation_time(u64::MAX, Some(Precision::Millisecond)),
            Err(TimeError::OutOfRange)
        );
        // 10000-01-01 in microseconds: a 5-digit year has no RFC 3339 form.
        assert_eq!(
            EventTime::from_creation_time(253_402_300_800_000_000, None),
            Err(TimeError::OutOfRange)
        );
    }
}
