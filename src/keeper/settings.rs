//! The schema keeper's settings, read once at start; a bad one stops the start naming it.

use crate::config::{Config, ConfigError};
use thiserror::Error;

/// Everything the keeper needs besides the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeeperSettings {
    /// The Glue database holding the lake's tables (`GLUE_DATABASE`).
    pub database: String,
    /// The lake's prefix in its bucket, empty or ending in `/` (`TABLE_PREFIX`, the stacks'
    /// `TablePrefix`).
    pub table_prefix: String,
    /// Partition projection lists hours from this year's start to now (`PROJECTION_START_YEAR`).
    pub projection_start_year: u16,
    /// The transformation's settings (`METADATA_PREFIX` names the metadata columns).
    pub config: Config,
}

/// A setting the keeper cannot start with.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{variable} is not set: {expected}")]
    Missing {
        variable: &'static str,
        expected: &'static str,
    },
    #[error("invalid setting {variable}={value:?}: {expected}")]
    Invalid {
        variable: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(transparent)]
    Transformation(#[from] ConfigError),
}

impl KeeperSettings {
    pub fn from_env() -> Result<KeeperSettings, SettingsError> {
        KeeperSettings::from_lookup(|name| {
            std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
        })
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<KeeperSettings, SettingsError> {
        let required = |variable: &'static str, expected: &'static str| {
            lookup(variable)
                .filter(|v| !v.is_empty())
                .ok_or(SettingsError::Missing { variable, expected })
        };
        const DATABASE: &str = "a Glue database name: lower-case letters, digits and _";
        let database = required("GLUE_DATABASE", DATABASE)?;
        if !database
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        {
            return Err(SettingsError::Invalid {
                variable: "GLUE_DATABASE",
                value: database,
                expected: DATABASE,
            });
        }
        const PREFIX: &str = "the lake's S3 prefix, ending in '/' (the stack's TablePrefix)";
        let table_prefix = lookup("TABLE_PREFIX").ok_or(SettingsError::Missing {
            variable: "TABLE_PREFIX",
            expected: PREFIX,
        })?;
        if !(table_prefix.is_empty() || table_prefix.ends_with('/'))
            || table_prefix.starts_with('/')
        {
            return Err(SettingsError::Invalid {
                variable: "TABLE_PREFIX",
                value: table_prefix,
                expected: PREFIX,
            });
        }
        const YEAR: &str = "a year from 2000 to 2199";
        let year = |variable: &'static str| -> Result<u16, SettingsError> {
            let value = required(variable, YEAR)?;
            value
                .parse::<u16>()
                .ok()
                .filter(|y| (2000..2200).contains(y))
                .ok_or(SettingsError::Invalid {
                    variable,
                    value,
                    expected: YEAR,
                })
        };
        let projection_start_year = year("PROJECTION_START_YEAR")?;
        Ok(KeeperSettings {
            database,
            table_prefix,
            projection_start_year,
            config: Config::from_lookup(&lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<KeeperSettings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        KeeperSettings::from_lookup(|name| map.get(name).cloned())
    }

    const GOOD: [(&str, &str); 3] = [
        ("GLUE_DATABASE", "ddb_lake"),
        ("TABLE_PREFIX", "lake/"),
        ("PROJECTION_START_YEAR", "2025"),
    ];

    #[test]
    fn reads_good_settings() {
        let s = settings(&GOOD).unwrap();
        assert_eq!(s.database, "ddb_lake");
        assert_eq!(s.table_prefix, "lake/");
        assert_eq!(s.projection_start_year, 2025);
        assert_eq!(s.config.metadata_prefix, "_");
    }

    #[test]
    fn a_bad_setting_is_named() {
        for (variable, value) in [
            ("GLUE_DATABASE", ""),
            ("GLUE_DATABASE", "Lake-DB"),
            ("TABLE_PREFIX", "lake"),
            ("TABLE_PREFIX", "/lake/"),
            ("PROJECTION_START_YEAR", "25"),
            ("PROJECTION_START_YEAR", "2200"),
            ("METADATA_PREFIX", ""),
        ] {
            let mut pairs = GOOD.to_vec();
            pairs.retain(|(k, _)| *k != variable);
            pairs.push((variable, value));
            let err = settings(&pairs).unwrap_err();
            assert!(err.to_string().contains(variable), "{variable}: {err}");
        }
        let err = settings(&GOOD[1..]).unwrap_err();
        assert!(
            err.to_string().contains("GLUE_DATABASE is not set"),
            "{err}"
        );
    }
}
