//! `pgconverge plan` against the real servers: the shipped mappings hold on the fixtures, and each kind of
//! schema drift makes it fail with a message naming table and column.

mod common;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;

fn plan(dbs: &common::TestDbs, report: Option<&std::path::Path>) -> (i32, String) {
    let report = report.map(|r| r.to_str().expect("utf-8 path").to_string());
    let extra: Vec<&str> = report
        .as_deref()
        .map(|r| vec!["--report", r])
        .unwrap_or_default();
    let (code, text) = common::run(dbs, "plan", &extra);
    assert!(
        !text.contains(":pgc_reader@") && !text.contains(":pgc_owner@"),
        "a password leaked:\n{text}"
    );
    (code, text)
}

#[tokio::test]
async fn shipped_mappings_hold_on_both_fixtures_and_report_every_table() {
    for app in App::ALL {
        let dbs = common::TestDbs::new(app).await;
        let report = std::env::temp_dir().join(format!("{}-plan.json", dbs.name));
        let (code, text) = plan(&dbs, Some(&report));
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("The contract holds."), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let cat = pgconverge_testbed::facts::Catalog::load(app);
        let copied = json["tables"].as_array().unwrap().len();
        let skipped = json["skipped"].as_array().unwrap().len();
        assert_eq!(
            copied + skipped,
            cat.tables.len(),
            "every source table is copied or skipped"
        );
        std::fs::remove_file(report).ok();
    }
}

/// Applies `mysql` to the source and `pg` to the target, then expects `plan` to fail naming `needles`.
async fn drift(app: App, mysql: &str, pg: &str, needles: &[&str]) {
    let dbs = common::TestDbs::new(app).await;
    if !mysql.is_empty() {
        let mut c = common::mysql_conn(&dbs.source_admin()).await;
        c.query_drop(mysql).await.unwrap();
    }
    if !pg.is_empty() {
        common::pg_conn(&dbs.target())
            .await
            .batch_execute(pg)
            .await
            .unwrap();
    }
    let (code, text) = plan(&dbs, None);
    assert_eq!(code, 4, "expected a contract violation:\n{text}");
    for n in needles {
        assert!(text.contains(n), "missing {n:?} in:\n{text}");
    }
}

#[tokio::test]
async fn extra_source_column_fails() {
    drift(
        App::Alkemio,
        "ALTER TABLE `user` ADD COLUMN `legacyField` varchar(10) NULL",
        "",
        &["unmapped_source_column", "user.legacyField"],
    )
    .await;
}

#[tokio::test]
async fn missing_target_column_fails() {
    drift(
        App::Kratos,
        "",
        "ALTER TABLE identities DROP COLUMN available_aal",
        &["identities.available_aal", "has no target column"],
    )
    .await;
}

#[tokio::test]
async fn narrowed_varchar_fails() {
    drift(
        App::Alkemio,
        "",
        "ALTER TABLE \"user\" ALTER COLUMN \"firstName\" TYPE varchar(20)",
        &["target_narrower", "user.firstName", "holds 20 characters"],
    )
    .await;
}

#[tokio::test]
async fn missing_enum_label_fails() {
    drift(
        App::Alkemio,
        "ALTER TABLE profile MODIFY COLUMN `type` enum('space-about','innovation-flow','callout-framing','knowledge-base','post','contribution-link','whiteboard','memo','discussion','organization','user-group','user','innovation-hub','calendar-event','innovation-pack','template','community-guidelines','virtual-contributor','virtual-persona','legacy-kind') NOT NULL",
        "",
        &["missing_enum_labels", "profile.type", "legacy-kind"],
    )
    .await;
}

#[tokio::test]
async fn unconvertible_type_pair_fails() {
    drift(
        App::Kratos,
        "ALTER TABLE courier_messages MODIFY COLUMN `template_data` blob NULL",
        "ALTER TABLE courier_messages ALTER COLUMN template_data TYPE integer USING NULL",
        &["unsupported_type_pair", "courier_messages.template_data"],
    )
    .await;
}

#[tokio::test]
async fn unknown_source_table_fails() {
    drift(
        App::Alkemio,
        "CREATE TABLE `custom_report` (id char(36) PRIMARY KEY)",
        "",
        &["unknown_source_table", "custom_report"],
    )
    .await;
}

#[tokio::test]
async fn undeclared_null_into_not_null_fails() {
    drift(
        App::Alkemio,
        "ALTER TABLE `user` MODIFY COLUMN `firstName` varchar(128) NULL",
        "",
        &["null_into_not_null", "user.firstName"],
    )
    .await;
}

#[test]
fn every_mapping_file_parses() {
    let mut n = 0;
    for e in std::fs::read_dir("mappings").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            pgconverge::mapping::Mapping::load(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 2, "expected the alkemio and kratos mappings");
}
