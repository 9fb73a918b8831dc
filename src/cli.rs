//! The command line: every subcommand, flag and its help text (clap). The binary parses it; tests parse the
//! commands the documentation shows, so the docs cannot drift from the CLI.

use clap::{Args, Parser, Subcommand};

use crate::commands::{self, session::Tuning};
use crate::sink::copy::ToastCompression;

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
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// No progress display and only warnings and errors in the log.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log detail: -v debug for pgconverge, -vv debug for everything (server notices included).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log line format on stderr: text (colour only on a terminal) or json (one object per line).
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,
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
        after_help = "Examples:\n  pgconverge migrate --mapping mappings/alkemio.toml --report migrate.json --checklist checklist.md\n  pgconverge migrate --mapping mappings/alkemio.toml --resume\n\nExit 0 loaded and verified; 5 a bad row (the target is restored); 6 the target differs; 3 or 130 resumable (--resume, or `pgconverge reset --yes`)."
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
    /// Target rows per chunk (one COPY transaction, or one file, each).
    #[arg(long, default_value_t = 200_000)]
    pub chunk_rows: u64,
    /// Target bytes per chunk (by the source's size estimate), e.g. 64MiB; the smaller chunk of the two limits
    /// wins.
    #[arg(long, default_value = "64MiB", value_parser = crate::util::size::parse)]
    pub chunk_bytes: u64,
    /// Rows per Arrow batch.
    #[arg(long, default_value_t = 8192)]
    pub batch_rows: usize,
    /// Memory budget for all queued batches, e.g. 512MiB or 2G; batch sizes are derived from it.
    #[arg(long, default_value = "512MiB", value_parser = crate::util::size::parse)]
    pub max_memory: u64,
    /// The source receives no writes: read without the global read lock (for users without RELOAD).
    #[arg(long)]
    pub source_quiesced: bool,
    /// How long the snapshot's global read lock may wait behind write statements still running on the source
    /// (`10s`, `1m`, or seconds);
    /// it holds back new writes while it waits, then gives up naming them.
    #[arg(long, default_value = "10s", value_parser = crate::util::duration::parse)]
    pub lock_wait: u64,
}

impl TuningArgs {
    pub fn tuning(&self) -> Tuning {
        let mut t = Tuning::default();
        t.readers = self.readers.unwrap_or(t.readers);
        t.writers = self.writers.unwrap_or(t.writers);
        t.chunk_rows = self.chunk_rows;
        t.chunk_bytes = self.chunk_bytes;
        t.batch_rows = self.batch_rows;
        t.max_memory = self.max_memory;
        t.source_quiesced = self.source_quiesced;
        t.lock_wait = self.lock_wait;
        t
    }
}

/// How the COPY sessions store what they load (migrate, import).
#[derive(Args)]
pub struct LoadArgs {
    /// How PostgreSQL compresses the large values (TOAST) the load writes: lz4 (the default, where the server was
    /// built with it: several times cheaper than pglz) or pglz (PostgreSQL's own default). A column given its own
    /// COMPRESSION by the schema keeps it.
    #[arg(long, value_enum, default_value_t = ToastCompression::Lz4)]
    pub toast_compression: ToastCompression,
    /// Finish each table (VACUUM (ANALYZE), row count, its foreign keys re-created and validated) as soon as it
    /// and its parents are loaded, while other tables still load: on, off (all of it after the load), or auto
    /// (the default: on when this machine has at least two cores more than --writers; it runs on one more target
    /// session, which on a machine without cores to spare competes with the load: on 2 cores it was slower).
    #[arg(long, value_enum, default_value_t = FinishEarly::Auto)]
    pub finish_early: FinishEarly,
}

/// `--finish-early`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum FinishEarly {
    On,
    Off,
    Auto,
}

impl LoadArgs {
    /// Puts the loading flags into `tuning` (its writers already set).
    pub fn apply(&self, tuning: &mut Tuning) {
        tuning.toast_compression = Some(self.toast_compression);
        tuning.finish_early = self
            .finish_early
            .resolve(tuning.writers, commands::session::cores());
    }
}

impl FinishEarly {
    /// Whether to finish tables during the load, given the writers and this machine's cores.
    pub fn resolve(self, writers: usize, cores: usize) -> bool {
        match self {
            FinishEarly::On => true,
            FinishEarly::Off => false,
            FinishEarly::Auto => cores >= writers + 2,
        }
    }
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
    /// Files per chunk: csv (what `import` and `psql` load), parquet (typed), or both.
    #[arg(long, default_value = "csv", value_parser = ["csv", "parquet", "both"])]
    pub format: String,
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
    /// Files per chunk in the --keep directory: csv, parquet (typed), or both.
    #[arg(long, default_value = "csv", value_parser = ["csv", "parquet", "both"], requires = "keep")]
    pub keep_format: String,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Wire format of COPY: binary (the default: PostgreSQL skips text parsing) or csv (what exported files hold).
    #[arg(long, value_parser = ["csv", "binary"])]
    pub copy_format: Option<String>,
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
    /// (`10s`, `1m`, or seconds);
    /// it holds back new writes while it waits, then gives up naming them.
    #[arg(long, default_value = "10s", value_parser = crate::util::duration::parse)]
    pub lock_wait: u64,
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
pub struct CheckArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// Source connections reading in parallel [default: cores, at most 4]. `check` never takes the global read
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

#[cfg(test)]
mod tests {
    use super::FinishEarly;

    #[test]
    fn finish_early_auto_needs_two_cores_beyond_the_writers() {
        assert!(!FinishEarly::Auto.resolve(2, 2), "the benchmark machine");
        assert!(!FinishEarly::Auto.resolve(1, 2));
        assert!(FinishEarly::Auto.resolve(4, 8));
        assert!(FinishEarly::On.resolve(2, 2));
        assert!(!FinishEarly::Off.resolve(1, 16));
    }
}
