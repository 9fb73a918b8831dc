//! `migrate --follow` and `cutover` end to end against the real servers, with the application writing all along:
//! before, during and after the copy's snapshot and while the follower applies. After the cut-over the target
//! equals the source cell for cell (every transaction applied once), through binary log rotations, `kill -9` of
//! the follower at random instants, statements the follower must stop at, and sources it must refuse.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;
use pgconverge_testbed::writer::LiveWriter;

/// Tests that change the server's settings or purge its binary logs hold this exclusively; the others share it,
/// so no follower of one test meets another's server change.
static SERVER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A `migrate --follow` process in the background, its output in a file.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn start(dbs: &common::TestDbs, extra: &[&str]) -> Running {
        Running::start_env(dbs, extra, &[])
    }

    /// As `start`, with more environment (test hooks).
    fn start_env(dbs: &common::TestDbs, extra: &[&str], env: &[(&str, &str)]) -> Running {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let log = std::env::temp_dir().join(format!("{}-follow-{n}.log", dbs.name));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pgconverge"))
            .args(["migrate", "--follow", "--mapping", "mappings/alkemio.toml"])
            .args(extra)
            .env("PGCONVERGE_SOURCE", dbs.source())
            .env("PGCONVERGE_TARGET", dbs.target())
            .env("PGCONVERGE_LOG", "info")
            .envs(env.iter().copied())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn pgconverge");
        Running { child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit code (-1: killed by a signal) and output, waiting at most `secs`.
    fn wait(mut self, secs: u64) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let out = self.output();
                std::fs::remove_file(&self.log).ok();
                return (status.code().unwrap_or(-1), out);
            }
            if Instant::now() > deadline {
                self.child.kill().ok();
                panic!(
                    "the follower did not end within {secs}s:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the follower reads the binary log (after whatever it makes before, helper indexes).
    async fn reading(&mut self, dbs: &common::TestDbs) {
        self.following(dbs).await;
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.output().contains("Following the source's binary log.") {
            assert!(Instant::now() < deadline, "{}", self.output());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no handler runs, nothing is rolled back by the process.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::fs::remove_file(&self.log).ok();
    }

    /// Waits until the ledger records following (the copy completed, the follow phase started).
    async fn following(&mut self, dbs: &common::TestDbs) {
        let deadline = Instant::now() + Duration::from_secs(180);
        let pg = common::pg_conn(&dbs.target()).await;
        loop {
            if let Ok(Some(_)) = pgconverge::cutover::follow_ledger::follow_state(&pg).await {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the run ended ({status}) before following:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "not following:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn alkemio(seed: u64) -> common::TestDbs {
    let dbs = common::TestDbs::new(App::Alkemio).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Alkemio, seed, 0.01, 2)
        .await
        .unwrap();
    dbs
}

async fn admin(sql: &str) {
    let mut my = common::mysql_conn(&common::mysql_admin()).await;
    my.query_drop(sql).await.unwrap();
    my.disconnect().await.ok();
}

fn cutover(dbs: &common::TestDbs) -> (i32, String) {
    common::run(dbs, "cutover", &["--timeout", "120"])
}

/// Everything the writer committed, and nothing twice: the tool's own verification and the test's independent
/// cell-by-cell comparison of every table.
async fn equal(dbs: &common::TestDbs) {
    let (code, out) = common::run(dbs, "verify", &[]);
    assert_eq!(code, 0, "{out}");
    common::compare::compare_all(App::Alkemio, dbs).await;
}

/// The writer commits pairs, updates, deletes and key changes from before the snapshot to the cut-over, and the
/// binary log rotates twice while following; with three seeds the target equals the source after `cutover`, both
/// processes exit 0, and the report counts what was followed. With the last seed the follower holds so few bytes
/// of a transaction that most come in parts, each applied as it comes into the one PostgreSQL transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_around_the_copy_arrive_once_through_the_cutover() {
    let _shared = SERVER.read().await;
    for seed in [31, 32, 33] {
        let dbs = alkemio(seed).await;
        let writer = LiveWriter::start(&dbs.source_admin(), 150, seed)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let report = std::env::temp_dir().join(format!("{}-follow.json", dbs.name));
        let parts: &[(&str, &str)] = match seed {
            33 => &[("PGCONVERGE_PART_BYTES", "250")],
            _ => &[],
        };
        let indexed = seed == 32;
        let mut args = vec!["--report", report.to_str().unwrap()];
        if indexed {
            args.push("--index-foreign-keys");
        }
        let mut run = Running::start_env(&dbs, &args, parts);
        run.reading(&dbs).await;
        let pg = common::pg_conn(&dbs.target()).await;
        assert_eq!(helper_indexes(&pg).await > 0, indexed);
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            admin("FLUSH BINARY LOGS").await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let w = writer.stop().await.unwrap();
        let (code, out) = cutover(&dbs);
        assert_eq!(code, 0, "seed {seed}: {out}");
        assert!(out.contains("Freeze "), "{out}");
        let (code, out) = run.wait(120);
        assert_eq!(code, 0, "seed {seed}: {out}");
        assert!(out.contains("Followed the source from "), "{out}");
        assert_eq!(
            out.contains("Applied a part of a large source transaction"),
            !parts.is_empty(),
            "{out}"
        );
        // The writer's transactions during the copy came from the spool, the rest from the source.
        for needle in [
            "Spooled the source's binary log during the copy.",
            "Reading the binary log spooled during the copy first.",
            "The spool is applied: following the source's binary log from where it ends.",
        ] {
            assert!(out.contains(needle), "no {needle:?} in {out}");
        }
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        std::fs::remove_file(&report).ok();
        common::assert_valid(&common::report_validator(), &r, "migrate --follow");
        let f = &r["follow"];
        assert_eq!(r["verified"], true, "{r}");
        assert_eq!(f["verified"], true, "{f}");
        assert!(
            f["transactions"].as_u64().unwrap() > 0
                && f["transactions"].as_u64() < Some(w.transactions + 1),
            "{f} of {} committed",
            w.transactions
        );
        let by_key = strs(&f["tables_checked_by_key"]);
        assert!(
            by_key.contains(&"authorization_policy") && f["keys_checked"].as_u64() > Some(0),
            "{f}"
        );
        assert!(out.contains("key by key"), "{out}");
        let touched = strs(&f["tables_touched"]);
        assert!(
            touched.contains(&"authorization_policy") && touched.contains(&"calendar"),
            "{f}"
        );
        assert_eq!(helper_indexes(&pg).await, 0, "the cut-over drops them");
        equal(&dbs).await;
        // Done is done: a second cut-over says so, and a reset still returns the target to before the copy.
        let (code, out) = cutover(&dbs);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("already done"), "{out}");
        let (code, out) = common::runs::reset(&dbs, "mappings/alkemio.toml", true);
        assert_eq!(code, 0, "{out}");
    }
}

/// The follower killed with SIGKILL at ten random instants while the writer goes on, each time continued with
/// `migrate --resume --follow`: no strict-mode stop, and after the cut-over the target equals the source. Between
/// kills the status shows the follow phase, and once the writer stops it shows the follower caught up. Every
/// other run gives transactions in parts, so kills land inside a part-applied transaction too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_killed_anywhere_resumes_where_its_ledger_says() {
    let _shared = SERVER.read().await;
    let dbs = alkemio(34).await;
    let writer = LiveWriter::start(&dbs.source_admin(), 200, 34)
        .await
        .unwrap();
    // Helper indexes too: made by the first run, they do not make a resumed run see a changed schema.
    let mut run = Running::start(&dbs, &["--index-foreign-keys"]);
    run.following(&dbs).await;
    // An operator's session with a transaction open on the ledger (read, never ended until the kills are over)
    // must not hold up a resumed run: a resumed start takes no exclusive lock on a ledger table.
    let watcher = common::pg_conn(&dbs.target()).await;
    watcher
        .batch_execute("BEGIN; SELECT * FROM pgconverge.follow; SELECT * FROM pgconverge.run")
        .await
        .unwrap();
    let mut rng = pgconverge_testbed::gen::Rng::new(34);
    for kill in 0..10 {
        tokio::time::sleep(Duration::from_millis(150 + rng.below(900))).await;
        if kill == 5 {
            admin("FLUSH BINARY LOGS").await;
        }
        run.kill9();
        let (code, out) = common::run(&dbs, "status", &[]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("Follow: following"), "{out}");
        let parts: &[(&str, &str)] = match kill % 2 {
            0 => &[("PGCONVERGE_PART_BYTES", "250")],
            _ => &[],
        };
        run = Running::start_env(&dbs, &["--resume", "--index-foreign-keys"], parts);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    writer.stop().await.unwrap();
    // Caught up with an idle source: 0 behind, in seconds and in bytes (with the watcher's transaction open).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, out) = common::run(&dbs, "status", &["--json"]);
        let json = &out[out.find('{').unwrap_or(0)..out.rfind('}').map_or(0, |e| e + 1)];
        let s: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let p = &s["follow"]["progress"];
        if p["behind_bytes"] == 0 && p["behind_seconds"] == 0 && s["follow"]["phase"] == "following"
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never caught up: {out}\n{}",
            run.output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    watcher.batch_execute("COMMIT").await.unwrap();
    let (code, out) = cutover(&dbs);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run.wait(120);
    assert_eq!(code, 0, "{out}");
    equal(&dbs).await;
}

/// Statements on a copied table stop the follower, naming table and position, with the target resumable: DDL (an
/// index added) and DML logged as a statement. The operator does the equivalent on the target and continues past
/// each with `--skip-statement`; a statement on another table passes. After the cut-over the target is equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_on_copied_tables_stop_by_name_and_position() {
    let _shared = SERVER.read().await;
    let dbs = alkemio(35).await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    let mut run = Running::start(&dbs, &[]);
    run.following(&dbs).await;
    my.query_drop("CREATE TABLE scratch_notes (id int PRIMARY KEY)")
        .await
        .unwrap();
    my.query_drop("ALTER TABLE calendar ADD INDEX follow_test_idx (version)")
        .await
        .unwrap();
    let (code, out) = run.wait(60);
    assert_eq!(code, 8, "{out}");
    let at = stopped_at(&out, "calendar");
    assert!(out.contains("--skip-statement"), "{out}");
    let (_, status) = common::run(&dbs, "status", &[]);
    assert!(status.contains("Last error (exit 8"), "{status}");

    // A skip of another position does not pass it.
    let run = Running::start(&dbs, &["--resume", "--skip-statement", "nothing.000001:4"]);
    let (code, out) = run.wait(60);
    assert_eq!(code, 8, "{out}");
    assert_eq!(stopped_at(&out, "calendar"), at);

    let mut run = Running::start(&dbs, &["--resume", "--skip-statement", &at]);
    run.following(&dbs).await;
    // The table created after the copy goes again, passed like its creation (it names no copied table): the
    // cut-over's verification would find it unmapped.
    my.query_drop("DROP TABLE scratch_notes").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Statement-format DML on a copied table (MariaDB logs it as a statement in this session).
    my.query_drop(
        "SET SESSION binlog_format = 'STATEMENT'; UPDATE calendar SET version = version + 1, updatedDate = \
         '2026-01-01 00:00:00' ORDER BY id LIMIT 1",
    )
    .await
    .unwrap();
    let (code, out) = run.wait(60);
    assert_eq!(code, 8, "{out}");
    let at = stopped_at(&out, "calendar");
    let pg = common::pg_conn(&dbs.target()).await;
    pg.batch_execute(
        "UPDATE calendar SET version = version + 1, \"updatedDate\" = '2026-01-01 00:00:00' \
         WHERE id = (SELECT id FROM calendar ORDER BY id LIMIT 1)",
    )
    .await
    .unwrap();
    my.query_drop("SET SESSION binlog_format = 'ROW'; UPDATE authorization_policy SET version = 9 ORDER BY id LIMIT 1")
        .await
        .unwrap();
    let run = Running::start(&dbs, &["--resume", "--skip-statement", &at]);
    let (code, out) = cutover(&dbs);
    let (run_code, run_out) = run.wait(60);
    assert_eq!((code, run_code), (0, 0), "{out}\n{run_out}");
    equal(&dbs).await;
}

/// The position a stop names for a statement on `table`.
fn stopped_at(out: &str, table: &str) -> String {
    let needle = format!("a statement on {table}, a table the mapping copies, at ");
    let from = out.find(&needle).unwrap_or_else(|| panic!("{out}")) + needle.len();
    out[from..].split(": ").next().unwrap().to_string()
}

/// Refused before anything is written: a source logging statements, and (for a stopped follower) a start the
/// source no longer keeps. The first leaves the target without a ledger; the second names the position and the
/// way back, and the target stays as the follower left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfollowable_sources_are_refused_before_anything_is_written() {
    let _alone = SERVER.write().await;
    let dbs = alkemio(36).await;
    admin("SET GLOBAL binlog_format = 'STATEMENT'").await;
    let (code, out) = Running::start(&dbs, &[]).wait(60);
    admin("SET GLOBAL binlog_format = 'ROW'").await;
    assert_eq!(code, 8, "{out}");
    assert!(
        out.contains("binlog_format") && out.contains("nothing was changed"),
        "{out}"
    );
    let pg = common::pg_conn(&dbs.target()).await;
    let ledger = common::strings(
        &pg,
        "SELECT count(*)::text FROM pg_namespace WHERE nspname = 'pgconverge'",
    )
    .await;
    assert_eq!(ledger, ["0"], "nothing written");

    let mut run = Running::start(&dbs, &[]);
    run.following(&dbs).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    run.kill9();
    // The source lets go of a log file only once no replica reads it: the killed follower's connection ends at
    // its next heartbeat (every second).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.query_drop("UPDATE authorization_policy SET version = 7 ORDER BY id LIMIT 1")
        .await
        .unwrap();
    let state = pgconverge::cutover::follow_ledger::follow_state(&pg)
        .await
        .unwrap()
        .unwrap();
    let file = state.applied.rsplit_once(':').unwrap().0.to_string();
    purge(&mut my, &file).await;
    let before = common::target_state(&dbs).await;
    let (code, out) = Running::start(&dbs, &["--resume"]).wait(60);
    assert_eq!(code, 8, "{out}");
    assert!(
        out.contains("no longer keeps its binary log from")
            && out.contains(&state.applied)
            && out.contains("reset --yes"),
        "{out}"
    );
    assert_eq!(common::target_state(&dbs).await, before, "nothing written");
}

/// Rotates the source's binary log and purges every file before the new one, until `file` is gone.
async fn purge(my: &mut mysql_async::Conn, file: &str) {
    admin("FLUSH BINARY LOGS").await;
    // MariaDB keeps a file until its crash-recovery checkpoint has moved past it (and while a replica reads it):
    // purge until it is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let current: String = my
            .query_first("SHOW MASTER STATUS")
            .await
            .unwrap()
            .map(|r: mysql_async::Row| r.get(0).unwrap())
            .unwrap();
        my.query_drop(format!("PURGE BINARY LOGS TO '{current}'"))
            .await
            .unwrap();
        let logs: Vec<String> = my
            .query("SHOW BINARY LOGS")
            .await
            .unwrap()
            .into_iter()
            .map(|r: mysql_async::Row| r.get(0).unwrap())
            .collect();
        if !logs.iter().any(|l| l == file) {
            return;
        }
        assert!(Instant::now() < deadline, "{file} stays in {logs:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The source purges the snapshot's binary log file while the copy runs (paused before loading, the writer
/// going on): the spool written during the copy keeps the follower's start, so following reads it and then the
/// source, and the cut-over is equal; without the spool this start is refused as purged. A spool bounded to a
/// few kilobytes ends early, at a transaction boundary, and the source's binary log takes over from there. Each
/// spool is removed once following is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spool_keeps_the_start_when_the_source_purges_it_during_the_copy() {
    // Purging binary logs: no other follower of this server may run meanwhile.
    let _alone = SERVER.write().await;
    for (seed, max) in [(37, "8GiB"), (38, "200KiB")] {
        let dbs = alkemio(seed).await;
        let dir = std::env::temp_dir().join(format!("{}-spool", dbs.name));
        let writer = LiveWriter::start(&dbs.source_admin(), 150, seed)
            .await
            .unwrap();
        let mut run = Running::start_env(
            &dbs,
            &["--spool-dir", dir.to_str().unwrap(), "--spool-max", max],
            &[
                ("PGCONVERGE_PAUSE_AT", "prepared"),
                ("PGCONVERGE_PAUSE_SECS", "12"),
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        while !run.output().contains("paused at prepared") {
            assert!(Instant::now() < deadline, "{}", run.output());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let pg = common::pg_conn(&dbs.target()).await;
        let snapshot = pgconverge::cutover::ledger::read_run(&pg)
            .await
            .unwrap()
            .unwrap()
            .snapshot
            .binlog
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let bounded = max != "8GiB";
        if !bounded {
            let mut my = common::mysql_conn(&dbs.source_admin()).await;
            purge(&mut my, snapshot.rsplit_once(':').unwrap().0).await;
            my.disconnect().await.ok();
        }
        run.following(&dbs).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        writer.stop().await.unwrap();
        let (code, out) = cutover(&dbs);
        assert_eq!(code, 0, "seed {seed}: {out}");
        let (code, out) = run.wait(120);
        assert_eq!(code, 0, "seed {seed}: {out}");
        for needle in [
            "Spooled the source's binary log during the copy.",
            "Reading the binary log spooled during the copy first.",
            "The spool is applied: following the source's binary log from where it ends.",
        ] {
            assert!(out.contains(needle), "seed {seed}: no {needle:?} in {out}");
        }
        assert_eq!(
            out.contains("the spool reached its bound of 204800 bytes"),
            bounded,
            "{out}"
        );
        equal(&dbs).await;
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir(&dir).ok();
    }
}

/// Waits until `run` announces it paused at `point`, then kills it with SIGKILL.
async fn kill_at(run: Running, point: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !run.output().contains(&format!("paused at {point}")) {
        assert!(Instant::now() < deadline, "{}", run.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.kill9();
}

/// The copy killed twice mid-load (SIGKILL after a few committed chunks) while the writer goes on. A plain
/// `--resume` is refused: the source changed. `--resume --follow` copies the tables the interrupted copy had not
/// finished again, whole, from its own snapshot and follows the others from the first snapshot, applying a
/// change to a recopied table only past its snapshot; the second kill lands in that recopy and the next resume
/// does it again. The copy is not verified (the source is live), the cut-over restores the foreign keys and
/// verifies every table, and the target equals the source. Without the per-table positions the follower would
/// insert rows the recopy already holds and stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_killed_on_a_live_source_resumes_by_following() {
    let _shared = SERVER.read().await;
    let dbs = alkemio(40).await;
    let writer = LiveWriter::start(&dbs.source_admin(), 150, 40)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let chunks = ["--chunk-rows", "60"];
    let pause = |n: &'static str| [("PGCONVERGE_PAUSE_AT", n)];
    kill_at(
        Running::start_env(&dbs, &chunks, &pause("chunk:4")),
        "chunk:4",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, out) = common::run(&dbs, "migrate", &["--resume", "--chunk-rows", "60"]);
    assert_eq!(code, 8, "{out}");
    assert!(
        out.contains("cannot resume: the source changed") && out.contains("--follow"),
        "{out}"
    );
    let resumed = [chunks.as_slice(), &["--resume"]].concat();
    kill_at(
        Running::start_env(&dbs, &resumed, &pause("chunk:3")),
        "chunk:3",
    )
    .await;
    let pg = common::pg_conn(&dbs.target()).await;
    let run = pgconverge::cutover::ledger::read_run(&pg)
        .await
        .unwrap()
        .unwrap();
    assert!(run.live && !run.recopied.is_empty(), "{run:?}");
    let first: std::collections::BTreeMap<String, String> = run.recopied;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = std::env::temp_dir().join(format!("{}-live.json", dbs.name));
    let args = [resumed.as_slice(), &["--report", report.to_str().unwrap()]].concat();
    let mut run = Running::start(&dbs, &args);
    run.reading(&dbs).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    admin("FLUSH BINARY LOGS").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    writer.stop().await.unwrap();
    let (code, out) = cutover(&dbs);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run.wait(180);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the copy is not verified now"), "{out}");
    assert!(
        out.contains("foreign keys a resume on the live source left off"),
        "{out}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    std::fs::remove_file(&report).ok();
    common::assert_valid(&common::report_validator(), &r, "migrate --resume --follow");
    assert_eq!(r["live"], true, "{r}");
    assert_eq!(r["verified"], serde_json::Value::Null, "{r}");
    assert_eq!(r["follow"]["verified"], true, "{r}");
    // The third run copied again what the second had not finished, at its own snapshot, later than the second's.
    let recopied = r["recopied"].as_object().unwrap();
    assert!(recopied.len() >= first.len(), "{r}");
    let later = recopied
        .iter()
        .filter(|(t, at)| first.get(*t).is_some_and(|was| at.as_str() != Some(was)))
        .count();
    assert!(later > 0, "{r} against {first:?}");
    let whole = strs(&r["follow"]["tables_verified_whole"]);
    assert!(
        whole.contains(&"authorization_policy") && whole.contains(&"calendar"),
        "{r}"
    );
    equal(&dbs).await;
}

/// A follower of a fresh Alkemio source (`seed`) once it follows, an admin connection to that source, and the
/// id of its first calendar.
async fn following_calendar(seed: u64) -> (common::TestDbs, Running, mysql_async::Conn, String) {
    let dbs = alkemio(seed).await;
    let mut run = Running::start(&dbs, &[]);
    run.following(&dbs).await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    let id: String = my
        .query_first("SELECT id FROM calendar ORDER BY id LIMIT 1")
        .await
        .unwrap()
        .unwrap();
    (dbs, run, my, id)
}

/// A follower of a fresh Alkemio source (`seed`) stopped by what `sql` (given the first calendar's id) does on
/// the source, with exit 8 (a refusal): the databases, the follower's output and that id.
async fn stopped_by(seed: u64, sql: impl Fn(&str) -> String) -> (common::TestDbs, String, String) {
    let (dbs, run, mut my, id) = following_calendar(seed).await;
    my.query_drop(sql(&id)).await.unwrap();
    let (code, out) = run.wait(60);
    assert_eq!(code, 8, "{out}");
    (dbs, out, id)
}

/// A row the follow phase changed, then altered in the target behind the follower's back, is found at the
/// cut-over by the key-by-key check, naming table, key, column and both values; the follower stops with exit 6
/// (verification) and the cut-over reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_row_altered_in_the_target_is_named_at_the_cutover() {
    let _shared = SERVER.read().await;
    let (dbs, run, mut my, id) = following_calendar(39).await;
    my.exec_drop("UPDATE calendar SET version = 41 WHERE id = ?", (&id,))
        .await
        .unwrap();
    let pg = common::pg_conn(&dbs.target()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = common::strings(
            &pg,
            &format!("SELECT version::text FROM calendar WHERE id = '{id}'"),
        )
        .await;
        if v == ["41"] {
            break;
        }
        assert!(Instant::now() < deadline, "{v:?}\n{}", run.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pg.batch_execute(&format!(
        "UPDATE calendar SET version = 42 WHERE id = '{id}'"
    ))
    .await
    .unwrap();
    let (code, out) = cutover(&dbs);
    let (run_code, run_out) = run.wait(120);
    assert_ne!(code, 0, "{out}");
    assert_eq!(run_code, 6, "{run_out}");
    let needle = format!("calendar at id=\"{id}\": column version: source \"41\", target \"42\"");
    assert!(run_out.contains(&needle), "no {needle:?} in {run_out}");
    assert!(
        run_out.contains("1 of the 1 rows the follow phase changed differ"),
        "{run_out}"
    );
}

/// A write that lands after `cutover` recorded its position, while the follower checks the target, voids the
/// cut-over: that write is not in the target. The waiting cutover fails naming the table, the follower takes the
/// cut-over back and goes on following, and a second cutover once writes stopped finishes with the write in the
/// target. Without the follower's last look at the source, the first cut-over would report done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_the_cutover_position_takes_the_cutover_back() {
    let _shared = SERVER.read().await;
    let dbs = alkemio(40).await;
    let mut run = Running::start_env(
        &dbs,
        &[],
        &[
            ("PGCONVERGE_PAUSE_AT", "follow-finish"),
            ("PGCONVERGE_PAUSE_SECS", "3"),
        ],
    );
    run.reading(&dbs).await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    let ids: Vec<String> = my
        .query("SELECT id FROM calendar ORDER BY id LIMIT 2")
        .await
        .unwrap();
    my.exec_drop("UPDATE calendar SET version = 51 WHERE id = ?", (&ids[0],))
        .await
        .unwrap();
    let first = Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .args([
            "cutover",
            "--mapping",
            "mappings/alkemio.toml",
            "--timeout",
            "120",
        ])
        .env("PGCONVERGE_SOURCE", dbs.source())
        .env("PGCONVERGE_TARGET", dbs.target())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !run.output().contains("paused at follow-finish") {
        assert!(Instant::now() < deadline, "{}", run.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    my.exec_drop("UPDATE calendar SET version = 52 WHERE id = ?", (&ids[1],))
        .await
        .unwrap();
    let (code, out) = common::runs::outcome(first.wait_with_output().unwrap());
    assert_ne!(code, 0, "{out}");
    for needle in [
        "is void",
        "calendar of database",
        "run `pgconverge cutover` again",
    ] {
        assert!(out.contains(needle), "no {needle:?} in {out}");
    }
    assert!(run.output().contains("taken back"), "{}", run.output());
    let (code, out) = cutover(&dbs);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run.wait(120);
    assert_eq!(code, 0, "{out}");
    let pg = common::pg_conn(&dbs.target()).await;
    let v = common::strings(
        &pg,
        &format!("SELECT version::text FROM calendar WHERE id = '{}'", ids[1]),
    )
    .await;
    assert_eq!(v, ["52"]);
    equal(&dbs).await;
}

/// The follow phase's helper indexes (`--index-foreign-keys`) in the target.
async fn helper_indexes(pg: &tokio_postgres::Client) -> usize {
    let n = common::strings(
        pg,
        "SELECT count(*)::text FROM pg_class WHERE relkind = 'i' AND starts_with(relname, 'pgconverge_follow_')",
    )
    .await;
    n[0].parse().unwrap()
}

/// With `--index-foreign-keys` the follower indexes every foreign key of the target no index leads with (Alkemio's
/// PostgreSQL schema has dozens), naming none of them in a warning; killed while following, `reset --yes` drops
/// them with the rest of the run, leaving the schema as its migrations made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_indexes_live_only_while_following() {
    let _shared = SERVER.read().await;
    let dbs = alkemio(40).await;
    let pg = common::pg_conn(&dbs.target()).await;
    let indexes = "SELECT count(*)::text FROM pg_indexes WHERE schemaname = 'public'";
    let before = common::strings(&pg, indexes).await;
    let mut run = Running::start(&dbs, &["--index-foreign-keys"]);
    run.reading(&dbs).await;
    let out = run.output();
    assert!(helper_indexes(&pg).await > 10, "{out}");
    assert!(!out.contains("No index leads with"), "{out}");
    assert!(out.contains("Created a helper index"), "{out}");
    run.kill9();
    let (code, out) = common::runs::reset(&dbs, "mappings/alkemio.toml", true);
    assert_eq!(code, 0, "{out}");
    assert_eq!(helper_indexes(&pg).await, 0);
    assert_eq!(common::strings(&pg, indexes).await, before);
}

/// A report's array of strings.
fn strs(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

/// An update that keeps its key writes only the columns it changed: a target trigger that refuses any write of
/// `credentialRules` stays silent while the source changes `version` (in a run of rows and in a row alone),
/// `privilegeRules` and `parentAuthorizationPolicyId` (set to NULL) of authorization policies, and the cut-over's
/// key-by-key check finds every change in the target. Without the column shapes, the follower's first update
/// writes every column and the trigger stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_writes_only_the_columns_it_changed() {
    let _shared = SERVER.read().await;
    let dbs = alkemio(41).await;
    let mut run = Running::start(&dbs, &[]);
    run.following(&dbs).await;
    let pg = common::pg_conn(&dbs.target()).await;
    pg.batch_execute(
        "CREATE FUNCTION refuse_rules() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'credentialRules written'; END $$; \
         CREATE TRIGGER refuse_rules BEFORE UPDATE OF \"credentialRules\" ON authorization_policy \
         FOR EACH ROW EXECUTE FUNCTION refuse_rules();",
    )
    .await
    .unwrap();
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    let ids: Vec<String> = my
        .query("SELECT id FROM authorization_policy ORDER BY id LIMIT 5")
        .await
        .unwrap();
    my.query_drop(format!(
        "UPDATE authorization_policy SET version = version + 7 WHERE id IN ('{}', '{}', '{}')",
        ids[0], ids[1], ids[2]
    ))
    .await
    .unwrap();
    my.exec_drop(
        "UPDATE authorization_policy SET privilegeRules = '[{\"grantedPrivileges\":[\"read\"]}]' WHERE id = ?",
        (&ids[3],),
    )
    .await
    .unwrap();
    my.exec_drop(
        "UPDATE authorization_policy SET version = 3, parentAuthorizationPolicyId = NULL WHERE id = ?",
        (&ids[4],),
    )
    .await
    .unwrap();
    let (code, out) = cutover(&dbs);
    let (run_code, run_out) = run.wait(120);
    assert_eq!(code, 0, "{out}");
    assert_eq!(run_code, 0, "{run_out}");
    assert!(
        run_out.contains("Checked the 5 rows the follow phase changed"),
        "{run_out}"
    );
    pg.batch_execute("DROP TRIGGER refuse_rules ON authorization_policy")
        .await
        .unwrap();
    equal(&dbs).await;
}

/// A session that logs partial row images (binlog_row_image MINIMAL, which any session may set for itself) stops
/// the follower at that change, naming table and position and the way back, and the target keeps nothing of it:
/// decoded as if whole, its values would have landed on the wrong columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_row_image_stops_the_follower_by_name_and_position() {
    let _shared = SERVER.read().await;
    let (dbs, out, id) = stopped_by(42, |id| {
        format!("SET SESSION binlog_row_image = 'MINIMAL'; UPDATE calendar SET version = 77 WHERE id = '{id}'")
    })
    .await;
    assert!(
        out.contains("the row change of table calendar at mariadb-bin."),
        "{out}"
    );
    assert!(out.contains("partial row images"), "{out}");
    assert!(out.contains("binlog_row_image=FULL"), "{out}");
    assert!(out.contains("pgconverge reset --yes"), "{out}");
    let pg = common::pg_conn(&dbs.target()).await;
    let v = common::strings(
        &pg,
        &format!("SELECT version::text FROM calendar WHERE id = '{id}'"),
    )
    .await;
    assert_ne!(v, ["77"]);
    let (code, out) = common::run(&dbs, "reset", &["--yes"]);
    assert_eq!(code, 0, "{out}");
}

/// An event the follower cannot read stops it by position, naming what it is and the way back, and nothing of it
/// is applied: here MariaDB's compressed row events, with log_bin_compress switched on while following. A
/// compressed event of another database passes, as its uncompressed form would. Before, every such event was
/// passed over as unknown, and the change was lost without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_events_stop_the_follower_by_position() {
    let _alone = SERVER.write().await;
    let dbs = alkemio(43).await;
    admin("CREATE DATABASE IF NOT EXISTS pgc_compress_other").await;
    admin("CREATE TABLE IF NOT EXISTS pgc_compress_other.t (id int PRIMARY KEY, v text)").await;
    admin("DELETE FROM pgc_compress_other.t").await;
    let mut run = Running::start(&dbs, &[]);
    run.following(&dbs).await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    admin("SET GLOBAL log_bin_compress = ON").await;
    let other = my
        .query_drop("INSERT INTO pgc_compress_other.t VALUES (1, REPEAT('x', 4000))")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let passed = run.child.try_wait().unwrap().is_none();
    let ours = my
        .query_drop("UPDATE authorization_policy SET version = 99 ORDER BY id LIMIT 1")
        .await;
    admin("SET GLOBAL log_bin_compress = OFF").await;
    other.unwrap();
    ours.unwrap();
    assert!(
        passed,
        "another database's compressed event stopped the follower:\n{}",
        run.output()
    );
    let (code, out) = run.wait(60);
    assert_eq!(code, 8, "{out}");
    assert!(
        out.contains("holds a compressed row event of table authorization_policy (MariaDB's log_bin_compress)"),
        "{out}"
    );
    assert!(out.contains("pgconverge reset --yes"), "{out}");
    let pg = common::pg_conn(&dbs.target()).await;
    let v = common::strings(
        &pg,
        "SELECT count(*)::text FROM authorization_policy WHERE version = 99",
    )
    .await;
    assert_eq!(v, ["0"]);
    admin("DROP DATABASE pgc_compress_other").await;
}

/// XA transactions: one committed in one phase is applied like any other; one prepared (committed later, in a
/// group of its own) that changed a copied table stops the follower by position, naming it, with nothing of it
/// applied. Before, the follower dropped its rows at `XA END` and went on: the change was lost without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_xa_transaction_stops_the_follower_one_phase_ones_apply() {
    let _shared = SERVER.read().await;
    let (dbs, run, mut my, id) = following_calendar(44).await;
    my.query_drop(format!(
        "XA START 'pgc1'; UPDATE calendar SET version = 61 WHERE id = '{id}'; XA END 'pgc1'; \
         XA COMMIT 'pgc1' ONE PHASE"
    ))
    .await
    .unwrap();
    let pg = common::pg_conn(&dbs.target()).await;
    let sql = format!("SELECT version::text FROM calendar WHERE id = '{id}'");
    let version = || common::strings(&pg, &sql);
    let deadline = Instant::now() + Duration::from_secs(60);
    while version().await != ["61"] {
        assert!(Instant::now() < deadline, "{}", run.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    my.query_drop(format!(
        "XA START 'pgc2'; UPDATE calendar SET version = 62 WHERE id = '{id}'; XA END 'pgc2'; \
         XA PREPARE 'pgc2'; XA COMMIT 'pgc2'"
    ))
    .await
    .unwrap();
    let (code, out) = run.wait(60);
    assert_eq!(code, 8, "{out}");
    assert!(
        out.contains("holds an XA transaction that was prepared and changed table calendar"),
        "{out}"
    );
    assert!(out.contains("pgconverge reset --yes"), "{out}");
    assert_eq!(version().await, ["61"]);
}

/// A statement run from outside the followed database that names it (`ALTER TABLE db.calendar`, from a session
/// with no default database) stops the follower as the same statement run inside it does. Before, the follower
/// took it for another database's and passed it: the table changed under it without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_from_another_database_naming_a_copied_table_stops_the_follower() {
    let _shared = SERVER.read().await;
    let (dbs, run, _my, _id) = following_calendar(45).await;
    admin(&format!(
        "ALTER TABLE `{}`.calendar ADD INDEX pgc_elsewhere_idx (version)",
        dbs.name
    ))
    .await;
    let (code, out) = run.wait(60);
    assert_eq!(code, 8, "{out}");
    stopped_at(&out, "calendar");
    assert!(out.contains("pgc_elsewhere_idx"), "{out}");
}

/// Cuts over (both processes exit 0) and reads the target's `version` of the calendars at `ids`, in id order.
async fn cut_over_versions(dbs: &common::TestDbs, run: Running, ids: &[String]) -> Vec<String> {
    let (code, out) = cutover(dbs);
    let (run_code, run_out) = run.wait(120);
    assert_eq!((code, run_code), (0, 0), "{out}\n{run_out}");
    let pg = common::pg_conn(&dbs.target()).await;
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(", ");
    common::strings(
        &pg,
        &format!("SELECT version::text FROM calendar WHERE id IN ({list}) ORDER BY id"),
    )
    .await
}

/// Savepoints inside a transaction (as ORMs nest transactions, TypeORM among them) pass: every change committed
/// arrives, and one rolled back to a savepoint does not (the source logs none of it). Before, the follower took
/// `SAVEPOINT` for a statement and dropped the transaction's changes before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_inside_a_transaction_keep_its_changes() {
    let _shared = SERVER.read().await;
    let (dbs, run, mut my, _) = following_calendar(46).await;
    let ids: Vec<String> = my
        .query("SELECT id FROM calendar ORDER BY id LIMIT 3")
        .await
        .unwrap();
    my.query_drop(format!(
        "BEGIN; UPDATE calendar SET version = 71 WHERE id = '{}'; SAVEPOINT typeorm_1; \
         UPDATE calendar SET version = 72 WHERE id = '{}'; RELEASE SAVEPOINT typeorm_1; SAVEPOINT typeorm_2; \
         UPDATE calendar SET version = 73 WHERE id = '{}'; ROLLBACK TO SAVEPOINT typeorm_2; COMMIT",
        ids[0], ids[1], ids[2]
    ))
    .await
    .unwrap();
    let versions = cut_over_versions(&dbs, run, &ids).await;
    assert_eq!(&versions[..2], ["71", "72"]);
    assert_ne!(versions[2], "73");
    equal(&dbs).await;
}

/// A statement logged inside a transaction that also changed copied tables by rows (a session in MIXED format)
/// passes when it names no copied table, and the transaction arrives whole. Before, the follower met the
/// statement apart and dropped the transaction's changes read before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_inside_a_transaction_keeps_its_row_changes() {
    let _shared = SERVER.read().await;
    let (dbs, run, mut my, _) = following_calendar(47).await;
    let ids: Vec<String> = my
        .query("SELECT id FROM calendar ORDER BY id LIMIT 2")
        .await
        .unwrap();
    my.query_drop("CREATE TABLE scratch_mixed (id int PRIMARY KEY)")
        .await
        .unwrap();
    // In MIXED format an UPDATE with LIMIT is unsafe as a statement, so it goes as rows; the INSERT as a statement.
    my.query_drop(format!(
        "SET SESSION binlog_format = 'MIXED'; BEGIN; UPDATE calendar SET version = 81 WHERE id = '{}' LIMIT 1; \
         INSERT INTO scratch_mixed VALUES (1); UPDATE calendar SET version = 82 WHERE id = '{}' LIMIT 1; COMMIT; \
         SET SESSION binlog_format = 'ROW'; DROP TABLE scratch_mixed",
        ids[0], ids[1]
    ))
    .await
    .unwrap();
    let versions = cut_over_versions(&dbs, run, &ids).await;
    assert_eq!(versions, ["81", "82"]);
    equal(&dbs).await;
}

/// A copied table whose columns changed where the binary log does not show it (DDL with sql_log_bin off) stops
/// the follower at its next row change, naming table, position and both column counts. Before, the values were
/// matched to the columns known when following began, one by one, and landed on the wrong columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_reshaped_unseen_stops_the_follower_at_its_next_change() {
    let _shared = SERVER.read().await;
    let (_, out, _) = stopped_by(48, |id| {
        format!(
            "SET SESSION sql_log_bin = 0; ALTER TABLE calendar ADD COLUMN unseen int FIRST; \
             SET SESSION sql_log_bin = 1; UPDATE calendar SET version = 91 WHERE id = '{id}'"
        )
    })
    .await;
    assert!(out.contains("changes table calendar with"), "{out}");
    assert!(out.contains("its structure changed"), "{out}");
}
