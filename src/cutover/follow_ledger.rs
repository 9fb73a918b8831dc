//! The follow phase's record in the run ledger (table `pgconverge.follow`): the position up to which every source
//! transaction is applied, the cut-over's end position once asked for, and whether following finished. Each
//! change to it is one durable step, or commits inside the PostgreSQL transaction that applies the changes it
//! names.

use tokio_postgres::Client;

use super::error::{pg, TargetError};
use super::helpers;
use super::ledger::{add_column, has_table, LEDGER_SCHEMA};
use crate::durable;
use crate::util::sql::{pg_ident, pg_string};

/// Where following the source stands after a completed copy (the ledger's `follow` table).
#[derive(Debug, Clone, PartialEq)]
pub struct FollowState {
    /// The binary log position (`file:offset`) up to which every source transaction is applied.
    pub applied: String,
    /// The GTID of the last applied transaction, when the source logs them.
    pub gtid: Option<String>,
    /// The position a cut-over asked to stop at, once asked.
    pub end_at: Option<String>,
    /// The follow run finished (everything up to `end_at` applied and the target finished).
    pub done: bool,
    /// Seconds from the cut-over's request to the finished target, once done.
    pub freeze_seconds: Option<f64>,
    /// What the follower last said of its progress (`status` shows it): changes applied, rate, lag.
    pub progress: Option<serde_json::Value>,
    /// Seconds since the last transaction was applied.
    pub idle_seconds: f64,
    /// Target tables the applied transactions changed.
    pub touched: Vec<String>,
    /// Why the follower took back the last cut-over's end position (the source was written after it).
    pub reopened: Option<String>,
}

/// Records that following starts at `from` (the copy's snapshot position): one step, after the copy completed.
/// Idempotent, so a follow run started again keeps the position an earlier one reached. The load's kept digests go
/// in the same step: once changes are applied they no longer describe the target; so does the error an earlier
/// follow run stopped with.
pub async fn start_follow(client: &Client, from: &str) -> Result<(), TargetError> {
    durable::batch(
        client,
        &format!(
            "CREATE TABLE IF NOT EXISTS {s}.follow (id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
               applied text NOT NULL, gtid text, applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
               end_at text, end_requested_at timestamptz, done_at timestamptz, progress jsonb,
               touched text[] NOT NULL DEFAULT '{{}}', reopened text);
             INSERT INTO {s}.follow (applied) VALUES ({from}) ON CONFLICT (id) DO NOTHING;
             DROP TABLE IF EXISTS {s}.digest;
             {reopened}; {last_error};
             UPDATE {s}.run SET last_error = NULL;",
            s = pg_ident(LEDGER_SCHEMA),
            from = pg_string(from),
            reopened = add_column("follow", "reopened text"),
            last_error = add_column("run", "last_error jsonb"),
        ),
        || "follow started".into(),
    )
    .await
    .map_err(pg("recording the start of following"))
}

/// Records the position a cut-over stops at (`cutover`, writes stopped): one step. Refused (false) once the
/// follow run is done.
pub async fn request_end(client: &Client, end: &str) -> Result<bool, TargetError> {
    let n = durable::execute(
        client,
        &format!(
            "UPDATE {}.follow SET end_at = $1, end_requested_at = clock_timestamp(), reopened = NULL
             WHERE id = 1 AND done_at IS NULL",
            pg_ident(LEDGER_SCHEMA)
        ),
        &[&end],
        || format!("cut-over requested at {end}"),
    )
    .await
    .map_err(pg("recording the cut-over position"))?;
    Ok(n == 1)
}

/// Takes back the cut-over's end position `end` (one step) because the source's database was written after it
/// (`why`): following goes on, and the `cutover` command waiting on `end` reads `why` and says so.
pub async fn reopen_follow(client: &Client, end: &str, why: &str) -> Result<(), TargetError> {
    durable::execute(
        client,
        &format!(
            "UPDATE {}.follow SET end_at = NULL, end_requested_at = NULL, reopened = $2
             WHERE id = 1 AND end_at = $1 AND done_at IS NULL",
            pg_ident(LEDGER_SCHEMA)
        ),
        &[&end, &why],
        || format!("cut-over at {end} taken back"),
    )
    .await
    .map_err(pg("taking back the cut-over position"))?;
    Ok(())
}

