//! A run that fails still leaves its `--report`, valid against docs/report.schema.json, with the error (exit code,
//! class, message), the state the target was left in and the command to run next: a lost or refused connection
//! (exit 3), a data violation (5), a verification mismatch (6) and Ctrl-C (130). A panic exits 1.

// The pause point the Ctrl-C case waits at exists only in builds with the test-hooks feature.
#[cfg(not(feature = "test-hooks"))]
compile_error!(
    "tests/failed_reports.rs needs: cargo test --features test-hooks (scripts/test.sh passes it)"
);

mod common;

use std::process::Command;

use common::runs::{command_of, outcome, start_paused_with};
use common::{assert_valid, report_validator, TestDbs};
use pgconverge_testbed::facts::App;

fn report_path(dbs: &TestDbs, name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("{}-{name}.json", dbs.name));
    let _ = std::fs::remove_file(&p);
    p
}

fn read(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no report at {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn a_connection_refused_leaves_a_report_naming_it() {
    let dbs = TestDbs::new(App::Kratos).await;
    let path = report_path(&dbs, "refused");
    let (code, text) = outcome(
        command_of(
            &dbs,
            "migrate",
            "mappings/kratos.toml",
            &["--report", path.to_str().unwrap()],
        )
        // Nothing listens on port 1.
        .env(
            "PGCONVERGE_TARGET",
            "postgres://pgc_owner:secret-pw@127.0.0.1:1/nowhere",
        )
        .output()
        .unwrap(),
    );
    assert_eq!(code, 3, "{text}");
    let r = read(&path);
    assert_valid(&report_validator(), &r, "a refused connection's");
    assert_eq!(r["outcome"], "failed", "{r}");
    assert_eq!(r["error"]["exit"], 3, "{r}");
    assert_eq!(r["error"]["class"], "connection", "{r}");
    assert!(r["target_state"].is_null(), "{r}");
    assert!(r["next"].as_str().unwrap().contains("reachable"), "{r}");
    assert!(r["settings"]["readers"].as_u64().unwrap() >= 1, "{r}");
    assert!(
        !r.to_string().contains("secret-pw"),
        "the password is never written: {r}"
    );
}

#[tokio::test]
async fn ctrl_c_leaves_a_report_with_the_ledger_state_and_resume() {
    let dbs = TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 37, 0.02, 2)
        .await
        .unwrap();
    let path = report_path(&dbs, "interrupted");
    let c = command_of(
        &dbs,
        "migrate",
        "mappings/kratos.toml",
        &[
            "--readers",
            "1",
            "--writers",
            "1",
            "--chunk-rows",
            "60",
            "--report",
            path.to_str().unwrap(),
        ],
    );
    let paused = start_paused_with(c, "chunk:2", "600");
    let sent = Command::new("kill")
        .args(["-INT", &paused.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let (code, rest) = paused.finish();
    assert_eq!(code, Some(130), "{rest}");
    let r = read(&path);
    assert_valid(&report_validator(), &r, "an interrupted migrate's");
    assert_eq!(r["error"]["class"], "interrupted", "{r}");
    assert_eq!(r["target_state"]["state"], "loading", "{r}");
    assert_eq!(r["target_state"]["chunks_done"], 2, "{r}");
    assert_eq!(r["target_state"]["last_error"]["exit"], 130, "{r}");
    assert!(
        r["next"]
            .as_str()
            .unwrap()
            .contains("pgconverge migrate --resume"),
        "{r}"
    );
}

#[tokio::test]
async fn a_data_violation_leaves_a_report_of_the_restored_target() {
    let dbs = TestDbs::bare(
        "SET SESSION sql_mode = '';
CREATE TABLE t (id int PRIMARY KEY, d datetime NOT NULL);
INSERT INTO t VALUES (1, '2024-01-01 10:00:00'), (2, '0000-00-00 00:00:00')",
        "CREATE TABLE t (id integer PRIMARY KEY, d timestamp NOT NULL)",
    )
    .await;
    let mapping = std::env::temp_dir().join(format!("{}.toml", dbs.name));
    std::fs::write(&mapping, "app = \"zero\"\n").unwrap();
    let path = report_path(&dbs, "data");
    let (code, text) = outcome(
        command_of(
            &dbs,
            "migrate",
            mapping.to_str().unwrap(),
            &["--report", path.to_str().unwrap()],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(code, 5, "{text}");
    let r = read(&path);
    assert_valid(&report_validator(), &r, "a data violation's");
    assert_eq!(r["error"]["class"], "data", "{r}");
    assert_eq!(
        r["target_state"]["ledger"], "none",
        "restored, no ledger left: {r}"
    );
    assert!(
        r["next"].as_str().unwrap().contains("pgconverge check"),
        "{r}"
    );
}

#[tokio::test]
async fn a_verification_mismatch_keeps_the_full_report_and_adds_the_error() {
    let dbs = TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 39, 0.02, 2)
        .await
        .unwrap();
    let (code, text) = outcome(
        command_of(&dbs, "migrate", "mappings/kratos.toml", &[])
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "{text}");
    common::pg_conn(&dbs.target())
        .await
        .batch_execute("UPDATE identities SET state = 'inactive' WHERE id = (SELECT id FROM identities ORDER BY id LIMIT 1)")
        .await
        .unwrap();
    let path = report_path(&dbs, "verify");
    let (code, text) = outcome(
        command_of(
            &dbs,
            "verify",
            "mappings/kratos.toml",
            &["--report", path.to_str().unwrap()],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(code, 6, "{text}");
    let r = read(&path);
    assert_valid(&report_validator(), &r, "a failed verification's");
    assert!(
        r.get("outcome").is_none(),
        "the command's own report is kept: {r}"
    );
    assert_eq!(r["error"]["class"], "verification", "{r}");
    assert!(
        r["next"]
            .as_str()
            .unwrap()
            .contains("pgconverge reset --yes"),
        "{r}"
    );
}

/// A panic is a bug: the run ends with the documented internal-error code, 1 (not Rust's 101), saying so.
#[tokio::test]
async fn a_panic_ends_as_an_internal_error() {
    let dbs = TestDbs::new(App::Kratos).await;
    let (code, text) = outcome(
        command_of(&dbs, "plan", "mappings/kratos.toml", &[])
            .env("PGCONVERGE_FAIL_AT", "panic")
            .output()
            .unwrap(),
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("internal error") && text.contains("pgconverge status"),
        "{text}"
    );
}
