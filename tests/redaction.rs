//! No password ever appears in what pgconverge prints, logs or writes, whatever form the connection string
//! takes: a URL with the password in its userinfo or in a `password=` parameter, or libpq's key=value form for
//! the target; for the source the URL form, and a `password=` parameter mysql_async refuses. Every command that
//! connects runs, succeeding and failing, with debug logs as JSON and reports written; the output and the files
//! are searched for the passwords.

mod common;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;

const PG_PASSWORD: &str = "Zq9-pg-SEKRET-71";
const MY_PASSWORD: &str = "Mq7-my-SEKRET-53";

struct Run {
    code: i32,
    text: String,
}

fn run(args: &[&str], source: &str, target: &str) -> Run {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .args(["--log-format", "json", "-vv"])
        .args(args)
        .env("PGCONVERGE_SOURCE", source)
        .env("PGCONVERGE_TARGET", target)
        .env_remove("PGCONVERGE_LOG")
        .output()
        .expect("run pgconverge");
    Run {
        code: out.status.code().unwrap_or(-1),
        text: String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

fn assert_clean(what: &str, text: &str) {
    for pw in [PG_PASSWORD, MY_PASSWORD] {
        assert!(!text.contains(pw), "{what} shows a password:\n{text}");
    }
}

#[tokio::test]
async fn no_password_in_any_output_log_or_report_in_any_form() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 71, 0.01, 1)
        .await
        .unwrap();
    // Users with passwords nothing else contains (the test users' passwords equal their names).
    let role = format!("sec_{}", dbs.name);
    let sup = common::pg_conn(&dbs.target_super()).await;
    sup.batch_execute(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD '{PG_PASSWORD}' IN ROLE pgc_owner"
    ))
    .await
    .unwrap();
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.query_drop(format!(
        "CREATE USER '{role}'@'127.0.0.1' IDENTIFIED BY '{MY_PASSWORD}'"
    ))
    .await
    .unwrap();
    my.query_drop(format!(
        "GRANT SELECT, RELOAD, REPLICATION CLIENT, PROCESS ON *.* TO '{role}'@'127.0.0.1'"
    ))
    .await
    .unwrap();
    // host:port of the test servers, from their URLs.
    let host_port = |url: String| url.rsplit('@').next().unwrap().to_string();
    let (my_at, pg_at) = (
        host_port(common::mysql_admin()),
        host_port(common::pg_owner()),
    );
    let (pg_host, pg_port) = pg_at.split_once(':').unwrap();
    let source = format!("mysql://{role}:{MY_PASSWORD}@{my_at}/{}", dbs.name);
    let db = &dbs.name;
    let targets = [
        format!("postgres://{role}:{PG_PASSWORD}@{pg_at}/{db}"),
        format!("postgres://{role}@{pg_at}/{db}?password={PG_PASSWORD}"),
        format!("host={pg_host} port={pg_port} user={role} password='{PG_PASSWORD}' dbname={db}"),
    ];
    let dir = std::env::temp_dir().join(format!("pgc-redaction-{}", dbs.name));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let mapping = "mappings/kratos.toml";
    for (i, target) in targets.iter().enumerate() {
        let form = format!("target form {i}");
        let steps: Vec<(Vec<String>, i32)> = vec![
            (vec!["plan".into(), "--report".into(), file("plan.json")], 0),
            (
                vec!["check".into(), "--report".into(), file("check.json")],
                0,
            ),
            (
                vec!["migrate".into(), "--report".into(), file("migrate.json")],
                0,
            ),
            (
                vec!["verify".into(), "--report".into(), file("verify.json")],
                0,
            ),
            (
                vec![
                    "export".into(),
                    "--out".into(),
                    file("export"),
                    "--replace".into(),
                    "--report".into(),
                    file("export.json"),
                ],
                0,
            ),
            (vec!["reset".into(), "--yes".into()], 0),
            (
                vec![
                    "import".into(),
                    "--from".into(),
                    file("export"),
                    "--report".into(),
                    file("import.json"),
                ],
                0,
            ),
            (vec!["reset".into(), "--yes".into()], 0),
        ];
        for (args, want) in steps {
            let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
            all.extend(["--mapping", mapping]);
            let r = run(&all, &source, target);
            assert_eq!(r.code, want, "{form} {args:?}:\n{}", r.text);
            assert_clean(&format!("{form} {args:?}"), &r.text);
        }
        // Refused connections name the server, never the password: a wrong database, a wrong password.
        let wrong_db = target
            .replace(&format!("/{db}"), "/no_such_db")
            .replace(&format!("dbname={db}"), "dbname=no_such_db");
        let wrong_pw = target.replace(PG_PASSWORD, "Zq9-pg-SEKRET-72");
        for (what, t) in [("wrong database", &wrong_db), ("wrong password", &wrong_pw)] {
            let r = run(&["plan", "--mapping", mapping], &source, t);
            assert_eq!(r.code, 3, "{form} {what}:\n{}", r.text);
            assert_clean(&format!("{form} {what}"), &r.text);
            assert!(
                !r.text.contains("Zq9-pg-SEKRET-72"),
                "{form} {what} shows the password:\n{}",
                r.text
            );
        }
    }
    // The source refuses a `password=` parameter (mysql_async has none) without echoing it.
    let param = format!("mysql://{role}@{my_at}/{}?password={MY_PASSWORD}", dbs.name);
    let r = run(&["plan", "--mapping", mapping], &param, &targets[0]);
    assert_ne!(r.code, 0, "{}", r.text);
    assert_clean("source password parameter", &r.text);
    // Every report written above.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            assert_clean(
                &p.display().to_string(),
                &std::fs::read_to_string(&p).unwrap(),
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    sup.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .await
        .ok();
    my.query_drop(format!("DROP USER '{role}'@'127.0.0.1'"))
        .await
        .ok();
}

