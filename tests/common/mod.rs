//! Test harness: gives each test its own fresh source (MariaDB) and target (PostgreSQL) databases on the servers
//! that scripts/db-up.sh started, loads the fixture schemas, and drops both databases when the test ends.
//!
//! A test that needs the servers panics with the command to run when they are absent: it never skips.
#![allow(dead_code)]

pub mod compare;
pub mod runs;

use std::sync::atomic::{AtomicUsize, Ordering};

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;

pub fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

/// Server URLs without database (defaults match scripts/db-up.sh).
pub fn mysql_admin() -> String {
    env_or(
        "PGCONVERGE_TEST_MYSQL_ADMIN",
        "mysql://pgc_admin:pgc_admin@127.0.0.1:13306",
    )
}
pub fn mysql_reader() -> String {
    env_or(
        "PGCONVERGE_TEST_MYSQL_READER",
        "mysql://pgc_reader:pgc_reader@127.0.0.1:13306",
    )
}
pub fn pg_super() -> String {
    env_or(
        "PGCONVERGE_TEST_PG_SUPER",
        "postgres://pgc_super:pgc_super@127.0.0.1:15432",
    )
}
pub fn pg_owner() -> String {
    env_or(
        "PGCONVERGE_TEST_PG_OWNER",
        "postgres://pgc_owner:pgc_owner@127.0.0.1:15432",
    )
}

const HINT: &str =
    "the test servers are not reachable: run `bash scripts/db-up.sh` (scripts/test.sh does it)";

pub async fn mysql_conn(url: &str) -> mysql_async::Conn {
    let opts = mysql_async::Opts::from_url(url).expect("mysql url");
    let mut c = mysql_async::Conn::new(opts)
        .await
        .unwrap_or_else(|e| panic!("{HINT}: MariaDB: {e}"));
    c.query_drop("SET NAMES utf8mb4, time_zone = '+00:00'")
        .await
        .unwrap();
    c
}

