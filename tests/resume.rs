//! Exactly-once resume: pgconverge is killed with SIGKILL at several points of `migrate` (right after
//! preparing, mid-table, while restoring foreign keys, while tables are finished during the load), `--resume`
//! finishes the job, and every table equals the source with no duplicate. Resume refuses when the mapping changed.

// The pause points these tests kill the run at exist only in builds with the test-hooks feature.
#[cfg(not(feature = "test-hooks"))]
compile_error!(
    "tests/resume.rs needs: cargo test --features test-hooks (scripts/test.sh passes it)"
);

mod common;

use std::process::Command;

use common::runs::{command, kill_at, reset, reset_with, resume, start_paused};
use pgconverge_testbed::facts::App;

async fn ledger_chunks(dbs: &common::TestDbs) -> i64 {
    let pg = common::pg_conn(&dbs.target()).await;
    pg.query_one("SELECT count(*) FROM pgconverge.chunk", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(-1)
}

async fn killed_and_resumed(app: App, point: &str) {
    let dbs = common::TestDbs::new(app).await;
    pgconverge_testbed::gen::generate(
        &dbs.source_admin(),
        app,
        31,
        if app == App::Alkemio { 0.001 } else { 0.02 },
        2,
    )
    .await
    .unwrap();
    let mapping = format!("mappings/{}.toml", app.name());
    kill_at(&dbs, &mapping, point);
    let committed = ledger_chunks(&dbs).await;
    assert!(committed >= 0, "the ledger must survive the kill");
    let (code, text) = resume(&dbs, &mapping);
    assert_eq!(
        code, 0,
        "resume after a kill at {point} ({committed} chunks committed) failed:\n{text}"
    );
    // compare_all fails on any duplicate key, missing row or differing cell.
    common::compare::compare_all(app, &dbs).await;
    let pg = common::pg_conn(&dbs.target()).await;
    let ledger: (String, bool) = pg
        .query_one(
            "SELECT state, to_regclass('pgconverge.chunk') IS NULL FROM pgconverge.run",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(
        ledger,
        ("completed".to_string(), true),
        "after a successful resume the ledger is only the completed run's baseline"
    );
    let fks: i64 = pg
        .query_one(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let want = pgconverge_testbed::facts::Catalog::load(app)
        .constraints
        .iter()
        .filter(|c| c.kind == "fk")
        .count() as i64;
    assert_eq!(fks, want, "every foreign key restored");
}

#[tokio::test]
async fn killed_right_after_preparing() {
    killed_and_resumed(App::Kratos, "prepared").await;
}

#[tokio::test]
async fn killed_mid_table() {
    killed_and_resumed(App::Alkemio, "chunk:7").await;
}

#[tokio::test]
async fn killed_while_restoring_foreign_keys() {
    killed_and_resumed(App::Alkemio, "finishing:40").await;
}

/// Tables whose chunks are all committed are finished while the load still runs: one of two writers is held
/// after its first chunk (the load cannot end), the other loads every other chunk, and every foreign key comes
/// back validated and every table is vacuumed with the ledger still saying `loading`. Killed there, the run
/// resumes to an exact copy.
#[tokio::test]
async fn tables_are_finished_while_the_load_runs_and_a_kill_then_resumes() {
    let app = App::Alkemio;
    let dbs = common::TestDbs::new(app).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), app, 37, 0.001, 2)
        .await
        .unwrap();
    let mapping = "mappings/alkemio.toml";
    let paused = common::runs::start_paused_with(
        command(
            &dbs,
            mapping,
            &[
                "--readers",
                "1",
                "--writers",
                "2",
                "--chunk-rows",
                "60",
                "--finish-early",
                "on",
            ],
        ),
        "chunk:1",
        "600",
    );
    let want = pgconverge_testbed::facts::Catalog::load(app)
        .constraints
        .iter()
        .filter(|c| c.kind == "fk")
        .count() as i64;
    let pg = common::pg_conn(&dbs.target()).await;
    let seen = |pg: tokio_postgres::Client| async move {
        let r = pg
            .query_one(
                "SELECT (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated),
                        (SELECT count(*) FROM pg_stat_user_tables
                          WHERE schemaname = 'public' AND vacuum_count > 0),
                        (SELECT state FROM pgconverge.run)",
                &[],
            )
            .await
            .unwrap();
        (
            pg,
            (
                r.get::<_, i64>(0),
                r.get::<_, i64>(1),
                r.get::<_, String>(2),
            ),
        )
    };
    let (mut pg, mut state) = seen(pg).await;
    for _ in 0..240 {
        if state.0 == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        (pg, state) = seen(pg).await;
    }
    let (keys, vacuumed, ledger) = state;
    assert_eq!(
        (keys, ledger.as_str()),
        (want, "loading"),
        "every foreign key restored and validated while the load still runs"
    );
    assert!(
        vacuumed > 40,
        "the loaded tables are vacuumed while the load runs: {vacuumed}"
    );
    let mut paused = paused;
    paused.child.kill().expect("kill pgconverge");
    paused.finish();
    let (code, text) = resume(&dbs, mapping);
    assert_eq!(code, 0, "{text}");
    common::compare::compare_all(app, &dbs).await;
    let (_, (keys, _, ledger)) = seen(pg).await;
    assert_eq!((keys, ledger.as_str()), (want, "completed"));
}

#[tokio::test]
async fn resume_refuses_after_the_mapping_changed() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 32, 0.02, 2)
        .await
        .unwrap();
    let changed = std::env::temp_dir().join(format!("{}-kratos.toml", dbs.name));
    kill_at(&dbs, "mappings/kratos.toml", "chunk:2");
    let text = std::fs::read_to_string("mappings/kratos.toml")
        .unwrap()
        .replace(
            "[skip_tables]\n",
            "[skip_tables]\nlegacy_sessions = \"an extra rule added after the interruption\"\n",
        );
    std::fs::write(&changed, text).unwrap();
    let (code, text) = resume(&dbs, changed.to_str().unwrap());
    std::fs::remove_file(&changed).ok();
    assert_eq!(code, 8, "{text}");
    assert!(
        text.contains("cannot resume") && text.contains("the mapping file"),
        "{text}"
    );
    // A new run is refused too while the ledger is there, and the unchanged mapping still resumes.
    let (code, _) = resume(&dbs, "mappings/kratos.toml");
    assert_eq!(code, 0);
}

