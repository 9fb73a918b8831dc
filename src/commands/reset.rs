//! `pgconverge reset`: returns a target to its state before the run its ledger records, whatever that run left
//! (interrupted, killed at any instant, failed while restoring). Without `--yes` it only says what it would do.

use std::path::PathBuf;

use crate::error::Error;
use crate::mapping::Mapping;
use crate::target::{self, ledger};

/// Everything `pgconverge reset` was asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    pub target: String,
    pub mapping: PathBuf,
    /// Act; without it nothing is changed.
    pub yes: bool,
}

/// What reset found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No ledger and no loaded rows: nothing to do.
    Pristine,
    /// The ledger says what would be done; nothing was changed (no `--yes`).
    WouldRestore,
    Restored,
}

pub async fn command(settings: &Settings) -> Result<Outcome, Error> {
    let mapping = Mapping::load(&settings.mapping)?;
    let mut client = crate::connect::target(&settings.target).await?;
    let Some(run) = ledger::read_run(&client).await? else {
        return no_ledger(&client, &mapping).await;
    };
    let r = target::restoration(&client, &run).await?;
    let verb = if settings.yes {
        "Restoring"
    } else {
        "Would restore"
    };
    if r.untouched {
        println!(
            "{verb}: the run stopped before it changed any table; only its ledger (schema {}) goes.",
            ledger::LEDGER_SCHEMA
        );
    } else {
        println!(
            "{verb} the target to its state before the run (started for schema {}):",
            run.target_schema
        );
        println!("  empty {} loaded tables", r.tables_emptied.len());
        for (table, rows) in &r.seeded_rows {
            println!("  put back {rows} seeded row(s) of {table}");
        }
        println!("  re-create {} foreign keys by name", r.foreign_keys);
        println!("  reset {} owned sequences", r.sequences);
        println!("  drop the ledger schema {}", ledger::LEDGER_SCHEMA);
    }
    if !settings.yes {
        println!("Nothing was changed. Run `pgconverge reset --yes` with the same flags to do it.");
        return Ok(Outcome::WouldRestore);
    }
    target::restore(&mut client, &run).await?;
    println!("Done: the target is back to its state before the run.");
    Ok(Outcome::Restored)
}

/// Without a ledger there is no unfinished run to undo: pristine, or rows that reset did not see loaded.
async fn no_ledger(client: &tokio_postgres::Client, mapping: &Mapping) -> Result<Outcome, Error> {
    let tables = crate::schema::pg::introspect(client, &mapping.target_schema).await?;
    let names: Vec<&str> = tables
        .iter()
        .map(|t| t.name.as_str())
        .filter(|t| !mapping.target_only_tables.contains_key(*t))
        .collect();
    let occupied = target::occupied_tables(
        client,
        &mapping.target_schema,
        &names,
        &mapping.seeded_tables,
    )
    .await?;
    if occupied.is_empty() {
        println!(
            "Nothing to reset: no ledger (schema {}) and no loaded rows; the target is as its migrations left it.",
            ledger::LEDGER_SCHEMA
        );
        return Ok(Outcome::Pristine);
    }
    Err(Error::Usage(format!(
        "refusing to reset: tables {} hold rows, and there is no ledger (schema {}) of an unfinished pgconverge \
         run to undo (a completed run keeps none, and rows may come from elsewhere); to start again, re-create \
         the target database with the application's migrations",
        occupied.join(", "),
        ledger::LEDGER_SCHEMA
    )))
}
