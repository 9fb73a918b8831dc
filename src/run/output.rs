//! How a run ends on the operator's screen and disk: the report file, the checklist file, the summary table's
//! size, and the closing words of a loading command (exit 6 after a failed verification, else the ways back).

use serde::Serialize;

use crate::error::Error;

use super::verify::{failure, render_markdown, VerifyReport};

/// Tables listed by name in the summary table at the end of a run (the slowest); the rest share one line.
pub const SUMMARY_TABLES: usize = 10;

/// Said after a completed `migrate` or `import`: the ways back and on.
pub const WAY_BACK: &str = "The ledger (schema pgconverge) keeps the baseline of this run: `pgconverge reset --yes` \
returns the target to its state before it; after sign-off, `pgconverge reset --keep-data --yes` drops the baseline.";

/// Refuses, before anything connects, a file the command could not write at its end (a missing or unwritable
/// directory, a directory in the file's place): the report of a long run must not be lost after the work. A probe
/// file is created beside it and removed; the file itself is not touched.
pub fn check_writable(path: &std::path::Path) -> Result<(), Error> {
    let refuse = |why: String| {
        Error::Usage(format!(
            "cannot write {}: {why}; nothing was done: choose another path",
            path.display()
        ))
    };
    if path.is_dir() {
        return Err(refuse("it is a directory".into()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        return Err(refuse(format!("there is no directory {}", dir.display())));
    }
    if path.exists() {
        return std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| refuse(e.to_string()));
    }
    let probe = dir.join(format!(".pgconverge-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| {
            refuse(format!(
                "the directory {} is not writable ({e})",
                dir.display()
            ))
        })?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

/// Set once the command wrote its own report: a failure after that amends it instead of replacing it.
static REPORT_WRITTEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes a command's report as pretty JSON.
pub fn write_report<T: Serialize>(
    path: &std::path::Path,
    command: &str,
    report: &T,
) -> Result<(), Error> {
    crate::report::write(path, command, report)
        .map_err(|e| Error::Usage(format!("cannot write the report {}: {e}", path.display())))?;
    REPORT_WRITTEN.store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

/// A failed run's error as its report names it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedError {
    pub exit: u8,
    /// The exit code's class (`connection`, `data`, `verification`, `interrupted`, ...).
    pub class: &'static str,
    pub message: String,
}

/// Every run that ends in an error and was asked for a report leaves one: the command's own report (written
/// before it failed, e.g. after a verification mismatch) with `error` and `next` added, or else a report with
/// `outcome: "failed"`, the settings, the error, the state the target was left in (`target_state`: the ledger's
/// run, for migrate and import) and the command to run next. Failing to write it is only logged: the run's
/// error stays the one to report.
pub fn failure_report(
    path: &std::path::Path,
    command: &str,
    settings: Option<&crate::config::Tuning>,
    target_state: Option<&super::status::Status>,
    e: &Error,
) {
    let error = ReportedError {
        exit: e.exit_code(),
        class: e.exit().name(),
        message: e.to_string(),
    };
    let next = next_command(e, target_state);
    let written = if REPORT_WRITTEN.load(std::sync::atomic::Ordering::SeqCst) {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|mut v| {
                let o = v.as_object_mut()?;
                o.insert("error".into(), serde_json::to_value(&error).ok()?);
                o.insert("next".into(), next.clone().into());
                Some(v)
            })
            .map(|v| std::fs::write(path, serde_json::to_string_pretty(&v).expect("JSON")))
            .unwrap_or_else(|| {
                Err(std::io::Error::other(
                    "the report written before is unreadable",
                ))
            })
    } else {
        let mut body = serde_json::json!({
            "outcome": "failed",
            "error": error,
            "target_state": target_state,
            "next": next,
        });
        if let Some(t) = settings {
            body["settings"] = serde_json::to_value(t).expect("settings serialize");
        }
        crate::report::write(path, command, &body)
    };
    if let Err(w) = written {
        tracing::warn!(path = %path.display(), error = %w, "Could not write the report of the failed run.");
    }
}

/// The command to run after `e`: what the ledger's run calls for when there is one to continue, else what the
/// error's class calls for (the error's own message names it in detail).
fn next_command(e: &Error, state: Option<&super::status::Status>) -> String {
    use crate::exit::Exit;
    if let Some(s) = state.filter(|s| s.ledger != "none") {
        return s.next.clone();
    }
    match e.exit() {
        Exit::Usage => "fix the command line (`pgconverge <command> --help`) and run again".into(),
        Exit::Connection => "make the server reachable and run the command again".into(),
        Exit::Contract => "fix the schema or the mapping until `pgconverge plan` passes, then run again".into(),
        Exit::Data => {
            "fix the rows the error names in the source (`pgconverge check` lists every one), then run again".into()
        }
        Exit::Verification => {
            "read the checklist's differences; `pgconverge reset --yes` returns the target to its state before the \
             run"
                .into()
        }
        Exit::Window => "shorten the run (more --readers/--writers, a faster target) or widen the window".into(),
        _ => "follow the error's message".into(),
    }
}

/// Writes the verification checklist as Markdown.
pub fn write_checklist(path: &std::path::Path, r: &VerifyReport) -> Result<(), Error> {
    std::fs::write(path, render_markdown(r)).map_err(|e| {
        Error::Usage(format!(
            "cannot write the checklist {}: {e}",
            path.display()
        ))
    })
}

/// The end of a loading command (`migrate`, `import`): its report written if asked, then `failed` (exit 6: the
/// verification after the load failed, or cannot be trusted) or the ways back and on.
pub fn conclude<T: Serialize>(
    command: &str,
    report: T,
    path: Option<&std::path::Path>,
    failed: Option<Error>,
) -> Result<T, Error> {
    if let Some(path) = path {
        write_report(path, command, &report)?;
    }
    match failed {
        Some(e) => Err(e),
        None => {
            println!("{}", WAY_BACK);
            Ok(report)
        }
    }
}

/// The error of a loading command whose verification found differences: the load completed.
pub fn not_verified(command: &str, v: &VerifyReport) -> Error {
    failure(
        v,
        &format!(
            "the {} completed (`pgconverge reset --yes` returns the target to its state before it)",
            if command == "migrate" {
                "load"
            } else {
                command
            }
        ),
    )
}
