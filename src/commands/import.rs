//! `pgconverge import`: loads an export directory into the target through the same pipeline, COPY sinks,
//! ledger, resume, preparation and finishing as `migrate`. Before anything is written it checks the manifest
//! against the mapping and the live target schema, and every file's size and SHA-256; any truncated, edited,
//! missing or extra file stops it, naming the file.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::config::{ImportSettings as Settings, Tuning, QUEUE_BATCHES};
use crate::cutover::ledger;
use crate::error::Error;
use crate::manifest::Manifest;
use crate::mapping::Mapping;
use crate::pipeline::{self, Stop};
use crate::run::files::{check_files, refused, FileWork, Pass};
use crate::run::load::{after_failure, finish, prepare_target, with_early_finish, Committed};
use crate::run::{output, session, verify};
use crate::schema::TargetTable;
use crate::sink::copy::CopySink;
use crate::source::files::FileReader;

/// What an import loaded.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub app: String,
    pub settings: Tuning,
    /// The source snapshot the export was read in.
    pub snapshot: crate::chunk::SnapshotInfo,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub seconds_check: f64,
    pub seconds_total: f64,
    /// Per source table: rows, bytes sent to COPY, seconds and where they went.
    pub tables: std::collections::BTreeMap<String, crate::report::TableTiming>,
    pub time_split: crate::report::Split,
    /// Seconds the verification after the load took (0 with `--no-verify`), and its result (None when not run).
    pub seconds_verify: f64,
    pub verified: Option<bool>,
    /// Foreign keys (table, name) this import's finish re-created and PostgreSQL validated (a fresh import only):
    /// its verification does not scan them again.
    #[serde(skip)]
    pub validated: std::collections::HashSet<(String, String)>,
}

