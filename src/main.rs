//! pgconverge command-line entry point: parses flags into one settings struct per command, runs it through the
//! library (`pgconverge::commands`), maps errors to the documented exit codes.

use std::process::ExitCode;

use clap::Parser;

use pgconverge::cli::{Cli, Command};
use pgconverge::commands::{self, session::Tuning};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: position 15 of `mi_option_e` in both mimalloc v2 and v3 headers shipped by
/// libmimalloc-sys 0.1.49 (the crate's Rust constants predate the option).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for a second before returning it to the OS, since every batch allocates and frees a few
/// MiB. With transparent huge pages on (`no_thp` feature, Cargo.toml) every fresh fault zeroed 2 MiB: `perf`
/// showed a third of the client's CPU in the kernel's clear_page, and `perf stat` 20% less task-clock without
/// it. Peak memory is bounded by the queues, so keeping it a little longer costs nothing.
fn tune_allocator() {
    // SAFETY: mi_option_set writes one entry of mimalloc's option table and is documented as not thread safe; it
    // runs first thing in main, before any thread is spawned, and the option index is checked above. The option
    // only changes when freed pages are purged, never which memory is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    init_logging(&cli);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pgconverge: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pgconverge: {}", message_of(&e));
            ExitCode::from(exit_code_of(&e))
        }
    }
}

/// Logs on stderr: ANSI colour and progress bars only when stderr is a terminal; PostgreSQL notices ("drop
/// cascades to ...") and driver chatter at debug level; PGCONVERGE_LOG overrides the filter.
fn init_logging(cli: &Cli) {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "info,tokio_postgres=warn,mysql_async=warn",
        (false, 1) => "debug,tokio_postgres=info,mysql_async=info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PGCONVERGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| pgconverge::progress::LogWriter)
        .with_ansi(terminal);
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    pgconverge::progress::set_mode(match (cli.quiet, terminal) {
        (true, _) => pgconverge::progress::Mode::Off,
        (false, true) => pgconverge::progress::Mode::Bars,
        (false, false) => pgconverge::progress::Mode::Lines,
    });
}

/// The error and its causes, skipping causes whose text the message already carries (our errors embed them).
fn message_of(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    msg
}

/// clap has already restricted the value to csv, parquet or both.
fn formats(s: &str) -> pgconverge::sink::export::Formats {
    pgconverge::sink::export::Formats::parse(s).expect("clap checked the format")
}

fn exit_code_of(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<pgconverge::error::Error>() {
        Some(e) => e.exit_code(),
        None => 1,
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plan(a) => {
            let e = &a.endpoints;
            let w = commands::plan::Window {
                window: a.window,
                calibrate: a.calibrate,
            };
            commands::plan::plan_command(&e.source, &e.target, &e.mapping, a.report.as_deref(), &w)
                .await?;
        }
        Command::Migrate(a) => {
            let mut tuning = a.tuning.tuning();
            a.load.apply(&mut tuning);
            let settings = commands::migrate::Settings {
                endpoints: a.endpoints.into(),
                tuning,
                replace: a.replace,
                keep: a.keep,
                keep_formats: formats(&a.keep_format),
                binary: a.copy_format.as_deref() != Some("csv"),
                resume: a.resume,
                report: a.report,
                verify: !a.no_verify,
                checklist: a.checklist,
            };
            commands::migrate::command(&settings).await?;
        }
        Command::Check(a) => {
            let mut tuning = Tuning::default();
            // Reading and checking only: one more reader than the default, since no COPY competes for the cores.
            tuning.readers = a.readers.unwrap_or(tuning.readers + 1);
            let settings = commands::check::Settings {
                endpoints: a.endpoints.into(),
                tuning,
                all_foreign_keys: a.all_foreign_keys,
                report: a.report,
            };
            if commands::check::command(&settings).await?.violations > 0 {
                return Ok(ExitCode::from(5));
            }
        }
        Command::Export(a) => {
            let settings = commands::export::Settings {
                endpoints: a.endpoints.into(),
                tuning: a.tuning.tuning(),
                out: a.out,
                formats: formats(&a.format),
                replace: a.replace,
                resume: a.resume,
                report: a.report,
            };
            commands::export::command(&settings).await?;
        }
        Command::Import(a) => {
            let mut tuning = Tuning::default();
            tuning.readers = a.readers.unwrap_or(tuning.readers);
            tuning.writers = a.writers.unwrap_or(tuning.writers);
            a.load.apply(&mut tuning);
            let settings = commands::import::Settings {
                target: a.target,
                mapping: a.mapping,
                from: a.from,
                tuning,
                replace: a.replace,
                resume: a.resume,
                report: a.report,
                verify: !a.no_verify,
                checklist: a.checklist,
            };
            commands::import::command(&settings).await?;
        }
        Command::Verify(a) => {
            let mut tuning = Tuning::default();
            // Reading MySQL chunk by chunk waits on the server more than it computes: twice the default readers
            // kept both cores busy (scale 1: 90 s with 2 readers, 73 s with 4).
            tuning.readers = a.readers.unwrap_or(tuning.readers * 2);
            tuning.writers = a.writers.unwrap_or(tuning.writers);
            tuning.source_quiesced = a.source_quiesced;
            tuning.lock_wait = a.lock_wait;
            let settings = commands::verify::Settings {
                endpoints: a.endpoints.into(),
                tuning,
                report: a.report,
                checklist: a.checklist,
                source_unchanged: a.source_unchanged,
            };
            commands::verify::command(&settings).await?;
        }
        Command::Reset(a) => {
            let settings = commands::reset::Settings {
                target: a.target,
                mapping: a.mapping,
                yes: a.yes,
                force: a.force,
                keep_data: a.keep_data,
            };
            commands::reset::command(&settings).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
