//! `pgconverge migrate`: contract check, consistent snapshot, chunk plan, target preparation, the streaming
//! pipeline (readers -> rayon transforms + CSV encoding -> COPY writers), and finishing.
//!
//! ```text
//!  chunk queue ──> reader i (snapshot conn) ──rows──> Arrow batch ──rayon──> transform + CSV
//!                        │ announces each chunk on `ready` (bounded: writers)      │
//!                        └──────────────────────────────> per-chunk queue (bounded: QUEUE_BATCHES)
//!                                                                                  v
//!                                                   writer j: BEGIN; COPY; ledger row; COMMIT
//! ```
//! Memory is bounded: at most `readers + 2 * writers` chunks are in flight, each with at most `QUEUE_BATCHES`
//! encoded batches of about `batch_bytes` queued, plus one batch being transformed per reader.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use mysql_async::prelude::Queryable;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::hash::fnv;
use crate::mapping::{Mapping, Transform};
use crate::plan::TablePlan;
use crate::schema::{SourceTable, TargetTable};
use crate::sink::copy::{copy_chunk, ChunkLabel, Piece};
use crate::source::mysql::{self as src, ChunkRange, SnapshotInfo};
use crate::target::{self, qi, qualified};
use crate::transform::TableTransform;

/// Encoded batches queued per chunk between its reader and its writer: two hide COPY latency.
const QUEUE_BATCHES: usize = 2;

/// Tuning of one run; `Default` derives it from the machine.
#[derive(Debug, Clone)]
pub struct Options {
    pub readers: usize,
    pub writers: usize,
    pub chunk_rows: u64,
    pub chunk_bytes: u64,
    pub batch_rows: usize,
    pub max_memory: u64,
    pub replace: bool,
    pub source_quiesced: bool,
    pub csv_dir: Option<PathBuf>,
    pub parquet_dir: Option<PathBuf>,
    /// Send PostgreSQL's binary COPY format instead of CSV.
    pub binary: bool,
}

impl Default for Options {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Options {
            readers: cores.clamp(1, 4),
            writers: cores.clamp(1, 4),
            chunk_rows: 200_000,
            chunk_bytes: 64 << 20,
            batch_rows: 8192,
            max_memory: 512 << 20,
            replace: false,
            source_quiesced: false,
            csv_dir: None,
            parquet_dir: None,
            binary: false,
        }
    }
}

impl Options {
    /// Raw bytes per batch so that every queue together stays well inside `max_memory`: each batch exists up to
    /// three times (raw, converted, encoded) in each of the in-flight slots.
    pub fn batch_bytes(&self) -> usize {
        let slots = (self.readers + 2 * self.writers) as u64 * (QUEUE_BATCHES as u64 + 1) * 3;
        ((self.max_memory / 2) / slots.max(1)).clamp(64 << 10, 16 << 20) as usize
    }
}

/// Per-table outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableReport {
    pub target: String,
    pub chunks: usize,
    pub rows: u64,
    pub csv_bytes: u64,
}

/// Outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub app: String,
    pub snapshot: SnapshotInfo,
    pub tables: BTreeMap<String, TableReport>,
    pub rows: u64,
    pub csv_bytes: u64,
    pub seconds_prepare: f64,
    pub seconds_load: f64,
    pub seconds_finish: f64,
    pub seconds_total: f64,
    pub rows_per_second: f64,
    pub mb_per_second: f64,
}

pub(crate) struct Job {
    pub table: Arc<TableJob>,
    pub chunk: u32,
    pub range: ChunkRange,
    /// Earlier attempts that failed with a transient target error.
    pub attempt: u32,
}

pub(crate) struct TableJob {
    pub source: SourceTable,
    pub plan: TablePlan,
    pub transform: TableTransform,
    pub read_columns: Vec<String>,
    pub copy_sql: String,
}

/// What a run depends on; `--resume` refuses when any of it changed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Inputs {
    pub mapping: String,
    pub source_schema: String,
    /// Target schema without foreign keys (they are dropped while loading).
    pub target_schema: String,
    pub chunking: String,
}

