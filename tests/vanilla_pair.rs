//! The third schema pair: a rental shop written by hand for each engine (testbed/fixtures/shop.*.sql) with the
//! mapping in mappings/shop.toml, written from docs/mapping-format.md. SET columns into text and enum arrays,
//! upper-case enums, an enum relabelled, domains with checks, nextval defaults without OWNED BY and an identity,
//! a NOT NULL column a trigger fills, YEAR, DATETIME into date, unsigned keys, skipped and nulled columns, a
//! table partitioned by inheritance with routing rules, a declaratively partitioned one, views and triggers on
//! both sides: plan, check, migrate, verify, export, import and reset, each value compared with
//! PostgreSQL text written here by hand.

mod common;

use common::TestDbs;
use mysql_async::prelude::Queryable;

const MYSQL: &str = include_str!("../testbed/fixtures/shop.mysql.sql");
const PG: &str = include_str!("../testbed/fixtures/shop.pg.sql");
const MAPPING: &str = "mappings/shop.toml";

const ROWS: &str = include_str!("../testbed/fixtures/shop.rows.sql");

/// Each table's columns as PostgreSQL must print them (session zone UTC), in key order; `~` is NULL. Written by
/// hand from the rows above: MySQL prints a SET's members in declaration order whatever the insert said.
const EXPECTED: [(&str, &str, &[&str]); 5] = [
    (
        "store",
        "store_id, name, opened, services, last_update",
        &[
            "1|Main Street|1901|{rental,sale}|2020-02-15 09:34:33+00",
            "2|Harbour|2155|{}|2020-02-15 09:34:33+00",
            "255|Outlet|2006|{rental,sale,repair}|2021-01-01 00:00:00+00",
        ],
    ),
    (
        "film",
        "film_id, title, release_year, rating, special_features, length, rental_rate, released_on, last_update, \
         fulltext",
        &[
            "1|ACADEMY DINOSAUR|2006|PG|{\"Deleted Scenes\",\"Behind the Scenes\"}|86|0.99|2006-05-25|\
             2020-02-15 05:03:42+00|'academy':1 'dinosaur':2",
            "2|ACE \"GOLDFINGER\"|~|NC-17|{}|32767|4.99|~|2020-02-15 05:03:42+00|'ace':1 'goldfinger':2",
            "65535|ZORRO ARK|2155|~|~|~|0.00|1000-01-01|2038-01-19 03:14:07+00|'ark':2 'zorro':1",
        ],
    ),
    (
        "customer",
        "customer_id, store_id, first_name, last_name, email, status, notes, create_date, activebool",
        &[
            "1|1|MARY|SMITH|mary@example.org|ACTIVE|~|2006-02-14 22:04:36|true",
            "2|255|Zoë|Ünal|~|SUSPENDED|~|2006-02-14 22:04:37|true",
            "2147483000|2|MAX|ID|max@example.org|CLOSED|~|2020-01-01 00:00:00|true",
        ],
    ),
    (
        "rental",
        "rental_id, rental_date, film_id, customer_id, return_date, amount",
        &[
            "1|2005-05-24 22:53:30|1|1|2005-05-26 22:04:30|2.99",
            "2|2005-05-24 22:54:33|65535|2147483000|~|0.00",
            "3|2005-05-24 22:54:33|2|2|~|-1.50",
        ],
    ),
    (
        "payment",
        "payment_id, customer_id, amount, payment_date",
        &[
            "1|1|2.99|2005-05-25 11:30:37",
            "2|2|0.99|2006-02-14 15:16:03",
            "3|2147483000|5.99|2005-06-15 00:00:00",
            "4|2|1.00|2007-01-01 00:00:00",
        ],
    ),
];

/// Where the family members hold the rows: the rules routed 2005 and 2006 into their children, 2007 (no rule)
/// stayed in the parent; the declarative partitions split rentals at 3.
const PLACED: [(&str, i64); 6] = [
    ("ONLY payment", 1),
    ("payment_p2005", 2),
    ("payment_p2006", 1),
    ("ONLY rental", 0),
    ("rental_low", 2),
    ("rental_high", 1),
];

