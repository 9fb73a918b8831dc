//! The verification: proves the target holds what the source holds, for `verify` and at the end of `migrate`.
//!
//! Two pipelines run side by side (`passes`): MySQL chunks inside one consistent snapshot through the very
//! conversion `migrate` uses, and the target read back by key ranges inside one exported PostgreSQL snapshot. Every
//! row becomes a canonical digest (`canonical`), folded into per-table buckets by its key; equal buckets on both
//! sides mean equal rows. A differing bucket is read again on both sides to name the keys, columns and values that
//! differ (`differences`). Then every foreign key must hold, every owned sequence must be past its column's
//! maximum, and the mapping's critical-data checks must give equal results (`integrity`); `checklist` renders it
//! all. `exported` is the same at the end of `import`, against an export's manifest instead of the source.

mod checklist;
mod differences;
pub mod exported;
mod integrity;
mod passes;

pub use checklist::{
    failure, render_markdown, summary, write_checklist, Difference, Item, Manual, TableResult,
    VerifyReport,
};

use checklist::*;
use differences::*;
use integrity::*;
use passes::*;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::canonical::{empty_buckets, Buckets};
use crate::config::{Endpoints, Tuning, VerifySettings as Settings};
use crate::error::Error;
use crate::manifest::RecordedCheck;
use crate::mapping::Mapping;
use crate::pipeline::Work;
use crate::run::session::{self, Ledger};
use crate::schema::TargetTable;

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
    /// The load's snapshot: the instant the digests and answers describe.
    pub instant: crate::chunk::SnapshotInfo,
}