pub async fn pg_conn(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{HINT}: PostgreSQL: {e:?}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// The first column of every row `sql` returns, as text.
pub async fn strings(pg: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    pg.query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Runs `pgconverge <command> --mapping mappings/<app>.toml <extra>` with the test's databases in
/// PGCONVERGE_SOURCE / PGCONVERGE_TARGET; returns the exit code and stdout followed by stderr.
pub fn run(dbs: &TestDbs, command: &str, extra: &[&str]) -> (i32, String) {
    run_mapping(
        dbs,
        command,
        &format!("mappings/{}.toml", dbs.app.name()),
        extra,
    )
}

/// As [`run`], with another mapping file.
pub fn run_mapping(dbs: &TestDbs, command: &str, mapping: &str, extra: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .args([command, "--mapping", mapping])
        .args(extra)
        .env("PGCONVERGE_SOURCE", dbs.source())
        .env("PGCONVERGE_TARGET", dbs.target())
        .env("PGCONVERGE_LOG", "warn")
        .output()
        .expect("run pgconverge");
    runs::outcome(out)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's pair of databases: `source` on MariaDB with the app's MySQL schema, `target` on PostgreSQL with the
/// app's migrated schema (owned by the non-superuser role), both dropped on drop.
pub struct TestDbs {
    pub app: App,
    pub name: String,
}

impl TestDbs {
    pub async fn new(app: App) -> TestDbs {
        let dbs = TestDbs::empty(app).await;
        let mut my = mysql_conn(&dbs.source_admin()).await;
        for s in pgconverge_testbed::fixtures::statements(
            pgconverge_testbed::fixtures::mysql_schema(app),
        ) {
            my.query_drop(&s)
                .await
                .unwrap_or_else(|e| panic!("mysql fixture statement failed: {e}\n{s}"));
        }
        my.disconnect().await.ok();
        let owner = pg_conn(&dbs.target()).await;
        for s in
            pgconverge_testbed::fixtures::statements(pgconverge_testbed::fixtures::pg_schema(app))
        {
            owner
                .batch_execute(&s)
                .await
                .unwrap_or_else(|e| panic!("pg fixture statement failed: {e}\n{s}"));
        }
        dbs
    }

    /// Fresh empty databases on both servers (the target owned by the non-superuser role).
    async fn empty(app: App) -> TestDbs {
        let name = format!(
            "t{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            app.name()
        );
        let mut my = mysql_conn(&mysql_admin()).await;
        my.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await
            .unwrap();
        my.query_drop(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        ))
        .await
        .unwrap();
        my.disconnect().await.ok();
        let sup = pg_conn(&format!("{}/postgres", pg_super())).await;
        sup.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .await
            .unwrap();
        sup.batch_execute(&format!("CREATE DATABASE \"{name}\" OWNER pgc_owner"))
            .await
            .unwrap();
        TestDbs { app, name }
    }

    /// A pair of databases holding only `mysql` and `pg` (statements separated by `;\n`), for schemas that are not
    /// the applications'. `app` only names the pair; pass the mapping explicitly.
    pub async fn bare(mysql: &str, pg: &str) -> TestDbs {
        let dbs = TestDbs::empty(App::Kratos).await;
        let mut my = mysql_conn(&dbs.source_admin()).await;
        for s in mysql.split(";\n").filter(|s| !s.trim().is_empty()) {
            my.query_drop(s)
                .await
                .unwrap_or_else(|e| panic!("mysql statement failed: {e}\n{s}"));
        }
        my.disconnect().await.ok();
        let owner = pg_conn(&dbs.target()).await;
        owner
            .batch_execute(pg)
            .await
            .unwrap_or_else(|e| panic!("pg statements failed: {e:?}\n{pg}"));
        dbs
    }

    pub fn source_admin(&self) -> String {
        format!("{}/{}", mysql_admin(), self.name)
    }
    pub fn source(&self) -> String {
        format!("{}/{}", mysql_reader(), self.name)
    }
    pub fn target(&self) -> String {
        format!("{}/{}", pg_owner(), self.name)
    }
    pub fn target_super(&self) -> String {
        format!("{}/{}", pg_super(), self.name)
    }
}

impl Drop for TestDbs {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a private one on a plain thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut my = mysql_conn(&mysql_admin()).await;
                let _ = my
                    .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await;
                let sup = pg_conn(&format!("{}/postgres", pg_super())).await;
                let _ = sup
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

/// The whole observable state of a test's target: schemas, constraints (with definitions), indexes, triggers,
/// sequences with their positions, and every table's row count and content digest. Two equal states mean the
/// same catalog and the same rows.
pub async fn target_state(dbs: &TestDbs) -> String {
    let pg = pg_conn(&dbs.target_super()).await;
    let catalog: String = pg
        .query_one(
            "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
               SELECT 'schema ' || nspname FROM pg_namespace
                 WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
               UNION ALL SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
                 FROM pg_constraint WHERE connamespace = 'public'::regnamespace
               UNION ALL SELECT 'index ' || pg_get_indexdef(indexrelid)
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
               UNION ALL SELECT 'trigger ' || tgrelid::regclass || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
               UNION ALL SELECT 'sequence ' || sequencename || ' ' || coalesce(last_value::text, 'unused')
                 FROM pg_sequences WHERE schemaname = 'public'
             ) s(x)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let tables = strings(
        &pg,
        "SELECT quote_ident(relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace \
         AND relkind = 'r' ORDER BY 1",
    )
    .await;
    let mut out = catalog;
    for t in tables {
        let (n, digest): (i64, Option<String>) = pg
            .query_one(
                &format!(
                    "SELECT count(*), md5(string_agg(x::text, E'\\n' ORDER BY x::text)) FROM public.{t} x"
                ),
                &[],
            )
            .await
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
        out.push_str(&format!("\nrows {t} {n} {}", digest.unwrap_or_default()));
    }
    out
}

/// Puts rows into a Kratos target that no migration seeded (a network and an identity in it), as an operator's
/// test or an earlier load would leave them.
pub async fn plant_stray_kratos_rows(dbs: &TestDbs) {
    pg_conn(&dbs.target())
        .await
        .batch_execute(
            "INSERT INTO networks (id, created_at, updated_at) VALUES ('11111111-1111-4111-8111-111111111111', now(), now());
             INSERT INTO identities (id, schema_id, traits, created_at, updated_at, nid, state)
             VALUES ('22222222-2222-4222-8222-222222222222', 'default', '{\"a\": 1}', now(), now(),
                     '11111111-1111-4111-8111-111111111111', 'active')",
        )
        .await
        .unwrap();
}

/// Every table of the test's source with its server checksum: proves the source was only read.
pub async fn source_checksum(dbs: &TestDbs) -> String {
    let mut my = mysql_conn(&dbs.source_admin()).await;
    let tables: Vec<String> = my
        .query(format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{}' ORDER BY 1",
            dbs.name
        ))
        .await
        .unwrap();
    let list: Vec<String> = tables.iter().map(|t| format!("`{t}`")).collect();
    let rows: Vec<(String, Option<u64>)> = my
        .query(format!("CHECKSUM TABLE {} EXTENDED", list.join(", ")))
        .await
        .unwrap();
    rows.iter()
        .map(|(t, c)| format!("{t} {c:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Python with pyarrow that scripts/py-env.sh installs (scripts/test.sh runs it first).
pub fn pyarrow_python() -> String {
    let py = std::env::var("PGCONVERGE_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/target/pyenv/bin/python3", env!("CARGO_MANIFEST_DIR")));
    assert!(
        std::path::Path::new(&py).exists(),
        "{py} is missing: run `bash scripts/py-env.sh` (scripts/test.sh does) to install pyarrow"
    );
    py
}

/// Parquet files of an export read back by pyarrow (tests/read_parquet.py): column types and rows.
pub fn read_parquet(files: &[std::path::PathBuf]) -> serde_json::Value {
    let out = std::process::Command::new(pyarrow_python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/read_parquet.py"
        ))
        .args(files)
        .output()
        .expect("run the Parquet reader");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A source user of `dbs`'s database with `grants` (besides SELECT on it), and its URL; dropped first if left over.
pub async fn source_user(dbs: &TestDbs, user: &str, password: &str, grants: &[&str]) -> String {
    let mut my = mysql_conn(&mysql_admin()).await;
    my.query_drop(format!("DROP USER IF EXISTS '{user}'@'127.0.0.1'"))
        .await
        .unwrap();
    my.query_drop(format!(
        "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'"
    ))
    .await
    .unwrap();
    my.query_drop(format!(
        "GRANT SELECT ON `{}`.* TO '{user}'@'127.0.0.1'",
        dbs.name
    ))
    .await
    .unwrap();
    for g in grants {
        my.query_drop(format!("GRANT {g} ON *.* TO '{user}'@'127.0.0.1'"))
            .await
            .unwrap();
    }
    my.disconnect().await.ok();
    let host = mysql_admin().rsplit('@').next().unwrap().to_string();
    format!("mysql://{user}:{password}@{host}/{}", dbs.name)
}

/// The validator of docs/report.schema.json.
pub fn report_validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("docs/report.schema.json").unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// Panics, listing every violation, unless `report` follows docs/report.schema.json.
pub fn assert_valid(v: &jsonschema::Validator, report: &serde_json::Value, what: &str) {
    let errors: Vec<String> = v.iter_errors(report).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{what} report breaks the schema: {errors:#?}"
    );
}
