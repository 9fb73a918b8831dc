//! Applying followed source transactions to the target: each one converted by the copy's own converters (the
//! same rules, the same violations) and applied whole in one PostgreSQL transaction, together with the statement
//! that records the position it reached, so a kill leaves either both or neither. Strict: an UPDATE or DELETE
//! that does not hit exactly the one row its key names stops, naming table, key and position.
//!
//! `run::catchup` drives it for `migrate --follow`; `sets` makes a run of rows one statement.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio_postgres::types::ToSql;

mod images;
mod keyed;
mod phase;
mod sets;
mod shape;
pub mod triggers;

pub use crate::source::mysql::statement::mentioned;
pub use keyed::{Keyed, KeyedError, MAX_KEYS};
pub use phase::{Follow, FollowReport};

use sets::Kind;

use crate::run::work::TableWork;
use crate::source::mysql::binlog::{BinlogError, Transaction};
use crate::util::sql::{pg_ident, pg_qualified};
use crate::values::Violation;

/// Why a transaction could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the source transaction ending at {at} changes {table}, which the copy does not load")]
    Unmapped { at: String, table: String },
    #[error("the source transaction ending at {at}: {violation}")]
    Violation {
        at: String,
        violation: Box<Violation>,
    },
    #[error(
        "the source transaction ending at {at} {what} the row of {table} at {key}, but the target has {found} such \
         rows: the target no longer matches the source"
    )]
    Mismatch {
        at: String,
        table: String,
        what: &'static str,
        key: String,
        found: u64,
    },
    #[error("applying the source transaction ending at {at} to {table} failed: {message}")]
    Target {
        at: String,
        table: String,
        message: String,
        sqlstate: Option<String>,
    },
}

/// Why following stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Binlog(#[from] BinlogError),
    #[error(
        "the source ran a statement on {table}, a table the mapping copies, at {at}: `{sql}`; pgconverge applies \
         row changes, not statements"
    )]
    Statement {
        table: String,
        at: String,
        sql: String,
    },
    #[error(
        "the source no longer keeps its binary log from {at} (purged or reset): the changes since cannot be \
         followed"
    )]
    Purged { at: String },
    #[error(
        "the completed copy recorded no binary log position (the source's binary log is off or hidden from this \
         user): there is nothing to follow from"
    )]
    NoPosition,
    #[error(
        "the source or the mapping changed since the copy ({0}): its converters no longer describe the copied data"
    )]
    Changed(String),
    #[error("interrupted while following (the open transaction group was rolled back)")]
    Interrupted,
}

impl FollowError {
    /// The way on, after the state (the applied position) is named.
    pub fn next(&self) -> &'static str {
        match self {
            FollowError::Statement { .. } => {
                "apply the statement's equivalent to the target yourself, then continue past it with \
                 `pgconverge migrate --resume --follow --skip-statement <its position>` and the same flags; or \
                 return the target to its state before the copy with `pgconverge reset --yes` and migrate again"
            }
            FollowError::Purged { .. }
            | FollowError::Binlog(BinlogError::Purged { .. })
            | FollowError::NoPosition
            | FollowError::Changed(_) => {
                "following cannot continue: return the target to its state before the copy with \
                 `pgconverge reset --yes` and run `pgconverge migrate --follow` again (keep the binary logs \
                 longer than the copy takes: binlog_expire_logs_seconds or expire_logs_days)"
            }
            FollowError::Binlog(BinlogError::Reshaped { .. }) => {
                "make the target table's columns match the source's with the application's migration, then \
                 return the target to its state before the copy with `pgconverge reset --yes` and run \
                 `pgconverge migrate --follow` again"
            }
            FollowError::Binlog(BinlogError::Unreadable { .. }) => {
                "the changes in that event cannot be applied: turn off what wrote it on the source (the setting the \
                 message names), then return the target to its state before the copy with `pgconverge reset --yes` \
                 and run `pgconverge migrate --follow` again"
            }
            FollowError::Binlog(BinlogError::PartialImage { .. }) => {
                "the change cannot be applied without its whole row: set binlog_row_image=FULL for every session \
                 that writes the source (SET GLOBAL, and in the server's configuration), then return the target to \
                 its state before the copy with `pgconverge reset --yes` and run `pgconverge migrate --follow` again"
            }
            FollowError::Binlog(BinlogError::Spool { .. }) => {
                "continue with `pgconverge migrate --resume --follow` and the same flags after moving the spool \
                 file it names away: the follower then reads the source's binary log instead"
            }
            _ => {
                "once the cause is dealt with, continue with `pgconverge migrate --resume --follow` and the same \
                 flags; or return the target to its state before the copy with `pgconverge reset --yes`"
            }
        }
    }
}

