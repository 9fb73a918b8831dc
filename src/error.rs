//! The run-level error of every subcommand and its documented exit code.

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
    Source(#[from] crate::source::mysql::SourceError),
    #[error(transparent)]
    Violation(#[from] Box<crate::transform::Violation>),
    #[error(transparent)]
    Copy(Box<crate::sink::copy::CopyFailure>),
    #[error("the schema contract does not hold: {0} problem(s), listed above")]
    Contract(usize),
    #[error("{0}")]
    Data(String),
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

impl Error {
    /// Exit codes: 1 internal, 2 usage, 3 connection, 4 contract, 5 data, 6 verification, 130 interrupted.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Mapping(_) => 2,
            Error::Connect(_) => 3,
            Error::Contract(_) => 4,
            Error::Data(_) | Error::Violation(_) | Error::Copy(_) => 5,
            Error::Verify(_) => 6,
            Error::Interrupted => 130,
            Error::Source(_)
            | Error::SourceSchema(_)
            | Error::TargetSchema(_)
            | Error::Internal(_) => 1,
        }
    }
}
