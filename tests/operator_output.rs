//! What an operator sees: on a terminal (a pseudo-terminal made by util-linux `script`), progress bars with the
//! phase and rows render and are cleared before the summary; redirected, the output holds no escape codes and
//! names the phases in plain lines; `--log-format json` gives one JSON object per log line; `--quiet` only the
//! results.

mod common;

use pgconverge_testbed::facts::App;

async fn kratos_with_data() -> common::TestDbs {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 5, 0.2, 2)
        .await
        .unwrap();
    dbs
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pgconverge")
}

#[tokio::test]
async fn a_terminal_shows_bars_that_end_clean() {
    let dbs = kratos_with_data().await;
    // `script` runs the command on a pseudo-terminal and copies everything it wrote to stdout.
    let cmd = format!(
        "{} migrate --mapping mappings/kratos.toml --readers 1 --writers 1 --chunk-rows 200",
        bin()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("PGCONVERGE_SOURCE", dbs.source())
        .env("PGCONVERGE_TARGET", dbs.target())
        .env_remove("PGCONVERGE_LOG")
        .output()
        .expect("util-linux script");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("migrate load"),
        "no phase on the bar:\n{text:?}"
    );
    assert!(
        text.contains(" rows "),
        "no row count on the bar:\n{text:?}"
    );
    assert!(
        text.contains('\u{1b}'),
        "no terminal control sequences:\n{text:?}"
    );
    // Each command's bars are erased (clear-line sequences) before its summary line; the last summary (the
    // verification's) stands on a clean line at the very end.
    assert!(text.contains("Migrated "), "{text:?}");
    let last = text.rfind("Verified in ").expect("verification summary");
    assert!(
        text[..last].ends_with("\u{1b}[2K"),
        "bars not cleared before the summary:\n{text:?}"
    );
    let tail = &text[last..];
    assert!(
        !tail.contains("ETA") && !tail.contains('\u{1b}'),
        "a bar is left after the summary:\n{tail:?}"
    );
}

#[tokio::test]
async fn redirected_output_has_no_escape_codes_and_names_the_phases() {
    let dbs = kratos_with_data().await;
    let run = |extra: &[&str]| {
        // Each run starts from the pristine target: the previous one is undone from its kept baseline.
        let reset = std::process::Command::new(bin())
            .args(["reset", "--mapping", "mappings/kratos.toml", "--yes"])
            .env("PGCONVERGE_TARGET", dbs.target())
            .output()
            .unwrap();
        assert_eq!(reset.status.code(), Some(0), "{reset:?}");
        let out = std::process::Command::new(bin())
            .args(["migrate", "--mapping", "mappings/kratos.toml", "--replace"])
            .args(extra)
            .env("PGCONVERGE_SOURCE", dbs.source())
            .env("PGCONVERGE_TARGET", dbs.target())
            .env_remove("PGCONVERGE_LOG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (stdout, stderr) = run(&[]);
    assert!(
        !stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
    for phase in ["phase=\"prepare\"", "phase=\"load\"", "phase=\"finish\""] {
        assert!(stderr.contains(phase), "missing {phase} in:\n{stderr}");
    }
    assert!(
        stdout.contains("Migrated ") && stdout.contains("Verified"),
        "{stdout}"
    );
    // No PostgreSQL notice at the default level.
    assert!(!stderr.contains("NOTICE"), "{stderr}");

    let (_, stderr) = run(&["--log-format", "json"]);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v.get("level").is_some() && v.get("fields").is_some(), "{l}");
    }

    let (stdout, stderr) = run(&["--quiet"]);
    assert!(stderr.trim().is_empty(), "quiet wrote logs: {stderr}");
    assert!(stdout.contains("Migrated "), "{stdout}");
}

/// A DBA sees whose sessions these are: every target session of a running migrate (the role it connects as; the
/// test's own sessions use another) carries the application_name `pgconverge/migrate` in `pg_stat_activity`, and an
/// application_name the connection string sets wins.
#[tokio::test]
async fn the_target_sessions_are_named_after_the_command() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 6, 0.01, 1)
        .await
        .unwrap();
    let names = |dbs: &common::TestDbs| {
        let db = dbs.name.clone();
        let sup = dbs.target_super();
        async move {
            let pg = common::pg_conn(&sup).await;
            common::strings(
                &pg,
                &format!(
                    "SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = '{db}' \
                     AND usename = 'pgc_owner' ORDER BY 1"
                ),
            )
            .await
        }
    };
    let paused = common::runs::start_paused(&dbs, "mappings/kratos.toml", "copying:1", "3");
    let seen = names(&dbs).await;
    paused.finish();
    assert_eq!(seen, ["pgconverge/migrate"], "{seen:?}");
    let (code, out) = common::runs::reset(&dbs, "mappings/kratos.toml", true);
    assert_eq!(code, 0, "{out}");
    let c = common::runs::command(&dbs, "mappings/kratos.toml", &["--chunk-rows", "60"]);
    let mut c = c;
    c.env(
        "PGCONVERGE_TARGET",
        format!("{}?application_name=cutover-rehearsal", dbs.target()),
    );
    let paused = common::runs::start_paused_with(c, "copying:1", "3");
    let seen = names(&dbs).await;
    paused.finish();
    assert_eq!(seen, ["cutover-rehearsal"], "{seen:?}");
}

