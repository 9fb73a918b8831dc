//! The generator against a real MariaDB: deterministic, FK-consistent, and covering every value class the facts list.

mod common;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::{App, Catalog};

async fn generated(app: App, scale: f64, seed: u64) -> common::TestDbs {
    let dbs = common::TestDbs::new(app).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), app, seed, scale, 2)
        .await
        .expect("generate");
    dbs
}

/// Every FK value of the facts points at an existing parent row (or is NULL).
async fn assert_fk_consistent(app: App, dbs: &common::TestDbs) {
    let mut c = common::mysql_conn(&dbs.source_admin()).await;
    let cat = Catalog::load(app);
    let mut orphans = Vec::new();
    for t in cat.tables.values() {
        for col in t.columns.iter().filter(|c| c.fk.is_some()) {
            let parent = col.fk.as_deref().unwrap();
            let sql = format!(
                "SELECT COUNT(*) FROM `{t}` c LEFT JOIN `{parent}` p ON p.id = c.`{col}` \
                 WHERE c.`{col}` IS NOT NULL AND p.id IS NULL",
                t = t.name,
                col = col.name
            );
            let n: u64 = c.query_first(sql).await.unwrap().unwrap();
            if n > 0 {
                orphans.push(format!("{}.{} -> {parent}: {n} orphans", t.name, col.name));
            }
        }
    }
    assert!(orphans.is_empty(), "{}", orphans.join("\n"));
}

#[tokio::test]
async fn alkemio_data_is_fk_consistent_and_covers_value_classes() {
    let dbs = generated(App::Alkemio, 0.002, 42).await;
    assert_fk_consistent(App::Alkemio, &dbs).await;
    let mut c = common::mysql_conn(&dbs.source_admin()).await;
    let q = |sql: &str| sql.to_string();
    let checks = [
        // 4-byte emoji, combining marks, CR/LF and backslashes inside text.
        q("SELECT COUNT(*) FROM profile WHERE description LIKE '%😀%'"),
        q("SELECT COUNT(*) FROM profile WHERE description LIKE '%e\u{301}%'"),
        q("SELECT COUNT(*) FROM profile WHERE description LIKE '%\r\n%'"),
        q("SELECT COUNT(*) FROM profile WHERE description LIKE '%\\\\\\\\%'"),
        // NULL and '' both present where the schema allows.
        q("SELECT COUNT(*) FROM profile WHERE tagline IS NULL"),
        q("SELECT COUNT(*) FROM profile WHERE tagline = ''"),
        // uuid without FK holding '' where nullable.
        q("SELECT COUNT(*) FROM whiteboard WHERE createdBy = ''"),
        // whiteboard content: zlib stream (0x78 first byte) in its latin1 view.
        q("SELECT COUNT(*) FROM whiteboard WHERE content LIKE 'x%'"),
        // authorization rules are JSON documents of about 3 KB on average.
        q("SELECT COUNT(*) FROM authorization_policy WHERE JSON_VALID(credentialRules) AND LENGTH(credentialRules) > 1500"),
        // the enum, microseconds, the blob with every byte value.
        q("SELECT COUNT(DISTINCT type) > 10 FROM profile"),
        q("SELECT COUNT(*) FROM activity WHERE MICROSECOND(createdDate) <> 0"),
    ];
    for sql in checks {
        let n: i64 = c.query_first(&sql).await.unwrap().unwrap();
        assert!(n > 0, "no generated row satisfies: {sql}");
    }
    let total: i64 = c
        .query_first("SELECT COUNT(*) FROM authorization_policy")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        total as u64,
        pgconverge_testbed::gen::rows_at_scale(App::Alkemio, "authorization_policy", 0.002)
    );
}

#[tokio::test]
async fn kratos_data_is_fk_consistent_and_deterministic() {
    let a = generated(App::Kratos, 0.05, 7).await;
    let b = generated(App::Kratos, 0.05, 7).await;
    assert_fk_consistent(App::Kratos, &a).await;
    let mut ca = common::mysql_conn(&a.source_admin()).await;
    let mut cb = common::mysql_conn(&b.source_admin()).await;
    for t in [
        "identities",
        "sessions",
        "identity_credentials",
        "courier_messages",
        "identity_login_codes",
    ] {
        let sql = format!(
            "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, created_at))), 0) FROM `{t}`"
        );
        let x: (i64, i64) = ca.query_first(&sql).await.unwrap().unwrap();
        let y: (i64, i64) = cb.query_first(&sql).await.unwrap().unwrap();
        assert!(x.0 > 0, "{t} is empty");
        assert_eq!(x, y, "{t} differs between two runs with the same seed");
    }
    let blob: i64 = ca
        .query_first("SELECT COUNT(*) FROM courier_messages WHERE LENGTH(template_data) = 256")
        .await
        .unwrap()
        .unwrap();
    assert!(blob > 0, "the all-256-bytes blob row is missing");
}
