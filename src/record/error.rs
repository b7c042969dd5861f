//! Why a record, or a whole event, could not be transformed. Reasons never carry item contents:
//! they go to logs, while the record's original bytes go to the error prefix.

use crate::record::event_time::TimeError;
use crate::record::typed_json::ItemError;
use thiserror::Error;

/// One record cannot be transformed: it is returned as `ProcessingFailed` with its original
/// `data`, and the rest of the batch is unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("the record envelope is malformed: {0}")]
    Envelope(String),
    #[error("data is not valid base64")]
    Base64,
    #[error("data is gzip-compressed but does not inflate")]
    Gzip,
    #[error("data inflates past {limit} bytes")]
    TooLarge { limit: usize },
    #[error("data is not valid UTF-8")]
    NotUtf8,
    #[error("data is not valid JSON ({0})")]
    NotJson(String),
    #[error("not a DynamoDB change record ({0})")]
    NotAChangeRecord(String),
    #[error("eventSource is not aws:dynamodb")]
    WrongEventSource,
    #[error("unknown eventName (expected INSERT, MODIFY or REMOVE)")]
    UnknownEventName,
    #[error("tableName is not a valid DynamoDB table name")]
    BadTableName,
    #[error("eventSourceARN does not name a valid DynamoDB table (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL)")]
    NoTableInEventSourceArn,
    #[error("the record has no image and no Keys")]
    NoImage,
    #[error("the batch's rows already pass four times Lambda's response limit: this record goes to the error prefix rather than into memory")]
    BatchTooLarge,
    #[error(transparent)]
    Time(#[from] TimeError),
    #[error(transparent)]
    Item(#[from] ItemError),
}

impl RecordError {
    /// Every reason code [`RecordError::code`] can give, in the order the README lists them.
    pub const CODES: &'static [&'static str] = &[
        "bad_envelope",
        "bad_base64",
        "bad_gzip",
        "too_large",
        "not_utf8",
        "not_json",
        "not_a_change_record",
        "unknown_event_name",
        "bad_table_name",
        "no_image",
        "bad_change_time",
        "bad_typed_value",
        "too_deep",
        "column_collision",
        "row_too_large",
        "batch_too_large",
    ];

    /// A short, stable name for the kind of failure, for log queries and metrics: one of
    /// [`RecordError::CODES`].
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Envelope(_) => "bad_envelope",
            RecordError::Base64 => "bad_base64",
            RecordError::Gzip => "bad_gzip",
            RecordError::TooLarge { .. } => "too_large",
            RecordError::NotUtf8 => "not_utf8",
            RecordError::NotJson(_) => "not_json",
            RecordError::NotAChangeRecord(_) | RecordError::WrongEventSource => {
                "not_a_change_record"
            }
            RecordError::UnknownEventName => "unknown_event_name",
            RecordError::BadTableName | RecordError::NoTableInEventSourceArn => "bad_table_name",
            RecordError::NoImage => "no_image",
            RecordError::Time(_) => "bad_change_time",
            RecordError::Item(ItemError::ColumnCollision) => "column_collision",
            RecordError::Item(ItemError::TooDeep) => "too_deep",
            RecordError::Item(ItemError::RowTooLarge) => "row_too_large",
            RecordError::BatchTooLarge => "batch_too_large",
            RecordError::Item(_) => "bad_typed_value",
        }
    }
}

/// Describes a serde_json error by its kind and position only: the message of a type error
/// quotes the offending value, which may be item data.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let msg = e.to_string();
    let names_only = msg.starts_with("missing field")
        || msg.starts_with("duplicate field")
        || msg.starts_with(crate::record::change_record::NO_STREAM_ARN);
    match e.classify() {
        Category::Data if names_only => msg,
        Category::Data => format!(
            "a field has the wrong type at line {} column {}",
            e.line(),
            e.column()
        ),
        Category::Syntax => format!("syntax error at line {} column {}", e.line(), e.column()),
        Category::Eof => "unexpected end of input".to_owned(),
        Category::Io => "read error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// One error of every kind; the matches make adding a variant without listing it here a
    /// compile error.
    fn one_of_each() -> Vec<RecordError> {
        let items = [
            ItemError::NoTypeTag,
            ItemError::SeveralTypeTags,
            ItemError::UnknownTypeTag,
            ItemError::BadNumber,
            ItemError::TooDeep,
            ItemError::ColumnCollision,
            ItemError::WrongShape,
            ItemError::RowTooLarge,
        ];
        for i in &items {
            match i {
                ItemError::NoTypeTag
                | ItemError::SeveralTypeTags
                | ItemError::UnknownTypeTag
                | ItemError::BadNumber
                | ItemError::TooDeep
                | ItemError::ColumnCollision
                | ItemError::WrongShape
                | ItemError::RowTooLarge => {}
            }
        }
        let times = [
            TimeError::Missing,
            TimeError::NotWhole,
            TimeError::OutOfRange,
            TimeError::UnknownPrecision,
            TimeError::Implausible,
        ];
        for t in &times {
            match t {
                TimeError::Missing
                | TimeError::NotWhole
                | TimeError::OutOfRange
                | TimeError::UnknownPrecision
                | TimeError::Implausible => {}
            }
        }
        let mut all = vec![
            RecordError::Envelope(String::new()),
            RecordError::Base64,
            RecordError::Gzip,
            RecordError::TooLarge { limit: 1 },
            RecordError::NotUtf8,
            RecordError::NotJson(String::new()),
            RecordError::NotAChangeRecord(String::new()),
            RecordError::WrongEventSource,
            RecordError::UnknownEventName,
            RecordError::BadTableName,
            RecordError::NoTableInEventSourceArn,
            RecordError::NoImage,
            RecordError::BatchTooLarge,
        ];
        for e in &all {
            match e {
                RecordError::Envelope(_)
                | RecordError::Base64
                | RecordError::Gzip
                | RecordError::TooLarge { .. }
                | RecordError::NotUtf8
                | RecordError::NotJson(_)
                | RecordError::NotAChangeRecord(_)
                | RecordError::WrongEventSource
                | RecordError::UnknownEventName
                | RecordError::BadTableName
                | RecordError::NoTableInEventSourceArn
                | RecordError::NoImage
                | RecordError::BatchTooLarge
                | RecordError::Time(_)
                | RecordError::Item(_) => {}
            }
        }
        all.extend(times.into_iter().map(RecordError::Time));
        all.extend(items.into_iter().map(RecordError::Item));
        all
    }

    #[test]
    fn codes_lists_every_code_the_errors_give() {
        let given: BTreeSet<&str> = one_of_each().iter().map(RecordError::code).collect();
        let listed: BTreeSet<&str> = RecordError::CODES.iter().copied().collect();
        assert_eq!(given, listed);
        assert_eq!(
            listed.len(),
            RecordError::CODES.len(),
            "a code listed twice"
        );
    }

    #[test]
    fn the_readme_lists_exactly_the_codes() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let start = readme
            .find("`reason_code` is one of")
            .expect("the README lists the reason codes");
        let list = &readme[start..];
        let list = &list[list
            .find('\n')
            .map_or(0, |_| "`reason_code` is one of".len())..];
        let list = &list[..list.find('.').expect("the list ends with a full stop")];
        let in_readme: Vec<&str> = list
            .split(|c: char| c.is_whitespace() || c == '`')
            .filter(|w| !w.is_empty())
            .collect();
        assert_eq!(in_readme, RecordError::CODES);
    }
}
