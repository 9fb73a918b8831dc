//! TLS on both sides against the test bed's servers, which offer TLS with a certificate from the test CA of
//! scripts/db-up.sh: every mode connects as it says (the servers report whether the session is encrypted),
//! verification against the right CA passes and against another CA fails naming the certificate problem (and
//! never the password), a client certificate logs in a user that has no password (`sslcert`/`sslkey`,
//! `ssl-cert`/`ssl-key`), and a whole migration runs with full verification on both sides.

mod common;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| {
        panic!("{key} is not set: run `source target/db/env` after `bash scripts/db-up.sh` (scripts/test.sh does)")
    })
}

async fn pg_encrypted(url: &str) -> Result<bool, String> {
    let c = pgconverge::connect::target(url)
        .await
        .map_err(|e| e.to_string())?;
    let row = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    Ok(row.get(0))
}

async fn my_encrypted(url: &str) -> Result<bool, String> {
    let mut c = pgconverge::connect::source(url)
        .await
        .map_err(|e| e.to_string())?;
    let cipher: Option<(String, String)> = c
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    c.disconnect().await.ok();
    Ok(cipher.is_some_and(|(_, v)| !v.is_empty()))
}

#[tokio::test]
async fn postgres_sslmodes() {
    let (ca, other) = (env("PGCONVERGE_TEST_CA"), env("PGCONVERGE_TEST_OTHER_CA"));
    let base = format!("{}/postgres", common::pg_owner());
    for (params, encrypted) in [
        ("sslmode=disable".to_string(), false),
        (String::new(), true),
        ("sslmode=prefer".into(), true),
        ("sslmode=require".into(), true),
        (format!("sslmode=verify-ca&sslrootcert={ca}"), true),
        (format!("sslmode=verify-full&sslrootcert={ca}"), true),
    ] {
        let url = format!("{base}?{params}");
        assert_eq!(pg_encrypted(&url).await, Ok(encrypted), "{params}");
    }
    // The key=value form takes the same parameters.
    let kv = format!(
        "host=127.0.0.1 port={} user=pgc_owner password=pgc_owner dbname=postgres sslmode=verify-full sslrootcert={ca}",
        base.rsplit(':').next().unwrap().split('/').next().unwrap()
    );
    assert_eq!(pg_encrypted(&kv).await, Ok(true));
    for mode in ["verify-ca", "verify-full"] {
        let e = pg_encrypted(&format!("{base}?sslmode={mode}&sslrootcert={other}"))
            .await
            .unwrap_err();
        assert!(
            e.contains("certificate") && e.contains("UnknownIssuer"),
            "{mode}: {e}"
        );
        assert!(
            !e.contains("pgc_owner@") && !e.contains(":pgc_owner"),
            "{e}"
        );
        let e = pg_encrypted(&format!("{base}?sslmode={mode}"))
            .await
            .unwrap_err();
        assert!(e.contains("add sslrootcert=FILE"), "{e}");
    }
}

#[tokio::test]
async fn mysql_ssl_modes() {
    let (ca, other) = (env("PGCONVERGE_TEST_CA"), env("PGCONVERGE_TEST_OTHER_CA"));
    let base = format!("{}/mysql", common::mysql_reader());
    for (params, encrypted) in [
        ("ssl-mode=DISABLED".to_string(), false),
        (String::new(), true),
        ("ssl-mode=PREFERRED".into(), true),
        ("ssl-mode=REQUIRED".into(), true),
        (format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"), true),
        (format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"), true),
    ] {
        let url = format!("{base}?{params}");
        assert_eq!(my_encrypted(&url).await, Ok(encrypted), "{params}");
    }
    for mode in ["VERIFY_CA", "VERIFY_IDENTITY"] {
        let e = my_encrypted(&format!("{base}?ssl-mode={mode}&ssl-ca={other}"))
            .await
            .unwrap_err();
        assert!(
            e.contains("certificate") || e.contains("UnknownIssuer"),
            "{mode}: {e}"
        );
        assert!(!e.contains(":pgc_reader@"), "{e}");
        let e = my_encrypted(&format!("{base}?ssl-mode={mode}"))
            .await
            .unwrap_err();
        assert!(e.contains("add ssl-ca=FILE"), "{e}");
    }
}

#[tokio::test]
async fn a_migration_with_full_verification_on_both_sides() {
    let ca = env("PGCONVERGE_TEST_CA");
    let dbs = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 61, 0.01, 2)
        .await
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .args(["migrate", "--mapping", "mappings/kratos.toml"])
        .env(
            "PGCONVERGE_SOURCE",
            format!("{}?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}", dbs.source()),
        )
        .env(
            "PGCONVERGE_TARGET",
            format!("{}?sslmode=verify-full&sslrootcert={ca}", dbs.target()),
        )
        .env("PGCONVERGE_LOG", "warn")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("all equal"), "{text}");
    common::compare::compare_all(App::Kratos, &dbs).await;
}

/// The test bed's `pgc_cert` user has no password: only the client certificate the CA signed logs it in, on both
/// servers; without the certificate the servers refuse it.
#[tokio::test]
async fn a_client_certificate_logs_in_where_no_password_would() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    let (ca, cert, key) = (
        env("PGCONVERGE_TEST_CA"),
        env("PGCONVERGE_TEST_CLIENT_CERT"),
        env("PGCONVERGE_TEST_CLIENT_KEY"),
    );
    let host = |url: String| url.split_once('@').unwrap().1.to_string();
    let pg_host = host(common::pg_owner());
    let my_host = host(common::mysql_reader());
    let target = |with_cert: bool| {
        let mut u = format!(
            "postgres://pgc_cert@{pg_host}/{}?sslmode=verify-full&sslrootcert={ca}",
            dbs.name
        );
        if with_cert {
            u.push_str(&format!("&sslcert={cert}&sslkey={key}"));
        }
        u
    };
    let source = |with_cert: bool| {
        let mut u = format!(
            "mysql://pgc_cert@{my_host}/{}?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}",
            dbs.name
        );
        if with_cert {
            u.push_str(&format!("&ssl-cert={cert}&ssl-key={key}"));
        }
        u
    };
    let plan = |source: String, target: String| {
        common::runs::outcome(
            std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
                .args(["plan", "--mapping", "mappings/kratos.toml"])
                .env("PGCONVERGE_SOURCE", source)
                .env("PGCONVERGE_TARGET", target)
                .env("PGCONVERGE_LOG", "warn")
                .env_remove("PGPASSWORD")
                .env_remove("MYSQL_PWD")
                .env("HOME", std::env::temp_dir())
                .output()
                .unwrap(),
        )
    };
    let (code, text) = plan(source(true), target(true));
    assert_eq!(code, 0, "both sides log in with the certificate:\n{text}");
    let (code, text) = plan(source(false), target(true));
    assert_eq!(
        code, 3,
        "the source refuses pgc_cert without its certificate:\n{text}"
    );
    let (code, text) = plan(source(true), target(false));
    assert_eq!(
        code, 3,
        "the target refuses pgc_cert without its certificate:\n{text}"
    );
    let (code, text) = plan(source(true), format!("{}&sslcert={cert}", target(false)));
    assert_eq!(
        code, 2,
        "a certificate without its key is a usage error:\n{text}"
    );
    assert!(text.contains("sslkey"), "{text}");
}
