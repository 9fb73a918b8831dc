//! The loading phases `migrate` and `import` share: the target prepared (or an interrupted run picked up), the
//! committed chunks told to the progress display and the early finish, the finish stage with its reconnects, and
//! the state a failure leaves (restored after a data violation, resumable otherwise), with a rejected row traced
//! back to its source row.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cutover::{self, ledger};
use crate::error::Error;
use crate::progress::Progress;
use crate::schema::TargetTable;
use crate::sink::{CopyFailure, SinkError};
use crate::source::mysql as src;

use super::work::ChunkWork;

/// Prepares the target for a load, or picks up an interrupted one, and returns the foreign keys the load runs
/// without. A new run (no `previous`) refuses unexpected rows, records `new_run()` in a new ledger and prepares;
/// a run that crashed before its preparing transaction committed left the target untouched and prepares again;
/// a run past preparing keeps the keys it dropped.
pub async fn prepare_target(
    control: &mut tokio_postgres::Client,
    previous: Option<&ledger::Run>,
    new_run: impl FnOnce() -> ledger::Run,
    schema: &str,
    loaded: &[&TargetTable],
    seeded: &[String],
    replace: bool,
) -> Result<Vec<cutover::DroppedFk>, Error> {
    match previous {
        Some(run) if run.state != "preparing" => return Ok(run.dropped_fks.clone()),
        Some(_) => {}
        None => {
            if ledger::is_empty_ledger(control).await? {
                return Err(Error::Refused(ledger::empty_ledger_message()));
            }
            cutover::check_occupied(control, schema, loaded, seeded, replace).await?;
            ledger::create_ledger(control, &new_run()).await?;
        }
    }
    Ok(cutover::prepare(control, schema, loaded, seeded, replace).await?)
}

/// Turns a COPY failure that names a row into a violation naming the source row. The key comes from the stream
/// itself (the sink kept the key columns of every piece it sent), so it is the row of the snapshot, found without
/// any query; only the value shown is read afterwards, by that key, with one index seek.
pub async fn locate(source_url: &str, work: &ChunkWork, f: CopyFailure) -> Error {
    let table = &work.table;
    let Some(raw_key) = f.key.clone() else {
        return Error::Sink(SinkError::Copy(Box::new(f)));
    };
    let source_column = f
        .column
        .as_ref()
        .and_then(|c| table.contract.columns.iter().find(|p| &p.target == c))
        .map(|p| p.source.clone());
    crate::hooks::pause(|| "locating".into()).await;
    let value = match &source_column {
        Some(column) => {
            async {
                let mut conn = crate::connect::source(source_url).await.ok()?;
                let r = src::value_by_key(&mut conn, &table.source, &raw_key, column).await;
                conn.disconnect().await.ok();
                r.ok()
            }
            .await
        }
        None => None,
    };
    let excerpt = match value {
        Some(Some(Some(v))) => crate::values::excerpt(&v),
        Some(Some(None)) => "NULL".into(),
        Some(None) => "- (the row is no longer in the source)".into(),
        None => "-".into(),
    };
    Error::Violation(Box::new(crate::values::Violation {
        table: table.contract.source.clone(),
        key: crate::util::key::render(f.key_names.iter().zip(raw_key)),
        column: source_column.unwrap_or_else(|| "(row)".into()),
        rule: crate::values::Rule::RejectedByTarget {
            message: f.message.clone(),
        },
        excerpt,
        hint: Some(format!("{} chunk {} rolled back", f.table, f.chunk)),
    }))
}

/// Each committed chunk, told to the progress display (when it counts chunks) and, by its target table, to the
/// early finish.
pub struct Committed {
    progress: Option<Arc<Progress>>,
    pub loading: cutover::Loading,
    /// Source table -> target table.
    targets: HashMap<String, String>,
}

impl Committed {
    /// `tables`: every loaded target table; `chunks`: (source table, target table) of each chunk this run loads.
    pub fn new<'a>(
        progress: Option<Arc<Progress>>,
        tables: impl Iterator<Item = &'a str>,
        chunks: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let mut left: HashMap<String, usize> = tables.map(|t| (t.to_string(), 0)).collect();
        let mut targets = HashMap::new();
        for (source, target) in chunks {
            *left.entry(target.to_string()).or_default() += 1;
            targets.insert(source.to_string(), target.to_string());
        }
        Committed {
            progress,
            loading: cutover::Loading::new(left),
            targets,
        }
    }
}

impl crate::sink::OnCommit for Committed {
    fn committed(&self, table: &str, rows: u64) {
        if let Some(p) = &self.progress {
            p.chunk_done(table, rows);
        }
        if let Some(t) = self.targets.get(table) {
            self.loading.committed(t);
        }
    }
}

/// Runs `load`, with [`cutover::finish_early`] beside it on `control` (idle while the load runs) when `on`
/// (`--finish-early`): tables that completed are finished while others load (until `load` returns), and an orphan
/// found there stops the load at once. Returns the load's result and the tables finished early.
pub async fn with_early_finish<T>(
    on: bool,
    load: impl std::future::Future<Output = Result<T, Error>>,
    control: &tokio_postgres::Client,
    schema: &str,
    loaded: &[&TargetTable],
    fks: &[cutover::DroppedFk],
    loading: &cutover::Loading,
) -> Result<(T, Vec<(String, i64)>), Error> {
    if !on {
        return Ok((load.await?, Vec::new()));
    }
    let load = async {
        let r = load.await;
        loading.end();
        r
    };
    let early = async {
        match cutover::finish_early(control, schema, loaded, fks, loading).await {
            Err(cutover::TargetError::Sql {
                transient: true,
                message,
                ..
            }) => {
                tracing::warn!(error = %message, "Target connection lost while finishing tables early; the finish will do them.");
                Ok(Vec::new())
            }
            r => Ok::<_, Error>(r?),
        }
    };
    futures::future::try_join(load, early).await
}