#[tokio::test]
async fn ctrl_c_rolls_back_and_leaves_a_resumable_run() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 33, 0.02, 2)
        .await
        .unwrap();
    let paused = start_paused(&dbs, "mappings/kratos.toml", "chunk:3", "600");
    let interrupted = Command::new("kill")
        .args(["-INT", &paused.child.id().to_string()])
        .status()
        .map(|s| s.success());
    let (code, rest) = paused.finish();
    assert_eq!(interrupted.ok(), Some(true));
    assert_eq!(code, Some(130), "{rest}");
    assert!(
        rest.contains("--resume"),
        "the message must say how to continue: {rest}"
    );
    assert_eq!(
        ledger_chunks(&dbs).await,
        3,
        "exactly the committed chunks are recorded"
    );
    let before: i64 = common::pg_conn(&dbs.target())
        .await
        .query_one(
            "SELECT coalesce(sum(rows), 0)::bigint FROM pgconverge.chunk",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let (code, text) = resume(&dbs, "mappings/kratos.toml");
    assert_eq!(code, 0, "{text}");
    // The summary tells rows loaded now from rows loaded before the interruption.
    assert!(
        text.contains(&format!(
            "Resumed: {before} rows were loaded before the interruption"
        )),
        "{text}"
    );
    common::compare::compare_all(App::Kratos, &dbs).await;
}

#[tokio::test]
async fn a_target_connection_lost_mid_copy_is_retried() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 34, 0.02, 2)
        .await
        .unwrap();
    let paused = start_paused(&dbs, "mappings/kratos.toml", "copying:3", "2");
    // The server ends the backend in the middle of its COPY, as a failover or an admin would.
    let sup = common::pg_conn(&dbs.target_super()).await;
    let killed: i64 = sup
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY%'",
            &[&dbs.name],
        )
        .await
        .unwrap()
        .get(0);
    let (code, rest) = paused.finish();
    assert_eq!(killed, 1, "one COPY backend to terminate");
    assert_eq!(code, Some(0), "{rest}");
    assert!(
        rest.contains("copying the chunk again"),
        "the retry must be visible: {rest}"
    );
    common::compare::compare_all(App::Kratos, &dbs).await;
}

