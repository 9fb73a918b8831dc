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

/// Writes a command's report as pretty JSON.
pub fn write_report<T: Serialize>(
    path: &std::path::Path,
    command: &str,
    report: &T,
) -> Result<(), Error> {
    crate::report::write(path, command, report)
        .map_err(|e| Error::Usage(format!("cannot write the report {}: {e}", path.display())))
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
