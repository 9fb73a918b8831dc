//! The PostgreSQL target around the load: refuse unexpected rows, drop and later re-create foreign keys with
//! identical names and definitions, delete seeded rows (saved first), set owned sequences, and put it all back
//! (`restore`); `ledger` keeps the run's state.
//!
//! Everything works as a non-superuser that owns the tables: no `session_replication_role`, no triggers off.

pub mod error;
mod finish;
pub mod follow_ledger;
pub mod helpers;
pub mod ledger;

use tokio_postgres::Client;

use error::pg;
pub use error::TargetError;
pub use finish::{finish, finish_early, foreign_key_states, restore_keys, set_sequences, Loading};
pub use ledger::{DroppedFk, LEDGER_SCHEMA};

use crate::schema::TargetTable;
use crate::util::sql::{pg_ident, pg_qualified};

/// Refuses tables holding rows no migration seeded, unless `replace`. Runs before anything is changed.
pub async fn check_occupied(
    client: &Client,
    schema: &str,
    tables: &[&TargetTable],
    seeded: &[String],
    replace: bool,
) -> Result<(), TargetError> {
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let occupied = occupied_tables(client, schema, &names, seeded).await?;
    if !occupied.is_empty() && !replace {
        return Err(TargetError::Occupied(occupied));
    }
    Ok(())
}

/// The tables of `tables` that hold rows, leaving out the `seeded` ones (their rows came from the migrations).
pub async fn occupied_tables(
    client: &Client,
    schema: &str,
    tables: &[&str],
    seeded: &[String],
) -> Result<Vec<String>, TargetError> {
    let mut occupied = Vec::new();
    for t in tables.iter().filter(|t| !seeded.iter().any(|s| s == *t)) {
        let has: bool = client
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM {})", pg_qualified(schema, t)),
                &[],
            )
            .await
            .map_err(pg(format!("checking {t}")))?
            .get(0);
        if has {
            occupied.push(t.to_string());
        }
    }
    Ok(occupied)
}

/// Before the load, in one transaction: drop the foreign keys touching the loaded tables (recorded in the
/// ledger) and delete seeded rows (or every row with `replace`).
pub async fn prepare(
    client: &mut Client,
    schema: &str,
    tables: &[&TargetTable],
    seeded: &[String],
    replace: bool,
) -> Result<Vec<DroppedFk>, TargetError> {
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    // Every FK whose child or parent is loaded: a parent's delete or load must not be blocked by it.
    let mut fks = Vec::new();
    let all = crate::schema::pg::introspect(client, schema).await?;
    for t in &all {
        for c in t.constraints.iter().filter(|c| c.kind == 'f') {
            let parent = c.ref_table.clone().unwrap_or_default();
            if names.contains(&t.name.as_str()) || names.contains(&parent.as_str()) {
                fks.push(DroppedFk {
                    table: t.name.clone(),
                    name: c.name.clone(),
                    definition: c.definition.clone(),
                    columns: c.columns.clone(),
                    ref_table: parent,
                    ref_columns: c.ref_columns.clone(),
                });
            }
        }
    }
    let tx = client
        .transaction()
        .await
        .map_err(pg("preparing the target"))?;
    let json = serde_json::to_string(&fks).expect("foreign keys serialize");
    tx.execute(
        &format!(
            "UPDATE {}.run SET dropped_fks = $1::text::jsonb, state = 'loading'",
            pg_ident(LEDGER_SCHEMA)
        ),
        &[&json],
    )
    .await
    .map_err(pg("recording foreign keys"))?;
    drop_foreign_keys(&tx, schema, &fks, false).await?;
    // What a restore puts back: every row the run deletes (the seeded ones; with `replace`, any), copied as they
    // are into the ledger before they go, and the state of every sequence the load will move.
    let ledger = pg_ident(LEDGER_SCHEMA);
    for (i, t) in tables.iter().enumerate() {
        if replace || seeded.contains(&t.name) {
            let copy = format!("saved_{i}");
            let rows = tx
                .execute(
                    &format!(
                        "CREATE TABLE {ledger}.{} AS SELECT * FROM {}",
                        pg_ident(&copy),
                        pg_qualified(schema, &t.name)
                    ),
                    &[],
                )
                .await
                .map_err(pg(format!("saving the rows of {}", t.name)))?;
            if rows == 0 && !seeded.contains(&t.name) {
                tx.batch_execute(&format!("DROP TABLE {ledger}.{}", pg_ident(&copy)))
                    .await
                    .map_err(pg(format!("saving the rows of {}", t.name)))?;
                continue;
            }
            tx.execute(
                &format!("INSERT INTO {ledger}.saved VALUES ($1, $2, $3)"),
                &[&t.name, &copy, &(rows as i64)],
            )
            .await
            .map_err(pg(format!("saving the rows of {}", t.name)))?;
        }
        for seq in t.columns.iter().filter_map(|c| c.owned_sequence.as_ref()) {
            tx.execute(
                &format!(
                    "INSERT INTO {ledger}.sequence SELECT $1, last_value, is_called FROM {seq} \
                     ON CONFLICT (name) DO NOTHING"
                ),
                &[seq],
            )
            .await
            .map_err(pg(format!("saving sequence {seq}")))?;
        }
    }
    for t in tables {
        if replace || seeded.contains(&t.name) {
            tx.batch_execute(&format!("DELETE FROM {}", pg_qualified(schema, &t.name)))
                .await
                .map_err(pg(format!("deleting seeded rows of {}", t.name)))?;
        }
    }
    crate::durable::commit(tx, || {
        "target prepared: keys dropped and recorded, seeded rows saved and deleted (loading)".into()
    })
    .await
    .map_err(pg("preparing the target"))?;
    Ok(fks)
}