/// One followed table: its converter, where each converted column comes from, and its statements.
struct Followed {
    work: Arc<TableWork>,
    /// For each of the converter's input columns (`read_columns`), its position in the source table's columns
    /// (the binary log's order).
    pick: Vec<usize>,
    /// Positions of the primary key among the converted (output) columns, and among the source's columns.
    key: Vec<usize>,
    source_key: Vec<usize>,
    /// One row's statements, and the set statements of a run of rows (`sets`).
    insert: String,
    delete: String,
    update: String,
    many: sets::Many,
    target: String,
    /// A target with inheritance children: its rules or triggers may route an inserted row elsewhere.
    routed: bool,
    /// Its columns as the shapes of its updates need them (`shape`).
    columns: shape::Columns,
}

/// Applies transactions to the tables of `works` in `schema`.
pub struct Applier {
    tables: HashMap<String, Followed>,
    /// Source tables the mapping skips: their changes are not applied.
    skipped: HashSet<String>,
    /// The statements prepared on the client `apply` is given (one client per applier).
    prepared: HashMap<String, tokio_postgres::Statement>,
    record: Record,
    /// The keys changes touched, by source table, for the cut-over's check (`keyed`).
    touched: HashMap<String, keyed::TableKeys>,
    /// The shapes of the updates met that write a few columns.
    shapes: shape::Shapes,
}

/// The ledger statements each applied group runs in its own transaction.
pub struct Record {
    /// Stores the group's end position (`$1`, text), last GTID (`$2`, text or NULL) and the target tables it
    /// changed (`$3`, text[]).
    pub position: String,
    /// Adds `$2` (bigint) to the row count kept for target table `$1`, so the ledger's counts follow the target.
    pub counts: String,
}

/// One statement of a group: what it does to the row at `key`, and whether it must count exactly one row.
struct Step<'s> {
    f: &'s Followed,
    kind: Kind,
    values: Vec<Option<String>>,
    what: &'static str,
    key: Vec<Option<String>>,
    counted: bool,
    /// What it does to the table's row count.
    delta: i64,
    /// An update of a few columns: its shape (`shape::Shapes`; 0: every column).
    shape: usize,
    /// Where its source transaction ends.
    at: &'s str,
}

impl Followed {
    /// The primary key of a converted image.
    fn key_of(&self, image: &[Option<String>]) -> Vec<Option<String>> {
        self.key.iter().map(|&k| image[k].clone()).collect()
    }

    /// The statement for one row of `kind`.
    fn one(&self, kind: Kind) -> &str {
        match kind {
            Kind::Insert => &self.insert,
            Kind::Delete => &self.delete,
            Kind::Update => &self.update,
        }
    }
}

/// What a group of transactions changed: row changes, the target tables they touched and what they did to
/// each one's row count.
#[derive(Debug, Default)]
pub struct Applied {
    pub changes: u64,
    pub tables: HashSet<String>,
    pub deltas: HashMap<String, i64>,
}

impl Applied {
    fn add(&mut self, other: Applied) {
        self.changes += other.changes;
        self.tables.extend(other.tables);
        for (t, d) in other.deltas {
            *self.deltas.entry(t).or_default() += d;
        }
    }
}

