//! Errors of the target side around the load. SQL failures keep their SQLSTATE.

use crate::connect::{pg_message, pg_transient};
use crate::values::Violation;

/// Errors of the target side around the load.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{context}: {message}")]
    Sql {
        context: String,
        sqlstate: Option<String>,
        message: String,
        /// A lost connection or a server restart rather than a refusal.
        transient: bool,
    },
    #[error(
        "target tables already hold rows that no migration seeded: {}; load into a freshly migrated database, \
         or pass --replace to delete them",
        .0.join(", ")
    )]
    Occupied(Vec<String>),
    #[error(
        "the ledger in schema {schema} is unreadable ({message}), so neither --resume nor reset can use it; re-create \
         the target database with the application's migrations"
    )]
    LedgerUnreadable {
        schema: &'static str,
        message: String,
    },
    /// A row whose foreign key value has no parent, found when the key was re-created.
    #[error(transparent)]
    Orphan(Box<Violation>),
    #[error("foreign key {name} on {table} cannot be restored: {message}")]
    FkRestore {
        table: String,
        name: String,
        message: String,
    },
    #[error(transparent)]
    Schema(#[from] crate::schema::pg::TargetSchemaError),
}

/// Wraps a PostgreSQL error with what was being done, keeping its SQLSTATE.
pub fn pg(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> TargetError {
    let context = context.into();
    move |e| TargetError::Sql {
        context,
        sqlstate: e.code().map(|c| c.code().to_string()),
        message: pg_message(&e),
        transient: pg_transient(&e),
    }
}