/// Drops `fks` inside `tx` (`if_exists`: those present only).
async fn drop_foreign_keys(
    tx: &tokio_postgres::Transaction<'_>,
    schema: &str,
    fks: &[DroppedFk],
    if_exists: bool,
) -> Result<(), TargetError> {
    for fk in fks {
        tx.batch_execute(&format!(
            "ALTER TABLE {} DROP CONSTRAINT {}{}",
            pg_qualified(schema, &fk.table),
            if if_exists { "IF EXISTS " } else { "" },
            pg_ident(&fk.name)
        ))
        .await
        .map_err(pg(format!(
            "dropping foreign key {} on {}",
            fk.name, fk.table
        )))?;
    }
    Ok(())
}

/// What [`restore`] would do, for `reset` to show before it acts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Restoration {
    /// The run never got past preparing: the target is untouched, only the ledger goes.
    pub untouched: bool,
    pub tables_emptied: Vec<String>,
    /// Rows the run deleted (seeded, or any with `--replace`) and a restore puts back, by table.
    pub saved_rows: Vec<(String, i64)>,
    pub foreign_keys: usize,
    pub sequences: usize,
}

/// Reads from the ledger what a restore would put back.
pub async fn restoration(client: &Client, run: &ledger::Run) -> Result<Restoration, TargetError> {
    if run.state == "preparing" {
        return Ok(Restoration {
            untouched: true,
            ..Default::default()
        });
    }
    let l = pg_ident(LEDGER_SCHEMA);
    let saved_rows = client
        .query(
            &format!("SELECT table_name, rows FROM {l}.saved ORDER BY 1"),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let sequences: i64 = client
        .query_one(&format!("SELECT count(*) FROM {l}.sequence"), &[])
        .await
        .map_err(pg("reading the ledger"))?
        .get(0);
    Ok(Restoration {
        untouched: false,
        tables_emptied: run.tables.clone(),
        saved_rows,
        foreign_keys: run.dropped_fks.len(),
        sequences: sequences as usize,
    })
}

/// Returns the target to its state before the run the ledger records (unfinished or completed), in one transaction:
/// every loaded table emptied, the rows the run deleted put back as they were, every dropped foreign key re-created by
/// name, the owned sequences as they were, the ledger removed. Safe at any point of a run (idempotent: a failed restore
/// leaves everything as it was, and running it again does the same).
///
/// `step` hears each step as it starts (`drop keys`, `empty tables`, `put back <table>`, `re-create keys`,
/// `sequences`), for a progress display.
pub async fn restore(
    client: &mut Client,
    run: &ledger::Run,
    step: &(dyn Fn(&str) + Sync),
) -> Result<(), TargetError> {
    let schema = run.target_schema.as_str();
    let l = pg_ident(LEDGER_SCHEMA);
    let tx = client
        .transaction()
        .await
        .map_err(pg("restoring the target"))?;
    step("drop helper indexes");
    tx.batch_execute(&helpers::drop_helper_indexes_sql())
        .await
        .map_err(pg("dropping the follow phase's helper indexes"))?;
    if run.state != "preparing" {
        // Keys restored by a finish (all of them after a completed run) are dropped again so that every loaded
        // table can be emptied.
        step("drop keys");
        drop_foreign_keys(&tx, schema, &run.dropped_fks, true).await?;
        step("empty tables");
        if !run.tables.is_empty() {
            let list: Vec<String> = run.tables.iter().map(|t| pg_qualified(schema, t)).collect();
            tx.batch_execute(&format!("TRUNCATE {}", list.join(", ")))
                .await
                .map_err(pg("emptying the loaded tables"))?;
        }
        let saved = tx
            .query(&format!("SELECT table_name, copy FROM {l}.saved"), &[])
            .await
            .map_err(pg("reading the saved rows"))?;
        for row in saved {
            let (table, copy): (String, String) = (row.get(0), row.get(1));
            step(&format!("put back {table}"));
            let t = pg_qualified(schema, &table);
            // Generated columns take no value; identity columns take the saved one.
            let cols: String = tx
                .query_one(
                    "SELECT coalesce(string_agg(quote_ident(attname), ', ' ORDER BY attnum), '') FROM pg_attribute \
                     WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
                    &[&t],
                )
                .await
                .map_err(pg(format!("listing the columns of {table}")))?
                .get(0);
            tx.batch_execute(&format!(
                "INSERT INTO {t} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM {l}.{}",
                pg_ident(&copy)
            ))
            .await
            .map_err(pg(format!("putting back the saved rows of {table}")))?;
        }
        step("re-create keys");
        for fk in &run.dropped_fks {
            tx.batch_execute(&format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}",
                pg_qualified(schema, &fk.table),
                pg_ident(&fk.name),
                fk.definition
            ))
            .await
            .map_err(pg(format!(
                "re-creating foreign key {} on {}",
                fk.name, fk.table
            )))?;
        }
        step("sequences");
        tx.batch_execute(&format!(
            "SELECT setval(name::regclass, last_value, is_called) FROM {l}.sequence"
        ))
        .await
        .map_err(pg("resetting sequences"))?;
    }
    tx.batch_execute(&format!("DROP SCHEMA {l} CASCADE"))
        .await
        .map_err(pg("dropping the ledger"))?;
    crate::durable::commit(tx, || "target restored, ledger dropped".into())
        .await
        .map_err(pg("restoring the target"))
}
