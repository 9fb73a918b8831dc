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
use crate::mapping::{Mapping, Transform};
use crate::plan::{Plan, TablePlan};
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

struct Job {
    table: Arc<TableJob>,
    chunk: u32,
    range: ChunkRange,
}

struct TableJob {
    source: SourceTable,
    plan: TablePlan,
    transform: TableTransform,
    read_columns: Vec<String>,
    copy_sql: String,
}

/// Stable text of a run's inputs, for the ledger (resume refuses when it changes).
fn fingerprint(plan: &Plan, mapping: &Mapping) -> String {
    let p = serde_json::to_string(&plan.tables).unwrap_or_default();
    let m = serde_json::to_string(mapping).unwrap_or_default();
    format!("{:016x}{:016x}", fnv(&p), fnv(&m))
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
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

/// Runs a whole migration.
pub async fn migrate(
    source_url: &str,
    target_url: &str,
    mapping: &Mapping,
    opts: &Options,
) -> Result<Report, Error> {
    let started = Instant::now();
    let db = crate::connect::source_database(source_url)?;
    let mut meta = crate::connect::source(source_url).await?;
    let source_tables = crate::schema::mysql::introspect(&mut meta, &db).await?;
    meta.disconnect().await.ok();
    let mut control = crate::connect::target(target_url).await?;
    let target_tables = crate::schema::pg::introspect(&control, &mapping.target_schema).await?;
    let plan = crate::plan::build(&source_tables, &target_tables, mapping);
    if !plan.holds() {
        eprint!("{}", crate::plan::render_text(&plan));
        return Err(Error::Contract(plan.problems.len()));
    }

    let mut snapshot = src::open_snapshot(source_url, opts.readers, opts.source_quiesced).await?;
    tracing::info!(locked = snapshot.info.locked, binlog = ?snapshot.info.binlog, "Source snapshot taken.");
    let lookups =
        resolve_lookups(mapping, &mut snapshot.conns[0], &control, &source_tables).await?;

    // Chunk plan, biggest tables first so the long ones start early.
    let mut jobs: Vec<Job> = Vec::new();
    let mut loaded: Vec<&TargetTable> = Vec::new();
    let mut reports = BTreeMap::new();
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
        loaded.push(t);
        let want = (s.rows_estimate.div_ceil(opts.chunk_rows.max(1)))
            .max(s.data_bytes.div_ceil(opts.chunk_bytes.max(1)))
            .max(1) as usize;
        let ranges = src::plan_ranges(&mut snapshot.conns[0], s, want).await?;
        let read_columns: Vec<String> = tp.columns.iter().map(|c| c.source.clone()).collect();
        let mut read_columns_with_key = read_columns.clone();
        for k in &tp.primary_key {
            if !read_columns_with_key.contains(k) {
                read_columns_with_key.push(k.clone());
            }
        }
        let nullable: HashMap<String, bool> = t
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.nullable))
            .collect();
        let transform = TableTransform::new(
            tp,
            &read_columns_with_key,
            &nullable,
            &lookups,
            mapping.source_offset_seconds().unwrap_or(0),
        );
        let cols: Vec<String> = transform.target_columns().iter().map(|c| qi(c)).collect();
        let copy_sql = format!(
            "COPY {} ({}) FROM STDIN (FORMAT csv)",
            qualified(&mapping.target_schema, &t.name),
            cols.join(", ")
        );
        reports.insert(
            tp.source.clone(),
            TableReport {
                target: t.name.clone(),
                chunks: ranges.len(),
                ..Default::default()
            },
        );
        let job = Arc::new(TableJob {
            source: s.clone(),
            plan: tp.clone(),
            transform,
            read_columns: read_columns_with_key,
            copy_sql,
        });
        for (i, range) in ranges.into_iter().enumerate() {
            jobs.push(Job {
                table: job.clone(),
                chunk: i as u32,
                range,
            });
        }
    }
    // Interleave tables so that small tables do not wait behind one huge table's chunks.
    let jobs = interleave(jobs);

    target::check_occupied(
        &control,
        &mapping.target_schema,
        &loaded,
        &mapping.seeded_tables,
        opts.replace,
    )
    .await?;
    target::create_ledger(&control, &fingerprint(&plan, mapping)).await?;
    let fks = target::prepare(
        &mut control,
        &mapping.target_schema,
        &loaded,
        &mapping.seeded_tables,
        opts.replace,
    )
    .await?;
    let prepared = Instant::now();

    if let Some(dir) = &opts.csv_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Usage(format!("cannot create {}: {e}", dir.display())))?;
    }
    let results = run_pipeline(target_url, jobs, snapshot.conns, opts).await?;
    for (table, rows, bytes) in results {
        let r = reports.get_mut(&table).expect("reported table");
        r.rows += rows;
        r.csv_bytes += bytes;
    }
    let load_done = Instant::now();

    target::finish(&control, &mapping.target_schema, &loaded, &fks).await?;
    target::drop_ledger(&control).await?;
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
}

