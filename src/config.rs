//! The configuration layer: the command line as typed (`cli`) plus this machine (its cores) become each command's
//! settings. Every default and every policy (how many readers `check` or `verify` run, when `--finish-early auto`
//! is on, which COPY format is the default) lives here and only here, with a unit test per rule below; the run
//! layer and the commands take the settings as given.

use std::path::PathBuf;

use crate::cli::{self, Command, CopyFormat, FileFormat, FinishEarly, LogFormat};
use crate::sink::copy::ToastCompression;
use crate::sink::export::Formats;

/// Target rows per chunk (`--chunk-rows`).
pub const CHUNK_ROWS: u64 = 200_000;
/// Target bytes per chunk by the source's size estimate (`--chunk-bytes`).
pub const CHUNK_BYTES: u64 = 64 << 20;
/// Rows per Arrow batch (`--batch-rows`).
pub const BATCH_ROWS: usize = 8192;
/// Memory budget of all queued batches (`--max-memory`).
pub const MAX_MEMORY: u64 = 512 << 20;
/// Seconds the snapshot's global read lock may wait behind running writes (`--lock-wait`).
pub const LOCK_WAIT: u64 = 10;
/// Readers and writers default to the cores, up to this many: more only add connections to wait on (scale 1:
/// 4 readers on 2 cores were slower than 2 from a cold source; docs/benchmarks.md).
pub const MAX_CONNECTIONS: usize = 4;
/// Pieces queued per chunk between its reader and its writer (`pipeline::Settings::depth`).
pub const QUEUE_BATCHES: usize = 2;
/// How the loading commands compress TOAST values (`--toast-compression`): lz4 was several times cheaper than
/// pglz, PostgreSQL's default (a sixth of all CPU of a scale-1 load).
pub const TOAST_COMPRESSION: ToastCompression = ToastCompression::Lz4;

/// What the defaults follow.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    pub cores: usize,
}

impl Machine {
    /// This machine (2 cores when it cannot tell).
    pub fn this() -> Machine {
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        }
    }

    /// Default readers and writers.
    fn connections(self) -> usize {
        self.cores.clamp(1, MAX_CONNECTIONS)
    }
}

/// Where a command reads from, writes to, and the mapping between them. URLs hold passwords: never print them
/// except through `url::redact`.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub source: String,
    pub target: String,
    pub mapping: PathBuf,
    pub passwords: crate::credentials::PasswordFiles,
}

impl From<cli::Endpoints> for Endpoints {
    fn from(e: cli::Endpoints) -> Self {
        Endpoints {
            source: e.source,
            target: e.target,
            passwords: crate::credentials::PasswordFiles {
                source: e.source_password_file,
                target: e.target_password_file,
            },
            mapping: e.mapping,
        }
    }
}

/// How the commands that read the source run; reports show it as `settings`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tuning {
    pub readers: usize,
    pub writers: usize,
    pub chunk_rows: u64,
    pub chunk_bytes: u64,
    pub batch_rows: usize,
    pub max_memory: u64,
    pub source_quiesced: bool,
    /// Seconds the global read lock may wait behind running write statements (it holds back writes meanwhile).
    pub lock_wait: u64,
    /// `default_toast_compression` of the COPY sessions; only the loading commands (migrate, import) set it,
    /// and only their reports show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toast_compression: Option<ToastCompression>,
    /// Finish each table while others still load (`--finish-early`; migrate and import only).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub finish_early: bool,
}

impl Tuning {
    /// Every value at its default on `machine`.
    pub fn defaults(machine: Machine) -> Tuning {
        Tuning {
            readers: machine.connections(),
            writers: machine.connections(),
            chunk_rows: CHUNK_ROWS,
            chunk_bytes: CHUNK_BYTES,
            batch_rows: BATCH_ROWS,
            max_memory: MAX_MEMORY,
            source_quiesced: false,
            lock_wait: LOCK_WAIT,
            toast_compression: None,
            finish_early: false,
        }
    }

    /// Raw bytes per batch so that every queue together stays well inside `max_memory`: each batch exists up to
    /// three times (raw, converted, encoded) in each of the in-flight slots.
    pub fn batch_bytes(&self) -> usize {
        let slots = (self.readers + 2 * self.writers) as u64 * (QUEUE_BATCHES as u64 + 1) * 3;
        ((self.max_memory / 2) / slots.max(1)).clamp(64 << 10, 16 << 20) as usize
    }

