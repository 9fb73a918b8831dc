//! A rehearsal against a live source: every source read of a run (the chunks and the mapping's critical-data
//! checks) is answered at the snapshot's instant, so a run copying a source that keeps committing signs off; the
//! report and the manifest name that instant; without the global read lock a write to the source database during
//! the run keeps the target from being called verified.

mod common;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;
use pgconverge_testbed::writer::{Committed, LiveWriter};

async fn alkemio(seed: u64) -> common::TestDbs {
    let dbs = common::TestDbs::new(App::Alkemio).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Alkemio, seed, 0.002, 2)
        .await
        .unwrap();
    dbs
}

/// A command run off the async runtime, so the live writer keeps committing meanwhile.
async fn run(c: std::process::Command) -> (i32, String) {
    let mut c = c;
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    common::runs::outcome(out)
}

/// How many of the writer's transactions the target holds whole (`present`) and lacks whole (`absent`); panics on
/// one it holds in part.
async fn whole_or_absent(target: &str, w: &Committed) -> (usize, usize) {
    let pg = common::pg_conn(target).await;
    let (mut present, mut absent) = (0, 0);
    for (p, c) in w.pairs.iter().chain(&w.deleted) {
        let row = pg
            .query_one(
                "SELECT (SELECT count(*) FROM authorization_policy WHERE id = $1::text::uuid), \
                        (SELECT count(*) FROM calendar WHERE id = $2::text::uuid \
                           AND \"authorizationId\" = $1::text::uuid)",
                &[p, c],
            )
            .await
            .unwrap();
        match (row.get::<_, i64>(0), row.get::<_, i64>(1)) {
            (1, 1) => present += 1,
            (0, 0) => absent += 1,
            (a, b) => {
                panic!("transaction ({p}, {c}) is in the target in part: {a} policy, {b} calendar")
            }
        }
    }
    // A key change is one transaction too: the policy is there under one of its ids, never both.
    for (old, new) in &w.rekeyed {
        let n: i64 = pg
            .query_one(
                "SELECT count(*) FROM authorization_policy WHERE id IN ($1::text::uuid, $2::text::uuid)",
                &[old, new],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            n <= 1,
            "policy {old} is in the target under its old and its new key"
        );
    }
    (present, absent)
}

fn report_of(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `migrate` with its defaults (verification and the mapping's checks, the authorization policies' among them)
/// while the application commits policy + calendar pairs, updates, deletes and a key change before, during and
/// after the snapshot: it signs off, and every transaction is whole or absent in the target. Before the checks were
/// asked in the snapshot, the policies' check counted rows committed after it and the run failed its verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrate_of_a_live_source_signs_off() {
    for (seed, chunk_rows) in [(11, "40"), (12, "500")] {
        let dbs = alkemio(seed).await;
        let writer = LiveWriter::start(&dbs.source_admin(), 120, seed)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let report = std::env::temp_dir().join(format!("{}-migrate.json", dbs.name));
        let (code, out) = run(common::runs::command(
            &dbs,
            "mappings/alkemio.toml",
            &[
                "--chunk-rows",
                chunk_rows,
                "--report",
                report.to_str().unwrap(),
            ],
        ))
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let w = writer.stop().await.unwrap();
        assert_eq!(code, 0, "seed {seed}, chunks of {chunk_rows}: {out}");
        assert!(out.contains("PASSED") || out.contains("all equal"), "{out}");
        let (present, absent) = whole_or_absent(&dbs.target(), &w).await;
        // Some transactions before the snapshot and some after: the run really read a moving source.
        assert!(
            present > 0 && absent > 0,
            "present {present}, absent {absent}, {w:?}"
        );
        let r = report_of(&report);
        assert_eq!(r["verified"], true);
        let snapshot = &r["snapshot"];
        assert!(snapshot["taken_at"].is_string(), "{snapshot}");
        assert!(
            snapshot["binlog"].is_string(),
            "the test server keeps a binary log: {snapshot}"
        );
        assert!(out.contains("Source as of binlog "), "{out}");
        std::fs::remove_file(&report).ok();
    }
}

