//! Running the pgconverge binary the way the kill, resume, reset and restart tests need: paused at a test hook,
//! killed, resumed, reset.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Command, Stdio};

/// A finished run's exit code (-1: killed by a signal) and everything it printed, stdout then stderr.
pub fn outcome(out: std::process::Output) -> (i32, String) {
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

pub fn command(dbs: &super::TestDbs, mapping: &str, extra: &[&str]) -> Command {
    command_of(dbs, "migrate", mapping, extra)
}

/// `pgconverge <name> --mapping <mapping> <extra>` against the test databases.
pub fn command_of(dbs: &super::TestDbs, name: &str, mapping: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pgconverge"));
    c.args([name, "--mapping", mapping])
        .args(extra)
        .env("PGCONVERGE_SOURCE", dbs.source())
        .env("PGCONVERGE_TARGET", dbs.target())
        .env("PGCONVERGE_LOG", "warn");
    c
}

/// A one-reader, one-writer migration stopped at a pause point.
pub struct Paused {
    pub child: Child,
    /// The rest of its stderr, to read after it ends.
    stderr: BufReader<ChildStderr>,
}

/// Starts a migration that pauses at `point` (for `secs` seconds) and returns once it got there.
pub fn start_paused(dbs: &super::TestDbs, mapping: &str, point: &str, secs: &str) -> Paused {
    let c = command(
        dbs,
        mapping,
        &["--readers", "1", "--writers", "1", "--chunk-rows", "60"],
    );
    start_paused_with(c, point, secs)
}

/// Starts `c` pausing at `point` (for `secs` seconds) and returns once it got there.
pub fn start_paused_with(mut c: Command, point: &str, secs: &str) -> Paused {
    let mut child = c
        .env("PGCONVERGE_PAUSE_AT", point)
        .env("PGCONVERGE_PAUSE_SECS", secs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pgconverge");
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap_or(0) > 0 {
        if line.contains(&format!("paused at {point}")) {
            return Paused { child, stderr };
        }
        seen.push_str(&line);
        line.clear();
    }
    let status = child.wait().expect("wait for pgconverge");
    panic!("pgconverge never reached {point} ({status}); it printed:\n{seen}");
}

impl Paused {
    /// Reads its stderr until a line holds `needle`; returns everything read. Panics if it ends first.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let mut seen = String::new();
        let mut line = String::new();
        while self.stderr.read_line(&mut line).unwrap_or(0) > 0 {
            seen.push_str(&line);
            if line.contains(needle) {
                return seen;
            }
            line.clear();
        }
        panic!("pgconverge ended without printing {needle:?}; it printed:\n{seen}");
    }

    /// Waits for the end; returns the exit code and the rest of stderr.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stderr, &mut rest).ok();
        let status = self.child.wait().expect("wait for pgconverge");
        (status.code(), rest)
    }
}

/// Starts a migration that pauses at `point`, waits until it gets there, and kills it with SIGKILL.
pub fn kill_at(dbs: &super::TestDbs, mapping: &str, point: &str) {
    let mut p = start_paused(dbs, mapping, point, "600");
    // Child::kill sends SIGKILL on Unix: no destructor, no rollback message, like a crash.
    p.child.kill().expect("kill pgconverge");
    p.finish();
}

pub fn resume(dbs: &super::TestDbs, mapping: &str) -> (i32, String) {
    // The test servers run without a binary log, so only the operator's word proves the source unchanged.
    let out = command(
        dbs,
        mapping,
        &["--resume", "--source-quiesced", "--chunk-rows", "60"],
    )
    .output()
    .unwrap();
    outcome(out)
}

pub fn reset(dbs: &super::TestDbs, mapping: &str, yes: bool) -> (i32, String) {
    reset_with(dbs, mapping, if yes { &["--yes"] } else { &[] })
}

/// `pgconverge reset` with these flags; returns the exit code and everything it printed.
pub fn reset_with(dbs: &super::TestDbs, mapping: &str, flags: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .args(["reset", "--mapping", mapping])
        .args(flags)
        .env("PGCONVERGE_TARGET", dbs.target())
        .env("PGCONVERGE_LOG", "warn")
        .output()
        .unwrap();
    outcome(out)
}