async fn run_pipeline(
    target_url: &str,
    jobs: VecDeque<Job>,
    readers: Vec<mysql_async::Conn>,
    opts: &Options,
) -> Result<Vec<(String, u64, u64)>, Error> {
    let queue = Arc::new(Mutex::new(jobs));
    let (ready_tx, ready_rx) = mpsc::channel::<Ready>(opts.writers.max(1));
    let ready_rx = Arc::new(tokio::sync::Mutex::new(ready_rx));
    let batch_bytes = opts.batch_bytes();
    let mut set = tokio::task::JoinSet::new();
    for mut conn in readers {
        let (queue, ready_tx) = (queue.clone(), ready_tx.clone());
        let batch_rows = opts.batch_rows;
        set.spawn(async move {
            loop {
                let job = queue.lock().expect("queue lock").pop_front();
                let Some(job) = job else { break };
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
                    })
                    .await
                    .is_err()
                {
                    break;
                }
                let sql = src::chunk_sql(&t.source, &t.read_columns, &job.range);
                let schema = src::raw_schema(&t.read_columns);
                let rows = src::read_chunk(
                    &mut conn,
                    &t.plan.source,
                    &sql,
                    schema,
                    batch_rows,
                    batch_bytes,
                    |raw| {
                        let (t, tx) = (t.clone(), tx.clone());
                        async move {
                            let (otx, orx) = tokio::sync::oneshot::channel();
                            rayon::spawn(move || {
                                let r = t.transform.apply(&raw).map(|b| {
                                    let mut out = Vec::with_capacity(
                                        raw.get_array_memory_size() + raw.num_rows() * 8,
                                    );
                                    crate::sink::csv::encode(&b, &mut out);
                                    Bytes::from(out)
                                });
                                let _ = otx.send(r);
                            });
                            let encoded = orx.await.map_err(|_| {
                                Error::Internal("transform worker vanished".into())
                            })??;
                            tx.send(Piece::Data(encoded))
                                .await
                                .map_err(|_| Error::Internal("writer stopped".into()))
                        }
                    },
                )
                .await?;
                if tx.send(Piece::End { rows }).await.is_err() {
                    return Err(Error::Internal("writer stopped".into()));
                }
            }
            conn.query_drop("COMMIT").await.ok();
            conn.disconnect().await.ok();
            Ok::<Vec<(String, u64, u64)>, Error>(Vec::new())
        });
    }
    drop(ready_tx);
    for _ in 0..opts.writers.max(1) {
        let ready_rx = ready_rx.clone();
        let url = target_url.to_string();
        let csv_dir = opts.csv_dir.clone();
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
                let (rows, bytes) = copy_chunk(&mut client, &r.copy_sql, &r.label, r.rx, file).await?;
                tracing::debug!(table = %r.label.table, chunk = r.label.chunk, rows, bytes, ms = t0.elapsed().as_millis() as u64, "Chunk copied.");
                done.push((r.label.table.clone(), rows, bytes));
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
        None => Ok(all),
    }
}
