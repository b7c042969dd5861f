//! What to do with one table, decided from what DynamoDB reports about it, with no I/O: the
//! next step towards a Kinesis streaming destination to our stream (or away from it), and whether
//! a table's DynamoDB stream can feed the lake.
//!
//! Statuses and settings are those of the DynamoDB API Reference:
//! `DescribeKinesisStreamingDestination` lists `KinesisDataStreamDestination`s, each a
//! `StreamArn`, a `DestinationStatus` (`ENABLING | ACTIVE | DISABLING | DISABLED |
//! ENABLE_FAILED | UPDATING`), a `DestinationStatusDescription` and an
//! `ApproximateCreationDateTimePrecision` (`MILLISECOND | MICROSECOND`; MILLISECOND when the
//! destination predates the setting); `DescribeTable`'s `StreamSpecification` has
//! `StreamEnabled` and `StreamViewType` (`KEYS_ONLY | NEW_IMAGE | OLD_IMAGE |
//! NEW_AND_OLD_IMAGES`), and `LatestStreamArn` names the table's current stream.

use super::error::AttachError;
use crate::catalog::key_schema::KeySchema;

/// A Kinesis streaming destination's `DestinationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationStatus {
    Enabling,
    Active,
    Updating,
    Disabling,
    Disabled,
    EnableFailed,
    /// A status this code does not know (a newer API): waited on, never acted on.
    Unknown,
}

impl DestinationStatus {
    /// Reads the API's spelling.
    pub fn from_api(text: &str) -> DestinationStatus {
        match text {
            "ENABLING" => DestinationStatus::Enabling,
            "ACTIVE" => DestinationStatus::Active,
            "UPDATING" => DestinationStatus::Updating,
            "DISABLING" => DestinationStatus::Disabling,
            "DISABLED" => DestinationStatus::Disabled,
            "ENABLE_FAILED" => DestinationStatus::EnableFailed,
            _ => DestinationStatus::Unknown,
        }
    }

    pub fn as_api(self) -> &'static str {
        match self {
            DestinationStatus::Enabling => "ENABLING",
            DestinationStatus::Active => "ACTIVE",
            DestinationStatus::Updating => "UPDATING",
            DestinationStatus::Disabling => "DISABLING",
            DestinationStatus::Disabled => "DISABLED",
            DestinationStatus::EnableFailed => "ENABLE_FAILED",
            DestinationStatus::Unknown => "UNKNOWN",
        }
    }

    /// The destination streams, or is about to: the table's changes go (or will go) there.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            DestinationStatus::Enabling | DestinationStatus::Active | DestinationStatus::Updating
        )
    }

    /// How far along a destination is: the entry that matters when one stream is listed twice
    /// (an old DISABLED entry beside a new ACTIVE one).
    fn rank(self) -> u8 {
        match self {
            DestinationStatus::Active => 6,
            DestinationStatus::Updating => 5,
            DestinationStatus::Enabling => 4,
            DestinationStatus::Disabling => 3,
            DestinationStatus::Unknown => 2,
            DestinationStatus::EnableFailed => 1,
            DestinationStatus::Disabled => 0,
        }
    }
}

/// `ApproximateCreationDateTimePrecision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Millisecond,
    Microsecond,
}

/// One `KinesisDataStreamDestination`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub stream_arn: String,
    pub status: DestinationStatus,
    /// `None` when not reported: MILLISECOND, the API's default.
    pub precision: Option<Precision>,
    pub description: Option<String>,
}

#[cfg(test)]
impl Destination {
    /// A destination as DescribeKinesisStreamingDestination reports it, without a description.
    pub(crate) fn reported(
        stream: &str,
        status: DestinationStatus,
        precision: Option<Precision>,
    ) -> Destination {
        Destination {
            stream_arn: stream.to_owned(),
            status,
            precision,
            description: None,
        }
    }
}

/// What `DescribeTable` says that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub key_schema: KeySchema,
    /// `None` when the table has no enabled stream.
    pub stream: Option<TableStream>,
}

/// An enabled DynamoDB stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStream {
    /// `StreamViewType`.
    pub view_type: String,
    /// `LatestStreamArn`.
    pub arn: Option<String>,
}

/// The next call for one table's Kinesis streaming destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing more to do for this table.
    Done,
    /// EnableKinesisStreamingDestination to our stream, MICROSECOND precision.
    Enable,
    /// UpdateKinesisStreamingDestination of our destination to MICROSECOND.
    RaisePrecision,
    /// DisableKinesisStreamingDestination of this stream.
    Disable(String),
    /// A destination is changing state: look again later.
    Wait,
}

