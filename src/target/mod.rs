//! The PostgreSQL target around the load: refuse unexpected rows, drop and later re-create foreign keys with
//! identical names and definitions, delete seeded rows (saved first), set owned sequences, and put it all back
//! (`restore`); `ledger` keeps the run's state.
//!
//! Everything works as a non-superuser that owns the tables: no `session_replication_role`, no triggers off.

pub mod error;
pub mod ledger;

use tokio_postgres::Client;

use error::pg;
pub use error::TargetError;
pub use ledger::{DroppedFk, LEDGER_SCHEMA};

use crate::connect::pg_message as db_message;
use crate::schema::TargetTable;
use crate::transform::{Rule, Violation};
use crate::util::sql::{pg_ident as qi, pg_qualified as qualified};

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
                &format!("SELECT EXISTS (SELECT 1 FROM {})", qualified(schema, t)),
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
            qi(LEDGER_SCHEMA)
        ),
        &[&json],
    )
    .await
    .map_err(pg("recording foreign keys"))?;
    drop_foreign_keys(&tx, schema, &fks, false).await?;
    // What a restore puts back: every row the run deletes (the seeded ones; with `replace`, any), copied as they
    // are into the ledger before they go, and the state of every sequence the load will move.
    let ledger = qi(LEDGER_SCHEMA);
    for (i, t) in tables.iter().enumerate() {
        if replace || seeded.contains(&t.name) {
            let copy = format!("saved_{i}");
            let rows = tx
                .execute(
                    &format!(
                        "CREATE TABLE {ledger}.{} AS SELECT * FROM {}",
                        qi(&copy),
                        qualified(schema, &t.name)
                    ),
                    &[],
                )
                .await
                .map_err(pg(format!("saving the rows of {}", t.name)))?;
            if rows == 0 && !seeded.contains(&t.name) {
                tx.batch_execute(&format!("DROP TABLE {ledger}.{}", qi(&copy)))
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
            tx.batch_execute(&format!("DELETE FROM {}", qualified(schema, &t.name)))
                .await
                .map_err(pg(format!("deleting seeded rows of {}", t.name)))?;
        }
    }
    tx.commit().await.map_err(pg("preparing the target"))?;
    Ok(fks)
}

/// The foreign keys of `schema` as the catalog has them: (table, key name) -> validated.
pub async fn foreign_key_states(
    client: &Client,
    schema: &str,
) -> Result<std::collections::HashMap<(String, String), bool>, TargetError> {
    Ok(client
        .query(
            "SELECT c.relname::text, k.conname::text, k.convalidated FROM pg_constraint k
             JOIN pg_class c ON c.oid = k.conrelid
             WHERE k.contype = 'f' AND k.connamespace = $1::text::regnamespace",
            &[&qi(schema)],
        )
        .await
        .map_err(pg("listing foreign keys"))?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// After the load: set owned sequences to their column's maximum, vacuum and analyze every loaded table and
/// re-create the foreign keys (an orphan is reported with its row), on every session of `clients` at once.
/// Returns each loaded table's row count, taken right after its vacuum (the ledger's baseline: counted in
/// parallel on the finish's sessions instead of one after another once the finish is over).
///
/// Each key is added `NOT VALID` first (catalog only, one session), then validated: `ADD FOREIGN KEY` would lock the
/// parent against every other key on it (Alkemio: most of its 201 keys point at one table), `VALIDATE` takes only
/// a share lock on the parent, so keys of different child tables are checked in parallel. A key is validated once
/// its table and its parent are vacuumed (measured: a validation right after the load visits the row behind every
/// key it probes and sets its hint bits, 4x slower at scale 1). A validation and a `VACUUM` of the same table would
/// wait on each other, so steps are handed out such that two sessions never hold the same table: no session waits
/// on another and none can deadlock.
pub async fn finish(
    clients: &[&Client],
    schema: &str,
    tables: &[&TargetTable],
    fks: &[DroppedFk],
) -> Result<Vec<(String, i64)>, TargetError> {
    let control = clients[0];
    // Idempotent: a resumed finish skips the keys an interrupted finish already restored.
    let existing = foreign_key_states(control, schema).await?;
    let mut validate = Vec::new();
    // One transaction for every key still missing: one commit (and WAL flush) instead of one per key (201 for
    // Alkemio); an interrupted finish rolls them all back and adds them again.
    let mut add = String::new();
    for fk in fks {
        // A key the schema itself had NOT VALID is put back as it was, unchecked.
        let unchecked = fk.definition.trim_end().ends_with("NOT VALID");
        match existing.get(&fk.key()) {
            Some(true) => continue,
            Some(false) => {}
            None => add.push_str(&format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}{};\n",
                qualified(schema, &fk.table),
                qi(&fk.name),
                fk.definition,
                if unchecked { "" } else { " NOT VALID" }
            )),
        }
        if !unchecked {
            validate.push(fk);
        }
    }
    if !add.is_empty() {
        control
            // Several statements in one simple query run as one transaction, rolled back whole on an error.
            .batch_execute(&add)
            .await
            .map_err(pg("re-creating the foreign keys NOT VALID"))?;
    }
    for t in tables {
        for c in &t.columns {
            if let Some(seq) = &c.owned_sequence {
                let col = qi(&c.name);
                control
                    .execute(
                        &format!(
                            "SELECT setval($1::text::regclass, COALESCE(MAX({col}), 1), MAX({col}) IS NOT NULL) FROM {}",
                            qualified(schema, &t.name)
                        ),
                        &[seq],
                    )
                    .await
                    .map_err(pg(format!("setting sequence {seq}")))?;
            }
        }
    }
    // Longest first, so the one big step does not start last while the other session idles: a step's cost
    // follows the size of the table it scans (a validation reads the child, VACUUM the whole table).
    let sizes: std::collections::HashMap<String, i64> = control
        .query(
            "SELECT relname::text, pg_relation_size(oid) FROM pg_class
             WHERE relnamespace = $1::text::regnamespace AND relkind IN ('r', 'p')",
            &[&qi(schema)],
        )
        .await
        .map_err(pg("reading table sizes"))?
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect();
    let size = |t: &str| std::cmp::Reverse(sizes.get(t).copied().unwrap_or(0));
    validate.sort_by_key(|fk| size(&fk.table));
    let mut vacuum: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    vacuum.sort_by_key(|t| size(t));
    let board = std::sync::Mutex::new(Board {
        unvacuumed: vacuum.iter().copied().collect(),
        pending: vacuum
            .into_iter()
            .map(Step::Vacuum)
            .chain(validate.into_iter().map(Step::Fk))
            .collect(),
        busy: Default::default(),
        failed: false,
    });
    let done = tokio::sync::Notify::new();
    let restored = std::sync::atomic::AtomicUsize::new(existing.values().filter(|v| **v).count());
    let counts = std::sync::Mutex::new(Vec::with_capacity(tables.len()));
    let results = futures::future::join_all(
        clients
            .iter()
            .map(|c| session(c, &board, &done, &restored, &counts, schema, tables)),
    )
    .await;
    results.into_iter().collect::<Result<(), _>>()?;
    Ok(counts.into_inner().expect("finish counts"))
}

