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
//! (asking the source the mapping's checks while `migrate` loads).

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
