//! The finish after the load (sequences, `VACUUM (ANALYZE)`, foreign keys re-created and validated, on several
//! sessions at once) and the part of it that runs while other tables still load.

use tokio_postgres::Client;

use super::error::{pg, TargetError};
use super::ledger::DroppedFk;
use crate::connect::pg_message as db_message;
use crate::schema::TargetTable;
use crate::util::sql::{pg_ident, pg_qualified};
use crate::values::{Rule, Violation};

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
            &[&pg_ident(schema)],
        )
        .await
        .map_err(pg("listing foreign keys"))?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// The foreign keys `fks` re-created and validated on `client`, the tables left unvacuumed: the keys a live resume
/// left off, restored at the cut-over once every table is of one instant. Idempotent as [`finish`] is.
pub async fn restore_keys(
    client: &Client,
    schema: &str,
    tables: &[&TargetTable],
    fks: &[DroppedFk],
) -> Result<(), TargetError> {
    let as_they_are: Vec<(String, i64)> = tables.iter().map(|t| (t.name.clone(), 0)).collect();
    finish(&[client], schema, tables, fks, &as_they_are)
        .await
        .map(drop)
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
///
/// `early` are the tables [`finish_early`] vacuumed and counted while the load ran: they are not vacuumed again.
pub async fn finish(
    clients: &[&Client],
    schema: &str,
    tables: &[&TargetTable],
    fks: &[DroppedFk],
    early: &[(String, i64)],
) -> Result<Vec<(String, i64)>, TargetError> {
    let control = clients[0];
    // Idempotent: a resumed finish skips the keys an interrupted finish already restored.
    let existing = foreign_key_states(control, schema).await?;
    let mut validate = Vec::new();
    // PostgreSQL cannot add a key NOT VALID on a partitioned table: those are added checked, in the same batch.
    let partitioned: std::collections::HashSet<String> = control
        .query(
            "SELECT relname::text FROM pg_class WHERE relnamespace = $1::text::regnamespace AND relkind = 'p'",
            &[&pg_ident(schema)],
        )
        .await
        .map_err(pg("reading the partitioned tables"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // One transaction for every key still missing: one commit (and WAL flush) instead of one per key (201 for
    // Alkemio); an interrupted finish rolls them all back and adds them again.
    let mut add = String::new();
    for fk in fks {
        let unchecked = fk.unchecked();
        let checked_now = !unchecked && partitioned.contains(&fk.table);
        match existing.get(&fk.key()) {
            Some(true) => continue,
            Some(false) => {}
            None => add.push_str(&format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}{};\n",
                pg_qualified(schema, &fk.table),
                pg_ident(&fk.name),
                fk.definition,
                if unchecked || checked_now {
                    ""
                } else {
                    " NOT VALID"
                }
            )),
        }
        if !unchecked && !checked_now {
            validate.push(fk);
        }
    }
    if !add.is_empty() {
        // Several statements in one simple query run as one transaction, rolled back whole on an error.
        crate::durable::batch(control, &add, || "foreign keys re-created NOT VALID".into())
            .await
            .map_err(pg("re-creating the foreign keys NOT VALID"))?;
    }
    set_sequences(control, schema, tables).await?;
    // Longest first, so the one big step does not start last while the other session idles: a step's cost
    // follows the size of the table it scans (a validation reads the child, VACUUM the whole table).
    let sizes: std::collections::HashMap<String, i64> = control
        .query(
            "SELECT relname::text, pg_relation_size(oid) FROM pg_class
             WHERE relnamespace = $1::text::regnamespace AND relkind IN ('r', 'p')",
            &[&pg_ident(schema)],
        )
        .await
        .map_err(pg("reading table sizes"))?
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect();
    let size = |t: &str| std::cmp::Reverse(sizes.get(t).copied().unwrap_or(0));
    validate.sort_by_key(|fk| size(&fk.table));
    let mut vacuum: Vec<&str> = tables
        .iter()
        .map(|t| t.name.as_str())
        .filter(|t| !early.iter().any(|(e, _)| e == t))
        .collect();
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
    let counts = std::sync::Mutex::new(early.to_vec());
    let results = futures::future::join_all(
        clients
            .iter()
            .map(|c| session(c, &board, &done, &restored, &counts, schema, tables)),
    )
    .await;
    results.into_iter().collect::<Result<(), _>>()?;
    Ok(counts.into_inner().expect("finish counts"))
}

/// Sets every sequence the columns of `tables` draw from past their largest value: one setval per sequence over
/// every column drawing from it (a sequence shared by several columns, a nextval default without OWNED BY, must
/// pass the largest of their maxima, not the last one's). After a load, and again when following ends.
pub async fn set_sequences(
    control: &Client,
    schema: &str,
    tables: &[&TargetTable],
) -> Result<(), TargetError> {
    let mut by_sequence: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for t in tables {
        for c in &t.columns {
            if let Some(seq) = &c.owned_sequence {
                by_sequence.entry(seq).or_default().push(format!(
                    "SELECT MAX({})::numeric AS m FROM {}",
                    pg_ident(&c.name),
                    pg_qualified(schema, &t.name)
                ));
            }
        }
    }
    for (seq, maxima) in by_sequence {
        crate::durable::execute(
            control,
            &format!(
                "SELECT setval($1::text::regclass, COALESCE(MAX(m), 1)::bigint, MAX(m) IS NOT NULL) FROM ({}) x",
                maxima.join(" UNION ALL ")
            ),
            &[&seq],
            || format!("sequence {seq} set"),
        )
        .await
        .map_err(pg(format!("setting sequence {seq}")))?;
    }
    Ok(())
}

/// The load as the early finish sees it: the chunks each target table still has to commit in this run, and
/// whether the load is over. The load tells it each committed chunk ([`Loading::committed`]).
pub struct Loading {
    left: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    over: std::sync::atomic::AtomicBool,
    changed: tokio::sync::Notify,
}

impl Loading {
    /// `left`: each loaded target table with the chunks this run loads into it (0: nothing left to load).
    pub fn new(left: impl IntoIterator<Item = (String, usize)>) -> Self {
        Loading {
            left: std::sync::Mutex::new(left.into_iter().collect()),
            over: Default::default(),
            changed: Default::default(),
        }
    }

    /// One chunk of `table` committed.
    pub fn committed(&self, table: &str) {
        let mut left = self.left.lock().expect("loading tables");
        if let Some(n) = left.get_mut(table) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.changed.notify_waiters();
            }
        }
    }

    /// The load is over (done or failed): the early finish stops after the step it is running.
    pub fn end(&self) {
        self.over.store(true, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn is_over(&self) -> bool {
        self.over.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every chunk of `table` is committed (a table this run does not load never is).
    fn loaded(&self, table: &str) -> bool {
        self.left
            .lock()
            .expect("loading tables")
            .get(table)
            .is_some_and(|n| *n == 0)
    }
}

/// The part of [`finish`] that can run while other tables still load, on one session, one step at a time, until
/// the load is over: each table whose chunks are all committed is vacuumed and counted, then each foreign key whose
/// table and parent are both vacuumed is added and checked. Returns the tables vacuumed and their row counts, for
/// [`finish`] to skip; the keys it restored are in the catalog, where `finish` finds them.
///
/// Only complete tables are touched, which no writer holds a lock on, and one session runs these steps: nothing
/// waits on the load and nothing can deadlock. The longest table usually loads last and most keys point at it
/// (Alkemio: `authorization_policy`), so what is left for `finish` is that table, its keys and their validations.
pub async fn finish_early(
    client: &Client,
    schema: &str,
    tables: &[&TargetTable],
    fks: &[DroppedFk],
    loading: &Loading,
) -> Result<Vec<(String, i64)>, TargetError> {
    let existing = foreign_key_states(client, schema).await?;
    let valid_before = existing.values().filter(|v| **v).count();
    let mut restored = valid_before;
    let mut unvacuumed: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut vacuumed = std::collections::HashSet::new();
    // Keys a schema had NOT VALID are put back unchecked; a key an interrupted finish left NOT VALID is validated.
    let mut keys: Vec<Step> = fks
        .iter()
        .filter_map(|fk| match existing.get(&fk.key()) {
            Some(true) => None,
            Some(false) if fk.unchecked() => None,
            Some(false) => Some(Step::Fk(fk)),
            None => Some(Step::Add(fk)),
        })
        .collect();
    let counts = std::sync::Mutex::new(Vec::new());
    let mut waiting: Vec<(&str, i64)> = Vec::new();
    loop {
        // Registered before the state is read, so a table completing in between still wakes this loop.
        let changed = loading.changed.notified();
        if loading.is_over() {
            break;
        }
        // A table just loaded waits until no transaction that could still see it without its rows remains
        // (stamped with the next transaction id when it was seen loaded): the writers' COPY transactions on other
        // tables hold the horizon back, and a VACUUM before it passes leaves pages it cannot mark all-visible
        // (measured: 0 of 3,405 pages of a table, so its key validations and the verification visited every row).
        let (loaded, loading_still): (Vec<&str>, Vec<&str>) =
            unvacuumed.iter().partition(|t| loading.loaded(t));
        // One look at the horizon a round: it stamps the tables just loaded and clears those stamped before.
        let clear = match loaded.is_empty() && waiting.is_empty() {
            true => None,
            false => {
                let (next, clear) = horizon(client).await?;
                waiting.extend(loaded.into_iter().map(|t| (t, next)));
                unvacuumed = loading_still;
                Some(clear)
            }
        };
        let step = if let Some(i) = waiting
            .iter()
            .position(|(_, stamp)| clear.is_some_and(|h| h > *stamp))
        {
            Step::Vacuum(waiting.remove(i).0)
        } else if let Some(i) = keys.iter().position(|k| match k {
            Step::Fk(fk) | Step::Add(fk) => {
                vacuumed.contains(fk.table.as_str()) && vacuumed.contains(fk.ref_table.as_str())
            }
            Step::Vacuum(_) => false,
        }) {
            keys.remove(i)
        } else if waiting.is_empty() {
            changed.await;
            continue;
        } else {
            // Transactions end with no event here: look at the horizon again shortly.
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
            continue;
        };
        if !matches!(step, Step::Vacuum(_)) {
            crate::hooks::pause(|| format!("finishing:{restored}")).await;
        }
        let started = std::time::Instant::now();
        step.run(client, schema, tables, &counts).await?;
        tracing::debug!(step = %step, seconds = started.elapsed().as_secs_f64(), early = true, "Finish step done.");
        match step {
            Step::Vacuum(t) => {
                vacuumed.insert(t);
            }
            _ => restored += 1,
        }
    }
    let counts = counts.into_inner().expect("finish counts");
    let keys = restored - valid_before;
    if !counts.is_empty() {
        tracing::info!(
            tables = counts.len(),
            keys,
            "Finished tables while others loaded: vacuumed, counted and their foreign keys restored."
        );
    }
    Ok(counts)
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
    /// `VALIDATE` a key already there `NOT VALID`.
    Fk(&'a DroppedFk),
    /// `ADD` a key missing, checked in the same statement (unless the schema had it `NOT VALID`): for the early
    /// finish, where one session runs one step at a time and no other statement waits on the parent.
    Add(&'a DroppedFk),
    /// `VACUUM (ANALYZE)`: planner statistics, and hint bits and the visibility map set once, so the validations
    /// after it probe the parents' keys without visiting their rows.
    Vacuum(&'a str),
}

impl std::fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Fk(fk) => write!(f, "validate {}.{}", fk.table, fk.name),
            Step::Add(fk) => write!(f, "add {}.{}", fk.table, fk.name),
            Step::Vacuum(t) => write!(f, "vacuum {t}"),
        }
    }
}

impl<'a> Step<'a> {
    /// The table the step locks against the other steps (a validation's share lock on the parent conflicts
    /// with none of them).
    fn table(&self) -> &'a str {
        match self {
            Step::Fk(fk) | Step::Add(fk) => fk.table.as_str(),
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
            Step::Fk(fk) | Step::Add(fk) => {
                let sql = match self {
                    Step::Add(_) => format!(
                        "ALTER TABLE {} ADD CONSTRAINT {} {}",
                        pg_qualified(schema, &fk.table),
                        pg_ident(&fk.name),
                        fk.definition
                    ),
                    _ => format!(
                        "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                        pg_qualified(schema, &fk.table),
                        pg_ident(&fk.name),
                    ),
                };
                match crate::durable::batch(client, &sql, || self.to_string()).await {
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
                let table = pg_qualified(schema, t);
                crate::durable::maintenance(client, &format!("VACUUM (ANALYZE) {table}"), || {
                    self.to_string()
                })
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
                    Step::Fk(fk) | Step::Add(fk) => {
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
    let pairs = crate::util::sql::key_pairs(&fk.columns, &fk.ref_columns);
    let sql = crate::util::sql::orphan_sql(
        crate::util::sql::Dialect::Postgres,
        &pg_qualified(schema, &fk.table),
        &pg_qualified(schema, &fk.ref_table),
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

/// The next transaction id, and the oldest one any other session of this database may still need (its own
/// transaction's or its snapshot's): a row written by a transaction before that one is visible to every session,
/// and `VACUUM` marks its page all-visible. The writers run as this role and show theirs; a session of another role
/// may show none to a role without `pg_read_all_stats`, and then a table may be vacuumed before that session's
/// transaction ends, which only leaves a few pages not all-visible (autovacuum's, later).
async fn horizon(client: &Client) -> Result<(i64, i64), TargetError> {
    let row = client
        .query_one(
            "SELECT n, n - coalesce((SELECT max(greatest(age(backend_xmin), age(backend_xid)))
                                       FROM pg_stat_activity
                                      WHERE datname = current_database() AND pid <> pg_backend_pid()), 0)
               FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS n) s",
            &[],
        )
        .await
        .map_err(pg("reading the transaction horizon"))?;
    Ok((row.get(0), row.get(1)))
}

#[cfg(test)]
mod tests {
    use super::Loading;

    #[test]
    fn a_table_is_loaded_once_its_last_chunk_committed() {
        let l = Loading::new([("a".to_string(), 2), ("b".to_string(), 0)]);
        assert!(!l.loaded("a"));
        assert!(l.loaded("b"), "nothing left to load in this run");
        assert!(
            !l.loaded("c"),
            "a table the run does not load is never finished early"
        );
        l.committed("a");
        assert!(!l.loaded("a"));
        l.committed("a");
        l.committed("a");
        assert!(l.loaded("a"));
        assert!(!l.is_over());
        l.end();
        assert!(l.is_over());
    }
}
