//! The commands (plan, migrate, check, export, import, verify, reset, status, cutover): each is a short sequence of the run layer's phases (`run`) behind the settings `config` made
//! from its flags. No command imports another; `run` dispatches one invocation to its command.

pub mod check;
pub mod cutover;
pub mod export;
pub mod import;
pub mod migrate;
pub mod plan;
pub mod reset;
pub mod status;
pub mod verify;

use crate::config::Invocation;
use crate::error::Error;
use crate::exit::Exit;

/// Runs the command the invocation names; `Ok` is how it ended when that is no error (a preflight that found
/// bad rows ends with [`Exit::Data`]).
pub async fn run(invocation: Invocation) -> Result<Exit, Error> {
    invocation
        .check()
        .map_err(|e| Error::Usage(e.to_string()))?;
    for path in invocation.output_files() {
        crate::run::output::check_writable(path)?;
    }
    let passwords = invocation.password_files();
    for file in passwords.source.iter().chain(&passwords.target) {
        crate::credentials::read_password_file(file).map_err(|e| Error::Usage(e.to_string()))?;
    }
    crate::credentials::set_password_files(passwords);
    crate::connect::set_program(invocation.name());
    if crate::hooks::fails("panic") {
        panic!("a test asked for a panic (PGCONVERGE_FAIL_AT=panic)");
    }
    let name = invocation.name();
    let report = invocation.report().map(std::path::Path::to_path_buf);
    let tuning = invocation.tuning().cloned();
    let loaded = invocation
        .loaded_target()
        .map(|(t, m)| (t.to_string(), m.to_path_buf()));
    let ended = dispatch(invocation).await;
    if let (Err(e), Some(path)) = (&ended, report) {
        let state = match loaded {
            Some((target, mapping)) => target_state(&target, &mapping).await,
            None => None,
        };
        crate::run::output::failure_report(&path, name, tuning.as_ref(), state.as_ref(), e);
    }
    ended
}

/// The state a failed loading command left its target in, read from the ledger; None when the target cannot be
/// read within a few seconds (the error's message names the state then).
async fn target_state(
    target: &str,
    mapping: &std::path::Path,
) -> Option<crate::run::status::Status> {
    let schema = crate::mapping::Mapping::load(mapping).ok()?.target_schema;
    let read = async {
        let client = crate::connect::target(target).await.ok()?;
        crate::run::status::read(&client, &schema).await.ok()
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .ok()
        .flatten()
}

async fn dispatch(invocation: Invocation) -> Result<Exit, Error> {
    match invocation {
        Invocation::Plan(s) => plan::command(&s).await.map(|_| Exit::Success),
        Invocation::Migrate(s) => migrate::command(&s).await.map(|_| Exit::Success),
        Invocation::Check(s) => check::command(&s).await.map(|r| match r.violations {
            0 => Exit::Success,
            _ => Exit::Data,
        }),
        Invocation::Export(s) => export::command(&s).await.map(|_| Exit::Success),
        Invocation::Import(s) => import::command(&s).await.map(|_| Exit::Success),
        Invocation::Verify(s) => verify::command(&s).await.map(|_| Exit::Success),
        Invocation::Reset(s) => reset::command(&s).await.map(|_| Exit::Success),
        Invocation::Status(s) => status::command(&s).await.map(|_| Exit::Success),
        Invocation::Cutover(s) => cutover::command(&s).await.map(|_| Exit::Success),
    }
}
