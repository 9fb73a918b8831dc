//! The log and progress setup the binary makes once, as `config::logging` decided: tracing on stderr through the
//! progress display's writer (so bars and log lines never tear each other), `PGCONVERGE_LOG` over the filter.

use crate::config::Logging;

/// Installs the global subscriber and the progress mode.
pub fn init(l: &Logging) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PGCONVERGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(l.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::progress::LogWriter)
        .with_ansi(l.colour);
    if l.json {
        builder.json().init();
    } else {
        builder.init();
    }
    crate::progress::set_mode(l.progress);
}
