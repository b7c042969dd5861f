//! The schema keeper: keeps each source table's Glue table and current-state view in step with
//! the objects landing in the lake, on AWS.
//!
//! ```text
//! S3 event notification (ObjectCreated, under TablePrefix)     event::S3Event
//!   │ event::classify   table=<t>/… → rows of t;  _key_schemas/<t>.json → t's key schema
//!   ▼
//! keep::Keeper::keep_object
//!   │ rows         catalog::TableSchema::observe_object (the columns in this object)
//!   │ key schema   catalog::key_schema::KeySchema (the table's key attributes)
//!   │ glue_tables  GetTable → merge (add columns, widen types) → UpdateTable with VersionId
//!   │              (CreateTable the first time); a lost race reads again
//!   ▼
//! catalog::view   the table's current-state view, remade when the table changed
//! ```
//!
//! The type policy and the names are the catalog's ([`crate::catalog`]): the same definitions
//! `ddb-lake schema` prints for a local lake. Used by `src/bin/schema-keeper.rs`.

pub mod error;
pub mod event;
pub mod glue_tables;
pub mod keep;
pub mod settings;

pub use error::KeeperError;
pub use event::S3Event;
pub use keep::{Keeper, Outcome};
pub use settings::KeeperSettings;
