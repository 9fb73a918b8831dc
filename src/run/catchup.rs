//! The follow phase of `migrate --follow`: after the copy completed, the source's binary log is read from the
//! copy's snapshot position (or, resumed, from the position the ledger says was applied) and every change to a
//! mapped table is applied, whole transactions in binary log order, until `cutover` records an end position and
//! the follower reaches it; then sequences are set, the tables the phase touched are verified and the follow
//! record is marked done. Each applied group commits with its position, so a kill at any instant resumes exactly
//! where the ledger says.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cutover::{follow_ledger, ledger};
use crate::error::Error;
use crate::mapping::Mapping;
use crate::run::follow::{mentioned, Applier, ApplyError, FollowError, Record};
pub use crate::run::follow::{Follow, FollowReport};
use crate::run::frozen::{self, Finished};
use crate::run::work::TableWork;
use crate::schema::{SourceTable, TargetTable};
use crate::source::mysql::binlog::{
    self, BinlogError, Follower, Met, Position, Replica, Transaction,
};
use crate::source::mysql::spool::{self, SpoolReader};
use crate::source::mysql::{self as src};

/// At most this many row changes or this long per PostgreSQL transaction: a few commits per second at full
/// speed, and a small transaction applied at once when the source is quiet.
const GROUP_CHANGES: usize = 5_000;
const GROUP_TIME: Duration = Duration::from_millis(100);
/// How long the follower waits for the source when nothing is pending, and how often it reads the ledger for a
/// cut-over and stores its progress.
const IDLE: Duration = Duration::from_millis(200);
/// How long one look ahead waits for the source while a group is applied: what a quiet source adds to an apply.
const AHEAD_WAIT: Duration = Duration::from_millis(10);
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The follow phase, on a target whose copy completed: returns when the cut-over's end position is applied and the
/// target finished.
pub async fn follow(f: &Follow<'_>) -> Result<FollowReport, Error> {
    let started = Instant::now();
    let (source_url, target_url) = (&f.endpoints.source, &f.endpoints.target);
    let mut client = crate::connect::target(target_url).await?;
    follower_session(&client, target_url, f).await?;
    let run = ledger::read_run(&client)
        .await?
        .filter(ledger::Run::is_completed)
        .ok_or_else(|| {
            Error::Refused(
                "there is no completed copy in this target to follow from: run `pgconverge migrate --follow` first"
                    .into(),
            )
        })?;
    let stop = |cause: FollowError, applied: &str| Error::Following {
        applied: applied.to_string(),
        cause: Box::new(cause),
    };
    let from = run
        .snapshot
        .binlog
        .clone()
        .ok_or_else(|| stop(FollowError::NoPosition, "the copy's snapshot"))?;
    let db = crate::connect::source_database(source_url)?;
    let mut conn = crate::connect::source(source_url).await?;
    refuse_unfollowable(&mut conn).await?;
    let source_tables = crate::schema::mysql::introspect(&mut conn, &db).await?;
    let schema = f.mapping.target_schema.clone();
    let target_tables = crate::schema::pg::introspect(&client, &schema).await?;
    let (known, created) = at_the_copy(&run, f.mapping, &source_tables);
    let works = works(f, &run, &known, &target_tables).map_err(|c| stop(c, &from))?;
    let mapped: Vec<(String, String)> = works
        .iter()
        .map(|w| (w.contract.source.clone(), w.contract.target.clone()))
        .collect();
    follow_ledger::start_follow(&client, &from).await?;
    let state = follow_ledger::follow_state(&client)
        .await?
        .expect("the follow record was just made");
    let mut report = FollowReport {
        from: state.applied.clone(),
        ..Default::default()
    };
    if state.done {
        println!(
            "Following already finished in this target (at {}): nothing to do.",
            state.applied
        );
        report.end = state.end_at.unwrap_or(state.applied);
        return Ok(report);
    }
    let loaded: Vec<&TargetTable> = target_tables
        .iter()
        .filter(|t| run.tables.contains(&t.name))
        .collect();
    crate::run::follow::triggers::warn_triggers(&client, &schema, &loaded, f.index_foreign_keys)
        .await?;
    let applied = Position::parse(&state.applied)
        .ok_or_else(|| Error::Internal(format!("unreadable follow position {}", state.applied)))?;
    let start = Position::parse(&from)
        .ok_or_else(|| Error::Internal(format!("unreadable snapshot position {from}")))?;
    // The spool the copy wrote, when the position to follow from is inside it: read first, the source's own
    // binary log then from where it ends.
    let spooled = SpoolReader::open(f.spool_dir, &db, &start)
        .filter(|(_, meta)| Position::parse(&meta.end).is_some_and(|end| !applied.reached(&end)));
    let live_from = spooled
        .as_ref()
        .and_then(|(_, meta)| Position::parse(&meta.end))
        .unwrap_or_else(|| applied.clone());
    if !binlog::available(&mut conn, &live_from).await? {
        return Err(stop(
            FollowError::Purged {
                at: live_from.to_string(),
            },
            &state.applied,
        ));
    }
    for table in &created {
        tracing::warn!(
            table,
            "This source table was created after the copy; the mapping does not copy it, so its changes are not \
             applied."
        );
    }
    let replica = Replica {
        conn,
        server_id: replica_id(),
        heartbeat: Duration::from_secs(1),
    };
    let follower = match spooled {
        Some((reader, meta)) => {
            tracing::info!(spool_end = %meta.end, bytes = meta.bytes, "Reading the binary log spooled during the copy first.");
            Follower::open_spooled(
                Box::new(reader),
                &start,
                replica,
                &applied,
                &db,
                source_tables,
            )
        }
        None => Follower::open(replica, &applied, &db, source_tables)
            .await
            .map_err(|e| stop(e.into(), &state.applied))?,
    };
    let follower = match crate::hooks::part_bytes() {
        Some(bytes) => follower.holding_at_most(bytes),
        None => follower,
    };
    let mut applier = Applier::new(
        &schema,
        works,
        f.mapping.skip_tables.keys().cloned().chain(created),
        Record {
            position: follow_ledger::record_applied_sql(),
            counts: follow_ledger::record_counts_sql(),
        },
    );
    // The keys an earlier run of this follow phase changed are not known here: those tables are verified whole.
    for (source, _) in mapped.iter().filter(|(_, t)| state.touched.contains(t)) {
        applier.keys_unknown(source);
    }
    let mut lag = crate::connect::source(source_url).await?;
    tracing::info!(from = %applied, "Following the source's binary log.");
    let mut l = Loop {
        follower,
        applier,
        applied: state.applied.clone(),
        gtid: state.gtid.clone(),
        report: &mut report,
        skip: f.skip_statement.clone(),
        mapped: mapped.clone(),
        caught_up: false,
        last_when: 0,
        ahead: VecDeque::new(),
        ahead_error: None,
        recopied: run
            .recopied
            .iter()
            .filter_map(|(t, at)| Some((t.clone(), Position::parse(at)?)))
            .collect(),
    };
    // Following until a cut-over is reached and the target finished there; a cut-over the source was written
    // after is taken back and following goes on.
    loop {
        let end = match crate::pipeline::until_interrupted(l.run(&mut client, &mut lag)).await {
            Some(Ok(end)) => end,
            Some(Err(cause)) => {
                let e = stop(cause, &l.applied);
                crate::run::load::record_error(&client, &e).await;
                return Err(e);
            }
            None => return Err(stop(FollowError::Interrupted, &l.applied)),
        };
        let seconds = started.elapsed().as_secs_f64();
        l.report.end = end.to_string();
        l.report.seconds_following = seconds;
        l.report.changes_per_second = l.report.changes as f64 / seconds.max(1e-9);
        tracing::info!(end = %end, "Reached the cut-over position: finishing the target.");
        let finished =
            frozen::finish(f, &run, &mut client, &loaded, &l.applier, &mapped, l.report).await;
        match finished {
            Ok(Finished::Done { verified, freeze }) => {
                spool::remove(f.spool_dir, &db, &start);
                report.verified = verified;
                report.seconds_freeze = freeze;
                return Ok(report);
            }
            Ok(Finished::Written(why)) => {
                tracing::warn!(
                    "{why}: those writes are not in the target, so the cut-over at {end} is taken back and \
                     following goes on; stop every write to the source, then run `pgconverge cutover` again."
                );
                follow_ledger::reopen_follow(&client, &end.to_string(), &why).await?;
            }
            Err(e) => {
                // The cut-over waits on this record: it reports the error instead of waiting out its timeout.
                crate::run::load::record_error(&client, &e).await;
                return Err(e);
            }
        }
    }
}

