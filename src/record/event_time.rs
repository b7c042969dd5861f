//! The time of a change: `ApproximateCreationDateTime` in epoch milliseconds or microseconds
//! (the precision setting of a Kinesis Data Streams for DynamoDB record), in epoch seconds (a
//! DynamoDB Streams record), or Firehose's arrival time in milliseconds where the record has none.
//! Written as RFC 3339 UTC with microseconds, and split into partition fields. A change time is
//! only plausible inside [`EventTime::plausible`]'s window.

use chrono::{DateTime, Datelike, Timelike, Utc};
use thiserror::Error;

/// Values at or above this are microseconds when the record does not say which (10^14 ms is
/// the year 5138; 10^14 µs is 1973).
const MICROS_THRESHOLD: u64 = 100_000_000_000_000;

/// 2000-01-01T00:00:00Z in epoch microseconds: the first plausible change time.
pub const PLAUSIBLE_FROM_MICROS: i64 = 946_684_800_000_000;
/// 2200-01-01T00:00:00Z in epoch microseconds: the first change time past the plausible window.
pub const PLAUSIBLE_UNTIL_MICROS: i64 = 7_258_118_400_000_000;

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
    #[error("the change time is not a non-negative number (a whole one in epoch milliseconds or microseconds)")]
    NotWhole,
    #[error("the change time is out of range (after the year 9999)")]
    OutOfRange,
    #[error("ApproximateCreationDateTimePrecision is neither MILLISECOND nor MICROSECOND")]
    UnknownPrecision,
    #[error("the change time is outside 2000-01-01T00:00:00Z .. 2200-01-01T00:00:00Z (a value in the wrong unit, such as epoch seconds where milliseconds belong?)")]
    Implausible,
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

    /// From `ApproximateCreationDateTime` of a DynamoDB Streams record: epoch seconds as the JSON
    /// number text `text` (`1428537600`, `1693997155.0`, `1.4285376E9`), read exactly from its
    /// digits, never through a float; digits past the microsecond are dropped.
    pub fn from_epoch_seconds(text: &str) -> Result<EventTime, TimeError> {
        let (micros, _exact) = scaled(text, 6)?;
        Self::from_micros(Some(micros))
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

    /// The time itself if it is a plausible change time: from 2000-01-01T00:00:00Z up to, not
    /// including, 2200-01-01T00:00:00Z (the transformation contract's window). Anything else is
    /// a value read in the wrong unit, which would land in a wrong partition.
    pub fn plausible(self) -> Result<EventTime, TimeError> {
        let micros = self.0.timestamp_micros();
        if (PLAUSIBLE_FROM_MICROS..PLAUSIBLE_UNTIL_MICROS).contains(&micros) {
            Ok(self)
        } else {
            Err(TimeError::Implausible)
        }
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

    /// Epoch milliseconds (rounded down).
    pub fn timestamp_millis(&self) -> i64 {
        self.0.timestamp_millis()
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

/// A whole non-negative JSON number (its text, e.g. `1700000000123` or `1.700000000123e12`),
/// read exactly from its digits.
pub fn whole_number(text: &str) -> Result<u64, TimeError> {
    // The usual case, plain digits: at most 19 of them cannot overflow.
    if (1..=19).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(text
            .bytes()
            .fold(0, |value, d| value * 10 + u64::from(d - b'0')));
    }
    match scaled(text, 0)? {
        (value, true) => Ok(value),
        (_, false) => Err(TimeError::NotWhole),
    }
}

/// `floor(value × 10^shift)` of the non-negative JSON number `text`, and whether nothing was
/// dropped to get there (no non-zero digit past the point). Works on the decimal digits, so no
/// value is ever rounded through a float.
fn scaled(text: &str, shift: u32) -> Result<(u64, bool), TimeError> {
    let b = text.as_bytes();
    let digits_from = |mut i: usize| {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (start, i)
    };
    let negative = b.first() == Some(&b'-');
    let (int_start, mut i) = digits_from(usize::from(negative));
    if i == int_start {
        return Err(TimeError::NotWhole);
    }
    let int_digits = &b[int_start..i];
    let mut frac_digits: &[u8] = &[];
    if b.get(i) == Some(&b'.') {
        let (start, end) = digits_from(i + 1);
        if end == start {
            return Err(TimeError::NotWhole);
        }
        frac_digits = &b[start..end];
        i = end;
    }
    let mut exponent: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let minus = b.get(i) == Some(&b'-');
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let (start, end) = digits_from(i);
        if end == start {
            return Err(TimeError::NotWhole);
        }
        for &d in &b[start..end] {
            exponent = exponent
                .saturating_mul(10)
                .saturating_add(i64::from(d - b'0'));
        }
        if minus {
            exponent = -exponent;
        }
        i = end;
    }
    if i != b.len() {
        return Err(TimeError::NotWhole);
    }
    // value = digits × 10^(exponent - fraction digits); the result moves the point `shift` right.
    let n = int_digits.len() + frac_digits.len();
    let point = exponent
        .saturating_sub(i64::try_from(frac_digits.len()).unwrap_or(i64::MAX))
        .saturating_add(i64::from(shift));
    let kept = if point >= 0 {
        n
    } else {
        n.saturating_sub(usize::try_from(point.unsigned_abs()).unwrap_or(usize::MAX))
    };
    let mut value: u64 = 0;
    let mut exact = true;
    for (k, &d) in int_digits.iter().chain(frac_digits).enumerate() {
        if k < kept {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or(TimeError::OutOfRange)?;
        } else if d != b'0' {
            exact = false;
        }
    }
    if value != 0 {
        // Past 20 factors of ten any u64 overflows, so this loop is short.
        for _ in 0..point.max(0) {
            value = value.checked_mul(10).ok_or(TimeError::OutOfRange)?;
        }
    }
    if negative && (value != 0 || !exact) {
        return Err(TimeError::NotWhole);
    }
    Ok((value, exact))
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

    #[test]
    fn the_plausible_window_is_2000_up_to_2200() {
        let at = |micros: i64| {
            EventTime::from_micros(Some(micros as u64))
                .unwrap()
                .plausible()
        };
        assert_eq!(at(PLAUSIBLE_FROM_MICROS - 1), Err(TimeError::Implausible));
        let first = at(PLAUSIBLE_FROM_MICROS).unwrap();
        assert_eq!(text(first), r#""2000-01-01T00:00:00.000000Z""#);
        let last = at(PLAUSIBLE_UNTIL_MICROS - 1).unwrap();
        assert_eq!(text(last), r#""2199-12-31T23:59:59.999999Z""#);
        assert_eq!(at(PLAUSIBLE_UNTIL_MICROS), Err(TimeError::Implausible));
        assert_eq!(
            text(EventTime::from_epoch_seconds("7258118400").unwrap()),
            r#""2200-01-01T00:00:00.000000Z""#
        );
        assert_eq!(
            text(EventTime::from_epoch_seconds("946684800").unwrap()),
            r#""2000-01-01T00:00:00.000000Z""#
        );
        // Epoch seconds read as milliseconds land in 1970: implausible.
        let seconds_as_ms = EventTime::from_creation_time(1_763_625_600, None).unwrap();
        assert_eq!(seconds_as_ms.year(), 1970);
        assert_eq!(seconds_as_ms.plausible(), Err(TimeError::Implausible));
    }

    #[test]
    fn epoch_seconds_are_read_exactly_to_the_microsecond() {
        let seconds = |t: &str| text(EventTime::from_epoch_seconds(t).unwrap());
        assert_eq!(seconds("1428537600"), r#""2015-04-09T00:00:00.000000Z""#);
        assert_eq!(seconds("1693997155.0"), r#""2023-09-06T10:45:55.000000Z""#);
        assert_eq!(seconds("1.4285376E9"), r#""2015-04-09T00:00:00.000000Z""#);
        assert_eq!(seconds("1.4285376e+9"), r#""2015-04-09T00:00:00.000000Z""#);
        // Digits past the microsecond are dropped (an f64 would round the last one to ….123457).
        assert_eq!(
            seconds("1763625600.123456"),
            r#""2025-11-20T08:00:00.123456Z""#
        );
        assert_eq!(
            seconds("1763625600.1234569"),
            r#""2025-11-20T08:00:00.123456Z""#
        );
        assert_eq!(
            seconds("1763625600.000001"),
            r#""2025-11-20T08:00:00.000001Z""#
        );
        assert_eq!(
            seconds("176362560012345.6e-5"),
            r#""2025-11-20T08:00:00.123456Z""#
        );
        assert_eq!(seconds("0"), r#""1970-01-01T00:00:00.000000Z""#);
        for bad in [
            "-1",
            "-0.5",
            "x",
            r#""1428537600""#,
            "1.",
            ".5",
            "1e",
            "1e+",
            "1 ",
            "null",
        ] {
            assert_eq!(
                EventTime::from_epoch_seconds(bad),
                Err(TimeError::NotWhole),
                "{bad}"
            );
        }
        for huge in ["1e300", "99999999999999999999", "1e99999999999999999999999"] {
            assert_eq!(
                EventTime::from_epoch_seconds(huge),
                Err(TimeError::OutOfRange),
                "{huge}"
            );
        }
    }

    #[test]
    fn whole_numbers_are_read_from_their_digits() {
        assert_eq!(whole_number("1700000000123"), Ok(1_700_000_000_123));
        assert_eq!(whole_number("1.700000000123e12"), Ok(1_700_000_000_123));
        assert_eq!(whole_number("1700000000123.000"), Ok(1_700_000_000_123));
        assert_eq!(whole_number("100e-2"), Ok(1));
        assert_eq!(whole_number("0"), Ok(0));
        assert_eq!(whole_number("-0"), Ok(0));
        assert_eq!(whole_number("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            whole_number("18446744073709551616"),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(whole_number("1e300"), Err(TimeError::OutOfRange));
        assert_eq!(whole_number("0e99999"), Ok(0));
        for bad in ["1.5", "-5", "1.7000000001230000001e12", "1e-1", "abc", ""] {
            assert_eq!(whole_number(bad), Err(TimeError::NotWhole), "{bad}");
        }
    }
}
