//! Strict fail-fast with provenance: one planted bad row per violation class stops `migrate` with exit 5, the
//! message names table, key and column, and the target is restored to exactly its state before the run
//! (catalog and every table's rows). `check` lists every planted violation at once.

mod common;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;

fn run(dbs: &common::TestDbs, cmd: &str, extra: &[&str]) -> (i32, String) {
    common::run(dbs, cmd, extra)
}

/// A generated source with one planted bad row (`plant` runs on the source, `target_sql` on the target).
async fn planted(app: App, plant: &[&str], target_sql: &str) -> common::TestDbs {
    let dbs = common::TestDbs::new(app).await;
    pgconverge_testbed::gen::generate(
        &dbs.source_admin(),
        app,
        21,
        if app == App::Alkemio { 0.001 } else { 0.02 },
        2,
    )
    .await
    .unwrap();
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    // Bad data only old or lax servers accept: relax the session as those servers were.
    my.query_drop(
        "SET SESSION sql_mode = 'ALLOW_INVALID_DATES', SESSION check_constraint_checks = 0",
    )
    .await
    .unwrap();
    for p in plant {
        my.query_drop(*p)
            .await
            .unwrap_or_else(|e| panic!("planting {p}: {e}"));
    }
    if !target_sql.is_empty() {
        common::pg_conn(&dbs.target())
            .await
            .batch_execute(target_sql)
            .await
            .unwrap();
    }
    dbs
}

/// The id of the first row of `table` (the planted row's key).
async fn first_id(dbs: &common::TestDbs, table: &str) -> String {
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.query_first(format!("SELECT id FROM `{table}` ORDER BY id LIMIT 1"))
        .await
        .unwrap()
        .unwrap()
}

async fn target_rows(dbs: &common::TestDbs, table: &str) -> i64 {
    common::pg_conn(&dbs.target())
        .await
        .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .await
        .unwrap()
        .get(0)
}

/// Plants, migrates with one chunk per table, and checks exit code, provenance and the failing table's rows.
async fn fails(app: App, table: &str, column: &str, plant: &str, target_sql: &str, needle: &str) {
    let dbs = planted(app, &[], target_sql).await;
    let id = first_id(&dbs, table).await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.query_drop(
        "SET SESSION sql_mode = 'ALLOW_INVALID_DATES', SESSION check_constraint_checks = 0",
    )
    .await
    .unwrap();
    my.query_drop(plant.replace("{id}", &id))
        .await
        .unwrap_or_else(|e| panic!("planting {plant}: {e}"));
    let before = common::target_state(&dbs).await;
    let (code, text) = run(
        &dbs,
        "migrate",
        &["--chunk-rows", "1000000", "--chunk-bytes", "1000000000"],
    );
    assert_eq!(code, 5, "expected a data violation (exit 5):\n{text}");
    for n in [table, column, &id, needle, "the target was restored"] {
        assert!(text.contains(n), "the message lacks {n:?}:\n{text}");
    }
    assert_eq!(
        common::target_state(&dbs).await,
        before,
        "the target differs from its state before the failed run"
    );
    assert_eq!(
        target_rows(&dbs, table).await,
        0,
        "rows of the failing chunk reached {table}:\n{text}"
    );
}

#[tokio::test]
async fn nul_byte_in_text() {
    fails(
        App::Alkemio,
        "profile",
        "description",
        "UPDATE profile SET description = CONCAT('a', CHAR(0), 'b') WHERE id = '{id}'",
        "",
        "NUL byte",
    )
    .await;
}

#[tokio::test]
async fn value_longer_than_target_varchar() {
    fails(
        App::Alkemio,
        "profile",
        "tagline",
        "UPDATE profile SET tagline = REPEAT('é', 11) WHERE id = '{id}'",
        "ALTER TABLE profile ALTER COLUMN tagline TYPE varchar(10)",
        "11 characters, the target holds 10",
    )
    .await;
}

