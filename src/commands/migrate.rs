//! `pgconverge migrate`: the kept directory checked, the session opened (contract, snapshot, chunk plan), the
//! target-only keys checked, the target prepared, the copy phase (load and finish), the manifest of a kept
//! directory, then the verification; each a call into the run layer (`run`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::chunk::SnapshotInfo;
use crate::config::{MigrateSettings as Settings, Tuning};
use crate::cutover::DroppedFk;
use crate::error::Error;
use crate::mapping::Mapping;
use crate::pipeline::{Done, Work};
use crate::run::catchup::{self, Follow, FollowReport};
use crate::run::copy::{self, Copy};
use crate::run::keep::Kept;
use crate::run::session::{self, Ledger};
use crate::run::verify::{self, FromLoad};
use crate::run::work::ChunkWork;
use crate::run::{export_dir, keys, load, output, spooling};
use crate::source::mysql::spool::Spooler;

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
    /// Per source table, the columns the copy did not carry or write, with the mapping's reason and what the
    /// target holds instead.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub not_copied: BTreeMap<String, Vec<crate::contract::NotCopied>>,
    /// What the load hands to its verification (a fresh run with verification only).
    #[serde(skip)]
    pub from_load: Option<FromLoad>,
    /// The follow phase after the copy (`--follow`), once it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow: Option<FollowReport>,
    /// Resumed on a source written since the interrupted run's snapshot (`--resume --follow`): the copy is not
    /// verified, the cut-over verifies every table.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub live: bool,
    /// The source tables such a resume copied again, with the binary log position of the snapshot they are of.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub recopied: BTreeMap<String, String>,
}

/// The report of `migrate --resume --follow` on a completed copy: the follow phase only.
#[derive(Debug, Clone, Serialize)]
pub struct FollowOnly {
    pub app: String,
    pub follow: FollowReport,
}

/// Runs a whole migration, or resumes an interrupted one (`resume`). A fresh run with `--follow` also spools the
/// source's binary log from the snapshot while it loads: the spooler comes back to go on alongside the
/// verification.
pub async fn migrate(
    mapping: &Mapping,
    settings: &Settings,
) -> Result<(Report, Option<Spooler>), Error> {
    let (e, opts) = (&settings.endpoints, &settings.tuning);
    let started = Instant::now();
    // The kept directory is checked before anything else, so a wrong one costs nothing.
    let mut kept = Kept::check(
        settings.keep.as_deref(),
        settings.keep_formats,
        settings.resume,
    )?;
    let ledger = match (settings.resume, settings.follow) {
        (true, true) => Ledger::ResumeLive,
        (true, false) => Ledger::Resume,
        (false, _) => Ledger::Fresh,
    };
    let mut s = session::open(&e.source, &e.target, mapping, opts, settings.binary, ledger).await?;
    if s.live && settings.keep.is_some() {
        return Err(Error::Refused(
            "cannot resume with --keep on a source written since the interrupted run: the kept files would hold \
             tables of different instants; return the target to its state before the run with `pgconverge reset \
             --yes` and start again"
                .into(),
        ));
    }
    // A live resume follows from the interrupted run's snapshot: the spool starts there again.
    let spool_from = match &s.previous {
        None => Some(&s.snapshot.info),
        Some(run) if s.live => Some(&run.snapshot),
        Some(_) => None,
    };
    let mut spool = match spool_from {
        Some(from) if settings.follow && settings.spool_max > 0 => {
            spooling::spool(&e.source, from, &settings.spool_dir, settings.spool_max).await
        }
        _ => None,
    };
    let load = load(mapping, settings, &mut s, &mut kept, started);
    let report = crate::pipeline::alongside(load, spooling::spooling(&mut spool)).await?;
    Ok((report, spool))
}

