//! `pgconverge export`: the same snapshot, chunks and conversions as `migrate`, into files instead of COPY:
//! `DIR/<table>/<chunk>.csv` (UTF-8, header row, RFC 4180, NULL as an empty unquoted field, '' as `""`) and
//! `DIR/manifest.json`, written last. The target is only introspected, in a read-only session, so the files
//! hold values already converted to what it expects. The manifest also carries each table's canonical digests
//! (computed from the batches written) and the source's answers to the mapping's critical-data checks, which
//! `import` verifies the target against. `--format parquet|both` adds typed Parquet files; `--resume` continues an
//! interrupted export from the directory's journal (`files`). Format: docs/csv-format.md.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::config::{ExportSettings as Settings, Tuning, QUEUE_BATCHES};
use crate::cutover::ledger::Run;
use crate::error::Error;
use crate::manifest;
use crate::mapping::Mapping;
use crate::pipeline::{self, Stop};
use crate::run::encode::Encode;
use crate::run::export_dir::{self as files, About};
use crate::run::session::{self, Ledger};
use crate::run::{answers, output, work};
use crate::sink::export::ExportFiles;
use crate::sink::Asks;

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub app: String,
    pub settings: Tuning,
    pub snapshot: crate::chunk::SnapshotInfo,
    pub directory: String,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    /// Files an interrupted export had written before this one resumed it.
    pub files_before: usize,
    pub seconds: f64,
    /// Per source table: rows, file bytes, seconds and where they went.
    pub tables: std::collections::BTreeMap<String, crate::report::TableTiming>,
    pub time_split: crate::report::Split,
}

pub async fn export(mapping: &Mapping, settings: &Settings) -> Result<ExportReport, Error> {
    let started = Instant::now();
    let e = &settings.endpoints;
    let (ledger, reopened) = if settings.resume {
        let (run, journal) = files::reopen(&settings.out)?;
        (Ledger::Journal(Box::new(run)), Some(journal))
    } else {
        files::prepare_dir(&settings.out, settings.replace, Some("--replace"))?;
        (Ledger::Ignore, None)
    };
    let session::Session {
        contract: plan,
        target_tables,
        mut snapshot,
        jobs,
        control,
        inputs,
        lookups,
        chunk_plan,
        previous,
        ..
    } = session::open(
        &e.source,
        &e.target,
        mapping,
        &settings.tuning,
        false,
        ledger,
    )
    .await?;
    drop(control);
    let total_chunks = jobs.len();
    let journal = match reopened {
        Some(j) => j,
        None => {
            // Before the first byte (the journal included): too little room refuses with nothing written.
            files::check_space_for(
                &settings.out,
                &plan,
                total_chunks,
                total_chunks,
                settings.formats,
            )?;
            let mut run = Run::new(inputs.clone(), snapshot.info.clone(), chunk_plan, &lookups);
            run.command = "export".into();
            run.target_schema = mapping.target_schema.clone();
            files::create_journal(&settings.out, &run)?
        }
    };
    let journal = Arc::new(Mutex::new(journal));
    let done = files::published(&journal);
    let files_before = journal.lock().expect("journal lock").chunks.len();
    let jobs: Vec<_> = jobs
        .into_iter()
        .filter(|j| !done.contains_key(&(j.table.contract.source.clone(), j.index)))
        .collect();
    if settings.resume {
        files::check_space_for(
            &settings.out,
            &plan,
            total_chunks,
            jobs.len(),
            settings.formats,
        )?;
    }
    crate::hooks::pause(|| "export-writing".into()).await;
    let progress = Arc::new(session::progress(
        "export",
        &plan,
        jobs.iter().map(|j| j.table.contract.source.as_str()),
        1,
    ));
    // Resumed, only the rows still to write count (the rate and ETA are this run's).
    for (table, _) in done.keys() {
        progress.skip_chunk(table);
    }
    progress.phase("write");
    // The checks are asked on the snapshot's own connection: the manifest's answers are of the files' instant.
    let side = snapshot.side.take();
    let work = async {
        let readers = work::readers(&settings.tuning, &mut snapshot);
        let sinks: Vec<_> = (0..settings.tuning.writers.max(1))
            .map(|_| {
                let files = ExportFiles::new(&settings.out, settings.formats, journal.clone());
                crate::sink::Tally(files, progress.clone())
            })
            .collect();
        let tuning = pipeline::Settings {
            depth: QUEUE_BATCHES,
            ..Default::default()
        };
        // The files ask for their formats and for the canonical digests of the rows written, which `import`
        // verifies the target against.
        let needs = sinks.first().map(Asks::needs).unwrap_or_default();
        let encode = Encode::new(needs, &plan, progress.clone());
        let (done, checks) = tokio::join!(
            pipeline::run(jobs, readers, encode, sinks, tuning),
            answers::record_checks(mapping, side)
        );
        match done {
            Ok(done) => Ok((done, checks?)),
            Err(Stop::Failed { error, .. }) => Err(Error::ExportFailed(Box::new(error))),
            Err(Stop::Fault(f)) => Err(Error::ExportFailed(Box::new(f.into()))),
        }
    };
    let (done, checks) = pipeline::until_interrupted(work)
        .await
        .ok_or(Error::ExportInterrupted)??;
    progress.finish();
    let m = files::write_manifest(
        &settings.out,
        &journal,
        About {
            mapping,
            contract: &plan,
            inputs,
            snapshot: previous.map(|r| r.snapshot).unwrap_or(snapshot.info),
            target_tables: &target_tables,
            checks,
        },
    )?;
    let tables = crate::report::per_table(&done);
    Ok(ExportReport {
        app: mapping.app.clone(),
        settings: settings.tuning.clone(),
        snapshot: m.snapshot.clone(),
        time_split: crate::report::split(tables.values()),
        tables,
        directory: settings.out.display().to_string(),
        files: m.files.len(),
        files_before,
        rows: done.iter().map(|d| d.rows).sum(),
        bytes: m.files.iter().map(|f| f.bytes).sum(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `pgconverge export`: runs it, writes the report if asked, prints the summary line.
pub async fn command(settings: &Settings) -> Result<ExportReport, Error> {
    let mapping = Mapping::load(&settings.endpoints.mapping)?;
    let r = export(&mapping, settings).await?;
    if let Some(path) = &settings.report {
        output::write_report(path, "export", &r)?;
    }
    println!(
        "Exported {} rows into {} files ({:.1} MB) in {:.1}s; manifest {}/{}.",
        r.rows,
        r.files,
        r.bytes as f64 / 1e6,
        r.seconds,
        r.directory,
        manifest::FILE
    );
    print!(
        "{}",
        crate::report::render(&r.tables, output::SUMMARY_TABLES, r.seconds)
    );
    Ok(r)
}