/// Killed at `point`, then `reset`: without --yes nothing changes; with it the target is exactly as before the
/// run (catalog and rows); a second reset is a no-op.
async fn killed_and_reset(app: App, point: &str) {
    let dbs = common::TestDbs::new(app).await;
    pgconverge_testbed::gen::generate(
        &dbs.source_admin(),
        app,
        35,
        if app == App::Alkemio { 0.001 } else { 0.02 },
        2,
    )
    .await
    .unwrap();
    let mapping = format!("mappings/{}.toml", app.name());
    let pristine = common::target_state(&dbs).await;
    kill_at(&dbs, &mapping, point);
    let left = common::target_state(&dbs).await;
    assert_ne!(left, pristine, "the killed run left no trace at {point}");
    let (code, text) = reset(&dbs, &mapping, false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Nothing was changed"), "{text}");
    assert_eq!(
        common::target_state(&dbs).await,
        left,
        "reset without --yes changed the target"
    );
    let (code, text) = reset(&dbs, &mapping, true);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        common::target_state(&dbs).await,
        pristine,
        "reset --yes after a kill at {point} did not give the pristine target:\n{text}"
    );
    let (code, text) = reset(&dbs, &mapping, true);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Nothing to reset"), "{text}");
    assert_eq!(common::target_state(&dbs).await, pristine);
}

#[tokio::test]
async fn killed_right_after_preparing_then_reset() {
    killed_and_reset(App::Kratos, "prepared").await;
}

#[tokio::test]
async fn killed_mid_load_then_reset() {
    killed_and_reset(App::Kratos, "chunk:5").await;
}

#[tokio::test]
async fn killed_while_restoring_foreign_keys_then_reset() {
    killed_and_reset(App::Alkemio, "finishing:40").await;
}

/// A completed run keeps its baseline: `reset` returns the target to its state before the run (catalog and
/// rows) and a new run is refused until then; a second reset is a no-op.
#[tokio::test]
async fn a_completed_run_is_reset_to_the_pristine_target() {
    let dbs = common::TestDbs::new(App::Alkemio).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Alkemio, 36, 0.001, 1)
        .await
        .unwrap();
    let mapping = "mappings/alkemio.toml";
    let pristine = common::target_state(&dbs).await;
    let (code, text) = common::run(&dbs, "migrate", &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("pgconverge reset --yes"), "{text}");
    let migrated = common::target_state(&dbs).await;
    // A new run, with or without --replace, is refused while the completed run's baseline is kept.
    for extra in [&[][..], &["--replace"][..]] {
        let (code, text) = common::run(&dbs, "migrate", extra);
        assert_eq!(code, 8, "{text}");
        assert!(
            text.contains("completed migrate") && text.contains("reset --yes"),
            "{text}"
        );
    }
    assert_eq!(common::target_state(&dbs).await, migrated);
    let (code, text) = reset(&dbs, mapping, false);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("completed migrate") && text.contains("Nothing was changed"),
        "{text}"
    );
    assert_eq!(common::target_state(&dbs).await, migrated);
    let (code, text) = reset(&dbs, mapping, true);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        common::target_state(&dbs).await,
        pristine,
        "reset --yes after a completed run did not give the pristine target:\n{text}"
    );
    let (code, text) = reset(&dbs, mapping, true);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Nothing to reset"), "{text}");
    // The pristine target takes the next rehearsal.
    let (code, text) = common::run(&dbs, "migrate", &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(common::target_state(&dbs).await, migrated);
}