/// The load of [`migrate`] on its open session.
async fn load(
    mapping: &Mapping,
    settings: &Settings,
    s: &mut session::Session,
    kept: &mut Kept,
    started: Instant,
) -> Result<Report, Error> {
    let (e, opts) = (&settings.endpoints, &settings.tuning);
    let progress = Arc::new(session::progress(
        "migrate",
        &s.contract,
        s.jobs.iter().map(|j| j.table()),
        1,
    ));
    progress.phase("prepare");
    if s.previous.is_none() {
        let conn = &mut s.snapshot.conns[0];
        keys::refuse_orphans(conn, &s.contract, &s.source_tables, &s.target_tables).await?;
    }
    let run = session::new_run(s, "migrate", mapping);
    // Before the target is touched: the kept directory's journal, and room for its files.
    kept.start(&run, s.previous.as_ref(), &s.contract, &s.jobs)?;
    let loaded = session::loaded(&s.contract, &s.target_tables);
    let fks = load::prepare_target(
        &mut s.control,
        s.previous.as_ref(),
        || run.clone(),
        &mapping.target_schema,
        &loaded,
        &mapping.seeded_tables,
        settings.replace,
    )
    .await?;
    let live = s.live || s.previous.as_ref().is_some_and(|r| r.live);
    let mut recopied = s
        .previous
        .as_ref()
        .map(|r| r.recopied.clone())
        .unwrap_or_default();
    if s.live {
        let at = s.snapshot.info.binlog.clone().unwrap_or_default();
        let schema = &mapping.target_schema;
        let again = recopy(
            &mut s.control,
            &s.contract,
            &s.chunk_plan,
            &loaded,
            schema,
            &at,
        );
        recopied.extend(again.await?);
    }
    // Tables of different instants until the follower has passed every recopied table's position: their keys
    // are restored at the cut-over, not here.
    let fks = match live {
        true => Vec::new(),
        false => fks,
    };
    let prepared = Instant::now();
    crate::hooks::pause(|| "prepared".into()).await;
    let (jobs, done) =
        load::skip_loaded(&s.control, std::mem::take(&mut s.jobs), &progress).await?;
    kept.holds(&done)?;
    // A fresh run keeps every row's canonical digest as it is sent, so the verification after the load only reads
    // the target back; a resumed run lacks the interrupted run's digests and verifies by reading both sides.
    let keep_digests = settings.verify && s.previous.is_none();
    let phase = Copy {
        mapping,
        source_url: &e.source,
        target_url: &e.target,
        tuning: opts,
        contract: &s.contract,
        loaded: &loaded,
        fks: &fks,
        kept,
        keep_digests,
        progress: &progress,
    };
    let copied = copy::copy(phase, jobs, &mut s.snapshot, &mut s.control).await?;
    progress.finish();
    kept.finish(export_dir::About {
        mapping,
        contract: &s.contract,
        inputs: s.inputs.clone(),
        snapshot: s
            .previous
            .as_ref()
            .map_or_else(|| s.snapshot.info.clone(), |r| r.snapshot.clone()),
        target_tables: &s.target_tables,
        checks: copied.checks.clone().unwrap_or_default(),
    })?;
    if keep_digests {
        load::store_digests(&mut s.control, &copied.digests).await;
    }
    let times = (started, prepared, copied.load_done);
    let mut report = report(mapping, settings, s, &done, &copied.results, times);
    report.live = live;
    report.recopied = recopied;
    report.from_load = keep_digests.then(|| FromLoad {
        digests: copied.digests,
        answers: copied.checks,
        validated: fks.iter().map(DroppedFk::key).collect(),
        instant: s.snapshot.info.clone(),
    });
    Ok(report)
}

/// A live resume's first step: the tables whose copy the interrupted run did not complete are emptied, to be
/// copied whole from this session's snapshot, and recorded with its position `at` (one durable step). Returns them
/// with that position.
async fn recopy(
    control: &mut tokio_postgres::Client,
    contract: &crate::contract::Contract,
    chunk_plan: &BTreeMap<String, Vec<crate::chunk::ChunkRange>>,
    loaded: &[&crate::schema::TargetTable],
    schema: &str,
    at: &str,
) -> Result<BTreeMap<String, String>, Error> {
    let done = crate::cutover::ledger::loaded_chunks(control).await?;
    let unfinished: Vec<(String, String)> = contract
        .tables
        .iter()
        .zip(loaded)
        .filter(|(tp, _)| {
            let chunks = chunk_plan.get(&tp.source).map_or(0, Vec::len);
            (0..chunks as u32).any(|i| !done.contains_key(&(tp.source.clone(), i)))
        })
        .map(|(tp, t)| (tp.source.clone(), t.name.clone()))
        .collect();
    crate::cutover::ledger::recopy_live(control, schema, &unfinished, at).await?;
    for (table, _) in &unfinished {
        tracing::info!(table, at, "Copying this table again from the new snapshot.");
    }
    Ok(unfinished
        .into_iter()
        .map(|(t, _)| (t, at.to_string()))
        .collect())
}

/// The report of a run that loaded `results` after an interrupted run had loaded `before`; `times` are when it
/// started, when the target was prepared and when the load ended.
fn report(
    mapping: &Mapping,
    settings: &Settings,
    s: &session::Session,
    before: &HashMap<(String, u32), u64>,
    results: &[Done<ChunkWork>],
    (started, prepared, load_done): (Instant, Instant, Instant),
) -> Report {
    let mut tables: BTreeMap<String, TableReport> = s
        .contract
        .tables
        .iter()
        .map(|tp| {
            let report = TableReport {
                target: tp.target.clone(),
                chunks: s.chunk_plan.get(&tp.source).map(Vec::len).unwrap_or(0),
                rows_estimate: tp.rows_estimate,
                bytes_estimate: tp.bytes_estimate,
                ..Default::default()
            };
            (tp.source.clone(), report)
        })
        .collect();
    for ((table, _), rows) in before {
        if let Some(r) = tables.get_mut(table) {
            r.rows_before += rows;
        }
    }
    for (table, timing) in crate::report::per_table(results) {
        tables.get_mut(&table).expect("reported table").timing = timing;
    }
    let rows: u64 = tables.values().map(|r| r.timing.rows).sum();
    let copy_bytes: u64 = tables.values().map(|r| r.timing.bytes).sum();
    let rows_total = rows + tables.values().map(|r| r.rows_before).sum::<u64>();
    let total = started.elapsed().as_secs_f64();
    Report {
        app: mapping.app.clone(),
        snapshot: s.snapshot.info.clone(),
        time_split: crate::report::split(tables.values().map(|r| &r.timing)),
        tables,
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
        settings: settings.tuning.clone(),
        not_copied: s
            .contract
            .tables
            .iter()
            .filter(|t| !t.not_copied.is_empty())
            .map(|t| (t.source.clone(), t.not_copied.clone()))
            .collect(),
        from_load: None,
        follow: None,
        live: false,
        recopied: BTreeMap::new(),
    }
}

