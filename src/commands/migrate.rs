//! `pgconverge migrate`: the contract check and snapshot (`session`), target preparation, the pipeline composed of
//! MySQL readers, the convert-and-encode transform and COPY sinks (with `--keep`, the files of an export directory
//! written beside them, manifest included), and finishing. It touches no channel: `pipeline` runs the stages.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use bytes::Bytes;
use serde::Serialize;

use super::session::{self, ChunkWork, Endpoints, Ledger, Tuning, QUEUE_BATCHES};
use crate::canonical::{Buckets, Canon};
use crate::error::Error;
use crate::mapping::Mapping;
use crate::pipeline::{self, Stop, Transform};
use crate::progress::Progress;
use crate::schema::TargetTable;
use crate::sink::copy::CopySink;
use crate::sink::export::{ExportFiles, Formats};
use crate::sink::{CopyFailure, Digests, Encoded, SinkError, Tally, Tee};
use crate::source::mysql::{self as src, SnapshotInfo};
use crate::target::{self, ledger};

/// Everything `pgconverge migrate` was asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoints: Endpoints,
    pub tuning: Tuning,
    /// Delete rows already in the target tables instead of refusing.
    pub replace: bool,
    /// Keep what was loaded as an export directory (files, manifest), importable elsewhere.
    pub keep: Option<PathBuf>,
    /// The files `keep` writes per chunk.
    pub keep_formats: Formats,
    /// Send PostgreSQL's binary COPY format instead of CSV.
    pub binary: bool,
    /// Continue an interrupted run from its ledger.
    pub resume: bool,
    /// Write the report as JSON here.
    pub report: Option<PathBuf>,
    /// Run `verify` after the load.
    pub verify: bool,
    /// Write the verification checklist as Markdown here.
    pub checklist: Option<PathBuf>,
}

/// Per-table outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableReport {
    pub target: String,
    /// Chunks planned (`chunks_done`: committed by this run).
    pub chunks: usize,
    /// Rows an interrupted run had loaded before this one resumed it.
    pub rows_before: u64,
    /// The source's size estimates the plan used (what `plan --calibrate` scales by).
    pub rows_estimate: u64,
    pub bytes_estimate: u64,
    /// Rows and bytes this run loaded, its seconds and where they went.
    #[serde(flatten)]
    pub timing: crate::report::TableTiming,
}

/// Outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub app: String,
    pub settings: Tuning,
    pub snapshot: SnapshotInfo,
    pub tables: BTreeMap<String, TableReport>,
    /// Rows loaded by this run.
    pub rows: u64,
    /// Rows in the target when it ended: this run's and, after `--resume`, the interrupted run's.
    pub rows_total: u64,
    /// The COPY wire format (`binary` or `csv`) and the bytes sent in it (`csv_bytes`, named before binary).
    pub copy_format: &'static str,
    pub csv_bytes: u64,
    pub seconds_prepare: f64,
    pub seconds_load: f64,
    pub seconds_finish: f64,
    pub seconds_total: f64,
    pub rows_per_second: f64,
    pub mb_per_second: f64,
    /// Seconds `verify` took after the load (0 with `--no-verify`).
    pub seconds_verify: f64,
    /// The verification result; None with `--no-verify`.
    pub verified: Option<bool>,
    /// Where the load's chunk time went, and the knob to turn.
    pub time_split: crate::report::Split,
    /// What the load hands to its verification (a fresh run with verification only).
    #[serde(skip)]
    pub from_load: Option<super::verify::FromLoad>,
}