/// Rows written after a completed run (by an application already switched) are not discarded unless --force;
/// `--keep-data` accepts a completed run: the baseline goes, the data stays, and reset then refuses.
#[tokio::test]
async fn reset_after_a_completed_run_keeps_later_rows_unless_forced_and_keep_data_accepts() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 39, 0.01, 1)
        .await
        .unwrap();
    let mapping = "mappings/kratos.toml";
    let pristine = common::target_state(&dbs).await;
    let (code, text) = common::run(&dbs, "migrate", &[]);
    assert_eq!(code, 0, "{text}");
    let pg = common::pg_conn(&dbs.target()).await;
    pg.batch_execute(
        "INSERT INTO networks (id, created_at, updated_at) VALUES ('33333333-3333-4333-8333-333333333333', now(), now())",
    )
    .await
    .unwrap();
    let written = common::target_state(&dbs).await;
    let (code, text) = reset(&dbs, mapping, true);
    assert_eq!(code, 8, "{text}");
    assert!(
        text.contains("networks") && text.contains("--force"),
        "{text}"
    );
    assert_eq!(common::target_state(&dbs).await, written);
    let (code, text) = reset_with(&dbs, mapping, &["--force", "--yes"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(common::target_state(&dbs).await, pristine);

    let (code, text) = common::run(&dbs, "migrate", &[]);
    assert_eq!(code, 0, "{text}");
    let migrated = common::target_state(&dbs).await;
    let (code, text) = reset_with(&dbs, mapping, &["--keep-data"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Nothing was changed"), "{text}");
    assert_eq!(common::target_state(&dbs).await, migrated);
    let (code, text) = reset_with(&dbs, mapping, &["--keep-data", "--yes"]);
    assert_eq!(code, 0, "{text}");
    let ledger: bool = pg
        .query_one("SELECT to_regnamespace('pgconverge') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!ledger, "--keep-data --yes leaves no ledger");
    common::compare::compare_all(App::Kratos, &dbs).await;
    // Without a baseline reset refuses to empty rows it cannot account for.
    let accepted = common::target_state(&dbs).await;
    let (code, text) = reset(&dbs, mapping, true);
    assert_eq!(code, 8, "{text}");
    assert!(text.contains("refusing to reset"), "{text}");
    assert_eq!(common::target_state(&dbs).await, accepted);
}

/// `--replace` deletes rows that were in the target before the run: they are saved in the ledger first, so a
/// reset (here after the completed run) puts them back.
#[tokio::test]
async fn rows_a_replace_run_deleted_come_back_on_reset() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 40, 0.01, 1)
        .await
        .unwrap();
    common::plant_stray_kratos_rows(&dbs).await;
    let before = common::target_state(&dbs).await;
    let (code, text) = common::run(&dbs, "migrate", &["--replace"]);
    assert_eq!(code, 0, "{text}");
    common::compare::compare_all(App::Kratos, &dbs).await;
    let (code, text) = reset(&dbs, "mappings/kratos.toml", true);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("put back 1 saved row(s) of identities"),
        "{text}"
    );
    assert_eq!(common::target_state(&dbs).await, before);
}

/// Runs that stop before preparing change nothing: a contract problem, a refused connection, a bad flag.
#[tokio::test]
async fn failures_before_preparing_change_nothing() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 37, 0.01, 1)
        .await
        .unwrap();
    let pristine = common::target_state(&dbs).await;
    let (code, text) = common::run(&dbs, "migrate", &["--chunk-rows", "many"]);
    assert_eq!(code, 2, "{text}");
    assert_eq!(common::target_state(&dbs).await, pristine);
    let out = command(&dbs, "mappings/kratos.toml", &[])
        .env(
            "PGCONVERGE_TARGET",
            dbs.target()
                .replace("pgc_owner:pgc_owner", "pgc_owner:wrong"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(common::target_state(&dbs).await, pristine);
    // A narrowed target column the source cannot fit is a contract problem: exit 4 before any write.
    let pg = common::pg_conn(&dbs.target()).await;
    pg.batch_execute("ALTER TABLE identities ALTER COLUMN schema_id TYPE varchar(8)")
        .await
        .unwrap();
    let narrowed = common::target_state(&dbs).await;
    let (code, text) = common::run(&dbs, "migrate", &[]);
    assert_eq!(code, 4, "{text}");
    assert_eq!(common::target_state(&dbs).await, narrowed);
}

/// The source is only read: its checksum is the same after plan, check, a migration, a failed migration, a
/// killed and a resumed one.
#[tokio::test]
async fn the_source_is_only_read() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 38, 0.02, 2)
        .await
        .unwrap();
    let before = common::source_checksum(&dbs).await;
    let (code, text) = common::run(&dbs, "plan", &[]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = common::run(&dbs, "check", &[]);
    assert_eq!(code, 0, "{text}");
    kill_at(&dbs, "mappings/kratos.toml", "chunk:3");
    let (code, text) = resume(&dbs, "mappings/kratos.toml");
    assert_eq!(code, 0, "{text}");
    assert_eq!(common::source_checksum(&dbs).await, before);
    // A failed run: a target column too narrow for one value, then restored.
    let (code, text) = reset(&dbs, "mappings/kratos.toml", true);
    assert_eq!(code, 0, "{text}");
    let pg = common::pg_conn(&dbs.target_super()).await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    mysql_async::prelude::Queryable::query_drop(
        &mut my,
        "UPDATE courier_messages SET send_count = 40000 ORDER BY id LIMIT 1",
    )
    .await
    .unwrap();
    let before = common::source_checksum(&dbs).await;
    pg.batch_execute("ALTER TABLE courier_messages ALTER COLUMN send_count TYPE smallint")
        .await
        .unwrap();
    let (code, text) = common::run(&dbs, "migrate", &[]);
    assert_eq!(code, 5, "{text}");
    assert_eq!(common::source_checksum(&dbs).await, before);
}