/// As [`verify`]; with `from_load`, the source side of the row comparison is the digests the load computed from
/// the very rows it sent (only differing buckets are read from the source again), the source's check answers are
/// those asked during the load, and the keys the run validated are taken from the catalog.
async fn verify_with(
    mapping: &Mapping,
    settings: &Settings,
    from_load: Option<FromLoad>,
) -> Result<VerifyReport, Error> {
    let (sent, answers, validated, load_instant) = match from_load {
        Some(f) => (Some(f.digests), f.answers, f.validated, Some(f.instant)),
        None => (None, None, HashSet::new(), None),
    };
    let started = Instant::now();
    let control = crate::connect::target(&settings.endpoints.target).await?;
    let run = crate::cutover::ledger::read_run(&control).await?;
    if let Some(run) = run.as_ref().filter(|r| !r.is_completed()) {
        return Err(Error::Refused(format!(
            "the target holds the ledger of an unfinished {} (schema {}): finish it with `pgconverge {} --resume` \
             or return the target to its state before it with `pgconverge reset --yes`, then verify",
            run.command,
            crate::cutover::ledger::LEDGER_SCHEMA,
            run.command
        )));
    }
    let kept = match &run {
        Some(_) if sent.is_none() => crate::cutover::ledger::stored_digests(&control).await?,
        _ => Vec::new(),
    };
    drop(control);
    let session::Session {
        contract: mut plan,
        target_tables,
        mut jobs,
        mut snapshot,
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
    if let Some(only) = &settings.only {
        plan.tables.retain(|t| only.contains(&t.source));
        jobs.retain(|j| only.contains(&j.table().to_string()));
    }
    let sent = match (sent, &run) {
        (Some(s), _) => Some(s),
        (None, Some(run)) if !kept.is_empty() => {
            reuse(run, &inputs, &snapshot.info, settings, kept)
        }
        _ => None,
    };
    // The source side's instant: the load's (its digests and answers), the completed run's (its kept digests), or
    // this snapshot's when the source is read again, which cannot tell a lost row from one written since the run.
    let (instant, mut notice) = match (&load_instant, &run) {
        (Some(at), _) => (at.clone(), None),
        (None, Some(run)) if sent.is_some() => (run.snapshot.clone(), None),
        // After following, the source is frozen at the cut-over: read now, it is what the target must hold.
        (None, Some(_)) if settings.only.is_some() => (snapshot.info.clone(), None),
        (None, Some(run)) => (
            snapshot.info.clone(),
            (snapshot.info.moved_since(&run.snapshot) == Some(true)).then(|| {
                format!(
                    "the source has moved since the run this target holds (then {}; now {}): it was read again, so a \
                     difference below may be a row written since rather than one lost",
                    run.snapshot.describe(),
                    snapshot.info.describe()
                )
            }),
        ),
        (None, None) => (snapshot.info.clone(), None),
    };
    if let Some(n) = &notice {
        tracing::warn!("{n}");
    }
    let side = snapshot.side.take();
    let schema = mapping.target_schema.clone();
    let canons: HashMap<String, Arc<Compared>> = plan
        .tables
        .iter()
        .map(|tp| {
            let mut c = compared(tp, &schema);
            c.converter = jobs
                .iter()
                .find(|j| j.table() == tp.source)
                .map(|j| j.table.converter.clone().without_json_validation());
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
            Some(a) => recorded_checks(&control, a, "source (at the run's snapshot)").await,
            None => critical_checks(mapping, side, &control).await?,
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
    let mut independent = independent?;
    independent.extend(checklist::not_copied(&plan));

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
        let drilled = pass(
            &shared,
            source_jobs,
            target_jobs,
            Mode::Rows(Arc::new(wanted)),
            None,
        )
        .await?;
        // The differing buckets were read again in a snapshot of their own: when the source moved since the
        // instant compared, rows written since may show among the differences named.
        if let Some(now) = drilled.filter(|now| now.moved_since(&instant) == Some(true)) {
            let moved = format!(
                "the differences below were named by reading the source again at a later instant ({}) than the one \
                 compared ({}); rows written since may show among them",
                now.describe(),
                instant.describe()
            );
            notice = Some(match notice {
                Some(n) => format!("{n}; {moved}"),
                None => moved,
            });
        }
        let a = acc.lock().expect("verify accumulator");
        for r in results.iter_mut().filter(|r| r.differing_buckets > 0) {
            if let (Some(rows), Some(tp)) = (a.rows.get(&r.source), plan.table(&r.source)) {
                let columns: Vec<String> = tp.columns.iter().map(|c| c.target.clone()).collect();
                r.differences = differences(&columns, rows);
            }
        }
    }

    let mut report = assemble(mapping, results, independent, started, source_side);
    report.source_instant = Some(instant.describe());
    report.notice = notice;
    Ok(report)
}

/// The digests a completed run kept, when they still describe the source: same mapping and schemas, and the
/// source provably unchanged (the same binary log position or GTID set as the run's snapshot) or declared so
/// (`--source-unchanged`). Otherwise `None`: the source is read.
pub(super) fn reuse(
    run: &crate::cutover::ledger::Run,
    inputs: &crate::cutover::ledger::Inputs,
    now: &crate::chunk::SnapshotInfo,
    settings: &Settings,
    kept: Vec<(String, String)>,
) -> Option<HashMap<String, Buckets>> {
    let same_inputs = run.inputs.mapping == inputs.mapping
        && run.inputs.source_schema == inputs.source_schema
        && run.inputs.target_schema == inputs.target_schema;
    let proven = now.moved_since(&run.snapshot) == Some(false);
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

/// Verification at the end of `migrate`: prints the summary line (the command writes the checklist).
pub async fn after_load(
    mapping: &Mapping,
    endpoints: &Endpoints,
    tuning: &Tuning,
    loaded: Option<FromLoad>,
) -> Result<VerifyReport, Error> {
    after_run(mapping, endpoints, tuning, loaded, None).await
}

/// Verification at the end of the follow phase (writes stopped): both sides read now, `only` these source tables
/// (those the phase touched; None: every table). Prints the summary line.
pub async fn after_follow(
    mapping: &Mapping,
    endpoints: &Endpoints,
    tuning: &Tuning,
    only: Option<Vec<String>>,
) -> Result<VerifyReport, Error> {
    after_run(mapping, endpoints, tuning, None, only).await
}

/// The verification a loading command runs at its end, with its summary line printed.
async fn after_run(
    mapping: &Mapping,
    endpoints: &Endpoints,
    tuning: &Tuning,
    loaded: Option<FromLoad>,
    only: Option<Vec<String>>,
) -> Result<VerifyReport, Error> {
    let settings = Settings {
        endpoints: endpoints.clone(),
        tuning: tuning.clone(),
        report: None,
        checklist: None,
        source_unchanged: false,
        only,
    };
    let report = verify_with(mapping, &settings, loaded).await?;
    println!("{}", summary(&report));
    Ok(report)
}
