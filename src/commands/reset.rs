//! `pgconverge reset`: returns a target to its state before the run its ledger records, whatever that run left
//! (completed, interrupted, killed at any instant, failed while restoring), or accepts a completed run
//! (`--keep-data`: the baseline goes, the data stays). Without `--yes` it only says what it would do.

use crate::config::ResetSettings as Settings;
use crate::cutover::{self, follow_ledger, ledger};
use crate::error::Error;
use crate::mapping::Mapping;

/// What reset found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No ledger and no loaded rows: nothing to do.
    Pristine,
    /// The ledger says what would be done; nothing was changed (no `--yes`).
    WouldRestore,
    Restored,
    /// `--keep-data`: only the completed run's ledger would go / went.
    WouldAccept,
    Accepted,
}

pub async fn command(settings: &Settings) -> Result<Outcome, Error> {
    let mapping = Mapping::load(&settings.mapping)?;
    let mut client = crate::connect::target(&settings.target).await?;
    let Some(run) = ledger::read_run(&client).await? else {
        if ledger::is_empty_ledger(&client).await? {
            return empty_ledger(&client, settings.yes).await;
        }
        return no_ledger(&client, &mapping).await;
    };
    if follow_ledger::follow_state(&client)
        .await?
        .is_some_and(|f| !f.done)
    {
        let running = ledger::migrate_sessions(&client).await?;
        if !running.is_empty() {
            return Err(Error::Refused(format!(
                "refusing: a follower is applying the source's changes to this target now ({}); stop it first                  (Ctrl-C, or end it with `pgconverge cutover`), then run this again; nothing was changed",
                running.join(", ")
            )));
        }
    }
    if settings.keep_data {
        return accept(&client, &run, settings.yes).await;
    }
    let r = cutover::restoration(&client, &run).await?;
    let verb = if settings.yes {
        "Restoring"
    } else {
        "Would restore"
    };
    if run.is_completed() {
        let changed = ledger::changed_since_completed(&client, &run.target_schema).await?;
        if !changed.is_empty() {
            let list: Vec<String> = changed
                .iter()
                .map(|(t, then, now)| format!("{t} ({then} rows at the end of the run, {now} now)"))
                .collect();
            if !settings.force {
                return Err(Error::Refused(format!(
                    "refusing to reset: rows were written or deleted after the run completed, in {}; a reset \
                     would discard them. Nothing was changed; to discard them too, run `pgconverge reset --force` \
                     (add --yes to act)",
                    list.join(", ")
                )));
            }
            println!(
                "Rows written or deleted after the run completed are discarded (--force): {}",
                list.join(", ")
            );
        }
    }
    if r.untouched {
        println!(
            "{verb}: the run stopped before it changed any table; only its ledger (schema {}) goes.",
            ledger::LEDGER_SCHEMA
        );
    } else {
        let what = if run.is_completed() {
            "completed"
        } else {
            "unfinished"
        };
        println!(
            "{verb} the target to its state before the {what} {} (schema {}):",
            run.command, run.target_schema
        );
        println!("  empty {} loaded tables", r.tables_emptied.len());
        for (table, rows) in &r.saved_rows {
            println!("  put back {rows} saved row(s) of {table}");
        }
        println!("  re-create {} foreign keys by name", r.foreign_keys);
        println!("  reset {} owned sequences", r.sequences);
        println!("  drop the ledger schema {}", ledger::LEDGER_SCHEMA);
    }
    if !settings.yes {
        println!("Nothing was changed. Run `pgconverge reset --yes` with the same flags to do it.");
        return Ok(Outcome::WouldRestore);
    }
    // One transaction of a few steps: the bar shows the step running (on a terminal) or a line per step.
    let progress = crate::progress::Progress::new(
        "reset",
        r.saved_rows.iter().map(|(_, n)| *n as u64).sum(),
        crate::progress::Unit::Rows,
    );
    let step = |s: &str| progress.phase(s);
    cutover::restore(&mut client, &run, &step).await?;
    progress.finish();
    println!("Done: the target is back to its state before the run.");
    Ok(Outcome::Restored)
}

/// `--keep-data`: a completed run is accepted, its ledger (the baseline) dropped; an unfinished run is refused
/// (its data is partial).
async fn accept(
    client: &tokio_postgres::Client,
    run: &ledger::Run,
    yes: bool,
) -> Result<Outcome, Error> {
    if !run.is_completed() {
        return Err(Error::Refused(format!(
            "refusing --keep-data: the run in this target did not complete (its data is partial); finish it with \
             `pgconverge {} --resume`, or return the target to its state before it with `pgconverge reset --yes`",
            run.command
        )));
    }
    if !yes {
        println!(
            "Would drop the ledger schema {} of the completed {} and keep its data; afterwards `pgconverge reset` \
             can no longer return this target to its state before the run. Nothing was changed. Run `pgconverge \
             reset --keep-data --yes` with the same flags to do it.",
            ledger::LEDGER_SCHEMA,
            run.command
        );
        return Ok(Outcome::WouldAccept);
    }
    ledger::drop_ledger(client).await?;
    println!(
        "Done: the ledger schema {} is gone, the data of the completed {} stays.",
        ledger::LEDGER_SCHEMA,
        run.command
    );
    Ok(Outcome::Accepted)
}

/// Without a ledger there is no run to undo: pristine, or rows that reset did not see loaded.
/// A ledger that records no run (a run stopped right after creating it): nothing else was changed, so the ledger
/// is all there is to remove.
async fn empty_ledger(client: &tokio_postgres::Client, yes: bool) -> Result<Outcome, Error> {
    if !yes {
        println!(
            "Would remove the empty ledger (schema {}, no run recorded: a run was stopped right after creating it, \
             before changing anything else); run with --yes to do it.",
            ledger::LEDGER_SCHEMA
        );
        return Ok(Outcome::WouldRestore);
    }
    ledger::drop_empty_ledger(client).await?;
    println!(
        "Removed the empty ledger (schema {}): a run was stopped right after creating it, before changing anything \
         else; the target is as its migrations left it.",
        ledger::LEDGER_SCHEMA
    );
    Ok(Outcome::Restored)
}

async fn no_ledger(client: &tokio_postgres::Client, mapping: &Mapping) -> Result<Outcome, Error> {
    let tables = crate::schema::pg::introspect(client, &mapping.target_schema).await?;
    let names: Vec<&str> = tables
        .iter()
        .map(|t| t.name.as_str())
        .filter(|t| !mapping.target_only_tables.contains_key(*t))
        .collect();
    let occupied = cutover::occupied_tables(
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
    Err(Error::Refused(format!(
        "refusing to reset: tables {} hold rows, and there is no ledger (schema {}) of a pgconverge run to undo \
         (its baseline was dropped by `reset --keep-data`, or the rows come from elsewhere); to start again, \
         re-create the target database with the application's migrations",
        occupied.join(", "),
        ledger::LEDGER_SCHEMA
    )))
}
