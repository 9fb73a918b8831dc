//! The command line as typed: every subcommand, flag and its help text (clap). Values stay raw (`Option`s, no
//! defaults filled in): `config` turns them into each command's settings, so a default lives in one place. The
//! help text states each default, and `config`'s tests check that it states the one `config` applies. Tests parse
//! the commands the documentation shows, so the docs cannot drift from the CLI.

use clap::{Args, Parser, Subcommand};

use crate::sink::copy::ToastCompression;

#[derive(Parser)]
#[command(
    name = "pgconverge",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PGCONVERGE_BUILD"), ")"),
    about = "Moves a MySQL/MariaDB database into PostgreSQL inside a cut-over window."
)]
// The exit codes are appended to the help by `Cli::command_with_exit_codes`, from `exit::Exit`.
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// No progress display and only warnings and errors in the log.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log detail: -v debug for pgconverge, -vv debug for everything (server notices included).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log line format on stderr: text (colour only on a terminal) or json (one object per line) [default: text].
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Also append every log line (in --log-format, without colour) and the final error to this file.
    #[arg(long, global = true)]
    pub log_file: Option<std::path::PathBuf>,
}

impl Cli {
    /// The command line with the exit-code table of `exit::Exit` after the help.
    pub fn command_with_exit_codes() -> clap::Command {
        <Cli as clap::CommandFactory>::command().after_help(crate::exit::Exit::help())
    }

    /// Parses this process's arguments (exits with clap's usage error or the help, as clap does).
    pub fn parse_args() -> Cli {
        let matches = Cli::command_with_exit_codes().get_matches();
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// `--log-format`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `--format` and `--keep-format`: the files written per chunk.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum FileFormat {
    /// CSV (what `import` and `psql` load).
    Csv,
    /// Typed Parquet.
    Parquet,
    /// Both, side by side.
    Both,
}

/// `--copy-format`: the COPY wire format.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum CopyFormat {
    Csv,
    Binary,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check the schema contract: every source table and column mapped or skipped, every type pair convertible.
    #[command(
        after_help = "Examples:\n  pgconverge plan --mapping mappings/alkemio.toml --report plan.json\n  pgconverge plan --mapping mappings/alkemio.toml --window 30m --calibrate rehearsal-migrate.json\n\nExit 0 when the contract holds (and the estimate fits the window), 4 when it does not (each problem named), 7 when the estimate exceeds the window."
    )]
    Plan(PlanArgs),
    /// Copy every mapped table from the source into the target (runs the contract check first).
    #[command(
        after_help = "Examples:\n  pgconverge migrate --mapping mappings/alkemio.toml --report migrate.json --checklist checklist.md\n  pgconverge migrate --mapping mappings/alkemio.toml --resume\n\nExit 0 loaded and verified; 5 a bad row (the target is restored); 6 the target differs; 3 or 130 resumable (--resume, or `pgconverge reset --yes`); 8 refused by the state of the target or the --keep directory (nothing changed; the message names the way on)."
    )]
    Migrate(MigrateArgs),
    /// Rehearsal preflight: read the whole source through the data path, write nothing, report every bad row.
    #[command(
        after_help = "Example:\n  pgconverge check --mapping mappings/alkemio.toml --report check.json\n\nExit 0 when every row converts, 5 when any does not (all listed)."
    )]
    Check(CheckArgs),
    /// Write every mapped table as CSV (and/or typed Parquet) files with a manifest (the target is only read, for
    /// its schema).
    #[command(
        after_help = "Examples:\n  pgconverge export --mapping mappings/alkemio.toml --out /data/alkemio-export\n  pgconverge export --mapping mappings/alkemio.toml --out /data/alkemio-export --format both\n  pgconverge export --mapping mappings/alkemio.toml --out /data/alkemio-export --resume\n\nFile format: docs/csv-format.md."
    )]
    Export(ExportArgs),
    /// Load an export directory into the target, after checking the manifest and every file's SHA-256.
    #[command(
        after_help = "Examples:\n  pgconverge import --mapping mappings/alkemio.toml --from /data/alkemio-export\n  pgconverge import --mapping mappings/alkemio.toml --from /data/alkemio-export --resume"
    )]
    Import(ImportArgs),
    /// Prove the target holds what the source holds: row counts, every value (canonical digests by key), foreign
    /// keys, sequences and the mapping's critical-data checks; prints the verification checklist. Only reads.
    #[command(
        after_help = "Example:\n  pgconverge verify --mapping mappings/alkemio.toml --checklist checklist.md --report verify.json\n\n\
Exit 0 when everything matches, 6 when anything differs (each difference named by table, key and column)."
    )]
    Verify(VerifyArgs),
    /// Return the target to its state before a run (completed, interrupted, killed or failed), from the run's
    /// ledger: loaded tables emptied, saved rows, foreign keys and sequences as they were, ledger removed.
    #[command(
        after_help = "Examples:\n  pgconverge reset --mapping mappings/alkemio.toml         (prints what it would do)\n  pgconverge reset --mapping mappings/alkemio.toml --yes\n  pgconverge reset --mapping mappings/alkemio.toml --keep-data --yes   (accept a completed run: the baseline goes, the data stays)"
    )]
    Reset(ResetArgs),
    /// Show the run the target's ledger records, from any shell, during a run or after one: command and state,
    /// whether a pgconverge session is connected now, chunks and rows committed, rate and time left, foreign keys
    /// dropped, the last error and the command to run next. Only reads.
    #[command(
        after_help = "Examples:\n  pgconverge status --mapping mappings/alkemio.toml\n  pgconverge status --mapping mappings/alkemio.toml --json"
    )]
    Status(StatusArgs),
    /// End a `migrate --follow` run, once the application's writes to the source are stopped: records the
    /// source's position (read twice, refused if it still moves), waits until the follower has applied it and
    /// finished the target (sequences set, changed tables verified), and prints the freeze time.
    #[command(
        after_help = "Example:\n  pgconverge cutover --mapping mappings/alkemio.toml --timeout 2m\n\nExit 0 when the target holds every source transaction and is verified; 8 when the source still moves or nothing follows it (nothing recorded), or when the follower stopped or did not finish in time (the end position stays recorded: run cutover again to wait longer)."
    )]
    Cutover(CutoverArgs),
}

