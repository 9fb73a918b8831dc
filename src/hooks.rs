//! Test hooks: named pause points where a test can kill or interrupt a run at an exact place, and named steps a
//! test can make fail.
//!
//! Compiled in only with the `test-hooks` cargo feature (scripts/test.sh enables it); a release build has an
//! empty inline function here and reads no environment variable.
//!
//! With `PGCONVERGE_PAUSE_AT=<point>` the run announces the point on stderr and sleeps there (`PGCONVERGE_PAUSE_SECS`,
//! 600 by default). Points: `prepared` (target prepared), `chunk:<n>` (after n committed chunks), `copying:<n>` (the
//! n-th COPY stream has sent its first batch), `finishing:<n>` (after n foreign keys restored), `export-writing` (an
//! export's directory and free space checked, before its first file), `locating` (a COPY rejected a row; its key is
//! known, its value not yet read).
//!
//! With `PGCONVERGE_FAIL_AT=<step>` that step fails as if its connection had been refused. Steps: `load-checks`
//! (asking the source the mapping's checks while `migrate` loads); `panic` makes the command panic as it starts
//! (a bug's way out: exit 1).
//!
//! Durable steps (`crate::durable` and `util::fsio` call [`durable_step`] after each commit, rename or synced
//! append): with `PGCONVERGE_CRASH_AT=<n>` the process kills itself with SIGKILL right after the n-th, as `kill -9`
//! would (`PGCONVERGE_CRASH_SIGNAL=INT` or `TERM`: sends itself that signal instead and goes on); with `PGCONVERGE_TRACE_STEPS=1` each step is announced on stderr (`pgconverge: durable step <n>:
//! <name>`), so a test learns how many a run takes.

/// Pauses at the point `name()` names when the test asked for it; `name` is only called in test builds.
#[cfg(feature = "test-hooks")]
pub async fn pause(name: impl FnOnce() -> String) {
    let Ok(want) = std::env::var("PGCONVERGE_PAUSE_AT") else {
        return;
    };
    let point = name();
    if want != point {
        return;
    }
    eprintln!("pgconverge: paused at {point}");
    let secs = std::env::var("PGCONVERGE_PAUSE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
}

/// Release builds: no pause points.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub async fn pause(_name: impl FnOnce() -> String) {}

/// Whether the test asked the step `name` to fail.
#[cfg(feature = "test-hooks")]
pub fn fails(name: &str) -> bool {
    std::env::var("PGCONVERGE_FAIL_AT").is_ok_and(|want| want == name)
}

/// Release builds: no step fails on request.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn fails(_name: &str) -> bool {
    false
}

/// With `PGCONVERGE_PART_BYTES=<n>`, the follower gives a source transaction in parts past `n` bytes of rows
/// instead of `binlog::PART_BYTES`, so a test's small transaction takes the path of a huge one.
#[cfg(feature = "test-hooks")]
pub fn part_bytes() -> Option<u64> {
    std::env::var("PGCONVERGE_PART_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
}

/// Release builds: the follower's own bound.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn part_bytes() -> Option<u64> {
    None
}

/// Counts a step that changed durable state, right after it did; see the module's documentation.
#[cfg(feature = "test-hooks")]
pub fn durable_step(name: impl FnOnce() -> String) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static DONE: AtomicUsize = AtomicUsize::new(0);
    let crash_at = std::env::var("PGCONVERGE_CRASH_AT")
        .ok()
        .and_then(|s| s.parse::<usize>().ok());
    let trace = std::env::var_os("PGCONVERGE_TRACE_STEPS").is_some();
    if crash_at.is_none() && !trace {
        return;
    }
    let n = DONE.fetch_add(1, Ordering::SeqCst) + 1;
    let name = name();
    if trace {
        eprintln!("pgconverge: durable step {n}: {name}");
    }
    if crash_at == Some(n) {
        let signal = match std::env::var("PGCONVERGE_CRASH_SIGNAL").as_deref() {
            Ok("INT") => libc::SIGINT,
            Ok("TERM") => libc::SIGTERM,
            _ => libc::SIGKILL,
        };
        eprintln!("pgconverge: crashing after durable step {n} (signal {signal}): {name}");
        // SAFETY: getpid and kill are async-signal-safe libc calls taking plain integers; no Rust memory is
        // involved. SIGKILL ends the process before the next line runs; SIGINT and SIGTERM reach the run's
        // handler (or end the process where none listens), as an operator's Ctrl-C or a service stop would.
        unsafe {
            libc::kill(libc::getpid(), signal);
        }
    }
}

/// Release builds: steps are not counted.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn durable_step(_name: impl FnOnce() -> String) {}
