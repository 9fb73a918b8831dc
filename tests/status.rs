//! `pgconverge status` from another process: a migrate waiting at a test hook shows its state, its committed
//! chunks and its session; after Ctrl-C the recorded error and `--resume`; after completion the loaded rows; on a
//! target without a ledger, that nothing is recorded.

// The pause points exist only in builds with the test-hooks feature.
#[cfg(not(feature = "test-hooks"))]
compile_error!(
    "tests/status.rs needs: cargo test --features test-hooks (scripts/test.sh passes it)"
);

mod common;

use std::process::Command;

use common::runs::{outcome, resume, start_paused};
use pgconverge_testbed::facts::App;

const MAPPING: &str = "mappings/kratos.toml";

fn status(dbs: &common::TestDbs, json: bool) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pgconverge"));
    c.args(["status", "--mapping", MAPPING])
        .env("PGCONVERGE_TARGET", dbs.target())
        .env("PGCONVERGE_LOG", "warn");
    if json {
        c.arg("--json");
    }
    outcome(c.output().unwrap())
}

fn status_json(dbs: &common::TestDbs) -> serde_json::Value {
    let (code, text) = status(dbs, true);
    assert_eq!(code, 0, "{text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status --json is no JSON ({e}):\n{text}"))
}

#[tokio::test]
async fn status_follows_a_run_from_another_shell() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 35, 0.02, 2)
        .await
        .unwrap();
    let none = status_json(&dbs);
    assert_eq!(none["ledger"], "none", "{none}");
    assert!(
        none["next"]
            .as_str()
            .unwrap()
            .contains("pgconverge migrate"),
        "{none}"
    );

    let paused = start_paused(&dbs, MAPPING, "chunk:3", "600");
    let running = status_json(&dbs);
    assert_eq!(running["ledger"], "run", "{running}");
    assert_eq!(running["command"], "migrate", "{running}");
    assert_eq!(running["state"], "loading", "{running}");
    assert_eq!(running["chunks_done"], 3, "{running}");
    assert!(running["chunks_total"].as_u64().unwrap() > 3, "{running}");
    assert!(running["rows_done"].as_u64().unwrap() > 0, "{running}");
    assert!(
        running["running"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "pgconverge/migrate"),
        "the paused migrate's sessions are seen: {running}"
    );
    let (code, text) = status(&dbs, false);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("state loading") && text.contains("3 of "),
        "{text}"
    );
    assert!(text.contains("a run is going on now"), "{text}");

    // Ctrl-C: the run records why it stopped before it exits.
    let interrupted = Command::new("kill")
        .args(["-INT", &paused.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let (code, rest) = paused.finish();
    assert_eq!(code, Some(130), "{rest}");
    let stopped = status_json(&dbs);
    assert_eq!(stopped["running"].as_array().unwrap().len(), 0, "{stopped}");
    assert_eq!(stopped["last_error"]["exit"], 130, "{stopped}");
    assert!(
        stopped["next"]
            .as_str()
            .unwrap()
            .contains("pgconverge migrate --resume"),
        "{stopped}"
    );
    let (_, text) = status(&dbs, false);
    assert!(text.contains("Last error (exit 130"), "{text}");
    eprintln!("status after Ctrl-C:\n{text}");

    let (code, text) = resume(&dbs, MAPPING);
    assert_eq!(code, 0, "{text}");
    let done = status_json(&dbs);
    assert_eq!(done["state"], "completed", "{done}");
    assert!(
        done["last_error"].is_null(),
        "a completed run has no error left: {done}"
    );
    let loaded: i64 = done["completed_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_i64().unwrap())
        .sum();
    assert!(loaded > 0, "{done}");
    assert!(
        done["next"].as_str().unwrap().contains("pgconverge verify"),
        "{done}"
    );
}
