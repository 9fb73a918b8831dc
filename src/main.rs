//! pgconverge command-line entry point: parses flags into one settings struct per command, runs it through the
//! library (`pgconverge::commands`), maps errors to the documented exit codes.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use pgconverge::commands::{self, session::Tuning};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "pgconverge",
    version,
    about = "Moves a MySQL/MariaDB database into PostgreSQL inside a cut-over window."
)]
#[command(
    after_help = "Exit codes: 0 success; 1 internal error; 2 usage error; 3 connection error; \
4 schema contract violation; 5 data violation; 6 verification mismatch; 130 interrupted."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the schema contract: every source table and column mapped or skipped, every type pair convertible.
    Plan(PlanArgs),
    /// Copy every mapped table from the source into the target (runs the contract check first).
    Migrate(MigrateArgs),
    /// Rehearsal preflight: read the whole source through the data path, write nothing, report every bad row.
    Check(CheckArgs),
    /// Write every mapped table as CSV files with a manifest (the target is only read, for its schema).
    Export(ExportArgs),
    /// Load an export directory into the target, after checking the manifest and every file's SHA-256.
    Import(ImportArgs),
    /// Prove the target holds what the source holds: row counts, every value (canonical digests by key), foreign
    /// keys, sequences and the mapping's critical-data checks; prints the verification checklist. Only reads.
    #[command(
        after_help = "Example:\n  pgconverge verify --mapping mappings/alkemio.toml --checklist checklist.md --report verify.json\n\n\
Exit 0 when everything matches, 6 when anything differs (each difference named by table, key and column)."
    )]
    Verify(VerifyArgs),
    /// Return the target to its state before an unfinished run (interrupted, killed or failed), from the run's
    /// ledger: loaded tables emptied, seeded rows, foreign keys and sequences as they were, ledger removed.
    Reset(ResetArgs),
}

/// Where the data comes from and goes to. Passwords in URLs are never printed.
#[derive(Args)]
struct Endpoints {
    /// Source URL, mysql://user:pass@host:port/database.
    #[arg(long, env = "PGCONVERGE_SOURCE", hide_env_values = true)]
    source: String,
    /// Target URL, postgres://user:pass@host:port/database.
    #[arg(long, env = "PGCONVERGE_TARGET", hide_env_values = true)]
    target: String,
    /// Mapping file (mappings/alkemio.toml, mappings/kratos.toml).
    #[arg(long)]
    mapping: std::path::PathBuf,
}

impl From<Endpoints> for commands::session::Endpoints {
    fn from(e: Endpoints) -> Self {
        commands::session::Endpoints {
            source: e.source,
            target: e.target,
            mapping: e.mapping,
        }
    }
}

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
}

/// How the source is read and the chunks are cut (migrate, export).
#[derive(Args)]
struct TuningArgs {
    /// Source connections reading chunks in parallel [default: cores, at most 4].
    #[arg(long)]
    readers: Option<usize>,
    /// Target connections (or file writers) in parallel [default: cores, at most 4].
    #[arg(long)]
    writers: Option<usize>,
    /// Target rows per chunk (one COPY transaction, or one file, each).
    #[arg(long, default_value_t = 200_000)]
    chunk_rows: u64,
    /// Target bytes per chunk (by the source's size estimate), e.g. 64MiB; the smaller chunk of the two limits
    /// wins.
    #[arg(long, default_value = "64MiB", value_parser = pgconverge::util::size::parse)]
    chunk_bytes: u64,
    /// Rows per Arrow batch.
    #[arg(long, default_value_t = 8192)]
    batch_rows: usize,
    /// Memory budget for all queued batches, e.g. 512MiB or 2G; batch sizes are derived from it.
    #[arg(long, default_value = "512MiB", value_parser = pgconverge::util::size::parse)]
    max_memory: u64,
    /// The source receives no writes: read without the global read lock (for users without RELOAD).
    #[arg(long)]
    source_quiesced: bool,
}

