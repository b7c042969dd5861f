//! What one line of an export's data file becomes: the image its row is made of, and for an
//! incremental export the change's kind and time ("DynamoDB table export output format", Amazon
//! DynamoDB Developer Guide).
//!
//! A full export's line is `{"Item":{…}}`. An incremental export's line is one item's change in
//! the export's window, compacted to its last write:
//!
//! ```text
//! {"Metadata":{"WriteTimestampMicros":{"N":"1763633730123456"}},
//!  "Keys":{…}, "NewImage":{…}, "OldImage":{…}}
//! ```
//!
//! The export does not name the change; its shape does:
//!
//! | present | `NEW_AND_OLD_IMAGES` | `NEW_IMAGE` |
//! |---|---|---|
//! | `NewImage` and `OldImage` | `MODIFY` | (not written) |
//! | `NewImage` only | `INSERT` (the item did not exist before the window) | `MODIFY` (the view drops `OldImage`, so an insert cannot be told from an update) |
//! | no `NewImage` | `REMOVE` | `REMOVE` |
//!
//! The row's image is `NewImage` for `INSERT`/`MODIFY` and `OldImage` for `REMOVE`, `Keys` where
//! that image is absent (a `NEW_IMAGE` delete carries only `Keys`), as for stream records. An
//! item inserted and deleted within the window is not in the export at all.
//!
//! `WriteTimestampMicros` is read as DynamoDB writes it, a typed number (`{"N":"…"}`), and also
//! as a plain string or JSON number: epoch microseconds.

use crate::lake::export::OutputView;
use crate::record::change_record::EventName;
use crate::record::error::{describe_json_error, RecordError};
use crate::record::event_time::{EventTime, Precision, TimeError};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One line of a full export.
#[derive(Deserialize)]
struct ItemLine<'a> {
    #[serde(rename = "Item", borrow)]
    item: &'a RawValue,
}

/// One line of an incremental export.
#[derive(Deserialize)]
struct ChangeLine<'a> {
    #[serde(rename = "Metadata", borrow)]
    metadata: Metadata<'a>,
    #[serde(rename = "Keys", borrow, default)]
    keys: Option<&'a RawValue>,
    #[serde(rename = "NewImage", borrow, default)]
    new_image: Option<&'a RawValue>,
    #[serde(rename = "OldImage", borrow, default)]
    old_image: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(rename = "WriteTimestampMicros", borrow)]
    write_timestamp_micros: &'a RawValue,
}

/// `{"N":"…"}`, DynamoDB's typed number.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypedNumber {
    #[serde(rename = "N")]
    n: String,
}

/// One change of an incremental export, as its row needs it.
#[derive(Debug, Clone, Copy)]
pub struct ExportChange<'a> {
    pub event_name: EventName,
    /// `Metadata.WriteTimestampMicros`: when the item was last written in the window.
    pub time: EventTime,
    /// The typed-JSON image the row is made of.
    pub image: &'a RawValue,
}

/// The typed-JSON image of a full export's line `{"Item":{…}}`.
pub fn item_image(line: &[u8]) -> Result<&RawValue, RecordError> {
    let text = std::str::from_utf8(line).map_err(|_| RecordError::NotUtf8)?;
    let parsed: ItemLine =
        serde_json::from_str(text).map_err(|e| envelope("an export item", &e))?;
    Ok(parsed.item)
}

/// An incremental export's line, made with `view`, as a change (see the module's table).
pub fn incremental_change(line: &[u8], view: OutputView) -> Result<ExportChange<'_>, RecordError> {
    let text = std::str::from_utf8(line).map_err(|_| RecordError::NotUtf8)?;
    let parsed: ChangeLine =
        serde_json::from_str(text).map_err(|e| envelope("an incremental export record", &e))?;
    let micros = write_timestamp_micros(parsed.metadata.write_timestamp_micros)?;
    let time = EventTime::from_creation_time(micros, Some(Precision::Microsecond))?;
    let event_name = match (parsed.new_image, parsed.old_image, view) {
        (Some(_), Some(_), _) => EventName::Modify,
        (Some(_), None, OutputView::NewAndOldImages) => EventName::Insert,
        (Some(_), None, OutputView::NewImage) => EventName::Modify,
        (None, _, _) => EventName::Remove,
    };
    let image = match event_name {
        EventName::Insert | EventName::Modify => parsed.new_image,
        EventName::Remove => parsed.old_image,
    }
    .or(parsed.keys)
    .ok_or(RecordError::NoImage)?;
    Ok(ExportChange {
        event_name,
        time,
        image,
    })
}

/// Epoch microseconds from `{"N":"…"}`, `"…"` or a JSON number: whole and non-negative.
fn write_timestamp_micros(raw: &RawValue) -> Result<u64, TimeError> {
    let json = raw.get();
    let digits = if json.starts_with('{') {
        serde_json::from_str::<TypedNumber>(json)
            .map_err(|_| TimeError::NotWhole)?
            .n
    } else if json.starts_with('"') {
        serde_json::from_str::<String>(json).map_err(|_| TimeError::NotWhole)?
    } else {
        json.to_owned()
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TimeError::NotWhole);
    }
    digits.parse().map_err(|_| TimeError::OutOfRange)
}

