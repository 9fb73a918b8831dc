//! `pgconverge verify`: proves the target holds what the source holds, and renders the verification checklist.
//!
//! Two pipelines run side by side: MySQL chunks inside one consistent snapshot through the very transform `migrate`
//! uses, and the target read back by key ranges inside one exported PostgreSQL snapshot. Every row becomes a
//! canonical digest (`canonical`), folded into per-table buckets by its key; equal buckets on both sides mean equal
//! rows. A differing bucket is read again on both sides to name the keys, columns and values that differ. Then
//! every foreign key must hold, every owned sequence must be past its column's maximum, and the mapping's
//! critical-data checks (source/target query pairs) must give equal results.

pub mod exported;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use mysql_async::prelude::Queryable;
use serde::Serialize;

use super::session::{self, ChunkWork, Endpoints, Ledger, Tuning, QUEUE_BATCHES};
use crate::canonical::{
    decodes, empty_buckets, merge, Buckets, Canon, Cells, Partial, Spec, BUCKETS,
};
use crate::convert::Conversion;
use crate::error::Error;
use crate::manifest::RecordedCheck;
use crate::mapping::Mapping;
use crate::pgbinary::Wire;
use crate::pipeline::{self, Stop, Transform, Work};
use crate::plan::TablePlan;
use crate::progress::Progress;
use crate::schema::TargetTable;
use crate::sink::Collect;
use crate::source::mysql::{self as src, ChunkRange, KeyBound};
use crate::source::pg::{self as tgt, CopyOutSpec, TargetReader};
use crate::transform::{excerpt, Violation};
use crate::util::answer::{show_row, Answer, Fold, Row};
use crate::util::sql::{orphan_sql, pg_ident, pg_qualified, pg_string, Dialect};

/// Everything `pgconverge verify` was asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoints: Endpoints,
    pub tuning: Tuning,
    /// The report as JSON.
    pub report: Option<PathBuf>,
    /// The checklist as Markdown.
    pub checklist: Option<PathBuf>,
    /// The operator's word that the source has not changed since the completed run (writes frozen): compare
    /// against the digests that run kept even when no binary log position proves it.
    pub source_unchanged: bool,
}

/// Differing buckets read again per table, and differences listed per table.
const DRILL_BUCKETS: usize = 4;
const DIFFERENCES_PER_TABLE: usize = 20;
/// Rows kept per table and side while locating differences (bounds memory whatever the damage).
const DRILL_ROWS: usize = 100_000;

/// One automatic item of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub phase: String,
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// One row that differs.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub key: String,
    /// `missing` (in the target), `extra` (only in the target) or `changed`.
    pub kind: &'static str,
    pub column: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
}

/// The content comparison of one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableResult {
    pub source: String,
    pub target: String,
    pub rows_source: u64,
    pub rows_target: u64,
    pub differing_buckets: usize,
    pub differences: Vec<Difference>,
}

impl TableResult {
    pub fn passed(&self) -> bool {
        self.rows_source == self.rows_target && self.differing_buckets == 0
    }
}

/// A manual item for the operator to tick.
#[derive(Debug, Clone, Serialize)]
pub struct Manual {
    pub phase: String,
    pub item: String,
}

/// What `verify` found. Format 1; documented in docs/verification-checklist.md.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub format: u32,
    pub tool_version: String,
    pub app: String,
    pub passed: bool,
    pub seconds: f64,
    /// `read`: the source was read again; `load`: the source side is the digests `migrate` computed from the
    /// rows it sent (differing buckets are still read from the source); `export`: the digests and check answers
    /// an export recorded in its manifest (differing buckets are read from its files).
    pub source_side: &'static str,
    pub rows_source: u64,
    pub rows_target: u64,
    pub tables: Vec<TableResult>,
    pub items: Vec<Item>,
    pub manual: Vec<Manual>,
}

/// The target side of one key range of a table.
struct TargetRange {
    table: Arc<Compared>,
    sql: String,
    /// How the table travels: binary COPY with each column's layout, or text (None).
    wires: Option<Arc<[Wire]>>,
    schema: Arc<Schema>,
}

/// One table as both sides see it.
struct Compared {
    source: String,
    /// The run's conversion of source rows, without client-side JSON parsing (the target already proved it).
    transform: Option<crate::transform::TableTransform>,
    canon: Canon,
    schema: Arc<Schema>,
    /// Target column list, quoted, in output order.
    select: String,
    /// Target key column and its conversion when the target can be read by ranges of it.
    range_key: Option<(String, Conversion)>,
}

impl Work for TargetRange {
    fn table(&self) -> &str {
        &self.table.source
    }
}

impl CopyOutSpec for TargetRange {
    fn copy_out_sql(&self) -> &str {
        &self.sql
    }
    fn schema(&self) -> Arc<Schema> {
        self.schema.clone()
    }
    fn binary(&self) -> bool {
        self.wires.is_some()
    }
}

/// What a pass collects: bucket digests, or the rows of some buckets.
#[derive(Clone)]
enum Mode {
    Digest,
    Rows(Arc<HashMap<String, HashSet<u32>>>),
}

enum Piece {
    Digest(String, Partial),
    Rows(String, Vec<(String, Vec<Option<String>>)>),
}