/// A run is resumed only by the command that started it: `import --resume` refuses a migrate's ledger and
/// `migrate --resume` an import's.
#[tokio::test]
async fn only_the_command_that_started_a_run_resumes_it() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 39, 0.02, 2)
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("pgc-export-{}", dbs.name));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, text) = common::run(
        &dbs,
        "export",
        &["--out", dir.to_str().unwrap(), "--chunk-rows", "60"],
    );
    assert_eq!(code, 0, "{text}");
    let import = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pgconverge"))
            .args([
                "import",
                "--mapping",
                "mappings/kratos.toml",
                "--from",
                dir.to_str().unwrap(),
            ])
            .args(extra)
            .env("PGCONVERGE_TARGET", dbs.target())
            .env("PGCONVERGE_LOG", "warn")
            .output()
            .unwrap();
        common::runs::outcome(out)
    };
    kill_at(&dbs, "mappings/kratos.toml", "chunk:3");
    let (code, text) = import(&["--resume"]);
    assert_eq!(code, 8, "{text}");
    assert!(text.contains("started by `pgconverge migrate`"), "{text}");
    let (code, text) = reset(&dbs, "mappings/kratos.toml", true);
    assert_eq!(code, 0, "{text}");
    // An import killed at its third chunk, then migrate --resume.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .args([
            "import",
            "--mapping",
            "mappings/kratos.toml",
            "--from",
            dir.to_str().unwrap(),
        ])
        .args(["--readers", "1", "--writers", "1"])
        .env("PGCONVERGE_TARGET", dbs.target())
        .env("PGCONVERGE_LOG", "warn")
        .env("PGCONVERGE_PAUSE_AT", "chunk:3")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut err, &mut line).unwrap_or(0) > 0
        && !line.contains("paused at")
    {
        line.clear();
    }
    assert!(
        line.contains("paused at chunk:3"),
        "the import never paused: {line}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, text) = resume(&dbs, "mappings/kratos.toml");
    assert_eq!(code, 8, "{text}");
    assert!(text.contains("import --resume"), "{text}");
    let (code, text) = import(&["--resume"]);
    assert_eq!(code, 0, "{text}");
    common::compare::compare_all(App::Kratos, &dbs).await;
    std::fs::remove_dir_all(&dir).ok();
}