/// The finish stage on the control connection and `sessions - 1` more (state, sequences, foreign keys and ANALYZE in
/// parallel, ledger completed): every step is idempotent, so a lost connection or a restarted server is answered with a
/// new connection and the stage again. `control_pid` is the control connection's server process, taken while it was
/// alive: ended if the connection was lost.
pub async fn finish(
    (control, control_pid): (&mut tokio_postgres::Client, Option<i32>),
    target_url: &str,
    schema: &str,
    loaded: &[&TargetTable],
    fks: &[cutover::DroppedFk],
    early: &[(String, i64)],
    sessions: usize,
) -> Result<(), Error> {
    let mut attempt = 0;
    // The server processes of this attempt's connections: after a loss they are ended from the new ones (an
    // orphan mid-ALTER keeps its lock).
    let mut pids = vec![control_pid];
    loop {
        let mut others = Vec::new();
        for _ in 1..sessions.max(1) {
            let other = crate::connect::target_with_retry(target_url).await?;
            pids.push(crate::connect::backend_pid(&other).await);
            others.push(other);
        }
        let r = async {
            ledger::set_state(control, "finishing").await?;
            let clients: Vec<&tokio_postgres::Client> =
                std::iter::once(&*control).chain(others.iter()).collect();
            let counts = cutover::finish(&clients, schema, loaded, fks, early).await?;
            drop(clients);
            ledger::complete(control, &counts).await
        }
        .await;
        match r {
            Err(cutover::TargetError::Sql {
                transient: true,
                message,
                ..
            }) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(attempt, error = %message, "Target connection lost while finishing; finishing again.");
                *control = crate::connect::target_with_retry(target_url).await?;
                for orphan in pids.drain(..) {
                    crate::connect::end_orphan(control, orphan).await;
                }
                pids.push(crate::connect::backend_pid(control).await);
            }
            r => return Ok(r?),
        }
    }
}

/// Names the state a failed run leaves. A data violation cannot be resumed (the source must change), so the
/// target is restored to its state before the run; a lost connection keeps the resumable state.
pub async fn after_failure(
    control: &mut tokio_postgres::Client,
    target_url: &str,
    e: Error,
) -> Error {
    if e.is_connection_loss() {
        let e = Error::Lost(Box::new(e));
        record_error(control, &e).await;
        return e;
    }
    if !e.is_data_violation() {
        let e = Error::Stopped(Box::new(e));
        record_error(control, &e).await;
        return e;
    }
    let restored = async {
        if control.is_closed() {
            *control = crate::connect::target_with_retry(target_url).await?;
        }
        match ledger::read_run(control).await? {
            Some(run) => Ok::<_, Error>(cutover::restore(control, &run, &|_| {}).await?),
            None => Ok(()),
        }
    }
    .await;
    match restored {
        Ok(()) => Error::Restored(Box::new(e)),
        Err(r) => Error::RestoreFailed {
            cause: Box::new(e),
            restore: Box::new(r),
        },
    }
}

/// Records why the run stopped in its ledger, for `pgconverge status`; a connection already lost records
/// nothing (the run's message says it all), and a failure to record is only a warning.
pub async fn record_error(control: &tokio_postgres::Client, e: &Error) {
    if control.is_closed() {
        return;
    }
    if let Err(r) = ledger::record_error(control, e.exit_code(), &e.to_string()).await {
        tracing::warn!(error = %r, "Could not record the error in the ledger for `pgconverge status`.");
    }
}

/// The chunks an interrupted run committed (by source table and chunk, with their rows), and the jobs left to
/// load; the progress display counts only those.
pub async fn skip_loaded(
    control: &tokio_postgres::Client,
    jobs: Vec<Arc<ChunkWork>>,
    progress: &Progress,
) -> Result<(Vec<Arc<ChunkWork>>, HashMap<(String, u32), u64>), Error> {
    let done = ledger::loaded_chunks(control).await?;
    let jobs: Vec<_> = jobs
        .into_iter()
        .filter(|j| !done.contains_key(&(j.table.contract.source.clone(), j.index)))
        .collect();
    for (table, _) in done.keys() {
        // Resumed: only the chunks still to load count (the rate and ETA are this run's).
        progress.skip_chunk(table);
    }
    if !done.is_empty() {
        tracing::info!(
            skipped = done.len(),
            remaining = jobs.len(),
            "Resuming: loaded chunks are skipped."
        );
    }
    Ok((jobs, done))
}

/// Keeps the digests of every row a completed run sent with its baseline, so a later `verify` against an unchanged
/// source reads only the target. Losing them costs only that shortcut: a failure is a warning.
pub async fn store_digests(
    control: &mut tokio_postgres::Client,
    digests: &HashMap<String, crate::canonical::Buckets>,
) {
    let stored: Vec<(String, String)> = digests
        .iter()
        .map(|(t, b)| (t.clone(), crate::canonical::encode_buckets(b)))
        .collect();
    if let Err(e) = ledger::store_digests(control, &stored).await {
        tracing::warn!(error = %e, "Could not keep the load digests for a later verify.");
    }
}