fn fold(mode: &Mode, canon: &Canon, table: &str, cells: Cells) -> Piece {
    match mode {
        Mode::Digest => Piece::Digest(table.to_string(), canon.digest_cells(cells)),
        Mode::Rows(wanted) => {
            let Some(buckets) = wanted.get(table) else {
                return Piece::Rows(table.to_string(), Vec::new());
            };
            let rows = (0..cells.batch().num_rows())
                .filter_map(|r| {
                    let key = canon.key(cells, r);
                    buckets
                        .contains(&Canon::bucket(&key))
                        .then(|| (key, canon.row(cells, r)))
                })
                .collect();
            Piece::Rows(table.to_string(), rows)
        }
    }
}

/// The source side: the run's own conversion, then the canonical digests.
struct SourceSide {
    canons: HashMap<String, Arc<Compared>>,
    mode: Mode,
    progress: Arc<Progress>,
}

impl Transform<ChunkWork> for SourceSide {
    type Output = Piece;
    type Error = Box<Violation>;

    fn apply(&self, work: &ChunkWork, raw: RecordBatch) -> Result<Piece, Box<Violation>> {
        let c = &self.canons[work.table()];
        self.progress.add(&c.source, raw.num_rows() as u64, 0);
        let out = c
            .transform
            .as_ref()
            .unwrap_or(&work.table.transform)
            .apply(&raw)?;
        Ok(fold(&self.mode, &c.canon, &c.source, Cells::Text(&out)))
    }
}

/// The target side: PostgreSQL's output is already the converted form.
struct TargetSide {
    mode: Mode,
    progress: Arc<Progress>,
}

impl Transform<TargetRange> for TargetSide {
    type Output = Piece;
    type Error = std::convert::Infallible;

    fn apply(&self, work: &TargetRange, raw: RecordBatch) -> Result<Piece, Self::Error> {
        self.progress
            .add(&work.table.source, raw.num_rows() as u64, 0);
        let cells = match &work.wires {
            Some(wires) => Cells::Binary(&raw, wires),
            None => Cells::Text(&raw),
        };
        Ok(fold(
            &self.mode,
            &work.table.canon,
            &work.table.source,
            cells,
        ))
    }
}

/// Canonical rows by key, of the buckets read again.
type KeyedRows = BTreeMap<String, Vec<Option<String>>>;
/// How one side of a pass ended.
type Ended<W> = Option<Result<Vec<pipeline::Done<W>>, Stop<W, Error>>>;

#[derive(Default)]
struct Acc {
    digests: HashMap<String, [Buckets; 2]>,
    rows: HashMap<String, [KeyedRows; 2]>,
}

impl Acc {
    fn add(&mut self, side: usize, piece: Piece) {
        match piece {
            Piece::Digest(table, partial) => {
                let sides = self
                    .digests
                    .entry(table)
                    .or_insert_with(|| [empty_buckets(), empty_buckets()]);
                merge(&mut sides[side], &partial);
            }
            Piece::Rows(table, rows) => {
                let map = &mut self.rows.entry(table).or_default()[side];
                for (k, v) in rows {
                    if map.len() < DRILL_ROWS {
                        map.insert(k, v);
                    }
                }
            }
        }
    }
}

/// What every pass of one verification shares.
struct Shared<'a> {
    settings: &'a Settings,
    canons: &'a HashMap<String, Arc<Compared>>,
    acc: &'a Arc<Mutex<Acc>>,
    progress: &'a Arc<Progress>,
}

/// Runs both sides of one pass into `acc`.
async fn pass(
    shared: &Shared<'_>,
    source_jobs: Vec<Arc<ChunkWork>>,
    target_jobs: Vec<Arc<TargetRange>>,
    mode: Mode,
    snapshot: Option<src::Snapshot>,
) -> Result<(), Error> {
    let Shared {
        settings,
        canons,
        acc,
        progress,
    } = *shared;
    let opts = &settings.tuning;
    // A pass with no source jobs (the source side is known from digests) never opens the source.
    let mut snapshot = match snapshot {
        Some(s) => Some(s),
        None if source_jobs.is_empty() => None,
        None => Some(
            src::open_snapshot(
                &settings.endpoints.source,
                opts.readers,
                opts.source_quiesced,
                opts.lock_wait,
            )
            .await?,
        ),
    };
    let readers = match snapshot.as_mut() {
        Some(s) if !source_jobs.is_empty() => opts.readers_of(s),
        _ => Vec::new(),
    };
    let clients = tgt::open_snapshot(&settings.endpoints.target, opts.writers).await?;
    let pg_readers: Vec<TargetReader> = clients
        .into_iter()
        .map(|c| TargetReader::new(c, opts.batch_rows, opts.batch_bytes()))
        .collect();
    let sinks = |side: usize, n: usize| -> Vec<_> {
        (0..n)
            .map(|_| {
                let acc = acc.clone();
                let collect =
                    Collect(move |p: Piece| acc.lock().expect("verify accumulator").add(side, p));
                crate::sink::Tally(collect, progress.clone())
            })
            .collect()
    };
    let engine = pipeline::Settings {
        depth: QUEUE_BATCHES,
        retries: 0,
    };
    let source_sinks = sinks(0, readers.len());
    let target_sinks = sinks(1, pg_readers.len());
    let source_mode = mode.clone();
    let source = async move {
        if source_jobs.is_empty() {
            return Ok(Vec::new());
        }
        pipeline::run(
            source_jobs,
            readers,
            SourceSide {
                canons: canons.clone(),
                mode: source_mode,
                progress: progress.clone(),
            },
            source_sinks,
            engine,
        )
        .await
    };
    let target = pipeline::run(
        target_jobs,
        pg_readers,
        TargetSide {
            mode,
            progress: progress.clone(),
        },
        target_sinks,
        engine,
    );
    let (s, t) = tokio::join!(
        pipeline::until_interrupted(source),
        pipeline::until_interrupted(target)
    );
    fn settle<W>(r: Ended<W>) -> Result<(), Error> {
        match r {
            None => Err(Error::ReadInterrupted),
            Some(Ok(_)) => Ok(()),
            Some(Err(Stop::Failed { error, .. })) => Err(error),
            Some(Err(Stop::Fault(f))) => Err(f.into()),
        }
    }
    settle(s)?;
    settle(t)?;
    Ok(())
}