/// The next value of each sequence a key draws from, after a load of [`ROWS`].
const NEXT: [(&str, i64); 5] = [
    ("store_store_id_seq", 256),
    ("film_film_id_seq", 65536),
    ("customer_customer_id_seq", 2147483001),
    ("rental_rental_id_seq", 4),
    ("payment_payment_id_seq", 5),
];

fn run(dbs: &TestDbs, mapping: &str, command: &str, extra: &[&str]) -> (i32, String) {
    common::run_mapping(dbs, command, mapping, extra)
}

async fn source_exec(dbs: &TestDbs, sql: &str) {
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.query_drop(sql).await.unwrap();
    my.disconnect().await.ok();
}

async fn rows(pg: &tokio_postgres::Client, table: &str, columns: &str) -> Vec<String> {
    let cells: Vec<String> = columns
        .split(", ")
        .map(|c| format!("coalesce({c}::text, '~')"))
        .collect();
    let q = format!(
        "SELECT concat_ws('|', {}) FROM {table} ORDER BY {}",
        cells.join(", "),
        columns.split(", ").next().unwrap()
    );
    common::strings(pg, &q).await
}

/// Every table holds exactly [`EXPECTED`], and every sequence is past its column's maximum. Each `nextval` is
/// taken back (`setval` to the value it gave minus one) so the check can run again.
async fn assert_loaded(dbs: &TestDbs, after: &str) {
    let pg = common::pg_conn(&dbs.target_super()).await;
    pg.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    for (table, columns, want) in EXPECTED {
        assert_eq!(
            rows(&pg, table, columns).await,
            want,
            "{table} after {after}"
        );
    }
    for (table, n) in PLACED {
        let got: i64 = pg
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(got, n, "rows in {table} after {after}");
    }
    for (seq, next) in NEXT {
        let got: i64 = pg
            .query_one(&format!("SELECT nextval('{seq}')"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(got, next, "{seq} after {after}");
        pg.query_one(&format!("SELECT setval('{seq}', {})", next - 1), &[])
            .await
            .unwrap();
    }
}

async fn assert_empty(dbs: &TestDbs, after: &str) {
    let pg = common::pg_conn(&dbs.target_super()).await;
    for (table, _, _) in EXPECTED {
        let n: i64 = pg
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table} after {after}");
    }
}

async fn shop() -> TestDbs {
    let dbs = TestDbs::bare(MYSQL, PG).await;
    source_exec(&dbs, ROWS).await;
    dbs
}

#[tokio::test]
async fn the_shop_goes_through_every_command_cell_equal() {
    let dbs = shop().await;
    let (code, out) = run(&dbs, MAPPING, "plan", &[]);
    assert_eq!(code, 0, "{out}");
    for needle in [
        "The contract holds.",
        // Domains convert as their base, and PostgreSQL checks them.
        "[domain year: its checks apply]",
        "[domain rate: its checks apply]",
        // unsigned into signed: listed, checked on every row.
        "unsigned holds 0..4294967295, the target -2147483648..2147483647: a value outside stops the run]",
        "unsigned holds 0..65535, the target -32768..32767: a value outside stops the run]",
        "[narrowing, each value checked: release dates were always entered without a time of day]",
        "text_array",
        "date_from_datetime",
        "[transform relabel]",
        "[transform null]",
        // Skipped and unwritten columns, with reasons and what the target gets.
        "not copied: code of the retired loyalty system; the new schema has no column for it; the target gets nothing (the target has no such column)",
        "not copied: the target fills it: trigger film_fulltext_trigger",
        "activebool",
        "not copied: no source column; the target gets its default true",
        "rows go into payment and PostgreSQL routes them to its inheritance children (payment_p2005, \
         payment_p2006): loaded through INSERT so that its rules and triggers apply",
        "rows go into rental and PostgreSQL routes them to its partitions (rental_high, rental_low)",
    ] {
        assert!(out.contains(needle), "plan lacks {needle:?}:\n{out}");
    }
    let (code, out) = run(&dbs, MAPPING, "check", &[]);
    assert_eq!(code, 0, "{out}");

    let report = std::env::temp_dir().join(format!("{}-migrate.json", dbs.name));
    let (code, out) = run(
        &dbs,
        MAPPING,
        "migrate",
        &["--report", report.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    assert_loaded(&dbs, "migrate").await;
    // The run report names every column it did not copy, with the reason.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    common::assert_valid(&common::report_validator(), &json, "migrate report");
    let customer = json["not_copied"]["customer"].as_array().unwrap();
    assert!(
        customer
            .iter()
            .any(|n| n["source"] == "legacy_code"
                && n["reason"].as_str().unwrap().contains("loyalty")),
        "{json}"
    );
    std::fs::remove_file(&report).ok();

    // verify compares every copied cell; the trigger-filled column is counted, not compared; the checklist
    // shows every column not copied.
    let checklist = std::env::temp_dir().join(format!("{}-checklist.md", dbs.name));
    let (code, out) = run(
        &dbs,
        MAPPING,
        "verify",
        &["--checklist", checklist.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    let md = std::fs::read_to_string(&checklist).unwrap();
    for needle in [
        "column customer.legacy_code not copied",
        "column film.fulltext not written",
        "sequence of customer.customer_id",
        "sequence of film.film_id",
    ] {
        assert!(
            md.contains(needle) || out.contains(needle),
            "checklist lacks {needle:?}:\n{md}\n{out}"
        );
    }
    std::fs::remove_file(&checklist).ok();

    // export, reset, import: the same rows and sequences again; reset after it leaves the tables empty.
    let dir = std::env::temp_dir().join(format!("pgc-shop-{}", dbs.name));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out) = run(
        &dbs,
        MAPPING,
        "export",
        &["--out", dir.to_str().unwrap(), "--format", "both"],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = common::runs::reset(&dbs, MAPPING, true);
    assert_eq!(code, 0, "{out}");
    assert_empty(&dbs, "reset").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .args([
            "import",
            "--mapping",
            MAPPING,
            "--from",
            dir.to_str().unwrap(),
        ])
        .env("PGCONVERGE_TARGET", dbs.target())
        .env("PGCONVERGE_LOG", "warn")
        .output()
        .unwrap();
    let (code, out) = common::runs::outcome(out);
    assert_eq!(code, 0, "{out}");
    assert_loaded(&dbs, "import").await;
    let (code, out) = common::runs::reset(&dbs, MAPPING, true);
    assert_eq!(code, 0, "{out}");
    assert_empty(&dbs, "the second reset").await;
    std::fs::remove_dir_all(&dir).ok();

    // The binary COPY format writes the arrays, domains and dates the same way.
    let (code, out) = run(&dbs, MAPPING, "migrate", &["--copy-format", "binary"]);
    assert_eq!(code, 0, "{out}");
    assert_loaded(&dbs, "a binary migrate").await;
}

/// Each value the target would refuse or change stops the run naming table, key and column, and leaves the
/// target as it was: a time of day into `date`, a domain's check, an unsigned key beyond `integer`, a SET member
/// longer than the element type.
#[tokio::test]
async fn values_the_target_cannot_hold_stop_the_run_by_name() {
    let dbs = shop().await;
    let cases: [(&str, &str, &[&str]); 3] = [
        (
            "UPDATE film SET released_on = '2006-05-25 10:30:00' WHERE film_id = 1",
            "UPDATE film SET released_on = '2006-05-25 00:00:00' WHERE film_id = 1",
            &["film", "film_id=1", "released_on", "midnight"],
        ),
        (
            "UPDATE film SET rental_rate = -1.00 WHERE film_id = 2",
            "UPDATE film SET rental_rate = 4.99 WHERE film_id = 2",
            &["film", "film_id=2", "rental_rate", "rate_not_negative"],
        ),
        (
            "UPDATE film SET length = 65535 WHERE film_id = 65535",
            "UPDATE film SET length = NULL WHERE film_id = 65535",
            &["film", "film_id=65535", "length", "-32768..32767"],
        ),
    ];
    for (break_it, mend_it, needles) in cases {
        source_exec(&dbs, break_it).await;
        let (code, out) = run(&dbs, MAPPING, "migrate", &[]);
        assert_eq!(code, 5, "{break_it}: {out}");
        for n in needles {
            assert!(out.contains(n), "{break_it}: no {n:?} in\n{out}");
        }
        assert_empty(&dbs, break_it).await;
        source_exec(&dbs, mend_it).await;
    }
    // The rehearsal lists every bad row: the ones the conversion refuses, and the ones a domain's constraint
    // refuses (asked of the target, which stays untouched).
    source_exec(
        &dbs,
        "UPDATE film SET released_on = '2006-05-25 10:30:00' WHERE film_id = 1;
         UPDATE film SET length = 40000 WHERE film_id = 2;
         UPDATE film SET rental_rate = -2.50 WHERE film_id = 65535;
         UPDATE store SET opened = 0 WHERE store_id = 2",
    )
    .await;
    let report = std::env::temp_dir().join(format!("{}-check.json", dbs.name));
    let (code, out) = run(
        &dbs,
        MAPPING,
        "check",
        &["--report", report.to_str().unwrap()],
    );
    assert_eq!(code, 5, "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    std::fs::remove_file(&report).ok();
    let mut found: Vec<String> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["examples"].as_array().unwrap().clone())
        .map(|v| {
            format!(
                "{} {} {} {}",
                v["table"].as_str().unwrap(),
                v["key"].as_str().unwrap(),
                v["column"].as_str().unwrap(),
                v["rule"]
            )
        })
        .collect();
    found.sort();
    assert_eq!(found.len(), 4, "{found:#?}");
    for (i, needle) in [
        "film film_id=1 released_on \"not_midnight\"",
        "film film_id=2 length",
        "film film_id=65535 rental_rate {\"rejected_by_target\":{\"message\":\"value for domain rate violates check constraint \\\"rate_not_negative\\\"\"}}",
        "store store_id=2 opened {\"rejected_by_target\":{\"message\":\"value for domain year violates check constraint \\\"year_check\\\"\"}}",
    ]
    .iter()
    .enumerate()
    {
        assert!(found[i].starts_with(needle), "{}\n{found:#?}", found[i]);
    }
    assert_empty(&dbs, "check").await;
}

/// Without a mapping, every problem of the pair names the mapping entry that resolves it; an entry that has no
/// effect is a warning.
#[tokio::test]
async fn each_contract_problem_names_the_mapping_key_that_resolves_it() {
    let dbs = shop().await;
    let empty = std::env::temp_dir().join(format!("{}-empty.toml", dbs.name));
    std::fs::write(&empty, "app = \"shop\"\n").unwrap();
    let (code, out) = run(&dbs, empty.to_str().unwrap(), "plan", &[]);
    assert_eq!(code, 4, "{out}");
    for needle in [
        "mapping: [tables.film] target_fills = { fulltext = ",
        "mapping: [tables.film.columns.released_on] narrowing = ",
        "mapping: [tables.customer] skip_columns = { legacy_code = ",
        "mapping: [tables.customer.columns.status] transform = { kind = \"relabel\"",
    ] {
        assert!(out.contains(needle), "plan lacks {needle:?}:\n{out}");
    }
    let body = std::fs::read_to_string(MAPPING).unwrap()
        + "\n[tables.rental.columns.amount]\nnarrowing = \"not narrower at all\"\n\
           [tables.store]\ntarget_fills = { name = \"nothing fills it\" }\n\
           [tables.rental.columns.return_date]\ntransform = { kind = \"relabel\", case = \"upper\" }\n";
    let odd = std::env::temp_dir().join(format!("{}-odd.toml", dbs.name));
    std::fs::write(&odd, body).unwrap();
    let (code, out) = run(&dbs, odd.to_str().unwrap(), "plan", &[]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("warning: narrowing is declared for rental.amount"),
        "{out}"
    );
    assert!(
        out.contains("[nothing_fills_target] target_fills says store.name is filled by the target"),
        "{out}"
    );
    assert!(
        out.contains(
            "[invalid_transform] relabel renames ENUM or SET labels, and rental.return_date (datetime)"
        ),
        "{out}"
    );
    std::fs::remove_file(empty).ok();
    std::fs::remove_file(odd).ok();
}
