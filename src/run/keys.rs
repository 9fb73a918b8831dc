//! The keys only the target enforces, checked on the source inside the snapshot before anything is written: rows
//! whose value of a target foreign key has no parent row (`migrate` refuses to start on one, `check` lists them)
//! and duplicates of a target UNIQUE constraint the source does not enforce.

use mysql_async::prelude::Queryable;

use crate::contract::Contract;
use crate::error::Error;
use crate::schema::{SourceTable, TargetTable};
use crate::source::mysql::SourceError;
use crate::util::sql::{mysql_ident, orphan_sql, Dialect};
use crate::values::{Rule, Violation};

/// Target column -> source column of a planned table.
fn source_column<'a>(
    plan: &'a Contract,
    target_table: &str,
    target_column: &str,
) -> Option<(&'a str, &'a str)> {
    let tp = plan.tables.iter().find(|t| t.target == target_table)?;
    let c = tp.columns.iter().find(|c| c.target == target_column)?;
    Some((tp.source.as_str(), c.source.as_str()))
}

/// Rows whose value of a target foreign key has no parent row, found on the source inside the snapshot (at most
/// `limit` per key). Keys the source declares were enforced on its writes and are scanned only with `all`.
pub async fn foreign_key_orphans(
    conn: &mut mysql_async::Conn,
    plan: &Contract,
    sources: &[SourceTable],
    target: &[TargetTable],
    all_foreign_keys: bool,
    limit: usize,
) -> Result<Vec<Violation>, Error> {
    let q =
        |context: String| move |source: mysql_async::Error| SourceError::Query { context, source };
    let mut found = Vec::new();
    for t in target {
        let Some(tp) = plan.tables.iter().find(|p| p.target == t.name) else {
            continue;
        };
        for con in t.constraints.iter().filter(|c| c.kind == 'f') {
            let Some(parent) = con.ref_table.as_deref() else {
                continue;
            };
            let cols: Option<Vec<(&str, &str)>> = con
                .columns
                .iter()
                .zip(&con.ref_columns)
                .map(|(c, r)| {
                    Some((
                        source_column(plan, &t.name, c)?.1,
                        source_column(plan, parent, r)?.1,
                    ))
                })
                .collect();
            let (Some(cols), Some(ptp)) = (cols, plan.tables.iter().find(|p| p.target == parent))
            else {
                continue;
            };
            // A key the source declares was enforced on every write made with foreign_key_checks on;
            // only bulk loads with the checks off (restored dumps) can break it. Those are scanned
            // with --all-foreign-keys; PostgreSQL re-validates every key at the end of migrate anyway.
            let declared = sources
                .iter()
                .find(|s| s.name == tp.source)
                .is_some_and(|s| {
                    s.foreign_keys.iter().any(|(c, p)| {
                        p == &ptp.source
                            && c.len() == cols.len()
                            && cols.iter().all(|(x, _)| c.iter().any(|y| y == x))
                    })
                });
            if declared && !all_foreign_keys {
                continue;
            }
            let sql = orphan_sql(
                Dialect::MySql,
                &mysql_ident(&tp.source),
                &mysql_ident(&ptp.source),
                &tp.primary_key,
                &cols,
                limit as u32,
            );
            let rows: Vec<(String, String)> = conn
                .query(&sql)
                .await
                .map_err(q(format!("checking {}", con.name)))?;
            for (key, value) in rows {
                found.push(Violation {
                    table: tp.source.clone(),
                    key: format!("{}={key}", tp.primary_key.join(",")),
                    column: cols.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(","),
                    rule: Rule::OrphanForeignKey {
                        parent: ptp.source.clone(),
                    },
                    excerpt: format!("{value:?}"),
                    hint: Some(format!("target foreign key {}", con.name)),
                });
            }
        }
    }
    Ok(found)
}

/// Foreign keys and UNIQUE constraints of the target, checked on the source inside the snapshot (target UNIQUE
/// constraints the source does not enforce: duplicates PostgreSQL would reject): at most `examples` per key or
/// constraint, each with the rows it stands for.
pub async fn target_only_keys(
    conn: &mut mysql_async::Conn,
    plan: &Contract,
    sources: &[SourceTable],
    target: &[TargetTable],
    all_foreign_keys: bool,
    examples: usize,
) -> Result<Vec<(Violation, u64)>, Error> {
    let q =
        |context: String| move |source: mysql_async::Error| SourceError::Query { context, source };
    let orphans =
        foreign_key_orphans(conn, plan, sources, target, all_foreign_keys, examples).await?;
    let mut found: Vec<(Violation, u64)> = orphans.into_iter().map(|v| (v, 1)).collect();
    for t in target {
        let Some(tp) = plan.tables.iter().find(|p| p.target == t.name) else {
            continue;
        };
        for con in t.constraints.iter().filter(|c| c.kind == 'u') {
            let cols: Option<Vec<&str>> = con
                .columns
                .iter()
                .map(|c| source_column(plan, &t.name, c).map(|x| x.1))
                .collect();
            let Some(cols) = cols else { continue };
            // A source UNIQUE index on the same columns already forbids what PostgreSQL would reject:
            // MySQL's collations and PAD SPACE compare more loosely, never more strictly.
            let enforced = sources
                .iter()
                .find(|s| s.name == tp.source)
                .is_some_and(|s| {
                    s.unique_keys.iter().any(|k| {
                        k.len() == cols.len() && cols.iter().all(|c| k.iter().any(|x| x == c))
                    })
                });
            if enforced {
                continue;
            } // PostgreSQL compares bytes and lets NULLs repeat; MySQL's collation may fold case.
            let bin: Vec<String> = cols
                .iter()
                .map(|c| format!("CAST({} AS BINARY)", mysql_ident(c)))
                .collect();
            let present: Vec<String> = cols
                .iter()
                .map(|c| format!("{0} IS NOT NULL AND {0} <> ''", mysql_ident(c)))
                .collect();
            let sql = format!(
                "SELECT CONCAT_WS(', ', {}), COUNT(*) FROM {} WHERE {} GROUP BY {} HAVING COUNT(*) > 1 LIMIT {examples}",
                cols.iter().map(|c| mysql_ident(c)).collect::<Vec<_>>().join(", "),
                mysql_ident(&tp.source),
                present.join(" AND "),
                bin.join(", ")
            );
            let rows: Vec<(String, u64)> = conn
                .query(&sql)
                .await
                .map_err(q(format!("checking {}", con.name)))?;
            for (value, n) in rows {
                found.push((
                    Violation {
                        table: tp.source.clone(),
                        key: format!("{n} rows"),
                        column: cols.join(","),
                        rule: Rule::Duplicate {
                            constraint: con.name.clone(),
                        },
                        excerpt: format!("{value:?}"),
                        hint: Some("keep one of the rows in the source".into()),
                    },
                    n,
                ));
            }
        }
    }
    Ok(found)
}

/// Foreign keys the target adds (the source never enforced them), checked inside the snapshot before anything is
/// written: a cheap indexed anti-join that spares a whole load; the first orphan refuses the run. Keys the source
/// declares are validated by PostgreSQL when they are re-created; an orphan found then restores the target.
pub async fn refuse_orphans(
    conn: &mut mysql_async::Conn,
    contract: &Contract,
    sources: &[SourceTable],
    target: &[TargetTable],
) -> Result<(), Error> {
    let orphans = foreign_key_orphans(conn, contract, sources, target, false, 1).await?;
    match orphans.into_iter().next() {
        Some(v) => Err(Error::Violation(Box::new(v))),
        None => Ok(()),
    }
}
