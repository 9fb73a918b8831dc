//! The commands (plan, migrate, check, export, import, verify, reset, status): each is a short sequence of the run layer's phases (`run`) behind the settings `config` made
//! from its flags. No command imports another; `run` dispatches one invocation to its command.

pub mod check;
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
    crate::connect::set_program(invocation.name());
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
    }
}