/// Under `--log-format json` every stderr line is a JSON object, the final error included (with its exit code).
#[test]
fn the_final_error_is_json_too() {
    let out = std::process::Command::new(bin())
        .args([
            "--log-format",
            "json",
            "migrate",
            "--mapping",
            "mappings/kratos.toml",
        ])
        .env("PGCONVERGE_SOURCE", "mysql://u:p@127.0.0.1:1/db")
        .env("PGCONVERGE_TARGET", "postgres://u:p@127.0.0.1:1/db")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.is_object(), "{line}");
    }
    let last: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["exit_code"], 3);
    assert!(
        last["message"].as_str().unwrap().contains("cannot connect"),
        "{last}"
    );
}

/// `--log-file` gets every log line without colour and the final error (JSON too under `--log-format json`),
/// appended across runs; a log file that cannot be opened is a usage error before anything runs.
#[tokio::test]
async fn the_log_file_keeps_the_log_and_the_final_error() {
    let dbs = kratos_with_data().await;
    let log = std::env::temp_dir().join(format!("{}.log", dbs.name));
    let _ = std::fs::remove_file(&log);
    let run = |args: &[&str], source: String| {
        std::process::Command::new(bin())
            .args(["--log-file", log.to_str().unwrap()])
            .args(args)
            .args(["--mapping", "mappings/kratos.toml"])
            .env("PGCONVERGE_SOURCE", source)
            .env("PGCONVERGE_TARGET", dbs.target())
            .env_remove("PGCONVERGE_LOG")
            .output()
            .unwrap()
    };
    let out = run(
        &["migrate", "--readers", "1", "--writers", "1"],
        dbs.source(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &["--log-format", "json", "plan"],
        "mysql://pgc_reader:Wr0ng-Passw0rd@127.0.0.1:1/nowhere".into(),
    );
    assert_eq!(out.status.code(), Some(3));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Snapshot") || text.contains("snapshot"),
        "the migrate's log lines: {text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no escape codes in the file: {text}"
    );
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["exit_code"], 3, "{text}");
    assert!(!text.contains("Wr0ng-Passw0rd"), "{text}");
    let out = std::process::Command::new(bin())
        .args([
            "--log-file",
            "/nonexistent-dir/x.log",
            "plan",
            "--mapping",
            "mappings/kratos.toml",
        ])
        .env("PGCONVERGE_SOURCE", dbs.source())
        .env("PGCONVERGE_TARGET", dbs.target())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot open the log file /nonexistent-dir/x.log"));
    std::fs::remove_file(&log).ok();
}
