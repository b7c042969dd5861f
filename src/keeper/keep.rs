//! What the keeper does with one new object: rows widen their source table's Glue table (created
//! the first time), a key schema sets the table's key; then the current-state view follows.
//!
//! Every write is read–merge–write with Glue's `VersionId`: if another keeper changed the table
//! in between, Glue refuses the write and this one reads again, so no column is ever lost to a
//! race. Merging only adds columns and widens types ([`TableSchema::merge`]), so the same object
//! seen twice, or objects seen in any order, give the same table: duplicate and out-of-order S3
//! events are harmless.

use crate::catalog::glue::{
    schema_of, table_input, GlueSettings, TableInput, KEY_ATTRIBUTES_PARAMETER,
    SOURCE_TABLE_PARAMETER,
};
use crate::catalog::key_schema::KeySchema;
use crate::catalog::names::glue_table_base_name;
use crate::catalog::table::TableSchema;
use crate::catalog::view::{view_input, view_name, TABLE_VERSION_PARAMETER};
use crate::keeper::error::KeeperError;
use crate::keeper::event::{classify, LakeObject};
use crate::keeper::glue_tables::{GlueTables, Versioned, Write};
use crate::keeper::settings::KeeperSettings;
use std::time::Duration;

/// Reads and writes per object before giving up on a table other writers keep changing.
pub const MAX_ATTEMPTS: u32 = 12;
/// Glue table names tried for one source table (`orders_changes`, `orders_changes_2`, …) when
/// several source tables' names fold to the same one.
const MAX_NAME_CANDIDATES: u32 = 20;

