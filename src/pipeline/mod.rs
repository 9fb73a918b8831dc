//! The data path's engine, and the only module that knows tasks, channels and cancellation.
//!
//! ```text
//!  job queue ──> reader i: Source::read ──raw batch──> rayon: Transform::apply ──piece──┐
//!      ^            │ hands each chunk to a writer on `ready` (bounded: writers)        │ per-chunk queue
//!      │            v                                                                    v (bounded: depth)
//!      └── retry ── writer j: Sink::begin, Sink::write per piece in order, Sink::commit <┘
//! ```
//!
//! A composition (`commands::migrate`, `commands::check`) supplies one [`Source`] per reader, one [`Transform`]
//! and one [`Sink`] per writer; the engine moves chunks between them. Guarantees:
//! - **Bounded memory**: at most `readers + 2 * writers` chunks are in flight, each with at most `depth` pieces
//!   queued, plus one batch per reader in the transform; batches are cut by the source at a byte size, so every
//!   queue is bounded in bytes too.
//! - **Ordered per-chunk delivery**: a chunk's pieces reach its sink in the order the source read them.
//! - **Retry**: a sink error that is [`Retry::transient`] re-queues the chunk at the front (read again from the
//!   source, written again after [`Sink::recover`]), up to `retries` times.
//! - **One cancellation path**: the first fatal error aborts every task and is returned with the chunk it
//!   concerns; [`until_interrupted`] ends a whole command on Ctrl-C or SIGTERM, and dropping [`run`]'s future
//!   aborts every task (open sinks roll back when their connections drop).
//! - **Exactly once**: every job is committed once, or the run fails; a lost chunk is reported, never ignored.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinSet;

/// One unit of work (a chunk of a table) as the engine sees it.
pub trait Work: Send + Sync + 'static {
    /// The source table, for accounting and messages.
    fn table(&self) -> &str;
}

/// Whether a failure concerns the connection or the server rather than the data, so the chunk may be retried.
pub trait Retry {
    fn transient(&self) -> bool;
}

impl Retry for std::convert::Infallible {
    fn transient(&self) -> bool {
        match *self {}
    }
}

/// The downstream let go of the chunk being read (its writer re-queued it, or the run is stopping): the source
/// returns at once, and its result is ignored.
#[derive(Debug)]
pub struct Halt;

/// Where a source hands each raw batch of the chunk it reads; awaiting applies backpressure.
pub trait Emitter: Send {
    fn emit(
        &mut self,
        raw: RecordBatch,
    ) -> Pin<Box<dyn Future<Output = Result<(), Halt>> + Send + '_>>;
}

/// Reads chunks: one instance per reader (a connection inside the shared snapshot, a file reader, ...).
pub trait Source<W>: Send + 'static {
    type Error: Send + 'static;
    /// Reads `work`, handing its raw batches to `out` in order; returns the rows read.
    fn read<'a>(
        &'a mut self,
        work: &'a W,
        out: &'a mut dyn Emitter,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send + 'a;
    /// Called once when no work is left.
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// Converts one raw batch; runs on rayon, so it may use rayon itself (column by column).
pub trait Transform<W>: Send + Sync + 'static {
    type Output: Send + 'static;
    type Error: Send + 'static;
    fn apply(&self, work: &W, raw: RecordBatch) -> Result<Self::Output, Self::Error>;
}

/// Writes and commits chunks: one instance per writer. A chunk is `begin`, `write` for each piece in order, then
/// `commit` with the rows the source read; `abort` undoes an open chunk after any failure.
pub trait Sink<W, O>: Send + 'static {
    type Error: Retry + Send + 'static;
    fn begin(&mut self, work: &W) -> impl Future<Output = Result<(), Self::Error>> + Send;
    fn write(&mut self, work: &W, piece: O)
        -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Makes the chunk durable; returns the bytes it wrote.
    fn commit(
        &mut self,
        work: &W,
        rows: u64,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    fn abort(&mut self) -> impl Future<Output = ()> + Send;
    /// Gets ready for the next chunk after a transient error (a new connection).
    fn recover(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// How the engine runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Pieces queued per chunk between its reader and its writer: two hide the writer's latency.
    pub depth: usize,
    /// Times a chunk is tried again after a transient sink error.
    pub retries: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            depth: 2,
            retries: 3,
        }
    }
}

