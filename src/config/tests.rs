//! One test per default and policy of the configuration layer.

use clap::Parser;

use super::*;
use crate::cli::Cli;

const CONN: [&str; 6] = [
    "--source",
    "mysql://u@h/db",
    "--target",
    "postgres://u@h/db",
    "--mapping",
    "m.toml",
];

fn on(cores: usize, args: &[&str]) -> Invocation {
    let mut argv = vec!["pgconverge"];
    argv.extend_from_slice(&args[..1]);
    if !matches!(args[0], "import" | "reset") {
        argv.extend_from_slice(&CONN);
    } else {
        argv.extend_from_slice(&["--target", "postgres://u@h/db", "--mapping", "m.toml"]);
        if args[0] == "import" {
            argv.extend_from_slice(&["--from", "dir"]);
        }
    }
    argv.extend_from_slice(&args[1..]);
    let cli = Cli::try_parse_from(argv).expect("parses");
    resolve(cli.command, Machine { cores })
}

fn migrate(cores: usize, args: &[&str]) -> MigrateSettings {
    match on(cores, &[&["migrate"], args].concat()) {
        Invocation::Migrate(s) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn readers_and_writers_follow_the_cores_up_to_four() {
    for (cores, want) in [(1, 1), (2, 2), (3, 3), (4, 4), (16, 4)] {
        let t = migrate(cores, &[]).tuning;
        assert_eq!((t.readers, t.writers), (want, want), "{cores} cores");
    }
}

/// Chunk rows and bytes, batch rows, memory budget and lock wait.
fn sizes(t: &Tuning) -> (u64, u64, usize, u64, u64) {
    (
        t.chunk_rows,
        t.chunk_bytes,
        t.batch_rows,
        t.max_memory,
        t.lock_wait,
    )
}

#[test]
fn sizes_and_waits_have_their_defaults_and_flags_win() {
    let t = migrate(2, &[]).tuning;
    assert_eq!(sizes(&t), (200_000, 64 << 20, 8192, 512 << 20, 10));
    assert!(!t.source_quiesced);
    let t = migrate(
        2,
        &[
            "--readers",
            "3",
            "--writers",
            "1",
            "--chunk-rows",
            "50",
            "--chunk-bytes",
            "1MiB",
            "--batch-rows",
            "7",
            "--max-memory",
            "2G",
            "--lock-wait",
            "1m",
            "--source-quiesced",
        ],
    )
    .tuning;
    assert_eq!((t.readers, t.writers), (3, 1));
    assert_eq!(sizes(&t), (50, 1 << 20, 7, 2 << 30, 60));
    assert!(t.source_quiesced);
}

#[test]
fn check_reads_with_one_more_reader_and_never_locks() {
    let Invocation::Check(s) = on(2, &["check"]) else {
        panic!()
    };
    assert_eq!(s.tuning.readers, 3);
    assert!(
        s.tuning.source_quiesced,
        "check never takes the global read lock"
    );
    assert_eq!(s.tuning.toast_compression, None);
    let Invocation::Check(s) = on(8, &["check", "--readers", "2"]) else {
        panic!()
    };
    assert_eq!(s.tuning.readers, 2);
}

#[test]
fn verify_reads_with_twice_the_readers() {
    let Invocation::Verify(s) = on(2, &["verify"]) else {
        panic!()
    };
    assert_eq!((s.tuning.readers, s.tuning.writers), (4, 2));
    assert_eq!(s.tuning.lock_wait, LOCK_WAIT);
    let Invocation::Verify(s) = on(16, &["verify"]) else {
        panic!()
    };
    assert_eq!(s.tuning.readers, 8);
    let Invocation::Verify(s) = on(2, &["verify", "--readers", "1", "--lock-wait", "3s"]) else {
        panic!()
    };
    assert_eq!((s.tuning.readers, s.tuning.lock_wait), (1, 3));
}

#[test]
fn finish_early_auto_needs_two_cores_beyond_the_writers() {
    assert!(
        !migrate(2, &[]).tuning.finish_early,
        "the benchmark machine"
    );
    assert!(!migrate(2, &["--writers", "1"]).tuning.finish_early);
    assert!(migrate(3, &["--writers", "1"]).tuning.finish_early);
    assert!(migrate(8, &["--writers", "4"]).tuning.finish_early);
    assert!(migrate(2, &["--finish-early", "on"]).tuning.finish_early);
    assert!(
        !migrate(16, &["--finish-early", "off", "--writers", "1"])
            .tuning
            .finish_early
    );
    let Invocation::Import(s) = on(8, &["import", "--writers", "2"]) else {
        panic!()
    };
    assert!(
        s.tuning.finish_early,
        "import resolves it with its own writers"
    );
}

#[test]
fn only_loading_commands_set_toast_compression_lz4_by_default() {
    assert_eq!(
        migrate(2, &[]).tuning.toast_compression,
        Some(ToastCompression::Lz4)
    );
    assert_eq!(
        migrate(2, &["--toast-compression", "pglz"])
            .tuning
            .toast_compression,
        Some(ToastCompression::Pglz)
    );
    let Invocation::Import(s) = on(2, &["import"]) else {
        panic!()
    };
    assert_eq!(s.tuning.toast_compression, Some(ToastCompression::Lz4));
    let Invocation::Export(s) = on(2, &["export", "--out", "d"]) else {
        panic!()
    };
    assert_eq!(s.tuning.toast_compression, None);
}

#[test]
fn copy_is_binary_unless_csv_is_asked_for() {
    assert!(migrate(2, &[]).binary);
    assert!(migrate(2, &["--copy-format", "binary"]).binary);
    assert!(!migrate(2, &["--copy-format", "csv"]).binary);
}

#[test]
fn files_are_csv_unless_asked_otherwise() {
    let Invocation::Export(s) = on(2, &["export", "--out", "d"]) else {
        panic!()
    };
    assert_eq!((s.formats.csv, s.formats.parquet), (true, false));
    let Invocation::Export(s) = on(2, &["export", "--out", "d", "--format", "both"]) else {
        panic!()
    };
    assert_eq!((s.formats.csv, s.formats.parquet), (true, true));
    let m = migrate(2, &["--keep", "k", "--keep-format", "parquet"]);
    assert_eq!((m.keep_formats.csv, m.keep_formats.parquet), (false, true));
    assert!(migrate(2, &["--keep", "k"]).keep_formats.csv);
}

#[test]
fn migrate_and_import_verify_unless_told_not_to() {
    assert!(migrate(2, &[]).verify);
    assert!(!migrate(2, &["--no-verify"]).verify);
    let Invocation::Import(s) = on(2, &["import", "--no-verify"]) else {
        panic!()
    };
    assert!(!s.verify);
}

#[test]
fn import_takes_its_connections_from_its_own_flags() {
    let Invocation::Import(s) = on(2, &["import", "--readers", "1", "--writers", "3"]) else {
        panic!()
    };
    assert_eq!((s.tuning.readers, s.tuning.writers), (1, 3));
    assert_eq!(s.tuning.chunk_rows, CHUNK_ROWS);
}

#[test]
fn plan_estimates_with_the_chunk_sizes_a_run_would_use() {
    let Invocation::Plan(s) = on(2, &["plan", "--window", "30m"]) else {
        panic!()
    };
    assert_eq!(
        (s.chunk_rows, s.chunk_bytes, s.window),
        (CHUNK_ROWS, CHUNK_BYTES, Some(1800))
    );
}

#[test]
fn batches_fit_the_memory_budget() {
    let t = migrate(2, &[]).tuning;
    let slots = (t.readers + 2 * t.writers) * (QUEUE_BATCHES + 1) * 3;
    assert!((t.batch_bytes() * slots) as u64 <= t.max_memory / 2);
    let tiny = migrate(2, &["--max-memory", "1M"]).tuning;
    assert_eq!(tiny.batch_bytes(), 64 << 10, "never below 64 KiB");
    let huge = migrate(2, &["--max-memory", "1T"]).tuning;
    assert_eq!(huge.batch_bytes(), 16 << 20, "never above 16 MiB");
}

#[test]
fn logs_colour_and_bars_only_on_a_terminal() {
    use crate::progress::Mode;
    let l = logging(false, 0, None, true, false);
    assert_eq!((l.colour, l.json, l.progress), (true, false, Mode::Bars));
    assert_eq!(l.filter, "info,tokio_postgres=warn,mysql_async=warn");
    let l = logging(false, 0, Some(LogFormat::Json), false, false);
    assert_eq!((l.colour, l.json, l.progress), (false, true, Mode::Lines));
    assert_eq!(logging(true, 2, None, true, false).progress, Mode::Off);
    assert_eq!(logging(true, 2, None, true, false).filter, "warn");
    assert_eq!(
        logging(false, 1, None, false, false).filter,
        "debug,tokio_postgres=info,mysql_async=info"
    );
    assert_eq!(logging(false, 2, None, false, false).filter, "debug");
}

#[test]
fn no_color_turns_colour_off_but_keeps_the_bars() {
    use crate::progress::Mode;
    let l = logging(false, 0, None, true, true);
    assert_eq!((l.colour, l.progress), (false, Mode::Bars));
}

/// The help states each default as this module applies it.
#[test]
fn the_help_states_the_defaults_applied_here() {
    let cmd = Cli::command_with_exit_codes();
    let help = |sub: &str, flag: &str| -> String {
        let s = cmd.find_subcommand(sub).expect(sub);
        let a = s
            .get_arguments()
            .chain(cmd.get_arguments())
            .find(|a| a.get_long() == Some(flag))
            .unwrap_or_else(|| panic!("{sub} --{flag}"));
        a.get_help().map(|h| h.to_string()).unwrap_or_default()
    };
    let says = |sub: &str, flag: &str, default: &str| {
        let h = help(sub, flag);
        assert!(
            h.contains(&format!("[default: {default}]")),
            "{sub} --{flag}: {h}"
        );
    };
    assert_eq!(CHUNK_BYTES, crate::util::size::parse("64MiB").unwrap());
    assert_eq!(MAX_MEMORY, crate::util::size::parse("512MiB").unwrap());
    assert_eq!(LOCK_WAIT, crate::util::duration::parse("10s").unwrap());
    for sub in ["migrate", "export"] {
        says(sub, "chunk-rows", &CHUNK_ROWS.to_string());
        says(sub, "chunk-bytes", "64MiB");
        says(sub, "batch-rows", &BATCH_ROWS.to_string());
        says(sub, "max-memory", "512MiB");
        says(sub, "lock-wait", "10s");
        says(sub, "readers", &format!("cores, at most {MAX_CONNECTIONS}"));
        says(sub, "writers", &format!("cores, at most {MAX_CONNECTIONS}"));
    }
    says("verify", "lock-wait", "10s");
    says(
        "verify",
        "readers",
        &format!("twice the cores, at most {}", 2 * MAX_CONNECTIONS),
    );
    says(
        "check",
        "readers",
        &format!("cores (at most {MAX_CONNECTIONS}) + 1"),
    );
    for sub in ["migrate", "import"] {
        says(sub, "toast-compression", TOAST_COMPRESSION.as_str());
        says(sub, "finish-early", "auto");
    }
    says("migrate", "copy-format", "binary");
    says("migrate", "keep-format", "csv");
    says("export", "format", "csv");
    says("migrate", "log-format", "text");
}
