//! Every supported type pair on real servers, outside the applications' schemas: boundary values arrive
//! cell-equal (checked against hand-written PostgreSQL text, in both COPY formats), each pair that would round is
//! refused by `plan` naming table, column and reason, a declared narrowing still stops the run at the first value
//! that would change, and MySQL TIMESTAMP values never take the DATETIME zone.

mod common;

use common::TestDbs;
use mysql_async::prelude::Queryable;

const MYSQL: &str = "
CREATE TABLE pairs (
  id int PRIMARY KEY,
  b1 bit(1), b5 bit(5), b63 bit(63), yr year, ti tinyint, si smallint unsigned, bi bigint unsigned,
  d decimal(10,4), d2 decimal(65,30), f float, db double,
  dt datetime(6), ts timestamp(6) NULL DEFAULT NULL, dz datetime, dd date, tm time(6), tv time,
  e enum('a','b'), st set('x','y'), vb varbinary(16), c char(10)
)";

const PG: &str = "
CREATE TABLE pairs (
  id integer PRIMARY KEY,
  b1 boolean, b5 bit(5), b63 bigint, yr smallint, ti smallint, si integer, bi numeric(20,0),
  d numeric(12,4), d2 numeric, f real, db double precision,
  dt timestamp(6), ts timestamptz, dz timestamptz, dd date, tm time, tv interval,
  e text, st text, vb bytea, c varchar(10)
)";

const ROWS: &str = "
INSERT INTO pairs VALUES
 (1, b'1', b'10101', b'111111111111111111111111111111111111111111111111111111111111111', 2155, -128, 65535,
  18446744073709551615, 999999.9999, '12345678901234567890.123456789012345678901234567890', 0.1234567,
  0.1234567891234, '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '2024-07-15 12:00:00',
  '1000-01-01', '23:59:59.999999', '-838:59:59', 'b', 'x,y', 0x00ff, 'ünïcødé!'),
 (2, b'0', b'00000', b'0', 1901, 127, 0, 0, -999999.9999, 0, 1.5, -1.7976931348623157e308,
  '1000-01-01 00:00:00', '1970-01-01 00:00:01', '2024-01-15 12:00:00', '9999-12-31', '00:00:00', '838:59:59',
  'a', '', '', ''),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL)";

/// Each row as PostgreSQL prints it (session zone UTC), columns in table order after `id`.
const EXPECTED: [&str; 3] = [
    "1|true|10101|9223372036854775807|2155|-128|65535|18446744073709551615|999999.9999|\
     12345678901234567890.123456789012345678901234567890|0.1234567|0.1234567891234|9999-12-31 23:59:59.999999|\
     2038-01-19 03:14:07.999999+00|2024-07-15 10:00:00+00|1000-01-01|23:59:59.999999|-838:59:59|b|x,y|\\x00ff|\
     ünïcødé!",
    "2|false|00000|0|1901|127|0|0|-999999.9999|0.000000000000000000000000000000|1.5|-1.7976931348623157e+308|\
     1000-01-01 00:00:00|1970-01-01 00:00:01+00|2024-01-15 11:00:00+00|9999-12-31|00:00:00|838:59:59|a||\\x|",
    "3|~|~|~|~|~|~|~|~|~|~|~|~|~|~|~|~|~|~|~|~|~",
];

fn mapping_file(dbs: &TestDbs, body: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}.toml", dbs.name));
    std::fs::write(&path, format!("app = \"pairs\"\n{body}")).unwrap();
    path.display().to_string()
}

fn run(dbs: &TestDbs, mapping: &str, command: &str, extra: &[&str]) -> (i32, String) {
    common::run_mapping(dbs, command, mapping, extra)
}

async fn target_rows(dbs: &TestDbs, table: &str) -> Vec<String> {
    let pg = common::pg_conn(&dbs.target_super()).await;
    pg.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    let columns: Vec<String> = pg
        .query(
            "SELECT format('coalesce(%I::text, ''~'')', column_name) FROM information_schema.columns \
             WHERE table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let q = format!(
        "SELECT concat_ws('|', {}) FROM {table} ORDER BY 1",
        columns.join(", ")
    );
    common::strings(&pg, &q).await
}

/// Undoes the completed run (`reset --yes`): `table` is empty again.
async fn empty_target(dbs: &TestDbs, mapping: &str, table: &str) {
    let (code, out) = common::runs::reset(dbs, mapping, true);
    assert_eq!(code, 0, "{out}");
    assert!(target_rows(dbs, table).await.is_empty(), "{out}");
}

