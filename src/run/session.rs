//! What every reading command opens first: the contract check, the comparison with an interrupted run's ledger,
//! the consistent snapshot, the resolved lookups and the chunk plan, as the list of chunk jobs (`work`) the
//! pipeline runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use mysql_async::prelude::Queryable;

use super::work::{interleave, table_work, ChunkWork};
use crate::chunk::{ChunkRange, SnapshotInfo};
use crate::config::Tuning;
use crate::contract::TableContract;
use crate::cutover::ledger::{self, Inputs, Run};
use crate::error::Error;
use crate::mapping::{Mapping, Rewrite};
use crate::schema::{SourceTable, TargetTable};
use crate::source::mysql::binlog::Position;
use crate::source::mysql::{self as src};
use crate::util::sql::{mysql_ident, pg_ident, pg_qualified};

/// Source key -> target key for each `remap_by_lookup` of the mapping, read before seeded rows are deleted.
async fn resolve_lookups(
    mapping: &Mapping,
    source: &mut mysql_async::Conn,
    target: &tokio_postgres::Client,
    source_tables: &[SourceTable],
) -> Result<crate::values::Lookups, Error> {
    let mut out = HashMap::new();
    for tm in mapping.tables.values() {
        for cm in tm.columns.values() {
            let Some(Rewrite::RemapByLookup { table, by }) = &cm.transform else {
                continue;
            };
            if out.contains_key(&(table.clone(), by.clone())) {
                continue;
            }
            let pk = source_tables
                .iter()
                .find(|t| &t.name == table)
                .and_then(|t| t.primary_key.first().cloned())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "remap_by_lookup names table {table}, which the source lacks"
                    ))
                })?;
            let src_rows: Vec<(Vec<u8>, Vec<u8>)> = source
                .query(format!(
                    "SELECT {}, {} FROM {}",
                    mysql_ident(&pk),
                    mysql_ident(by),
                    mysql_ident(table)
                ))
                .await
                .map_err(|source| src::SourceError::Query {
                    context: format!("reading lookup {table}.{by}"),
                    source,
                })?;
            let ttable = mapping.target_table(table);
            let dst_rows = target
                .query(
                    &format!(
                        "SELECT {}::text, {}::text FROM {}",
                        pg_ident(&pk),
                        pg_ident(by),
                        pg_qualified(&mapping.target_schema, ttable)
                    ),
                    &[],
                )
                .await
                .map_err(crate::cutover::error::pg(format!(
                    "reading lookup {table}.{by}"
                )))?;
            let by_name: HashMap<String, String> = dst_rows
                .iter()
                .map(|r| (r.get::<_, String>(1), r.get::<_, String>(0)))
                .collect();
            let mut map = HashMap::new();
            for (k, name) in src_rows {
                if let Some(t) = by_name.get(&String::from_utf8_lossy(&name).into_owned()) {
                    map.insert(k, t.clone());
                }
            }
            tracing::info!(table = %table, by = %by, remapped = map.len(), "Lookup resolved.");
            out.insert((table.clone(), by.clone()), Arc::new(map));
        }
    }
    Ok(out)
}

/// How a session treats an interrupted run's ledger in the target.
#[derive(Debug, Clone)]
pub enum Ledger {
    /// A read-only preflight: the ledger does not matter.
    Ignore,
    /// A new run: an existing ledger is an error.
    Fresh,
    /// `--resume`: the ledger must exist and match.
    Resume,
    /// `--resume --follow`: as `Resume`, and a source written since the interrupted run's snapshot is not refused:
    /// the session is live ([`Session::live`]).
    ResumeLive,
    /// `export --resume`: the interrupted run is the one an export directory's journal records (the target is
    /// only read).
    Journal(Box<Run>),
}

/// The progress display of `command` reading `plan`'s tables in `chunks` (the source table of each chunk the
/// command reads), each table's estimates counted `sides` times (`verify` reads both sides). A table with no
/// chunk expects nothing.
pub fn progress<'a>(
    command: &'static str,
    plan: &crate::contract::Contract,
    chunks: impl Iterator<Item = &'a str>,
    sides: u64,
) -> crate::progress::Progress {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for t in chunks {
        *count.entry(t).or_default() += 1;
    }
    crate::progress::Progress::with_chunks(
        command,
        plan.tables.iter().map(|tp| {
            (
                tp.source.clone(),
                sides * tp.rows_estimate,
                sides * tp.bytes_estimate,
                count.get(tp.source.as_str()).copied().unwrap_or(0),
            )
        }),
    )
}