    fn with_tuning_flags(mut self, a: &cli::TuningArgs) -> Tuning {
        self.readers = a.readers.unwrap_or(self.readers);
        self.writers = a.writers.unwrap_or(self.writers);
        self.chunk_rows = a.chunk_rows.unwrap_or(self.chunk_rows);
        self.chunk_bytes = a.chunk_bytes.unwrap_or(self.chunk_bytes);
        self.batch_rows = a.batch_rows.unwrap_or(self.batch_rows);
        self.max_memory = a.max_memory.unwrap_or(self.max_memory);
        self.source_quiesced = a.source_quiesced;
        self.lock_wait = a.lock_wait.unwrap_or(self.lock_wait);
        self
    }

    /// The loading flags; `writers` must already be final (`--finish-early auto` depends on it).
    fn with_load_flags(mut self, a: &cli::LoadArgs, machine: Machine) -> Tuning {
        self.toast_compression = Some(a.toast_compression.unwrap_or(TOAST_COMPRESSION));
        self.finish_early = finish_early(a.finish_early, self.writers, machine);
        self
    }
}

/// `--finish-early`: auto finishes tables during the load only with two cores beyond the writers (it runs on one
/// more target session; on 2 cores with 2 writers it was 1.11-1.13x slower).
fn finish_early(flag: Option<FinishEarly>, writers: usize, machine: Machine) -> bool {
    match flag.unwrap_or(FinishEarly::Auto) {
        FinishEarly::On => true,
        FinishEarly::Off => false,
        FinishEarly::Auto => machine.cores >= writers + 2,
    }
}

fn formats(f: Option<FileFormat>) -> Formats {
    match f.unwrap_or(FileFormat::Csv) {
        FileFormat::Csv => Formats {
            csv: true,
            parquet: false,
        },
        FileFormat::Parquet => Formats {
            csv: false,
            parquet: true,
        },
        FileFormat::Both => Formats {
            csv: true,
            parquet: true,
        },
    }
}

/// `pgconverge plan`.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub endpoints: Endpoints,
    pub report: Option<PathBuf>,
    /// The cut-over window in seconds, to fit the estimate in.
    pub window: Option<u64>,
    /// A rehearsal's `migrate --report` to scale the estimate from.
    pub calibrate: Option<PathBuf>,
    /// The chunk sizes a run would use, for the estimate.
    pub chunk_rows: u64,
    pub chunk_bytes: u64,
    /// Also check the source's binary log can be followed (`--follow`).
    pub follow: bool,
}

/// `pgconverge migrate`.
#[derive(Debug, Clone)]
pub struct MigrateSettings {
    pub endpoints: Endpoints,
    pub tuning: Tuning,
    /// Delete rows already in the target tables instead of refusing.
    pub replace: bool,
    /// Keep what was loaded as an export directory (files, manifest), importable elsewhere.
    pub keep: Option<PathBuf>,
    /// The files `keep` writes per chunk.
    pub keep_formats: Formats,
    /// Send PostgreSQL's binary COPY format instead of CSV.
    pub binary: bool,
    /// Continue an interrupted run from its ledger.
    pub resume: bool,
    pub report: Option<PathBuf>,
    /// Verify the target after the load.
    pub verify: bool,
    pub checklist: Option<PathBuf>,
    /// Follow the source's binary log after the copy until `cutover`.
    pub follow: bool,
    /// At the cut-over, verify every table (not only the changed ones).
    pub verify_full: bool,
    /// A statement position the operator dealt with (`--skip-statement`).
    pub skip_statement: Option<String>,
    /// Where the binary log is spooled during the copy, and the most it may hold (0: not spooled).
    pub spool_dir: PathBuf,
    pub spool_max: u64,
    /// Index the unindexed foreign keys while following (`--index-foreign-keys`).
    pub index_foreign_keys: bool,
}

/// `pgconverge cutover`.
#[derive(Debug, Clone)]
pub struct CutoverSettings {
    pub endpoints: Endpoints,
    /// Seconds to wait for the follower.
    pub timeout: u64,
}

/// `pgconverge check`.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    pub endpoints: Endpoints,
    pub tuning: Tuning,
    /// Also scan foreign keys the source declares.
    pub all_foreign_keys: bool,
    pub report: Option<PathBuf>,
}

