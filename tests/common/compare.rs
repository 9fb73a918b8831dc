//! Independent cell-by-cell comparison of a migrated target with its MariaDB source, written without any of
//! pgconverge's conversion code: what PostgreSQL's `::text` must show is derived here from the MySQL bytes.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use pgconverge_testbed::facts::{App, Catalog};

/// What PostgreSQL's `::text` of the migrated value must be, derived from the MySQL bytes and the target type.
fn expected(pg_type: &str, note: &str, v: Option<Vec<u8>>) -> Option<String> {
    let v = v?;
    let s = String::from_utf8_lossy(&v).into_owned();
    if note.contains("whiteboard compressed content") {
        let bytes: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
        return Some(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    Some(match pg_type {
        "uuid" if s.is_empty() => return None,
        "uuid" => s.to_lowercase(),
        "boolean" => (if s == "1" { "true" } else { "false" }).to_string(),
        "bytea" => format!(
            "\\x{}",
            v.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        t if t.starts_with("timestamp") => {
            // PostgreSQL prints fractional seconds without trailing zeros.
            match s.split_once('.') {
                Some((a, f)) => {
                    let f = f.trim_end_matches('0');
                    if f.is_empty() {
                        a.to_string()
                    } else {
                        format!("{a}.{f}")
                    }
                }
                None => s,
            }
        }
        _ => s,
    })
}

fn same(pg_type: &str, want: &Option<String>, got: &Option<String>) -> bool {
    match (want, got) {
        (Some(w), Some(g)) if pg_type == "json" || pg_type == "jsonb" => {
            serde_json::from_str::<serde_json::Value>(w).ok()
                == serde_json::from_str::<serde_json::Value>(g).ok()
        }
        // character(n) is blank-padded by PostgreSQL.
        (Some(w), Some(g)) if pg_type.starts_with("character(") => w.trim_end() == g.trim_end(),
        _ => want == got,
    }
}

/// Compares every table that is copied, every row, every column.
/// The primary-key values of a row, joined.
fn row_key(pk: &[String], names: &[&str], vals: &[Option<String>]) -> String {
    pk.iter()
        .map(|k| {
            vals[names.iter().position(|n| n == k).expect("key column")]
                .clone()
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("|")
}

pub async fn compare_all(app: App, dbs: &super::TestDbs) -> usize {
    let cat = Catalog::load(app);
    let mapping = pgconverge::mapping::Mapping::load(std::path::Path::new(&format!(
        "mappings/{}.toml",
        app.name()
    )))
    .unwrap();
    let mut my = super::mysql_conn(&dbs.source_admin()).await;
    let pg = super::pg_conn(&dbs.target()).await;
    let mut problems = Vec::new();
    let mut cells = 0;
    for t in cat
        .tables
        .values()
        .filter(|t| !mapping.skip_tables.contains_key(&t.name))
    {
        let cols: Vec<_> = t.columns.iter().collect();
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        let pk = &t.pk;
        let my_sql = format!(
            "SELECT {} FROM `{}`",
            cols.iter()
                .map(|c| format!("`{}`", c.name))
                .collect::<Vec<_>>()
                .join(","),
            t.name
        );
        let rows: Vec<mysql_async::Row> = my.query(my_sql).await.unwrap();
        let mut want: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
        for mut r in rows {
            let vals: Vec<Option<String>> = cols
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let raw = match r.take::<Value, usize>(i) {
                        Some(Value::Bytes(b)) => Some(b),
                        _ => None,
                    };
                    expected(&c.pg_type, &c.notes, raw)
                })
                .collect();
            let key = row_key(pk, &names, &vals);
            want.insert(key, vals);
        }
        let pg_sql = format!(
            "SELECT {} FROM \"{}\"",
            cols.iter()
                .map(|c| format!("\"{}\"::text", c.name))
                .collect::<Vec<_>>()
                .join(","),
            t.name
        );
        let mut got: HashMap<String, Vec<Option<String>>> = HashMap::new();
        for r in pg.query(&pg_sql, &[]).await.unwrap() {
            let vals: Vec<Option<String>> = (0..cols.len()).map(|i| r.get(i)).collect();
            let key = row_key(pk, &names, &vals);
            assert!(
                got.insert(key.clone(), vals).is_none(),
                "{}: duplicate key {key} in the target",
                t.name
            );
        }
        if want.len() != got.len() {
            problems.push(format!(
                "{}: {} source rows, {} target rows",
                t.name,
                want.len(),
                got.len()
            ));
        }
        for (k, w) in &want {
            let Some(g) = got.get(k) else {
                problems.push(format!("{}: row {k} missing in the target", t.name));
                continue;
            };
            for (i, c) in cols.iter().enumerate() {
                cells += 1;
                if !same(&c.pg_type, &w[i], &g[i]) {
                    problems.push(format!(
                        "{}.{} at {k}: want {:?}, got {:?}",
                        t.name, c.name, w[i], g[i]
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences, first ones:\n{}",
        problems.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    cells
}