/// A line that is not JSON, or not of the expected shape. The reason names fields and positions,
/// never values.
fn envelope(what: &str, e: &serde_json::Error) -> RecordError {
    let reason = describe_json_error(e);
    if e.is_data() {
        RecordError::Envelope(format!("not {what} ({reason})"))
    } else {
        RecordError::NotJson(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_lines() {
        let image = item_image(br#"{"Item":{"pk":{"S":"a"}}}"#).unwrap();
        assert_eq!(image.get(), r#"{"pk":{"S":"a"}}"#);
        assert_eq!(item_image(b"{\"Item\":").unwrap_err().code(), "not_json");
        assert_eq!(
            item_image(b"{\"pk\":1}").unwrap_err().code(),
            "bad_envelope"
        );
        assert_eq!(item_image(b"\xff").unwrap_err(), RecordError::NotUtf8);
    }

    const KEYS: &str = r#""Keys":{"pk":{"S":"a"}}"#;
    const NEW: &str = r#""NewImage":{"pk":{"S":"a"},"v":{"N":"2"}}"#;
    const OLD: &str = r#""OldImage":{"pk":{"S":"a"},"v":{"N":"1"}}"#;
    const META: &str = r#""Metadata":{"WriteTimestampMicros":{"N":"1763633730123456"}}"#;

    fn line(parts: &[&str]) -> Vec<u8> {
        format!("{{{}}}", parts.join(",")).into_bytes()
    }

    /// (event name, image) of a line under `view`.
    fn change(parts: &[&str], view: OutputView) -> (&'static str, String) {
        let text = line(parts);
        let c = incremental_change(&text, view).unwrap();
        (c.event_name.as_str(), c.image.get().to_owned())
    }

    #[test]
    fn the_shape_names_the_change() {
        use OutputView::{NewAndOldImages as Both, NewImage as New};
        let new = r#"{"pk":{"S":"a"},"v":{"N":"2"}}"#;
        let old = r#"{"pk":{"S":"a"},"v":{"N":"1"}}"#;
        let keys = r#"{"pk":{"S":"a"}}"#;
        // NEW_AND_OLD_IMAGES: insert, update, delete.
        assert_eq!(change(&[META, KEYS, NEW], Both), ("INSERT", new.into()));
        assert_eq!(
            change(&[META, KEYS, OLD, NEW], Both),
            ("MODIFY", new.into())
        );
        assert_eq!(change(&[META, KEYS, OLD], Both), ("REMOVE", old.into()));
        // NEW_IMAGE: an insert or an update, and a delete with only its keys.
        assert_eq!(change(&[META, KEYS, NEW], New), ("MODIFY", new.into()));
        assert_eq!(change(&[META, KEYS], New), ("REMOVE", keys.into()));
        // Images that are null count as absent; a delete without OldImage keeps its Keys.
        assert_eq!(
            change(&[META, KEYS, r#""NewImage":null"#], Both),
            ("REMOVE", keys.into())
        );
        // The time is the write's, to the microsecond.
        let c = line(&[META, KEYS, NEW]);
        let mut out = Vec::new();
        incremental_change(&c, Both)
            .unwrap()
            .time
            .write_json(&mut out);
        assert_eq!(out, br#""2025-11-20T10:15:30.123456Z""#);
    }

    #[test]
    fn write_timestamps_in_every_spelling() {
        for meta in [
            META,
            r#""Metadata":{"WriteTimestampMicros":"1763633730123456"}"#,
            r#""Metadata":{"WriteTimestampMicros":1763633730123456}"#,
        ] {
            let c = line(&[meta, KEYS, NEW]);
            let t = incremental_change(&c, OutputView::NewAndOldImages)
                .unwrap()
                .time;
            assert_eq!(
                t,
                EventTime::from_creation_time(1_763_633_730_123_456, Some(Precision::Microsecond))
                    .unwrap()
            );
        }
    }

    #[test]
    fn bad_lines_fail_with_their_reason() {
        let bad = |parts: &[&str]| {
            incremental_change(&line(parts), OutputView::NewAndOldImages)
                .unwrap_err()
                .code()
        };
        let meta = |value: &str| format!(r#""Metadata":{{"WriteTimestampMicros":{value}}}"#);
        assert_eq!(bad(&[KEYS, NEW]), "bad_envelope");
        assert_eq!(bad(&[r#""Metadata":{}"#, KEYS, NEW]), "bad_envelope");
        assert_eq!(bad(&[r#""Item":{"pk":{"S":"a"}}"#]), "bad_envelope");
        for value in [
            r#"{"N":"-1"}"#,
            r#"{"N":"1.5"}"#,
            r#"{"S":"1763633730123456"}"#,
            r#"{"N":"1","S":"1"}"#,
            r#""""#,
            "null",
            "1.5e15",
        ] {
            assert_eq!(
                bad(&[&meta(value), KEYS, NEW]),
                "bad_change_time",
                "{value}"
            );
        }
        assert_eq!(
            bad(&[&meta(r#"{"N":"99999999999999999999999"}"#), KEYS, NEW]),
            "bad_change_time"
        );
        // A delete with neither OldImage nor Keys has nothing to make a row of.
        assert_eq!(bad(&[META]), "no_image");
        assert_eq!(
            incremental_change(b"{\"Metadata\":", OutputView::NewImage)
                .unwrap_err()
                .code(),
            "not_json"
        );
        assert_eq!(
            incremental_change(b"\xff", OutputView::NewImage).unwrap_err(),
            RecordError::NotUtf8
        );
    }

    #[test]
    fn reasons_do_not_quote_item_data() {
        let secret = line(&[
            r#""Metadata":{"WriteTimestampMicros":{"N":"p@ssword"}}"#,
            KEYS,
        ]);
        let err = incremental_change(&secret, OutputView::NewImage).unwrap_err();
        assert!(!err.to_string().contains("p@ss"), "{err}");
        let secret = br#"{"Metadata":"p@ssword"}"#;
        let err = incremental_change(secret, OutputView::NewImage).unwrap_err();
        assert!(!err.to_string().contains("p@ss"), "{err}");
    }
}
