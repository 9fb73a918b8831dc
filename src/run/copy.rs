//! The copy phases: `migrate`'s (the snapshot's readers, the convert-and-encode stage and, per writer, the COPY
//! sink, beside it the `--keep` files and the digests the verification after a fresh load compares with, the
//! mapping's checks asked of the snapshot meanwhile) and `import`'s (the export's files through COPY as they are);
//! both with the early finish beside the load, then the finish. A failure leaves the state `load::after_failure`
//! names; Ctrl-C leaves a resumable one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::canonical::Buckets;
use crate::config::{Tuning, QUEUE_BATCHES};
use crate::contract::Contract;
use crate::cutover::{ledger, DroppedFk};
use crate::error::Error;
use crate::manifest::RecordedCheck;
use crate::mapping::Mapping;
use crate::pipeline::{self, Done, Stop};
use crate::progress::Progress;
use crate::schema::TargetTable;
use crate::sink::copy::CopySink;
use crate::sink::{Asks, Digests, SinkError, Tally, Tee};
use crate::source::files::FileReader;
use crate::source::mysql::Snapshot;

use super::encode::Encode;
use super::files::{FileWork, Pass};
use super::keep::Kept;
use super::load::{after_failure, finish, locate, with_early_finish, Committed};
use super::work::{self, ChunkWork};

/// What the copy phase works on.
pub struct Copy<'a> {
    pub mapping: &'a Mapping,
    pub source_url: &'a str,
    pub target_url: &'a str,
    pub tuning: &'a Tuning,
    pub contract: &'a Contract,
    /// The target tables loaded, and the foreign keys the load runs without.
    pub loaded: &'a [&'a TargetTable],
    pub fks: &'a [DroppedFk],
    pub kept: &'a Kept,
    /// Keep every row's canonical digest as it is sent (a fresh run verified after the load).
    pub keep_digests: bool,
    pub progress: &'a Arc<Progress>,
}

/// What the copy phase hands on.
pub struct Copied {
    pub results: Vec<Done<ChunkWork>>,
    /// When the load ended and the finish began.
    pub load_done: Instant,
    /// The source's answers to the mapping's checks, asked in the snapshot while the load ran (None: they could
    /// not be, and nothing needs them; the verification asks the source itself).
    pub checks: Option<Vec<RecordedCheck>>,
    /// Canonical digests of every row sent, by source table (empty unless `keep_digests`).
    pub digests: HashMap<String, Buckets>,
}

/// Loads `jobs` and finishes the target on `control` (a new connection replaces it when it was lost).
pub async fn copy(
    c: Copy<'_>,
    jobs: Vec<Arc<ChunkWork>>,
    snapshot: &mut Snapshot,
    control: &mut tokio_postgres::Client,
) -> Result<Copied, Error> {
    let digests: Arc<Mutex<HashMap<String, Buckets>>> = Default::default();
    let committed = Arc::new(Committed::new(
        Some(c.progress.clone()),
        c.loaded.iter().map(|t| t.name.as_str()),
        jobs.iter().map(|j| {
            (
                j.table.contract.source.as_str(),
                j.table.contract.target.as_str(),
            )
        }),
    ));
    // The checks are asked on the snapshot's own connection, so their answers are of the rows' instant.
    let side = snapshot.side.take();
    let load = async {
        let readers = work::readers(c.tuning, snapshot);
        let mut sinks = Vec::with_capacity(c.tuning.writers.max(1));
        for _ in 0..c.tuning.writers.max(1) {
            let copy = copy_sink(c.target_url, c.tuning).await?;
            let digests = c.keep_digests.then(|| Digests::new(digests.clone()));
            sinks.push(Tally(
                Tee(Tee(c.kept.files(), copy), digests),
                committed.clone(),
            ));
        }
        c.progress.phase("load");
        let needs = sinks.first().map(Asks::needs).unwrap_or_default();
        let encode = Encode::new(needs, c.contract, c.progress.clone());
        let engine = pipeline::Settings {
            depth: QUEUE_BATCHES,
            ..Default::default()
        };
        // The source's answers to the mapping's checks, asked while the load runs (MySQL has cores to spare then):
        // for the manifest of a kept directory, and for the verification after a fresh load.
        let checks = async {
            match c.kept.is_on() || c.keep_digests {
                true if crate::hooks::fails("load-checks") => Err(crate::connect::err(
                    "source",
                    c.source_url,
                    "refused by the test hook load-checks",
                )
                .into()),
                true => super::answers::record_checks(c.mapping, side).await,
                false => Ok(Vec::new()),
            }
        };
        let (results, checks) =
            tokio::join!(pipeline::run(jobs, readers, encode, sinks, engine), checks);
        let results = match results {
            Ok(done) => done,
            Err(Stop::Failed {
                work,
                error: Error::Sink(SinkError::Copy(f)),
            }) => return Err(locate(c.source_url, &work, *f).await),
            Err(Stop::Failed { error, .. }) => return Err(error),
            Err(Stop::Fault(f)) => return Err(f.into()),
        };
        // A kept directory needs the answers in its manifest; the verification can ask the source itself.
        let checks = match checks {
            Ok(c) => Some(c),
            Err(e) if !c.kept.is_on() => {
                tracing::warn!(error = %e, "Could not ask the source the mapping's checks during the load; the verification will.");
                None
            }
            Err(e) => return Err(e),
        };
        Ok((results, checks))
    };
    let tail = Tail {
        tuning: c.tuning,
        target_url: c.target_url,
        schema: &c.mapping.target_schema,
        loaded: c.loaded,
        fks: c.fks,
        loading: &committed.loading,
        progress: Some(c.progress),
    };
    let ((results, checks), load_done) = load_and_finish(load, &tail, control).await?;
    let digests = std::mem::take(&mut *digests.lock().expect("digest map"));
    Ok(Copied {
        results,
        load_done,
        checks,
        digests,
    })
}

