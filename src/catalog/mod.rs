//! The Glue/Athena side of the lake: table definitions inferred from the rows themselves.
//!
//! ```text
//! rows (NDJSON lines, an object's bytes)          existing Glue table (TableInput)
//!   │ infer        each value's type, from its text   │ glue::schema_of
//!   ▼                                                 ▼
//! table::TableSchema   columns: name ↔ key, type ◄── widen only (athena_type::join)
//!   │ glue::table_input
//!   ▼
//! Glue TableInput: columns, OpenX JSON SerDe with case.insensitive=false and mapping.<column>,
//! partition keys and projection as the stacks declare them
//! ```
//!
//! Everything here is pure: rows or object bytes in, definitions out, no I/O. The `ddb-lake
//! schema` command reads a local lake into it ([`crate::lake::schema_cli`]); a function kept
//! beside the lake can feed it each new object and the table it read back from Glue.
//!
//! The type policy ([`athena_type`], [`infer`]): a column's type is the narrowest Athena type
//! holding every value the rows have under its key, exactly: `bigint` while every value is an
//! integer in range, `decimal(p,s)` while every value fits with `p <= 38`, otherwise `string`
//! holding the exact text; numbers never go through `double`. Values of different kinds make a
//! `string`; lists and sets are `array<...>` where their elements agree, maps inside lists
//! `struct<...>` where their keys are plain lower-case names, otherwise `string`. Types only
//! widen. The naming rule is in [`names`].

pub mod athena_type;
pub mod glue;
pub mod infer;
pub mod key_schema;
pub mod names;
pub mod table;
pub mod view;

pub use athena_type::{join, widen, AthenaType};
pub use glue::{schema_of, table_input, GlueSettings, TableInput};
pub use key_schema::KeySchema;
pub use table::{Catalog, Column, ObjectReport, RowError, TableSchema};