impl Applier {
    /// `skipped`: the source tables the mapping leaves out, whose changes are passed over; `record`: the ledger
    /// statements every group runs.
    pub fn new(
        schema: &str,
        works: impl IntoIterator<Item = Arc<TableWork>>,
        skipped: impl IntoIterator<Item = String>,
        record: Record,
    ) -> Applier {
        let tables = works
            .into_iter()
            .map(|w| {
                let c = &w.contract;
                // Each named column's position among the source's columns (the binary log's order).
                let at_source = |names: &mut dyn Iterator<Item = &String>| -> Vec<usize> {
                    names
                        .map(|n| {
                            w.source
                                .columns
                                .iter()
                                .position(|s| &s.name == n)
                                .expect("a read, key or copied column is a source column")
                        })
                        .collect()
                };
                let pick = at_source(&mut w.read_columns.iter());
                let key: Vec<usize> = c
                    .primary_key
                    .iter()
                    .map(|k| {
                        c.columns
                            .iter()
                            .position(|col| &col.source == k)
                            .expect("the primary key is copied")
                    })
                    .collect();
                let source_key = at_source(&mut c.primary_key.iter());
                let table = pg_qualified(schema, &c.target);
                // Each value travels as text and is cast to the column's type, as COPY reads it.
                let cast =
                    |i: usize| format!("CAST(${}::text AS {})", i + 1, c.columns[i].target_type);
                let names: Vec<String> =
                    c.columns.iter().map(|col| pg_ident(&col.target)).collect();
                let types: Vec<&str> = c
                    .columns
                    .iter()
                    .map(|col| col.target_type.as_str())
                    .collect();
                let insert = format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    names.join(", "),
                    (0..names.len()).map(cast).collect::<Vec<_>>().join(", ")
                );
                let key_match = |offset: usize| {
                    key.iter()
                        .enumerate()
                        .map(|(n, &k)| {
                            format!(
                                "{} = CAST(${}::text AS {})",
                                names[k],
                                offset + n + 1,
                                c.columns[k].target_type
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" AND ")
                };
                let delete = format!("DELETE FROM {table} WHERE {}", key_match(0));
                let all: Vec<usize> = (0..names.len()).collect();
                let update = sets::update(&table, &names, &types, &key, &all, false);
                let many = sets::Many::new(&table, &names, &types, &key);
                let sources = at_source(&mut c.columns.iter().map(|col| &col.source));
                (
                    c.source.clone(),
                    Followed {
                        many,
                        target: c.target.clone(),
                        work: w.clone(),
                        pick,
                        key,
                        source_key,
                        insert,
                        delete,
                        update,
                        routed: c.staged,
                        columns: shape::Columns {
                            sources,
                            types: types.iter().map(|t| t.to_string()).collect(),
                            names,
                            qualified: table,
                        },
                    },
                )
            })
            .collect();
        Applier {
            tables,
            skipped: skipped.into_iter().collect(),
            prepared: HashMap::new(),
            record,
            touched: HashMap::new(),
            shapes: Default::default(),
        }
    }

    /// Checks every key the follower touched in the tables it kept keys of (not verified whole); `source` reads
    /// the frozen source, `client` the target.
    pub async fn check_keys(
        &self,
        client: &tokio_postgres::Client,
        source: &mut mysql_async::Conn,
    ) -> Result<Keyed, KeyedError> {
        let mut out = Keyed::default();
        for (table, keys) in &self.touched {
            let Some(f) = self.tables.get(table).filter(|_| !keys.whole) else {
                continue;
            };
            let t = keyed::Table {
                work: &f.work,
                pick: &f.pick,
                key: &f.key,
                source_key: &f.source_key,
                many: &f.many,
            };
            keys.check(&t, client, source, &mut out).await?;
        }
        Ok(out)
    }

    /// Source table `table` changed in a way whose keys are not known (a statement passed on it, changes of an
    /// earlier run): the cut-over verifies it whole.
    pub fn keys_unknown(&mut self, table: &str) {
        let t = self.touched.entry(table.to_string()).or_default();
        t.whole = true;
        t.keys = HashMap::new();
    }

    /// The source tables changes touched: those whose every touched key is known (checked key by key), and
    /// those to verify whole.
    pub fn touched_tables(&self) -> (Vec<String>, Vec<String>) {
        let (whole, keyed): (Vec<_>, Vec<_>) = self.touched.iter().partition(|(_, k)| k.whole);
        let names = |v: Vec<(&String, _)>| v.into_iter().map(|(t, _)| t.clone()).collect();
        (names(keyed), names(whole))
    }

    /// Applies `group` (whole source transactions, in binary log order) in one PostgreSQL transaction on
    /// `client`, with the ledger's record in the same transaction: the last one's end as the position reached and
    /// the row counts moved. Consecutive changes of one kind to one table (each key once) go as one set statement;
    /// the statements are sent pipelined and checked when their answers are in. A failure anywhere rolls the whole
    /// group back; it is then applied again row by row, so that the error names the transaction and the key.
    pub async fn apply(
        &mut self,
        client: &mut tokio_postgres::Client,
        group: &[Transaction],
    ) -> Result<Applied, ApplyError> {
        match self.apply_as(client, group, true).await {
            Ok(applied) => Ok(applied),
            Err(e) => {
                tracing::debug!(error = %e, "A set statement failed or counted otherwise: applying row by row.");
                self.apply_as(client, group, false).await
            }
        }
    }

    /// As [`Applier::apply`], with runs of rows as set statements (`sets`) or row by row.
    async fn apply_as(
        &mut self,
        client: &mut tokio_postgres::Client,
        group: &[Transaction],
        sets: bool,
    ) -> Result<Applied, ApplyError> {
        let Some(last) = group.last() else {
            return Ok(Applied::default());
        };
        let tx = client
            .transaction()
            .await
            .map_err(|e| target(&last.end.to_string(), "", e))?;
        let mut applied = Applied::default();
        self.stage(&tx, group, sets, &mut applied).await?;
        self.record(tx, last, &applied).await?;
        Ok(applied)
    }

    /// Applies one part of a source transaction too big to hold whole (`Met::Part`, or its last part) inside the
    /// PostgreSQL transaction `tx` that will hold all of it, adding what it did to `applied`. Under a savepoint:
    /// a set statement that fails or counts otherwise is rolled back to it and the part applied again row by
    /// row, so the error names the key, as [`Applier::apply`] does for a group.
    pub async fn apply_part(
        &mut self,
        tx: &mut tokio_postgres::Transaction<'_>,
        part: &Transaction,
        applied: &mut Applied,
    ) -> Result<(), ApplyError> {
        let at = part.end.to_string();
        let err = |e| target(&at, "", e);
        let group = std::slice::from_ref(part);
        let mut done = Applied::default();
        let sp = tx.savepoint("part").await.map_err(err)?;
        match self.stage(&sp, group, true, &mut done).await {
            Ok(()) => crate::durable::release(sp).await.map_err(err)?,
            Err(e) => {
                tracing::debug!(error = %e, "A set statement failed or counted otherwise: applying the part row by row.");
                sp.rollback().await.map_err(err)?;
                done = Applied::default();
                let sp = tx.savepoint("part").await.map_err(err)?;
                self.stage(&sp, group, false, &mut done).await?;
                crate::durable::release(sp).await.map_err(err)?;
            }
        }
        applied.add(done);
        Ok(())
    }

    /// Records in `tx` what `applied` did (row counts, tables touched) and `last`'s end as the position reached,
    /// and commits: the changes and their record together.
    pub async fn record(
        &self,
        tx: tokio_postgres::Transaction<'_>,
        last: &Transaction,
        applied: &Applied,
    ) -> Result<(), ApplyError> {
        let last_at = last.end.to_string();
        let ledger = |e| target(&last_at, "the ledger", e);
        for (table, delta) in applied.deltas.iter().filter(|(_, d)| **d != 0) {
            tx.execute(&self.record.counts, &[table, delta])
                .await
                .map_err(ledger)?;
        }
        let touched: Vec<&str> = applied.tables.iter().map(String::as_str).collect();
        tx.execute(&self.record.position, &[&last_at, &last.gtid, &touched])
            .await
            .map_err(ledger)?;
        crate::durable::commit(tx, || format!("source transactions to {last_at} applied"))
            .await
            .map_err(|e| target(&last_at, "", e))
    }

    /// Runs `group`'s changes in `tx` (pipelined, checked when their answers are in), adding what they did to
    /// `applied`; nothing is recorded or committed.
    async fn stage(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        group: &[Transaction],
        sets: bool,
        applied: &mut Applied,
    ) -> Result<(), ApplyError> {
        // Each transaction's end, once: every step of it names it.
        let ats: Vec<String> = group.iter().map(|t| t.end.to_string()).collect();
        let mut steps: Vec<Step> = Vec::new();
        let tables = &self.tables;
        let mut images = images::convert_all(
            |t| {
                tables.get(t).map(|f| images::Conversion {
                    work: &f.work,
                    pick: &f.pick,
                    source_key: &f.source_key,
                })
            },
            group,
        )
        .map_err(|(ti, violation)| ApplyError::Violation {
            at: group[ti].end.to_string(),
            violation,
        })?;
        for (ti, t) in group.iter().enumerate() {
            let at = &ats[ti];
            for (ci, change) in t.changes.iter().enumerate() {
                let Some(f) = self.tables.get(&change.table) else {
                    if self.skipped.contains(&change.table) {
                        continue;
                    }
                    return Err(ApplyError::Unmapped {
                        at: at.clone(),
                        table: change.table.clone(),
                    });
                };
                applied.changes += 1;
                // Looked up before cloning: a clone per change is an allocation per change.
                if !applied.tables.contains(&f.target) {
                    applied.tables.insert(f.target.clone());
                }
                let (before, after) = images.remove(&(ti, ci)).unwrap_or_default();
                // The row before's key: from its own image, or (an update that kept its key, not converted
                // before) from the row after's.
                let old_key = match (&change.before, &before, &after) {
                    (None, _, _) => None,
                    (Some(_), Some(b), _) | (Some(_), None, Some(b)) => Some(f.key_of(b)),
                    (Some(_), None, None) => None,
                };
                if !self.touched.contains_key(&change.table) {
                    self.touched
                        .insert(change.table.clone(), Default::default());
                }
                let keys = self.touched.get_mut(&change.table).expect("just made");
                let new_key = after.as_deref().map(|a| f.key_of(a));
                for (raw, key) in [(&change.before, &old_key), (&change.after, &new_key)] {
                    if let (Some(raw), Some(key)) = (raw, key) {
                        keys.add(
                            key.clone(),
                            f.source_key.iter().map(|&k| raw[k].clone()).collect(),
                        );
                    }
                }
                let shape = match (&change.before, &change.after) {
                    (Some(b), Some(a)) => {
                        self.shapes
                            .of(&f.columns, (&f.key, &f.source_key), &change.table, (b, a))
                    }
                    _ => 0,
                };
                let shaped = self.shapes.get(shape).map(|s| (shape, s.set.as_slice()));
                steps_of(f, old_key, after, shaped, at, &mut steps);
            }
        }
        let runs = sets::runs(&steps, sets, |s: &Step| {
            ((s.f as *const Followed, s.shape), s.kind, s.key.clone())
        });
        let shapes = &self.shapes;
        let sqls: Vec<&str> = runs
            .iter()
            .map(|r| {
                let s = &steps[r.start];
                match (r.len(), shapes.get(s.shape)) {
                    (1, None) => s.f.one(s.kind),
                    (_, None) => s.f.many.of(s.kind),
                    (1, Some(shape)) => &shape.one,
                    (_, Some(shape)) => &shape.many,
                }
            })
            .collect();
        for (r, sql) in runs.iter().zip(&sqls) {
            if !self.prepared.contains_key(*sql) {
                let s = &steps[r.start];
                // Prepared statements belong to the session: one prepared in a transaction outlives it.
                let st = tx
                    .prepare(sql)
                    .await
                    .map_err(|e| target(s.at, &s.f.target, e))?;
                self.prepared.insert(sql.to_string(), st);
            }
        }
        let values: Vec<sets::Values> = runs
            .iter()
            .map(|r| {
                sets::Values::of(
                    steps[r.clone()]
                        .iter_mut()
                        .map(|s| std::mem::take(&mut s.values)),
                )
            })
            .collect();
        let params: Vec<Vec<&(dyn ToSql + Sync)>> =
            values.iter().map(sets::Values::params).collect();
        // Sent in order as the futures are first polled; PostgreSQL runs them in that order.
        let answers = futures::future::join_all(
            sqls.iter()
                .zip(&params)
                .map(|(sql, p)| tx.execute(&self.prepared[*sql], p)),
        )
        .await;
        for (r, answer) in runs.iter().zip(answers) {
            let s = &steps[r.start];
            let n = answer.map_err(|e| target(s.at, &s.f.target, e))?;
            if s.counted && n != r.len() as u64 {
                return Err(ApplyError::Mismatch {
                    at: s.at.to_string(),
                    table: s.f.target.clone(),
                    what: s.what,
                    key: match r.len() {
                        1 => describe_key(s.f, &s.key),
                        n => format!("one of {n} keys from {}", describe_key(s.f, &s.key)),
                    },
                    found: n,
                });
            }
        }
        for s in &steps {
            match applied.deltas.get_mut(&s.f.target) {
                Some(d) => *d += s.delta,
                None => {
                    applied.deltas.insert(s.f.target.clone(), s.delta);
                }
            }
        }
        Ok(())
    }
}

/// The statements one changed row takes, appended to `steps`: an insert, a delete, an update in place (of the
/// columns of `shaped` only, when given: its shape and columns), or for a key-changing UPDATE a delete of
/// the old row and an insert of the new; `old_key` is the key of the row before (None for an insert). A rule that
/// routes an inserted row elsewhere makes PostgreSQL count none, so such inserts are not counted (a failed insert
/// raises anyway).
fn steps_of<'s>(
    f: &'s Followed,
    old_key: Option<Vec<Option<String>>>,
    after: Option<images::Image>,
    shaped: Option<(usize, &[usize])>,
    at: &'s str,
    steps: &mut Vec<Step<'s>>,
) {
    let mut step = |kind: Kind, values, what, key, counted, delta, shape| {
        steps.push(Step {
            f,
            kind,
            values,
            what,
            key,
            counted,
            delta,
            shape,
            at,
        })
    };
    match (old_key, after) {
        (None, Some(new)) => {
            let key = f.key_of(&new);
            step(Kind::Insert, new, "inserts", key, !f.routed, 1, 0);
        }
        (Some(key), None) => {
            step(Kind::Delete, key.clone(), "deletes", key, true, -1, 0);
        }
        (Some(key), Some(mut new)) if key == f.key_of(&new) => {
            let (shape, values) = match shaped {
                Some((i, set)) => {
                    let mut values: Vec<Option<String>> =
                        set.iter().map(|&c| new[c].take()).collect();
                    values.extend(key.iter().cloned());
                    (i, values)
                }
                None => {
                    new.extend(key.iter().cloned());
                    (0, new)
                }
            };
            step(Kind::Update, values, "updates", key, true, 0, shape);
        }
        (Some(old_key), Some(new)) => {
            let new_key = f.key_of(&new);
            step(
                Kind::Delete,
                old_key.clone(),
                "moves the key of",
                old_key,
                true,
                -1,
                0,
            );
            step(Kind::Insert, new, "inserts", new_key, !f.routed, 1, 0);
        }
        (None, None) => {}
    }
}

fn target(at: &str, table: &str, e: tokio_postgres::Error) -> ApplyError {
    ApplyError::Target {
        at: at.to_string(),
        table: table.to_string(),
        sqlstate: e.code().map(|c| c.code().to_string()),
        message: crate::connect::pg_message(&e),
    }
}

fn describe_key(f: &Followed, key: &[Option<String>]) -> String {
    let names = &f.work.contract.primary_key;
    crate::util::key::render(
        names
            .iter()
            .zip(key.iter().map(|k| k.as_deref().map(str::as_bytes))),
    )
}
