//! `pgconverge-testbed gen`: fills a MySQL/MariaDB database with deterministic production-shaped data;
//! `pgconverge-testbed write`: the application writing to an Alkemio source at a fixed rate (benchmarks of following).

use anyhow::Context;
use clap::{Parser, Subcommand};

use pgconverge_testbed::facts::App;

#[derive(Parser)]
#[command(
    name = "pgconverge-testbed",
    about = "Test bed of pgconverge: sample data for the demo, tests and benchmarks."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fill a MySQL source database with deterministic production-shaped data (prints a JSON report).
    Gen {
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
    },
    /// Commit transactions into an Alkemio source at a fixed rate for a while (prints what was committed as JSON).
    Write {
        /// MySQL URL of the database, mysql://user:pass@host:port/db (a user that may write).
        #[arg(long)]
        mysql: String,
        /// Transactions per second.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// How long to write.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Keeps the ids of two writers apart.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn parse_app(s: &str) -> Result<App, String> {
    App::ALL
        .into_iter()
        .find(|a| a.name() == s)
        .ok_or_else(|| format!("unknown app {s:?}: alkemio or kratos"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PGCONVERGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Gen {
            app,
            mysql,
            create,
            scale,
            seed,
            workers,
        } => {
            let (base, db) = mysql
                .rsplit_once('/')
                .context("--mysql must end with /database")?;
            if create {
                pgconverge_testbed::gen::create_source_schema(base, db, app).await?;
            }
            let report =
                pgconverge_testbed::gen::generate(&mysql, app, seed, scale, workers).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Write {
            mysql,
            rate,
            seconds,
            seed,
        } => {
            let writer = pgconverge_testbed::writer::LiveWriter::start(&mysql, rate, seed).await?;
            tokio::time::sleep(std::time::Duration::from_secs_f64(seconds)).await;
            let done = writer.stop().await?;
            println!(
                "{}",
                serde_json::json!({
                    "transactions": done.transactions,
                    "seconds": seconds,
                    "pairs": done.pairs.len(),
                    "deleted": done.deleted.len(),
                    "updates": done.updates,
                    "rekeyed": done.rekeyed.len(),
                })
            );
        }
    }
    Ok(())
}