impl Inputs {
    fn of(
        mapping: &Mapping,
        source: &[SourceTable],
        target: &[TargetTable],
        opts: &Options,
    ) -> Inputs {
        let src: Vec<_> = source
            .iter()
            .map(|t| (&t.name, &t.columns, &t.primary_key))
            .collect();
        let dst: Vec<_> = target
            .iter()
            .map(|t| {
                (
                    &t.name,
                    &t.columns,
                    t.constraints
                        .iter()
                        .filter(|c| c.kind != 'f')
                        .collect::<Vec<_>>(),
                    &t.indexes,
                )
            })
            .collect();
        let h = |v: String| format!("{:016x}", fnv(&v));
        Inputs {
            mapping: h(serde_json::to_string(mapping).unwrap_or_default()),
            source_schema: h(serde_json::to_string(&src).unwrap_or_default()),
            target_schema: h(serde_json::to_string(&dst).unwrap_or_default()),
            chunking: format!("rows={} bytes={}", opts.chunk_rows, opts.chunk_bytes),
        }
    }

    /// Names of the inputs that differ from `other`.
    pub fn differences(&self, other: &Inputs) -> Vec<&'static str> {
        let mut d = Vec::new();
        if self.mapping != other.mapping {
            d.push("the mapping file");
        }
        if self.source_schema != other.source_schema {
            d.push("the source schema");
        }
        if self.target_schema != other.target_schema {
            d.push("the target schema");
        }
        if self.chunking != other.chunking {
            d.push("the chunk plan options (--chunk-rows/--chunk-bytes)");
        }
        d
    }
}