/// Turns a COPY failure that names a row into a violation naming the source row. The key comes from the stream
/// itself (the sink kept the key columns of every piece it sent), so it is the row of the snapshot, found without
/// any query; only the value shown is read afterwards, by that key, with one index seek.
async fn locate(source_url: &str, work: &ChunkWork, f: CopyFailure) -> Error {
    let table = &work.table;
    let Some(raw_key) = f.key.clone() else {
        return Error::Sink(SinkError::Copy(Box::new(f)));
    };
    let source_column = f
        .column
        .as_ref()
        .and_then(|c| table.plan.columns.iter().find(|p| &p.target == c))
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
        Some(Some(Some(v))) => crate::transform::excerpt(&v),
        Some(Some(None)) => "NULL".into(),
        Some(None) => "- (the row is no longer in the source)".into(),
        None => "-".into(),
    };
    Error::Violation(Box::new(crate::transform::Violation {
        table: table.plan.source.clone(),
        key: crate::util::key::render(f.key_names.iter().zip(raw_key)),
        column: source_column.unwrap_or_else(|| "(row)".into()),
        rule: crate::transform::Rule::RejectedByTarget {
            message: f.message.clone(),
        },
        excerpt,
        hint: Some(format!("{} chunk {} rolled back", f.table, f.chunk)),
    }))
}