/// Where the data comes from and goes to. Passwords in URLs are never printed.
#[derive(Args)]
pub struct Endpoints {
    /// Source URL, mysql://user:pass@host:port/database.
    #[arg(long, env = "PGCONVERGE_SOURCE", hide_env_values = true)]
    pub source: String,
    /// Target URL, postgres://user:pass@host:port/database.
    #[arg(long, env = "PGCONVERGE_TARGET", hide_env_values = true)]
    pub target: String,
    /// Mapping file (mappings/alkemio.toml, mappings/kratos.toml).
    #[arg(long)]
    pub mapping: std::path::PathBuf,
    /// Read the source's password from the first line of this file when the URL has none (else MYSQL_PWD, else
    /// the [client] group of ~/.my.cnf).
    #[arg(long)]
    pub source_password_file: Option<std::path::PathBuf>,
    /// Read the target's password from the first line of this file when the URL has none (else PGPASSWORD, else
    /// PGPASSFILE or ~/.pgpass).
    #[arg(long)]
    pub target_password_file: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// The cut-over window (`30m`, `1h30m`): estimate each phase and the total, exit 7 when it does not fit.
    #[arg(long, value_parser = crate::util::duration::parse)]
    pub window: Option<u64>,
    /// A rehearsal's `migrate --report` file to scale the estimate from (far better than the reference rates).
    #[arg(long)]
    pub calibrate: Option<std::path::PathBuf>,
    /// Also check that the source's binary log can be followed after a copy (change capture): log_bin on,
    /// binlog_format ROW, binlog_row_image FULL, no compressed events, and REPLICATION SLAVE and BINLOG MONITOR
    /// for the source user; each one missing is a problem naming the statement that gives it.
    #[arg(long)]
    pub follow: bool,
}

/// How the source is read and the chunks are cut (migrate, export).
#[derive(Args)]
pub struct TuningArgs {
    /// Source connections reading chunks in parallel [default: cores, at most 4].
    #[arg(long)]
    pub readers: Option<usize>,
    /// Target connections (or file writers) in parallel [default: cores, at most 4].
    #[arg(long)]
    pub writers: Option<usize>,
    /// Target rows per chunk (one COPY transaction, or one file, each) [default: 200000].
    #[arg(long)]
    pub chunk_rows: Option<u64>,
    /// Target bytes per chunk (by the source's size estimate), e.g. 64MiB; the smaller chunk of the two limits
    /// wins [default: 64MiB].
    #[arg(long, value_parser = crate::util::size::parse)]
    pub chunk_bytes: Option<u64>,
    /// Rows per Arrow batch [default: 8192].
    #[arg(long)]
    pub batch_rows: Option<usize>,
    /// Memory budget for all queued batches, e.g. 512MiB or 2G; batch sizes are derived from it [default: 512MiB].
    #[arg(long, value_parser = crate::util::size::parse)]
    pub max_memory: Option<u64>,
    /// The source receives no writes: read without the global read lock (for users without RELOAD).
    #[arg(long)]
    pub source_quiesced: bool,
    /// How long the snapshot's global read lock may wait behind write statements still running on the source
    /// (`10s`, `1m`, or seconds); it holds back new writes while it waits, then gives up naming them
    /// [default: 10s].
    #[arg(long, value_parser = crate::util::duration::parse)]
    pub lock_wait: Option<u64>,
}

