//! `pgconverge export`: the same snapshot, chunks and conversions as `migrate`, into files instead of COPY:
//! `DIR/<table>/<chunk>.csv` (UTF-8, header row, RFC 4180, NULL as an empty unquoted field, '' as `""`) and
//! `DIR/manifest.json`, written last. The target is only introspected, in a read-only session, so the files
//! hold values already converted to what it expects. The manifest also carries each table's canonical digests
//! (computed from the batches written) and the source's answers to the mapping's critical-data checks, which
//! `import` verifies the target against. Format: docs/csv-format.md.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use super::migrate::Encode;
use super::session::{self, Endpoints, Ledger, Tuning, QUEUE_BATCHES};
use crate::canonical::{empty_buckets, encode_buckets, Buckets, Canon};
use crate::error::Error;
use crate::manifest::{self, FileEntry, ForeignKey, Manifest, RecordedCheck, TableDigest};
use crate::mapping::Mapping;
use crate::pipeline::{self, Stop};
use crate::sink::export::ExportFiles;
use crate::sink::{Digests, Tee};

/// Everything `pgconverge export` was asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoints: Endpoints,
    pub tuning: Tuning,
    /// The export directory.
    pub out: PathBuf,
    /// Empty a non-empty directory first instead of refusing.
    pub replace: bool,
    pub report: Option<PathBuf>,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub app: String,
    pub settings: Tuning,
    pub snapshot: crate::source::mysql::SnapshotInfo,
    pub directory: String,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// Per source table: rows, file bytes, seconds and where they went.
    pub tables: std::collections::BTreeMap<String, crate::report::TableTiming>,
    pub time_split: crate::report::Split,
}

fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| {
        Error::Usage(format!(
            "cannot prepare the export directory {}: {e}",
            path.display()
        ))
    }
}

/// Refuses a directory holding anything unless `replace`, which empties it.
fn prepare_dir(dir: &std::path::Path, replace: bool) -> Result<(), Error> {
    if dir.exists() {
        let occupied = std::fs::read_dir(dir).map_err(io(dir))?.next().is_some();
        if occupied && !replace {
            return Err(Error::Usage(format!(
                "the export directory {} is not empty; choose another, or pass --replace to empty it first",
                dir.display()
            )));
        }
        if occupied {
            std::fs::remove_dir_all(dir).map_err(io(dir))?;
        }
    }
    std::fs::create_dir_all(dir).map_err(io(dir))
}

/// Runs the source side of the mapping's critical-data checks (on their own connection, while the files are
/// written), so that `import` can compare the target's answers with them.
async fn record_checks(mapping: &Mapping, source: &str) -> Result<Vec<RecordedCheck>, Error> {
    if mapping.checks.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = crate::connect::source(source).await?;
    let mut out = Vec::new();
    for c in &mapping.checks {
        out.push(RecordedCheck {
            name: c.name.clone(),
            phase: c.phase.clone(),
            target: c.target.clone(),
            source_rows: super::verify::source_rows(&mut conn, &c.source).await,
        });
    }
    conn.disconnect().await.ok();
    Ok(out)
}

pub async fn export(mapping: &Mapping, settings: &Settings) -> Result<ExportReport, Error> {
    let started = Instant::now();
    let e = &settings.endpoints;
    prepare_dir(&settings.out, settings.replace)?;
    let session::Session {
        plan,
        target_tables,
        mut snapshot,
        jobs,
        control,
        inputs,
        ..
    } = session::open(
        &e.source,
        &e.target,
        mapping,
        &settings.tuning,
        false,
        Ledger::Ignore,
    )
    .await?;
    drop(control);
    let loaded: Vec<String> = plan.tables.iter().map(|t| t.target.clone()).collect();
    let foreign_keys: Vec<ForeignKey> = target_tables
        .iter()
        .flat_map(|t| {
            t.constraints
                .iter()
                .filter(|c| c.kind == 'f')
                .map(move |c| (t, c))
        })
        .filter(|(t, c)| {
            loaded.contains(&t.name) || c.ref_table.as_ref().is_some_and(|p| loaded.contains(p))
        })
        .map(|(t, c)| ForeignKey {
            table: t.name.clone(),
            name: c.name.clone(),
            definition: c.definition.clone(),
        })
        .collect();
    let entries = Arc::new(Mutex::new(Vec::<FileEntry>::new()));
    let progress = Arc::new(crate::progress::Progress::new(
        "export",
        plan.tables.iter().map(|t| t.rows_estimate).sum(),
        crate::progress::Unit::Rows,
    ));
    progress.phase("write");
    // The canonical digests of the rows written, for `import` to verify the target against.
    let canons: HashMap<String, Canon> = plan
        .tables
        .iter()
        .map(|tp| (tp.source.clone(), Canon::of(tp)))
        .collect();
    let digests: Arc<Mutex<HashMap<String, Buckets>>> = Default::default();
    let work = async {
        let readers = settings.tuning.readers_of(&mut snapshot);
        let sinks = (0..settings.tuning.writers.max(1))
            .map(|_| {
                Tee(
                    ExportFiles::new(&settings.out, entries.clone()),
                    Some(Digests::new(digests.clone())),
                )
            })
            .collect();
        let tuning = pipeline::Settings {
            depth: QUEUE_BATCHES,
            ..Default::default()
        };
        let encode = Encode {
            progress: progress.clone(),
            digests: Some(Arc::new(canons)),
            keep_batches: false,
        };
        let (done, checks) = tokio::join!(
            pipeline::run(jobs, readers, encode, sinks, tuning),
            record_checks(mapping, &e.source)
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
    let mut digests = std::mem::take(&mut *digests.lock().expect("digest map"));
    let digests = plan
        .tables
        .iter()
        .map(|tp| {
            let buckets = digests.remove(&tp.source).unwrap_or_else(empty_buckets);
            (
                tp.source.clone(),
                TableDigest {
                    target_table: tp.target.clone(),
                    canon: crate::canonical::Spec::of(tp),
                    buckets: encode_buckets(&buckets),
                },
            )
        })
        .collect();
    progress.finish();
    let mut files = std::mem::take(&mut *entries.lock().expect("entries lock"));
    files.sort_by(|a, b| {
        let pos = |f: &FileEntry| loaded.iter().position(|t| t == &f.target_table);
        (pos(a), a.chunk).cmp(&(pos(b), b.chunk))
    });
    let m = Manifest {
        format_version: manifest::VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        app: mapping.app.clone(),
        inputs,
        snapshot: snapshot.info.clone(),
        target_schema: mapping.target_schema.clone(),
        tables: loaded,
        seeded_tables: mapping.seeded_tables.clone(),
        foreign_keys,
        files,
        digests,
        checks,
    };
    m.write(&settings.out)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let tables = crate::report::per_table(&done);
    Ok(ExportReport {
        app: mapping.app.clone(),
        settings: settings.tuning.clone(),
        snapshot: m.snapshot.clone(),
        time_split: crate::report::split(tables.values()),
        tables,
        directory: settings.out.display().to_string(),
        files: m.files.len(),
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
        session::write_report(path, "export", &r)?;
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
        crate::report::render(&r.tables, super::migrate::SUMMARY_TABLES, r.seconds)
    );
    Ok(r)
}