/// How one table is compared: its canonical form, its target column list and how the target is cut in ranges.
fn compared(tp: &TablePlan, schema: &str) -> Compared {
    let range_key = tp
        .primary_key
        .first()
        .and_then(|k| tp.columns.iter().find(|c| &c.source == k))
        .filter(|c| {
            c.transform.is_none()
                && matches!(
                    c.conversion,
                    Conversion::Int { .. } | Conversion::Uuid { .. }
                )
        })
        .map(|c| (c.target.clone(), c.conversion.clone()));
    Compared {
        range_key,
        ..compared_by(&tp.source, &tp.target, &Spec::of(tp), schema)
    }
}

/// A table compared as `spec` says (read whole: no range key).
fn compared_by(source: &str, target: &str, spec: &Spec, schema: &str) -> Compared {
    Compared {
        source: source.to_string(),
        transform: None,
        canon: spec.canon(),
        schema: Arc::new(Schema::new(
            spec.columns
                .iter()
                .map(|(name, _, _)| Field::new(name, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        )),
        select: format!(
            "SELECT {} FROM {}",
            spec.columns
                .iter()
                .map(|(name, _, _)| pg_ident(name))
                .collect::<Vec<_>>()
                .join(", "),
            pg_qualified(schema, target)
        ),
        range_key: None,
    }
}

/// Each column's binary layout when every column of the table decodes into its canonical form from binary COPY
/// (PostgreSQL prints nothing, the reader parses no text); None reads the table in the text format.
async fn wires(
    control: &tokio_postgres::Client,
    c: &Compared,
) -> Result<Option<Arc<[Wire]>>, Error> {
    let types = tgt::column_types(control, &c.select).await?;
    let wires = types
        .iter()
        .zip(c.canon.conversions())
        .map(|(&(oid, is_enum), conv)| Wire::of(oid, is_enum).filter(|&w| decodes(w, conv)))
        .collect::<Option<Vec<Wire>>>()
        .filter(|w| w.len() == c.schema.fields().len());
    if wires.is_none() {
        tracing::debug!(table = %c.source, "Read back in the text format: a column's type has no binary decoder.");
    }
    Ok(wires.map(Arc::from))
}

/// The target's key ranges of a table: the source chunk boundaries, put in PostgreSQL's order of the key type so
/// that the ranges partition the target table whatever the source collation did.
async fn target_ranges(
    control: &tokio_postgres::Client,
    c: &Arc<Compared>,
    chunks: &[ChunkRange],
) -> Result<Vec<Arc<TargetRange>>, Error> {
    let wires = wires(control, c).await?;
    let schema = match &wires {
        Some(_) => Arc::new(Schema::new(
            c.schema
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), DataType::Binary, true))
                .collect::<Vec<_>>(),
        )),
        None => c.schema.clone(),
    };
    let format = if wires.is_some() {
        " (FORMAT binary)"
    } else {
        ""
    };
    let copy = |cond: String| {
        Arc::new(TargetRange {
            table: c.clone(),
            sql: format!("COPY ({}{cond}) TO STDOUT{format}", c.select),
            wires: wires.clone(),
            schema: schema.clone(),
        })
    };
    let Some((key, conv)) = &c.range_key else {
        return Ok(vec![copy(String::new())]);
    };
    let bounds: Vec<&KeyBound> = chunks.iter().filter_map(|r| r.hi.as_ref()).collect();
    if bounds.is_empty() {
        return Ok(vec![copy(String::new())]);
    }
    let mut literals: Vec<String> = match conv {
        Conversion::Int { .. } => {
            let mut v: Vec<i128> = bounds
                .iter()
                .filter_map(|b| match b {
                    KeyBound::Int(i) => Some(*i),
                    KeyBound::Text(t) => t.parse().ok(),
                    KeyBound::Binary(_) => None,
                })
                .collect();
            v.sort_unstable();
            v.into_iter().map(|i| i.to_string()).collect()
        }
        _ => {
            // Only uuid keys get here (see `compared`).
            let texts: Vec<String> = bounds
                .iter()
                .filter_map(|b| match b {
                    KeyBound::Int(i) => Some(i.to_string()),
                    KeyBound::Text(t) => Some(t.clone()),
                    KeyBound::Binary(_) => None,
                })
                .collect();
            control
                .query(
                    "SELECT b FROM unnest($1::text[]) AS b ORDER BY b::uuid",
                    &[&texts],
                )
                .await
                .map_err(crate::target::error::pg("ordering the key ranges"))?
                .iter()
                .map(|r| pg_string(r.get::<_, &str>(0)))
                .collect()
        }
    };
    literals.dedup();
    let k = pg_ident(key);
    let mut out = Vec::with_capacity(literals.len() + 1);
    let mut lo: Option<&String> = None;
    for hi in &literals {
        out.push(copy(match lo {
            None => format!(" WHERE {k} < {hi}"),
            Some(lo) => format!(" WHERE {k} >= {lo} AND {k} < {hi}"),
        }));
        lo = Some(hi);
    }
    if let Some(lo) = lo {
        out.push(copy(format!(" WHERE {k} >= {lo}")));
    }
    Ok(out)
}

