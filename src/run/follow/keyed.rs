//! The cut-over's check of the rows the follow phase changed, key by key: every key a followed change touched
//! (before and after a key change, deleted ones too) is read on the frozen source with the copy's own SELECT and
//! converter, and on the target; both are printed by PostgreSQL (`CAST(value AS type)::text` against the stored
//! column's `::text`), so equal values print alike whatever their type. A table whose keys the follower could not
//! keep (too many, a statement passed on it, touched by an earlier run) is verified whole instead by the caller.
//!
//! Rows the follow phase did not touch were verified with the copy and nothing but the follower writes the target
//! meanwhile: reading only the touched keys keeps the freeze proportional to what changed, not to the database.

use std::collections::{HashMap, HashSet};

use super::images;
use super::sets::{Many, Values};
use crate::cutover::error::pg;
use crate::source::mysql::binlog::Row;
use crate::util::sql::{mysql_ident, mysql_string};
use mysql_async::prelude::Queryable;

/// Past this many distinct keys a table's keys are dropped and it is verified whole: memory stays bounded.
pub const MAX_KEYS: usize = 1_000_000;
/// Keys per round trip.
const BATCH: usize = 500;

/// The keys the follower touched in one source table: target key text → the source's raw key values.
#[derive(Debug, Default)]
pub struct TableKeys {
    pub keys: HashMap<Vec<Option<String>>, Row>,
    /// Too many keys, or changed where keys are not known: verified whole.
    pub whole: bool,
}

impl TableKeys {
    pub(super) fn add(&mut self, target: Vec<Option<String>>, source: Row) {
        if self.whole {
            return;
        }
        self.keys.insert(target, source);
        if self.keys.len() > MAX_KEYS {
            self.keys = HashMap::new();
            self.whole = true;
        }
    }
}