/// One writer's COPY session, recording its chunks in the ledger, with the tuning's TOAST compression.
async fn copy_sink(target_url: &str, tuning: &Tuning) -> Result<CopySink, Error> {
    Ok(CopySink::connect(target_url, ledger::LEDGER_SCHEMA, tuning.toast_compression).await?)
}

/// What the load's end shares between `migrate` and `import`: the early finish beside it, then the finish.
struct Tail<'a> {
    tuning: &'a Tuning,
    target_url: &'a str,
    schema: &'a str,
    loaded: &'a [&'a TargetTable],
    fks: &'a [DroppedFk],
    loading: &'a crate::cutover::Loading,
    /// The display told of the finish phase (import shows bytes loaded only).
    progress: Option<&'a Arc<Progress>>,
}

/// Runs `load` (which connects its sinks and runs the pipeline) with the early finish beside it when the tuning
/// says so, then the finish on `control`; returns the load's result and when it ended. A failure leaves the state
/// [`after_failure`] names; Ctrl-C a resumable one.
async fn load_and_finish<T>(
    load: impl std::future::Future<Output = Result<T, Error>>,
    t: &Tail<'_>,
    control: &mut tokio_postgres::Client,
) -> Result<(T, Instant), Error> {
    // Taken while the connection is known alive: if it is lost during the load, the finish ends its orphan.
    let control_pid = crate::connect::backend_pid(control).await;
    let work = async {
        let (done, early) = with_early_finish(
            t.tuning.finish_early,
            load,
            &*control,
            t.schema,
            t.loaded,
            t.fks,
            t.loading,
        )
        .await?;
        let load_done = Instant::now();
        if let Some(p) = t.progress {
            p.phase("finish");
        }
        finish(
            (&mut *control, control_pid),
            t.target_url,
            t.schema,
            t.loaded,
            t.fks,
            &early,
            t.tuning.writers,
        )
        .await?;
        Ok::<_, Error>((done, load_done))
    };
    match pipeline::until_interrupted(work).await {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(after_failure(control, t.target_url, e).await),
        None => {
            super::load::record_error(control, &Error::Interrupted).await;
            Err(Error::Interrupted)
        }
    }
}

/// What the copy phase of `import` works on.
pub struct FilesCopy<'a> {
    pub target_url: &'a str,
    pub schema: &'a str,
    pub tuning: &'a Tuning,
    pub loaded: &'a [&'a TargetTable],
    pub fks: &'a [DroppedFk],
}

/// The copy phase of `import`: the export's CSV files through COPY as they are (after `files::check_files` proved
/// them), with the early finish beside, then the finish.
pub async fn copy_files(
    c: FilesCopy<'_>,
    jobs: Vec<Arc<FileWork>>,
    control: &mut tokio_postgres::Client,
) -> Result<Vec<Done<FileWork>>, Error> {
    let progress = Arc::new(Progress::new(
        "import",
        jobs.iter().map(|j| j.entry.bytes).sum(),
        crate::progress::Unit::Bytes,
    ));
    progress.phase("load");
    let committed = Arc::new(Committed::new(
        None,
        c.loaded.iter().map(|t| t.name.as_str()),
        jobs.iter()
            .map(|j| (j.entry.table.as_str(), j.entry.target_table.as_str())),
    ));
    let load = async {
        let readers: Vec<FileReader> = (0..c.tuning.readers.max(1)).map(|_| FileReader).collect();
        let mut sinks = Vec::new();
        for _ in 0..c.tuning.writers.max(1) {
            let copy = copy_sink(c.target_url, c.tuning).await?;
            sinks.push(Tally(copy, committed.clone()));
        }
        let engine = pipeline::Settings {
            depth: QUEUE_BATCHES,
            ..Default::default()
        };
        match pipeline::run(jobs, readers, Pass(progress.clone()), sinks, engine).await {
            Ok(done) => Ok(done),
            Err(Stop::Failed { error, .. }) => Err(error),
            Err(Stop::Fault(f)) => Err(Error::from(f)),
        }
    };
    let tail = Tail {
        tuning: c.tuning,
        target_url: c.target_url,
        schema: c.schema,
        loaded: c.loaded,
        fks: c.fks,
        loading: &committed.loading,
        progress: None,
    };
    Ok(load_and_finish(load, &tail, control).await?.0)
}