/// Names the keys and columns that differ within the buckets read again.
/// Both values of a changed cell as safe excerpts that start a little before the first differing character.
fn excerpts(a: &Option<String>, b: &Option<String>) -> (String, String) {
    let (Some(x), Some(y)) = (a, b) else {
        let show = |v: &Option<String>| v.as_ref().map_or("NULL".into(), |s| excerpt(s.as_bytes()));
        return (show(a), show(b));
    };
    let first = x
        .char_indices()
        .zip(y.chars())
        .find(|((_, c), d)| c != d)
        .map(|((i, _), _)| i)
        .unwrap_or(x.len().min(y.len()));
    let from = x[..first]
        .char_indices()
        .rev()
        .nth(19)
        .map_or(0, |(i, _)| i);
    let cut = |s: &str| {
        let e = excerpt(&s.as_bytes()[from..]);
        if from > 0 {
            format!("...{e}")
        } else {
            e
        }
    };
    (cut(x), cut(y))
}

fn differences(columns: &[String], rows: &[KeyedRows; 2]) -> Vec<Difference> {
    let mut out = Vec::new();
    for (key, s) in &rows[0] {
        match rows[1].get(key) {
            None => out.push(Difference {
                key: key.clone(),
                kind: "missing",
                column: None,
                source: None,
                target: None,
            }),
            Some(t) => {
                for (i, (a, b)) in s.iter().zip(t).enumerate() {
                    if a != b {
                        let (source, target) = excerpts(a, b);
                        out.push(Difference {
                            key: key.clone(),
                            kind: "changed",
                            column: Some(columns[i].clone()),
                            source: Some(source),
                            target: Some(target),
                        });
                    }
                }
            }
        }
    }
    for key in rows[1].keys().filter(|k| !rows[0].contains_key(*k)) {
        out.push(Difference {
            key: key.clone(),
            kind: "extra",
            column: None,
            source: None,
            target: None,
        });
    }
    out.truncate(DIFFERENCES_PER_TABLE);
    out
}

/// Every foreign key of the loaded tables holds on the target. A key in `validated` (re-created and validated by
/// the run just finished) that the catalog shows validated is not scanned again.
async fn foreign_keys(
    control: &tokio_postgres::Client,
    schema: &str,
    tables: &[&TargetTable],
    validated: &HashSet<(String, String)>,
) -> Result<Vec<Item>, Error> {
    let proven: HashSet<(String, String)> = if validated.is_empty() {
        HashSet::new()
    } else {
        crate::target::foreign_key_states(control, schema)
            .await?
            .into_iter()
            .filter(|(k, valid)| *valid && validated.contains(k))
            .map(|(k, _)| k)
            .collect()
    };
    let mut items = Vec::new();
    for t in tables {
        let key = t.primary_key();
        for con in t.constraints.iter().filter(|c| c.kind == 'f') {
            let Some(parent) = &con.ref_table else {
                continue;
            };
            let name = format!("foreign key {}.{} -> {parent}", t.name, con.name);
            if proven.contains(&(t.name.clone(), con.name.clone())) {
                items.push(Item {
                    phase: "data integrity".into(),
                    name,
                    passed: true,
                    detail: "every value has its parent row: PostgreSQL validated the key over every row when this \
                             run re-created it (VALIDATE CONSTRAINT)"
                        .into(),
                });
                continue;
            }
            let pairs = crate::util::sql::key_pairs(&con.columns, &con.ref_columns);
            let sql = orphan_sql(
                Dialect::Postgres,
                &pg_qualified(schema, &t.name),
                &pg_qualified(schema, parent),
                &key,
                &pairs,
                3,
            );
            let rows = control
                .query(&sql, &[])
                .await
                .map_err(crate::target::error::pg("checking a foreign key"))?;
            let examples: Vec<String> = rows
                .iter()
                .map(|r| format!("{} -> {}", r.get::<_, String>(0), r.get::<_, String>(1)))
                .collect();
            items.push(Item {
                phase: "data integrity".into(),
                name,
                passed: examples.is_empty(),
                detail: if examples.is_empty() {
                    "every value has its parent row".into()
                } else {
                    format!(
                        "rows without parent (key -> value): {}",
                        examples.join("; ")
                    )
                },
            });
        }
    }
    Ok(items)
}

/// Every owned sequence of the loaded tables would hand out a value above its column's maximum.
async fn sequences(
    control: &tokio_postgres::Client,
    schema: &str,
    tables: &[&TargetTable],
) -> Result<Vec<Item>, Error> {
    let mut items = Vec::new();
    for t in tables {
        for c in &t.columns {
            let Some(seq) = &c.owned_sequence else {
                continue;
            };
            let row = control
                .query_one(
                    &format!(
                        "SELECT (SELECT max({col})::bigint FROM {tab}), last_value, is_called FROM {seq}",
                        col = pg_ident(&c.name),
                        tab = pg_qualified(schema, &t.name),
                        seq = seq,
                    ),
                    &[],
                )
                .await
                .map_err(crate::target::error::pg("checking a sequence"))?;
            let (max, last, called): (Option<i64>, i64, bool) =
                (row.get(0), row.get(1), row.get(2));
            let next = if called { last + 1 } else { last };
            let passed = max.is_none_or(|m| next > m);
            items.push(Item {
                phase: "data integrity".into(),
                name: format!("sequence of {}.{}", t.name, c.name),
                passed,
                detail: format!(
                    "next value {next}, column maximum {}",
                    max.map(|m| m.to_string())
                        .unwrap_or_else(|| "none (empty)".into())
                ),
            });
        }
    }
    Ok(items)
}