pub async fn import(mapping: &Mapping, settings: &Settings) -> Result<ImportReport, Error> {
    let started = Instant::now();
    let m = Manifest::read(&settings.from).map_err(|e| refused(e.to_string()))?;
    if m.inputs.mapping != ledger::Inputs::mapping_fingerprint(mapping) {
        return Err(refused(format!(
            "the manifest in {} was written with another mapping than {}",
            settings.from.display(),
            settings.mapping.display()
        )));
    }
    let mut control = crate::connect::target(&settings.target).await?;
    let target_tables = crate::schema::pg::introspect(&control, &m.target_schema).await?;
    if m.inputs.target_schema != ledger::Inputs::target_fingerprint(&target_tables) {
        return Err(refused(format!(
            "the target schema differs from the one the export in {} was converted for",
            settings.from.display()
        )));
    }
    check_files(&settings.from, &m)?;
    let checked = Instant::now();

    let loaded: Vec<&TargetTable> = m
        .tables
        .iter()
        .map(|t| {
            target_tables
                .iter()
                .find(|x| &x.name == t)
                .ok_or_else(|| refused(format!("the target has no table {t}")))
        })
        .collect::<Result<_, _>>()?;
    let previous = ledger::read_run(&control).await?;
    if let Some(run) = previous.as_ref().filter(|r| r.is_completed()) {
        return Err(session::completed_refusal(run));
    }
    match (&previous, settings.resume) {
        (Some(_), false) => {
            return Err(Error::Refused(format!(
                "the target holds the ledger of an interrupted run (schema {}); continue it with \
                 `pgconverge import --resume`, or return the target to its state before it with `pgconverge reset --yes`",
                ledger::LEDGER_SCHEMA
            )))
        }
        (None, true) => return Err(session::nothing_to_resume(&control).await?),
        (Some(run), true) if run.command != "import" => {
            return Err(Error::Refused(format!(
                "the interrupted run in this target was started by `pgconverge {}`; continue it with that command \
                 and --resume, or return the target to its state before it with `pgconverge reset --yes`",
                run.command
            )))
        }
        (Some(run), true) if run.inputs != m.inputs => {
            return Err(Error::Refused(
                "cannot resume: the interrupted run loaded another export; return the target to its state before it with `pgconverge reset --yes` first".into(),
            ))
        }
        _ => {}
    }
    let new_run = || {
        let mut run = ledger::Run::new(
            m.inputs.clone(),
            m.snapshot.clone(),
            Default::default(),
            &Default::default(),
        );
        run.command = "import".into();
        run.target_schema = m.target_schema.clone();
        run.tables = m.tables.clone();
        run
    };
    let fks = prepare_target(
        &mut control,
        previous.as_ref(),
        new_run,
        &m.target_schema,
        &loaded,
        &m.seeded_tables,
        settings.replace,
    )
    .await?;
    let done = ledger::loaded_chunks(&control).await?;
    let jobs: Vec<Arc<FileWork>> = m
        .csv_files()
        .filter(|f| !done.contains_key(&(f.table.clone(), f.chunk)))
        .map(|f| Arc::new(FileWork::new(&settings.from, &m.target_schema, f)))
        .collect();
    let url = settings.target.as_str();
    let progress = Arc::new(crate::progress::Progress::new(
        "import",
        jobs.iter().map(|j| j.entry.bytes).sum(),
        crate::progress::Unit::Bytes,
    ));
    progress.phase("load");
    let committed = Arc::new(Committed::new(
        None,
        loaded.iter().map(|t| t.name.as_str()),
        jobs.iter()
            .map(|j| (j.entry.table.as_str(), j.entry.target_table.as_str())),
    ));
    let work = async {
        let readers: Vec<FileReader> = (0..settings.tuning.readers.max(1))
            .map(|_| FileReader)
            .collect();
        let mut sinks = Vec::new();
        for _ in 0..settings.tuning.writers.max(1) {
            sinks.push(crate::sink::Tally(
                CopySink::connect(
                    url,
                    ledger::LEDGER_SCHEMA,
                    settings.tuning.toast_compression,
                )
                .await?,
                committed.clone(),
            ));
        }
        let tuning = pipeline::Settings {
            depth: QUEUE_BATCHES,
            ..Default::default()
        };
        let load = async {
            match pipeline::run(jobs, readers, Pass(progress.clone()), sinks, tuning).await {
                Ok(done) => Ok(done),
                Err(Stop::Failed { error, .. }) => Err(error),
                Err(Stop::Fault(f)) => Err(Error::from(f)),
            }
        };
        let (done, early) = with_early_finish(
            settings.tuning.finish_early,
            load,
            &control,
            &m.target_schema,
            &loaded,
            &fks,
            &committed.loading,
        )
        .await?;
        finish(
            &mut control,
            url,
            &m.target_schema,
            &loaded,
            &fks,
            &early,
            settings.tuning.writers,
        )
        .await?;
        Ok::<_, Error>(done)
    };
    let done = match pipeline::until_interrupted(work).await {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(after_failure(&mut control, url, e).await),
        None => return Err(Error::Interrupted),
    };
    let tables = crate::report::per_table(&done);
    Ok(ImportReport {
        app: m.app.clone(),
        settings: settings.tuning.clone(),
        snapshot: m.snapshot.clone(),
        time_split: crate::report::split(tables.values()),
        tables,
        seconds_verify: 0.0,
        verified: None,
        files: done.len(),
        rows: done.iter().map(|d| d.rows).sum(),
        bytes: done.iter().map(|d| d.bytes).sum(),
        seconds_check: (checked - started).as_secs_f64(),
        seconds_total: started.elapsed().as_secs_f64(),
        validated: match previous {
            None => fks.iter().map(ledger::DroppedFk::key).collect(),
            Some(_) => Default::default(),
        },
    })
}

/// `pgconverge import`: runs it, writes the report if asked, prints the summary line.
pub async fn command(settings: &Settings) -> Result<ImportReport, Error> {
    let mapping = Mapping::load(&settings.mapping)?;
    let mut r = import(&mapping, settings).await?;
    println!(
        "Imported {} rows from {} files ({:.1} MB) in {:.1}s (files checked in {:.1}s).",
        r.rows,
        r.files,
        r.bytes as f64 / 1e6,
        r.seconds_total,
        r.seconds_check
    );
    print!(
        "{}",
        crate::report::render(
            &r.tables,
            output::SUMMARY_TABLES,
            r.seconds_total - r.seconds_check
        )
    );
    let mut failed = None;
    if settings.verify {
        let m = Manifest::read(&settings.from).map_err(|e| Error::Refused(e.to_string()))?;
        let v = verify::exported::after_import(
            &mapping,
            &m,
            &settings.from,
            &settings.target,
            &settings.tuning,
            &r.validated,
            settings.checklist.as_deref(),
        )
        .await?;
        if let Some(v) = v {
            r.seconds_verify = v.seconds;
            r.verified = Some(v.passed);
            if !v.passed {
                failed = Some(output::not_verified("import", &v));
            }
        }
    }
    output::conclude("import", r, settings.report.as_deref(), failed)
}