/// What this request already asked of one table, so a step is not repeated while DynamoDB's
/// answers catch up with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub enabled: bool,
    pub precision_raised: bool,
    pub disabled: bool,
}

/// The entry for `stream` that matters (the most advanced), if any.
pub fn destination_to<'a>(
    destinations: &'a [Destination],
    stream: &str,
) -> Option<&'a Destination> {
    destinations
        .iter()
        .filter(|d| d.stream_arn == stream)
        .max_by_key(|d| d.status.rank())
}

/// The next step to have `table` stream to `ours` with MICROSECOND precision.
///
/// - A live (ENABLING, ACTIVE, UPDATING) destination to any other stream fails the request,
///   naming both: a table's destination is never moved. The one exception is `previous`, the
///   stream this resource itself attached before an Update changed `StreamArn`: that destination
///   is disabled first.
/// - Ours ACTIVE: done, after raising MILLISECOND to MICROSECOND once.
/// - Ours ENABLING, UPDATING or DISABLING: wait (for ACTIVE, so its precision can be checked).
/// - None, DISABLED, or ENABLE_FAILED before we asked: enable. ENABLE_FAILED after we asked
///   fails the request with DynamoDB's description.
pub fn attach_step(
    table: &str,
    destinations: &[Destination],
    ours: &str,
    previous: Option<&str>,
    progress: Progress,
) -> Result<Step, AttachError> {
    let previous = previous.filter(|p| *p != ours);
    if let Some(other) = destinations.iter().find(|d| {
        d.stream_arn != ours && Some(d.stream_arn.as_str()) != previous && d.status.is_live()
    }) {
        return Err(AttachError::StreamsElsewhere {
            table: table.to_owned(),
            other: other.stream_arn.clone(),
            status: other.status.as_api().to_owned(),
        });
    }
    if let Some(old) = previous.and_then(|p| destination_to(destinations, p)) {
        match old.status {
            DestinationStatus::Active if !progress.disabled => {
                return Ok(Step::Disable(old.stream_arn.clone()))
            }
            DestinationStatus::Disabled | DestinationStatus::EnableFailed => {}
            // Still going away (or not yet seen to): one destination change at a time.
            _ => return Ok(Step::Wait),
        }
    }
    let Some(mine) = destination_to(destinations, ours) else {
        // Just enabled and not listed yet: DynamoDB's answer lags the call.
        return Ok(if progress.enabled {
            Step::Wait
        } else {
            Step::Enable
        });
    };
    Ok(match mine.status {
        DestinationStatus::Active => {
            let precise = mine.precision == Some(Precision::Microsecond);
            if precise || progress.precision_raised {
                Step::Done
            } else {
                Step::RaisePrecision
            }
        }
        DestinationStatus::Enabling
        | DestinationStatus::Updating
        | DestinationStatus::Disabling
        | DestinationStatus::Unknown => Step::Wait,
        DestinationStatus::EnableFailed if progress.enabled => {
            return Err(AttachError::EnableFailed {
                table: table.to_owned(),
                stream: ours.to_owned(),
                description: mine
                    .description
                    .clone()
                    .unwrap_or_else(|| "no description given".to_owned()),
            })
        }
        DestinationStatus::Disabled | DestinationStatus::EnableFailed => {
            if progress.enabled {
                Step::Wait
            } else {
                Step::Enable
            }
        }
    })
}

/// The next step to stop `table` streaming to `ours`; destinations to other streams are never
/// touched. ACTIVE: disable (once); changing: wait; none, DISABLED or ENABLE_FAILED: done.
pub fn detach_step(destinations: &[Destination], ours: &str, progress: Progress) -> Step {
    match destination_to(destinations, ours).map(|d| d.status) {
        None | Some(DestinationStatus::Disabled | DestinationStatus::EnableFailed) => Step::Done,
        Some(DestinationStatus::Active) if !progress.disabled => Step::Disable(ours.to_owned()),
        Some(_) => Step::Wait,
    }
}

/// Tables `before` attached that `after` does not: on Update, the ones to detach.
pub fn removed_tables(before: &[String], after: &[String]) -> Vec<String> {
    before
        .iter()
        .filter(|t| !after.contains(t))
        .cloned()
        .collect()
}

