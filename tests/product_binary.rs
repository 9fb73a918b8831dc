//! The product binary carries no test bed: no `gen` command, no fact catalogue, no fixture schema.

/// Text that only the test bed's embedded files hold (a catalogue header line, a fixture's first line).
fn test_bed_markers() -> Vec<String> {
    let first_line = |text: &str| text.lines().next().unwrap_or_default().to_string();
    vec![
        first_line(include_str!("../testbed/facts/alkemio-columns.tsv")),
        first_line(include_str!("../testbed/facts/kratos-constraints.tsv")),
        first_line(include_str!("../testbed/fixtures/alkemio.mysql.sql")),
        first_line(include_str!("../testbed/fixtures/kratos.pg.sql")),
    ]
}

#[test]
fn the_binary_has_no_gen_command() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .args([
            "gen",
            "--app",
            "alkemio",
            "--mysql",
            "mysql://x@127.0.0.1:1/db",
        ])
        .output()
        .expect("run pgconverge");
    assert_eq!(out.status.code(), Some(2), "gen must be an unknown command");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unrecognized subcommand 'gen'"), "{err}");
}

#[test]
fn the_binary_embeds_no_fact_catalogue_or_fixture() {
    let bin = std::fs::read(env!("CARGO_BIN_EXE_pgconverge")).expect("read the binary");
    for marker in test_bed_markers() {
        assert!(
            marker.len() > 20,
            "marker too short to mean anything: {marker:?}"
        );
        let found = memchr::memmem::find(&bin, marker.as_bytes()).is_some();
        assert!(!found, "the product binary embeds test-bed text {marker:?}");
    }
}

/// `--version` names the commit the binary was built from and the build date, so an operator can check that the
/// binary about to cut over is the one the rehearsal ran.
#[test]
fn the_version_names_the_commit_and_the_build_date() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert!(!head.is_empty(), "this test runs in a git checkout");
    assert!(
        text.starts_with(&format!("pgconverge {} ({head}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains(", built 20"), "{text}");
}