/// A MySQL value as a check's text (NULL as `None`).
fn source_text(v: mysql_async::Value) -> Option<String> {
    match v {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// The source's answer to a check query, folded as the rows arrive (bounded memory whatever the query returns).
pub(super) async fn source_answer(
    conn: &mut mysql_async::Conn,
    sql: &str,
) -> Result<Answer, String> {
    let result = conn.query_iter(sql).await.map_err(|e| e.to_string())?;
    let fold = result
        .reduce_and_drop(Fold::default(), |mut f, r: mysql_async::Row| {
            f.push(r.unwrap().into_iter().map(source_text).collect());
            f
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(fold.finish())
}

/// The target's answer to a check query, folded as the rows arrive.
async fn target_answer(client: &tokio_postgres::Client, sql: &str) -> Result<Answer, String> {
    use futures::TryStreamExt as _;
    let stream = client
        .simple_query_raw(sql)
        .await
        .map_err(|e| crate::connect::pg_message(&e))?;
    let mut stream = std::pin::pin!(stream);
    let mut fold = Fold::default();
    while let Some(m) = stream
        .try_next()
        .await
        .map_err(|e| crate::connect::pg_message(&e))?
    {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            fold.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
        }
    }
    Ok(fold.finish())
}

/// The mapping's critical-data checks: each source query and target query must give the same rows.
async fn critical_checks(
    mapping: &Mapping,
    settings: &Settings,
    control: &tokio_postgres::Client,
) -> Result<Vec<Item>, Error> {
    if mapping.checks.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = crate::connect::source(&settings.endpoints.source).await?;
    let mut items = Vec::new();
    for c in &mapping.checks {
        let started = Instant::now();
        let s = source_answer(&mut conn, &c.source).await;
        let t = target_answer(control, &c.target).await;
        tracing::debug!(check = %c.name, seconds = started.elapsed().as_secs_f64(), "Critical-data check run.");
        items.push(check_item(&c.name, &c.phase, s.as_ref(), t, "source"));
    }
    conn.disconnect().await.ok();
    Ok(items)
}

/// The mapping's critical-data checks against the source's answers recorded earlier (`source` says when).
async fn recorded_checks(
    control: &tokio_postgres::Client,
    checks: &[RecordedCheck],
    source: &str,
) -> Vec<Item> {
    let mut items = Vec::new();
    for c in checks {
        let t = target_answer(control, &c.target).await;
        items.push(check_item(
            &c.name,
            &c.phase,
            c.answer().as_ref(),
            t,
            source,
        ));
    }
    items
}

/// A critical-data check's checklist item from both sides' answers (`source` names where the source's came
/// from, in messages).
fn check_item(
    name: &str,
    phase: &str,
    s: Result<&Answer, &String>,
    t: Result<Answer, String>,
    source: &str,
) -> Item {
    let (passed, detail) = match (s, t) {
        (Ok(s), Ok(t)) if *s == t => (true, format!("{} on both sides", s.show())),
        (Ok(s), Ok(t)) => {
            let first = match s.first_difference(&t) {
                Some((n, a, b)) => {
                    let show = |r: Option<&Row>| {
                        r.map_or("no row".to_string(), |r| format!("[{}]", show_row(r)))
                    };
                    format!(
                        "; first difference at row {n}: {source} {} but target {}",
                        show(a),
                        show(b)
                    )
                }
                None => String::new(),
            };
            (
                false,
                format!("{source} {} but target {}{first}", s.show(), t.show()),
            )
        }
        (Err(e), _) => (false, format!("the {source} query failed: {e}")),
        (_, Err(e)) => (false, format!("the target query failed: {e}")),
    };
    Item {
        phase: phase.to_string(),
        name: name.to_string(),
        passed,
        detail,
    }
}

/// Runs the verification; the caller decides the exit code from `passed`.
pub async fn verify(mapping: &Mapping, settings: &Settings) -> Result<VerifyReport, Error> {
    verify_with(mapping, settings, None).await
}

/// What a fresh load hands to its own verification, so that the verification after it only reads the target.
#[derive(Debug, Clone)]
pub struct FromLoad {
    /// Canonical digests of every row sent, by source table.
    pub digests: HashMap<String, Buckets>,
    /// The source's answers to the mapping's critical-data checks, asked while the load ran (None: they could
    /// not be, the verification asks the source).
    pub answers: Option<Vec<RecordedCheck>>,
    /// Foreign keys (table, name) this run's finish re-created and PostgreSQL validated (`VALIDATE CONSTRAINT`
    /// scans every row for its parent): checking them again would repeat that very scan.
    pub validated: HashSet<(String, String)>,
}

/// As [`verify`]; with `from_load`, the source side of the row comparison is the digests the load computed from
/// the very rows it sent (only differing buckets are read from the source again), the source's check answers are
/// those asked during the load, and the keys the run validated are taken from the catalog.
async fn verify_with(
    mapping: &Mapping,
    settings: &Settings,
    from_load: Option<FromLoad>,
) -> Result<VerifyReport, Error> {
    let (sent, answers, validated) = match from_load {
        Some(f) => (Some(f.digests), f.answers, f.validated),
        None => (None, None, HashSet::new()),
    };
    let started = Instant::now();
    let control = crate::connect::target(&settings.endpoints.target).await?;
    let run = crate::target::ledger::read_run(&control).await?;
    if let Some(run) = run.as_ref().filter(|r| !r.is_completed()) {
        return Err(Error::Usage(format!(
            "the target holds the ledger of an unfinished {} (schema {}): finish it with `pgconverge {} --resume` \
             or return the target to its state before it with `pgconverge reset --yes`, then verify",
            run.command,
            crate::target::ledger::LEDGER_SCHEMA,
            run.command
        )));
    }
    let kept = match &run {
        Some(_) if sent.is_none() => crate::target::ledger::stored_digests(&control).await?,
        _ => Vec::new(),
    };
    drop(control);
    let session::Session {
        plan,
        target_tables,
        jobs,
        snapshot,
        chunk_plan,
        control,
        inputs,
        ..
    } = session::open(
        &settings.endpoints.source,
        &settings.endpoints.target,
        mapping,
        &settings.tuning,
        false,
        Ledger::Ignore,
    )
    .await?;
    let sent = match (sent, &run) {
        (Some(s), _) => Some(s),
        (None, Some(run)) if !kept.is_empty() => {
            reuse(run, &inputs, &snapshot.info, settings, kept)
        }
        _ => None,
    };
    let schema = mapping.target_schema.clone();
    let canons: HashMap<String, Arc<Compared>> = plan
        .tables
        .iter()
        .map(|tp| {
            let mut c = compared(tp, &schema);
            c.transform = jobs
                .iter()
                .find(|j| j.table() == tp.source)
                .map(|j| j.table.transform.clone().without_json_validation());
            (tp.source.clone(), Arc::new(c))
        })
        .collect();
    let mut target_jobs = Vec::new();
    for tp in &plan.tables {
        let chunks = chunk_plan.get(&tp.source).map(Vec::as_slice).unwrap_or(&[]);
        target_jobs.extend(target_ranges(&control, &canons[&tp.source], chunks).await?);
    }
    let loaded: Vec<&TargetTable> = target_tables
        .iter()
        .filter(|t| plan.tables.iter().any(|p| p.target == t.name))
        .collect();
    // Keys, sequences and the critical-data checks run on their own connections while the rows are compared:
    // much of their time is the servers' I/O.
    let independent = async {
        let t = Instant::now();
        let mut items = foreign_keys(&control, &schema, &loaded, &validated).await?;
        tracing::info!(seconds = t.elapsed().as_secs_f64(), "Foreign keys checked.");
        items.extend(sequences(&control, &schema, &loaded).await?);
        let t = Instant::now();
        items.extend(match &answers {
            Some(a) => recorded_checks(&control, a, "source (during the load)").await,
            None => critical_checks(mapping, settings, &control).await?,
        });
        tracing::info!(
            seconds = t.elapsed().as_secs_f64(),
            "Critical-data checks run."
        );
        Ok::<_, Error>(items)
    };
    let acc = Arc::new(Mutex::new(Acc::default()));
    // Each table's rows go through once per side read, in that side's chunks.
    let sides: u64 = if sent.is_some() { 1 } else { 2 };
    let source_jobs = jobs.iter().filter(|_| sent.is_none()).map(|j| j.table());
    let progress = Arc::new(super::session::progress(
        "verify",
        &plan,
        source_jobs.chain(target_jobs.iter().map(|j| j.table())),
        sides,
    ));
    progress.phase("compare");
    let source_side = if sent.is_some() { "load" } else { "read" };
    let first_source_jobs = match sent {
        Some(mut loaded) => {
            let mut a = acc.lock().expect("verify accumulator");
            for tp in &plan.tables {
                let sent = loaded.remove(&tp.source).unwrap_or_else(empty_buckets);
                a.digests.insert(tp.source.clone(), [sent, empty_buckets()]);
            }
            Vec::new()
        }
        None => jobs.clone(),
    };
    let shared = Shared {
        settings,
        canons: &canons,
        acc: &acc,
        progress: &progress,
    };
    let content = async {
        pass(
            &shared,
            first_source_jobs,
            target_jobs.clone(),
            Mode::Digest,
            Some(snapshot),
        )
        .await?;
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "Content compared."
        );
        Ok::<_, Error>(())
    };
    let (content, independent) = tokio::join!(content, independent);
    progress.finish();
    content?;
    let independent = independent?;

    let (mut results, wanted) = bucket_results(
        &acc.lock().expect("verify accumulator"),
        plan.tables.iter().map(|tp| (&tp.source, &tp.target)),
    );
    if !wanted.is_empty() {
        tracing::info!(
            tables = wanted.len(),
            "Content differs; reading the differing buckets again."
        );
        let source_jobs = jobs
            .iter()
            .filter(|j| wanted.contains_key(j.table()))
            .cloned()
            .collect();
        let target_jobs = target_jobs
            .iter()
            .filter(|j| wanted.contains_key(j.table()))
            .cloned()
            .collect();
        pass(
            &shared,
            source_jobs,
            target_jobs,
            Mode::Rows(Arc::new(wanted)),
            None,
        )
        .await?;
        let a = acc.lock().expect("verify accumulator");
        for r in results.iter_mut().filter(|r| r.differing_buckets > 0) {
            if let (Some(rows), Some(tp)) = (a.rows.get(&r.source), plan.table(&r.source)) {
                let columns: Vec<String> = tp.columns.iter().map(|c| c.target.clone()).collect();
                r.differences = differences(&columns, rows);
            }
        }
    }

    Ok(assemble(
        mapping,
        results,
        independent,
        started,
        source_side,
    ))
}

/// The digests a completed run kept, when they still describe the source: same mapping and schemas, and the
/// source provably unchanged (the same binary log position or GTID set as the run's snapshot) or declared so
/// (`--source-unchanged`). Otherwise `None`: the source is read.
fn reuse(
    run: &crate::target::ledger::Run,
    inputs: &crate::target::ledger::Inputs,
    now: &src::SnapshotInfo,
    settings: &Settings,
    kept: Vec<(String, String)>,
) -> Option<HashMap<String, Buckets>> {
    let same_inputs = run.inputs.mapping == inputs.mapping
        && run.inputs.source_schema == inputs.source_schema
        && run.inputs.target_schema == inputs.target_schema;
    let then = &run.snapshot;
    let proven = (then.binlog.is_some() && then.binlog == now.binlog)
        || (then.gtid.is_some() && then.gtid == now.gtid);
    if !same_inputs {
        tracing::info!("The mapping or a schema changed since the run: reading the source.");
        return None;
    }
    if !proven && !settings.source_unchanged {
        tracing::info!(
            "No binary log position proves the source unchanged since the run: reading it (--source-unchanged \
             trusts the operator instead)."
        );
        return None;
    }
    let mut out = HashMap::new();
    for (table, text) in kept {
        match crate::canonical::decode_buckets(&text) {
            Ok(b) => {
                out.insert(table, b);
            }
            Err(e) => {
                tracing::warn!(table, error = %e, "Unreadable kept digests: reading the source.");
                return None;
            }
        }
    }
    tracing::info!("Comparing the target with the digests of the rows the completed run sent.");
    Some(out)
}

/// Per table (source, target): the row counts of both sides and the buckets that differ; and the buckets to
/// read again to name the differences.
fn bucket_results<'a>(
    acc: &Acc,
    tables: impl Iterator<Item = (&'a String, &'a String)>,
) -> (Vec<TableResult>, HashMap<String, HashSet<u32>>) {
    let mut results = Vec::new();
    let mut wanted: HashMap<String, HashSet<u32>> = HashMap::new();
    let empty = empty_buckets();
    for (source, target) in tables {
        let (s, t) = match acc.digests.get(source) {
            Some([s, t]) => (s, t),
            None => (&empty, &empty),
        };
        let bad: Vec<u32> = (0..BUCKETS)
            .filter(|&b| s[b] != t[b])
            .map(|b| b as u32)
            .collect();
        if !bad.is_empty() {
            wanted.insert(
                source.clone(),
                bad.iter().take(DRILL_BUCKETS).copied().collect(),
            );
        }
        results.push(TableResult {
            source: source.clone(),
            target: target.clone(),
            rows_source: s.iter().map(|x| x.0).sum(),
            rows_target: t.iter().map(|x| x.0).sum(),
            differing_buckets: bad.len(),
            differences: Vec::new(),
        });
    }
    (results, wanted)
}

/// The report: a checklist item per table, then the independent items, the mapping's manual items.
fn assemble(
    mapping: &Mapping,
    results: Vec<TableResult>,
    independent: Vec<Item>,
    started: Instant,
    source_side: &'static str,
) -> VerifyReport {
    let mut items: Vec<Item> = results
        .iter()
        .map(|r| Item {
            phase: "data integrity".into(),
            name: format!("table {}", r.target),
            passed: r.passed(),
            detail: table_detail(r),
        })
        .collect();
    items.extend(independent);
    VerifyReport {
        format: 1,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        app: mapping.app.clone(),
        passed: items.iter().all(|i| i.passed),
        seconds: started.elapsed().as_secs_f64(),
        source_side,
        rows_source: results.iter().map(|r| r.rows_source).sum(),
        rows_target: results.iter().map(|r| r.rows_target).sum(),
        tables: results,
        items,
        manual: mapping
            .manual_checks
            .iter()
            .map(|m| Manual {
                phase: m.phase.clone(),
                item: m.item.clone(),
            })
            .collect(),
    }
}

fn table_detail(r: &TableResult) -> String {
    if r.passed() {
        return format!("{} rows on both sides, content equal", r.rows_source);
    }
    let mut s = format!(
        "source {} rows, target {} rows, {} of {BUCKETS} key buckets differ",
        r.rows_source, r.rows_target, r.differing_buckets
    );
    for d in &r.differences {
        s.push_str(&match d.kind {
            "changed" => format!(
                "; {} column {}: source {} target {}",
                d.key,
                d.column.as_deref().unwrap_or("?"),
                d.source.as_deref().unwrap_or(""),
                d.target.as_deref().unwrap_or("")
            ),
            "missing" => format!("; {} missing in the target", d.key),
            _ => format!("; {} only in the target", d.key),
        });
    }
    s
}

/// The checklist as Markdown: automatic items by phase, then the manual ones to tick.
pub fn render_markdown(r: &VerifyReport) -> String {
    let failed = r.items.iter().filter(|i| !i.passed).count();
    let mut s = format!(
        "# Verification checklist: {}\n\n{} ({} automatic checks, {} failed; {} rows in the source, {} in the \
         target; {:.1} s)\n",
        r.app,
        if r.passed { "PASSED" } else { "FAILED" },
        r.items.len(),
        failed,
        r.rows_source,
        r.rows_target,
        r.seconds
    );
    let mut phases: Vec<&str> = Vec::new();
    for p in r
        .items
        .iter()
        .map(|i| i.phase.as_str())
        .chain(r.manual.iter().map(|m| m.phase.as_str()))
    {
        if !phases.contains(&p) {
            phases.push(p);
        }
    }
    for p in phases {
        s.push_str(&format!("\n## {}\n\n", capitalized(p)));
        for i in r.items.iter().filter(|i| i.phase == p) {
            s.push_str(&format!(
                "- [{}] {}: {}{}\n",
                if i.passed { "x" } else { " " },
                i.name,
                if i.passed { "" } else { "FAILED: " },
                i.detail
            ));
        }
        for m in r.manual.iter().filter(|m| m.phase == p) {
            s.push_str(&format!("- [ ] (by hand) {}\n", m.item));
        }
    }
    s
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// One line (and one per failed item) for the end of `migrate`.
pub fn summary(r: &VerifyReport) -> String {
    let count = |prefix: &str| {
        r.items
            .iter()
            .filter(|i| i.name.starts_with(prefix))
            .count()
    };
    let mut s = format!(
        "Verified in {:.1}s{}: {} rows in the source, {} in the target; {} tables, {} foreign keys, {} sequences, \
         {} critical-data checks; {}.",
        r.seconds,
        match r.source_side {
            "load" => " against the digests of the rows sent",
            "export" => " against the export's digests and recorded checks",
            _ => "",
        },
        r.rows_source,
        r.rows_target,
        count("table "),
        count("foreign key "),
        count("sequence "),
        r.items.len() - count("table ") - count("foreign key ") - count("sequence "),
        if r.passed { "all equal" } else { "DIFFERENCES FOUND" }
    );
    for i in r.items.iter().filter(|i| !i.passed) {
        s.push_str(&format!("\n  FAILED {}: {}", i.name, i.detail));
    }
    s
}

/// The run-level error of a failed verification; `state` says what the target holds.
pub fn failure(r: &VerifyReport, state: &str) -> Error {
    let failed: Vec<&str> = r
        .items
        .iter()
        .filter(|i| !i.passed)
        .map(|i| i.name.as_str())
        .collect();
    Error::Verify(format!(
        "{} check(s) failed: {}; {state}, verify changed nothing: find the cause, then run `pgconverge verify` again",
        failed.len(),
        failed.join(", ")
    ))
}

/// The end of a loading command (`migrate`, `import`): its report written if asked, then exit 6 when the
/// verification after the load failed, otherwise the ways back and on.
pub fn conclude<T: Serialize>(
    command: &str,
    report: T,
    path: Option<&std::path::Path>,
    failed: Option<VerifyReport>,
) -> Result<T, Error> {
    if let Some(path) = path {
        session::write_report(path, command, &report)?;
    }
    match failed {
        Some(v) => Err(failure(
            &v,
            &format!(
                "the {} completed (`pgconverge reset --yes` returns the target to its state before it)",
                if command == "migrate" { "load" } else { command }
            ),
        )),
        None => {
            println!("{}", session::WAY_BACK);
            Ok(report)
        }
    }
}

/// Verification at the end of `migrate`: prints the summary line and writes the checklist if asked.
pub async fn after_load(
    mapping: &Mapping,
    endpoints: &Endpoints,
    tuning: &Tuning,
    loaded: Option<FromLoad>,
    checklist: Option<&std::path::Path>,
) -> Result<VerifyReport, Error> {
    let settings = Settings {
        endpoints: endpoints.clone(),
        tuning: tuning.clone(),
        report: None,
        checklist: checklist.map(Into::into),
        source_unchanged: false,
    };
    let report = verify_with(mapping, &settings, loaded).await?;
    println!("{}", summary(&report));
    if let Some(path) = checklist {
        write_checklist(path, &report)?;
    }
    Ok(report)
}

fn write_checklist(path: &std::path::Path, r: &VerifyReport) -> Result<(), Error> {
    std::fs::write(path, render_markdown(r)).map_err(|e| {
        Error::Usage(format!(
            "cannot write the checklist {}: {e}",
            path.display()
        ))
    })
}

/// `pgconverge verify`: runs it, prints the checklist, writes the report and checklist files if asked; a
/// failed verification is `Error::Verify` (exit 6).
pub async fn command(settings: &Settings) -> Result<VerifyReport, Error> {
    let mapping = Mapping::load(&settings.endpoints.mapping)?;
    let report = verify(&mapping, settings).await?;
    let md = render_markdown(&report);
    print!("{md}");
    if let Some(path) = &settings.report {
        session::write_report(path, "verify", &report)?;
    }
    if let Some(path) = &settings.checklist {
        write_checklist(path, &report)?;
    }
    if !report.passed {
        return Err(failure(
            &report,
            "the checklist above names each difference",
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_start_near_the_first_difference() {
        let long = "a".repeat(100);
        let (s, t) = excerpts(&Some(long.clone()), &Some(format!("{long}x")));
        assert!(s.starts_with("...") && t.ends_with("x\""), "{s} / {t}");
        assert_ne!(s, t);
        let (s, t) = excerpts(&Some("ab".into()), &None);
        assert_eq!((s.as_str(), t.as_str()), ("\"ab\"", "NULL"));
        let (s, t) = excerpts(&Some("é1".into()), &Some("é2".into()));
        assert_eq!((s.as_str(), t.as_str()), ("\"é1\"", "\"é2\""));
    }
}