/// A committed chunk.
#[derive(Debug)]
pub struct Done<W> {
    pub work: Arc<W>,
    pub rows: u64,
    pub bytes: u64,
    /// Where the chunk's time went (its last attempt).
    pub timing: Timing,
}

/// Where one chunk's time went, as each stage saw it: waiting on the source (reading, minus the time spent
/// transforming and handing batches on), transforming on rayon, and in the sink (begin, writes, commit). The
/// three overlap across chunks and workers, so they add up to busy time, not to wall time.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub started: std::time::Instant,
    pub ended: std::time::Instant,
    pub source: std::time::Duration,
    pub transform: std::time::Duration,
    pub sink: std::time::Duration,
}

/// Faults of the engine itself, never of the data: each one is a bug.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error("a pipeline task failed: {0}")]
    Task(String),
    #[error("the transform of {0} panicked")]
    TransformPanicked(String),
    #[error("{committed} of {total} chunks committed; the run stopped without an error")]
    Incomplete { committed: usize, total: usize },
}

/// Why a run stopped.
#[derive(Debug)]
pub enum Stop<W, E> {
    /// A stage failed on `work`; `error` is the stage's own error converted by the composition.
    Failed {
        work: Arc<W>,
        error: E,
    },
    Fault(Fault),
}

/// What a reader or writer task returns: the chunks it committed, or why the run stops.
type TaskResult<W, E> = Result<Vec<Done<W>>, Stop<W, E>>;

struct Job<W> {
    work: Arc<W>,
    attempt: u32,
}

/// State the readers and writers share.
struct Shared<W> {
    queue: Mutex<VecDeque<Job<W>>>,
    /// Jobs not yet committed: a reader with an empty queue waits while any is pending, since it may come back.
    pending: AtomicUsize,
    wake: Notify,
    committed: AtomicU64,
}

enum Piece<O> {
    Batch(O),
    End { rows: u64, read: ReadTiming },
}

/// The reader's side of a chunk's [`Timing`].
#[derive(Debug, Clone, Copy)]
struct ReadTiming {
    started: Instant,
    source: Duration,
    transform: Duration,
}

/// A chunk handed from its reader to a writer.
struct Handoff<W, O> {
    job: Job<W>,
    rx: mpsc::Receiver<Piece<O>>,
}

struct ChunkEmitter<W, T: Transform<W>> {
    work: Arc<W>,
    transform: Arc<T>,
    tx: mpsc::Sender<Piece<T::Output>>,
    failed: Option<T::Error>,
    panicked: bool,
    halted: bool,
    /// Time spent in `emit` (transform and handing on) and, of it, on rayon.
    emitting: Duration,
    transforming: Duration,
}

impl<W: Work, T: Transform<W>> Emitter for ChunkEmitter<W, T> {
    fn emit(
        &mut self,
        raw: RecordBatch,
    ) -> Pin<Box<dyn Future<Output = Result<(), Halt>> + Send + '_>> {
        Box::pin(async move {
            let entered = Instant::now();
            let (otx, orx) = oneshot::channel();
            let (t, w) = (self.transform.clone(), self.work.clone());
            rayon::spawn(move || {
                let started = Instant::now();
                let out = t.apply(&w, raw);
                let _ = otx.send((out, started.elapsed()));
            });
            let result = orx.await;
            let r = match result {
                Ok((Ok(out), took)) => {
                    self.transforming += took;
                    self.tx.send(Piece::Batch(out)).await.map_err(|_| {
                        self.halted = true;
                        Halt
                    })
                }
                Ok((Err(e), _)) => {
                    self.failed = Some(e);
                    Err(Halt)
                }
                // The closure was dropped without sending: it panicked.
                Err(_) => {
                    self.panicked = true;
                    Err(Halt)
                }
            };
            self.emitting += entered.elapsed();
            r
        })
    }
}

