//! Chunking at the extremes, on the real servers: BIGINT UNSIGNED keys above 2^63, binary keys that are not
//! UTF-8, and a table whose row estimate is stale (0 while it holds thousands) are cut into several chunks and
//! arrive complete, each row once.

mod common;

use common::TestDbs;
use mysql_async::prelude::Queryable;

const MYSQL: &str = "
CREATE TABLE big_keys (id bigint unsigned PRIMARY KEY, v varchar(20));
CREATE TABLE bin_keys (id varbinary(16) PRIMARY KEY, v int);
CREATE TABLE stale (id int PRIMARY KEY, v varchar(20)) STATS_PERSISTENT = 1 STATS_AUTO_RECALC = 0";

const PG: &str = "
CREATE TABLE big_keys (id numeric(20,0) PRIMARY KEY, v varchar(20));
CREATE TABLE bin_keys (id bytea PRIMARY KEY, v integer);
CREATE TABLE stale (id integer PRIMARY KEY, v varchar(20))";

#[tokio::test]
async fn extreme_keys_and_stale_estimates_are_chunked_and_arrive_whole() {
    let dbs = TestDbs::bare(MYSQL, PG).await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    let mut big = Vec::new();
    for i in 0..600u64 {
        // Spread over the whole unsigned range: half of the keys are above i64::MAX.
        let id = if i == 599 {
            u64::MAX
        } else {
            i * (u64::MAX / 600)
        };
        big.push(format!("({id}, 'r{i}')"));
    }
    my.query_drop(format!("INSERT INTO big_keys VALUES {}", big.join(",")))
        .await
        .unwrap();
    let bin: Vec<String> = (0..600u32)
        .map(|i| {
            // Bytes that are not UTF-8 (0xff, 0xc3 alone, 0x00) in every key.
            format!("(X'{:02x}ff00c3{:04x}', {i})", (i * 37 % 256) as u8, i)
        })
        .collect();
    my.query_drop(format!("INSERT INTO bin_keys VALUES {}", bin.join(",")))
        .await
        .unwrap();
    my.query_drop("INSERT INTO stale SELECT seq, concat('s', seq) FROM seq_1_to_3000")
        .await
        .unwrap();
    // Persistent statistics claiming 0 rows, loaded again when the table is reopened (as after a restart).
    my.query_drop(format!(
        "UPDATE mysql.innodb_table_stats SET n_rows = 0 WHERE database_name = '{}' AND table_name = 'stale'",
        dbs.name
    ))
    .await
    .unwrap();
    my.query_drop("RENAME TABLE stale TO stale_reopened, stale_reopened TO stale")
        .await
        .unwrap();
    let estimate: Option<u64> = my
        .query_first(format!(
            "SELECT table_rows FROM information_schema.tables WHERE table_schema = '{}' AND table_name = 'stale'",
            dbs.name
        ))
        .await
        .unwrap();
    assert!(
        estimate.unwrap_or(0) < 100,
        "the estimate should be stale, it is {estimate:?}"
    );
    my.disconnect().await.ok();

    let mapping = std::env::temp_dir().join(format!("{}.toml", dbs.name));
    std::fs::write(&mapping, "app = \"chunks\"\n").unwrap();
    let report = std::env::temp_dir().join(format!("{}.json", dbs.name));
    let (code, out) = common::run_mapping(
        &dbs,
        "migrate",
        mapping.to_str().unwrap(),
        &["--chunk-rows", "100", "--report", report.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for (table, rows) in [("big_keys", 600), ("bin_keys", 600), ("stale", 3000)] {
        let t = &r["tables"][table];
        assert!(
            t["chunks"].as_u64().unwrap() >= 4,
            "{table} was not cut into chunks: {t}"
        );
        assert_eq!(t["rows"], rows, "{table}: {t}");
    }
    // Each row once, with its value: the verification at the end compared every row; check the extremes here.
    let pg = common::pg_conn(&dbs.target_super()).await;
    let max: String = pg
        .query_one("SELECT max(id)::text FROM big_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(max, u64::MAX.to_string());
    let distinct: i64 = pg
        .query_one(
            "SELECT count(DISTINCT id) FROM bin_keys WHERE position('\\xff00c3'::bytea in id) = 2",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(distinct, 600);
    assert!(out.contains("all equal"), "{out}");
    std::fs::remove_file(&mapping).ok();
    std::fs::remove_file(&report).ok();
}