impl TuningArgs {
    fn tuning(&self) -> Tuning {
        let mut t = Tuning::default();
        t.readers = self.readers.unwrap_or(t.readers);
        t.writers = self.writers.unwrap_or(t.writers);
        t.chunk_rows = self.chunk_rows;
        t.chunk_bytes = self.chunk_bytes;
        t.batch_rows = self.batch_rows;
        t.max_memory = self.max_memory;
        t.source_quiesced = self.source_quiesced;
        t
    }
}

#[derive(Args)]
struct ExportArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    #[command(flatten)]
    tuning: TuningArgs,
    /// The export directory: DIR/<table>/<chunk>.csv and DIR/manifest.json (docs/csv-format.md).
    #[arg(long)]
    out: std::path::PathBuf,
    /// Empty a non-empty export directory first instead of refusing.
    #[arg(long)]
    replace: bool,
    /// Write the run report as JSON to this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct ImportArgs {
    /// Target URL, postgres://user:pass@host:port/database.
    #[arg(long, env = "PGCONVERGE_TARGET", hide_env_values = true)]
    target: String,
    /// Mapping file the export was made with.
    #[arg(long)]
    mapping: std::path::PathBuf,
    /// The export directory (with manifest.json).
    #[arg(long)]
    from: std::path::PathBuf,
    /// Files read in parallel [default: cores, at most 4].
    #[arg(long)]
    readers: Option<usize>,
    /// Target connections running COPY in parallel [default: cores, at most 4].
    #[arg(long)]
    writers: Option<usize>,
    /// Delete rows already in the target tables (not only the seeded ones) instead of refusing.
    #[arg(long)]
    replace: bool,
    /// Continue an interrupted import from its ledger: loaded files are skipped, the rest is loaded.
    #[arg(long)]
    resume: bool,
    /// Write the run report as JSON to this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct MigrateArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    #[command(flatten)]
    tuning: TuningArgs,
    /// Delete rows already in the target tables (not only the seeded ones) instead of refusing.
    #[arg(long)]
    replace: bool,
    /// Keep a CSV snapshot of exactly what was loaded, one file per chunk (CSV format only).
    #[arg(long, conflicts_with = "copy_format")]
    csv_dir: Option<std::path::PathBuf>,
    /// Wire format of COPY: csv (the default, same as exported files) or binary.
    #[arg(long, value_parser = ["csv", "binary"])]
    copy_format: Option<String>,
    /// Keep a Parquet snapshot of exactly what was loaded (all columns in their PostgreSQL text form), one file
    /// per chunk.
    #[arg(long)]
    parquet_dir: Option<std::path::PathBuf>,
    /// Write the run report as JSON to this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    /// Continue an interrupted run from its ledger: loaded chunks are skipped, the rest is loaded.
    #[arg(long)]
    resume: bool,
    /// Skip the verification after the load (`pgconverge verify` runs it later; the source must not have
    /// changed in between).
    #[arg(long)]
    no_verify: bool,
    /// Write the verification checklist as Markdown to this file.
    #[arg(long, conflicts_with = "no_verify")]
    checklist: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    /// Source connections reading in parallel [default: cores, at most 4].
    #[arg(long)]
    readers: Option<usize>,
    /// Target connections reading back in parallel [default: cores, at most 4].
    #[arg(long)]
    writers: Option<usize>,
    /// The source receives no writes: read without the global read lock (for users without RELOAD).
    #[arg(long)]
    source_quiesced: bool,
    /// Write the report as JSON to this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    /// Write the checklist as Markdown to this file (it is printed in any case).
    #[arg(long)]
    checklist: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct ResetArgs {
    /// Target URL, postgres://user:pass@host:port/database.
    #[arg(long, env = "PGCONVERGE_TARGET", hide_env_values = true)]
    target: String,
    /// Mapping file (mappings/alkemio.toml, mappings/kratos.toml).
    #[arg(long)]
    mapping: std::path::PathBuf,
    /// Do it; without this flag reset only prints what it would do.
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    /// Source connections reading in parallel [default: cores, at most 4].
    #[arg(long)]
    readers: Option<usize>,
    /// The source receives no writes: read without the global read lock (for users without RELOAD).
    #[arg(long)]
    source_quiesced: bool,
    /// Also write every finding as JSON to this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    /// Also scan foreign keys the source declares (they only break when data was loaded with
    /// foreign_key_checks off); by default only keys the target adds are scanned.
    #[arg(long)]
    all_foreign_keys: bool,
}