#[tokio::test]
async fn text_that_is_not_a_uuid() {
    fails(App::Alkemio, "activity", "triggeredBy", "UPDATE activity SET triggeredBy = 'space-nameid-not-a-uuid-at-all-xxxxx' WHERE id = '{id}'", "", "not a uuid").await;
}

#[tokio::test]
async fn empty_string_in_not_null_uuid() {
    fails(
        App::Alkemio,
        "activity",
        "resourceID",
        "UPDATE activity SET resourceID = '' WHERE id = '{id}'",
        "",
        "empty string",
    )
    .await;
}

#[tokio::test]
async fn invalid_json() {
    fails(
        App::Alkemio,
        "location",
        "geoLocation",
        "UPDATE location SET geoLocation = '{\"a\": ' WHERE id = '{id}'",
        "",
        // Parsed by PostgreSQL during COPY; the rejection is traced back to the source row.
        "type json",
    )
    .await;
}

#[tokio::test]
async fn nul_escape_in_jsonb() {
    fails(
        App::Kratos,
        "identities",
        "traits",
        "UPDATE identities SET traits = '{\"a\":\"x\\\\u0000y\"}' WHERE id = '{id}'",
        "",
        "u0000",
    )
    .await;
}

#[tokio::test]
async fn zero_date() {
    fails(
        App::Alkemio,
        "activity",
        "createdDate",
        "UPDATE activity SET createdDate = '0000-00-00 00:00:00' WHERE id = '{id}'",
        "",
        "zero date",
    )
    .await;
}

#[tokio::test]
async fn impossible_calendar_date() {
    fails(
        App::Alkemio,
        "activity",
        "createdDate",
        "UPDATE activity SET createdDate = '2020-02-30 10:00:00' WHERE id = '{id}'",
        "",
        "invalid date",
    )
    .await;
}

#[tokio::test]
async fn boolean_other_than_zero_or_one() {
    fails(
        App::Alkemio,
        "activity",
        "visibility",
        "UPDATE activity SET visibility = 2 WHERE id = '{id}'",
        "",
        "boolean",
    )
    .await;
}

#[tokio::test]
async fn integer_outside_target_range() {
    fails(
        App::Kratos,
        "courier_messages",
        "send_count",
        "UPDATE courier_messages SET send_count = 40000 WHERE id = '{id}'",
        "ALTER TABLE courier_messages ALTER COLUMN send_count TYPE smallint",
        "outside the target range",
    )
    .await;
}

#[tokio::test]
async fn enum_label_the_target_lacks() {
    // A lax server stores an unknown label as the empty enum value.
    fails(
        App::Alkemio,
        "profile",
        "type",
        "UPDATE profile SET type = 'bogus-kind' WHERE id = '{id}'",
        "",
        "enum",
    )
    .await;
}

#[tokio::test]
async fn null_into_not_null() {
    fails(
        App::Kratos,
        "selfservice_login_flows",
        "request_url",
        "UPDATE selfservice_login_flows SET request_url = NULL WHERE id = '{id}'",
        "",
        "on_null",
    )
    .await;
}

/// Makes the last session device (in key order) a copy of the first in every column of the target-only UNIQUE
/// constraint `unique_session_device`; returns the last one's id, the row PostgreSQL rejects.
async fn duplicate_device(dbs: &common::TestDbs) -> String {
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    let (a, b): (String, String) = my
        .query_first("SELECT MIN(id), MAX(id) FROM session_devices")
        .await
        .unwrap()
        .unwrap();
    my.query_drop(format!(
        "UPDATE session_devices d JOIN session_devices s ON s.id = '{a}' SET d.session_id = s.session_id, \
         d.ip_address = s.ip_address, d.user_agent = s.user_agent, d.nid = s.nid WHERE d.id = '{b}'"
    ))
    .await
    .unwrap();
    b
}

