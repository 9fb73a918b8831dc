//! What the target's ledger says about the run it records (command, state, chunks and rows committed, rate, time
//! left, foreign keys dropped, last error) and whether a pgconverge session is connected now, with the command to
//! run next: `pgconverge status` prints it, a failed run's report carries it. Only reads.

use serde::Serialize;

use crate::cutover::follow_ledger;
use crate::cutover::ledger::{self, LEDGER_SCHEMA};
use crate::error::Error;

/// Everything `status` prints, as `--json` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// `none` (no ledger), `empty` (a ledger that records no run) or `run`.
    pub ledger: &'static str,
    pub command: Option<String>,
    /// preparing, loading, finishing or completed.
    pub state: Option<String>,
    pub target_schema: Option<String>,
    /// The `application_name` of each pgconverge session connected to the database now (other than this one).
    pub running: Vec<String>,
    pub tables: usize,
    pub chunks_total: u64,
    #[serde(flatten)]
    pub progress: Option<ledger::Progress>,
    pub rows_per_second: Option<f64>,
    /// At the rate so far, for the chunks not committed yet.
    pub eta_seconds: Option<f64>,
    pub foreign_keys_dropped: usize,
    pub snapshot: Option<String>,
    /// The follow phase after the copy (`migrate --follow`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow: Option<Follow>,
    /// Resumed with `--follow` on a source written since the run's snapshot: the cut-over restores the foreign keys
    /// and verifies every table.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub live: bool,
    /// The source tables such a resume copied again, with the position of the snapshot they are of.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub recopied: std::collections::BTreeMap<String, String>,
    pub next: String,
}

/// Where following stands, as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Follow {
    /// `following`, `cutting over` (an end position recorded) or `done`.
    pub phase: &'static str,
    /// Every source transaction before this binary log position is applied.
    pub applied: String,
    pub gtid: Option<String>,
    pub end_at: Option<String>,
    /// Seconds since a transaction was last applied.
    pub seconds_since_applied: f64,
    /// What the follower last stored: changes applied, changes/s, seconds and bytes behind the source.
    pub progress: Option<serde_json::Value>,
    pub freeze_seconds: Option<f64>,
}

/// The status of the target `client` is connected to; `target_schema` is the mapping's (shown when no run is
/// recorded).
pub async fn read(client: &tokio_postgres::Client, target_schema: &str) -> Result<Status, Error> {
    let running = ledger::running_sessions(client).await?;
    let mut s = Status {
        ledger: "none",
        command: None,
        state: None,
        target_schema: Some(target_schema.to_string()),
        running,
        tables: 0,
        chunks_total: 0,
        progress: None,
        rows_per_second: None,
        eta_seconds: None,
        foreign_keys_dropped: 0,
        snapshot: None,
        follow: None,
        live: false,
        recopied: Default::default(),
        next: String::new(),
    };
    let Some(run) = ledger::read_run(client).await? else {
        if ledger::is_empty_ledger(client).await? {
            s.ledger = "empty";
            s.next = ledger::empty_ledger_message();
        } else {
            s.next = format!(
                "no run is recorded (no ledger, schema {LEDGER_SCHEMA}): `pgconverge migrate` or `pgconverge import` \
                 starts one"
            );
        }
        return Ok(s);
    };
    let p = ledger::progress(client, &run).await?;
    s.ledger = "run";
    s.tables = run.tables.len();
    s.chunks_total = run.chunks.values().map(|c| c.len() as u64).sum();
    s.foreign_keys_dropped = run.dropped_fks.len();
    s.snapshot = Some(run.snapshot.describe());
    if p.loading_seconds > 0.0 && p.rows_done > 0 {
        s.rows_per_second = Some(p.rows_done as f64 / p.loading_seconds);
        if p.chunks_done > 1 && !run.is_completed() {
            let per_chunk = p.loading_seconds / (p.chunks_done - 1) as f64;
            s.eta_seconds = Some(s.chunks_total.saturating_sub(p.chunks_done) as f64 * per_chunk);
        }
    }
    let command = run.command.clone();
    s.follow = follow_ledger::follow_state(client).await?.map(|f| Follow {
        phase: match (f.done, &f.end_at) {
            (true, _) => "done",
            (false, Some(_)) => "cutting over",
            (false, None) => "following",
        },
        applied: f.applied,
        gtid: f.gtid,
        end_at: f.end_at,
        seconds_since_applied: f.idle_seconds,
        progress: f.progress,
        freeze_seconds: f.freeze_seconds,
    });
    let following = s.follow.as_ref().filter(|f| f.phase != "done");
    s.next = if let Some(f) = following {
        match (s.running.is_empty(), f.phase) {
            (false, "following") => "the target follows the source: once the application's writes are stopped, \
                                     `pgconverge cutover` ends it"
                .to_string(),
            (false, _) => "the cut-over is under way: `pgconverge cutover` again waits for it".to_string(),
            (true, _) => "no follower is connected: continue following with `pgconverge migrate --resume \
                          --follow` and the same flags, or return the target to its state before the copy with \
                          `pgconverge reset --yes`"
                .to_string(),
        }
    } else if !s.running.is_empty() {
        "a run is going on now: watch it with `pgconverge status` again".to_string()
    } else if run.is_completed() {
        format!(
            "the {command} completed: `pgconverge verify` signs it off; `pgconverge reset --yes` returns the target \
             to its state before it; `pgconverge reset --keep-data --yes` accepts it and drops the baseline"
        )
    } else if run.live {
        "no pgconverge session is connected: the copy resumed on a live source stopped; continue it with \
         `pgconverge migrate --resume --follow` and the same flags, or return the target to its state before it \
         with `pgconverge reset --yes`"
            .to_string()
    } else {
        format!(
            "no pgconverge session is connected: the {command} stopped; continue it with `pgconverge {command} \
             --resume` (`migrate --resume --follow` if the source was written since), or return the target to its \
             state before it with `pgconverge reset --yes`"
        )
    };
    s.recopied = run.recopied.clone();
    s.live = run.live;
    s.command = Some(command);
    s.state = Some(run.state.clone());
    s.target_schema = Some(run.target_schema.clone());
    s.progress = Some(p);
    Ok(s)
}

