//! The log and progress setup the binary makes once, as `config::logging` decided: tracing on stderr through the
//! progress display's writer (so bars and log lines never tear each other), `PGCONVERGE_LOG` over the filter, and
//! with `--log-file` the same lines (never coloured) appended to a file, with the run's final error.

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

use crate::config::Logging;

/// The `--log-file` of this run, shared by the subscriber and [`to_file`].
static FILE: std::sync::OnceLock<Arc<Mutex<std::fs::File>>> = std::sync::OnceLock::new();

/// A writer appending to the log file, one whole line at a time.
struct FileWriter(Arc<Mutex<std::fs::File>>);

impl std::io::Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log file lock").write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().expect("log file lock").flush()
    }
}

/// Installs the global subscriber and the progress mode; `file` (`--log-file`) is opened for appending first, and
/// an error opening it is returned before anything is logged.
pub fn init(l: &Logging, file: Option<&std::path::Path>) -> std::io::Result<()> {
    let file = match file {
        Some(p) => Some(Arc::new(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ))),
        None => None,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PGCONVERGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(l.filter));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(|| crate::progress::LogWriter)
        .with_ansi(l.colour);
    let stderr = if l.json {
        stderr.json().boxed()
    } else {
        stderr.boxed()
    };
    let to_file = file.clone().map(|f| {
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || FileWriter(f.clone()))
            .with_ansi(false);
        if l.json {
            layer.json().boxed()
        } else {
            layer.boxed()
        }
    });
    tracing_subscriber::registry()
        .with(stderr.and_then(to_file))
        .with(filter)
        .init();
    if let Some(f) = file {
        FILE.get_or_init(|| f);
    }
    crate::progress::set_mode(l.progress);
    Ok(())
}

/// Appends `line` to the log file, if the run has one (the final error, which is printed, not logged).
pub fn to_file(line: &str) {
    if let Some(f) = FILE.get() {
        let _ = writeln!(f.lock().expect("log file lock"), "{line}");
    }
}