/// Why a run (new or resumed) does not start on a target holding a completed run's ledger, and the ways on.
pub fn completed_refusal(run: &Run) -> Error {
    Error::Refused(format!(
        "the target holds a completed {} (its ledger, schema {}, keeps the baseline `pgconverge reset` restores): \
         nothing to resume, and no new run starts on it; to load again, first return the target to its state before that run with \
         `pgconverge reset --yes`, or accept its data and drop the baseline with `pgconverge reset --keep-data --yes`",
        run.command,
        ledger::LEDGER_SCHEMA
    ))
}

/// Everything up to the first write: contract, snapshot, lookups, chunk plan.
pub struct Session {
    pub contract: crate::contract::Contract,
    pub source_tables: Vec<SourceTable>,
    pub target_tables: Vec<TargetTable>,
    pub snapshot: src::Snapshot,
    pub jobs: Vec<Arc<ChunkWork>>,
    pub lookups: crate::values::Lookups,
    pub chunk_plan: BTreeMap<String, Vec<ChunkRange>>,
    pub control: tokio_postgres::Client,
    pub previous: Option<Run>,
    pub inputs: Inputs,
    /// A resume whose source was written since the interrupted run's snapshot (`Ledger::ResumeLive` only): the
    /// tables not completely copied are copied again from this session's snapshot, and the follower applies the
    /// changes since the interrupted run's snapshot (still in the source's binary log) to the others.
    pub live: bool,
}

/// Introspects both sides, checks the contract, compares with an interrupted run's ledger (as `ledger` says),
/// takes the snapshot and plans the chunks. Nothing is written anywhere.
pub async fn open(
    source_url: &str,
    target_url: &str,
    mapping: &Mapping,
    opts: &Tuning,
    binary: bool,
    ledger: Ledger,
) -> Result<Session, Error> {
    let db = crate::connect::source_database(source_url)?;
    let mut meta = crate::connect::source(source_url).await?;
    let source_tables = crate::schema::mysql::introspect(&mut meta, &db).await?;
    meta.disconnect().await.ok();
    let control = crate::connect::target(target_url).await?;
    let target_tables = crate::schema::pg::introspect(&control, &mapping.target_schema).await?;
    let plan = crate::contract::build(&source_tables, &target_tables, mapping);
    if !plan.holds() {
        eprint!("{}", crate::contract::render_text(&plan));
        return Err(Error::Contract(plan.problems.len()));
    }
    let inputs = Inputs::of(
        mapping,
        &source_tables,
        &target_tables,
        opts.chunk_rows,
        opts.chunk_bytes,
    );
    let ignore = matches!(ledger, Ledger::Ignore);
    let previous = match &ledger {
        Ledger::Ignore => None,
        Ledger::Journal(run) => Some((**run).clone()),
        Ledger::Fresh | Ledger::Resume | Ledger::ResumeLive => ledger::read_run(&control).await?,
    };
    if let Some(run) = previous.as_ref().filter(|r| r.is_completed()) {
        if !ignore {
            return Err(completed_refusal(run));
        }
    }
    match (&previous, &ledger) {
        (Some(_), Ledger::Fresh) => {
            return Err(Error::Refused(format!(
                "the target holds the ledger of an interrupted run (schema {}); continue it with --resume, or return \
                 the target to its state before it with `pgconverge reset --yes`",
                ledger::LEDGER_SCHEMA
            )))
        }
        (None, Ledger::Resume | Ledger::ResumeLive) => return Err(nothing_to_resume(&control).await?),
        (Some(run), Ledger::Resume | Ledger::ResumeLive) if run.command == "import" => {
            return Err(Error::Refused(
                "the interrupted run in this target is an import; continue it with `pgconverge import --resume` \
                 and the same export directory, or return the target to its state before it with \
                 `pgconverge reset --yes`"
                    .into(),
            ))
        }
        (Some(run), Ledger::Resume | Ledger::ResumeLive | Ledger::Journal(_)) => {
            let diff = run.inputs.differences(&inputs);
            if !diff.is_empty() {
                return Err(Error::Refused(format!(
                    "cannot resume: {} changed since the interrupted run; {}",
                    diff.join(", "),
                    start_again(&ledger)
                )));
            }
        }
        _ => {}
    }

    // A mapping with critical-data checks gets one more connection in the snapshot to ask them on.
    let mut snapshot = src::open_snapshot(
        source_url,
        opts.readers,
        !mapping.checks.is_empty(),
        opts.source_quiesced,
        opts.lock_wait,
    )
    .await?;
    tracing::info!(snapshot = %snapshot.info.describe(), "Source snapshot taken.");
    let mut live = false;
    if let Some(run) = &previous {
        let moved = check_same_source(
            &run.snapshot,
            &snapshot.info,
            opts.source_quiesced,
            matches!(ledger, Ledger::ResumeLive),
            start_again(&ledger),
        )?;
        if moved {
            live_resumable(run, &mut snapshot, start_again(&ledger)).await?;
            live = true;
        }
    }
    let lookups = match &previous {
        Some(run) => run.lookups(),
        None => resolve_lookups(mapping, &mut snapshot.conns[0], &control, &source_tables).await?,
    };

    // Chunk plan (stored in the ledger, so a resumed run uses the very same ranges), biggest tables first.
    let mut jobs: Vec<ChunkWork> = Vec::new();
    let mut chunk_plan: BTreeMap<String, Vec<ChunkRange>> = BTreeMap::new();
    let mut table_plans: Vec<&TableContract> = plan.tables.iter().collect();
    table_plans.sort_by_key(|t| std::cmp::Reverse(t.bytes_estimate.max(t.rows_estimate)));
    for tp in table_plans {
        let s = source_tables
            .iter()
            .find(|s| s.name == tp.source)
            .expect("planned source table");
        let t = target_tables
            .iter()
            .find(|t| t.name == tp.target)
            .expect("planned target table");
        let ranges = match previous.as_ref().and_then(|r| r.chunks.get(&tp.source)) {
            Some(r) => r.clone(),
            None => {
                // information_schema's estimates can be stale (a table estimated at 0 rows may hold millions):
                // below one chunk's worth the rows are counted, up to just past that worth, in the snapshot.
                let rows =
                    src::rows_at_least(&mut snapshot.conns[0], s, s.rows_estimate, opts.chunk_rows)
                        .await?;
                let want = (rows.div_ceil(opts.chunk_rows.max(1)))
                    .max(s.data_bytes.div_ceil(opts.chunk_bytes.max(1)))
                    .max(1) as usize;
                src::plan_ranges(&mut snapshot.conns[0], s, want).await?
            }
        };
        chunk_plan.insert(tp.source.clone(), ranges.clone());
        // The preflight has no PostgreSQL to parse JSON for it, so it parses on the client.
        let job = Arc::new(table_work(tp, s, t, &lookups, mapping, ignore, binary));
        for (i, range) in ranges.into_iter().enumerate() {
            jobs.push(ChunkWork::new(job.clone(), i as u32, range));
        }
    }
    Ok(Session {
        contract: plan,
        source_tables,
        target_tables,
        snapshot,
        jobs: interleave(jobs),
        lookups,
        chunk_plan,
        control,
        previous,
        inputs,
        live,
    })
}