/// A test aid: with `PGCONVERGE_PAUSE_AT=<point>` the run announces the point on stderr and sleeps there, so a
/// test can kill it at an exact place. Points: `prepared`, `chunk:<n>` (after n committed chunks),
/// `finishing:<n>` (after n foreign keys restored).
pub(crate) async fn pause_point(point: &str) {
    if std::env::var("PGCONVERGE_PAUSE_AT").is_ok_and(|p| p == point) {
        eprintln!("pgconverge: paused at {point}");
        let secs = std::env::var("PGCONVERGE_PAUSE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(600);
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    }
}

/// Times a chunk is copied again after a transient target error before the run gives up (resumably).
const CHUNK_RETRIES: u32 = 3;

/// A reader's chunk stream ended because its writer let go of it (the writer re-queued or failed the chunk).
fn writer_let_go(e: &Error) -> bool {
    matches!(e, Error::Internal(m) if m == WRITER_STOPPED)
}
const WRITER_STOPPED: &str = "writer stopped";

/// Opens a target connection, retrying a few times with backoff: the server may be restarting.
async fn reconnect(url: &str) -> Result<tokio_postgres::Client, Error> {
    let mut delay = std::time::Duration::from_millis(500);
    for attempt in 1.. {
        match crate::connect::target(url).await {
            Ok(c) => return Ok(c),
            Err(e) if attempt < 5 => {
                tracing::warn!(error = %e, attempt, "Target connection failed; retrying.");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the loop returns")
}

async fn interrupted() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Source key -> target key for each `remap_by_lookup` of the mapping, read before seeded rows are deleted.
async fn resolve_lookups(
    mapping: &Mapping,
    source: &mut mysql_async::Conn,
    target: &tokio_postgres::Client,
    source_tables: &[SourceTable],
) -> Result<crate::transform::Lookups, Error> {
    let mut out = HashMap::new();
    for tm in mapping.tables.values() {
        for cm in tm.columns.values() {
            let Some(Transform::RemapByLookup { table, by }) = &cm.transform else {
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
                    src::quote_ident(&pk),
                    src::quote_ident(by),
                    src::quote_ident(table)
                ))
                .await
                .map_err(|e| {
                    Error::Internal(format!("reading lookup {table}.{by} from the source: {e}"))
                })?;
            let ttable = mapping.target_table(table);
            let dst_rows = target
                .query(
                    &format!(
                        "SELECT {}::text, {}::text FROM {}",
                        qi(&pk),
                        qi(by),
                        qualified(&mapping.target_schema, ttable)
                    ),
                    &[],
                )
                .await
                .map_err(|e| {
                    Error::Internal(format!("reading lookup {table}.{by} from the target: {e}"))
                })?;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ledger {
    /// A read-only preflight: the ledger does not matter.
    Ignore,
    /// A new run: an existing ledger is an error.
    Fresh,
    /// `--resume`: the ledger must exist and match.
    Resume,
}

/// Everything up to the first write: contract, snapshot, lookups, chunk plan.
pub(crate) struct ReadSession {
    pub plan: crate::plan::Plan,
    pub source_tables: Vec<SourceTable>,
    pub target_tables: Vec<TargetTable>,
    pub snapshot: src::Snapshot,
    pub jobs: VecDeque<Job>,
    pub lookups: crate::transform::Lookups,
    pub chunk_plan: BTreeMap<String, Vec<ChunkRange>>,
    pub control: tokio_postgres::Client,
    pub previous: Option<target::Run>,
    pub inputs: Inputs,
}

pub(crate) async fn open_read_session(
    source_url: &str,
    target_url: &str,
    mapping: &Mapping,
    opts: &Options,
    ledger: Ledger,
) -> Result<ReadSession, Error> {
    let db = crate::connect::source_database(source_url)?;
    let mut meta = crate::connect::source(source_url).await?;
    let source_tables = crate::schema::mysql::introspect(&mut meta, &db).await?;
    meta.disconnect().await.ok();
    let control = crate::connect::target(target_url).await?;
    let target_tables = crate::schema::pg::introspect(&control, &mapping.target_schema).await?;
    let plan = crate::plan::build(&source_tables, &target_tables, mapping);
    if !plan.holds() {
        eprint!("{}", crate::plan::render_text(&plan));
        return Err(Error::Contract(plan.problems.len()));
    }
    let inputs = Inputs::of(mapping, &source_tables, &target_tables, opts);
    let previous = match ledger {
        Ledger::Ignore => None,
        _ => target::read_run(&control).await?,
    };
    match (&previous, ledger) {
        (Some(_), Ledger::Fresh) => {
            return Err(Error::Usage(format!(
                "the target holds the ledger of an interrupted run (schema {}); continue it with --resume, or reset \
                 the target for a new run",
                target::LEDGER_SCHEMA
            )))
        }
        (None, Ledger::Resume) => {
            return Err(Error::Usage("there is no interrupted run to resume in this target".into()))
        }
        (Some(run), Ledger::Resume) => {
            let diff = run.inputs.differences(&inputs);
            if !diff.is_empty() {
                return Err(Error::Usage(format!(
                    "cannot resume: {} changed since the interrupted run; reset the target and start again",
                    diff.join(", ")
                )));
            }
        }
        _ => {}
    }

    let mut snapshot = src::open_snapshot(source_url, opts.readers, opts.source_quiesced).await?;
    tracing::info!(locked = snapshot.info.locked, binlog = ?snapshot.info.binlog, "Source snapshot taken.");
    if let Some(run) = &previous {
        check_same_source(&run.snapshot, &snapshot.info, opts.source_quiesced)?;
    }
    let lookups = match &previous {
        Some(run) => run.lookups(),
        None => resolve_lookups(mapping, &mut snapshot.conns[0], &control, &source_tables).await?,
    };

    // Chunk plan (stored in the ledger, so a resumed run uses the very same ranges), biggest tables first.
    let mut jobs: Vec<Job> = Vec::new();
    let mut chunk_plan: BTreeMap<String, Vec<ChunkRange>> = BTreeMap::new();
    let mut table_plans: Vec<&TablePlan> = plan.tables.iter().collect();
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
                let want = (s.rows_estimate.div_ceil(opts.chunk_rows.max(1)))
                    .max(s.data_bytes.div_ceil(opts.chunk_bytes.max(1)))
                    .max(1) as usize;
                src::plan_ranges(&mut snapshot.conns[0], s, want).await?
            }
        };
        chunk_plan.insert(tp.source.clone(), ranges.clone());
        // The preflight has no PostgreSQL to parse JSON for it, so it parses on the client.
        let job = Arc::new(table_job(
            tp,
            s,
            t,
            &lookups,
            mapping,
            ledger == Ledger::Ignore,
            opts.binary,
        ));
        if opts.binary {
            if let Some((c, why)) = tp
                .columns
                .iter()
                .find_map(|c| crate::sink::binary::unsupported(&c.conversion).map(|w| (c, w)))
            {
                return Err(Error::Usage(format!(
                    "--copy-format binary does not support {why}: {}.{}; use the default CSV format",
                    tp.source, c.source
                )));
            }
        }
        for (i, range) in ranges.into_iter().enumerate() {
            jobs.push(Job {
                table: job.clone(),
                chunk: i as u32,
                range,
                attempt: 0,
            });
        }
    }
    Ok(ReadSession {
        plan,
        source_tables,
        target_tables,
        snapshot,
        jobs: interleave(jobs),
        lookups,
        chunk_plan,
        control,
        previous,
        inputs,
    })
}

/// Runs a whole migration, or resumes an interrupted one (`resume`).
pub async fn migrate(
    source_url: &str,
    target_url: &str,
    mapping: &Mapping,
    opts: &Options,
    resume: bool,
) -> Result<Report, Error> {
    let started = Instant::now();
    let ledger = if resume {
        Ledger::Resume
    } else {
        Ledger::Fresh
    };
    let ReadSession {
        plan,
        target_tables,
        snapshot,
        jobs,
        lookups,
        chunk_plan,
        mut control,
        previous,
        inputs,
        ..
    } = open_read_session(source_url, target_url, mapping, opts, ledger).await?;
    let loaded: Vec<&TargetTable> = plan
        .tables
        .iter()
        .map(|tp| {
            target_tables
                .iter()
                .find(|t| t.name == tp.target)
                .expect("planned target table")
        })
        .collect();
    let mut reports: BTreeMap<String, TableReport> = plan
        .tables
        .iter()
        .map(|tp| {
            let chunks = chunk_plan.get(&tp.source).map(Vec::len).unwrap_or(0);
            (
                tp.source.clone(),
                TableReport {
                    target: tp.target.clone(),
                    chunks,
                    ..Default::default()
                },
            )
        })
        .collect();

    let fks = match &previous {
        None => {
            target::check_occupied(
                &control,
                &mapping.target_schema,
                &loaded,
                &mapping.seeded_tables,
                opts.replace,
            )
            .await?;
            let run = target::Run::new(inputs, snapshot.info.clone(), chunk_plan, &lookups);
            target::create_ledger(&control, &run).await?;
            None
        }
        // A crash before the preparing transaction committed left the target untouched: prepare again.
        Some(run) if run.state == "preparing" => None,
        Some(run) => Some(run.dropped_fks.clone()),
    };
    let fks = match fks {
        Some(fks) => fks,
        None => {
            target::prepare(
                &mut control,
                &mapping.target_schema,
                &loaded,
                &mapping.seeded_tables,
                opts.replace,
            )
            .await?
        }
    };
    let prepared = Instant::now();
    pause_point("prepared").await;

    let done = target::loaded_chunks(&control).await?;
    let skipped = done.len();
    let jobs: VecDeque<Job> = jobs
        .into_iter()
        .filter(|j| !done.contains(&(j.table.plan.source.clone(), j.chunk)))
        .collect();
    if resume {
        tracing::info!(
            skipped,
            remaining = jobs.len(),
            "Resuming: loaded chunks are skipped."
        );
    }
    for dir in opts.csv_dir.iter().chain(opts.parquet_dir.iter()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Usage(format!("cannot create {}: {e}", dir.display())))?;
    }
    let work = async {
        let results = run_pipeline(source_url, target_url, jobs, snapshot.conns, opts).await?;
        let load_done = Instant::now();
        target::set_state(&control, "finishing").await?;
        target::finish(&control, &mapping.target_schema, &loaded, &fks).await?;
        target::drop_ledger(&control).await?;
        Ok::<_, Error>((results, load_done))
    };
    let (results, load_done) = tokio::select! {
        r = work => r?,
        _ = interrupted() => {
            return Err(Error::Interrupted);
        }
    };
    for (table, rows, bytes) in results {
        let r = reports.get_mut(&table).expect("reported table");
        r.rows += rows;
        r.csv_bytes += bytes;
    }
    let rows: u64 = reports.values().map(|r| r.rows).sum();
    let csv_bytes: u64 = reports.values().map(|r| r.csv_bytes).sum();
    let total = started.elapsed().as_secs_f64();
    Ok(Report {
        app: mapping.app.clone(),
        snapshot: snapshot.info,
        tables: reports,
        rows,
        csv_bytes,
        seconds_prepare: (prepared - started).as_secs_f64(),
        seconds_load: (load_done - prepared).as_secs_f64(),
        seconds_finish: load_done.elapsed().as_secs_f64(),
        seconds_total: total,
        rows_per_second: rows as f64 / total.max(1e-9),
        mb_per_second: csv_bytes as f64 / 1e6 / total.max(1e-9),
    })
}

/// A resumed run must read the same data as the interrupted one: same binlog position (or GTID), or the
/// operator's word that the source received no writes.
fn check_same_source(
    before: &SnapshotInfo,
    now: &SnapshotInfo,
    quiesced: bool,
) -> Result<(), Error> {
    let comparable = (before.binlog.is_some() && now.binlog.is_some())
        || (before.gtid.is_some() && now.gtid.is_some());
    let moved = comparable && (before.binlog != now.binlog || before.gtid != now.gtid);
    if quiesced {
        // The position is server-wide: writes to other databases on the same server move it too, so the
        // operator's word about this database decides.
        if moved {
            tracing::warn!(then = ?before.binlog, now = ?now.binlog, "Binary log moved since the interrupted run; trusting --source-quiesced.");
        }
        return Ok(());
    }
    if moved {
        return Err(Error::Usage(format!(
            "cannot resume: the source changed since the interrupted run (binlog {:?} / gtid {:?} then, {:?} / {:?} \
             now); reset the target and start again, or pass --source-quiesced if only other databases were written",
            before.binlog, before.gtid, now.binlog, now.gtid
        )));
    }
    if comparable {
        return Ok(());
    }
    Err(Error::Usage(
        "cannot resume: the source has no binary log position to prove it is unchanged; if no writes reached it \
         since the interrupted run, pass --source-quiesced"
            .into(),
    ))
}

/// The per-table part of the pipeline: what to read, how to convert, where to COPY.
fn table_job(
    tp: &TablePlan,
    s: &SourceTable,
    t: &TargetTable,
    lookups: &crate::transform::Lookups,
    mapping: &Mapping,
    validate_json: bool,
    binary: bool,
) -> TableJob {
    let mut read_columns: Vec<String> = tp.columns.iter().map(|c| c.source.clone()).collect();
    for k in &tp.primary_key {
        if !read_columns.contains(k) {
            read_columns.push(k.clone());
        }
    }
    let nullable: HashMap<String, bool> = t
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.nullable))
        .collect();
    let transform = TableTransform::new(
        tp,
        &read_columns,
        &nullable,
        lookups,
        mapping.source_offset_seconds().unwrap_or(0),
    );
    let transform = if validate_json {
        transform
    } else {
        transform.without_json_validation()
    };
    let cols: Vec<String> = transform.target_columns().iter().map(|c| qi(c)).collect();
    let copy_sql = format!(
        "COPY {} ({}) FROM STDIN (FORMAT {})",
        qualified(&mapping.target_schema, &t.name),
        cols.join(", "),
        if binary { "binary" } else { "csv" }
    );
    TableJob {
        source: s.clone(),
        plan: tp.clone(),
        transform,
        read_columns,
        copy_sql,
    }
}