/// `pgconverge export`.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    pub endpoints: Endpoints,
    pub tuning: Tuning,
    /// The export directory.
    pub out: PathBuf,
    pub formats: Formats,
    /// Empty a non-empty directory first instead of refusing.
    pub replace: bool,
    /// Continue the interrupted export in `out` from its journal.
    pub resume: bool,
    pub report: Option<PathBuf>,
}

/// `pgconverge import`.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    pub target: String,
    pub mapping: PathBuf,
    /// `--target-password-file`.
    pub target_password_file: Option<PathBuf>,
    /// The export directory.
    pub from: PathBuf,
    pub tuning: Tuning,
    pub replace: bool,
    pub resume: bool,
    pub report: Option<PathBuf>,
    /// Verify the target against the export's digests after the load.
    pub verify: bool,
    pub checklist: Option<PathBuf>,
}

/// `pgconverge verify`, standalone or after a load.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    pub endpoints: Endpoints,
    pub tuning: Tuning,
    pub report: Option<PathBuf>,
    pub checklist: Option<PathBuf>,
    /// The operator's word that the source has not changed since the completed run (writes frozen): compare
    /// against the digests that run kept even when no binary log position proves it.
    pub source_unchanged: bool,
    /// Only these source tables (the follow phase's sign-off: the tables it touched); None for every table.
    pub only: Option<Vec<String>>,
}

/// `pgconverge reset`.
#[derive(Debug, Clone)]
pub struct ResetSettings {
    pub target: String,
    pub mapping: PathBuf,
    /// `--target-password-file`.
    pub target_password_file: Option<PathBuf>,
    /// Act; without it nothing is changed.
    pub yes: bool,
    /// Also discard rows written after a completed run.
    pub force: bool,
    /// Accept a completed run: drop its ledger and baseline, keep the loaded data.
    pub keep_data: bool,
}

/// `pgconverge status`.
#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub target: String,
    pub mapping: PathBuf,
    /// `--target-password-file`.
    pub target_password_file: Option<PathBuf>,
    pub json: bool,
}

/// One command with its settings.
#[derive(Debug, Clone)]
pub enum Invocation {
    Plan(PlanSettings),
    Migrate(MigrateSettings),
    Check(CheckSettings),
    Export(ExportSettings),
    Import(ImportSettings),
    Verify(VerifySettings),
    Reset(ResetSettings),
    Status(StatusSettings),
    Cutover(CutoverSettings),
}

impl Invocation {
    /// The files the command writes at its end (`--report`, `--checklist`), to check before it starts.
    pub fn output_files(&self) -> Vec<&std::path::Path> {
        let (report, checklist) = match self {
            Invocation::Plan(s) => (&s.report, &None),
            Invocation::Migrate(s) => (&s.report, &s.checklist),
            Invocation::Check(s) => (&s.report, &None),
            Invocation::Export(s) => (&s.report, &None),
            Invocation::Import(s) => (&s.report, &s.checklist),
            Invocation::Verify(s) => (&s.report, &s.checklist),
            Invocation::Reset(_) | Invocation::Status(_) | Invocation::Cutover(_) => (&None, &None),
        };
        report
            .iter()
            .chain(checklist)
            .map(PathBuf::as_path)
            .collect()
    }

    /// Where the command writes its report (`--report`), if asked.
    pub fn report(&self) -> Option<&std::path::Path> {
        match self {
            Invocation::Plan(s) => s.report.as_deref(),
            Invocation::Migrate(s) => s.report.as_deref(),
            Invocation::Check(s) => s.report.as_deref(),
            Invocation::Export(s) => s.report.as_deref(),
            Invocation::Import(s) => s.report.as_deref(),
            Invocation::Verify(s) => s.report.as_deref(),
            Invocation::Reset(_) | Invocation::Status(_) | Invocation::Cutover(_) => None,
        }
    }

    /// The settings a report shows (`settings`), for the commands that read the source or load the target.
    pub fn tuning(&self) -> Option<&Tuning> {
        match self {
            Invocation::Migrate(s) => Some(&s.tuning),
            Invocation::Check(s) => Some(&s.tuning),
            Invocation::Export(s) => Some(&s.tuning),
            Invocation::Import(s) => Some(&s.tuning),
            _ => None,
        }
    }

    /// The target a loading command (migrate, import) changes, whose ledger a failed run's report reads.
    pub fn loaded_target(&self) -> Option<(&str, &std::path::Path)> {
        match self {
            Invocation::Migrate(s) => Some((&s.endpoints.target, &s.endpoints.mapping)),
            Invocation::Import(s) => Some((&s.target, &s.mapping)),
            _ => None,
        }
    }