/// What to do when an interrupted run cannot be resumed.
fn start_again(ledger: &Ledger) -> &'static str {
    match ledger {
        Ledger::Journal(_) => {
            "start the export again with `pgconverge export --replace` (it empties the directory)"
        }
        _ => {
            "return the target to its state before it with `pgconverge reset --yes` and start again"
        }
    }
}

/// A resumed run must read the same data as the interrupted one: same binlog position (or GTID), or the
/// operator's word that the source received no writes. With `follow` (`--resume --follow`) a source written since
/// is no refusal: true says so, and the run goes on live.
fn check_same_source(
    before: &SnapshotInfo,
    now: &SnapshotInfo,
    quiesced: bool,
    follow: bool,
    start_again: &str,
) -> Result<bool, Error> {
    let moved = now.moved_since(before);
    if quiesced {
        // The position is server-wide: writes to other databases on the same server move it too, so the
        // operator's word about this database decides.
        if moved == Some(true) {
            tracing::warn!(then = ?before.binlog, now = ?now.binlog, "Binary log moved since the interrupted run; trusting --source-quiesced.");
        }
        return Ok(false);
    }
    match moved {
        Some(true) if follow => return Ok(true),
        Some(true) => {
            return Err(Error::Refused(format!(
                "cannot resume: the source changed since the interrupted run (binlog {:?} / gtid {:?} then, {:?} / \
                 {:?} now); {start_again}, or pass --source-quiesced if only other databases were written, or \
                 --follow to copy the unfinished tables again and follow the source's changes since",
                before.binlog, before.gtid, now.binlog, now.gtid
            )))
        }
        Some(false) => return Ok(false),
        None => {}
    }
    Err(Error::Refused(
        "cannot resume: the source has no binary log position to prove it is unchanged; if no writes reached it \
         since the interrupted run, pass --source-quiesced"
            .into(),
    ))
}