#[tokio::test]
async fn duplicate_against_a_target_only_unique_constraint() {
    let dbs = planted(App::Kratos, &[], "").await;
    let b = duplicate_device(&dbs).await;
    let before = common::target_state(&dbs).await;
    let (code, text) = run(
        &dbs,
        "migrate",
        &["--chunk-rows", "1000000", "--chunk-bytes", "1000000000"],
    );
    assert_eq!(code, 5, "{text}");
    assert!(
        text.contains("session_devices") && text.contains("unique_session_device"),
        "{text}"
    );
    assert_eq!(common::target_state(&dbs).await, before, "{text}");
    // PostgreSQL rejects the later row in key order; the message names it by its source key.
    assert!(
        text.contains(&format!("id={b}")),
        "the rejected row's key is missing: {text}"
    );
    assert_eq!(target_rows(&dbs, "session_devices").await, 0);
    let (code, text) = run(&dbs, "check", &[]);
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("unique_session_device"), "{text}");
}

/// The rejected row is named by the key the stream carried, not found again by position afterwards: the rows
/// before it are deleted from the source while the run waits to locate it, and the key is still the right one.
#[tokio::test]
async fn rejected_row_is_named_from_the_snapshot() {
    let dbs = planted(App::Kratos, &[], "").await;
    let b = duplicate_device(&dbs).await;
    let paused = common::runs::start_paused_with(
        common::runs::command(
            &dbs,
            "mappings/kratos.toml",
            &["--chunk-rows", "1000000", "--chunk-bytes", "1000000000"],
        ),
        "locating",
        "5",
    );
    // Outside the run's snapshot, every row before the rejected one disappears: a lookup by position would now
    // find no row (or another one).
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.query_drop(format!("DELETE FROM session_devices WHERE id < '{b}'"))
        .await
        .unwrap();
    let (code, text) = paused.finish();
    assert_eq!(code, Some(5), "{text}");
    assert!(
        text.contains(&format!("id={b}")) && text.contains("unique_session_device"),
        "the rejected row is not named by its key: {text}"
    );
}

/// A declared key broken in the source (loaded with foreign_key_checks off) is found when the keys are re-created:
/// the run stops naming the row and the target is restored, whether the key is checked after the load or while
/// other tables still load (`finish_early`).
async fn foreign_key_without_parent(finish_early: &str) {
    let dbs = planted(App::Alkemio, &[], "").await;
    let id = first_id(&dbs, "callout").await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.query_drop("SET SESSION foreign_key_checks = 0")
        .await
        .unwrap();
    my.query_drop(format!("UPDATE callout SET calloutsSetId = '00000000-0000-4000-8000-00000000dead' WHERE id = '{id}'"))
        .await
        .unwrap();
    let before = common::target_state(&dbs).await;
    let (code, text) = run(&dbs, "migrate", &["--finish-early", finish_early]);
    assert_eq!(code, 5, "{text}");
    for n in [
        "callout",
        "calloutsSetId",
        &id,
        "00000000-0000-4000-8000-00000000dead",
        "callouts_set",
        "the target was restored",
    ] {
        assert!(text.contains(n), "the message lacks {n:?}:\n{text}");
    }
    // The orphan row is gone too.
    assert_eq!(common::target_state(&dbs).await, before, "{text}");
}

#[tokio::test]
async fn foreign_key_without_parent_after_the_load() {
    foreign_key_without_parent("off").await;
}

#[tokio::test]
async fn foreign_key_without_parent_while_loading() {
    foreign_key_without_parent("on").await;
}