    /// The password files its flags name (`crate::credentials`).
    pub fn password_files(&self) -> crate::credentials::PasswordFiles {
        use crate::credentials::PasswordFiles;
        let target = |f: &Option<PathBuf>| PasswordFiles {
            source: None,
            target: f.clone(),
        };
        match self {
            Invocation::Plan(s) => s.endpoints.passwords.clone(),
            Invocation::Migrate(s) => s.endpoints.passwords.clone(),
            Invocation::Check(s) => s.endpoints.passwords.clone(),
            Invocation::Export(s) => s.endpoints.passwords.clone(),
            Invocation::Verify(s) => s.endpoints.passwords.clone(),
            Invocation::Cutover(s) => s.endpoints.passwords.clone(),
            Invocation::Import(s) => target(&s.target_password_file),
            Invocation::Reset(s) => target(&s.target_password_file),
            Invocation::Status(s) => target(&s.target_password_file),
        }
    }

    /// The command's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Invocation::Plan(_) => "plan",
            Invocation::Migrate(_) => "migrate",
            Invocation::Check(_) => "check",
            Invocation::Export(_) => "export",
            Invocation::Import(_) => "import",
            Invocation::Verify(_) => "verify",
            Invocation::Reset(_) => "reset",
            Invocation::Status(_) => "status",
            Invocation::Cutover(_) => "cutover",
        }
    }

    /// Checks the form of the connection strings it names (what the command line says, before anything
    /// connects): a malformed one is a usage error, and is never echoed.
    pub fn check(&self) -> Result<(), String> {
        use crate::url::check_form;
        let (source, target) = self.urls();
        if let Some(source) = source {
            check_form("source", source).map_err(|e| e.to_string())?;
            crate::tls::mysql(source).map_err(|e| format!("the source's TLS settings: {e}"))?;
        }
        check_form("target", target).map_err(|e| e.to_string())?;
        crate::tls::postgres(target).map_err(|e| format!("the target's TLS settings: {e}"))?;
        Ok(())
    }

    /// The source URL (None: the command reads no source) and the target connection string.
    fn urls(&self) -> (Option<&String>, &String) {
        match self {
            Invocation::Plan(s) => (Some(&s.endpoints.source), &s.endpoints.target),
            Invocation::Migrate(s) => (Some(&s.endpoints.source), &s.endpoints.target),
            Invocation::Check(s) => (Some(&s.endpoints.source), &s.endpoints.target),
            Invocation::Export(s) => (Some(&s.endpoints.source), &s.endpoints.target),
            Invocation::Verify(s) => (Some(&s.endpoints.source), &s.endpoints.target),
            Invocation::Cutover(s) => (Some(&s.endpoints.source), &s.endpoints.target),
            Invocation::Import(s) => (None, &s.target),
            Invocation::Reset(s) => (None, &s.target),
            Invocation::Status(s) => (None, &s.target),
        }
    }
}