/// The follower's target session: large values compressed as the copy compressed them (`--toast-compression`);
/// commits that do not wait for their WAL flush. That is safe here: a group's changes and the ledger position they
/// reach commit in one transaction, so a target crash loses both together and `--resume --follow` applies them
/// again. The transaction that marks following done waits for its flush (`finish_follow`).
async fn follower_session(
    client: &tokio_postgres::Client,
    url: &str,
    f: &Follow<'_>,
) -> Result<(), Error> {
    crate::sink::copy::toast_compression(client, url, f.tuning.toast_compression).await?;
    crate::durable::session(client, "SET synchronous_commit = off")
        .await
        .map_err(crate::cutover::error::pg(
            "setting up the follower's session",
        ))?;
    Ok(())
}

/// `met` without the changes a table copied again by a live resume already holds (`recopied`: each such table
/// and the position of the snapshot it was copied at). A transaction is written to the binary log whole and a
/// snapshot's position lies between two of them, so a part that ends at or before that position belongs to a
/// transaction that does too.
fn settled(recopied: &std::collections::HashMap<String, Position>, met: Met) -> Met {
    let settle = |mut t: Transaction| {
        let end = &t.end;
        t.changes
            .retain(|c| recopied.get(&c.table).is_none_or(|at| !at.reached(end)));
        t
    };
    match met {
        Met::Transaction(t) if !recopied.is_empty() => Met::Transaction(settle(t)),
        Met::Part(t) if !recopied.is_empty() => Met::Part(settle(t)),
        other => other,
    }
}