async fn source_exec(dbs: &TestDbs, sql: &str) {
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.query_drop(sql).await.unwrap();
    my.disconnect().await.ok();
}

#[tokio::test]
async fn every_pair_arrives_cell_equal_in_both_copy_formats() {
    let dbs = TestDbs::bare(MYSQL, PG).await;
    source_exec(&dbs, ROWS).await;
    let mapping = mapping_file(&dbs, "source_time_zone = \"Europe/Amsterdam\"\n");
    let (code, out) = run(&dbs, &mapping, "plan", &[]);
    assert_eq!(code, 0, "{out}");
    for format in ["csv", "binary"] {
        let (code, out) = run(&dbs, &mapping, "migrate", &["--copy-format", format]);
        assert_eq!(code, 0, "{format}: {out}");
        let got = target_rows(&dbs, "pairs").await;
        assert_eq!(got, EXPECTED, "{format}");
        empty_target(&dbs, &mapping, "pairs").await;
    }
}

#[tokio::test]
async fn local_times_a_dst_change_skipped_or_repeated_stop_the_run_unless_the_mapping_chooses() {
    let dbs = TestDbs::bare(MYSQL, PG).await;
    let zone = "source_time_zone = \"Europe/Amsterdam\"\n";
    let mapping = mapping_file(&dbs, zone);
    source_exec(
        &dbs,
        "INSERT INTO pairs (id, dz) VALUES (7, '2024-03-31 02:30:00')",
    )
    .await;
    let (code, out) = run(&dbs, &mapping, "migrate", &[]);
    assert_eq!(code, 5, "{out}");
    assert!(
        out.contains("id=7")
            && out.contains("dz")
            && out.contains("did not exist in Europe/Amsterdam"),
        "{out}"
    );
    source_exec(&dbs, "UPDATE pairs SET dz = '2024-10-27 02:30:00'").await;
    let (code, out) = run(&dbs, &mapping, "migrate", &[]);
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("happened twice in Europe/Amsterdam"), "{out}");
    let mapping = mapping_file(&dbs, &format!("{zone}ambiguous_local_times = \"later\"\n"));
    let (code, out) = run(&dbs, &mapping, "migrate", &[]);
    assert_eq!(code, 0, "{out}");
    let pg = common::pg_conn(&dbs.target_super()).await;
    let dz: String = pg
        .query_one("SELECT (dz AT TIME ZONE 'UTC')::text FROM pairs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(dz, "2024-10-27 01:30:00");
}

/// Regression: MySQL TIMESTAMP values are read in UTC and must not take the DATETIME offset.
#[tokio::test]
async fn timestamps_are_not_shifted_by_a_fixed_source_zone() {
    let dbs = TestDbs::bare(MYSQL, PG).await;
    source_exec(
        &dbs,
        "INSERT INTO pairs (id, ts, dz) VALUES (1, '2024-05-01 10:00:00', '2024-05-01 10:00:00')",
    )
    .await;
    let mapping = mapping_file(&dbs, "source_time_zone = \"+02:00\"\n");
    let (code, out) = run(&dbs, &mapping, "migrate", &[]);
    assert_eq!(code, 0, "{out}");
    let pg = common::pg_conn(&dbs.target_super()).await;
    let row = pg
        .query_one(
            "SELECT (ts AT TIME ZONE 'UTC')::text, (dz AT TIME ZONE 'UTC')::text FROM pairs",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "2024-05-01 10:00:00");
    assert_eq!(row.get::<_, String>(1), "2024-05-01 08:00:00");
}

const NARROW_MYSQL: &str = "
CREATE TABLE narrow (id int PRIMARY KEY, d decimal(10,4), r double, t datetime(6), v varchar(40))";
const NARROW_PG: &str = "
CREATE TABLE narrow (id integer PRIMARY KEY, d numeric(10,2), r real, t timestamp(3), v varchar(20))";

