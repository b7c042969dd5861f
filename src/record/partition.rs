//! Firehose dynamic-partitioning keys: `table`, `year`, `month`, `day`, `hour`, all strings.
//! The stacks' S3 prefix and the local lake's folders use these same keys.

use crate::record::event_time::{push_digits, EventTime};
use crate::record::json_out::write_json_str;

/// The names of the keys, in the order of the S3 prefix.
pub const PARTITION_KEYS: [&str; 5] = ["table", "year", "month", "day", "hour"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionKeys<'a> {
    pub table: std::borrow::Cow<'a, str>,
    pub time: EventTime,
}

impl PartitionKeys<'_> {
    /// Writes `{"table":"orders","year":"2023","month":"01","day":"02","hour":"03"}`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"table\":");
        write_json_str(out, &self.table);
        for (i, (name, value)) in self.time_fields().into_iter().enumerate() {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":\"");
            push_digits(out, value, if i == 0 { 4 } else { 2 });
            out.push(b'"');
        }
        out.push(b'}');
    }

    /// The object key prefix the stacks produce: `table=orders/year=2023/month=01/day=02/hour=03/`.
    pub fn s3_prefix(&self) -> String {
        let t = self.time;
        partition_path([
            &self.table,
            &format!("{:04}", t.year()),
            &format!("{:02}", t.month()),
            &format!("{:02}", t.day()),
            &format!("{:02}", t.hour()),
        ])
    }

    fn time_fields(&self) -> [(&'static str, u32); 4] {
        let t = self.time;
        [
            (PARTITION_KEYS[1], t.year()),
            (PARTITION_KEYS[2], t.month()),
            (PARTITION_KEYS[3], t.day()),
            (PARTITION_KEYS[4], t.hour()),
        ]
    }
}

/// The lake's S3 layout, in one place: `table=<table>/year=<year>/month=<month>/day=<day>/hour=<hour>/`
/// for `values` in [`PARTITION_KEYS`] order. The stacks' Firehose `Prefix` writes it (after the
/// `TablePrefix`), the local lake's folders follow it, and Glue's `storage.location.template`
/// is it with `${table}`… as the values.
pub fn partition_path(values: [&str; 5]) -> String {
    let mut path = String::new();
    for (key, value) in PARTITION_KEYS.iter().zip(values) {
        path.push_str(key);
        path.push('=');
        path.push_str(value);
        path.push('/');
    }
    path
}

/// DynamoDB table names are 3 to 255 of `A-Z a-z 0-9 _ - .`. The name becomes an S3 path
/// segment, so anything else (a `/`, say) is refused rather than written into a path.
pub fn is_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_zero_padded_strings() {
        let keys = PartitionKeys {
            table: "orders".into(),
            time: EventTime::from_millis(1_704_164_645_000).unwrap(), // 2024-01-02T03:04:05Z
        };
        let mut out = Vec::new();
        keys.write_json(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"table":"orders","year":"2024","month":"01","day":"02","hour":"03"}"#
        );
        assert_eq!(
            keys.s3_prefix(),
            "table=orders/year=2024/month=01/day=02/hour=03/"
        );
    }

    #[test]
    fn table_names_follow_dynamodb_rules() {
        for ok in ["orders", "Orders-2024.v1_x", "abc"] {
            assert!(is_table_name(ok), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "a/b/c",
            "../x",
            "or ders",
            "tabelle-ä",
            &"x".repeat(256),
        ] {
            assert!(!is_table_name(bad), "{bad}");
        }
    }
}
