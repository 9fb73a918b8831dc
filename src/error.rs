//! The run-level error of every command and its documented exit code. It wraps the typed error of each layer
//! from above: only the commands and the binary import it; no lower module does.

use crate::sink::SinkError;
use crate::source::mysql::SourceError;
use crate::target::TargetError;

/// What stopped a run; each variant has its own exit code (see README).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Connect(#[from] crate::connect::ConnectError),
    #[error(transparent)]
    Mapping(#[from] crate::mapping::MappingError),
    #[error(transparent)]
    SourceSchema(#[from] crate::schema::mysql::SourceSchemaError),
    #[error(transparent)]
    TargetSchema(#[from] crate::schema::pg::TargetSchemaError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Violation(#[from] Box<crate::transform::Violation>),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::Fault),
    #[error("the schema contract does not hold: {0} problem(s), listed above")]
    Contract(usize),
    #[error("verification failed: {0}")]
    Verify(String),
    #[error(
        "interrupted: the open chunks were rolled back and every committed chunk is recorded in the target's \
         ledger; continue with `pgconverge migrate --resume` and the same flags"
    )]
    Interrupted,
    #[error("{0}")]
    Internal(String),
}

impl From<std::convert::Infallible> for Error {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}

impl Error {
    /// Exit codes: 1 internal, 2 usage, 3 connection, 4 contract, 5 data, 6 verification, 130 interrupted.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Mapping(_) => 2,
            Error::Connect(_)
            | Error::Source(SourceError::Connect(_))
            | Error::Sink(SinkError::Connect(_)) => 3,
            Error::Contract(_) => 4,
            Error::Violation(_)
            | Error::Sink(SinkError::Copy(_) | SinkError::RowCount { .. })
            | Error::Target(TargetError::Orphan(_) | TargetError::FkRestore { .. }) => 5,
            Error::Sink(SinkError::File { .. } | SinkError::Parquet { .. })
            | Error::Target(TargetError::Occupied(_) | TargetError::LedgerUnreadable { .. }) => 2,
            Error::Verify(_) => 6,
            Error::Interrupted => 130,
            Error::Source(_)
            | Error::SourceSchema(_)
            | Error::TargetSchema(_)
            | Error::Target(_)
            | Error::Pipeline(_)
            | Error::Internal(_) => 1,
        }
    }
}
