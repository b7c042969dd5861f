//! The settings a fuzz input's first byte picks, so every combination is explored.

use ddb_lake::{Config, ListMode};

/// Bit 0: separator `_` or `.`; bit 1: list mode array or JSON string.
pub fn config(knobs: u8) -> Config {
    Config {
        separator: if knobs & 1 == 0 { "_" } else { "." }.to_owned(),
        list_mode: if knobs & 2 == 0 {
            ListMode::Array
        } else {
            ListMode::JsonString
        },
        ..Config::default()
    }
}