/// The loop's state: where it is and what it did.
struct Loop<'r> {
    follower: Follower,
    applier: Applier,
    /// The position the ledger holds (every transaction before it applied) and the GTID of the last one.
    applied: String,
    gtid: Option<String>,
    report: &'r mut FollowReport,
    skip: Option<String>,
    /// (source table, target table) of every table the copy loaded.
    mapped: Vec<(String, String)>,
    /// The source had nothing more to send at the last look.
    caught_up: bool,
    /// Commit time of the last applied transaction.
    last_when: u32,
    /// Read while the group before was being applied, in binary log order: transactions, and at most one other
    /// event, last. Then the error that reading met, if any, returned once the events before it are applied.
    ahead: VecDeque<Met>,
    ahead_error: Option<BinlogError>,
    /// Source tables a live resume copied again, and the position of the snapshot they were copied at: a change
    /// to one of them in a transaction that ended there or before is already in the target.
    recopied: std::collections::HashMap<String, Position>,
}

impl Loop<'_> {
    /// Applies until the ledger holds an end position and the stream reached it; returns that position.
    async fn run(
        &mut self,
        client: &mut tokio_postgres::Client,
        lag: &mut mysql_async::Conn,
    ) -> Result<Position, FollowError> {
        let mut group: Vec<Transaction> = Vec::new();
        let mut group_changes = 0;
        let mut group_started = Instant::now();
        let (mut looked, mut logged) = (Instant::now() - PROGRESS_EVERY, Instant::now());
        let since = Instant::now();
        loop {
            // A group waits for more transactions until its time is up: under a steady stream of small ones this
            // makes one PostgreSQL commit per GROUP_TIME instead of one per source transaction.
            let wait = if group.is_empty() {
                IDLE
            } else {
                GROUP_TIME.saturating_sub(group_started.elapsed())
            };
            let met = match self.ahead.pop_front() {
                Some(met) => Some(met),
                None => match self.ahead_error.take() {
                    Some(e) => return Err(e.into()),
                    None => self.follower.next(wait).await?,
                },
            };
            self.caught_up = met.is_none();
            match met.map(|m| settled(&self.recopied, m)) {
                Some(Met::Transaction(t)) => {
                    if group.is_empty() {
                        group_started = Instant::now();
                    }
                    group_changes += t.changes.len();
                    group.push(t);
                    if group_changes < GROUP_CHANGES && group_started.elapsed() < GROUP_TIME {
                        continue;
                    }
                }
                // Read ahead of these would read the statement's successors, or the part's own rest, too soon.
                Some(Met::Statement { sql, at }) => {
                    self.flush(client, &mut group, false).await?;
                    self.statement(client, sql, at).await?;
                }
                Some(Met::Part(first)) => {
                    self.flush(client, &mut group, false).await?;
                    self.parts(client, first).await?;
                }
                None => {}
            }
            self.flush(client, &mut group, true).await?;
            group_changes = 0;
            if looked.elapsed() >= PROGRESS_EVERY || self.caught_up {
                let state = follow_ledger::follow_state(client)
                    .await
                    .map_err(|e| ledger_error(&self.applied, e))?;
                if let Some(end) = state.as_ref().and_then(|s| s.end_at.as_deref()) {
                    let end = Position::parse(end).expect("a cut-over position");
                    // The follower's position is the applied one only with nothing read ahead.
                    if self.ahead.is_empty() && self.follower.position().reached(&end) {
                        return Ok(end);
                    }
                }
                if looked.elapsed() >= PROGRESS_EVERY {
                    looked = Instant::now();
                    self.progress(client, lag, since, &mut logged).await;
                }
            }
        }
    }

    /// Applies the pending group (if any) and empties it. With `read_ahead`, the binary log is read on (into
    /// `ahead`, up to a group's worth of changes) while PostgreSQL applies the group: decoding the next group
    /// overlaps applying this one. Reading is never cut short mid-event: it stops between calls once the apply is
    /// done, so no half-read transaction is dropped.
    async fn flush(
        &mut self,
        client: &mut tokio_postgres::Client,
        group: &mut Vec<Transaction>,
        read_ahead: bool,
    ) -> Result<(), FollowError> {
        let Some(last) = group.last() else {
            return Ok(());
        };
        let started = Instant::now();
        let done = std::cell::Cell::new(false);
        let (applier, follower, ahead, ahead_error) = (
            &mut self.applier,
            &mut self.follower,
            &mut self.ahead,
            &mut self.ahead_error,
        );
        let apply = async {
            let r = applier.apply(client, group).await;
            done.set(true);
            r
        };
        let read = async {
            let mut changes: usize = ahead
                .iter()
                .map(|m| match m {
                    Met::Transaction(t) => t.changes.len(),
                    _ => GROUP_CHANGES,
                })
                .sum();
            while read_ahead && !done.get() && changes < GROUP_CHANGES && ahead_error.is_none() {
                match follower.next(AHEAD_WAIT).await {
                    Ok(Some(Met::Transaction(t))) => {
                        changes += t.changes.len();
                        ahead.push_back(Met::Transaction(t));
                    }
                    Ok(Some(other)) => {
                        ahead.push_back(other);
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => *ahead_error = Some(e),
                }
            }
        };
        let (applied, ()) = futures::future::join(apply, read).await;
        let applied = applied?;
        tracing::debug!(
            transactions = group.len(),
            changes = applied.changes,
            ms = started.elapsed().as_millis() as u64,
            "Group applied."
        );
        self.applied = last.end.to_string();
        self.gtid = last.gtid.clone().or(self.gtid.take());
        self.last_when = last.when;
        self.report.transactions += group.len() as u64;
        self.report.changes += applied.changes;
        self.report.tables_touched.extend(applied.tables);
        group.clear();
        Ok(())
    }

    /// A source transaction too big to hold, from its `first` part to its end: every part applied as it comes
    /// into one PostgreSQL transaction, committed with the ledger's record at its end. A kill or error before
    /// rolls all of it back, and the ledger still names the position before it.
    async fn parts(
        &mut self,
        client: &mut tokio_postgres::Client,
        first: Transaction,
    ) -> Result<(), FollowError> {
        let at = first.end.to_string();
        let mut tx = client.transaction().await.map_err(|e| {
            ledger_error(&at, crate::cutover::error::pg("opening a transaction")(e))
        })?;
        let mut applied = crate::run::follow::Applied::default();
        let mut part = first;
        let (mut parts, mut changes) = (0, 0);
        loop {
            self.applier
                .apply_part(&mut tx, &part, &mut applied)
                .await?;
            parts += 1;
            changes += part.changes.len();
            tracing::info!(at = %part.end, parts, changes, "Applied a part of a large source transaction.");
            let next = loop {
                // The rest of a committed transaction is already in the binary log: no idle ending here.
                if let Some(met) = self.follower.next(IDLE).await? {
                    break settled(&self.recopied, met);
                }
            };
            match next {
                Met::Part(p) => part = p,
                Met::Transaction(last) => {
                    self.applier
                        .apply_part(&mut tx, &last, &mut applied)
                        .await?;
                    self.applier.record(tx, &last, &applied).await?;
                    self.applied = last.end.to_string();
                    self.gtid = last.gtid.clone().or(self.gtid.take());
                    self.last_when = last.when;
                    self.report.transactions += 1;
                    self.report.changes += applied.changes;
                    self.report.tables_touched.extend(applied.tables);
                    return Ok(());
                }
                Met::Statement { at, .. } => {
                    return Err(FollowError::Binlog(BinlogError::Unfinished {
                        at: at.to_string(),
                        what: "a statement came".into(),
                    }))
                }
            }
        }
    }

    /// A statement in the followed database: one naming a copied table stops the run (unless the operator dealt
    /// with it: `--skip-statement`), any other is passed; either way the ledger moves past it once passed.
    async fn statement(
        &mut self,
        client: &tokio_postgres::Client,
        sql: String,
        at: Position,
    ) -> Result<(), FollowError> {
        let at = at.to_string();
        // A statement passed on a copied table changed it as the operator made the target match: the cut-over
        // verifies that table.
        let mut touched: Vec<String> = Vec::new();
        if let Some(table) = mentioned(&sql, self.mapped.iter().map(|(s, _)| s.as_str())) {
            if self.skip.as_deref() != Some(at.as_str()) {
                return Err(FollowError::Statement {
                    table: table.to_string(),
                    at,
                    sql,
                });
            }
            tracing::warn!(table, at = %at, sql = %sql, "Passing a statement on a copied table, as --skip-statement says.");
            self.applier.keys_unknown(table);
            touched.extend(
                self.mapped
                    .iter()
                    .filter(|(s, _)| s == table)
                    .map(|(_, t)| t.clone()),
            );
        } else {
            tracing::info!(at = %at, sql = %sql, "Passing a statement that names no copied table.");
        }
        crate::durable::execute(
            client,
            &follow_ledger::record_applied_sql(),
            &[&at, &self.gtid, &touched],
            || format!("statement at {at} passed"),
        )
        .await
        .map_err(|e| ledger_error(&at, crate::cutover::error::pg("recording the position")(e)))?;
        self.applied = at;
        Ok(())
    }

    /// Stores the progress for `status` and logs it now and then: changes applied, rate, and how far behind the
    /// source the target is (0 when the follower has read everything).
    async fn progress(
        &mut self,
        client: &tokio_postgres::Client,
        lag: &mut mysql_async::Conn,
        since: Instant,
        logged: &mut Instant,
    ) {
        let (now, _) = src::binlog_and_gtid(lag).await;
        let source_at = now.as_deref().and_then(Position::parse);
        let behind_bytes = match &source_at {
            _ if self.caught_up => Some(0),
            Some(s) if s.file == self.follower.position().file => {
                Some(s.offset.saturating_sub(self.follower.position().offset))
            }
            _ => None,
        };
        let behind_seconds = match self.caught_up {
            true => 0,
            false if self.last_when > 0 => {
                (jiff::Timestamp::now().as_second() - i64::from(self.last_when)).max(0)
            }
            false => 0,
        };
        let rate = self.report.changes as f64 / since.elapsed().as_secs_f64().max(1e-9);
        let p = serde_json::json!({
            "applied": self.applied,
            "source_at": now,
            "behind_bytes": behind_bytes,
            "behind_seconds": behind_seconds,
            "transactions": self.report.transactions,
            "changes": self.report.changes,
            "changes_per_second": (rate * 10.0).round() / 10.0,
        });
        if let Err(e) = follow_ledger::record_follow_progress(client, &p).await {
            tracing::warn!(error = %e, "Could not store the follow progress for status.");
        }
        if logged.elapsed() >= LOG_EVERY {
            *logged = Instant::now();
            tracing::info!(
                applied = %self.applied,
                changes = self.report.changes,
                changes_per_second = rate.round(),
                behind_seconds,
                behind_bytes = ?behind_bytes,
                "Following."
            );
        }
    }
}