/// DynamoDB Streams feeds the pipeline from one table: that table, or an error naming
/// `ExistingTableNames` (the stacks' parameter the list comes from).
pub fn only_table(tables: &[String]) -> Result<&str, AttachError> {
    match tables {
        [one] => Ok(one),
        _ => Err(AttachError::NotOneTable {
            count: tables.len(),
            tables: tables.join(", "),
        }),
    }
}

/// What to do with a table's DynamoDB stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStep {
    /// No stream: UpdateTable with StreamSpecification {StreamEnabled: true,
    /// StreamViewType: NEW_AND_OLD_IMAGES}.
    Enable,
    /// The stream carries new images: use it as it is (its `LatestStreamArn`).
    Use(String),
}

/// NEW_AND_OLD_IMAGES or NEW_IMAGE: used as is; no stream: enabled; KEYS_ONLY or OLD_IMAGE
/// (no new image to make rows of): an error, since changing the view type means replacing the
/// stream under its other readers.
pub fn stream_step(table: &str, stream: Option<&TableStream>) -> Result<StreamStep, AttachError> {
    let Some(stream) = stream else {
        return Ok(StreamStep::Enable);
    };
    match (stream.view_type.as_str(), &stream.arn) {
        ("NEW_AND_OLD_IMAGES" | "NEW_IMAGE", Some(arn)) => Ok(StreamStep::Use(arn.clone())),
        ("NEW_AND_OLD_IMAGES" | "NEW_IMAGE", None) => Err(AttachError::DynamoDb {
            operation: "DescribeTable",
            table: table.to_owned(),
            message: "the stream is enabled but no LatestStreamArn was reported".to_owned(),
        }),
        (view_type, _) => Err(AttachError::UnusableStreamViewType {
            table: table.to_owned(),
            view_type: view_type.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DestinationStatus::*;

    const OURS: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/lake";
    const OTHER: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/audit";

    fn dest(stream: &str, status: DestinationStatus, precision: Option<Precision>) -> Destination {
        Destination::reported(stream, status, precision)
    }

    fn attach(destinations: &[Destination], progress: Progress) -> Result<Step, AttachError> {
        attach_step("orders", destinations, OURS, None, progress)
    }

    #[test]
    fn reads_every_documented_status() {
        for s in [
            "ENABLING",
            "ACTIVE",
            "DISABLING",
            "DISABLED",
            "ENABLE_FAILED",
            "UPDATING",
        ] {
            assert_eq!(DestinationStatus::from_api(s).as_api(), s);
        }
        assert_eq!(DestinationStatus::from_api("PAUSED"), Unknown);
    }

    #[test]
    fn already_ours_is_left_alone() {
        let d = [dest(OURS, Active, Some(Precision::Microsecond))];
        assert_eq!(attach(&d, Progress::default()), Ok(Step::Done));
    }

    #[test]
    fn ours_enabling_is_waited_for() {
        for status in [Enabling, Updating, Disabling, Unknown] {
            let d = [dest(OURS, status, None)];
            assert_eq!(
                attach(&d, Progress::default()),
                Ok(Step::Wait),
                "{status:?}"
            );
        }
    }

    #[test]
    fn millisecond_precision_is_raised_once() {
        for precision in [Some(Precision::Millisecond), None] {
            let d = [dest(OURS, Active, precision)];
            assert_eq!(attach(&d, Progress::default()), Ok(Step::RaisePrecision));
            let raised = Progress {
                precision_raised: true,
                ..Progress::default()
            };
            assert_eq!(attach(&d, raised), Ok(Step::Done));
        }
    }

    #[test]
    fn another_stream_fails_naming_the_table_and_that_stream() {
        for status in [Active, Enabling, Updating] {
            let d = [dest(OTHER, status, None)];
            let e = attach(&d, Progress::default()).unwrap_err();
            assert_eq!(e.code(), "TableStreamsElsewhere");
            let text = e.to_string();
            assert!(text.contains("table orders"), "{text}");
            assert!(text.contains(OTHER), "{text}");
            assert!(text.contains(status.as_api()), "{text}");
        }
    }

    #[test]
    fn another_stream_no_longer_live_is_no_obstacle() {
        for status in [Disabled, EnableFailed] {
            let d = [dest(OTHER, status, None)];
            assert_eq!(
                attach(&d, Progress::default()),
                Ok(Step::Enable),
                "{status:?}"
            );
        }
    }

    #[test]
    fn none_or_disabled_is_enabled_once() {
        for d in [
            vec![],
            vec![dest(OURS, Disabled, None)],
            vec![dest(OURS, EnableFailed, None)],
        ] {
            assert_eq!(attach(&d, Progress::default()), Ok(Step::Enable));
            let enabled = Progress {
                enabled: true,
                ..Progress::default()
            };
            if d.first().is_some_and(|d| d.status == EnableFailed) {
                continue;
            }
            assert_eq!(attach(&d, enabled), Ok(Step::Wait));
        }
    }

    #[test]
    fn enable_failed_after_our_enable_is_reported_with_dynamodbs_words() {
        let mut d = dest(OURS, EnableFailed, None);
        d.description = Some("Stream is not ACTIVE".to_owned());
        let enabled = Progress {
            enabled: true,
            ..Progress::default()
        };
        let e = attach(&[d], enabled).unwrap_err();
        assert_eq!(e.code(), "EnableFailed");
        assert!(e.to_string().contains("Stream is not ACTIVE"), "{e}");
    }

    #[test]
    fn an_old_disabled_entry_beside_an_active_one_counts_as_active() {
        let d = [
            dest(OURS, Disabled, None),
            dest(OURS, Active, Some(Precision::Microsecond)),
        ];
        assert_eq!(attach(&d, Progress::default()), Ok(Step::Done));
    }

    #[test]
    fn our_previous_stream_is_moved_from_when_stream_arn_changes() {
        let d = [dest(OTHER, Active, None)];
        let step = attach_step("orders", &d, OURS, Some(OTHER), Progress::default());
        assert_eq!(step, Ok(Step::Disable(OTHER.to_owned())));
        let disabled = Progress {
            disabled: true,
            ..Progress::default()
        };
        assert_eq!(
            attach_step("orders", &d, OURS, Some(OTHER), disabled),
            Ok(Step::Wait)
        );
        let d = [dest(OTHER, Disabling, None)];
        assert_eq!(
            attach_step("orders", &d, OURS, Some(OTHER), disabled),
            Ok(Step::Wait)
        );
        let d = [dest(OTHER, Disabled, None)];
        assert_eq!(
            attach_step("orders", &d, OURS, Some(OTHER), disabled),
            Ok(Step::Enable)
        );
    }

    #[test]
    fn delete_disables_only_ours() {
        let active = [dest(OURS, Active, None)];
        assert_eq!(
            detach_step(&active, OURS, Progress::default()),
            Step::Disable(OURS.to_owned())
        );
        let disabled = Progress {
            disabled: true,
            ..Progress::default()
        };
        assert_eq!(detach_step(&active, OURS, disabled), Step::Wait);
        let others = [dest(OTHER, Active, None), dest(OURS, Disabled, None)];
        assert_eq!(detach_step(&others, OURS, Progress::default()), Step::Done);
        assert_eq!(detach_step(&[], OURS, Progress::default()), Step::Done);
        for status in [Enabling, Updating, Disabling] {
            let d = [dest(OURS, status, None)];
            assert_eq!(detach_step(&d, OURS, Progress::default()), Step::Wait);
        }
    }

    #[test]
    fn tables_removed_on_update() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            removed_tables(&names(&["a", "b", "c"]), &names(&["c", "d"])),
            names(&["a", "b"])
        );
        assert!(removed_tables(&names(&["a"]), &names(&["a"])).is_empty());
    }

    #[test]
    fn dynamodb_streams_takes_exactly_one_table() {
        assert_eq!(only_table(&["orders".to_owned()]), Ok("orders"));
        let e = only_table(&["orders".to_owned(), "devices".to_owned()]).unwrap_err();
        assert_eq!(e.code(), "NotOneTable");
        let text = e.to_string();
        assert!(text.contains("ExistingTableNames"), "{text}");
        assert!(text.contains("orders, devices"), "{text}");
    }

    #[test]
    fn stream_view_types() {
        let stream = |view: &str| TableStream {
            view_type: view.to_owned(),
            arn: Some("arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/x".to_owned()),
        };
        assert_eq!(stream_step("orders", None), Ok(StreamStep::Enable));
        for usable in ["NEW_AND_OLD_IMAGES", "NEW_IMAGE"] {
            assert_eq!(
                stream_step("orders", Some(&stream(usable))),
                Ok(StreamStep::Use(
                    "arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/x".to_owned()
                ))
            );
        }
        for unusable in ["KEYS_ONLY", "OLD_IMAGE"] {
            let e = stream_step("orders", Some(&stream(unusable))).unwrap_err();
            assert_eq!(e.code(), "UnusableStreamViewType");
            let text = e.to_string();
            assert!(
                text.contains("table orders") && text.contains(unusable),
                "{text}"
            );
        }
    }
}