/// Round-robin over tables, each table's chunks in order, biggest tables first.
fn interleave(jobs: Vec<Job>) -> VecDeque<Job> {
    let mut per: Vec<VecDeque<Job>> = Vec::new();
    for j in jobs {
        match per
            .iter_mut()
            .find(|q| q.front().is_some_and(|f| Arc::ptr_eq(&f.table, &j.table)))
        {
            Some(q) => q.push_back(j),
            None => per.push(VecDeque::from([j])),
        }
    }
    let mut out = VecDeque::new();
    while per.iter().any(|q| !q.is_empty()) {
        for q in per.iter_mut() {
            if let Some(j) = q.pop_front() {
                out.push_back(j);
            }
        }
    }
    out
}

struct Ready {
    label: ChunkLabel,
    copy_sql: String,
    rx: mpsc::Receiver<Piece>,
    table: Arc<TableJob>,
    range: ChunkRange,
    attempt: u32,
}

/// Turns a COPY failure that names a line into a violation naming the source row: the chunk's rows are read in
/// key order, so line N is the N-th row of the chunk's range.
async fn locate(
    source_url: &str,
    table: &TableJob,
    range: &ChunkRange,
    f: crate::sink::copy::CopyFailure,
) -> Error {
    let Some(row) = f.row else {
        return Error::Copy(Box::new(f));
    };
    let source_column = f
        .column
        .as_ref()
        .and_then(|c| table.plan.columns.iter().find(|p| &p.target == c))
        .map(|p| p.source.clone());
    let found = async {
        let mut conn = crate::connect::source(source_url).await.ok()?;
        let r = src::row_at(
            &mut conn,
            &table.source,
            range,
            source_column.as_deref(),
            row,
        )
        .await;
        conn.disconnect().await.ok();
        r.ok().flatten()
    }
    .await;
    match found {
        Some((key, value)) => Error::Violation(Box::new(crate::transform::Violation {
            table: table.plan.source.clone(),
            key,
            column: source_column.unwrap_or_else(|| "(row)".into()),
            rule: crate::transform::Rule::RejectedByTarget {
                message: f.message.clone(),
            },
            excerpt: value
                .map(|v| crate::transform::excerpt(&v))
                .unwrap_or_else(|| "-".into()),
            hint: Some(format!("{} chunk {} rolled back", f.table, f.chunk)),
        })),
        None => Error::Copy(Box::new(f)),
    }
}

