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
