//! `pgconverge migrate` end to end on the real servers: both apps' generated data plus planted tricky values,
//! compared cell by cell between MariaDB and PostgreSQL by a comparison written here, independent of
//! pgconverge's own conversions; and the target catalog is identical before and after.

mod common;

use std::process::Command;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;

fn migrate(dbs: &common::TestDbs, extra: &[&str]) -> (i32, String) {
    common::run(dbs, "migrate", extra)
}

/// Catalog facts that must not change: columns, constraint definitions, indexes, sequence ownership.
/// The target catalog a run must leave as it was; the one schema a completed run adds is its ledger
/// (`pgconverge`, the baseline `reset` uses; tests/resume.rs covers it).
async fn catalog(dbs: &common::TestDbs) -> Vec<String> {
    let c = common::pg_conn(&dbs.target()).await;
    let q = "SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
               FROM information_schema.columns WHERE table_schema = 'public'
             UNION ALL SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated
               FROM pg_constraint WHERE connamespace = 'public'::regnamespace
             UNION ALL SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
             UNION ALL SELECT 'seq ' || s.relname || ' owned by ' || t.relname || '.' || a.attname
               FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
               JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
             UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
               AND nspname <> 'pgconverge'";
    let mut v: Vec<String> = c
        .query(q, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    v.sort();
    v
}

const TRICKY: &str = "a,b \"q\" 'x' \\ back\\slash\r\nCRLF\nLF\ttab 😀 e\u{301} \\.";

#[tokio::test]
async fn alkemio_migrates_exactly_with_tricky_values_and_unchanged_catalog() {
    let dbs = common::TestDbs::new(App::Alkemio).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Alkemio, 11, 0.002, 2)
        .await
        .unwrap();
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    // Planted values: NULL and '' side by side, every CSV-hostile character, JSON unicode escapes.
    my.exec_drop(
        "UPDATE profile SET tagline = ?, description = NULL ORDER BY id LIMIT 1",
        (TRICKY,),
    )
    .await
    .unwrap();
    my.query_drop("UPDATE profile SET tagline = '', description = '' ORDER BY id DESC LIMIT 1")
        .await
        .unwrap();
    my.exec_drop(
        "UPDATE location SET geoLocation = ? ORDER BY id LIMIT 1",
        (r#"{"s":"caf\u00e9 \ud83d\ude00 \"q\"","n":-1.5e3}"#,),
    )
    .await
    .unwrap();
    my.query_drop("UPDATE memo SET content = X'000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9FA0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF' ORDER BY id LIMIT 1").await.unwrap();
    // An empty table, a one-row table (forum, platform are singletons), and skewed uuid keys.
    my.query_drop("DELETE FROM discussion").await.unwrap();
    my.query_drop("UPDATE activity SET id = CONCAT('00000000-0000-4000-8000-', LPAD(rowId, 12, '0')) WHERE rowId % 3 <> 0").await.unwrap();
    // Sparse integer keys at the extremes of the type, on a table both sides have.
    my.query_drop("CREATE TABLE int_pk_probe (id int NOT NULL PRIMARY KEY, v varchar(10) NULL)")
        .await
        .unwrap();
    my.query_drop("INSERT INTO int_pk_probe VALUES (-2147483648, 'min'), (1, ''), (2, NULL), (1000000, 'x'), (2147483647, 'max')").await.unwrap();
    let pg = common::pg_conn(&dbs.target()).await;
    pg.batch_execute("CREATE TABLE int_pk_probe (id integer PRIMARY KEY, v varchar(10))")
        .await
        .unwrap();
    let before = catalog(&dbs).await;

    let (code, text) = migrate(
        &dbs,
        &["--chunk-rows", "40", "--readers", "2", "--writers", "2"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains(":pgc_"), "password leaked: {text}");
    assert_eq!(before, catalog(&dbs).await, "the target catalog changed");
    let cells = common::compare::compare_all(App::Alkemio, &dbs).await;
    assert!(cells > 50_000, "compared only {cells} cells");

    let probe: Vec<(i32, Option<String>)> = pg
        .query("SELECT id, v FROM int_pk_probe ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        probe,
        vec![
            (i32::MIN, Some("min".into())),
            (1, Some("".into())),
            (2, None),
            (1_000_000, Some("x".into())),
            (i32::MAX, Some("max".into()))
        ]
    );
    // Serial sequences continue after the loaded maximum.
    let (max, next): (i32, i64) = {
        let r = pg
            .query_one(
                "SELECT max(\"rowId\"), nextval('\"activity_rowId_seq\"') FROM activity",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(
        next > max as i64,
        "sequence not advanced: max {max}, next {next}"
    );
    // The seeded rows were replaced: exactly the source's platform row is there.
    let platforms: i64 = pg
        .query_one("SELECT count(*) FROM platform", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(platforms, 1);
    // Large values were compressed with lz4 (the default; the schema sets no column COMPRESSION).
    assert_eq!(toast_methods(&pg).await, vec!["lz4".to_string()]);
    // The finish vacuumed and analyzed every table it loaded: statistics for the first queries, hint bits and
    // the visibility map set once. The manual-vacuum and manual-analyze counters say so (PostgreSQL 15+ counts
    // them in shared memory when the command ends); relallvisible would not: a transaction open elsewhere on the
    // server (another test) keeps VACUUM from marking the new rows all-visible.
    let unvacuumed = common::strings(
        &pg,
        "SELECT c.relname::text FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid \
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' \
            AND pg_relation_size(c.oid) > 0 \
            AND (s.vacuum_count = 0 OR s.analyze_count = 0) ORDER BY 1",
    )
    .await;
    let loaded = common::strings(
        &pg,
        "SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' \
            AND pg_relation_size(oid) > 0",
    )
    .await;
    assert!(loaded.len() > 20, "too few loaded tables: {loaded:?}");
    assert!(unvacuumed.is_empty(), "not vacuumed: {unvacuumed:?}");
}

/// The compression methods of authorization_policy's large JSON rules (those PostgreSQL compressed).
async fn toast_methods(pg: &tokio_postgres::Client) -> Vec<String> {
    pg.query(
        "SELECT DISTINCT pg_column_compression(\"credentialRules\") FROM authorization_policy
          WHERE pg_column_compression(\"credentialRules\") IS NOT NULL",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test]
async fn kratos_migrates_exactly_including_timestamps_jsonb_and_remapped_types() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 5, 0.05, 2)
        .await
        .unwrap();
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.exec_drop(
        "UPDATE identities SET traits = ? ORDER BY id LIMIT 1",
        (r#"{"email":"a@b.c","name":"Zo\u00eb \ud83d\ude00","multi":"l1\nl2\ttab \"q\" \\"}"#,),
    )
    .await
    .unwrap();
    my.query_drop("UPDATE courier_messages SET send_count = 2147483647 ORDER BY id LIMIT 1")
        .await
        .unwrap();
    my.query_drop("UPDATE courier_messages SET send_count = -2147483648 ORDER BY id DESC LIMIT 1")
        .await
        .unwrap();
    my.exec_drop(
        "UPDATE courier_messages SET body = ? ORDER BY id LIMIT 1",
        (TRICKY,),
    )
    .await
    .unwrap();
    let before = catalog(&dbs).await;
    let kept = std::env::temp_dir().join(format!("{}-kept", dbs.name));
    std::fs::remove_dir_all(&kept).ok();
    let (code, text) = migrate(
        &dbs,
        &[
            "--chunk-rows",
            "100",
            // Sizes as operators write them: a small memory budget cuts batches small.
            "--max-memory",
            "16MiB",
            "--chunk-bytes",
            "64M",
            "--keep",
            kept.to_str().unwrap(),
            "--keep-format",
            "both",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(before, catalog(&dbs).await, "the target catalog changed");
    common::compare::compare_all(App::Kratos, &dbs).await;
    // The kept directory is an export of exactly the loaded rows: its manifest lists CSV and Parquet files per
    // chunk, with the row counts the target holds.
    let pg = common::pg_conn(&dbs.target()).await;
    let loaded: i64 = pg
        .query_one("SELECT count(*) FROM sessions", &[])
        .await
        .unwrap()
        .get(0);
    let m = pgconverge::manifest::Manifest::read(&kept).unwrap();
    assert!(!kept.join(pgconverge::manifest::JOURNAL).exists());
    let sessions: Vec<_> = m.files.iter().filter(|f| f.table == "sessions").collect();
    let (mut pq_rows, mut csv_files) = (0i64, 0);
    for f in &sessions {
        match f.format {
            pgconverge::manifest::FileFormat::Parquet => {
                let file = std::fs::File::open(kept.join(&f.path)).unwrap();
                let r = parquet::file::reader::SerializedFileReader::new(file).unwrap();
                pq_rows += parquet::file::reader::FileReader::metadata(&r)
                    .file_metadata()
                    .num_rows();
            }
            pgconverge::manifest::FileFormat::Csv => csv_files += 1,
        }
    }
    assert_eq!(pq_rows, loaded, "parquet rows of sessions");
    assert!(csv_files > 1, "sessions should span several chunks");
    // ... which `import` loads elsewhere (here: the same target, returned to pristine) with the same result.
    let (code, text) = common::runs::reset(&dbs, "mappings/kratos.toml", true);
    assert_eq!(code, 0, "{text}");
    let (code, text) = common::run(&dbs, "import", &["--from", kept.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    common::compare::compare_all(App::Kratos, &dbs).await;
    std::fs::remove_dir_all(&kept).ok();
    // The unique constraint only PostgreSQL has is back and enforced.
    let n: i64 = pg
        .query_one(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'unique_session_device'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn refuses_a_target_with_unexpected_rows_unless_replace() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 3, 0.01, 1)
        .await
        .unwrap();
    common::plant_stray_kratos_rows(&dbs).await;
    let (code, text) = migrate(&dbs, &[]);
    assert_eq!(code, 8, "{text}");
    assert!(text.contains("identities"), "{text}");
    assert!(
        !text.contains("networks,"),
        "networks is a seeded table and may hold rows: {text}"
    );
    // The refusal changed nothing, so the same target takes a --replace run, which removes the stray row.
    let (code, text) = migrate(&dbs, &["--replace"]);
    assert_eq!(code, 0, "{text}");
    common::compare::compare_all(App::Kratos, &dbs).await;
}

#[tokio::test]
async fn a_source_user_without_reload_needs_the_quiesced_flag() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 4, 0.01, 1)
        .await
        .unwrap();
    let user = format!("sel_{}", dbs.name);
    // Without the lock the sign-off reads the binary log's events to prove this database unwritten (the other
    // tests write elsewhere on the server meanwhile); tests/live_source.rs covers a write to it.
    let source = common::source_user(&dbs, &user, "selpw", &["REPLICATION CLIENT"]).await;
    let mut my = common::mysql_conn(&common::mysql_admin()).await;
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pgconverge"))
            .args(["migrate", "--mapping", "mappings/kratos.toml"])
            .args(extra)
            .env("PGCONVERGE_SOURCE", &source)
            .env("PGCONVERGE_TARGET", dbs.target())
            .env("PGCONVERGE_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, text) = run(&[]);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("RELOAD") && text.contains("--source-quiesced"),
        "{text}"
    );
    assert!(!text.contains("selpw"), "password leaked: {text}");
    let (code, text) = run(&["--source-quiesced"]);
    my.query_drop(format!("DROP USER '{user}'@'127.0.0.1'"))
        .await
        .unwrap();
    assert_eq!(code, 0, "{text}");
    common::compare::compare_all(App::Kratos, &dbs).await;
}

#[tokio::test]
/// The default wire format is binary COPY; the CSV wire format (what exported files hold) loads the same, and
/// `--toast-compression pglz` keeps PostgreSQL's own compression.
async fn csv_copy_format_migrates_both_apps_exactly() {
    for (app, scale) in [(App::Alkemio, 0.002), (App::Kratos, 0.05)] {
        let dbs = common::TestDbs::new(app).await;
        pgconverge_testbed::gen::generate(&dbs.source_admin(), app, 12, scale, 2)
            .await
            .unwrap();
        let mut my = common::mysql_conn(&dbs.source_admin()).await;
        if app == App::Alkemio {
            my.exec_drop(
                "UPDATE profile SET tagline = ? ORDER BY id LIMIT 1",
                (TRICKY,),
            )
            .await
            .unwrap();
            my.query_drop("UPDATE license_plan SET pricePerMonth = -0.05 ORDER BY id LIMIT 1")
                .await
                .unwrap();
            my.query_drop(
                "UPDATE license_plan SET pricePerMonth = 12345678.90 ORDER BY id DESC LIMIT 1",
            )
            .await
            .unwrap();
        }
        let before = catalog(&dbs).await;
        let (code, text) = migrate(
            &dbs,
            &[
                "--copy-format",
                "csv",
                "--chunk-rows",
                "100",
                "--toast-compression",
                "pglz",
            ],
        );
        assert_eq!(code, 0, "{text}");
        assert_eq!(before, catalog(&dbs).await, "the target catalog changed");
        common::compare::compare_all(app, &dbs).await;
        if app == App::Alkemio {
            let pg = common::pg_conn(&dbs.target()).await;
            assert_eq!(toast_methods(&pg).await, vec!["pglz".to_string()]);
        }
    }
}

/// An output path the run could not write at its end is refused before anything connects (exit 2), so the target
/// is untouched and no work is lost with the report.
#[tokio::test]
async fn an_unwritable_output_path_is_refused_before_the_target_is_touched() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 9, 0.01, 1)
        .await
        .unwrap();
    let before = common::target_state(&dbs).await;
    let dir = std::env::temp_dir().join(format!("{}-out", dbs.name));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("no-such-dir/report.json");
    for (flag, path) in [
        ("--report", missing.clone()),
        ("--checklist", missing.clone()),
        ("--report", dir.clone()),
    ] {
        let (code, out) = common::run(&dbs, "migrate", &[flag, path.to_str().unwrap()]);
        assert_eq!(code, 2, "{flag} {}: {out}", path.display());
        assert!(
            out.contains(&format!("cannot write {}", path.display()))
                && out.contains("nothing was done"),
            "{out}"
        );
        assert_eq!(
            common::target_state(&dbs).await,
            before,
            "the target changed"
        );
    }
    let (code, out) = common::run(&dbs, "verify", &["--report", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(leftovers.is_empty(), "a probe file was left: {leftovers:?}");
    std::fs::remove_dir_all(&dir).ok();
}
