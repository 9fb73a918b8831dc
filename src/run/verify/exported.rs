//! Verification at the end of `import`: the target against the export's manifest, with no source to read. The
//! source side is the digests the export computed from the very batches it wrote; differing buckets are located
//! by reading the export's files back; the critical-data checks compare the target's answers with the source's
//! answers the export recorded. Foreign keys and sequences are checked on the target as after `migrate`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::{ArrayRef, RecordBatch, StringArray};

use super::{
    assemble, bucket_results, compared_by, differences, fold, foreign_keys, pass, recorded_checks,
    sequences, summary, target_ranges, write_checklist, Acc, Compared, Mode, Settings, Shared,
    VerifyReport,
};
use crate::canonical::{decode_buckets, empty_buckets, Cells};
use crate::config::{Endpoints, Tuning};
use crate::error::Error;
use crate::manifest::Manifest;
use crate::mapping::Mapping;
use crate::progress::{Progress, Unit};

/// Rows per batch when a file is read back to locate differences.
const FILE_BATCH_ROWS: usize = 8192;

/// Verifies the target `url` against the export in `dir` (its manifest `m`); prints the summary line and
/// writes the checklist if asked. `None` when the export carries no digests to verify against. Keys in `validated`
/// (re-created and validated by the import just finished) are taken from the catalog.
pub async fn after_import(
    mapping: &Mapping,
    m: &Manifest,
    dir: &Path,
    url: &str,
    tuning: &Tuning,
    validated: &HashSet<(String, String)>,
    checklist: Option<&Path>,
) -> Result<Option<VerifyReport>, Error> {
    if m.digests.is_empty() {
        tracing::warn!(
            "The export carries no digests (written by an older pgconverge): the import is not verified; run \
             `pgconverge verify` against the source."
        );
        return Ok(None);
    }
    let started = Instant::now();
    let settings = Settings {
        endpoints: Endpoints {
            source: String::new(),
            target: url.to_string(),
            mapping: Default::default(),
            passwords: Default::default(),
        },
        tuning: tuning.clone(),
        report: None,
        checklist: None,
        source_unchanged: false,
        only: None,
    };
    let control = crate::connect::target(url).await?;
    let schema = m.target_schema.as_str();
    let canons: HashMap<String, Arc<Compared>> = m
        .digests
        .iter()
        .map(|(source, d)| {
            (
                source.clone(),
                Arc::new(compared_by(source, &d.target_table, &d.canon, schema)),
            )
        })
        .collect();
    let acc = Arc::new(Mutex::new(Acc::default()));
    let mut target_jobs = Vec::new();
    for (source, d) in &m.digests {
        let exported = decode_buckets(&d.buckets).map_err(|e| {
            Error::Refused(format!(
                "the manifest in {} has unreadable digests for {source}: {e}",
                dir.display()
            ))
        })?;
        acc.lock()
            .expect("verify accumulator")
            .digests
            .insert(source.clone(), [exported, empty_buckets()]);
        target_jobs.extend(target_ranges(&control, &canons[source], &[]).await?);
    }
    let targets = crate::schema::pg::introspect(&control, schema).await?;
    let loaded: Vec<_> = targets
        .iter()
        .filter(|t| m.tables.contains(&t.name))
        .collect();
    let independent = async {
        let mut items = foreign_keys(&control, schema, &loaded, validated).await?;
        items.extend(sequences(&control, schema, &loaded).await?);
        items.extend(recorded_checks(&control, &m.checks, "source (at export)").await);
        Ok::<_, Error>(items)
    };
    let progress = Arc::new(Progress::new(
        "verify",
        m.csv_files().map(|f| f.rows).sum(),
        Unit::Rows,
    ));
    progress.phase("compare");
    let shared = Shared {
        settings: &settings,
        canons: &canons,
        acc: &acc,
        progress: &progress,
    };
    let content = pass(&shared, Vec::new(), target_jobs.clone(), Mode::Digest, None);
    let (content, independent) = tokio::join!(content, independent);
    progress.finish();
    content?;
    let independent = independent?;

    let (mut results, wanted) = bucket_results(
        &acc.lock().expect("verify accumulator"),
        m.digests.iter().map(|(s, d)| (s, &d.target_table)),
    );
    if !wanted.is_empty() {
        tracing::info!(
            tables = wanted.len(),
            "Content differs; reading the differing buckets again from the target and the files."
        );
        let mode = Mode::Rows(Arc::new(wanted.clone()));
        let jobs = target_jobs
            .into_iter()
            .filter(|j| wanted.contains_key(&j.table.source))
            .collect();
        pass(&shared, Vec::new(), jobs, mode.clone(), None).await?;
        for source in wanted.keys() {
            let c = canons[source].clone();
            let files: Vec<std::path::PathBuf> = m
                .csv_files()
                .filter(|f| &f.table == source)
                .map(|f| dir.join(&f.path))
                .collect();
            let (mode, acc) = (mode.clone(), acc.clone());
            crate::pipeline::on_rayon(move || read_back(&files, &c, &mode, &acc))
                .await
                .ok_or_else(|| Error::Internal("reading the export back panicked".into()))??;
        }
        let a = acc.lock().expect("verify accumulator");
        for r in results.iter_mut().filter(|r| r.differing_buckets > 0) {
            if let (Some(rows), Some(d)) = (a.rows.get(&r.source), m.digests.get(&r.source)) {
                let columns: Vec<String> = d.canon.columns.iter().map(|c| c.0.clone()).collect();
                r.differences = differences(&columns, rows);
            }
        }
    }
    let mut report = assemble(mapping, results, independent, started, "export");
    report.source_instant = Some(m.snapshot.describe());
    println!("{}", summary(&report));
    if let Some(path) = checklist {
        write_checklist(path, &report)?;
    }
    Ok(Some(report))
}

/// Reads a table's export files into canonical rows of the wanted buckets (the source side of the drill-down).
fn read_back(
    files: &[std::path::PathBuf],
    c: &Compared,
    mode: &Mode,
    acc: &Mutex<Acc>,
) -> Result<(), Error> {
    for path in files {
        let bad = |message: String| {
            Error::Usage(format!(
                "cannot read {} back to locate differences: {message}",
                path.display()
            ))
        };
        let data = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let rows = crate::source::files::parse_csv(&data).map_err(bad)?;
        for part in rows.chunks(FILE_BATCH_ROWS) {
            let columns: Vec<ArrayRef> = (0..c.schema.fields().len())
                .map(|i| {
                    Arc::new(StringArray::from_iter(
                        part.iter().map(|r| r.get(i).cloned().flatten()),
                    )) as ArrayRef
                })
                .collect();
            let batch =
                RecordBatch::try_new(c.schema.clone(), columns).map_err(|e| bad(e.to_string()))?;
            let piece = fold(mode, &c.canon, &c.source, Cells::Text(&batch));
            acc.lock().expect("verify accumulator").add(0, piece);
        }
    }
    Ok(())
}
