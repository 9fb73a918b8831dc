//! Servers restarting in the middle of a load: PostgreSQL restarted, the run reconnects and completes by itself;
//! MariaDB restarted, the run ends as an interruption (exit 3) naming `--resume` and `reset`, and `--resume`
//! gives a target equal to the source; MariaDB restarted while following, the follower stops (exit 3) and
//! `--resume --follow` then `cutover` give an equal target. The servers are shared, so this binary holds one test
//! that does each in turn (cargo runs test binaries one after another, so no other test sees the restarts).

#[cfg(not(feature = "test-hooks"))]
compile_error!(
    "tests/server_restart.rs needs: cargo test --features test-hooks (scripts/test.sh passes it)"
);

mod common;

use common::runs::{resume, start_paused};
use pgconverge_testbed::facts::App;
use pgconverge_testbed::writer::LiveWriter;

fn restart(server: &str) {
    let status = std::process::Command::new("bash")
        .args(["scripts/db-restart.sh", server])
        .status()
        .expect("run scripts/db-restart.sh");
    assert!(status.success(), "restarting {server} failed");
}

#[tokio::test]
async fn servers_restarted_mid_load() {
    // PostgreSQL: every target connection dies (COPY writers and the control connection).
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 41, 0.02, 2)
        .await
        .unwrap();
    let paused = start_paused(&dbs, "mappings/kratos.toml", "copying:2", "4");
    restart("postgres");
    let (code, rest) = paused.finish();
    assert_eq!(code, Some(0), "the run must complete by itself:\n{rest}");
    assert!(
        rest.contains("copying the chunk again"),
        "the retry must be visible: {rest}"
    );
    common::compare::compare_all(App::Kratos, &dbs).await;
    drop(dbs);

    // MariaDB: the readers' snapshot is gone with their connections; the run stops resumably.
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 42, 0.02, 2)
        .await
        .unwrap();
    let paused = start_paused(&dbs, "mappings/kratos.toml", "copying:2", "4");
    restart("mariadb");
    let (code, rest) = paused.finish();
    assert_eq!(
        code,
        Some(3),
        "a lost source connection is an interruption:\n{rest}"
    );
    for n in ["--resume", "pgconverge reset"] {
        assert!(rest.contains(n), "the message must name {n}: {rest}");
    }
    let (code, text) = resume(&dbs, "mappings/kratos.toml");
    assert_eq!(code, 0, "{text}");
    common::compare::compare_all(App::Kratos, &dbs).await;
    drop(dbs);

    // MariaDB restarted while following: the follower stops as a lost connection (exit 3) naming
    // `--resume --follow`; continued, it reads on into the binary log file the restart began, and after the
    // cut-over the target equals the source.
    let dbs = common::TestDbs::new(App::Alkemio).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Alkemio, 43, 0.01, 2)
        .await
        .unwrap();
    let writer = LiveWriter::start(&dbs.source_admin(), 150, 43)
        .await
        .unwrap();
    let follower = follow(&dbs, &[]);
    let pg = common::pg_conn(&dbs.target()).await;
    while pgconverge::cutover::follow_ledger::follow_state(&pg)
        .await
        .unwrap()
        .is_none()
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    writer.stop().await.unwrap();
    restart("mariadb");
    let (code, out) = common::runs::outcome(follower.wait_with_output().unwrap());
    assert_eq!(code, 3, "a lost source is a connection error:\n{out}");
    assert!(out.contains("migrate --resume --follow"), "{out}");
    let writer = LiveWriter::start(&dbs.source_admin(), 150, 44)
        .await
        .unwrap();
    let follower = follow(&dbs, &["--resume"]);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    writer.stop().await.unwrap();
    let (code, out) = common::run(&dbs, "cutover", &["--timeout", "120"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = common::runs::outcome(follower.wait_with_output().unwrap());
    assert_eq!(code, 0, "{out}");
    common::compare::compare_all(App::Alkemio, &dbs).await;
}

/// `migrate --follow` (with `extra`) in the background.
fn follow(dbs: &common::TestDbs, extra: &[&str]) -> std::process::Child {
    common::runs::command_of(dbs, "migrate", "mappings/alkemio.toml", &["--follow"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pgconverge")
}
