//! `plan --follow` against the real MariaDB: a source whose binary log can be followed passes, and each setting or
//! privilege change capture needs, taken away, is a problem naming it and the statement that gives it back.

mod common;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;

fn plan_follow(dbs: &common::TestDbs, source: &str) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .args(["plan", "--follow", "--mapping", "mappings/kratos.toml"])
        .env("PGCONVERGE_SOURCE", source)
        .env("PGCONVERGE_TARGET", dbs.target())
        .env("PGCONVERGE_LOG", "warn")
        .output()
        .unwrap();
    common::runs::outcome(out)
}

async fn set_global(sql: &str) {
    let mut my = common::mysql_conn(&common::mysql_admin()).await;
    my.query_drop(sql).await.unwrap();
    my.disconnect().await.ok();
}

#[tokio::test]
async fn the_source_is_followable_or_each_lack_is_named_with_its_fix() {
    let dbs = common::TestDbs::new(App::Kratos).await;
    // The test bed's reader has what it needs.
    let (code, out) = plan_follow(&dbs, &dbs.source());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("The contract holds."), "{out}");

    // A user without the replication privileges.
    let plain = common::source_user(&dbs, "pgc_nofollow", "nofollow-pw", &["RELOAD"]).await;
    let (code, out) = plan_follow(&dbs, &plain);
    assert_eq!(code, 4, "{out}");
    for needle in [
        "[not_followable] the source's binary log cannot be followed: privilege REPLICATION SLAVE is RELOAD, \
         change capture needs REPLICATION SLAVE (to read the binary log as a replica does); \
         GRANT REPLICATION SLAVE ON *.* TO 'pgc_nofollow'@'127.0.0.1';",
        "GRANT BINLOG MONITOR ON *.* TO 'pgc_nofollow'@'127.0.0.1';",
    ] {
        assert!(out.contains(needle), "no {needle:?} in\n{out}");
    }
    assert!(!out.contains("nofollow-pw"), "{out}");

    // Server settings, changed globally for the moment of one plan and put back (nothing else here reads the
    // binary log's content).
    for (change, back, needle) in [
        (
            "SET GLOBAL binlog_row_image = 'MINIMAL'",
            "SET GLOBAL binlog_row_image = 'FULL'",
            "binlog_row_image is MINIMAL, change capture needs FULL; SET GLOBAL binlog_row_image = 'FULL';",
        ),
        (
            "SET GLOBAL log_bin_compress = ON",
            "SET GLOBAL log_bin_compress = OFF",
            "log_bin_compress is ON, change capture needs OFF; SET GLOBAL log_bin_compress = OFF;",
        ),
        (
            "SET GLOBAL binlog_format = 'MIXED'",
            "SET GLOBAL binlog_format = 'ROW'",
            "binlog_format is MIXED, change capture needs ROW;",
        ),
    ] {
        set_global(change).await;
        let (code, out) = plan_follow(&dbs, &dbs.source());
        set_global(back).await;
        assert_eq!(code, 4, "{change}: {out}");
        assert!(out.contains(needle), "{change}: no {needle:?} in\n{out}");
    }
    let (code, out) = plan_follow(&dbs, &dbs.source());
    assert_eq!(code, 0, "settings put back: {out}");
}