/// Why the key-by-key check could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum KeyedError {
    #[error(transparent)]
    Source(#[from] crate::source::mysql::SourceError),
    #[error(transparent)]
    Target(#[from] crate::cutover::TargetError),
    #[error(transparent)]
    Violation(#[from] Box<crate::values::Violation>),
}

/// What the key-by-key check found.
#[derive(Debug, Default)]
pub struct Keyed {
    pub tables: usize,
    pub keys: u64,
    /// Up to 20 differences, each naming table, key, column and both values.
    pub differences: Vec<String>,
    pub differing: u64,
}

/// One difference at most this long in a message.
fn clip(v: &Option<String>) -> String {
    match v {
        None => "NULL".into(),
        Some(s) if s.chars().count() > 80 => {
            format!("{:?}...", s.chars().take(80).collect::<String>())
        }
        Some(s) => format!("{s:?}"),
    }
}

/// A MySQL literal for a raw key value of a column of `data_type`: digits bare, binary and anything not UTF-8 as
/// hex, text quoted (through the column's collation, as a string literal is coercible).
fn literal(value: &Option<Vec<u8>>, data_type: &str) -> String {
    let Some(b) = value else {
        return "NULL".into();
    };
    let numeric = matches!(
        data_type,
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "decimal"
    );
    let binary = matches!(
        data_type,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob"
    );
    match std::str::from_utf8(b) {
        Ok(s)
            if numeric
                && !s.is_empty()
                && s.bytes()
                    .all(|c| c.is_ascii_digit() || c == b'-' || c == b'.') =>
        {
            s.to_string()
        }
        Ok(s) if !binary => mysql_string(s),
        _ => {
            let mut hex = String::from("X'");
            crate::util::hex::push_hex(&mut hex, b);
            hex.push('\'');
            hex
        }
    }
}

/// A followed table as the check needs it: its converter, where its converter's inputs and its key are among
/// the source's columns, and its key among the converted columns.
pub(super) struct Table<'a> {
    pub work: &'a crate::run::work::TableWork,
    pub pick: &'a [usize],
    pub key: &'a [usize],
    pub source_key: &'a [usize],
    /// Its statements: the check's two reads.
    pub many: &'a Many,
}

impl TableKeys {
    /// Checks every key kept here of table `f`, adding what it finds to `out`; `source` reads the frozen source,
    /// `client` the target.
    pub(super) async fn check(
        &self,
        f: &Table<'_>,
        client: &tokio_postgres::Client,
        source: &mut mysql_async::Conn,
        out: &mut Keyed,
    ) -> Result<(), KeyedError> {
        out.tables += 1;
        let keys: Vec<(&Vec<Option<String>>, &Row)> = self.keys.iter().collect();
        for batch in keys.chunks(BATCH) {
            out.keys += batch.len() as u64;
            check_batch(f, batch, client, source, out).await?;
        }
        Ok(())
    }
}

async fn check_batch(
    f: &Table<'_>,
    batch: &[(&Vec<Option<String>>, &Row)],
    client: &tokio_postgres::Client,
    source: &mut mysql_async::Conn,
    out: &mut Keyed,
) -> Result<(), KeyedError> {
    let c = &f.work.contract;
    let src = &f.work.source;
    // The source's rows at these keys, as the copy reads them (every column, in the binary log's order).
    let key_names: Vec<&str> = f
        .source_key
        .iter()
        .map(|&i| src.columns[i].name.as_str())
        .collect();
    let tuples: Vec<String> = batch
        .iter()
        .map(|(_, raw)| {
            let lits: Vec<String> = f
                .source_key
                .iter()
                .zip(raw.iter())
                .map(|(&i, v)| literal(v, &src.columns[i].data_type))
                .collect();
            format!("({})", lits.join(", "))
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE ({}) IN ({})",
        src.columns
            .iter()
            .map(|col| crate::source::mysql::select_expr(src, &col.name))
            .collect::<Vec<_>>()
            .join(", "),
        mysql_ident(&src.name),
        key_names
            .iter()
            .map(|k| mysql_ident(k))
            .collect::<Vec<_>>()
            .join(", "),
        tuples.join(", ")
    );
    let rows: Vec<mysql_async::Row> =
        source
            .query(&sql)
            .await
            .map_err(|source| crate::source::mysql::SourceError::Query {
                context: format!("reading the changed rows of {} again", src.name),
                source,
            })?;
    let wanted: HashSet<&Row> = batch.iter().map(|(_, raw)| *raw).collect();
    let raw: Vec<Row> = rows
        .into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql_async::Value::Bytes(b) => Some(b),
                    _ => None,
                })
                .collect::<Row>()
        })
        // A string key's collation may match more than the exact key: only the touched keys count.
        .filter(|r: &Row| {
            let k: Row = f.source_key.iter().map(|&i| r[i].clone()).collect();
            wanted.contains(&k)
        })
        .collect();
    let refs: Vec<&Row> = raw.iter().collect();
    let converted = images::batch(
        &images::Conversion {
            work: f.work,
            pick: f.pick,
            source_key: f.source_key,
        },
        &refs,
    )?;
    // Both sides printed by PostgreSQL.
    let n = c.columns.len();
    let context = || format!("reading the changed rows of {} again", c.target);
    let values = Values::arrays(converted.into_iter());
    let source_rows = client
        .query(f.many.print(), &values.params())
        .await
        .map_err(pg(context()))?;
    let keys = Values::arrays(batch.iter().map(|(t, _)| (*t).clone()));
    let target_rows = client
        .query(f.many.select(), &keys.params())
        .await
        .map_err(pg(context()))?;
    let texts =
        |rows: Vec<tokio_postgres::Row>| -> HashMap<Vec<Option<String>>, Vec<Option<String>>> {
            rows.into_iter()
                .map(|r| {
                    let v: Vec<Option<String>> = (0..n).map(|i| r.get(i)).collect();
                    (f.key.iter().map(|&i| v[i].clone()).collect(), v)
                })
                .collect()
        };
    let (s, t) = (texts(source_rows), texts(target_rows));
    let mut keys: Vec<&Vec<Option<String>>> = s.keys().chain(t.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let what = match (s.get(key), t.get(key)) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) => {
                let i = (0..n).find(|&i| a[i] != b[i]).expect("a differing column");
                format!(
                    "column {}: source {}, target {}",
                    c.columns[i].target,
                    clip(&a[i]),
                    clip(&b[i])
                )
            }
            (Some(_), None) => "the target lacks this row".into(),
            (None, _) => "the target has this row, the source does not".into(),
        };
        out.differing += 1;
        if out.differences.len() < 20 {
            let names = c.columns.iter().map(|col| col.target.as_str());
            let key_text = f
                .key
                .iter()
                .zip(key.iter())
                .map(|(&i, v)| format!("{}={}", names.clone().nth(i).unwrap_or("?"), clip(v)))
                .collect::<Vec<_>>()
                .join(", ");
            out.differences
                .push(format!("{} at {key_text}: {what}", c.target));
        }
    }
    Ok(())
}