/// What the follow phase takes from the command line.
fn follow_of<'a>(settings: &'a Settings, mapping: &'a Mapping) -> Follow<'a> {
    Follow {
        mapping,
        endpoints: &settings.endpoints,
        tuning: &settings.tuning,
        verify: settings.verify,
        verify_full: settings.verify_full,
        skip_statement: settings.skip_statement.clone(),
        spool_dir: &settings.spool_dir,
        index_foreign_keys: settings.index_foreign_keys,
    }
}

/// With `--follow`, before anything is written: the source's binary log must be followable. With `--resume` on
/// a completed copy, only the follow phase is left: it runs alone (Some).
async fn follow_first(
    settings: &Settings,
    mapping: &Mapping,
) -> Result<Option<FollowReport>, Error> {
    if !settings.follow {
        return Ok(None);
    }
    let mut conn = crate::connect::source(&settings.endpoints.source).await?;
    catchup::refuse_unfollowable(&mut conn).await?;
    conn.disconnect().await.ok();
    if !settings.resume {
        return Ok(None);
    }
    let client = crate::connect::target(&settings.endpoints.target).await?;
    let completed = crate::cutover::ledger::read_run(&client)
        .await?
        .is_some_and(|r| r.is_completed());
    drop(client);
    if !completed {
        return Ok(None);
    }
    let f = catchup::follow(&follow_of(settings, mapping)).await?;
    println!("{}", follow_summary(&f));
    Ok(Some(f))
}

/// One line for the operator at the end of the follow phase.
pub fn follow_summary(f: &FollowReport) -> String {
    format!(
        "Followed the source from {} to {}: {} transactions, {} row changes in {:.1}s ({:.0} changes/s); freeze {:.1}s from cutover to the finished target.",
        f.from,
        f.end,
        f.transactions,
        f.changes,
        f.seconds_following,
        f.changes_per_second,
        f.seconds_freeze
    )
}

/// `pgconverge migrate`: runs it, writes the report if asked, prints the summary line.
pub async fn command(settings: &Settings) -> Result<(), Error> {
    let mapping = Mapping::load(&settings.endpoints.mapping)?;
    if let Some(follow) = follow_first(settings, &mapping).await? {
        let only = FollowOnly {
            app: mapping.app.clone(),
            follow,
        };
        return output::conclude("migrate", only, settings.report.as_deref(), None).map(|_| ());
    }
    let (mut report, mut spool) = migrate(&mapping, settings).await?;
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
    if report.live {
        println!(
            "The source was written since the interrupted run's snapshot: the copy is not verified now; the \
             cut-over restores the foreign keys and verifies every table once the follower has applied the changes."
        );
    }
    if settings.verify && !report.live {
        let v = verify::after_load(
            &mapping,
            &settings.endpoints,
            &settings.tuning,
            report.from_load.take(),
        );
        let v = crate::pipeline::alongside(v, spooling::spooling(&mut spool)).await?;
        if let Some(path) = &settings.checklist {
            verify::write_checklist(path, &v)?;
        }
        report.seconds_verify = v.seconds;
        report.verified = Some(v.passed);
        if !v.passed {
            failed = Some(output::not_verified("migrate", &v));
        }
    }
    // Without the global read lock the readers' snapshots are one instant only if nothing was written: a moved
    // binary log means the comparison proves nothing, whatever it found.
    if failed.is_none() && !report.snapshot.locked && !report.live {
        if let Some(moved) =
            session::moved_during(&settings.endpoints.source, &report.snapshot).await?
        {
            if report.verified.is_some() {
                report.verified = Some(false);
            }
            failed = Some(Error::Verify(moved));
        }
    }
    match spool {
        Some(spool) if failed.is_none() => drop(spool.finish()),
        Some(spool) => spool.discard(),
        None => {}
    }
    if settings.follow && failed.is_none() {
        let f = catchup::follow(&follow_of(settings, &mapping)).await?;
        println!("{}", follow_summary(&f));
        report.follow = Some(f);
    }
    output::conclude("migrate", report, settings.report.as_deref(), failed).map(|_| ())
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
