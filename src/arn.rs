//! Amazon Resource Names, read in one place: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`
//! (AWS General Reference, "Amazon Resource Names (ARNs)"). The pipeline meets four kinds: the
//! source Kinesis stream (put-back), the Firehose delivery stream (the local error layout), the
//! DynamoDB table of an export, and a table's DynamoDB stream (DynamoDB Streams records).

use std::ops::Range;
use thiserror::Error;

/// The six parts of an ARN, borrowed. The resource may itself contain `:` and `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `text` into its parts; `None` unless it starts `arn:` with a partition and has six
    /// parts.
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        // No allocation: DynamoDB Streams records are read on the hot path.
        let mut parts = text.splitn(6, ':');
        let mut next = || parts.next();
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (next(), next(), next(), next(), next(), next())
        else {
            return None;
        };
        (!partition.is_empty()).then_some(Arn {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// The region is present and made of `a-z 0-9 -`.
    fn has_region(&self) -> bool {
        !self.region.is_empty()
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }
}

/// A Kinesis data stream, from a Firehose event's `sourceKinesisStreamArn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamArn {
    pub arn: String,
    pub region: String,
    pub name: String,
}

/// `sourceKinesisStreamArn` is not the ARN of a Kinesis data stream.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("sourceKinesisStreamArn {arn:?} is not a Kinesis data stream ARN: {reason}")]
pub struct ArnError {
    pub arn: String,
    pub reason: &'static str,
}

impl StreamArn {
    /// Reads `arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME`; a stream name is 1 to 128 of
    /// `A-Z a-z 0-9 _ . -` (Kinesis API reference, CreateStream).
    pub fn parse(text: &str) -> Result<StreamArn, ArnError> {
        let fail = |reason| ArnError {
            arn: text.to_owned(),
            reason,
        };
        let arn = match Arn::parse(text) {
            Some(arn) => arn,
            None if text.splitn(6, ':').count() == 6 => {
                return Err(fail("it does not start with arn:PARTITION:"))
            }
            None => {
                return Err(fail(
                    "expected arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME",
                ))
            }
        };
        if arn.service != "kinesis" {
            return Err(fail("the service is not kinesis"));
        }
        if !arn.has_region() {
            return Err(fail("the region is missing or malformed"));
        }
        if arn.account.is_empty() {
            return Err(fail("the account is missing"));
        }
        let Some(name) = arn.resource.strip_prefix("stream/") else {
            return Err(fail("the resource is not stream/NAME"));
        };
        let name_ok = (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !name_ok {
            return Err(fail("the stream name is not 1-128 of A-Z a-z 0-9 _ . -"));
        }
        Ok(StreamArn {
            arn: text.to_owned(),
            region: arn.region.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// Where the table name sits in a DynamoDB table ARN or table stream ARN (`…:dynamodb:…:
/// table/NAME[/stream/LABEL]`), as a range of `text` so a caller can borrow it; the name is not
/// checked (see [`crate::record::partition::is_table_name`]).
pub fn dynamodb_table_span(text: &str) -> Option<Range<usize>> {
    let arn = Arn::parse(text)?;
    if arn.service != "dynamodb" {
        return None;
    }
    let rest = arn.resource.strip_prefix("table/")?;
    let name = rest.split('/').next().unwrap_or(rest);
    let start = text.len() - arn.resource.len() + "table/".len();
    Some(start..start + name.len())
}

/// The region and table name of a DynamoDB table ARN (`…:dynamodb:REGION:ACCOUNT:table/NAME`) or
/// of one of its streams (`…:table/NAME/stream/LABEL`); `None` for anything else, or a table name
/// DynamoDB would not allow ([`crate::record::partition::is_table_name`]).
pub fn dynamodb_table(text: &str) -> Option<(&str, &str)> {
    let arn = Arn::parse(text)?;
    let rest = arn.resource.strip_prefix("table/")?;
    let name = match rest.split_once('/') {
        None => rest,
        Some((name, stream)) if stream.starts_with("stream/") => name,
        Some(_) => return None,
    };
    (arn.service == "dynamodb" && arn.has_region() && crate::record::partition::is_table_name(name))
        .then_some((arn.region, name))
}

/// The region and account of a Firehose delivery stream ARN
/// (`…:firehose:REGION:ACCOUNT:deliverystream/NAME`).
pub fn firehose_region_account(text: &str) -> Option<(&str, &str)> {
    let arn = Arn::parse(text)?;
    (arn.service == "firehose" && arn.has_region()).then_some((arn.region, arn.account))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_arns() {
        let s = StreamArn::parse("arn:aws:kinesis:eu-central-1:111122223333:stream/orders-changes")
            .unwrap();
        assert_eq!(
            (s.region.as_str(), s.name.as_str()),
            ("eu-central-1", "orders-changes")
        );
        assert!(StreamArn::parse("arn:aws-cn:kinesis:cn-north-1:1:stream/a.b_c").is_ok());
        for bad in [
            "",
            "orders",
            "arn:aws:kinesis:us-east-1:1",
            "arn:aws:firehose:us-east-1:1:deliverystream/x",
            "arn:aws:kinesis::1:stream/x",
            "arn:aws:kinesis:US_EAST:1:stream/x",
            "arn:aws:kinesis:us-east-1::stream/x",
            "arn:aws:kinesis:us-east-1:1:table/x",
            "arn:aws:kinesis:us-east-1:1:stream/",
            "arn:aws:kinesis:us-east-1:1:stream/a/b",
            "xrn:aws:kinesis:us-east-1:1:stream/x",
        ] {
            let err = StreamArn::parse(bad).unwrap_err();
            assert!(err.to_string().contains("sourceKinesisStreamArn"), "{err}");
        }
    }

    #[test]
    fn dynamodb_table_and_stream_arns() {
        assert_eq!(
            dynamodb_table("arn:aws:dynamodb:eu-central-1:123456789012:table/orders"),
            Some(("eu-central-1", "orders"))
        );
        assert_eq!(
            dynamodb_table(
                "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2025-11-20T08:00:00.000"
            ),
            Some(("us-east-1", "orders"))
        );
        for bad in [
            "arn:aws:dynamodb:eu-central-1:1:table/../x",
            "arn:aws:dynamodb:eu-central-1:1:table/orders/index/gsi",
            "arn:aws:s3:::bucket",
            "arn:aws:dynamodb::1:table/orders",
            "table/orders",
        ] {
            assert_eq!(dynamodb_table(bad), None, "{bad}");
        }
    }

    #[test]
    fn firehose_arns() {
        assert_eq!(
            firehose_region_account("arn:aws:firehose:eu-west-1:111122223333:deliverystream/d"),
            Some(("eu-west-1", "111122223333"))
        );
        assert_eq!(
            firehose_region_account("arn:aws:kinesis:eu-west-1:1:stream/d"),
            None
        );
    }
}
