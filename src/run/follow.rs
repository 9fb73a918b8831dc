//! Applying followed source transactions to the target: each one converted by the copy's own converters (the
//! same rules, the same violations) and applied whole in one PostgreSQL transaction, together with the statement
//! that records the position it reached, so a kill leaves either both or neither. Strict: an UPDATE or DELETE
//! that does not hit exactly the one row its key names stops, naming table, key and position.
//!
//! The building block of `migrate --follow` (issue 28); no command calls it yet.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, RecordBatch};
use tokio_postgres::types::ToSql;

use crate::run::work::TableWork;
use crate::source::mysql::binlog::{Row, Transaction};
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

/// One followed table: its converter, where each converted column comes from, and its statements.
struct Followed {
    work: Arc<TableWork>,
    /// For each of the converter's input columns (`read_columns`), its position in the source table's columns
    /// (the binary log's order).
    pick: Vec<usize>,
    /// Positions of the primary key among the converted (output) columns.
    key: Vec<usize>,
    insert: String,
    delete: String,
    update: String,
    target: String,
    /// A target with inheritance children: its rules or triggers may route an inserted row elsewhere.
    routed: bool,
}

/// Applies transactions to the tables of `works` in `schema`.
pub struct Applier {
    tables: HashMap<String, Followed>,
}

impl Applier {
    pub fn new(schema: &str, works: impl IntoIterator<Item = Arc<TableWork>>) -> Applier {
        let tables = works
            .into_iter()
            .map(|w| {
                let c = &w.contract;
                let pick = w
                    .read_columns
                    .iter()
                    .map(|r| {
                        w.source
                            .columns
                            .iter()
                            .position(|s| &s.name == r)
                            .expect("a read column is a source column")
                    })
                    .collect();
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
                let table = pg_qualified(schema, &c.target);
                // Each value travels as text and is cast to the column's type, as COPY reads it.
                let cast =
                    |i: usize| format!("CAST(${}::text AS {})", i + 1, c.columns[i].target_type);
                let names: Vec<String> =
                    c.columns.iter().map(|col| pg_ident(&col.target)).collect();
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
                let update = format!(
                    "UPDATE {table} SET {} WHERE {}",
                    names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| format!("{n} = {}", cast(i)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    key_match(names.len())
                );
                (
                    c.source.clone(),
                    Followed {
                        target: c.target.clone(),
                        work: w.clone(),
                        pick,
                        key,
                        insert,
                        delete,
                        update,
                        routed: c.staged,
                    },
                )
            })
            .collect();
        Applier { tables }
    }

    /// Applies `t` in one transaction on `client`, with `record` (and its parameters) in the same transaction:
    /// the statement that stores `t.end` as the position reached.
    pub async fn apply(
        &self,
        client: &mut tokio_postgres::Client,
        t: &Transaction,
        record: &str,
        record_params: &[&(dyn ToSql + Sync)],
    ) -> Result<(), ApplyError> {
        let at = t.end.to_string();
        let tx = client.transaction().await.map_err(|e| target(&at, "", e))?;
        for change in &t.changes {
            let f = self.tables.get(&change.table).ok_or(ApplyError::Unmapped {
                at: at.clone(),
                table: change.table.clone(),
            })?;
            let before = convert(f, change.before.as_ref(), &at)?;
            let after = convert(f, change.after.as_ref(), &at)?;
            let key_of = |v: &[Option<String>]| -> Vec<Option<String>> {
                f.key.iter().map(|&k| v[k].clone()).collect()
            };
            let expect_one = |n: u64, what: &'static str, key: &[Option<String>]| {
                if n == 1 {
                    Ok(())
                } else {
                    Err(ApplyError::Mismatch {
                        at: at.clone(),
                        table: f.target.clone(),
                        what,
                        key: describe_key(f, key),
                        found: n,
                    })
                }
            };
            // (statement, its parameters, what it does to the row at `key`, whether it must count one row). A
            // rule that routes an inserted row elsewhere makes PostgreSQL count none; a failed insert raises.
            type Step<'s> = (
                &'s str,
                Vec<Option<String>>,
                &'static str,
                Vec<Option<String>>,
                bool,
            );
            let steps: Vec<Step> = match (before, after) {
                (None, Some(new)) => {
                    let key = key_of(&new);
                    vec![(&f.insert, new, "inserts", key, !f.routed)]
                }
                (Some(old), None) => {
                    let key = key_of(&old);
                    vec![(&f.delete, key.clone(), "deletes", key, true)]
                }
                (Some(old), Some(mut new)) if key_of(&old) == key_of(&new) => {
                    let key = key_of(&old);
                    new.extend(key.iter().cloned());
                    vec![(&f.update, new, "updates", key, true)]
                }
                // A key-changing UPDATE: the old row goes, the new one comes.
                (Some(old), Some(new)) => {
                    let (old_key, new_key) = (key_of(&old), key_of(&new));
                    vec![
                        (
                            &f.delete,
                            old_key.clone(),
                            "moves the key of",
                            old_key,
                            true,
                        ),
                        (&f.insert, new, "inserts", new_key, !f.routed),
                    ]
                }
                (None, None) => Vec::new(),
            };
            for (sql, values, what, key, counted) in steps {
                let n = tx
                    .execute(sql, &params(&values))
                    .await
                    .map_err(|e| target(&at, &f.target, e))?;
                if counted {
                    expect_one(n, what, &key)?;
                }
            }
        }
        tx.execute(record, record_params)
            .await
            .map_err(|e| target(&at, "the ledger", e))?;
        crate::durable::commit(tx, || format!("source transaction to {at} applied"))
            .await
            .map_err(|e| target(&at, "", e))
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

fn params(values: &[Option<String>]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

fn describe_key(f: &Followed, key: &[Option<String>]) -> String {
    let names = &f.work.contract.primary_key;
    crate::util::key::render(
        names
            .iter()
            .zip(key.iter().map(|k| k.as_deref().map(str::as_bytes))),
    )
}

/// One image of a changed row through the table's converter: the target text of each copied column.
fn convert(
    f: &Followed,
    row: Option<&Row>,
    at: &str,
) -> Result<Option<Vec<Option<String>>>, ApplyError> {
    let Some(row) = row else {
        return Ok(None);
    };
    let schema = f.work.raw_schema.clone();
    let columns: Vec<ArrayRef> = f
        .pick
        .iter()
        .map(|&i| Arc::new(BinaryArray::from(vec![row[i].as_deref()])) as ArrayRef)
        .collect();
    let raw = RecordBatch::try_new(schema, columns).expect("one row in the raw schema");
    let out = f
        .work
        .converter
        .apply(&raw)
        .map_err(|violation| ApplyError::Violation {
            at: at.to_string(),
            violation,
        })?;
    Ok(Some(
        out.columns()
            .iter()
            .map(|c| {
                let s = c.as_string::<i32>();
                (!s.is_null(0)).then(|| s.value(0).to_string())
            })
            .collect(),
    ))
}
