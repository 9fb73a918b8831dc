//! The MySQL/MariaDB source: one consistent snapshot shared by every reader (`snapshot`), primary-key range
//! chunks snapped to real keys (`ranges`), chunk reads into Arrow batches of raw bytes (`reader`), what
//! following its binary log needs (`follow`) and its transactions read from the binary log (`binlog`).
//!
//! Reads use the text protocol, so every value arrives as the exact bytes the server would print: no float
//! rounding, no charset conversion (the session is utf8mb4), blobs as bytes, TIMESTAMP in UTC.

pub mod binlog;
mod binlog_text;
mod error;
pub mod follow;
mod mariadb;
mod position;
mod ranges;
mod reader;
mod snapshot;
pub mod spool;
pub mod statement;

pub use ranges::{plan_ranges, rows_at_least};
pub use reader::{chunk_sql, raw_schema, select_expr, value_by_key, ReadSpec, Reader};
pub use snapshot::{
    binlog_and_gtid, open_snapshot, position, snapshot_now, tables_written_since, Snapshot,
};

pub use error::SourceError;
