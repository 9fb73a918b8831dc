//! The run-level error of every command and its documented exit code. It wraps the typed error of each layer
//! from above: only the commands and the binary import it; no lower module does.

use crate::cutover::TargetError;
use crate::exit::Exit;
use crate::sink::SinkError;
use crate::source::mysql::SourceError;

/// What stopped a run; each variant has its own exit code (see README).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the command line asks for cannot be done as asked (a flag, a file it names).
    #[error("{0}")]
    Usage(String),
    /// The state of the target, an export directory or a manifest forbids the command (a ledger in the way,
    /// nothing to resume, an occupied directory, a manifest that does not match); the message names the state
    /// and the command that gets past it.
    #[error("{0}")]
    Refused(String),
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
    Violation(#[from] Box<crate::values::Violation>),
    #[error(transparent)]
    File(#[from] crate::source::files::FileError),
    #[error(transparent)]
    TargetRead(#[from] crate::source::pg::TargetReadError),
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
        "the estimate ({estimate}) exceeds the window ({window}); nothing was changed: see the estimate above"
    )]
    Window { estimate: String, window: String },
    #[error(
        "interrupted: the open chunks were rolled back and every committed chunk is recorded in the target's \
         ledger; continue with the same command, its flags and `--resume` (`pgconverge migrate --resume`, \
         `pgconverge import --resume`), or return the target to its state before the run with `pgconverge reset --yes`"
    )]
    Interrupted,
    /// A command that only reads was interrupted.
    #[error("interrupted; this command only reads, nothing was changed: run it again")]
    ReadInterrupted,
    #[error(
        "interrupted: the chunk files written so far are complete and recorded in the directory's journal, but no \
         manifest was written, so the directory is no export yet; continue it with `pgconverge export --resume` \
         and the same flags, or start again with --replace"
    )]
    ExportInterrupted,
    /// A data violation after the target was prepared; the target was then restored.
    #[error(
        "{0}; the target was restored to its state before the run (loaded tables emptied, seeded rows, foreign \
         keys and sequences as they were, ledger removed): fix the source and run the same command again"
    )]
    Restored(Box<Error>),
    /// Any other failure after the target was prepared: the ledger keeps the resumable state.
    #[error(
        "{0}; every committed chunk is recorded in the target's ledger: fix the cause and continue with the same \
         command, its flags and `--resume`, or return the target to its state before the run with \
         `pgconverge reset --yes`"
    )]
    Stopped(Box<Error>),
    /// A failure while writing an export: the directory holds no manifest, its journal the chunks written.
    #[error(
        "{0}; no manifest was written, so the directory is no export yet (no half file is left under a final \
         name): fix the cause and continue with `pgconverge export --resume` and the same flags, or start again \
         with --replace"
    )]
    ExportFailed(Box<Error>),
    #[error(
        "{cause}; restoring the target failed too ({restore}); the ledger is kept: return the target to its state \
         before the run with `pgconverge reset --yes`"
    )]
    RestoreFailed {
        cause: Box<Error>,
        restore: Box<Error>,
    },
    /// A server connection was lost after the target was prepared.
    #[error(
        "{0}; a connection was lost: every committed chunk is recorded in the target's ledger; continue with the \
         same command, its flags and `--resume`, or return the target to its state before the run with \
         `pgconverge reset --yes`"
    )]
    Lost(Box<Error>),
    /// The follow phase stopped; the ledger's follow record holds the position `applied`.
    #[error(
        "{cause}; the target holds every source transaction before {applied} (the ledger's follow record): {}",
        cause.next()
    )]
    Following {
        cause: Box<crate::run::follow::FollowError>,
        applied: String,
    },
    #[error("{0}")]
    Internal(String),
}

impl From<std::convert::Infallible> for Error {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}