#[tokio::test]
async fn check_lists_every_planted_violation() {
    let dbs = planted(App::Alkemio, &[], "").await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    my.query_drop("SET SESSION sql_mode = 'ALLOW_INVALID_DATES', SESSION check_constraint_checks = 0, SESSION foreign_key_checks = 0")
        .await
        .unwrap();
    let ids: Vec<String> = my
        .query("SELECT id FROM activity ORDER BY id LIMIT 3")
        .await
        .unwrap();
    my.query_drop(format!(
        "UPDATE activity SET visibility = 7 WHERE id = '{}'",
        ids[0]
    ))
    .await
    .unwrap();
    my.query_drop(format!(
        "UPDATE activity SET createdDate = '0000-00-00 00:00:00' WHERE id = '{}'",
        ids[1]
    ))
    .await
    .unwrap();
    my.query_drop(format!(
        "UPDATE activity SET triggeredBy = 'x' WHERE id = '{}'",
        ids[2]
    ))
    .await
    .unwrap();
    my.query_drop("UPDATE profile SET description = CONCAT('nul', CHAR(0)) ORDER BY id LIMIT 2")
        .await
        .unwrap();
    my.query_drop("UPDATE location SET geoLocation = 'nope' ORDER BY id LIMIT 1")
        .await
        .unwrap();
    my.query_drop("UPDATE callout SET calloutsSetId = '00000000-0000-4000-8000-00000000dead' ORDER BY id LIMIT 1").await.unwrap();
    let report = std::env::temp_dir().join(format!("{}-check.json", dbs.name));
    // By default keys the source declares are trusted (MySQL enforced them); the deep scan finds the orphan
    // planted with foreign_key_checks off.
    let (code, text) = run(&dbs, "check", &[]);
    assert_eq!(code, 5, "{text}");
    assert!(!text.contains("orphan_foreign_key"), "{text}");
    let (code, text) = run(
        &dbs,
        "check",
        &["--all-foreign-keys", "--report", report.to_str().unwrap()],
    );
    assert_eq!(code, 5, "{text}");
    for (needle, why) in [
        ("activity.visibility [not_boolean]: 1", "boolean"),
        ("activity.createdDate [zero_date]: 1", "zero date"),
        ("activity.triggeredBy [not_uuid]: 1", "uuid"),
        ("profile.description [nul_byte]: 2", "NUL bytes"),
        ("location.geoLocation [invalid_json]: 1", "JSON"),
        ("callout.calloutsSetId [orphan_foreign_key]: 1", "FK"),
    ] {
        assert!(
            text.contains(needle),
            "{why} missing: {needle:?} in\n{text}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["violations"].as_u64(), Some(7), "{json}");
    std::fs::remove_file(report).ok();
    // Nothing was written to the target by the preflight.
    assert_eq!(target_rows(&dbs, "activity").await, 0);
}

/// A foreign key only the target has (the source never enforced it) is checked inside the snapshot before
/// anything is written: the run stops naming the row, and the target was never touched.
#[tokio::test]
async fn foreign_key_the_source_lacks_is_found_before_loading() {
    let dbs = planted(App::Alkemio, &[], "").await;
    let id = first_id(&dbs, "callout").await;
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    let fk: String = my
        .query_first(format!(
            "SELECT constraint_name FROM information_schema.key_column_usage WHERE table_schema = '{}' \
             AND table_name = 'callout' AND column_name = 'calloutsSetId' AND referenced_table_name IS NOT NULL",
            dbs.name
        ))
        .await
        .unwrap()
        .expect("the source declares callout.calloutsSetId");
    my.query_drop(format!("ALTER TABLE callout DROP FOREIGN KEY `{fk}`"))
        .await
        .unwrap();
    my.query_drop(format!("UPDATE callout SET calloutsSetId = '00000000-0000-4000-8000-00000000beef' WHERE id = '{id}'"))
        .await
        .unwrap();
    let before = common::target_state(&dbs).await;
    let (code, text) = run(&dbs, "migrate", &[]);
    assert_eq!(code, 5, "{text}");
    for n in [
        "callout",
        "calloutsSetId",
        &id,
        "00000000-0000-4000-8000-00000000beef",
    ] {
        assert!(text.contains(n), "the message lacks {n:?}:\n{text}");
    }
    assert!(
        !text.contains("the target was restored"),
        "found before loading, nothing needed restoring: {text}"
    );
    assert_eq!(common::target_state(&dbs).await, before, "{text}");
}
