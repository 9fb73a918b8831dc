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

/// A table's set statements.
pub(super) struct Many {
    insert: String,
    delete: String,
    update: String,
}

impl Many {
    /// For `table` (qualified) with columns `names` (quoted) of `types`; `key`: the key's positions in `names`.
    /// The parameters: one text array per column, in order (a delete: the key's columns; an update: every
    /// column, then the key's columns, the row as it was).
    pub(super) fn new(table: &str, names: &[String], types: &[&str], key: &[usize]) -> Many {
        let arrays = |from: usize, n: usize| {
            (0..n)
                .map(|i| format!("${}::text[]", from + i + 1))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let cast = |column: &str, ty: &str| format!("CAST(v.{column} AS {ty})");
        let value = |i: usize| format!("c{i}");
        let key_name = |n: usize| format!("k{n}");
        let n = names.len();
        let insert = format!(
            "INSERT INTO {table} ({}) SELECT {} FROM unnest({}) AS v({})",
            names.join(", "),
            (0..n)
                .map(|i| cast(&value(i), types[i]))
                .collect::<Vec<_>>()
                .join(", "),
            arrays(0, n),
            (0..n).map(value).collect::<Vec<_>>().join(", ")
        );
        let key_names: Vec<String> = key.iter().map(|&k| names[k].clone()).collect();
        let delete = format!(
            "DELETE FROM {table} WHERE ({}) IN (SELECT {} FROM unnest({}) AS v({}))",
            key_names.join(", "),
            key.iter()
                .enumerate()
                .map(|(n, &k)| cast(&key_name(n), types[k]))
                .collect::<Vec<_>>()
                .join(", "),
            arrays(0, key.len()),
            (0..key.len()).map(key_name).collect::<Vec<_>>().join(", ")
        );
        let update = format!(
            "UPDATE {table} AS t SET {} FROM unnest({}) AS v({}) WHERE {}",
            (0..n)
                .map(|i| format!("{} = {}", names[i], cast(&value(i), types[i])))
                .collect::<Vec<_>>()
                .join(", "),
            arrays(0, n + key.len()),
            (0..n)
                .map(value)
                .chain((0..key.len()).map(key_name))
                .collect::<Vec<_>>()
                .join(", "),
            key.iter()
                .enumerate()
                .map(|(j, &k)| format!("t.{} = {}", names[k], cast(&key_name(j), types[k])))
                .collect::<Vec<_>>()
                .join(" AND ")
        );
        Many {
            insert,
            delete,
            update,
        }
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
    }
}