/// Regression: decimal(10,4) -> numeric(10,2) rounded 9.9999 to 10.00 and double -> real rounded silently.
#[tokio::test]
async fn narrower_targets_are_refused_or_checked_value_by_value() {
    let dbs = TestDbs::bare(NARROW_MYSQL, NARROW_PG).await;
    let plain = mapping_file(&dbs, "");
    let (code, out) = run(&dbs, &plain, "plan", &[]);
    assert_eq!(code, 4, "{out}");
    for needle in [
        "narrow.d (decimal(10,4)) -> narrow.d (numeric(10,2))",
        "keeps 2 decimal places, the source 4",
        "narrow.r (double) -> narrow.r (real)",
        "narrow.t (datetime(6)) -> narrow.t (timestamp(3) without time zone)",
        "narrow.v (varchar(40)) -> narrow.v (character varying(20))",
        "declare narrowing",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let declared = mapping_file(
        &dbs,
        "[tables.narrow.columns.d]\nnarrowing = \"prices have cents only\"\n\
         [tables.narrow.columns.r]\nnarrowing = \"ratios are halves\"\n\
         [tables.narrow.columns.t]\nnarrowing = \"written in milliseconds\"\n\
         [tables.narrow.columns.v]\nnarrowing = \"codes are short\"\n",
    );
    let (code, out) = run(&dbs, &declared, "plan", &[]);
    assert_eq!(code, 0, "{out}");
    source_exec(
        &dbs,
        "INSERT INTO narrow VALUES (1, 9.9900, 0.5, '2024-01-01 10:00:00.123000', 'short'), \
         (2, -123456.0000, 0.1, '2024-01-01 10:00:00', NULL)",
    )
    .await;
    let (code, out) = run(&dbs, &declared, "migrate", &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        target_rows(&dbs, "narrow").await,
        [
            "1|9.99|0.5|2024-01-01 10:00:00.123|short",
            "2|-123456.00|0.1|2024-01-01 10:00:00|~"
        ]
    );
    empty_target(&dbs, &declared, "narrow").await;
    for (set, column, needle) in [
        (
            "d = 9.9999",
            "d",
            "numeric(10,2) would store it rounded; value \"9.9999\"",
        ),
        ("r = 0.1234567891234", "r", "would store it rounded"),
        (
            "t = '2024-01-01 10:00:00.123400'",
            "t",
            "timestamp(3) without time zone would store it rounded",
        ),
        (
            "v = 'a string of twenty-one'",
            "v",
            "characters, the target holds 20",
        ),
    ] {
        source_exec(&dbs, &format!("UPDATE narrow SET {set} WHERE id = 2")).await;
        let (code, out) = run(&dbs, &declared, "migrate", &[]);
        assert_eq!(code, 5, "{set}: {out}");
        assert!(
            out.contains("id=2")
                && out.contains(&format!("column {column}"))
                && out.contains(needle),
            "{set}: {out}"
        );
        assert!(
            target_rows(&dbs, "narrow").await.is_empty(),
            "{set}: target restored"
        );
        source_exec(
            &dbs,
            "UPDATE narrow SET d = -123456, r = 0.1, t = '2024-01-01 10:00:00', v = NULL WHERE id = 2",
        )
        .await;
    }
}

#[tokio::test]
async fn typed_parquet_reads_back_with_an_independent_reader() {
    let dbs = TestDbs::bare(MYSQL, PG).await;
    source_exec(&dbs, ROWS).await;
    let mapping = mapping_file(&dbs, "source_time_zone = \"Europe/Amsterdam\"\n");
    let dir = std::env::temp_dir().join(format!("{}-parquet", dbs.name));
    std::fs::remove_dir_all(&dir).ok();
    let (code, out) = run(
        &dbs,
        &mapping,
        "export",
        &["--out", dir.to_str().unwrap(), "--format", "parquet"],
    );
    assert_eq!(code, 0, "{out}");
    let m = pgconverge::manifest::Manifest::read(&dir).unwrap();
    let files: Vec<_> = m.files.iter().map(|f| dir.join(&f.path)).collect();
    assert!(files.iter().all(|f| f.extension().unwrap() == "parquet"));
    let got = common::read_parquet(&files);
    // Written by hand from the source rows and the target types (docs/csv-format.md, "Parquet").
    let types = serde_json::json!({
        "id": "int32", "b1": "bool", "b5": "string", "b63": "int64", "yr": "int16", "ti": "int16",
        "si": "int32", "bi": "decimal128(20, 0)", "d": "decimal128(12, 4)", "d2": "string", "f": "float",
        "db": "double", "dt": "timestamp[us]", "ts": "timestamp[us, tz=UTC]", "dz": "timestamp[us, tz=UTC]",
        "dd": "date32[day]", "tm": "time64[us]", "tv": "string", "e": "string", "st": "string",
        "vb": "binary", "c": "string"
    });
    assert_eq!(got["types"], types);
    let rows = serde_json::json!([
        [
            1,
            true,
            "10101",
            9223372036854775807i64,
            2155,
            -128,
            65535,
            "18446744073709551615",
            "999999.9999",
            "12345678901234567890.123456789012345678901234567890",
            "0.1234567",
            "0.1234567891234",
            "9999-12-31 23:59:59.999999",
            "2038-01-19 03:14:07.999999+00:00",
            "2024-07-15 10:00:00+00:00",
            "1000-01-01",
            "23:59:59.999999",
            "-838:59:59",
            "b",
            "x,y",
            "hex:00ff",
            "ünïcødé!"
        ],
        [
            2,
            false,
            "00000",
            0,
            1901,
            127,
            0,
            "0",
            "-999999.9999",
            "0.000000000000000000000000000000",
            "1.5",
            "-1.7976931348623157e+308",
            "1000-01-01 00:00:00",
            "1970-01-01 00:00:01+00:00",
            "2024-01-15 11:00:00+00:00",
            "9999-12-31",
            "00:00:00",
            "838:59:59",
            "a",
            "",
            "hex:",
            ""
        ],
        [
            3, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
            null, null, null, null, null, null, null
        ]
    ]);
    let mut got_rows = got["rows"].as_array().unwrap().clone();
    got_rows.sort_by_key(|r| r[0].as_i64());
    assert_eq!(serde_json::Value::Array(got_rows), rows);
    std::fs::remove_dir_all(&dir).ok();
}

const GEN_MYSQL: &str = "
CREATE TABLE g (
  id int PRIMARY KEY,
  a int NOT NULL,
  twice int AS (a * 2) VIRTUAL,
  stored_sum int AS (a + id) STORED,
  plain int
)";

/// `twice` is generated on both sides (PostgreSQL computes it), `stored_sum` is generated only on the source (its
/// values are copied), `plain` feeds a column PostgreSQL generates (refused: its values would be dropped).
const GEN_PG: &str = "
CREATE TABLE g (
  id integer PRIMARY KEY,
  a integer NOT NULL,
  twice integer GENERATED ALWAYS AS (a * 2) STORED,
  stored_sum integer,
  plain integer GENERATED ALWAYS AS (a + 1) STORED
)";

#[tokio::test]
async fn generated_columns_are_computed_or_copied_never_dropped_silently() {
    let dbs = TestDbs::bare(GEN_MYSQL, GEN_PG).await;
    source_exec(
        &dbs,
        "INSERT INTO g (id, a, plain) VALUES (1, 10, 11), (2, -3, -2), (3, 0, NULL)",
    )
    .await;
    let mapping = mapping_file(&dbs, "");
    let (code, out) = run(&dbs, &mapping, "plan", &[]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("g.plain") && out.contains("generated by PostgreSQL"),
        "{out}"
    );
    assert!(
        !out.contains("g.twice") && !out.contains("g.stored_sum"),
        "{out}"
    );
    // The mapping accepts PostgreSQL's expression for `plain`: the run copies the rest and PostgreSQL computes.
    let mapping = mapping_file(
        &dbs,
        "[tables.g.skip_columns]\nplain = \"PostgreSQL computes a + 1, as the application wrote it\"\n",
    );
    let (code, out) = run(&dbs, &mapping, "migrate", &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        target_rows(&dbs, "g").await,
        ["1|10|20|11|11", "2|-3|-6|-1|-2", "3|0|0|3|1"]
    );
}

/// JSON is judged as PostgreSQL's own input judges it: for every value of a corpus the check's verdict for `json`
/// and for `jsonb` equals the server's, and `check` on a table holding the corpus lists exactly the values the load
/// would refuse (before, a lone surrogate escape passed the check though jsonb refuses it).
#[tokio::test]
async fn json_values_are_refused_exactly_where_postgresql_refuses_them() {
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let corpus: Vec<String> = [
        r#"{"a": [1, -0, 0.5, 1e400, -2E-3, true, false, null], "b": {"c": "d"}}"#,
        r#" [ ] "#,
        r#""\"\\\/\b\f\n\r\t\u00e9 😀""#,
        r#"{"a": 1, "a": 2}"#,
        r#""\u0000""#,
        r#""\\u0000""#,
        r#""\ud800""#,
        r#""\udc00""#,
        r#""\ud800x""#,
        r#""\ud800\ud800""#,
        r#""\ud83d\ude00""#,
        r#"[1,]"#,
        r#"{"a"}"#,
        "01",
        "1.",
        ".5",
        "+1",
        "-",
        "True",
        "nul",
        "trueX",
        "[1 2]",
        r#""a"#,
        r#""\x""#,
        r#""\u12g4""#,
        "\"a\tb\"",
        "\"a\u{7f}b\"",
        "[1]]",
        "{}{}",
        "",
        " ",
    ]
    .into_iter()
    .map(String::from)
    .chain([deep(129), deep(1000)])
    .collect();
    let dbs = TestDbs::bare(
        "CREATE TABLE docs (id int PRIMARY KEY, j longtext, b longtext)",
        "CREATE TABLE docs (id integer PRIMARY KEY, j json, b jsonb)",
    )
    .await;
    let pg = common::pg_conn(&dbs.target()).await;
    let mut refused = Vec::new();
    for (i, v) in corpus.iter().enumerate() {
        for (column, ty) in [("j", "json"), ("b", "jsonb")] {
            let server = pg
                .query_one(&format!("SELECT $1::text::{ty} IS NOT NULL"), &[v])
                .await
                .is_ok();
            let ours = pgconverge::util::json::validate(v.as_bytes(), ty == "jsonb").is_ok();
            assert_eq!(ours, server, "{ty} {v:?}: ours {ours}, PostgreSQL {server}");
            // Each value goes into its own row per column (the other column holds `[]`).
            let id = if column == "j" { i } else { 1000 + i };
            if !server {
                refused.push(format!("docs.{column} id={id}"));
            }
        }
    }
    assert!(refused.len() > 40, "{refused:?}");
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    for (i, v) in corpus.iter().enumerate() {
        for (id, j, b) in [(i, v.as_str(), "[]"), (1000 + i, "[]", v.as_str())] {
            my.exec_drop("INSERT INTO docs VALUES (?, ?, ?)", (id as i32, j, b))
                .await
                .unwrap();
        }
    }
    my.disconnect().await.ok();
    let mapping = mapping_file(&dbs, "");
    let report = std::env::temp_dir().join(format!("{}-check.json", dbs.name));
    let (code, out) = run(
        &dbs,
        &mapping,
        "check",
        &["--report", report.to_str().unwrap()],
    );
    assert_eq!(code, 5, "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let mut listed = Vec::new();
    let mut surrogates = Vec::new();
    for group in report["groups"].as_array().unwrap() {
        for v in group["examples"].as_array().unwrap() {
            let (column, key) = (v["column"].as_str().unwrap(), v["key"].as_str().unwrap());
            listed.push(format!("docs.{column} {key}"));
            if group["rule"] == "jsonb_surrogate" {
                surrogates.push(key.to_string());
            }
        }
    }
    listed.sort();
    refused.sort();
    assert_eq!(listed, refused);
    // The four lone surrogates of the corpus (at 6 to 9), refused for jsonb under their own rule.
    surrogates.sort();
    assert_eq!(surrogates, ["id=1006", "id=1007", "id=1008", "id=1009"]);
}

/// Upper-case ENUM labels compare exactly, and a sequence that two target tables draw from through `nextval`
/// defaults, owned by neither column (hand-written DDL), is set past the larger maximum and verified.
#[tokio::test]
async fn upper_case_enums_and_unowned_shared_sequences() {
    let dbs = TestDbs::bare(
        "CREATE TABLE films (id int PRIMARY KEY, rating enum('G','PG','PG-13') NOT NULL);
         CREATE TABLE shows (id int PRIMARY KEY, title varchar(50))",
        "CREATE TYPE rating AS ENUM ('G', 'PG', 'PG-13');
         CREATE SEQUENCE shared_ids;
         CREATE TABLE films (id integer PRIMARY KEY DEFAULT nextval('shared_ids'), rating rating NOT NULL);
         CREATE TABLE shows (id integer PRIMARY KEY DEFAULT nextval('shared_ids'), title varchar(50))",
    )
    .await;
    source_exec(
        &dbs,
        "INSERT INTO films VALUES (1, 'G'), (7, 'PG-13'); INSERT INTO shows VALUES (1, 'a'), (30, 'b')",
    )
    .await;
    let mapping = mapping_file(&dbs, "");
    let (code, out) = run(&dbs, &mapping, "plan", &[]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&dbs, &mapping, "migrate", &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        target_rows(&dbs, "films").await,
        ["1|G", "7|PG-13"],
        "labels exactly as the source has them"
    );
    let pg = common::pg_conn(&dbs.target_super()).await;
    let next: i64 = pg
        .query_one("SELECT nextval('shared_ids')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        next, 31,
        "the shared sequence passes the larger of both maxima"
    );
    // The verification reports the sequence of each column that draws from it.
    pg.query_one("SELECT setval('shared_ids', 31)", &[])
        .await
        .unwrap();
    let (code, out) = run(&dbs, &mapping, "verify", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("sequence of films.id") && out.contains("sequence of shows.id"),
        "{out}"
    );
}
