//! Runs of followed rows as one statement each: consecutive inserts, deletes or updates of one table (each key at
//! most once in a run) go as a single `INSERT ... SELECT FROM unnest(...)`, `DELETE ... WHERE key IN (...)` or
//! `UPDATE ... FROM unnest(...)` with one text array per column, so PostgreSQL parses, plans and answers once per
//! run instead of once per row. Each value is cast to its column's type as the one-row statements cast it.

use std::collections::HashSet;
use std::ops::Range;

use tokio_postgres::types::ToSql;

/// What a statement does to its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Insert,
    Delete,
    Update,
}

/// A table's set statements, and the two reads of the cut-over's key-by-key check (`keyed`).
pub(super) struct Many {
    insert: String,
    delete: String,
    update: String,
    print: String,
    select: String,
}

/// `unnest($<from+1>::text[], ...) AS v(<prefix>0, ...)`: `n` text arrays as the rows of relation `v`.
fn unnest(from: usize, n: usize, prefix: &str) -> String {
    format!(
        "unnest({}) AS v({})",
        (0..n)
            .map(|i| format!("${}::text[]", from + i + 1))
            .collect::<Vec<_>>()
            .join(", "),
        (0..n)
            .map(|i| format!("{prefix}{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// An UPDATE of the columns at `set` (positions in `names`) of the row whose key (`key`, positions in `names`)
/// follows them among the parameters: one row's values (`rows` false: `$1::text`, ...) or one text array per
/// column (`rows` true, joined through `unnest`). An update that changed a few columns of a wide row then sends
/// and writes those columns only: the others keep their stored (and compressed) values.
pub(super) fn update(
    table: &str,
    names: &[String],
    types: &[&str],
    key: &[usize],
    set: &[usize],
    rows: bool,
) -> String {
    let cast = |column: String, ty: &str| format!("CAST({column} AS {ty})");
    let value = |p: usize| match rows {
        true => format!("v.c{p}"),
        false => format!("${}::text", p + 1),
    };
    let assignments = set
        .iter()
        .enumerate()
        .map(|(p, &i)| format!("{} = {}", names[i], cast(value(p), types[i])))
        .collect::<Vec<_>>()
        .join(", ");
    let n = set.len();
    let matches = |prefix: &str| {
        key.iter()
            .enumerate()
            .map(|(j, &k)| {
                let v = match rows {
                    true => format!("v.k{j}"),
                    false => format!("${}::text", n + j + 1),
                };
                format!("{prefix}{} = {}", names[k], cast(v, types[k]))
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    match rows {
        false => format!("UPDATE {table} SET {assignments} WHERE {}", matches("")),
        true => format!(
            "UPDATE {table} AS t SET {assignments} FROM unnest({}) AS v({}) WHERE {}",
            (0..n + key.len())
                .map(|i| format!("${}::text[]", i + 1))
                .collect::<Vec<_>>()
                .join(", "),
            (0..n)
                .map(|i| format!("c{i}"))
                .chain((0..key.len()).map(|j| format!("k{j}")))
                .collect::<Vec<_>>()
                .join(", "),
            matches("t.")
        ),
    }
}

impl Many {
    /// For `table` (qualified) with columns `names` (quoted) of `types`; `key`: the key's positions in `names`.
    /// The parameters: one text array per column, in order (a delete and a select: the key's columns; an update:
    /// every column, then the key's columns, the row as it was).
    pub(super) fn new(table: &str, names: &[String], types: &[&str], key: &[usize]) -> Many {
        let cast = |column: String, ty: &str| format!("CAST(v.{column} AS {ty})");
        let n = names.len();
        let values = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(", ");
        let key_names: Vec<String> = key.iter().map(|&k| names[k].clone()).collect();
        // The rows whose key is among the key arrays.
        let keyed = format!(
            "({}) IN (SELECT {} FROM {})",
            key_names.join(", "),
            key.iter()
                .enumerate()
                .map(|(j, &k)| cast(format!("k{j}"), types[k]))
                .collect::<Vec<_>>()
                .join(", "),
            unnest(0, key.len(), "k")
        );
        let insert = format!(
            "INSERT INTO {table} ({}) SELECT {} FROM {}",
            names.join(", "),
            values(&|i| cast(format!("c{i}"), types[i])),
            unnest(0, n, "c")
        );
        let delete = format!("DELETE FROM {table} WHERE {keyed}");
        let all: Vec<usize> = (0..n).collect();
        let update = update(table, names, types, key, &all, true);
        // Both sides of the key-by-key check printed by PostgreSQL: converted source values cast to the columns'
        // types and printed, against the stored columns printed.
        let print = format!(
            "SELECT {} FROM {}",
            values(&|i| format!("{}::text", cast(format!("c{i}"), types[i]))),
            unnest(0, n, "c")
        );
        let select = format!(
            "SELECT {} FROM {table} WHERE {keyed}",
            values(&|i| format!("{}::text", names[i]))
        );
        Many {
            insert,
            delete,
            update,
            print,
            select,
        }
    }

    /// Prints rows given as one array per column (a converted value each) as the table's columns print them.
    pub(super) fn print(&self) -> &str {
        &self.print
    }

    /// Reads the rows at the keys given as one array per key column, every column printed as text.
    pub(super) fn select(&self) -> &str {
        &self.select
    }

    pub(super) fn of(&self, kind: Kind) -> &str {
        match kind {
            Kind::Insert => &self.insert,
            Kind::Delete => &self.delete,
            Kind::Update => &self.update,
        }
    }
}

/// The steps split into runs: consecutive steps of one table and kind whose keys differ (`what` gives each step's
/// table, kind and key). Without `sets` every step is its own run.
pub(super) fn runs<S, T: PartialEq, K: Eq + std::hash::Hash>(
    steps: &[S],
    sets: bool,
    what: impl Fn(&S) -> (T, Kind, K),
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut keys: HashSet<K> = HashSet::new();
    for (i, s) in steps.iter().enumerate() {
        let (table, kind, key) = what(s);
        if i > start {
            let (first_table, first_kind, _) = what(&steps[start]);
            let joins = sets && first_table == table && first_kind == kind && !keys.contains(&key);
            if !joins {
                out.push(start..i);
                start = i;
                keys.clear();
            }
        }
        keys.insert(key);
    }
    if start < steps.len() {
        out.push(start..steps.len());
    }
    out
}

/// The parameters of one run: a single row's values, or one array per column.
pub(super) enum Values {
    One(Vec<Option<String>>),
    Arrays(Vec<Vec<Option<String>>>),
}

impl Values {
    pub(super) fn of(mut rows: impl ExactSizeIterator<Item = Vec<Option<String>>>) -> Values {
        if rows.len() == 1 {
            return Values::One(rows.next().expect("one row"));
        }
        Values::arrays(rows)
    }

    /// One array per column, however many rows.
    pub(super) fn arrays(rows: impl Iterator<Item = Vec<Option<String>>>) -> Values {
        let mut arrays: Vec<Vec<Option<String>>> = Vec::new();
        for row in rows {
            if arrays.is_empty() {
                arrays = vec![Vec::new(); row.len()];
            }
            for (a, v) in arrays.iter_mut().zip(row) {
                a.push(v);
            }
        }
        Values::Arrays(arrays)
    }

    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        match self {
            Values::One(v) => v.iter().map(|v| v as &(dyn ToSql + Sync)).collect(),
            Values::Arrays(a) => a.iter().map(|v| v as &(dyn ToSql + Sync)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_break_at_another_table_kind_or_a_key_seen() {
        let steps = [
            ("a", Kind::Insert, 1),
            ("a", Kind::Insert, 2),
            ("a", Kind::Insert, 1),
            ("a", Kind::Update, 1),
            ("b", Kind::Update, 1),
            ("b", Kind::Update, 2),
        ];
        let r = runs(&steps, true, |s| *s);
        assert_eq!(r, vec![0..2, 2..3, 3..4, 4..6]);
        assert_eq!(runs(&steps, false, |s| *s).len(), 6);
        assert!(runs(&steps[..0], true, |s| *s).is_empty());
    }

    #[test]
    fn set_statements_cast_every_array_element() {
        let m = Many::new(
            "\"s\".\"t\"",
            &["\"id\"".into(), "\"v\"".into()],
            &["uuid", "json"],
            &[0],
        );
        assert_eq!(
            m.of(Kind::Insert),
            "INSERT INTO \"s\".\"t\" (\"id\", \"v\") SELECT CAST(v.c0 AS uuid), CAST(v.c1 AS json) FROM \
             unnest($1::text[], $2::text[]) AS v(c0, c1)"
        );
        assert_eq!(
            m.of(Kind::Delete),
            "DELETE FROM \"s\".\"t\" WHERE (\"id\") IN (SELECT CAST(v.k0 AS uuid) FROM unnest($1::text[]) AS v(k0))"
        );
        assert_eq!(
            m.of(Kind::Update),
            "UPDATE \"s\".\"t\" AS t SET \"id\" = CAST(v.c0 AS uuid), \"v\" = CAST(v.c1 AS json) FROM \
             unnest($1::text[], $2::text[], $3::text[]) AS v(c0, c1, k0) WHERE t.\"id\" = CAST(v.k0 AS uuid)"
        );
        assert_eq!(
            update("\"s\".\"t\"", &["\"id\"".into(), "\"v\"".into(), "\"n\"".into()], &["uuid", "json", "int"], &[0], &[2], true),
            "UPDATE \"s\".\"t\" AS t SET \"n\" = CAST(v.c0 AS int) FROM unnest($1::text[], $2::text[]) AS \
             v(c0, k0) WHERE t.\"id\" = CAST(v.k0 AS uuid)"
        );
        assert_eq!(
            update("\"s\".\"t\"", &["\"id\"".into(), "\"v\"".into(), "\"n\"".into()], &["uuid", "json", "int"], &[0], &[2], false),
            "UPDATE \"s\".\"t\" SET \"n\" = CAST($1::text AS int) WHERE \"id\" = CAST($2::text AS uuid)"
        );
        assert_eq!(
            m.print(),
            "SELECT CAST(v.c0 AS uuid)::text, CAST(v.c1 AS json)::text FROM unnest($1::text[], $2::text[]) AS v(c0, c1)"
        );
        assert_eq!(
            m.select(),
            "SELECT \"id\"::text, \"v\"::text FROM \"s\".\"t\" WHERE (\"id\") IN (SELECT CAST(v.k0 AS uuid) FROM \
             unnest($1::text[]) AS v(k0))"
        );
    }
}