/// How the COPY sessions store what they load (migrate, import).
#[derive(Args)]
pub struct LoadArgs {
    /// How PostgreSQL compresses the large values (TOAST) the load writes: lz4 (where the server was built with
    /// it: several times cheaper than pglz) or pglz (PostgreSQL's own default). A column given its own
    /// COMPRESSION by the schema keeps it [default: lz4].
    #[arg(long, value_enum)]
    pub toast_compression: Option<ToastCompression>,
    /// Finish each table (VACUUM (ANALYZE), row count, its foreign keys re-created and validated) as soon as it
    /// and its parents are loaded, while other tables still load: on, off (all of it after the load), or auto
    /// (on when this machine has at least two cores more than --writers; it runs on one more target session,
    /// which on a machine without cores to spare competes with the load: on 2 cores it was slower)
    /// [default: auto].
    #[arg(long, value_enum)]
    pub finish_early: Option<FinishEarly>,
}

/// `--finish-early`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum FinishEarly {
    On,
    Off,
    Auto,
}

impl clap::ValueEnum for ToastCompression {
    fn value_variants<'a>() -> &'a [Self] {
        &[ToastCompression::Lz4, ToastCompression::Pglz]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(flatten)]
    pub tuning: TuningArgs,
    /// The export directory: DIR/<table>/<chunk>.csv (and/or .parquet) and DIR/manifest.json (docs/csv-format.md).
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Files per chunk: csv (what `import` and `psql` load), parquet (typed), or both [default: csv].
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// Empty a non-empty export directory first instead of refusing.
    #[arg(long, conflicts_with = "resume")]
    pub replace: bool,
    /// Continue the interrupted export in --out: files already written are kept, the rest is written.
    #[arg(long)]
    pub resume: bool,
    /// Write the run report as JSON to this file.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Target URL, postgres://user:pass@host:port/database.
    #[arg(long, env = "PGCONVERGE_TARGET", hide_env_values = true)]
    pub target: String,
    /// Mapping file the export was made with.
    #[arg(long)]
    pub mapping: std::path::PathBuf,
    /// Read the target's password from the first line of this file when the URL has none (else PGPASSWORD, else
    /// PGPASSFILE or ~/.pgpass).
    #[arg(long)]
    pub target_password_file: Option<std::path::PathBuf>,
    /// The export directory (with manifest.json).
    #[arg(long)]
    pub from: std::path::PathBuf,
    /// Files read in parallel [default: cores, at most 4].
    #[arg(long)]
    pub readers: Option<usize>,
    /// Target connections running COPY in parallel [default: cores, at most 4].
    #[arg(long)]
    pub writers: Option<usize>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Delete rows already in the target tables (not only the seeded ones) instead of refusing.
    #[arg(long)]
    pub replace: bool,
    /// Continue an interrupted import from its ledger: loaded files are skipped, the rest is loaded.
    #[arg(long)]
    pub resume: bool,
    /// Write the run report as JSON to this file.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// Skip the verification of the target against the export's digests and recorded checks after the load.
    #[arg(long)]
    pub no_verify: bool,
    /// Write the verification checklist as Markdown to this file.
    #[arg(long, conflicts_with = "no_verify")]
    pub checklist: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(flatten)]
    pub tuning: TuningArgs,
    /// Delete rows already in the target tables (not only the seeded ones) instead of refusing.
    #[arg(long)]
    pub replace: bool,
    /// Keep exactly what was loaded as an export directory (files and manifest, as `export` writes them), which
    /// `pgconverge import` can load elsewhere; with --resume, the directory the interrupted run kept.
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
    /// Files per chunk in the --keep directory: csv, parquet (typed), or both [default: csv].
    #[arg(long, value_enum, requires = "keep")]
    pub keep_format: Option<FileFormat>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Wire format of COPY: binary (PostgreSQL skips text parsing) or csv (what exported files hold)
    /// [default: binary].
    #[arg(long, value_enum)]
    pub copy_format: Option<CopyFormat>,
    /// Write the run report as JSON to this file.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// Continue an interrupted run from its ledger: loaded chunks are skipped, the rest is loaded.
    #[arg(long)]
    pub resume: bool,
    /// Skip the verification after the load (`pgconverge verify` runs it later; the source must not have
    /// changed in between).
    #[arg(long)]
    pub no_verify: bool,
    /// Write the verification checklist as Markdown to this file.
    #[arg(long, conflicts_with = "no_verify")]
    pub checklist: Option<std::path::PathBuf>,
    /// After the copy, follow the source's binary log and apply every change to the target until `pgconverge
    /// cutover` (run once the application's writes are stopped) asks to finish; with --resume, continue
    /// following from the position the ledger holds. The source needs what `plan --follow` checks.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: at the cut-over verify every table, not only those the follow phase changed.
    #[arg(long, requires = "follow", conflicts_with = "no_verify")]
    pub verify_full: bool,
    /// With --resume --follow: follow past the statement at this binary log position (`file:offset`, as the
    /// stop named it) once its equivalent is applied to the target.
    #[arg(long, requires = "follow")]
    pub skip_statement: Option<String>,
    /// With --follow: while the copy and its verification run, keep the source's binary log from the snapshot in
    /// a file in this directory, so that the source purging it cannot lose the follower's start (removed once
    /// following is done).
    #[arg(long, requires = "follow", default_value = "pgconverge-spool")]
    pub spool_dir: std::path::PathBuf,
    /// With --follow: the most the spool may hold, e.g. 8GiB; past it the follower reads the source from where
    /// the spool ends. 0: no spool.
    #[arg(long, requires = "follow", value_parser = crate::util::size::parse, default_value = "8GiB")]
    pub spool_max: u64,
    /// With --follow: while following, index each foreign key of the target schema that no index leads with
    /// (MySQL has one for each; without it every followed delete of a parent row scans the child table). The
    /// indexes are named pgconverge_follow_*, and the cut-over and `reset` drop them.
    #[arg(long, requires = "follow")]
    pub index_foreign_keys: bool,
}