/// Runs a whole migration, or resumes an interrupted one (`resume`).
pub async fn migrate(mapping: &Mapping, settings: &Settings) -> Result<Report, Error> {
    let (source_url, target_url) = (
        settings.endpoints.source.as_str(),
        settings.endpoints.target.as_str(),
    );
    let (opts, resume) = (&settings.tuning, settings.resume);
    let started = Instant::now();
    // The kept directory is checked before anything else, so a wrong one costs nothing.
    let reopened = match (&settings.keep, resume) {
        (Some(dir), true) => Some(super::files::reopen(dir)?),
        (Some(dir), false) => {
            super::files::prepare_dir(dir, false, None)?;
            None
        }
        (None, _) => None,
    };
    let ledger = if resume {
        Ledger::Resume
    } else {
        Ledger::Fresh
    };
    let session::Session {
        plan,
        source_tables,
        target_tables,
        mut snapshot,
        jobs,
        lookups,
        chunk_plan,
        mut control,
        previous,
        inputs,
        ..
    } = session::open(
        source_url,
        target_url,
        mapping,
        opts,
        settings.binary,
        ledger,
    )
    .await?;
    let progress = Arc::new(session::progress(
        "migrate",
        &plan,
        jobs.iter().map(|j| j.table.plan.source.as_str()),
        1,
    ));
    progress.phase("prepare");
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
                    rows_estimate: tp.rows_estimate,
                    bytes_estimate: tp.bytes_estimate,
                    ..Default::default()
                },
            )
        })
        .collect();

    if previous.is_none() {
        // Foreign keys the target adds (the source never enforced them) are checked inside the snapshot before
        // anything is written: a cheap indexed anti-join that spares a whole load. Keys the source declares are
        // validated by PostgreSQL when they are re-created; an orphan found then restores the target.
        let orphans = super::check::foreign_key_orphans(
            &mut snapshot.conns[0],
            &plan,
            &source_tables,
            &target_tables,
            false,
            1,
        )
        .await?;
        if let Some(v) = orphans.into_iter().next() {
            return Err(Error::Violation(Box::new(v)));
        }
    }
    let run = {
        let mut run = ledger::Run::new(inputs.clone(), snapshot.info.clone(), chunk_plan, &lookups);
        run.command = "migrate".into();
        run.target_schema = mapping.target_schema.clone();
        run.tables = loaded.iter().map(|t| t.name.clone()).collect();
        run
    };
    let journal = match (&settings.keep, reopened) {
        (Some(dir), Some((kept, j))) => {
            let same = previous
                .as_ref()
                .is_some_and(|p| p.inputs == kept.inputs && p.chunks == kept.chunks);
            if !same {
                return Err(Error::Usage(format!(
                    "{} was kept by another run than the one in the target's ledger; resume without --keep",
                    dir.display()
                )));
            }
            Some(j)
        }
        (Some(dir), None) => Some(super::files::create_journal(dir, &run)?),
        (None, _) => None,
    }
    .map(|j| Arc::new(Mutex::new(j)));
    // Chunks already in the kept directory (an interrupted `--keep` run's), read once from its journal.
    let kept = journal
        .as_ref()
        .map(super::files::published)
        .unwrap_or_default();
    if let Some(dir) = settings.keep.as_deref().filter(|_| journal.is_some()) {
        // Before the target is touched: too little room for the files refuses with nothing changed.
        let to_write = jobs
            .iter()
            .filter(|w| !kept.contains_key(&(w.table.plan.source.clone(), w.index)))
            .count();
        super::files::check_space_for(dir, &plan, jobs.len(), to_write, settings.keep_formats)?;
    }
    let fks = session::prepare_target(
        &mut control,
        previous.as_ref(),
        || run.clone(),
        &mapping.target_schema,
        &loaded,
        &mapping.seeded_tables,
        settings.replace,
    )
    .await?;
    let prepared = Instant::now();
    crate::hooks::pause(|| "prepared".into()).await;

    let done = ledger::loaded_chunks(&control).await?;
    let skipped = done.len();
    let jobs: Vec<_> = jobs
        .into_iter()
        .filter(|j| !done.contains_key(&(j.table.plan.source.clone(), j.index)))
        .collect();
    for ((table, _), rows) in &done {
        if let Some(r) = reports.get_mut(table) {
            r.rows_before += rows;
        }
        // Resumed: only the chunks still to load count (the rate and ETA are this run's).
        progress.skip_chunk(table);
    }
    if resume {
        tracing::info!(
            skipped,
            remaining = jobs.len(),
            "Resuming: loaded chunks are skipped."
        );
    }
    if let Some(dir) = settings.keep.as_deref().filter(|_| journal.is_some()) {
        // Chunks loaded but not kept (an interrupted run that kept nothing) would leave the directory short.
        if let Some((t, c)) = done.keys().find(|k| !kept.contains_key(*k)) {
            return Err(Error::Usage(format!(
                "{t} chunk {c} is loaded but not in {}: that directory cannot hold this run's export; resume \
                 without --keep",
                dir.display()
            )));
        }
    }
    // A fresh run keeps every row's canonical digest as it is sent, so the verification after the load only reads
    // the target back; a resumed run lacks the interrupted run's digests and verifies by reading both sides.
    let keep_digests = settings.verify && previous.is_none();
    let digests: Arc<Mutex<HashMap<String, Buckets>>> = Default::default();
    let parquet = settings.keep.is_some() && settings.keep_formats.parquet;
    let committed = Arc::new(Committed::new(
        Some(progress.clone()),
        loaded.iter().map(|t| t.name.as_str()),
        jobs.iter()
            .map(|j| (j.table.plan.source.as_str(), j.table.plan.target.as_str())),
    ));
    let work = async {
        let readers = opts.readers_of(&mut snapshot);
        let mut sinks = Vec::with_capacity(opts.writers.max(1));
        for _ in 0..opts.writers.max(1) {
            let copy = CopySink::connect(
                target_url,
                ledger::LEDGER_SCHEMA,
                opts.toast_compression.unwrap_or_default(),
            )
            .await?;
            // The files are published before the chunk's COPY commits: a chunk in the ledger is always kept.
            let files = settings
                .keep
                .as_deref()
                .zip(journal.clone())
                .map(|(dir, j)| ExportFiles::new(dir, settings.keep_formats, j));
            let digests = keep_digests.then(|| Digests::new(digests.clone()));
            sinks.push(Tally(Tee(Tee(files, copy), digests), committed.clone()));
        }
        progress.phase("load");
        let encode = Encode {
            progress: progress.clone(),
            parquet,
            csv_files: settings.keep.is_some() && settings.keep_formats.csv,
            digests: (keep_digests || journal.is_some()).then(|| {
                Arc::new(
                    plan.tables
                        .iter()
                        .map(|tp| (tp.source.clone(), Canon::of(tp)))
                        .collect(),
                )
            }),
        };
        let tuning = pipeline::Settings {
            depth: QUEUE_BATCHES,
            ..Default::default()
        };
        // The source's answers to the mapping's checks, asked while the load runs (MySQL has cores to spare then):
        // for the manifest of a kept directory, and for the verification after a fresh load.
        let checks = async {
            match journal.is_some() || keep_digests {
                true if crate::hooks::fails("load-checks") => Err(crate::connect::err(
                    "source",
                    source_url,
                    "refused by the test hook load-checks",
                )
                .into()),
                true => super::files::record_checks(mapping, source_url).await,
                false => Ok(Vec::new()),
            }
        };
        let load = async {
            let (results, checks) =
                tokio::join!(pipeline::run(jobs, readers, encode, sinks, tuning), checks);
            let results = match results {
                Ok(done) => done,
                Err(Stop::Failed {
                    work,
                    error: Error::Sink(SinkError::Copy(f)),
                }) => return Err(locate(source_url, &work, *f).await),
                Err(Stop::Failed { error, .. }) => return Err(error),
                Err(Stop::Fault(f)) => return Err(f.into()),
            };
            // A kept directory needs the answers in its manifest; the verification can ask the source itself.
            let checks = match checks {
                Ok(c) => Some(c),
                Err(e) if journal.is_none() => {
                    tracing::warn!(error = %e, "Could not ask the source the mapping's checks during the load; the verification will.");
                    None
                }
                Err(e) => return Err(e),
            };
            Ok((results, checks))
        };
        let ((results, checks), early) = with_early_finish(
            opts.finish_early,
            load,
            &control,
            &mapping.target_schema,
            &loaded,
            &fks,
            &committed.loading,
        )
        .await?;
        let load_done = Instant::now();
        progress.phase("finish");
        finish(
            &mut control,
            target_url,
            &mapping.target_schema,
            &loaded,
            &fks,
            &early,
            opts.writers,
        )
        .await?;
        Ok::<_, Error>((results, load_done, checks))
    };
    let (results, load_done, checks) = match pipeline::until_interrupted(work).await {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(after_failure(control, target_url, e).await),
        None => return Err(Error::Interrupted),
    };
    progress.finish();
    if let (Some(dir), Some(j)) = (&settings.keep, &journal) {
        super::files::write_manifest(
            dir,
            j,
            super::files::About {
                mapping,
                plan: &plan,
                inputs,
                snapshot: previous
                    .as_ref()
                    .map(|r| r.snapshot.clone())
                    .unwrap_or_else(|| snapshot.info.clone()),
                target_tables: &target_tables,
                checks: checks.clone().unwrap_or_default(),
            },
        )?;
    }
    if keep_digests {
        // Kept with the completed run's baseline: a later `verify` against an unchanged source reads only the
        // target. Losing them costs only that shortcut.
        let stored: Vec<(String, String)> = digests
            .lock()
            .expect("digest map")
            .iter()
            .map(|(t, b)| (t.clone(), crate::canonical::encode_buckets(b)))
            .collect();
        if let Err(e) = ledger::store_digests(&control, &stored).await {
            tracing::warn!(error = %e, "Could not keep the load digests for a later verify.");
        }
    }
    for (table, timing) in crate::report::per_table(&results) {
        reports.get_mut(&table).expect("reported table").timing = timing;
    }
    let rows: u64 = reports.values().map(|r| r.timing.rows).sum();
    let csv_bytes: u64 = reports.values().map(|r| r.timing.bytes).sum();
    let rows_total = rows + reports.values().map(|r| r.rows_before).sum::<u64>();
    let total = started.elapsed().as_secs_f64();
    let time_split = crate::report::split(reports.values().map(|r| &r.timing));
    Ok(Report {
        app: mapping.app.clone(),
        snapshot: snapshot.info,
        tables: reports,
        rows,
        rows_total,
        copy_format: if settings.binary { "binary" } else { "csv" },
        csv_bytes,
        seconds_prepare: (prepared - started).as_secs_f64(),
        seconds_load: (load_done - prepared).as_secs_f64(),
        seconds_finish: load_done.elapsed().as_secs_f64(),
        seconds_total: total,
        rows_per_second: rows as f64 / total.max(1e-9),
        mb_per_second: csv_bytes as f64 / 1e6 / total.max(1e-9),
        seconds_verify: 0.0,
        verified: None,
        time_split,
        settings: opts.clone(),
        from_load: keep_digests.then(|| super::verify::FromLoad {
            digests: std::mem::take(&mut *digests.lock().expect("digest map")),
            answers: checks,
            validated: fks.iter().map(target::DroppedFk::key).collect(),
        }),
    })
}