/// `export` from a live source, then `import` into a fresh target: the manifest's check answers are of the files'
/// instant, which the manifest names, so the import's verification passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_a_live_source_imports_and_signs_off() {
    let dbs = alkemio(13).await;
    let into = common::TestDbs::new(App::Alkemio).await;
    let dir = std::env::temp_dir().join(format!("{}-export", dbs.name));
    std::fs::remove_dir_all(&dir).ok();
    let writer = LiveWriter::start(&dbs.source_admin(), 120, 13)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (code, out) = run(common::runs::command_of(
        &dbs,
        "export",
        "mappings/alkemio.toml",
        &["--out", dir.to_str().unwrap(), "--chunk-rows", "60"],
    ))
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let w = writer.stop().await.unwrap();
    assert_eq!(code, 0, "{out}");
    let m = pgconverge::manifest::Manifest::read(&dir).unwrap();
    assert!(
        m.snapshot.taken_at.is_some() && m.snapshot.binlog.is_some(),
        "{:?}",
        m.snapshot
    );
    let mut import = common::runs::command_of(
        &into,
        "import",
        "mappings/alkemio.toml",
        &["--from", dir.to_str().unwrap()],
    );
    import.env_remove("PGCONVERGE_SOURCE");
    let (code, out) = run(import).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("Source as of {}", m.snapshot.describe())),
        "{out}"
    );
    let (present, absent) = whole_or_absent(&into.target(), &w).await;
    assert!(
        present > 0 && absent > 0,
        "present {present}, absent {absent}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A row committed after the snapshot, before the checks are asked (the run waits at `prepared`, after the snapshot
/// and before the load): the checks do not count it. Asked on a connection of their own, outside the snapshot,
/// they did, and the verification failed.
#[tokio::test]
async fn the_checks_are_answered_at_the_snapshot() {
    let dbs = alkemio(14).await;
    let c = common::runs::command(&dbs, "mappings/alkemio.toml", &["--chunk-rows", "60"]);
    let paused = common::runs::start_paused_with(c, "prepared", "3");
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.query_drop(
        "INSERT INTO authorization_policy (id, version, credentialRules, privilegeRules, type) \
         VALUES ('0badc0de-0000-4000-8000-000000000001', 1, '[]', '[]', 'space')",
    )
    .await
    .unwrap();
    my.disconnect().await.ok();
    let (code, rest) = paused.finish();
    assert_eq!(code, Some(0), "{rest}");
    let pg = common::pg_conn(&dbs.target()).await;
    let n: i64 = pg
        .query_one(
            "SELECT count(*) FROM authorization_policy WHERE id = '0badc0de-0000-4000-8000-000000000001'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the row committed after the snapshot was copied");
}

/// Without the global read lock (a source user without RELOAD, `--source-quiesced`), a write to the source
/// database during the run keeps the target from being called verified (exit 6, the table named); writes elsewhere
/// on the server (the other tests') do not.
#[tokio::test]
async fn a_quiesced_run_is_not_verified_when_its_database_was_written() {
    let dbs = alkemio(15).await;
    let user = format!(
        "q{}",
        dbs.name.len() + std::process::id() as usize % 100_000
    );
    let source = common::source_user(&dbs, &user, "qpw", &["REPLICATION CLIENT"]).await;
    let report = std::env::temp_dir().join(format!("{}-quiesced.json", dbs.name));
    let migrate = |extra: &[&str]| {
        let mut c = common::runs::command(
            &dbs,
            "mappings/alkemio.toml",
            &[
                &[
                    "--source-quiesced",
                    "--chunk-rows",
                    "60",
                    "--report",
                    report.to_str().unwrap(),
                ],
                extra,
            ]
            .concat(),
        );
        c.env("PGCONVERGE_SOURCE", &source);
        c
    };
    // Nothing written to this database: verified, whatever the other tests write elsewhere on the server.
    let (code, out) = run(migrate(&[])).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(report_of(&report)["snapshot"]["locked"], false);
    let (code, out) = common::runs::reset(&dbs, "mappings/alkemio.toml", true);
    assert_eq!(code, 0, "{out}");
    // A write to it while the run waits after its snapshot.
    let paused = common::runs::start_paused_with(migrate(&[]), "prepared", "3");
    let mut admin = common::mysql_conn(&dbs.source_admin()).await;
    admin
        .query_drop("UPDATE authorization_policy SET version = version + 1 ORDER BY id LIMIT 1")
        .await
        .unwrap();
    admin.disconnect().await.ok();
    let (code, rest) = paused.finish();
    let mut my = common::mysql_conn(&common::mysql_admin()).await;
    my.query_drop(format!("DROP USER '{user}'@'127.0.0.1'"))
        .await
        .unwrap();
    assert_eq!(code, Some(6), "{rest}");
    assert!(
        rest.contains("authorization_policy")
            && rest.contains("cannot be called verified")
            && rest.contains("pgconverge reset --yes"),
        "{rest}"
    );
    assert_eq!(report_of(&report)["verified"], false);
    std::fs::remove_file(&report).ok();
}

/// A standalone `verify` of a source the application keeps writing to, after the run: it reads the source again,
/// cannot tell a lost row from a new one, and says so before the differences it lists, and that it named them by
/// reading the source again at a later instant still.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_of_a_moved_source_says_so_before_its_differences() {
    let dbs = alkemio(16).await;
    let (code, out) = run(common::runs::command(
        &dbs,
        "mappings/alkemio.toml",
        &["--chunk-rows", "200"],
    ))
    .await;
    assert_eq!(code, 0, "{out}");
    let writer = LiveWriter::start(&dbs.source_admin(), 150, 16)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (code, out) = run(common::runs::command_of(
        &dbs,
        "verify",
        "mappings/alkemio.toml",
        &[],
    ))
    .await;
    let w = writer.stop().await.unwrap();
    assert!(w.transactions > 10, "{w:?}");
    assert_eq!(code, 6, "{out}");
    let note = out
        .find("**Note:** the source has moved since the run this target holds")
        .unwrap_or_else(|| panic!("no note: {out}"));
    let first_failure = out.find("FAILED:").unwrap_or_else(|| panic!("{out}"));
    assert!(
        note < first_failure,
        "the note comes after a difference: {out}"
    );
    assert!(
        out.contains("named by reading the source again at a later instant"),
        "{out}"
    );
}