fn ledger_error(at: &str, e: crate::cutover::TargetError) -> FollowError {
    FollowError::Apply(ApplyError::Target {
        at: at.to_string(),
        table: "the ledger".into(),
        message: e.to_string(),
        sqlstate: None,
    })
}

/// Refuses a source whose binary log cannot be followed, naming each lack and its fix.
pub async fn refuse_unfollowable(conn: &mut mysql_async::Conn) -> Result<(), Error> {
    let lacks = src::follow::readiness(conn).await?;
    if lacks.is_empty() {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "the source's binary log cannot be followed; nothing was changed: {}",
        lacks
            .iter()
            .map(|l| format!(
                "{} is {}, change capture needs {} ({})",
                l.what, l.found, l.needed, l.fix
            ))
            .collect::<Vec<_>>()
            .join("; ")
    )))
}

/// The copy's converters, rebuilt from the schemas (`source_tables`: those the copy knew) and mapping as they are
/// now: refused unless they are the ones the copy ran with (same mapping, same schemas on both sides).
fn works(
    f: &Follow<'_>,
    run: &ledger::Run,
    source_tables: &[SourceTable],
    target_tables: &[TargetTable],
) -> Result<Vec<Arc<TableWork>>, FollowError> {
    let inputs = ledger::Inputs::of(
        f.mapping,
        source_tables,
        target_tables,
        f.tuning.chunk_rows,
        f.tuning.chunk_bytes,
    );
    let mut changed = Vec::new();
    if inputs.mapping != run.inputs.mapping {
        changed.push("the mapping");
    }
    if inputs.source_schema != run.inputs.source_schema {
        changed.push("the source schema");
    }
    if inputs.target_schema != run.inputs.target_schema {
        changed.push("the target schema");
    }
    if !changed.is_empty() {
        return Err(FollowError::Changed(changed.join(", ")));
    }
    let contract = crate::contract::build(source_tables, target_tables, f.mapping);
    let lookups = run.lookups();
    Ok(contract
        .tables
        .iter()
        .map(|tp| {
            let s = source_tables.iter().find(|s| s.name == tp.source);
            let t = target_tables.iter().find(|t| t.name == tp.target);
            let (s, t) = (s.expect("contract source"), t.expect("contract target"));
            Arc::new(crate::run::work::table_work(
                tp, s, t, &lookups, f.mapping, false, false,
            ))
        })
        .collect())
}

