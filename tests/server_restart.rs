//! Servers restarting in the middle of a load: PostgreSQL restarted, the run reconnects and completes by itself;
//! MariaDB restarted, the run ends as an interruption (exit 3) naming `--resume` and `reset`, and `--resume`
//! gives a target equal to the source. The servers are shared, so this binary holds one test that does both in
//! turn (cargo runs test binaries one after another, so no other test sees the restarts).

#[cfg(not(feature = "test-hooks"))]
compile_error!(
    "tests/server_restart.rs needs: cargo test --features test-hooks (scripts/test.sh passes it)"
);

mod common;

use common::runs::{resume, start_paused};
use pgconverge_testbed::facts::App;

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
}