#[derive(Args)]
pub struct CutoverArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// How long to wait for the follower to apply everything and finish (`60s`, `5m`, or seconds)
    /// [default: 60s].
    #[arg(long, value_parser = crate::util::duration::parse)]
    pub timeout: Option<u64>,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// Source connections reading in parallel [default: twice the cores, at most 8].
    #[arg(long)]
    pub readers: Option<usize>,
    /// Target connections reading back in parallel [default: cores, at most 4].
    #[arg(long)]
    pub writers: Option<usize>,
    /// The source receives no writes: read without the global read lock (for users without RELOAD).
    #[arg(long)]
    pub source_quiesced: bool,
    /// How long the snapshot's global read lock may wait behind write statements still running on the source
    /// (`10s`, `1m`, or seconds); it holds back new writes while it waits, then gives up naming them
    /// [default: 10s].
    #[arg(long, value_parser = crate::util::duration::parse)]
    pub lock_wait: Option<u64>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// Write the checklist as Markdown to this file (it is printed in any case).
    #[arg(long)]
    pub checklist: Option<std::path::PathBuf>,
    /// No write reached the source since the completed migrate (writes frozen): compare against the digests
    /// that run kept, reading only the target, even when no binary log position proves it (it is used
    /// automatically when one does).
    #[arg(long)]
    pub source_unchanged: bool,
}

#[derive(Args)]
pub struct ResetArgs {
    /// Target URL, postgres://user:pass@host:port/database.
    #[arg(long, env = "PGCONVERGE_TARGET", hide_env_values = true)]
    pub target: String,
    /// Mapping file (mappings/alkemio.toml, mappings/kratos.toml).
    #[arg(long)]
    pub mapping: std::path::PathBuf,
    /// Read the target's password from the first line of this file when the URL has none (else PGPASSWORD, else
    /// PGPASSFILE or ~/.pgpass).
    #[arg(long)]
    pub target_password_file: Option<std::path::PathBuf>,
    /// Do it; without this flag reset only prints what it would do.
    #[arg(long)]
    pub yes: bool,
    /// After a completed run: also discard rows written or deleted since it completed (otherwise refused).
    #[arg(long)]
    pub force: bool,
    /// After a completed run: accept it, drop its ledger (the baseline reset restores) and keep the data.
    #[arg(long, conflicts_with = "force")]
    pub keep_data: bool,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Target URL, postgres://user:pass@host:port/database.
    #[arg(long, env = "PGCONVERGE_TARGET", hide_env_values = true)]
    pub target: String,
    /// Mapping file (mappings/alkemio.toml, mappings/kratos.toml).
    #[arg(long)]
    pub mapping: std::path::PathBuf,
    /// Read the target's password from the first line of this file when the URL has none (else PGPASSWORD, else
    /// PGPASSFILE or ~/.pgpass).
    #[arg(long)]
    pub target_password_file: Option<std::path::PathBuf>,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// Source connections reading in parallel [default: cores (at most 4) + 1]. `check` never takes the global read
    /// lock: each reads in its own consistent snapshot.
    #[arg(long)]
    pub readers: Option<usize>,
    /// Also write every finding as JSON to this file.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// Also scan foreign keys the source declares (they only break when data was loaded with
    /// foreign_key_checks off); by default only keys the target adds are scanned.
    #[arg(long)]
    pub all_foreign_keys: bool,
}