/// Stores what the follower says of its progress, for `status` (one step; losing it loses nothing).
pub async fn record_follow_progress(
    client: &Client,
    progress: &serde_json::Value,
) -> Result<(), TargetError> {
    let json = progress.to_string();
    durable::execute(
        client,
        &format!(
            "UPDATE {}.follow SET progress = $1::text::jsonb WHERE id = 1",
            pg_ident(LEDGER_SCHEMA)
        ),
        &[&json],
        || "follow progress".into(),
    )
    .await
    .map_err(pg("recording the follow progress"))?;
    Ok(())
}

/// Ends following at `end` (one step): the follow record is done and the helper indexes of the follow phase are
/// dropped, together. Returns the freeze: seconds from the cut-over's request to now. The row counts `reset`
/// compares with moved with every applied transaction.
pub async fn finish_follow(client: &mut Client, end: &str) -> Result<f64, TargetError> {
    let tx = client
        .transaction()
        .await
        .map_err(pg("finishing the follow run"))?;
    // The follower's session commits without waiting for the WAL flush; the end of following must not be lost.
    tx.batch_execute(&format!(
        "SET LOCAL synchronous_commit = on; {}",
        helpers::drop_helper_indexes_sql()
    ))
    .await
    .map_err(pg("dropping the follow phase's helper indexes"))?;
    let row = tx
        .query_one(
            &format!(
                "UPDATE {}.follow SET done_at = clock_timestamp(), applied = $1 WHERE id = 1
                 RETURNING extract(epoch FROM done_at - coalesce(end_requested_at, done_at))::float8",
                pg_ident(LEDGER_SCHEMA)
            ),
            &[&end],
        )
        .await
        .map_err(pg("finishing the follow run"))?;
    durable::commit(tx, || "follow run finished".into())
        .await
        .map_err(pg("finishing the follow run"))?;
    Ok(row.get(0))
}

/// The statement that stores a followed transaction's end position (`$1`), GTID (`$2`) and the target tables it
/// changed (`$3`, added to those changed before: the cut-over verifies them): run inside the PostgreSQL
/// transaction that applies it, so they commit together.
pub fn record_applied_sql() -> String {
    format!(
        "UPDATE {}.follow SET applied = $1, gtid = $2, applied_at = clock_timestamp(),
           touched = ARRAY(SELECT DISTINCT t FROM unnest(touched || $3::text[]) t ORDER BY 1) WHERE id = 1",
        pg_ident(LEDGER_SCHEMA)
    )
}

/// The statement that adds `$2` to the row count kept for target table `$1` (`reset` compares the target with
/// these counts): run with the applied changes, so the counts stay the target's own.
pub fn record_counts_sql() -> String {
    format!(
        "UPDATE {}.completed SET rows = rows + $2 WHERE table_name = $1",
        pg_ident(LEDGER_SCHEMA)
    )
}

/// Where following stands; None when the target was never followed.
pub async fn follow_state(client: &Client) -> Result<Option<FollowState>, TargetError> {
    if !has_table(client, "follow").await? {
        return Ok(None);
    }
    let table = format!("{}.follow", pg_ident(LEDGER_SCHEMA));
    // `reopened` read through the row's JSON: a ledger an earlier version made lacks the column until the next
    // follow run starts, and `status` or `cutover` may read it before.
    let row = client
        .query_opt(
            &format!(
                "SELECT applied, gtid, end_at, done_at IS NOT NULL,
                   extract(epoch FROM done_at - end_requested_at)::float8, progress::text,
                   extract(epoch FROM clock_timestamp() - applied_at)::float8, touched,
                   to_jsonb(f) ->> 'reopened'
                 FROM {table} AS f WHERE id = 1"
            ),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?;
    Ok(row.map(|r| FollowState {
        applied: r.get(0),
        gtid: r.get(1),
        end_at: r.get(2),
        done: r.get(3),
        freeze_seconds: r.get(4),
        progress: r
            .get::<_, Option<String>>(5)
            .and_then(|p| serde_json::from_str(&p).ok()),
        idle_seconds: r.get(6),
        touched: r.get(7),
        reopened: r.get(8),
    }))
}