/// What the keeper did for one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The Glue table concerned, if the object belongs to one.
    pub glue_table: Option<String>,
    pub table: TableChange,
    /// Columns added (by name).
    pub added: Vec<String>,
    /// Columns whose type widened: (name, from, to).
    pub widened: Vec<(String, String, String)>,
    pub view: ViewChange,
    /// Rows of the object that could not be read (left out of the schema).
    pub bad_rows: u64,
    /// Writes refused because another writer came first, each followed by a fresh read.
    pub races: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TableChange {
    /// Not an object of the lake's tables.
    #[default]
    Ignored,
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ViewChange {
    #[default]
    Unchanged,
    Created,
    Replaced,
    /// Not made yet, and why (no key schema yet, a key attribute not in the rows yet).
    NotYet(String),
}

/// The schema keeper: Glue, S3 and the settings.
#[derive(Debug, Clone)]
pub struct Keeper {
    pub glue: GlueTables,
    pub s3: aws_sdk_s3::Client,
    pub settings: KeeperSettings,
}

/// What an object asks of its source table's Glue table.
enum Change {
    /// Rows with these columns landed: add and widen.
    Rows(TableSchema),
    /// The table's key attributes, as [`KEY_ATTRIBUTES_PARAMETER`] holds them.
    Key(String),
}

enum Found {
    Table {
        name: String,
        current: Box<Versioned>,
    },
    Free {
        name: String,
    },
}

impl Keeper {
    /// Brings the lake's catalog up to date with object `key` of `bucket`.
    pub async fn keep_object(&self, bucket: &str, key: &str) -> Result<Outcome, KeeperError> {
        match classify(&self.settings.table_prefix, key) {
            LakeObject::Rows { table } => self.keep_rows(bucket, key, table).await,
            LakeObject::KeySchema { table } => self.keep_key_schema(bucket, key, table).await,
            LakeObject::Other => Ok(Outcome::default()),
        }
    }

    fn glue_settings(&self, bucket: &str) -> GlueSettings {
        GlueSettings {
            location: format!("s3://{bucket}/{}", self.settings.table_prefix),
            projection_start_year: self.settings.projection_start_year,
        }
    }

    fn metadata_prefix(&self) -> &str {
        &self.settings.config.metadata_prefix
    }

    /// Rows: infer the object's columns once, then merge them into the table.
    async fn keep_rows(
        &self,
        bucket: &str,
        key: &str,
        source: &str,
    ) -> Result<Outcome, KeeperError> {
        let Some(bytes) = self.read(bucket, key).await? else {
            return Ok(Outcome::default());
        };
        let mut observed = TableSchema::new(source, self.metadata_prefix());
        let report = observed
            .observe_object(&bytes)
            .map_err(|source| KeeperError::Object {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                source,
            })?;
        let outcome = Outcome {
            bad_rows: report.bad_rows.len() as u64,
            ..Outcome::default()
        };
        self.keep_table(bucket, source, &Change::Rows(observed), outcome)
            .await
    }

    /// A key schema: record the key attributes on the table (creating it with the metadata
    /// columns if no row came yet).
    async fn keep_key_schema(
        &self,
        bucket: &str,
        key: &str,
        source: &str,
    ) -> Result<Outcome, KeeperError> {
        let Some(bytes) = self.read(bucket, key).await? else {
            return Ok(Outcome::default());
        };
        let bad = |source| KeeperError::KeySchema {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            source,
        };
        let schema: KeySchema = serde_json::from_slice(&bytes).map_err(bad)?;
        let keys = schema.key_attributes();
        if keys.is_empty() {
            return Err(bad(serde::de::Error::custom(
                "KeySchema lists no attribute",
            )));
        }
        let keys_json = serde_json::to_string(&keys).map_err(bad)?;
        self.keep_table(bucket, source, &Change::Key(keys_json), Outcome::default())
            .await
    }

    /// Applies `change` to `source`'s Glue table until the write goes through, then brings the
    /// view in step. A write refused because another writer came first is retried, after a
    /// pause, from a fresh read, up to [`MAX_ATTEMPTS`] times.
    async fn keep_table(
        &self,
        bucket: &str,
        source: &str,
        change: &Change,
        mut outcome: Outcome,
    ) -> Result<Outcome, KeeperError> {
        let settings = self.glue_settings(bucket);
        for _ in 0..MAX_ATTEMPTS {
            if self
                .attempt(source, change, &settings, &mut outcome)
                .await?
                == Write::Done
            {
                let name = outcome.glue_table.clone().unwrap_or_default();
                outcome.view = self.refresh_view(&name, &mut outcome.races).await?;
                return Ok(outcome);
            }
            outcome.races += 1;
            backoff(outcome.races).await;
        }
        Err(KeeperError::Contended {
            table: outcome.glue_table.unwrap_or_else(|| source.to_owned()),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// One read–merge–write of `source`'s Glue table; says what it did in `outcome`.
    async fn attempt(
        &self,
        source: &str,
        change: &Change,
        settings: &GlueSettings,
        outcome: &mut Outcome,
    ) -> Result<Write, KeeperError> {
        // What an earlier, refused attempt saw does not count.
        outcome.added.clear();
        outcome.widened.clear();
        match self.find(source).await? {
            Found::Free { name } => {
                let empty;
                let schema = match change {
                    Change::Rows(observed) => observed,
                    Change::Key(_) => {
                        empty = TableSchema::new(source, self.metadata_prefix());
                        &empty
                    }
                };
                let mut input = table_input(schema, &name, settings);
                if let Change::Key(keys_json) = change {
                    input
                        .parameters
                        .insert(KEY_ATTRIBUTES_PARAMETER.to_owned(), keys_json.clone());
                }
                outcome.glue_table = Some(name);
                outcome.table = TableChange::Created;
                outcome.added = schema.columns.iter().map(|c| c.name.clone()).collect();
                self.glue.create(&input).await
            }
            Found::Table { name, current } => {
                outcome.glue_table = Some(name.clone());
                let input = match change {
                    Change::Rows(observed) => {
                        let before = schema_of(&current.table, self.metadata_prefix())?;
                        let mut after = before.clone();
                        after.merge(observed);
                        (outcome.added, outcome.widened) = differences(&before, &after);
                        (after != before)
                            .then(|| carried_over(table_input(&after, &name, settings), &current))
                    }
                    Change::Key(keys_json) => {
                        let parameters = &current.table.parameters;
                        (parameters.get(KEY_ATTRIBUTES_PARAMETER) != Some(keys_json)).then(|| {
                            let mut input = current.table.clone();
                            input
                                .parameters
                                .insert(KEY_ATTRIBUTES_PARAMETER.to_owned(), keys_json.clone());
                            input
                        })
                    }
                };
                match input {
                    None => {
                        outcome.table = TableChange::Unchanged;
                        Ok(Write::Done)
                    }
                    Some(input) => {
                        outcome.table = TableChange::Updated;
                        self.glue
                            .update(&input, current.version_id.as_deref())
                            .await
                    }
                }
            }
        }
    }

    /// Makes table `name`'s view match the table as it is now. A view made from a later version
    /// of the table (another keeper got there first) is left alone.
    async fn refresh_view(&self, name: &str, races: &mut u32) -> Result<ViewChange, KeeperError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(base) = self.glue.get(name).await? else {
                return Ok(ViewChange::NotYet(format!("table {name} is gone")));
            };
            let Some(keys_json) = base.table.parameters.get(KEY_ATTRIBUTES_PARAMETER) else {
                return Ok(ViewChange::NotYet(
                    "no key schema for this table yet".to_owned(),
                ));
            };
            let keys: Vec<String> = serde_json::from_str(keys_json).unwrap_or_default();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let schema = schema_of(&base.table, self.metadata_prefix())?;
            let mut view = match view_input(self.glue.database(), name, &schema, &keys) {
                Ok(view) => view,
                // No key yet, or a key attribute no row has carried yet.
                Err(e) => return Ok(ViewChange::NotYet(e.to_string())),
            };
            if let Some(version) = &base.version_id {
                view.parameters
                    .insert(TABLE_VERSION_PARAMETER.to_owned(), version.clone());
            }
            let (write, change) = match self.glue.get(&view_name(name)).await? {
                None => (self.glue.create(&view).await?, ViewChange::Created),
                Some(existing) => {
                    let same = existing.table.view_original_text == view.view_original_text
                        && existing.table.storage_descriptor.columns
                            == view.storage_descriptor.columns;
                    if same || newer(&existing.table, base.version_id.as_deref()) {
                        return Ok(ViewChange::Unchanged);
                    }
                    let write = self
                        .glue
                        .update(&view, existing.version_id.as_deref())
                        .await?;
                    (write, ViewChange::Replaced)
                }
            };
            if write == Write::Done {
                return Ok(change);
            }
            *races += 1;
            backoff(*races).await;
        }
        Err(KeeperError::Contended {
            table: view_name(name),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The Glue table of `source`: the first of its candidate names that is free or already
    /// names `source` in its parameters.
    async fn find(&self, source: &str) -> Result<Found, KeeperError> {
        let base = glue_table_base_name(source);
        for n in 1..=MAX_NAME_CANDIDATES {
            let name = if n == 1 {
                base.clone()
            } else {
                format!("{base}_{n}")
            };
            match self.glue.get(&name).await? {
                None => return Ok(Found::Free { name }),
                Some(current)
                    if current
                        .table
                        .parameters
                        .get(SOURCE_TABLE_PARAMETER)
                        .map(String::as_str)
                        == Some(source) =>
                {
                    return Ok(Found::Table {
                        name,
                        current: Box::new(current),
                    })
                }
                Some(_) => continue,
            }
        }
        Err(KeeperError::NoName {
            source_table: source.to_owned(),
        })
    }

    /// The object's bytes, or `None` if it is gone (deleted since the event was sent).
    async fn read(&self, bucket: &str, key: &str) -> Result<Option<bytes::Bytes>, KeeperError> {
        let response = match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(response) => response,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                tracing::warn!(bucket, key, "object gone before it was read; skipped");
                return Ok(None);
            }
            Err(e) => return Err(KeeperError::aws("s3:GetObject", &e)),
        };
        let body = response
            .body
            .collect()
            .await
            .map_err(|e| KeeperError::aws("s3:GetObject body", &e))?;
        Ok(Some(body.into_bytes()))
    }
}

/// The generated definition, keeping what others set on the table and the generation does not
/// (the key attributes, a user's own parameters). Partition projection is the generation's
/// alone: a table made by an earlier version (projected by `year`/`month`/`day`/`hour`) loses
/// those keys' settings with the keys themselves.
fn carried_over(mut input: TableInput, current: &Versioned) -> TableInput {
    for (k, v) in &current.table.parameters {
        if k.starts_with("projection.") {
            continue;
        }
        input
            .parameters
            .entry(k.clone())
            .or_insert_with(|| v.clone());
    }
    input
}

/// Whether `view` was made from a later table version than `version` (both Glue's numeric
/// `VersionId`s; when either is not a number, no).
fn newer(view: &TableInput, version: Option<&str>) -> bool {
    let made_from = view
        .parameters
        .get(TABLE_VERSION_PARAMETER)
        .and_then(|v| v.parse::<u64>().ok());
    match (made_from, version.and_then(|v| v.parse::<u64>().ok())) {
        (Some(made_from), Some(version)) => made_from > version,
        _ => false,
    }
}

/// Columns added, and columns whose type changed, from `before` to `after`.
fn differences(
    before: &TableSchema,
    after: &TableSchema,
) -> (Vec<String>, Vec<(String, String, String)>) {
    let mut added = Vec::new();
    let mut widened = Vec::new();
    for column in &after.columns {
        match before.column(&column.key) {
            None => added.push(column.name.clone()),
            Some(old) if old.column_type != column.column_type => widened.push((
                column.name.clone(),
                old.column_type.to_string(),
                column.column_type.to_string(),
            )),
            Some(_) => {}
        }
    }
    (added, widened)
}

/// A short, growing, jittered pause before reading again after a lost race, so racing keepers
/// spread out.
async fn backoff(races: u32) {
    let base = 20u64 * u64::from(races.min(10));
    tokio::time::sleep(Duration::from_millis(base + fastrand::u64(0..=base))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_added_and_widened_columns() {
        let mut before = TableSchema::new("t", "_");
        before.observe_row(br#"{"a":1}"#).unwrap();
        let mut after = before.clone();
        after.observe_row(br#"{"a":1.5,"B":true}"#).unwrap();
        let (added, widened) = differences(&before, &after);
        assert_eq!(added, ["b"]);
        assert_eq!(
            widened,
            [(
                "a".to_owned(),
                "bigint".to_owned(),
                "decimal(20,1)".to_owned()
            )]
        );
    }

    #[test]
    fn a_users_parameters_stay_and_old_projection_settings_go() {
        let mut schema = TableSchema::new("t", "_");
        schema.observe_row(br#"{"a":1}"#).unwrap();
        let settings = GlueSettings::new("s3://b/lake/");
        let mut old = table_input(&schema, "t_changes", &settings);
        old.parameters
            .insert("projection.year.type".to_owned(), "integer".to_owned());
        old.parameters
            .insert("owner".to_owned(), "data-team".to_owned());
        let current = Versioned {
            table: old,
            version_id: Some("3".to_owned()),
        };
        let new = carried_over(table_input(&schema, "t_changes", &settings), &current);
        assert_eq!(new.parameters["owner"], "data-team");
        assert!(!new.parameters.contains_key("projection.year.type"));
        assert_eq!(new.parameters["projection.datehour.type"], "date");
    }

    #[test]
    fn only_a_view_from_a_later_version_wins() {
        let mut view = TableInput {
            name: "v".to_owned(),
            description: None,
            table_type: None,
            parameters: Default::default(),
            partition_keys: Vec::new(),
            storage_descriptor: crate::catalog::glue::StorageDescriptor {
                columns: Vec::new(),
                location: None,
                input_format: None,
                output_format: None,
                serde_info: Default::default(),
            },
            view_original_text: None,
            view_expanded_text: None,
        };
        assert!(!newer(&view, Some("3")));
        view.parameters
            .insert(TABLE_VERSION_PARAMETER.to_owned(), "10".to_owned());
        assert!(newer(&view, Some("9")));
        assert!(!newer(&view, Some("10")));
        assert!(!newer(&view, Some("11")));
        assert!(!newer(&view, None));
    }
}
