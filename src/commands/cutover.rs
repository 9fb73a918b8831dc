//! `pgconverge cutover`: ends a `migrate --follow` run once the application's writes are stopped. It reads the
//! source's position twice (refusing while it moves), records it as the end in the target's ledger, and waits
//! until the follower has applied everything up to it and finished the target; the freeze it prints runs from
//! this request to the verified target.

use std::time::{Duration, Instant};

use crate::config::CutoverSettings as Settings;
use crate::cutover::{follow_ledger, ledger};
use crate::error::Error;

/// How the cut-over ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub end: String,
    pub freeze_seconds: f64,
}

/// The pause between the two reads of the source's position: longer than a busy application's gap between
/// writes, short against the freeze.
const SETTLE: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(100);
/// How long the follower may be absent before the operator is told so (it may be restarting with --resume).
const ABSENT: Duration = Duration::from_secs(5);

pub async fn command(settings: &Settings) -> Result<Outcome, Error> {
    let requested = Instant::now();
    let client = crate::connect::target(&settings.endpoints.target).await?;
    let Some(state) = follow_ledger::follow_state(&client).await? else {
        return Err(Error::Refused(
            "nothing follows the source in this target (its ledger has no follow record): start with \
             `pgconverge migrate --follow`; nothing was recorded"
                .into(),
        ));
    };
    if state.done {
        println!(
            "The cut-over is already done: the target holds every source transaction up to {} and was finished{}.",
            state.end_at.as_deref().unwrap_or(&state.applied),
            state
                .freeze_seconds
                .map(|s| format!(" (freeze {s:.1}s)"))
                .unwrap_or_default()
        );
        return Ok(Outcome {
            end: state.end_at.unwrap_or(state.applied),
            freeze_seconds: state.freeze_seconds.unwrap_or(0.0),
        });
    }
    let source = &settings.endpoints.source;
    // One connection for every read of the position and of the events between.
    let mut watch = crate::connect::source(source).await?;
    let first = crate::source::mysql::binlog::position_on(&mut watch).await;
    tokio::time::sleep(SETTLE).await;
    let second = crate::source::mysql::binlog::position_on(&mut watch).await;
    let end = match (first, second) {
        (Some(a), Some(b)) if a == b => b,
        // The position is server-wide: writes to other databases on the same server move it too. The events
        // between the two reads say whether the followed database was among them.
        (Some(a), Some(b)) => {
            let db = crate::connect::source_database(source)?;
            match crate::source::mysql::tables_written_since(&mut watch, &a.to_string(), &db).await? {
                Some(tables) if tables.is_empty() => {
                    tracing::info!(from = %a, to = %b, "The source's binary log moved, but only for other databases.");
                    b
                }
                written => {
                    let what = match written {
                        Some(t) => format!(
                            "tables {} of database {db} were written",
                            t.into_iter().collect::<Vec<_>>().join(", ")
                        ),
                        None => "its events cannot be read to tell which databases were written".into(),
                    };
                    return Err(Error::Refused(format!(
                        "the source is still being written: its binary log moved from {a} to {b} within {} ms and \
                         {what}; stop the application's writes, then run `pgconverge cutover` again; nothing was \
                         recorded, the follower goes on",
                        SETTLE.as_millis()
                    )));
                }
            }
        }
        _ => {
            return Err(Error::Refused(
                "the source shows no binary log position to this user (it needs BINLOG MONITOR or REPLICATION \
                 CLIENT): the end of the follow run cannot be named; nothing was recorded"
                    .into(),
            ))
        }
    };
    if !follow_ledger::request_end(&client, &end.to_string()).await? {
        return Err(Error::Refused(
            "the follow run finished while the cut-over was being asked for: run `pgconverge cutover` again to \
             see its outcome"
                .into(),
        ));
    }
    println!(
        "Writes stopped at {end}: waiting for the follower to apply everything up to it and finish the target \
         (at most {}s).",
        settings.timeout
    );
    let deadline = requested + Duration::from_secs(settings.timeout);
    let mut absent_since: Option<Instant> = None;
    let mut told = false;
    loop {
        let state = follow_ledger::follow_state(&client)
            .await?
            .expect("the follow record stays");
        if state.done {
            let freeze = state.freeze_seconds.unwrap_or(0.0);
            println!(
                "Cut over at {end}: the target holds every source transaction up to it, sequences set and verified. \
                 Freeze {freeze:.1}s (from this cutover to the verified target). Point the applications at the \
                 target; `pgconverge reset --keep-data --yes` drops the ledger once you keep it."
            );
            return Ok(Outcome {
                end: end.to_string(),
                freeze_seconds: freeze,
            });
        }
        // The follower found the source written after this end position and took the cut-over back.
        if state.end_at.as_deref() != Some(end.to_string().as_str()) {
            let why = state
                .reopened
                .unwrap_or_else(|| "another cut-over replaced this one's position".into());
            return Err(Error::Refused(format!(
                "the cut-over at {end} is void: {why}; those writes are not in the target, so the follower took \
                 the cut-over back and goes on following: stop every write to the source, then run \
                 `pgconverge cutover` again"
            )));
        }
        let run = ledger::read_run(&client).await?;
        let last_error = match &run {
            Some(run) => ledger::progress(&client, run).await?.last_error,
            None => None,
        };
        let following = !ledger::migrate_sessions(&client).await?.is_empty();
        if !following {
            if let Some(e) = last_error {
                return Err(Error::Refused(format!(
                    "the follower stopped before the cut-over was done: {}; the end position {end} stays recorded: \
                     once the follower runs again (`pgconverge migrate --resume --follow`) it finishes there",
                    e.get("message").and_then(|m| m.as_str()).unwrap_or("(no message)")
                )));
            }
            let since = *absent_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= ABSENT && !told {
                told = true;
                println!(
                    "No follower is connected to the target: start it with `pgconverge migrate --resume --follow` \
                     (same flags as the first run); this cutover keeps waiting."
                );
            }
        } else {
            absent_since = None;
        }
        if Instant::now() >= deadline {
            return Err(Error::Refused(format!(
                "the follower did not finish within {}s: it has applied up to {} of {end}; the end position stays \
                 recorded and the follower finishes there when it gets there: run `pgconverge cutover` again to wait \
                 longer, and watch it with `pgconverge status`",
                settings.timeout, state.applied
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
