//! The `--report` of every command validates against docs/report.schema.json; migrate prints its summary table;
//! `plan --window` estimates (calibrated from a migrate report), exits 7 when the window is too short and
//! refuses a report that cannot calibrate.

mod common;

use pgconverge_testbed::facts::App;

use common::{assert_valid, report_validator as validator};

fn read(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn every_report_follows_the_documented_schema() {
    let a = common::TestDbs::new(App::Kratos).await;
    let b = common::TestDbs::new(App::Kratos).await;
    for dbs in [&a, &b] {
        pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 61, 0.02, 2)
            .await
            .unwrap();
    }
    let dir = std::env::temp_dir().join(format!("pgc-reports-{}", a.name));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name);
    let arg = |name: &str| file(name).to_str().unwrap().to_string();
    let v = validator();

    let (code, text) = common::run(
        &a,
        "plan",
        &["--report", &arg("plan.json"), "--window", "1h"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Window estimate (reference rates"), "{text}");
    let plan = read(&file("plan.json"));
    assert_valid(&v, &plan, "plan");
    assert_eq!(plan["estimate"]["fits"], true, "{plan}");

    let (code, text) = common::run(&a, "check", &["--report", &arg("check.json")]);
    assert_eq!(code, 0, "{text}");
    assert_valid(&v, &read(&file("check.json")), "check");

    let (code, text) = common::run(&a, "migrate", &["--report", &arg("migrate.json")]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("all tables") && text.contains("Time went to: source"),
        "no summary table: {text}"
    );
    let migrate = read(&file("migrate.json"));
    assert_valid(&v, &migrate, "migrate");
    let sessions = &migrate["tables"]["sessions"];
    assert!(
        sessions["rows"].as_u64().unwrap() > 0
            && sessions["seconds_chunks"].as_f64().unwrap() > 0.0
            && sessions["seconds_target"].as_f64().unwrap() > 0.0,
        "{sessions}"
    );
    // The validator is not vacuous: a report without its time split is refused.
    let mut broken = migrate.clone();
    broken.as_object_mut().unwrap().remove("time_split");
    assert!(
        !v.is_valid(&broken),
        "a migrate report without time_split passed"
    );

    let (code, text) = common::run(&a, "verify", &["--report", &arg("verify.json")]);
    assert_eq!(code, 0, "{text}");
    assert_valid(&v, &read(&file("verify.json")), "verify");

    let out = file("export");
    let (code, text) = common::run(
        &a,
        "export",
        &[
            "--out",
            out.to_str().unwrap(),
            "--report",
            &arg("export.json"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert_valid(&v, &read(&file("export.json")), "export");
    let (code, text) = common::run(
        &b,
        "import",
        &[
            "--from",
            out.to_str().unwrap(),
            "--report",
            &arg("import.json"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("all tables"), "{text}");
    assert_valid(&v, &read(&file("import.json")), "import");
    // Only the commands that load say how their COPY sessions compressed large values.
    for (name, loads) in [
        ("migrate", true),
        ("import", true),
        ("check", false),
        ("verify", false),
        ("export", false),
    ] {
        let setting = &read(&file(&format!("{name}.json")))["settings"]["toast_compression"];
        assert_eq!(
            *setting,
            if loads {
                serde_json::json!("lz4")
            } else {
                serde_json::Value::Null
            },
            "{name}: settings.toast_compression"
        );
    }

    // Calibrated on the migrate report, for the other (same-sized) database.
    let (code, text) = common::run(
        &b,
        "plan",
        &[
            "--window",
            "30m",
            "--calibrate",
            &arg("migrate.json"),
            "--report",
            &arg("plan2.json"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let plan2 = read(&file("plan2.json"));
    assert_valid(&v, &plan2, "calibrated plan");
    assert_eq!(plan2["estimate"]["basis"], "calibrated");
    let load = plan2["estimate"]["seconds_load"].as_f64().unwrap();
    assert!(load > 0.0, "{plan2}");
    // A window shorter than the estimate (this sample takes about a second): exit 7, naming both.
    let (code, text) = common::run(
        &b,
        "plan",
        &["--window", "0s", "--calibrate", &arg("migrate.json")],
    );
    assert_eq!(code, 7, "{text}");
    assert!(
        text.contains("DOES NOT FIT") && text.contains("exceeds the window (0 s)"),
        "{text}"
    );
    // Only a migrate report calibrates.
    let (code, text) = common::run(
        &b,
        "plan",
        &["--window", "1h", "--calibrate", &arg("check.json")],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is a `check` report"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}