/// The settings of the command the command line names, on `machine`.
pub fn resolve(command: Command, machine: Machine) -> Invocation {
    let defaults = Tuning::defaults(machine);
    match command {
        Command::Plan(a) => Invocation::Plan(PlanSettings {
            endpoints: a.endpoints.into(),
            report: a.report,
            window: a.window,
            calibrate: a.calibrate,
            chunk_rows: defaults.chunk_rows,
            chunk_bytes: defaults.chunk_bytes,
            follow: a.follow,
        }),
        Command::Migrate(a) => Invocation::Migrate(MigrateSettings {
            tuning: defaults
                .with_tuning_flags(&a.tuning)
                .with_load_flags(&a.load, machine),
            endpoints: a.endpoints.into(),
            replace: a.replace,
            keep: a.keep,
            keep_formats: formats(a.keep_format),
            // Binary by default: PostgreSQL skips parsing text (CSV stays for comparing with exported files).
            binary: a.copy_format.unwrap_or(CopyFormat::Binary) == CopyFormat::Binary,
            resume: a.resume,
            report: a.report,
            verify: !a.no_verify,
            checklist: a.checklist,
            follow: a.follow,
            verify_full: a.verify_full,
            skip_statement: a.skip_statement,
            spool_dir: a.spool_dir,
            spool_max: a.spool_max,
            index_foreign_keys: a.index_foreign_keys,
        }),
        Command::Check(a) => Invocation::Check(CheckSettings {
            tuning: Tuning {
                // Reading and checking only: one more reader than the default, since no COPY competes for the
                // cores.
                readers: a.readers.unwrap_or(defaults.readers + 1),
                // A preflight never takes the global read lock (it would hold back the production source's
                // writes): each reader reads in its own consistent snapshot, enough to find the rows that would
                // stop a run.
                source_quiesced: true,
                ..defaults
            },
            endpoints: a.endpoints.into(),
            all_foreign_keys: a.all_foreign_keys,
            report: a.report,
        }),
        Command::Export(a) => Invocation::Export(ExportSettings {
            tuning: defaults.with_tuning_flags(&a.tuning),
            endpoints: a.endpoints.into(),
            out: a.out,
            formats: formats(a.format),
            replace: a.replace,
            resume: a.resume,
            report: a.report,
        }),
        Command::Import(a) => {
            let tuning = Tuning {
                readers: a.readers.unwrap_or(defaults.readers),
                writers: a.writers.unwrap_or(defaults.writers),
                ..defaults
            };
            Invocation::Import(ImportSettings {
                tuning: tuning.with_load_flags(&a.load, machine),
                target: a.target,
                mapping: a.mapping,
                target_password_file: a.target_password_file,
                from: a.from,
                replace: a.replace,
                resume: a.resume,
                report: a.report,
                verify: !a.no_verify,
                checklist: a.checklist,
            })
        }
        Command::Verify(a) => Invocation::Verify(VerifySettings {
            tuning: Tuning {
                // Reading MySQL chunk by chunk waits on the server more than it computes: twice the default
                // readers kept both cores busy (scale 1: 90 s with 2 readers, 73 s with 4).
                readers: a.readers.unwrap_or(defaults.readers * 2),
                writers: a.writers.unwrap_or(defaults.writers),
                source_quiesced: a.source_quiesced,
                lock_wait: a.lock_wait.unwrap_or(defaults.lock_wait),
                ..defaults
            },
            endpoints: a.endpoints.into(),
            report: a.report,
            checklist: a.checklist,
            source_unchanged: a.source_unchanged,
            only: None,
        }),
        Command::Reset(a) => Invocation::Reset(ResetSettings {
            target: a.target,
            mapping: a.mapping,
            target_password_file: a.target_password_file,
            yes: a.yes,
            force: a.force,
            keep_data: a.keep_data,
        }),
        Command::Status(a) => Invocation::Status(StatusSettings {
            target: a.target,
            mapping: a.mapping,
            target_password_file: a.target_password_file,
            json: a.json,
        }),
        Command::Cutover(a) => Invocation::Cutover(CutoverSettings {
            endpoints: a.endpoints.into(),
            timeout: a.timeout.unwrap_or(CUTOVER_TIMEOUT),
        }),
    }
}

/// How long `cutover` waits for the follower by default (seconds): the freeze the operator planned for, with room.
pub const CUTOVER_TIMEOUT: u64 = 60;

/// How the binary logs and shows progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logging {
    /// The tracing filter unless `PGCONVERGE_LOG` gives one.
    pub filter: &'static str,
    pub json: bool,
    /// ANSI colour in log lines.
    pub colour: bool,
    pub progress: crate::progress::Mode,
}

/// `--quiet`, `-v`/`-vv` and `--log-format`, with whether stderr is a terminal and whether `NO_COLOR` is set
/// (non-empty, as no-color.org says): colour only on a terminal without `NO_COLOR`, bars only on a terminal;
/// server notices ("drop cascades to ...") and driver chatter only at `-vv`.
pub fn logging(
    quiet: bool,
    verbose: u8,
    format: Option<LogFormat>,
    terminal: bool,
    no_color: bool,
) -> Logging {
    Logging {
        filter: match (quiet, verbose) {
            (true, _) => "warn",
            (false, 0) => "info,tokio_postgres=warn,mysql_async=warn",
            (false, 1) => "debug,tokio_postgres=info,mysql_async=info",
            (false, _) => "debug",
        },
        json: format.unwrap_or(LogFormat::Text) == LogFormat::Json,
        colour: terminal && !no_color,
        progress: match (quiet, terminal) {
            (true, _) => crate::progress::Mode::Off,
            (false, true) => crate::progress::Mode::Bars,
            (false, false) => crate::progress::Mode::Lines,
        },
    }
}

#[cfg(test)]
mod tests;