async fn run_pipeline(
    source_url: &str,
    target_url: &str,
    jobs: VecDeque<Job>,
    readers: Vec<mysql_async::Conn>,
    opts: &Options,
) -> Result<Vec<(String, u64, u64)>, Error> {
    let total = jobs.len() as u64;
    // Chunks not yet committed; readers stay while it is above zero, since a chunk can come back for a retry.
    let pending = Arc::new(std::sync::atomic::AtomicUsize::new(jobs.len()));
    let queue = Arc::new(Mutex::new(jobs));
    let (ready_tx, ready_rx) = mpsc::channel::<Ready>(opts.writers.max(1));
    let ready_rx = Arc::new(tokio::sync::Mutex::new(ready_rx));
    let batch_bytes = opts.batch_bytes();
    let mut set = tokio::task::JoinSet::new();
    for mut conn in readers {
        let (queue, ready_tx, pending) = (queue.clone(), ready_tx.clone(), pending.clone());
        let batch_rows = opts.batch_rows;
        let parquet_dir = opts.parquet_dir.clone();
        let binary = opts.binary;
        set.spawn(async move {
            loop {
                let job = queue.lock().expect("queue lock").pop_front();
                let Some(job) = job else {
                    // A chunk in flight may still come back for another attempt: stay until all are committed.
                    if pending.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                };
                let t = job.table.clone();
                let (tx, rx) = mpsc::channel::<Piece>(QUEUE_BATCHES);
                let label = ChunkLabel {
                    table: t.plan.source.clone(),
                    chunk: job.chunk,
                    range: format!("{:?}", job.range),
                };
                if ready_tx
                    .send(Ready {
                        label,
                        copy_sql: t.copy_sql.clone(),
                        rx,
                        table: t.clone(),
                        range: job.range.clone(),
                        attempt: job.attempt,
                    })
                    .await
                    .is_err()
                {
                    break;
                }
                let parquet = match &parquet_dir {
                    Some(d) => Some(crate::sink::parquet::ChunkParquet::create(
                        d,
                        &t.plan.source,
                        job.chunk,
                        t.transform.out_schema(),
                    )?),
                    None => None,
                };
                let sql = src::chunk_sql(&t.source, &t.read_columns, &job.range);
                let schema = src::raw_schema(&t.read_columns);
                let convs = Arc::new(t.transform.conversions());
                let rows = src::read_chunk(
                    &mut conn,
                    &t.plan.source,
                    &sql,
                    schema,
                    batch_rows,
                    batch_bytes,
                    |raw| {
                        let (t, tx, parquet) = (t.clone(), tx.clone(), parquet.clone());
                        let convs = convs.clone();
                        async move {
                            let (otx, orx) = tokio::sync::oneshot::channel();
                            rayon::spawn(move || {
                                let r =
                                    t.transform.apply(&raw).map_err(Error::from).and_then(|b| {
                                        if let Some(p) = &parquet {
                                            p.write(&b)?;
                                        }
                                        let mut out = Vec::with_capacity(
                                            raw.get_array_memory_size() + raw.num_rows() * 8,
                                        );
                                        let multiline = if binary {
                                            crate::sink::binary::encode(&b, &convs, &mut out)
                                                .map_err(Error::Internal)?;
                                            Vec::new()
                                        } else {
                                            crate::sink::csv::encode(&b, &mut out)
                                        };
                                        Ok(Piece::Data {
                                            csv: Bytes::from(out),
                                            rows: b.num_rows() as u64,
                                            multiline,
                                        })
                                    });
                                let _ = otx.send(r);
                            });
                            let encoded = orx.await.map_err(|_| {
                                Error::Internal("transform worker vanished".into())
                            })??;
                            tx.send(encoded)
                                .await
                                .map_err(|_| Error::Internal(WRITER_STOPPED.into()))
                        }
                    },
                )
                .await;
                let rows = match rows {
                    Ok(rows) => rows,
                    // The writer dropped this chunk: it re-queued it for another attempt, or it failed and the
                    // run is stopping. Either way this reader moves on.
                    Err(e) if writer_let_go(&e) => continue,
                    Err(e) => return Err(e),
                };
                if let Some(p) = &parquet {
                    p.close()?;
                }
                // A refused End means the writer let go of the chunk too (see above).
                let _ = tx.send(Piece::End { rows }).await;
            }
            conn.query_drop("COMMIT").await.ok();
            conn.disconnect().await.ok();
            Ok::<Vec<(String, u64, u64)>, Error>(Vec::new())
        });
    }
    drop(ready_tx);
    let committed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for _ in 0..opts.writers.max(1) {
        let ready_rx = ready_rx.clone();
        let committed = committed.clone();
        let (queue, pending) = (queue.clone(), pending.clone());
        let url = target_url.to_string();
        let source_url = source_url.to_string();
        let csv_dir = opts.csv_dir.clone();
        let binary = opts.binary;
        set.spawn(async move {
            let mut client = crate::connect::target(&url).await?;
            let mut done = Vec::new();
            loop {
                let next = ready_rx.lock().await.recv().await;
                let Some(r) = next else { break };
                let file = match &csv_dir {
                    Some(d) => Some(
                        std::fs::File::create(d.join(format!("{}.{:05}.csv", r.label.table, r.label.chunk)))
                            .map_err(|e| Error::Usage(format!("cannot write the CSV snapshot in {}: {e}", d.display())))?,
                    ),
                    None => None,
                };
                let t0 = Instant::now();
                let (rows, bytes) = match copy_chunk(&mut client, &r.copy_sql, &r.label, r.rx, file, binary).await {
                    Ok(v) => v,
                    // The connection or the server failed, not the data: the transaction is gone, so the chunk
                    // goes back to the front of the queue and is read and copied again on a new connection.
                    Err(Error::Copy(f)) if f.transient && r.attempt < CHUNK_RETRIES => {
                        tracing::warn!(table = %r.label.table, chunk = r.label.chunk, attempt = r.attempt + 1, error = %f.message, "Transient target error; copying the chunk again.");
                        queue.lock().expect("queue lock").push_front(Job {
                            table: r.table.clone(),
                            chunk: r.label.chunk,
                            range: r.range.clone(),
                            attempt: r.attempt + 1,
                        });
                        client = reconnect(&url).await?;
                        continue;
                    }
                    Err(Error::Copy(f)) => return Err(locate(&source_url, &r.table, &r.range, *f).await),
                    Err(e) => return Err(e),
                };
                pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                tracing::debug!(table = %r.label.table, chunk = r.label.chunk, rows, bytes, ms = t0.elapsed().as_millis() as u64, "Chunk copied.");
                done.push((r.label.table.clone(), rows, bytes));
                let n = committed.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                pause_point(&format!("chunk:{n}")).await;
            }
            Ok(done)
        });
    }
    let mut all = Vec::new();
    let mut first_err: Option<Error> = None;
    while let Some(res) = set.join_next().await {
        match res {
            Ok(Ok(v)) => all.extend(v),
            Ok(Err(e)) => {
                // Keep the root cause: the other side of a broken pipe only reports that its peer stopped.
                let secondary = matches!(&e, Error::Internal(m) if m.contains("stopped"));
                if first_err.is_none()
                    || (!secondary
                        && matches!(&first_err, Some(Error::Internal(m)) if m.contains("stopped")))
                {
                    first_err = Some(e);
                }
                set.abort_all();
            }
            Err(j) if j.is_cancelled() => {}
            Err(j) => {
                first_err.get_or_insert(Error::Internal(format!("pipeline task failed: {j}")));
                set.abort_all();
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        // The last line of defence against a lost chunk: every planned chunk committed exactly once.
        None if all.len() as u64 != total => Err(Error::Internal(format!(
            "{} of {total} chunks committed; the run stopped without an error, which is a bug",
            all.len()
        ))),
        None => Ok(all),
    }
}