/// `migrate --keep` killed mid-load and resumed with the same directory: the directory ends as a whole export
/// of exactly the rows loaded (both runs' chunks), which imports into a pristine target with the same result.
#[tokio::test]
async fn a_kept_directory_is_continued_by_the_resumed_run() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 32, 0.02, 2)
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("{}-kept", dbs.name));
    std::fs::remove_dir_all(&dir).ok();
    let keep = ["--keep", dir.to_str().unwrap()];
    let c = common::runs::command(
        &dbs,
        "mappings/kratos.toml",
        &[
            &["--readers", "1", "--writers", "1", "--chunk-rows", "60"][..],
            &keep,
        ]
        .concat(),
    );
    let mut p = common::runs::start_paused_with(c, "chunk:4", "600");
    p.child.kill().unwrap();
    p.finish();
    assert!(!dir.join(pgconverge::manifest::FILE).exists());
    // Another directory cannot be continued: it holds no interrupted export.
    let other = std::env::temp_dir().join(format!("{}-other", dbs.name));
    std::fs::create_dir_all(&other).unwrap();
    let out = command(
        &dbs,
        "mappings/kratos.toml",
        &[
            "--resume",
            "--source-quiesced",
            "--keep",
            other.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{text}");
    assert!(text.contains("no interrupted export"), "{text}");
    std::fs::remove_dir_all(&other).ok();
    let out = command(
        &dbs,
        "mappings/kratos.toml",
        &[
            &["--resume", "--source-quiesced", "--chunk-rows", "60"][..],
            &keep,
        ]
        .concat(),
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let m = pgconverge::manifest::Manifest::read(&dir).unwrap();
    let pg = common::pg_conn(&dbs.target()).await;
    let loaded: i64 = pg
        .query_one("SELECT count(*) FROM identities", &[])
        .await
        .unwrap()
        .get(0);
    let kept: u64 = m
        .files
        .iter()
        .filter(|f| f.target_table == "identities")
        .map(|f| f.rows)
        .sum();
    assert_eq!(kept, loaded as u64);
    let (code, text) = reset(&dbs, "mappings/kratos.toml", true);
    assert_eq!(code, 0, "{text}");
    let (code, text) = common::run(&dbs, "import", &["--from", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("all equal"), "{text}");
    common::compare::compare_all(App::Kratos, &dbs).await;
    // A new run never keeps into a directory that holds something (migrate has no flag to empty it).
    let out = command(&dbs, "mappings/kratos.toml", &keep)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{text}");
    assert!(
        text.contains("is not empty; choose another") && !text.contains("pass "),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The wedged state of a run killed after creating its ledger but before recording itself (possible while the
/// two were separate transactions): every command refused or misreported it (`--resume` saw no run, a new run hit
/// "schema already exists" as an internal error, reset said there was nothing to reset and left the schema). Now
/// each names it and the way on, and reset removes it.
#[tokio::test]
async fn an_empty_ledger_is_named_and_reset_removes_it() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 8, 0.01, 1)
        .await
        .unwrap();
    let before = common::target_state(&dbs).await;
    let pg = common::pg_conn(&dbs.target()).await;
    pg.batch_execute(
        "CREATE SCHEMA pgconverge;
         CREATE TABLE pgconverge.run (id int PRIMARY KEY DEFAULT 1, state text NOT NULL, record jsonb NOT NULL,
           dropped_fks jsonb NOT NULL DEFAULT '[]', started_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE pgconverge.chunk (table_name text NOT NULL, chunk int NOT NULL, rows bigint NOT NULL,
           bytes bigint NOT NULL, PRIMARY KEY (table_name, chunk));",
    )
    .await
    .unwrap();
    let names_it =
        |text: &str| text.contains("empty ledger") && text.contains("pgconverge reset --yes");
    let (code, text) = resume(&dbs, "mappings/kratos.toml");
    assert_eq!(code, 8, "{text}");
    assert!(names_it(&text), "{text}");
    let (code, text) = common::run(&dbs, "migrate", &[]);
    assert_eq!(code, 8, "a refusal (exit 8), not an internal error: {text}");
    assert!(names_it(&text), "{text}");
    let (code, text) = reset(&dbs, "mappings/kratos.toml", false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Would remove the empty ledger"), "{text}");
    let (code, text) = reset(&dbs, "mappings/kratos.toml", true);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Removed the empty ledger"), "{text}");
    assert_eq!(common::target_state(&dbs).await, before);
    let (code, text) = common::run(&dbs, "migrate", &[]);
    assert_eq!(code, 0, "{text}");
}
