//! The typed error of the source side of the data path, and the closure that names a failed query's context.

use crate::connect::ConnectError;

/// Errors of the source side of the data path.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source query failed ({context}): {source}")]
    Query {
        context: String,
        source: mysql_async::Error,
    },
    #[error(
        "the source user cannot take the global read lock needed for a consistent snapshot ({0}); grant it \
         RELOAD, or stop all writes to the source and pass --source-quiesced"
    )]
    NoSnapshotPrivilege(String),
    #[error(
        "the global read lock for the consistent snapshot waited {seconds} s behind statements still running on the \
         source and gave up, so writes were held back at most that long; nothing was changed. Running: {blockers}. \
         Let them finish (or stop them) and run again, allow a longer wait with --lock-wait, or stop all writes and \
         pass --source-quiesced"
    )]
    LockWait { seconds: u64, blockers: String },
    #[error("table {table}: unexpected value type in column {column} (the text protocol should give bytes)")]
    UnexpectedValue { table: String, column: String },
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("table {table}: building a batch failed: {message}")]
    Batch { table: String, message: String },
    #[error(
        "reading {table}: the source sent nothing for {seconds} s; the connection is taken as lost (a dropped route \
         or a stopped server)"
    )]
    Silent { table: String, seconds: u64 },
}

pub(super) fn q(context: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> SourceError {
    let context = context.into();
    move |source| SourceError::Query { context, source }
}