/// Runs every job through `sources` (one reader task each), `transform` and `sinks` (one writer task each).
/// Returns the committed chunks, or the first failure with the chunk it concerns.
pub async fn run<W, S, T, K, E>(
    jobs: Vec<Arc<W>>,
    sources: Vec<S>,
    transform: T,
    sinks: Vec<K>,
    settings: Settings,
) -> Result<Vec<Done<W>>, Stop<W, E>>
where
    W: Work,
    S: Source<W>,
    T: Transform<W>,
    K: Sink<W, T::Output>,
    E: From<S::Error> + From<T::Error> + From<K::Error> + Send + 'static,
{
    let total = jobs.len();
    let shared = Arc::new(Shared {
        queue: Mutex::new(
            jobs.into_iter()
                .map(|work| Job { work, attempt: 0 })
                .collect(),
        ),
        pending: AtomicUsize::new(total),
        wake: Notify::new(),
        committed: AtomicU64::new(0),
    });
    let transform = Arc::new(transform);
    let (ready_tx, ready_rx) = mpsc::channel::<Handoff<W, T::Output>>(sinks.len().max(1));
    let ready_rx = Arc::new(tokio::sync::Mutex::new(ready_rx));
    let mut set: JoinSet<TaskResult<W, E>> = JoinSet::new();
    for source in sources {
        set.spawn(reader(
            source,
            shared.clone(),
            ready_tx.clone(),
            transform.clone(),
            settings.depth.max(1),
        ));
    }
    drop(ready_tx);
    for sink in sinks {
        set.spawn(writer(
            sink,
            shared.clone(),
            ready_rx.clone(),
            settings.retries,
        ));
    }
    let mut done = Vec::with_capacity(total);
    while let Some(res) = set.join_next().await {
        match res {
            Ok(Ok(v)) => done.extend(v),
            Ok(Err(stop)) => {
                set.abort_all();
                return Err(stop);
            }
            Err(j) if j.is_cancelled() => {}
            Err(j) => {
                set.abort_all();
                return Err(Stop::Fault(Fault::Task(j.to_string())));
            }
        }
    }
    if done.len() != total {
        return Err(Stop::Fault(Fault::Incomplete {
            committed: done.len(),
            total,
        }));
    }
    Ok(done)
}

async fn reader<W, S, T, E>(
    mut source: S,
    shared: Arc<Shared<W>>,
    ready: mpsc::Sender<Handoff<W, T::Output>>,
    transform: Arc<T>,
    depth: usize,
) -> TaskResult<W, E>
where
    W: Work,
    S: Source<W>,
    T: Transform<W>,
    E: From<S::Error> + From<T::Error>,
{
    loop {
        // Registered before the queue is looked at, so a wake-up between the look and the wait is not lost.
        let notified = shared.wake.notified();
        let next = shared.queue.lock().expect("queue lock").pop_front();
        let Some(job) = next else {
            if shared.pending.load(Ordering::SeqCst) == 0 {
                break;
            }
            notified.await;
            continue;
        };
        let work = job.work.clone();
        let (tx, rx) = mpsc::channel(depth);
        if ready.send(Handoff { job, rx }).await.is_err() {
            break; // every writer is gone: the run is stopping
        }
        let mut emit = ChunkEmitter {
            work: work.clone(),
            transform: transform.clone(),
            tx,
            failed: None,
            panicked: false,
            halted: false,
            emitting: Duration::ZERO,
            transforming: Duration::ZERO,
        };
        let started = Instant::now();
        let read = source.read(&work, &mut emit).await;
        let timing = ReadTiming {
            started,
            source: started.elapsed().saturating_sub(emit.emitting),
            transform: emit.transforming,
        };
        if let Some(e) = emit.failed.take() {
            return Err(Stop::Failed {
                work,
                error: E::from(e),
            });
        }
        if emit.panicked {
            return Err(Stop::Fault(Fault::TransformPanicked(
                work.table().to_string(),
            )));
        }
        if emit.halted {
            continue; // the writer let go of this chunk; it re-queued it or the run is stopping
        }
        match read {
            // A refused End also means the writer let go.
            Ok(rows) => drop(emit.tx.send(Piece::End { rows, read: timing }).await),
            Err(e) => {
                return Err(Stop::Failed {
                    work,
                    error: E::from(e),
                })
            }
        }
    }
    source.close().await;
    Ok(Vec::new())
}

/// How one chunk ended at its writer.
enum ChunkEnd<E> {
    Sink(E),
    /// The reader stopped without finishing the chunk: its own error ends the run.
    ReaderGone,
}