/// A connection string of neither form (no scheme, one slash, `//` without the colon, a stray word after libpq's
/// pairs) is refused by every command before it connects (exit 2), in both log formats, saying which part is wrong
/// and never echoing it: the password in it appears nowhere.
#[test]
fn a_malformed_connection_string_is_refused_and_never_shown() {
    let pw = "Xk4-malformed-SEKRET-29";
    let good_source = format!("mysql://u:{pw}@127.0.0.1:1/db");
    let good_target = format!("postgres://u:{pw}@127.0.0.1:1/db");
    let bad_sources = [
        format!("u:{pw}@127.0.0.1/db"),
        format!("mysql:/u:{pw}@127.0.0.1/db"),
        format!("mysql//u:{pw}@127.0.0.1/db"),
    ];
    let bad_targets = [
        format!("u:{pw}@127.0.0.1/db"),
        format!("postgres:/u:{pw}@127.0.0.1/db"),
        format!("postgres//u:{pw}@127.0.0.1/db"),
        format!("host=127.0.0.1 password={pw} stray"),
    ];
    let commands: [&[&str]; 7] = [
        &["plan", "--mapping", "mappings/kratos.toml"],
        &["check", "--mapping", "mappings/kratos.toml"],
        &["migrate", "--mapping", "mappings/kratos.toml"],
        &[
            "export",
            "--mapping",
            "mappings/kratos.toml",
            "--out",
            "/nonexistent/pgc-x",
        ],
        &["verify", "--mapping", "mappings/kratos.toml"],
        &[
            "import",
            "--mapping",
            "mappings/kratos.toml",
            "--from",
            "/nonexistent/pgc-x",
        ],
        &["reset", "--mapping", "mappings/kratos.toml"],
    ];
    for format in ["text", "json"] {
        for args in commands {
            let takes_source = !matches!(args[0], "import" | "reset");
            let mut cases: Vec<(String, String)> = bad_targets
                .iter()
                .map(|t| (good_source.clone(), t.clone()))
                .collect();
            if takes_source {
                cases.extend(bad_sources.iter().map(|s| (s.clone(), good_target.clone())));
            }
            for (source, target) in cases {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
                    .args(["--log-format", format, "-vv"])
                    .args(args)
                    .env("PGCONVERGE_SOURCE", &source)
                    .env("PGCONVERGE_TARGET", &target)
                    .env_remove("PGCONVERGE_LOG")
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr);
                assert_eq!(
                    out.status.code(),
                    Some(2),
                    "{args:?} {source} {target}: {text}"
                );
                assert!(!text.contains(pw), "{args:?} shows the password:\n{text}");
                assert!(
                    text.contains("connection string is malformed"),
                    "{args:?}: {text}"
                );
            }
        }
    }
}