/// Each committed chunk, told to the progress display (when it counts chunks) and, by its target table, to the
/// early finish.
pub(crate) struct Committed {
    progress: Option<Arc<Progress>>,
    pub loading: target::Loading,
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
            loading: target::Loading::new(left),
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

/// Runs `load`, with [`target::finish_early`] beside it on `control` (idle while the load runs) when `on`
/// (`--finish-early`): tables that completed are finished while others load (until `load` returns), and an orphan
/// found there stops the load at once. Returns the load's result and the tables finished early.
pub(crate) async fn with_early_finish<T>(
    on: bool,
    load: impl std::future::Future<Output = Result<T, Error>>,
    control: &tokio_postgres::Client,
    schema: &str,
    loaded: &[&TargetTable],
    fks: &[target::DroppedFk],
    loading: &target::Loading,
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
        match target::finish_early(control, schema, loaded, fks, loading).await {
            Err(target::TargetError::Sql {
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
/// new connection and the stage again.
pub(crate) async fn finish(
    control: &mut tokio_postgres::Client,
    target_url: &str,
    schema: &str,
    loaded: &[&TargetTable],
    fks: &[target::DroppedFk],
    early: &[(String, i64)],
    sessions: usize,
) -> Result<(), Error> {
    let mut attempt = 0;
    loop {
        let mut others = Vec::new();
        for _ in 1..sessions.max(1) {
            others.push(crate::connect::target_with_retry(target_url).await?);
        }
        let r = async {
            ledger::set_state(control, "finishing").await?;
            let clients: Vec<&tokio_postgres::Client> =
                std::iter::once(&*control).chain(others.iter()).collect();
            let counts = target::finish(&clients, schema, loaded, fks, early).await?;
            drop(clients);
            ledger::complete(control, &counts).await
        }
        .await;
        match r {
            Err(target::TargetError::Sql {
                transient: true,
                message,
                ..
            }) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(attempt, error = %message, "Target connection lost while finishing; finishing again.");
                *control = crate::connect::target_with_retry(target_url).await?;
            }
            r => return Ok(r?),
        }
    }
}

/// Names the state a failed run leaves. A data violation cannot be resumed (the source must change), so the
/// target is restored to its state before the run; a lost connection keeps the resumable state.
pub(crate) async fn after_failure(
    mut control: tokio_postgres::Client,
    target_url: &str,
    e: Error,
) -> Error {
    if e.is_connection_loss() {
        return Error::Lost(Box::new(e));
    }
    if e.exit_code() != 5 {
        return Error::Stopped(Box::new(e));
    }
    let restored = async {
        if control.is_closed() {
            control = crate::connect::target_with_retry(target_url).await?;
        }
        match ledger::read_run(&control).await? {
            Some(run) => Ok::<_, Error>(target::restore(&mut control, &run, &|_| {}).await?),
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

/// Tables listed by name in the summary table at the end of a run (the slowest); the rest share one line.
pub const SUMMARY_TABLES: usize = 10;

/// The migrate transform: converts a raw batch (validating every value) and encodes it for COPY.
pub struct Encode {
    /// Give each piece its batch in Parquet's types, for Parquet files.
    pub parquet: bool,
    /// Give each piece its rows as CSV too when the wire format is binary, for CSV files.
    pub csv_files: bool,
    /// Canonical forms by source table: each piece carries its rows' digests, for `verify` after the load.
    pub digests: Option<Arc<HashMap<String, Canon>>>,
    pub progress: Arc<Progress>,
}

impl Transform<ChunkWork> for Encode {
    type Output = Encoded;
    type Error = Error;

    fn apply(&self, work: &ChunkWork, raw: RecordBatch) -> Result<Encoded, Error> {
        let t = &work.table;
        let batch = t.transform.apply(&raw)?;
        let mut out = Vec::with_capacity(raw.get_array_memory_size() + raw.num_rows() * 8);
        let multiline = if t.binary {
            crate::sink::binary::encode(&batch, &t.conversions, &mut out)
                .map_err(Error::Internal)?;
            Vec::new()
        } else {
            crate::sink::csv::encode(&batch, &mut out)
        };
        self.progress
            .add(&t.plan.source, batch.num_rows() as u64, out.len() as u64);
        let out_len = out.len();
        Ok(Encoded {
            rows: batch.num_rows() as u64,
            data: Bytes::from(out),
            multiline,
            csv: match self.csv_files && t.binary {
                true => {
                    let mut csv = Vec::with_capacity(out_len);
                    crate::sink::csv::encode(&batch, &mut csv);
                    Some(Bytes::from(csv))
                }
                false => None,
            },
            digest: self
                .digests
                .as_ref()
                .and_then(|d| d.get(&t.plan.source))
                .map(|c| c.digest(&batch)),
            batch: match self.parquet {
                true => Some(
                    crate::sink::parquet::typed(&batch, &t.conversions).map_err(|e| {
                        Error::Internal(format!("{} chunk {}: {e}", t.plan.source, work.index))
                    })?,
                ),
                false => None,
            },
            keys: t
                .key_columns
                .iter()
                .map(|&i| raw.column(i).clone())
                .collect(),
        })
    }
}

/// `pgconverge migrate`: runs it, writes the report if asked, prints the summary line.
pub async fn command(settings: &Settings) -> Result<Report, Error> {
    let mapping = Mapping::load(&settings.endpoints.mapping)?;
    let mut report = migrate(&mapping, settings).await?;
    println!("{}", summary(&report));
    let timings = report
        .tables
        .values()
        .filter(|t| t.timing.chunks_done > 0)
        .map(|t| (t.target.clone(), t.timing.clone()))
        .collect();
    print!(
        "{}",
        crate::report::render(&timings, SUMMARY_TABLES, report.seconds_load)
    );
    let mut failed = None;
    if settings.verify {
        let v = super::verify::after_load(
            &mapping,
            &settings.endpoints,
            &settings.tuning,
            report.from_load.take(),
            settings.checklist.as_deref(),
        )
        .await?;
        report.seconds_verify = v.seconds;
        report.verified = Some(v.passed);
        if !v.passed {
            failed = Some(v);
        }
    }
    super::verify::conclude("migrate", report, settings.report.as_deref(), failed)
}

/// One line for the operator.
pub fn summary(r: &Report) -> String {
    let resumed = if r.rows_total > r.rows {
        format!(
            " Resumed: {} rows were loaded before the interruption, {} in total.",
            r.rows_total - r.rows,
            r.rows_total
        )
    } else {
        String::new()
    };
    let line = format!(
        "Migrated {} rows ({:.1} MB {}) of {} tables in {:.1}s: prepare {:.1}s, load {:.1}s, finish {:.1}s; {:.0} rows/s, {:.1} MB/s.",
        r.rows,
        r.csv_bytes as f64 / 1e6,
        if r.copy_format == "csv" { "CSV" } else { "binary COPY" },
        r.tables.len(),
        r.seconds_total,
        r.seconds_prepare,
        r.seconds_load,
        r.seconds_finish,
        r.rows_per_second,
        r.mb_per_second
    );
    line + &resumed
}