async fn write_chunk<W, O, K: Sink<W, O>>(
    sink: &mut K,
    work: &W,
    rx: &mut mpsc::Receiver<Piece<O>>,
) -> Result<(u64, u64, Timing), ChunkEnd<K::Error>> {
    let mut in_sink = Duration::ZERO;
    let t = Instant::now();
    sink.begin(work).await.map_err(ChunkEnd::Sink)?;
    in_sink += t.elapsed();
    loop {
        match rx.recv().await {
            Some(Piece::Batch(o)) => {
                let t = Instant::now();
                sink.write(work, o).await.map_err(ChunkEnd::Sink)?;
                in_sink += t.elapsed();
            }
            Some(Piece::End { rows, read }) => {
                let t = Instant::now();
                let bytes = sink.commit(work, rows).await.map_err(ChunkEnd::Sink)?;
                in_sink += t.elapsed();
                let timing = Timing {
                    started: read.started,
                    ended: Instant::now(),
                    source: read.source,
                    transform: read.transform,
                    sink: in_sink,
                };
                return Ok((rows, bytes, timing));
            }
            None => return Err(ChunkEnd::ReaderGone),
        }
    }
}

async fn writer<W, O, K, E>(
    mut sink: K,
    shared: Arc<Shared<W>>,
    ready: Arc<tokio::sync::Mutex<mpsc::Receiver<Handoff<W, O>>>>,
    retries: u32,
) -> TaskResult<W, E>
where
    W: Work,
    K: Sink<W, O>,
    E: From<K::Error>,
{
    let mut done = Vec::new();
    loop {
        let next = ready.lock().await.recv().await;
        let Some(Handoff { job, mut rx }) = next else {
            break;
        };
        match write_chunk(&mut sink, &job.work, &mut rx).await {
            Ok((rows, bytes, timing)) => {
                done.push(Done {
                    work: job.work.clone(),
                    rows,
                    bytes,
                    timing,
                });
                if shared.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
                    shared.wake.notify_waiters();
                }
                let n = shared.committed.fetch_add(1, Ordering::SeqCst) + 1;
                crate::hooks::pause(|| format!("chunk:{n}")).await;
            }
            Err(ChunkEnd::ReaderGone) => {
                sink.abort().await;
                break;
            }
            Err(ChunkEnd::Sink(e)) if e.transient() && job.attempt < retries => {
                // The connection or the server failed, not the data: the open chunk is gone, so it goes back to
                // the front of the queue, is read again from the source and written on a new connection.
                drop(rx);
                sink.abort().await;
                tracing::warn!(
                    table = job.work.table(),
                    attempt = job.attempt + 1,
                    "Transient target error; copying the chunk again."
                );
                shared.queue.lock().expect("queue lock").push_front(Job {
                    work: job.work.clone(),
                    attempt: job.attempt + 1,
                });
                shared.wake.notify_waiters();
                if let Err(e) = sink.recover().await {
                    return Err(Stop::Failed {
                        work: job.work,
                        error: E::from(e),
                    });
                }
            }
            Err(ChunkEnd::Sink(e)) => {
                drop(rx);
                sink.abort().await;
                return Err(Stop::Failed {
                    work: job.work,
                    error: E::from(e),
                });
            }
        }
    }
    Ok(done)
}

/// Runs `side` while `main` runs and returns `main`'s output; `side` is dropped then, wherever it is (a side
/// that ends first just ends). For work that rides along, as the binary log spool does with the copy.
pub async fn alongside<M: Future, S: Future<Output = ()>>(main: M, side: S) -> M::Output {
    tokio::pin!(main, side);
    let mut side_done = false;
    loop {
        tokio::select! {
            r = &mut main => return r,
            _ = &mut side, if !side_done => side_done = true,
        }
    }
}

/// Runs `f` until it ends or the process receives Ctrl-C or SIGTERM; `None` when interrupted (then `f` is
/// dropped, which aborts every task it started and rolls back open chunks).
pub async fn until_interrupted<F: Future>(f: F) -> Option<F::Output> {
    tokio::select! {
        r = f => Some(r),
        _ = interrupted() => None,
    }
}

async fn interrupted() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs a connection's background driver (tokio-postgres) for as long as the connection lives.
pub fn drive<F>(driver: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(driver);
}

/// Runs CPU-bound `f` on rayon and awaits its result, keeping the async workers free.
pub async fn on_rayon<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    let (tx, rx) = oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.ok()
}

#[cfg(test)]
mod tests;