/// One session of the finish: takes steps off the board until none is left (or one failed).
async fn session(
    client: &Client,
    board: &std::sync::Mutex<Board<'_>>,
    done: &tokio::sync::Notify,
    restored: &std::sync::atomic::AtomicUsize,
    counts: &std::sync::Mutex<Vec<(String, i64)>>,
    schema: &str,
    tables: &[&TargetTable],
) -> Result<(), TargetError> {
    loop {
        // Registered before the board is read, so a step finishing in between still wakes this session.
        let finished = done.notified();
        let step = {
            let mut b = board.lock().expect("finish board");
            if b.failed || b.pending.is_empty() {
                return Ok(());
            }
            b.take()
        };
        let Some(step) = step else {
            finished.await;
            continue;
        };
        if let Step::Fk(_) = step {
            let n = restored.load(std::sync::atomic::Ordering::SeqCst);
            crate::hooks::pause(|| format!("finishing:{n}")).await;
        }
        let started = std::time::Instant::now();
        let r = step.run(client, schema, tables, counts).await;
        tracing::debug!(step = %step, seconds = started.elapsed().as_secs_f64(), "Finish step done.");
        if let (Step::Fk(_), Ok(())) = (&step, &r) {
            restored.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        board
            .lock()
            .expect("finish board")
            .release(&step, r.is_err());
        done.notify_waiters();
        r?;
    }
}

/// One step of the finish.
enum Step<'a> {
    Fk(&'a DroppedFk),
    /// `VACUUM (ANALYZE)`: planner statistics, and hint bits and the visibility map set once, so the validations
    /// after it probe the parents' keys without visiting their rows.
    Vacuum(&'a str),
}

impl std::fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Fk(fk) => write!(f, "validate {}.{}", fk.table, fk.name),
            Step::Vacuum(t) => write!(f, "vacuum {t}"),
        }
    }
}