/// The source tables as the copy knew them (those it planned and those the mapping skips), and the names of those
/// created since: the mapping says nothing of them, so their changes are not applied (a warning names each).
fn at_the_copy(
    run: &ledger::Run,
    mapping: &Mapping,
    source_tables: &[SourceTable],
) -> (Vec<SourceTable>, Vec<String>) {
    let (known, new): (Vec<&SourceTable>, Vec<&SourceTable>) =
        source_tables.iter().partition(|t| {
            run.chunks.contains_key(&t.name) || mapping.skip_tables.contains_key(&t.name)
        });
    (
        known.into_iter().cloned().collect(),
        new.into_iter().map(|t| t.name.clone()).collect(),
    )
}

/// This process's replica id: the source drops an older replica connected with the same id, so each follower
/// takes one of its own, far from the ids real replicas use.
fn replica_id() -> u32 {
    0x7000_0000 + std::process::id() % 0x0fff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::mysql::binlog::Change;

    fn at(file: &str, offset: u64) -> Position {
        Position {
            file: file.into(),
            offset,
        }
    }

    fn changes(tables: &[&str], end: Position) -> Transaction {
        Transaction {
            gtid: None,
            end,
            when: 0,
            changes: tables
                .iter()
                .map(|t| Change {
                    table: t.to_string(),
                    before: None,
                    after: None,
                })
                .collect(),
        }
    }

    fn tables(met: &Met) -> Vec<&str> {
        match met {
            Met::Transaction(t) | Met::Part(t) => {
                t.changes.iter().map(|c| c.table.as_str()).collect()
            }
            Met::Statement { .. } => Vec::new(),
        }
    }

    /// A recopied table's changes up to its snapshot's position are dropped, past it kept (a later binary log
    /// file is past any offset of an earlier one); other tables' changes are always kept, parts as transactions.
    #[test]
    fn a_recopied_table_takes_changes_only_past_its_snapshot() {
        let recopied = [("calendar".to_string(), at("bin.000009", 500))].into();
        let both = ["calendar", "callout"];
        let before = settled(
            &recopied,
            Met::Transaction(changes(&both, at("bin.000009", 400))),
        );
        assert_eq!(tables(&before), ["callout"]);
        let at_it = settled(&recopied, Met::Part(changes(&both, at("bin.000009", 500))));
        assert!(matches!(at_it, Met::Part(_)));
        assert_eq!(tables(&at_it), ["callout"]);
        let past = settled(
            &recopied,
            Met::Transaction(changes(&both, at("bin.000009", 501))),
        );
        assert_eq!(tables(&past), both);
        let next_file = settled(
            &recopied,
            Met::Transaction(changes(&both, at("bin.000010", 4))),
        );
        assert_eq!(tables(&next_file), both);
        let none = settled(
            &Default::default(),
            Met::Transaction(changes(&both, at("bin.000001", 4))),
        );
        assert_eq!(tables(&none), both);
    }
}
