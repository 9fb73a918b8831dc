//! `pgconverge import`: loads an export directory into the target through the same pipeline, COPY sinks,
//! ledger, resume, preparation and finishing as `migrate`. Before anything is written it checks the manifest
//! against the mapping and the live target schema, and every file's size and SHA-256; any truncated, edited,
//! missing or extra file stops it, naming the file.

use std::time::Instant;

use serde::Serialize;

use crate::config::{ImportSettings as Settings, Tuning};
use crate::cutover::ledger;
use crate::error::Error;
use crate::manifest::Manifest;
use crate::mapping::Mapping;
use crate::run::copy::{self, FilesCopy};
use crate::run::{files, load, output, verify};

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
    let (m, mut control, target_tables) =
        files::open(&settings.from, mapping, &settings.mapping, &settings.target).await?;
    let checked = Instant::now();
    let loaded = files::loaded(&m, &target_tables)?;
    let previous = files::previous(&control, &m, settings.resume).await?;
    let fks = load::prepare_target(
        &mut control,
        previous.as_ref(),
        || files::new_run(&m),
        &m.target_schema,
        &loaded,
        &m.seeded_tables,
        settings.replace,
    )
    .await?;
    let jobs = files::jobs(
        &m,
        &settings.from,
        &ledger::loaded_chunks(&control).await?,
        &target_tables,
    );
    let phase = FilesCopy {
        target_url: &settings.target,
        schema: &m.target_schema,
        tuning: &settings.tuning,
        loaded: &loaded,
        fks: &fks,
    };
    let done = copy::copy_files(phase, jobs, &mut control).await?;
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