impl<'a> Step<'a> {
    /// The table the step locks against the other steps (a validation's share lock on the parent conflicts
    /// with none of them).
    fn table(&self) -> &'a str {
        match self {
            Step::Fk(fk) => fk.table.as_str(),
            Step::Vacuum(t) => t,
        }
    }

    async fn run(
        &self,
        client: &Client,
        schema: &str,
        tables: &[&TargetTable],
        counts: &std::sync::Mutex<Vec<(String, i64)>>,
    ) -> Result<(), TargetError> {
        match self {
            Step::Fk(fk) => {
                let sql = format!(
                    "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                    qualified(schema, &fk.table),
                    qi(&fk.name),
                );
                match client.batch_execute(&sql).await {
                    Ok(()) => Ok(()),
                    Err(e)
                        if e.code()
                            == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) =>
                    {
                        Err(orphan(client, schema, fk, tables).await.unwrap_or_else(|| {
                            TargetError::FkRestore {
                                table: fk.table.clone(),
                                name: fk.name.clone(),
                                message: db_message(&e),
                            }
                        }))
                    }
                    Err(e) => Err(pg(format!(
                        "re-creating foreign key {} on {}",
                        fk.name, fk.table
                    ))(e)),
                }
            }
            Step::Vacuum(t) => {
                let table = qualified(schema, t);
                client
                    .batch_execute(&format!("VACUUM (ANALYZE) {table}"))
                    .await
                    .map_err(pg(format!("vacuuming and analyzing {t}")))?;
                // Nothing writes rows while the finish runs: the count stands for the completed run.
                let n: i64 = client
                    .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                    .await
                    .map_err(pg(format!("counting the rows of {t}")))?
                    .get(0);
                counts
                    .lock()
                    .expect("finish counts")
                    .push((t.to_string(), n));
                Ok(())
            }
        }
    }
}

/// The finish steps still to run, the tables the running ones hold and those not vacuumed yet.
struct Board<'a> {
    pending: std::collections::VecDeque<Step<'a>>,
    busy: std::collections::HashSet<&'a str>,
    unvacuumed: std::collections::HashSet<&'a str>,
    failed: bool,
}

impl<'a> Board<'a> {
    /// The first pending step whose table no session holds (a validation: once its table and parent are
    /// vacuumed), now held.
    fn take(&mut self) -> Option<Step<'a>> {
        let ready = |s: &Step<'a>| {
            !self.busy.contains(s.table())
                && match s {
                    Step::Fk(fk) => {
                        !self.unvacuumed.contains(fk.table.as_str())
                            && !self.unvacuumed.contains(fk.ref_table.as_str())
                    }
                    Step::Vacuum(_) => true,
                }
        };
        let i = self.pending.iter().position(ready)?;
        let step = self.pending.remove(i)?;
        self.busy.insert(step.table());
        Some(step)
    }

    fn release(&mut self, step: &Step<'a>, failed: bool) {
        self.busy.remove(step.table());
        if let Step::Vacuum(t) = step {
            self.unvacuumed.remove(t);
        }
        self.failed |= failed;
    }
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
            qualified(schema, &fk.table),
            if if_exists { "IF EXISTS " } else { "" },
            qi(&fk.name)
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
    let l = qi(LEDGER_SCHEMA);
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
    let l = qi(LEDGER_SCHEMA);
    let tx = client
        .transaction()
        .await
        .map_err(pg("restoring the target"))?;
    if run.state != "preparing" {
        // Keys restored by a finish (all of them after a completed run) are dropped again so that every loaded
        // table can be emptied.
        step("drop keys");
        drop_foreign_keys(&tx, schema, &run.dropped_fks, true).await?;
        step("empty tables");
        if !run.tables.is_empty() {
            let list: Vec<String> = run.tables.iter().map(|t| qualified(schema, t)).collect();
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
            let t = qualified(schema, &table);
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
                qi(&copy)
            ))
            .await
            .map_err(pg(format!("putting back the saved rows of {table}")))?;
        }
        step("re-create keys");
        for fk in &run.dropped_fks {
            tx.batch_execute(&format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}",
                qualified(schema, &fk.table),
                qi(&fk.name),
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
    tx.commit().await.map_err(pg("restoring the target"))
}

/// Finds one row breaking `fk` and names it.
async fn orphan(
    client: &Client,
    schema: &str,
    fk: &DroppedFk,
    tables: &[&TargetTable],
) -> Option<TargetError> {
    let pk = tables
        .iter()
        .find(|t| t.name == fk.table)
        .map(|t| t.primary_key())
        .unwrap_or_default();
    let pairs: Vec<(String, String)> = fk
        .columns
        .iter()
        .cloned()
        .zip(fk.ref_columns.iter().cloned())
        .collect();
    let sql = crate::util::sql::orphan_sql(
        crate::util::sql::Dialect::Postgres,
        &qualified(schema, &fk.table),
        &qualified(schema, &fk.ref_table),
        &pk,
        &pairs,
        1,
    );
    let row = client.query_opt(&sql, &[]).await.ok()??;
    let (key, value): (String, String) = (row.get(0), row.get(1));
    let key = if pk.is_empty() {
        key
    } else {
        format!("{}={key}", pk.join(","))
    };
    Some(TargetError::Orphan(Box::new(Violation {
        table: fk.table.clone(),
        key,
        column: fk.columns.join(","),
        rule: Rule::OrphanForeignKey {
            parent: fk.ref_table.clone(),
        },
        excerpt: format!("{value:?}"),
        hint: Some(format!(
            "foreign key {}: add the parent row in the source or fix the reference",
            fk.name
        )),
    })))
}