impl Error {
    /// A server connection went away (a restart, a network cut): the run can be resumed, nothing is wrong with
    /// the data.
    pub fn is_connection_loss(&self) -> bool {
        match self {
            Error::Source(SourceError::Query { source, .. }) => matches!(
                source,
                mysql_async::Error::Io(_)
                    | mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed)
            ),
            Error::Source(SourceError::Connect(_) | SourceError::Silent { .. })
            | Error::TargetRead(crate::source::pg::TargetReadError::Connect(_))
            | Error::Sink(SinkError::Connect(_))
            | Error::Connect(_) => true,
            Error::Sink(SinkError::Copy(f)) => f.transient,
            Error::Target(TargetError::Sql { transient, .. }) => *transient,
            _ => false,
        }
    }

    /// A data violation: the source holds a value the target would refuse or change. Such a run cannot be
    /// resumed (the source must change first), so the target is restored.
    pub fn is_data_violation(&self) -> bool {
        self.exit() == Exit::Data
    }

    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }

    /// The documented exit code of this error.
    pub fn exit(&self) -> Exit {
        if self.is_connection_loss() {
            return Exit::Connection;
        }
        match self {
            Error::Usage(_) | Error::Mapping(_) => Exit::Usage,
            Error::Refused(_)
            | Error::Target(TargetError::Occupied(_) | TargetError::LedgerUnreadable { .. })
            | Error::File(_) => Exit::Refused,
            Error::Connect(_)
            | Error::Source(SourceError::Connect(_) | SourceError::LockWait { .. })
            | Error::Sink(SinkError::Connect(_)) => Exit::Connection,
            Error::Contract(_) => Exit::Contract,
            Error::Violation(_)
            | Error::Sink(SinkError::Copy(_) | SinkError::RowCount { .. })
            | Error::Target(TargetError::Orphan(_) | TargetError::FkRestore { .. }) => Exit::Data,
            Error::Sink(SinkError::File { .. } | SinkError::Parquet { .. }) => Exit::Files,
            Error::Verify(_) => Exit::Verification,
            Error::Window { .. } => Exit::Window,
            Error::Interrupted | Error::ExportInterrupted | Error::ReadInterrupted => {
                Exit::Interrupted
            }
            Error::Restored(e) | Error::Stopped(e) | Error::ExportFailed(e) => e.exit(),
            Error::RestoreFailed { cause, .. } => cause.exit(),
            Error::Lost(_) => Exit::Connection,
            Error::Following { cause, .. } => following_exit(cause),
            Error::Source(_)
            | Error::SourceSchema(_)
            | Error::TargetSchema(_)
            | Error::Target(_)
            | Error::Sink(SinkError::Setting { .. } | SinkError::Probe { .. })
            | Error::TargetRead(_)
            | Error::Pipeline(_)
            | Error::Internal(_) => Exit::Internal,
        }
    }
}

/// The exit code of a stopped follow phase: a lost source or target is a connection error, a value the target
/// refuses a data error, a target that no longer matches a verification failure, a statement or a purged log a
/// refusal (the operator decides).
fn following_exit(cause: &crate::run::follow::FollowError) -> Exit {
    use crate::run::follow::ApplyError as A;
    use crate::run::follow::FollowError as F;
    use crate::source::mysql::binlog::BinlogError as B;
    match cause {
        F::Binlog(B::Stream { .. } | B::Silent { .. } | B::Ended { .. }) => Exit::Connection,
        F::Binlog(B::Source(SourceError::Connect(_) | SourceError::Silent { .. })) => {
            Exit::Connection
        }
        F::Binlog(B::Source(SourceError::Query { source, .. })) => match source {
            mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => Exit::Connection,
            _ => Exit::Internal,
        },
        F::Binlog(B::Source(_)) => Exit::Internal,
        F::Binlog(
            B::UnknownTable { .. }
            | B::Unfinished { .. }
            | B::Purged { .. }
            | B::PartialImage { .. }
            | B::Unreadable { .. }
            | B::Reshaped { .. },
        ) => Exit::Refused,
        F::Binlog(B::Spool { .. }) => Exit::Internal,
        F::Binlog(B::Decode { .. }) => Exit::Internal,
        F::Apply(A::Violation { .. }) => Exit::Data,
        F::Apply(A::Mismatch { .. }) => Exit::Verification,
        F::Apply(A::Unmapped { .. }) => Exit::Refused,
        F::Apply(A::Target { sqlstate, .. }) => match sqlstate.as_deref() {
            Some(s) if s.starts_with("08") || s.starts_with("57P") => Exit::Connection,
            Some(s) if s.starts_with("22") || s.starts_with("23") => Exit::Data,
            None => Exit::Connection,
            _ => Exit::Internal,
        },
        F::Statement { .. } | F::Purged { .. } | F::NoPosition | F::Changed(_) => Exit::Refused,
        F::Interrupted => Exit::Interrupted,
    }
}