/// mimalloc's `mi_option_purge_delay`: position 15 of `mi_option_e` in both mimalloc v2 and v3 headers shipped by
/// libmimalloc-sys 0.1.49 (the crate's Rust constants predate the option).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for a second before returning it to the OS, since every batch allocates and frees a few
/// MiB. With transparent huge pages on (`no_thp` feature, Cargo.toml) every fresh fault zeroed 2 MiB: `perf`
/// showed a third of the client's CPU in the kernel's clear_page, and `perf stat` 20% less task-clock without
/// it. Peak memory is bounded by the queues, so keeping it a little longer costs nothing.
fn tune_allocator() {
    // SAFETY: mi_option_set writes one entry of mimalloc's option table and is documented as not thread safe; it
    // runs first thing in main, before any thread is spawned, and the option index is checked above. The option
    // only changes when freed pages are purged, never which memory is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PGCONVERGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pgconverge: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pgconverge: {}", message_of(&e));
            ExitCode::from(exit_code_of(&e))
        }
    }
}

/// The error and its causes, skipping causes whose text the message already carries (our errors embed them).
fn message_of(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    msg
}

fn exit_code_of(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<pgconverge::error::Error>() {
        Some(e) => e.exit_code(),
        None => 1,
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plan(a) => {
            let e = &a.endpoints;
            commands::plan::plan_command(&e.source, &e.target, &e.mapping, a.report.as_deref())
                .await?;
        }
        Command::Migrate(a) => {
            let tuning = a.tuning.tuning();
            let settings = commands::migrate::Settings {
                endpoints: a.endpoints.into(),
                tuning,
                replace: a.replace,
                csv_dir: a.csv_dir,
                parquet_dir: a.parquet_dir,
                binary: a.copy_format.as_deref() == Some("binary"),
                resume: a.resume,
                report: a.report,
                verify: !a.no_verify,
                checklist: a.checklist,
            };
            commands::migrate::command(&settings).await?;
        }
        Command::Check(a) => {
            let mut tuning = Tuning::default();
            // Reading and checking only: one more reader than the default, since no COPY competes for the cores.
            tuning.readers = a.readers.unwrap_or(tuning.readers + 1);
            tuning.source_quiesced = a.source_quiesced;
            let settings = commands::check::Settings {
                endpoints: a.endpoints.into(),
                tuning,
                all_foreign_keys: a.all_foreign_keys,
                report: a.report,
            };
            if commands::check::command(&settings).await?.violations > 0 {
                return Ok(ExitCode::from(5));
            }
        }
        Command::Export(a) => {
            let settings = commands::export::Settings {
                endpoints: a.endpoints.into(),
                tuning: a.tuning.tuning(),
                out: a.out,
                replace: a.replace,
                report: a.report,
            };
            commands::export::command(&settings).await?;
        }
        Command::Import(a) => {
            let mut tuning = Tuning::default();
            tuning.readers = a.readers.unwrap_or(tuning.readers);
            tuning.writers = a.writers.unwrap_or(tuning.writers);
            let settings = commands::import::Settings {
                target: a.target,
                mapping: a.mapping,
                from: a.from,
                tuning,
                replace: a.replace,
                resume: a.resume,
                report: a.report,
            };
            commands::import::command(&settings).await?;
        }
        Command::Verify(a) => {
            let mut tuning = Tuning::default();
            tuning.readers = a.readers.unwrap_or(tuning.readers);
            tuning.writers = a.writers.unwrap_or(tuning.writers);
            tuning.source_quiesced = a.source_quiesced;
            let settings = commands::verify::Settings {
                endpoints: a.endpoints.into(),
                tuning,
                report: a.report,
                checklist: a.checklist,
            };
            commands::verify::command(&settings).await?;
        }
        Command::Reset(a) => {
            let settings = commands::reset::Settings {
                target: a.target,
                mapping: a.mapping,
                yes: a.yes,
            };
            commands::reset::command(&settings).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
