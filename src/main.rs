//! pgconverge command-line entry point: parses flags, runs one subcommand, maps errors to documented exit codes.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use pgconverge::facts::App;

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
    /// Test bed: fill a MySQL source database with deterministic production-shaped data.
    #[command(hide = true)]
    Gen(GenArgs),
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

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct GenArgs {
    /// Application whose schema the database holds: alkemio or kratos.
    #[arg(long, value_parser = parse_app)]
    app: App,
    /// MySQL URL of the database to fill, mysql://user:pass@host:port/db.
    #[arg(long)]
    mysql: String,
    /// Drop and re-create the database with the app's fixture schema first.
    #[arg(long)]
    create: bool,
    /// Size factor: 1 is the production shape (about 3.5 million Alkemio rows).
    #[arg(long, default_value_t = 0.01)]
    scale: f64,
    /// Seed of the deterministic value streams.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Parallel inserting connections.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

fn parse_app(s: &str) -> Result<App, String> {
    App::ALL
        .into_iter()
        .find(|a| a.name() == s)
        .ok_or_else(|| format!("unknown app {s:?}: alkemio or kratos"))
}

fn main() -> ExitCode {
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
            eprintln!("pgconverge: {e:#}");
            ExitCode::from(exit_code_of(&e))
        }
    }
}

fn exit_code_of(e: &anyhow::Error) -> u8 {
    if let Some(e) = e.downcast_ref::<pgconverge::error::Error>() {
        return e.exit_code();
    }
    if let Some(g) = e.downcast_ref::<pgconverge::gen::GenError>() {
        return match g {
            pgconverge::gen::GenError::Connect { .. } | pgconverge::gen::GenError::Url(_) => 3,
            _ => 1,
        };
    }
    1
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plan(a) => {
            let e = &a.endpoints;
            pgconverge::commands::plan_command(
                &e.source,
                &e.target,
                &e.mapping,
                a.report.as_deref(),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Gen(a) => {
            let (base, db) = a
                .mysql
                .rsplit_once('/')
                .context("--mysql must end with /database")?;
            if a.create {
                pgconverge::gen::create_source_schema(base, db, a.app).await?;
            }
            let report =
                pgconverge::gen::generate(&a.mysql, a.app, a.seed, a.scale, a.workers).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
