//! The Glue calls the keeper makes (Glue API Reference: `GetTable`, `CreateTable`, `UpdateTable`),
//! over the catalog's own [`TableInput`]: read a table with its `VersionId`, create one, replace
//! one only if nobody changed it since it was read.

use crate::catalog::glue::{GlueColumn, SerDeInfo, StorageDescriptor, TableInput};
use crate::keeper::error::KeeperError;
use aws_sdk_glue::types as glue;
use aws_sdk_glue::Client;
use std::collections::{BTreeMap, HashMap};

/// A table as read, with the version an update must name.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub table: TableInput,
    pub version_id: Option<String>,
}

/// How a write that may race another writer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Done,
    /// `CreateTable`: the name was taken meanwhile; `UpdateTable`: the table changed since it was
    /// read (`ConcurrentModificationException`). Read again and retry.
    Raced,
}

/// The lake's Glue database.
#[derive(Debug, Clone)]
pub struct GlueTables {
    client: Client,
    database: String,
}

impl GlueTables {
    pub fn new(client: Client, database: impl Into<String>) -> GlueTables {
        GlueTables {
            client,
            database: database.into(),
        }
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// Table `name`, or `None` if there is none.
    pub async fn get(&self, name: &str) -> Result<Option<Versioned>, KeeperError> {
        match self
            .client
            .get_table()
            .database_name(&self.database)
            .name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.table.map(|t| Versioned {
                version_id: t.version_id().map(str::to_owned),
                table: from_glue(&t),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(KeeperError::aws("glue:GetTable", &e)),
        }
    }

    pub async fn create(&self, table: &TableInput) -> Result<Write, KeeperError> {
        match self
            .client
            .create_table()
            .database_name(&self.database)
            .table_input(to_glue(table)?)
            .send()
            .await
        {
            Ok(_) => Ok(Write::Done),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_already_exists_exception()) =>
            {
                Ok(Write::Raced)
            }
            Err(e) => Err(KeeperError::aws("glue:CreateTable", &e)),
        }
    }

    /// Replaces the table if its version is still `version_id` (Glue's optimistic locking).
    pub async fn update(
        &self,
        table: &TableInput,
        version_id: Option<&str>,
    ) -> Result<Write, KeeperError> {
        match self
            .client
            .update_table()
            .database_name(&self.database)
            .table_input(to_glue(table)?)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
        {
            Ok(_) => Ok(Write::Done),
            Err(e)
                if e.as_service_error().is_some_and(|e| {
                    e.is_concurrent_modification_exception() || e.is_entity_not_found_exception()
                }) =>
            {
                Ok(Write::Raced)
            }
            Err(e) => Err(KeeperError::aws("glue:UpdateTable", &e)),
        }
    }
}

fn to_glue(t: &TableInput) -> Result<glue::TableInput, KeeperError> {
    let built = |e: aws_sdk_glue::error::BuildError| KeeperError::aws("build TableInput", &e);
    let columns = |cs: &[GlueColumn]| -> Result<Vec<glue::Column>, KeeperError> {
        cs.iter()
            .map(|c| {
                glue::Column::builder()
                    .name(&c.name)
                    .set_type(c.column_type.clone())
                    .set_comment(c.comment.clone())
                    .set_parameters(map(&c.parameters))
                    .build()
                    .map_err(built)
            })
            .collect()
    };
    let sd = &t.storage_descriptor;
    let storage = glue::StorageDescriptor::builder()
        .set_columns(Some(columns(&sd.columns)?))
        .set_location(sd.location.clone())
        .set_input_format(sd.input_format.clone())
        .set_output_format(sd.output_format.clone())
        .serde_info(
            glue::SerDeInfo::builder()
                .set_serialization_library(sd.serde_info.serialization_library.clone())
                .set_parameters(map(&sd.serde_info.parameters))
                .build(),
        )
        .build();
    glue::TableInput::builder()
        .name(&t.name)
        .set_description(t.description.clone())
        .set_table_type(t.table_type.clone())
        .set_parameters(map(&t.parameters))
        .set_partition_keys(Some(columns(&t.partition_keys)?))
        .storage_descriptor(storage)
        .set_view_original_text(t.view_original_text.clone())
        .set_view_expanded_text(t.view_expanded_text.clone())
        .build()
        .map_err(built)
}

fn from_glue(t: &glue::Table) -> TableInput {
    let columns = |cs: &[glue::Column]| -> Vec<GlueColumn> {
        cs.iter()
            .map(|c| GlueColumn {
                name: c.name().to_owned(),
                column_type: c.r#type().map(str::to_owned),
                comment: c.comment().map(str::to_owned),
                parameters: sorted(c.parameters()),
            })
            .collect()
    };
    let sd = t.storage_descriptor();
    TableInput {
        name: t.name().to_owned(),
        description: t.description().map(str::to_owned),
        table_type: t.table_type().map(str::to_owned),
        parameters: sorted(t.parameters()),
        partition_keys: columns(t.partition_keys()),
        storage_descriptor: StorageDescriptor {
            columns: sd.map(|sd| columns(sd.columns())).unwrap_or_default(),
            location: sd.and_then(|sd| sd.location()).map(str::to_owned),
            input_format: sd.and_then(|sd| sd.input_format()).map(str::to_owned),
            output_format: sd.and_then(|sd| sd.output_format()).map(str::to_owned),
            serde_info: SerDeInfo {
                serialization_library: sd
                    .and_then(|sd| sd.serde_info())
                    .and_then(|s| s.serialization_library())
                    .map(str::to_owned),
                parameters: sorted(
                    sd.and_then(|sd| sd.serde_info())
                        .and_then(|s| s.parameters()),
                ),
            },
        },
        view_original_text: t.view_original_text().map(str::to_owned),
        view_expanded_text: t.view_expanded_text().map(str::to_owned),
    }
}

fn map(m: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn sorted(m: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}
