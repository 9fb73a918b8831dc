//! The exit codes: one type that the binary exits with, the help text lists and the run layer decides by (a data
//! violation restores the target, anything else keeps it resumable). README and docs/Running.md show the same
//! table; `tests/docs_commands.rs` holds them to it.

/// How a run ended, as the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    Success,
    Internal,
    Usage,
    Connection,
    Contract,
    Data,
    Verification,
    Window,
    Refused,
    Files,
    Interrupted,
}

impl Exit {
    /// Every code, in numeric order.
    pub const ALL: [Exit; 11] = [
        Exit::Success,
        Exit::Internal,
        Exit::Usage,
        Exit::Connection,
        Exit::Contract,
        Exit::Data,
        Exit::Verification,
        Exit::Window,
        Exit::Refused,
        Exit::Files,
        Exit::Interrupted,
    ];

    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Internal => 1,
            Exit::Usage => 2,
            Exit::Connection => 3,
            Exit::Contract => 4,
            Exit::Data => 5,
            Exit::Verification => 6,
            Exit::Window => 7,
            Exit::Refused => 8,
            Exit::Files => 9,
            Exit::Interrupted => 130,
        }
    }

    /// The class of the code in one word, as reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Internal => "internal",
            Exit::Usage => "usage",
            Exit::Connection => "connection",
            Exit::Contract => "contract",
            Exit::Data => "data",
            Exit::Verification => "verification",
            Exit::Window => "window",
            Exit::Refused => "refused",
            Exit::Files => "files",
            Exit::Interrupted => "interrupted",
        }
    }

    /// What the code tells the operator (and automation).
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Internal => "internal error",
            Exit::Usage => {
                "usage error: what the command line says cannot be done (a flag, a malformed connection string, \
                 a file it names), found before anything connects"
            }
            Exit::Connection => {
                "connection error: a server cannot be reached or refuses the credentials, or a connection was lost \
                 during a run (then the run is resumable)"
            }
            Exit::Contract => "schema contract violation",
            Exit::Data => "data violation",
            Exit::Verification => "verification mismatch",
            Exit::Window => "`plan --window`: the estimate exceeds the window",
            Exit::Refused => {
                "refused because of the state of the target or a directory (a ledger in the way, nothing to \
                 resume, rows in the target, an occupied or short export directory, a manifest that does not \
                 match): nothing was changed, and the message names the command that gets past it"
            }
            Exit::Files => {
                "writing files failed during the run (a full disk, an I/O error): every file already published \
                 stays, and `--resume` continues once the cause is fixed"
            }
            Exit::Interrupted => "interrupted (Ctrl-C, SIGTERM): resumable",
        }
    }

    /// The table `--help` ends with.
    pub fn help() -> String {
        let mut s = String::from("Exit codes:");
        for e in Exit::ALL {
            s.push_str(&format!("\n  {:>3}  {}", e.code(), e.meaning()));
        }
        s
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }

    #[test]
    fn the_help_lists_every_code() {
        let help = Exit::help();
        for e in Exit::ALL {
            assert!(
                help.contains(&format!("{:>3}  {}", e.code(), e.meaning())),
                "{e:?}"
            );
        }
        assert!(
            help.contains("  7  "),
            "exit 7 was missing from the help before"
        );
    }
}
