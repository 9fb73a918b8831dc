//! Loads every fixture into the real servers and checks, by introspection, that tables and columns (name, type,
//! nullability) and the PostgreSQL keys match the fact catalogues in tests/facts/.

mod common;

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::{App, Catalog};

type Cols = BTreeMap<(String, String), (String, bool)>;

/// MariaDB shows display widths (`int(11)`) and JSON as `longtext` with a json_valid CHECK; the facts use MySQL 8
/// spellings. Normalise MariaDB's answer to MySQL 8's.
fn mysql8_type(column_type: &str, is_json: bool) -> String {
    if is_json {
        return "json".into();
    }
    for base in ["int", "bigint", "smallint", "mediumint"] {
        if column_type.starts_with(&format!("{base}(")) {
            return column_type.split('(').next().unwrap().to_string()
                + column_type.split(')').nth(1).unwrap_or("");
        }
    }
    if column_type.starts_with("tinyint(") && column_type != "tinyint(1)" {
        return "tinyint".into();
    }
    column_type.to_string()
}

async fn mysql_columns(url: &str, db: &str) -> Cols {
    let mut c = common::mysql_conn(url).await;
    let json: Vec<(String, String)> = c
        .exec(
            "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?",
            (db,),
        )
        .await
        .unwrap();
    let rows: Vec<(String, String, String, String)> = c
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ?",
            (db,),
        )
        .await
        .unwrap();
    rows.into_iter()
        .map(|(t, col, ty, null)| {
            let is_json = json
                .iter()
                .any(|(jt, clause)| jt == &t && clause == &format!("json_valid(`{col}`)"));
            ((t, col), (mysql8_type(&ty, is_json), null == "YES"))
        })
        .collect()
}

async fn pg_columns(url: &str) -> Cols {
    let c = common::pg_conn(url).await;
    let rows = c
        .query(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                    coalesce(pg_get_expr(d.adbin, d.adrelid), '')
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped",
            &[],
        )
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            let (t, col, mut ty, null, def): (String, String, String, bool, String) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            // A serial is an integer whose default draws from the sequence it owns.
            if ty == "integer" && def.starts_with("nextval(") {
                ty = "serial".into();
            }
            ((t, col), (ty, null))
        })
        .collect()
}

fn expected(cat: &Catalog, mysql: bool) -> Cols {
    let mut out = Cols::new();
    for t in cat.tables.values() {
        for c in &t.columns {
            let v = if mysql {
                (c.mysql_type.clone(), c.mysql_nullable)
            } else {
                (c.pg_type.clone(), c.pg_nullable)
            };
            out.insert((t.name.clone(), c.name.clone()), v);
        }
    }
    out
}

/// Lists every difference, so one failure shows the whole story.
fn diff(engine: &str, want: &Cols, got: &Cols) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => out.push(format!(
                "{engine}: column {}.{} missing from the fixture",
                k.0, k.1
            )),
            Some(g) if g != v => out.push(format!(
                "{engine}: {}.{} is {:?}, facts say {:?}",
                k.0, k.1, g, v
            )),
            _ => {}
        }
    }
    for k in got.keys().filter(|k| !want.contains_key(*k)) {
        out.push(format!(
            "{engine}: column {}.{} is not in the facts",
            k.0, k.1
        ));
    }
    out
}

async fn check(app: App) {
    let dbs = common::TestDbs::new(app).await;
    let cat = Catalog::load(app);
    let my = mysql_columns(&dbs.source_admin(), &dbs.name).await;
    let pg = pg_columns(&dbs.target()).await;
    let mut problems = diff("mysql", &expected(&cat, true), &my);
    problems.extend(diff("postgres", &expected(&cat, false), &pg));

    // Keys on the target: every pk/unique/fk/check/index of the facts exists under its exact name.
    let c = common::pg_conn(&dbs.target()).await;
    let names = common::strings(
        &c,
        "SELECT conname::text FROM pg_constraint WHERE connamespace = 'public'::regnamespace
         UNION ALL SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'",
    )
    .await;
    for k in &cat.constraints {
        if k.mysql.contains("mysql-only") || (k.table == "migrations_typeorm" && k.kind == "pk") {
            continue;
        }
        if !names.contains(&k.name) {
            problems.push(format!(
                "postgres: {} {} on {} missing",
                k.kind, k.name, k.table
            ));
        }
    }
    let tables_my: std::collections::BTreeSet<&String> = my.keys().map(|(t, _)| t).collect();
    let tables_pg: std::collections::BTreeSet<&String> = pg.keys().map(|(t, _)| t).collect();
    assert_eq!(tables_my.len(), cat.tables.len(), "mysql table count");
    assert_eq!(tables_pg.len(), cat.tables.len(), "postgres table count");
    assert!(
        problems.is_empty(),
        "{} fixture differs from the facts:\n{}",
        app.name(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn alkemio_fixtures_match_facts() {
    check(App::Alkemio).await;
}

#[tokio::test]
async fn kratos_fixtures_match_facts() {
    check(App::Kratos).await;
}

#[test]
fn mariadb_type_spellings_normalise_to_mysql8() {
    assert_eq!(mysql8_type("int(11)", false), "int");
    assert_eq!(mysql8_type("bigint(20) unsigned", false), "bigint unsigned");
    assert_eq!(mysql8_type("tinyint(4)", false), "tinyint");
    assert_eq!(mysql8_type("tinyint(1)", false), "tinyint(1)");
    assert_eq!(mysql8_type("longtext", true), "json");
}
