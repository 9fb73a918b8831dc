//! pgconverge command-line entry point: parses the flags (`cli`), turns them into the command's settings
//! (`config`), runs it (`commands::run`) and exits with its code (`exit::Exit`).

use std::io::IsTerminal;
use std::process::ExitCode;

use pgconverge::cli::Cli;
use pgconverge::config::{self, Machine};
use pgconverge::exit::Exit;

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
    let cli = Cli::parse_args();
    let terminal = std::io::stderr().is_terminal();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let logging = config::logging(cli.quiet, cli.verbose, cli.log_format, terminal, no_color);
    if let Err(e) = pgconverge::logging::init(&logging, cli.log_file.as_deref()) {
        let file = cli
            .log_file
            .as_deref()
            .unwrap_or(std::path::Path::new(""))
            .display();
        eprintln!("pgconverge: cannot open the log file {file}: {e}; nothing was done: choose another path");
        return Exit::Usage.into();
    }
    let json = cli.log_format == Some(pgconverge::cli::LogFormat::Json);
    let invocation = config::resolve(cli.command, Machine::this());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pgconverge: cannot start the async runtime: {e}");
            return Exit::Internal.into();
        }
    };
    // A panic is a bug: it ends the run as an internal error (exit 1, documented), not Rust's 101; the panic's
    // own message is already on stderr, and the target is in a state `pgconverge status` names.
    let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(pgconverge::commands::run(invocation))
    }));
    let Ok(ended) = ended else {
        eprintln!(
            "pgconverge: internal error (a bug: the message above says where); `pgconverge status` names the state \
             the target was left in and the way on"
        );
        return Exit::Internal.into();
    };
    match ended {
        Ok(exit) => exit.into(),
        Err(e) => {
            let message = message_of(&e);
            // One JSON object per stderr line under --log-format json, the final error included.
            let line = match json {
                true => serde_json::json!({"level": "ERROR", "message": message, "exit_code": e.exit().code()})
                    .to_string(),
                false => format!("pgconverge: {message}"),
            };
            eprintln!("{line}");
            pgconverge::logging::to_file(&line);
            e.exit().into()
        }
    }
}

/// The error and its causes, skipping causes whose text the message already carries (our errors embed them).
fn message_of(e: &pgconverge::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    msg
}
