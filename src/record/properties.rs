//! Property tests of the hand-written codecs against the libraries they stand in for: the hot
//! path writes JSON strings and timestamps itself, and must write exactly what `serde_json` and
//! `chrono` would.

use crate::record::event_time::{EventTime, Precision};
use crate::record::json_out::write_json_str;
use chrono::{DateTime, SecondsFormat};
use proptest::prelude::*;

/// The last microsecond of the year 9999: RFC 3339 has no later four-digit year.
const LAST_MICROS: u64 = 253_402_300_799_999_999;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn json_strings_are_written_as_serde_json_writes_them(s in any::<String>()) {
        let mut ours = Vec::new();
        write_json_str(&mut ours, &s);
        let theirs = serde_json::to_vec(&s).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
    }

    #[test]
    fn json_strings_of_control_and_escape_characters(
        chars in proptest::collection::vec(prop_oneof![0u32..0x20, Just(0x22), Just(0x5c), Just(0x7f), 0x80u32..0x800, 0xd800u32..0x10ffff], 0..40)
    ) {
        let s: String = chars.into_iter().filter_map(char::from_u32).collect();
        let mut ours = Vec::new();
        write_json_str(&mut ours, &s);
        prop_assert_eq!(ours, serde_json::to_vec(&s).unwrap());
    }

    #[test]
    fn change_times_are_written_as_chrono_writes_rfc_3339(micros in 0..=LAST_MICROS) {
        let ours = EventTime::from_creation_time(micros, Some(Precision::Microsecond)).unwrap();
        let mut text = Vec::new();
        ours.write_json(&mut text);
        let theirs = DateTime::from_timestamp_micros(micros as i64)
            .unwrap()
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        prop_assert_eq!(String::from_utf8(text).unwrap(), format!("\"{theirs}\""));
    }
}
