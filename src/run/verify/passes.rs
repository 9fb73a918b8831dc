//! The passes of a verification: both sides read at once (MySQL chunks in the run's snapshot through the run's
//! own conversion, the target by key ranges in one exported PostgreSQL snapshot, in binary COPY where every column
//! decodes), each row folded into its table's canonical digest buckets, or, when buckets differ, the rows of those
//! buckets kept to name the differences.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};

use crate::canonical::{decodes, empty_buckets, merge, Buckets, Canon, Cells, Partial, Spec};
use crate::chunk::{ChunkRange, KeyBound};
use crate::config::{VerifySettings as Settings, QUEUE_BATCHES};
use crate::contract::TableContract;
use crate::convert::Conversion;
use crate::error::Error;
use crate::pgbinary::Wire;
use crate::pipeline::{self, Stop, Transform, Work};
use crate::progress::Progress;
use crate::run::work::ChunkWork;
use crate::sink::Collect;
use crate::source::mysql as src;
use crate::source::pg::{self as tgt, CopyOutSpec, TargetReader};
use crate::util::sql::{pg_ident, pg_qualified, pg_string};
use crate::values::Violation;

/// Rows kept per table and side while locating differences (bounds memory whatever the damage).
pub(super) const DRILL_ROWS: usize = 100_000;

/// The target side of one key range of a table.
pub(super) struct TargetRange {
    pub(super) table: Arc<Compared>,
    pub(super) sql: String,
    /// How the table travels: binary COPY with each column's layout, or text (None).
    pub(super) wires: Option<Arc<[Wire]>>,
    pub(super) schema: Arc<Schema>,
}

/// One table as both sides see it.
pub(super) struct Compared {
    pub(super) source: String,
    /// The run's conversion of source rows, without client-side JSON parsing (the target already proved it).
    pub(super) converter: Option<crate::values::TableConverter>,
    pub(super) canon: Canon,
    pub(super) schema: Arc<Schema>,
    /// Target column list, quoted, in output order.
    pub(super) select: String,
    /// Target key column and its conversion when the target can be read by ranges of it.
    pub(super) range_key: Option<(String, Conversion)>,
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
pub(super) enum Mode {
    Digest,
    Rows(Arc<HashMap<String, HashSet<u32>>>),
}

pub(super) enum Piece {
    Digest(String, Partial),
    Rows(String, Vec<(String, Vec<Option<String>>)>),
}

pub(super) fn fold(mode: &Mode, canon: &Canon, table: &str, cells: Cells) -> Piece {
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
pub(super) struct SourceSide {
    pub(super) canons: HashMap<String, Arc<Compared>>,
    pub(super) mode: Mode,
    pub(super) progress: Arc<Progress>,
}

impl Transform<ChunkWork> for SourceSide {
    type Output = Piece;
    type Error = Box<Violation>;

    fn apply(&self, work: &ChunkWork, raw: RecordBatch) -> Result<Piece, Box<Violation>> {
        let c = &self.canons[work.table()];
        self.progress.add(&c.source, raw.num_rows() as u64, 0);
        let out = c
            .converter
            .as_ref()
            .unwrap_or(&work.table.converter)
            .apply(&raw)?;
        Ok(fold(&self.mode, &c.canon, &c.source, Cells::Text(&out)))
    }
}

/// The target side: PostgreSQL's output is already the converted form.
pub(super) struct TargetSide {
    pub(super) mode: Mode,
    pub(super) progress: Arc<Progress>,
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
pub(super) type KeyedRows = BTreeMap<String, Vec<Option<String>>>;
/// How one side of a pass ended.
pub(super) type Ended<W> = Option<Result<Vec<pipeline::Done<W>>, Stop<W, Error>>>;

#[derive(Default)]
pub(super) struct Acc {
    pub(super) digests: HashMap<String, [Buckets; 2]>,
    pub(super) rows: HashMap<String, [KeyedRows; 2]>,
}

impl Acc {
    pub(super) fn add(&mut self, side: usize, piece: Piece) {
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
pub(super) struct Shared<'a> {
    pub(super) settings: &'a Settings,
    pub(super) canons: &'a HashMap<String, Arc<Compared>>,
    pub(super) acc: &'a Arc<Mutex<Acc>>,
    pub(super) progress: &'a Arc<Progress>,
}

/// Runs both sides of one pass into `acc`.
pub(super) async fn pass(
    shared: &Shared<'_>,
    source_jobs: Vec<Arc<ChunkWork>>,
    target_jobs: Vec<Arc<TargetRange>>,
    mode: Mode,
    snapshot: Option<src::Snapshot>,
) -> Result<Option<crate::chunk::SnapshotInfo>, Error> {
    let Shared {
        settings,
        canons,
        acc,
        progress,
    } = *shared;
    let opts = &settings.tuning;
    // A pass with no source jobs (the source side is known from digests) never opens the source; one that opens
    // its own snapshot returns its instant.
    let opened = snapshot.is_none();
    let mut snapshot = match snapshot {
        Some(s) => Some(s),
        None if source_jobs.is_empty() => None,
        None => Some(
            src::open_snapshot(
                &settings.endpoints.source,
                opts.readers,
                false,
                opts.source_quiesced,
                opts.lock_wait,
            )
            .await?,
        ),
    };
    let readers = match snapshot.as_mut() {
        Some(s) if !source_jobs.is_empty() => crate::run::work::readers(opts, s),
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
    Ok(snapshot.filter(|_| opened).map(|s| s.info))
}

/// How one table is compared: its canonical form, its target column list and how the target is cut in ranges.
pub(super) fn compared(tp: &TableContract, schema: &str) -> Compared {
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
pub(super) fn compared_by(source: &str, target: &str, spec: &Spec, schema: &str) -> Compared {
    Compared {
        source: source.to_string(),
        converter: None,
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
pub(super) async fn wires(
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
pub(super) async fn target_ranges(
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
                .map_err(crate::cutover::error::pg("ordering the key ranges"))?
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