/// A live resume copies part of the tables at this session's snapshot and follows the rest from the interrupted
/// run's: that needs this snapshot to be one instant (taken under the global read lock) at a known position, and
/// the source's binary log still to hold the interrupted run's snapshot position. Refused before anything is
/// written otherwise.
async fn live_resumable(
    run: &Run,
    snapshot: &mut src::Snapshot,
    start_again: &str,
) -> Result<(), Error> {
    let refuse = |why: String| {
        Error::Refused(format!(
            "cannot resume on a source written since the interrupted run: {why}; {start_again}"
        ))
    };
    if !snapshot.info.locked || snapshot.info.binlog.is_none() {
        return Err(refuse(
            "this run's snapshot was not taken under the global read lock at a binary log position (the source \
             user needs RELOAD), so the tables it copies again would not be of one instant"
                .into(),
        ));
    }
    let from = run.snapshot.binlog.as_deref().and_then(Position::parse);
    let Some(from) = from else {
        return Err(refuse(
            "the interrupted run's snapshot has no binary log position to follow the changes from"
                .into(),
        ));
    };
    if !crate::source::mysql::binlog::available(&mut snapshot.conns[0], &from).await? {
        return Err(refuse(format!(
            "the source no longer holds its binary log at the interrupted run's snapshot position {from} (purged), \
             so the changes made since cannot be followed"
        )));
    }
    tracing::warn!(
        then = %from,
        now = ?snapshot.info.binlog,
        "The source was written since the interrupted run: the tables it did not finish are copied again from this \
         snapshot, the changes since its snapshot are followed, and every table is verified at the cut-over."
    );
    Ok(())
}

/// The target table of each of the contract's tables, in its order.
pub fn loaded<'a>(
    contract: &crate::contract::Contract,
    target: &'a [TargetTable],
) -> Vec<&'a TargetTable> {
    contract
        .tables
        .iter()
        .map(|tp| {
            target
                .iter()
                .find(|t| t.name == tp.target)
                .expect("planned target table")
        })
        .collect()
}

/// The ledger record of a new run of `command` in this session.
pub fn new_run(s: &Session, command: &str, mapping: &Mapping) -> Run {
    let mut run = Run::new(
        s.inputs.clone(),
        s.snapshot.info.clone(),
        s.chunk_plan.clone(),
        &s.lookups,
    );
    run.command = command.into();
    run.target_schema = mapping.target_schema.clone();
    run.tables = loaded(&s.contract, &s.target_tables)
        .iter()
        .map(|t| t.name.clone())
        .collect();
    run
}

/// For a run whose snapshot was taken without the global read lock (`--source-quiesced`): why the target cannot
/// be called verified, when the source database was written since `snapshot` (then each reader may have seen its
/// own instant), read at sign-off. The position is server-wide, so when it moved, the binary log's events say
/// whether this database was written; when they cannot be read, the move alone decides.
pub async fn moved_during(url: &str, snapshot: &SnapshotInfo) -> Result<Option<String>, Error> {
    let now = src::position(url).await?;
    match now.moved_since(snapshot) {
        None => {
            tracing::warn!(
                "The source shows no binary log position or GTID set to this user, so nothing proves it received \
                 no writes during the run, as --source-quiesced promised (grant it REPLICATION CLIENT to check)."
            );
            return Ok(None);
        }
        Some(false) => return Ok(None),
        Some(true) => {}
    }
    let db = crate::connect::source_database(url)?;
    let written = match &snapshot.binlog {
        Some(from) => {
            let mut conn = crate::connect::source(url).await?;
            let written = src::tables_written_since(&mut conn, from, &db).await?;
            conn.disconnect().await.ok();
            written
        }
        None => None,
    };
    let what = match written {
        Some(tables) if tables.is_empty() => {
            tracing::info!(
                then = %snapshot.describe(),
                now = %now.describe(),
                "The server's binary log moved during the run, but none of its events touched database {db}."
            );
            return Ok(None);
        }
        Some(tables) => format!(
            "database {db} was written during the run (tables {}: the binary log's events since the snapshot)",
            tables.into_iter().collect::<Vec<_>>().join(", ")
        ),
        None => format!(
            "the source's binary log moved during the run, and its events cannot be read to tell whether database \
             {db} was written (the position is server-wide: grant the source user REPLICATION CLIENT so that they \
             can be)"
        ),
    };
    Ok(Some(format!(
        "{what}, although --source-quiesced promised no writes (at the snapshot: {}; at sign-off: {}); without \
         the global read lock each reader saw its own instant, so the target is loaded but cannot be called \
         verified: stop the writes, return the target to its state before the run with `pgconverge reset --yes` \
         and migrate again",
        snapshot.describe(),
        now.describe()
    )))
}

/// Why `--resume` finds nothing to continue: no ledger at all, or one that records no run.
pub async fn nothing_to_resume(control: &tokio_postgres::Client) -> Result<Error, Error> {
    Ok(Error::Refused(
        match ledger::is_empty_ledger(control).await? {
            true => ledger::empty_ledger_message(),
            false => format!(
                "there is no interrupted run to resume in this target (no ledger, schema {}): nothing was \
                 changed by an earlier run; start one with the same command without --resume",
                crate::cutover::LEDGER_SCHEMA
            ),
        },
    ))
}