/// The status as lines for a terminal or a log.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let line = |out: &mut String, l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    let (Some(command), Some(state), Some(p)) = (&s.command, &s.state, &s.progress) else {
        line(&mut out, format!("Ledger: {}.", s.ledger));
        line(&mut out, format!("Next: {}.", s.next));
        return out;
    };
    line(
        &mut out,
        format!(
            "Run: {command} into schema {}, state {state}, started {} ({:.0} s ago); {}.",
            s.target_schema.as_deref().unwrap_or(""),
            p.started_at,
            p.seconds_since_start,
            match s.running.len() {
                0 => "no pgconverge session is connected".to_string(),
                n => format!(
                    "{n} pgconverge session(s) connected now ({})",
                    s.running.join(", ")
                ),
            }
        ),
    );
    if p.completed_rows.is_empty() {
        let mut progress = format!(
            "Progress: {} of {} chunks committed, {} rows, {:.1} MB",
            p.chunks_done,
            s.chunks_total,
            p.rows_done,
            p.bytes_done as f64 / 1e6
        );
        if let Some(r) = s.rows_per_second {
            progress.push_str(&format!("; {r:.0} rows/s"));
        }
        if let Some(eta) = s.eta_seconds {
            progress.push_str(&format!("; about {eta:.0} s of loading left at that rate"));
        }
        if let Some(since) = p.seconds_since_last_chunk {
            progress.push_str(&format!("; last chunk {since:.0} s ago"));
        }
        line(&mut out, progress + ".");
    } else {
        let rows: i64 = p.completed_rows.iter().map(|(_, n)| n).sum();
        line(
            &mut out,
            format!(
                "Loaded: {rows} rows in {} tables (the completed run's baseline).",
                p.completed_rows.len()
            ),
        );
    }
    line(
        &mut out,
        format!(
            "Foreign keys dropped for the load: {} (re-created by the finish).",
            s.foreign_keys_dropped
        ),
    );
    if let Some(snapshot) = &s.snapshot {
        line(&mut out, format!("Source snapshot: {snapshot}."));
    }
    if s.live {
        line(
            &mut out,
            format!(
                "Resumed on a live source: {} table(s) copied again from a later snapshot; the follower applies \
                 their changes only past it, and the cut-over restores the foreign keys and verifies every table.",
                s.recopied.len()
            ),
        );
    }
    if let Some(e) = &p.last_error {
        line(
            &mut out,
            format!(
                "Last error (exit {}, at {}): {}",
                e["exit"],
                e["at"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("")
            ),
        );
    }
    if let Some(f) = &s.follow {
        line(&mut out, follow_line(f));
    }
    line(&mut out, format!("Next: {}.", s.next));
    out
}

/// The follow phase in one line.
fn follow_line(f: &Follow) -> String {
    let mut l = format!(
        "Follow: {}; applied up to {} ({:.0} s since the last transaction)",
        f.phase, f.applied, f.seconds_since_applied
    );
    if let Some(p) = &f.progress {
        l.push_str(&format!(
            "; {} changes applied, {} changes/s; behind the source: {} s, {} bytes",
            p["changes"],
            p["changes_per_second"],
            p["behind_seconds"],
            match &p["behind_bytes"] {
                serde_json::Value::Null => "unknown".to_string(),
                b => b.to_string(),
            }
        ));
    }
    if let Some(end) = &f.end_at {
        l.push_str(&format!("; cut-over at {end}"));
    }
    if let Some(freeze) = f.freeze_seconds {
        l.push_str(&format!("; freeze {freeze:.1} s"));
    }
    l + "."
}
