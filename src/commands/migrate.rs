//! `pgconverge migrate`: the contract check and snapshot (`session`), target preparation, the pipeline composed of
//! MySQL readers, the convert-and-encode transform and COPY sinks (with `--keep`, the files of an export directory
//! written beside them, manifest included), and finishing. It touches no channel: `pipeline` runs the stages.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::canonical::{Buckets, Canon};
use crate::chunk::SnapshotInfo;
use crate::config::{MigrateSettings as Settings, Tuning, QUEUE_BATCHES};
use crate::cutover::{self, ledger};
use crate::error::Error;
use crate::mapping::Mapping;
use crate::pipeline::{self, Stop};
use crate::run::encode::Encode;
use crate::run::load::{
    after_failure, finish, locate, prepare_target, with_early_finish, Committed,
};
use crate::run::session::{self, Ledger};
use crate::run::verify::{self, FromLoad};
use crate::run::{export_dir, keys, output, work};
use crate::schema::TargetTable;
use crate::sink::copy::CopySink;
use crate::sink::export::ExportFiles;
use crate::sink::{Digests, SinkError, Tally, Tee};

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
    /// The COPY wire format (`binary` or `csv`) and the bytes sent in it.
    pub copy_format: &'static str,
    pub copy_bytes: u64,
    /// `copy_bytes` under its report-format-1 name (from when every COPY was CSV); goes with format 2.
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
    pub from_load: Option<FromLoad>,
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
        (Some(dir), true) => Some(export_dir::reopen(dir)?),
        (Some(dir), false) => {
            export_dir::prepare_dir(dir, false, None)?;
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
        let orphans = keys::foreign_key_orphans(
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
                return Err(Error::Refused(format!(
                    "{} was kept by another run than the one in the target's ledger; resume without --keep",
                    dir.display()
                )));
            }
            Some(j)
        }
        (Some(dir), None) => Some(export_dir::create_journal(dir, &run)?),
        (None, _) => None,
    }
    .map(|j| Arc::new(Mutex::new(j)));
    // Chunks already in the kept directory (an interrupted `--keep` run's), read once from its journal.
    let kept = journal
        .as_ref()
        .map(export_dir::published)
        .unwrap_or_default();
    if let Some(dir) = settings.keep.as_deref().filter(|_| journal.is_some()) {
        // Before the target is touched: too little room for the files refuses with nothing changed.
        let to_write = jobs
            .iter()
            .filter(|w| !kept.contains_key(&(w.table.plan.source.clone(), w.index)))
            .count();
        export_dir::check_space_for(dir, &plan, jobs.len(), to_write, settings.keep_formats)?;
    }
    let fks = prepare_target(
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
            return Err(Error::Refused(format!(
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
        let readers = work::readers(opts, &mut snapshot);
        let mut sinks = Vec::with_capacity(opts.writers.max(1));
        for _ in 0..opts.writers.max(1) {
            let copy = CopySink::connect(target_url, ledger::LEDGER_SCHEMA, opts.toast_compression)
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
                true => crate::run::answers::record_checks(mapping, source_url).await,
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
        export_dir::write_manifest(
            dir,
            j,
            export_dir::About {
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
    let copy_bytes: u64 = reports.values().map(|r| r.timing.bytes).sum();
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
        copy_bytes,
        csv_bytes: copy_bytes,
        seconds_prepare: (prepared - started).as_secs_f64(),
        seconds_load: (load_done - prepared).as_secs_f64(),
        seconds_finish: load_done.elapsed().as_secs_f64(),
        seconds_total: total,
        rows_per_second: rows as f64 / total.max(1e-9),
        mb_per_second: copy_bytes as f64 / 1e6 / total.max(1e-9),
        seconds_verify: 0.0,
        verified: None,
        time_split,
        settings: opts.clone(),
        from_load: keep_digests.then(|| FromLoad {
            digests: std::mem::take(&mut *digests.lock().expect("digest map")),
            answers: checks,
            validated: fks.iter().map(cutover::DroppedFk::key).collect(),
        }),
    })
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
        crate::report::render(&timings, output::SUMMARY_TABLES, report.seconds_load)
    );
    let mut failed = None;
    if settings.verify {
        let v = verify::after_load(
            &mapping,
            &settings.endpoints,
            &settings.tuning,
            report.from_load.take(),
        )
        .await?;
        if let Some(path) = &settings.checklist {
            verify::write_checklist(path, &v)?;
        }
        report.seconds_verify = v.seconds;
        report.verified = Some(v.passed);
        if !v.passed {
            failed = Some(v);
        }
    }
    output::conclude("migrate", report, settings.report.as_deref(), failed)
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
        r.copy_bytes as f64 / 1e6,
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
