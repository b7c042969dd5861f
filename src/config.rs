//! Settings of the transformation, read once at start from the environment and validated up
//! front, so a bad value stops the start with a message naming the variable instead of failing
//! records one by one later.

use crate::limits::{Limits, LAMBDA_RESPONSE_LIMIT};
use thiserror::Error;

/// How lists (`L`) and sets (`SS`, `NS`, `BS`) become columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMode {
    /// A JSON array (maps inside lists become plain nested objects).
    Array,
    /// A JSON string holding that array, for engines that want strictly scalar columns.
    JsonString,
}

/// The validated settings. Build it with [`Config::from_env`] or [`Config::from_lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Joins the keys of nested maps into one column name (`FLATTEN_SEPARATOR`).
    pub separator: String,
    /// Starts every metadata column name (`METADATA_PREFIX`).
    pub metadata_prefix: String,
    /// `LIST_MODE`.
    pub list_mode: ListMode,
    /// The size bounds; `limits.max_response_bytes` is `MAX_RESPONSE_BYTES`.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            separator: "_".to_owned(),
            metadata_prefix: "_".to_owned(),
            list_mode: ListMode::Array,
            limits: Limits::default(),
        }
    }
}

/// A setting that cannot be used. The message names the variable and what it accepts.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid setting {variable}={value:?}: {expected}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        // A value that is not UTF-8 reaches validation as text that no setting accepts (one
        // with U+FFFD in it), so it stops the start naming its variable.
        Config::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests). An unset
    /// variable takes its default; a set but empty one is an error, since it is most likely a
    /// template mistake rather than a wish for an empty separator.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(v) = lookup("FLATTEN_SEPARATOR") {
            config.separator = column_part("FLATTEN_SEPARATOR", v)?;
        }
        if let Some(v) = lookup("METADATA_PREFIX") {
            config.metadata_prefix = column_part("METADATA_PREFIX", v)?;
        }
        if let Some(v) = lookup("LIST_MODE") {
            config.list_mode = match v.as_str() {
                "array" => ListMode::Array,
                "json_string" => ListMode::JsonString,
                _ => {
                    return Err(ConfigError {
                        variable: "LIST_MODE",
                        value: v,
                        expected: "one of: array, json_string",
                    })
                }
            };
        }
        if let Some(v) = lookup("MAX_RESPONSE_BYTES") {
            config.limits.max_response_bytes = match v.trim().parse::<usize>() {
                Ok(n) if (1024..=LAMBDA_RESPONSE_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        variable: "MAX_RESPONSE_BYTES",
                        value: v,
                        expected:
                            "a whole number of bytes from 1024 to 6291556 (Lambda's response limit)",
                    })
                }
            };
        }
        Ok(config)
    }
}

/// A separator or prefix: non-empty, short, and printable, so column names stay readable.
fn column_part(variable: &'static str, value: String) -> Result<String, ConfigError> {
    let ok = !value.is_empty()
        && value.chars().count() <= 8
        && !value
            .chars()
            .any(|c| c.is_control() || c == char::REPLACEMENT_CHARACTER);
    if ok {
        Ok(value)
    } else {
        Err(ConfigError {
            variable,
            value,
            expected: "1 to 8 printable characters",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        assert_eq!(from(&[]).unwrap(), Config::default());
        let c = Config::default();
        assert_eq!(
            (c.separator.as_str(), c.metadata_prefix.as_str()),
            ("_", "_")
        );
        assert_eq!(c.list_mode, ListMode::Array);
        assert_eq!(c.limits.max_response_bytes, 6_000_000);
    }

    #[test]
    fn reads_every_setting() {
        let c = from(&[
            ("FLATTEN_SEPARATOR", "."),
            ("METADATA_PREFIX", "meta__"),
            ("LIST_MODE", "json_string"),
            ("MAX_RESPONSE_BYTES", "5000000"),
        ])
        .unwrap();
        assert_eq!(c.separator, ".");
        assert_eq!(c.metadata_prefix, "meta__");
        assert_eq!(c.list_mode, ListMode::JsonString);
        assert_eq!(c.limits.max_response_bytes, 5_000_000);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("LIST_MODE", "arrays"),
            ("MAX_RESPONSE_BYTES", "6MB"),
            ("MAX_RESPONSE_BYTES", "7000000"),
            ("MAX_RESPONSE_BYTES", "10"),
            ("FLATTEN_SEPARATOR", ""),
            ("METADATA_PREFIX", "\n"),
            ("FLATTEN_SEPARATOR", "much-too-long"),
            ("FLATTEN_SEPARATOR", "\u{fffd}"), // what a non-UTF-8 value reads as
        ] {
            let err = from(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var);
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid setting {var}=")),
                "{err}"
            );
        }
    }
}
