//! A safe snapshot on a busy source: the global read lock waits at most `--lock-wait` seconds behind a write
//! statement still running on the source, then gives up naming it, with the target untouched; the write itself is
//! not disturbed; `check` never takes the lock.

mod common;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;

#[tokio::test]
async fn the_read_lock_gives_up_after_the_bound_naming_the_running_write() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 5, 0.02, 2)
        .await
        .unwrap();
    let before = common::target_state(&dbs).await;
    // A long write on the source: one row updated by a statement that sleeps 12 s.
    let admin = dbs.source_admin();
    let writer = tokio::spawn(async move {
        let mut my = common::mysql_conn(&admin).await;
        my.query_drop("UPDATE networks SET updated_at = updated_at WHERE SLEEP(12) = 0")
            .await
    });
    // Wait until the server runs it.
    let mut watch = common::mysql_conn(&dbs.source_admin()).await;
    for _ in 0..50 {
        let n: Option<u64> = watch
            .query_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE networks%'",
            )
            .await
            .unwrap();
        if n == Some(1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (code, out) = common::run(&dbs, "migrate", &["--lock-wait", "2"]);
    // The write is still running when migrate has given up: the lock did not wait for it.
    assert!(!writer.is_finished(), "migrate waited for the write: {out}");
    // The preflight never takes the lock: it reads right through the running write.
    let (check, check_out) = common::run(&dbs, "check", &[]);
    assert_eq!(check, 0, "{check_out}");
    assert!(
        !writer.is_finished(),
        "check waited for the write: {check_out}"
    );
    assert_eq!(code, 3, "{out}");
    for needle in [
        "global read lock",
        "waited 2 s",
        "UPDATE networks SET updated_at",
        "nothing was changed",
        "--lock-wait",
        "--source-quiesced",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert_eq!(
        before,
        common::target_state(&dbs).await,
        "the target changed"
    );
    // The write completes normally.
    writer.await.unwrap().unwrap();
}
