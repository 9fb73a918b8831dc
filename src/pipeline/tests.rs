//! The engine's guarantees on in-memory stages (no database is involved): every chunk committed once with its
//! pieces in order, a transient sink error retried, a fatal one returned with its chunk, a transform error
//! stopping the run.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, Int64Array, RecordBatch};

use super::*;

struct Chunk {
    name: String,
    /// Values of the chunk, read in batches of two rows.
    values: Vec<i64>,
}

impl Work for Chunk {
    fn table(&self) -> &str {
        &self.name
    }
}

struct Numbers;

impl Source<Chunk> for Numbers {
    type Error = String;

    async fn read(&mut self, work: &Chunk, out: &mut dyn Emitter) -> Result<u64, String> {
        for pair in work.values.chunks(2) {
            let a: ArrayRef = Arc::new(Int64Array::from(pair.to_vec()));
            let batch = RecordBatch::try_from_iter([("v", a)]).expect("batch");
            if out.emit(batch).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(work.values.len() as u64)
    }

    async fn close(self) {}
}

/// Doubles every value; a negative value is a data error.
struct Double;

impl Transform<Chunk> for Double {
    type Output = Vec<i64>;
    type Error = String;

    fn apply(&self, work: &Chunk, raw: RecordBatch) -> Result<Vec<i64>, String> {
        let a = raw
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("ints");
        a.values()
            .iter()
            .map(|&v| {
                if v < 0 {
                    Err(format!("{} holds {v}", work.name))
                } else {
                    Ok(v * 2)
                }
            })
            .collect()
    }
}

#[derive(Debug)]
struct Failure {
    transient: bool,
}

impl Retry for Failure {
    fn transient(&self) -> bool {
        self.transient
    }
}

impl From<Failure> for String {
    fn from(f: Failure) -> String {
        format!("sink failed (transient: {})", f.transient)
    }
}

/// A committed chunk's name and values.
type Committed = (String, Vec<i64>);

/// Collects committed chunks; fails on a chunk named in `fail` (once when transient).
#[derive(Clone, Default)]
struct Store {
    committed: Arc<Mutex<Vec<Committed>>>,
    open: Vec<i64>,
    fail: Option<(String, bool)>,
    failures: Arc<AtomicU32>,
    recovered: Arc<AtomicU32>,
}

impl Sink<Chunk, Vec<i64>> for Store {
    type Error = Failure;

    async fn begin(&mut self, _: &Chunk) -> Result<(), Failure> {
        self.open.clear();
        Ok(())
    }

    async fn write(&mut self, work: &Chunk, piece: Vec<i64>) -> Result<(), Failure> {
        if let Some((name, transient)) = &self.fail {
            if *name == work.name && (!transient || self.failures.load(Ordering::SeqCst) == 0) {
                self.failures.fetch_add(1, Ordering::SeqCst);
                return Err(Failure {
                    transient: *transient,
                });
            }
        }
        self.open.extend(piece);
        Ok(())
    }

    async fn commit(&mut self, work: &Chunk, rows: u64) -> Result<u64, Failure> {
        assert_eq!(rows as usize, self.open.len());
        let v = std::mem::take(&mut self.open);
        self.committed
            .lock()
            .unwrap()
            .push((work.name.clone(), v.clone()));
        Ok(v.len() as u64 * 8)
    }

    async fn abort(&mut self) {
        self.open.clear();
    }

    async fn recover(&mut self) -> Result<(), Failure> {
        self.recovered.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn jobs(n: usize) -> Vec<Arc<Chunk>> {
    (0..n)
        .map(|i| {
            Arc::new(Chunk {
                name: format!("c{i}"),
                values: (0..(i as i64 % 7 + 1) * 3)
                    .map(|v| v + i as i64 * 100)
                    .collect(),
            })
        })
        .collect()
}

fn run_with(
    jobs: Vec<Arc<Chunk>>,
    store: Store,
    readers: usize,
    writers: usize,
) -> Result<Vec<Done<Chunk>>, Stop<Chunk, String>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(
        jobs,
        (0..readers).map(|_| Numbers).collect(),
        Double,
        (0..writers).map(|_| store.clone()).collect(),
        Settings::default(),
    ))
}

#[test]
fn every_chunk_committed_once_with_its_pieces_in_order() {
    let store = Store::default();
    let done = run_with(jobs(40), store.clone(), 3, 2).unwrap_or_else(|_| panic!("run failed"));
    assert_eq!(done.len(), 40);
    let committed = store.committed.lock().unwrap();
    let mut names: Vec<&str> = committed.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 40, "each chunk exactly once");
    for (name, values) in committed.iter() {
        let job = jobs(40).into_iter().find(|j| &j.name == name).unwrap();
        let want: Vec<i64> = job.values.iter().map(|v| v * 2).collect();
        assert_eq!(values, &want, "{name}: pieces in source order");
    }
}

#[test]
fn a_transient_sink_error_is_retried_on_a_recovered_sink() {
    let store = Store {
        fail: Some(("c5".into(), true)),
        ..Default::default()
    };
    let done = run_with(jobs(12), store.clone(), 2, 2).unwrap_or_else(|_| panic!("run failed"));
    assert_eq!(done.len(), 12);
    assert_eq!(store.failures.load(Ordering::SeqCst), 1);
    assert_eq!(store.recovered.load(Ordering::SeqCst), 1);
    let committed = store.committed.lock().unwrap();
    assert_eq!(committed.iter().filter(|(n, _)| n == "c5").count(), 1);
}

#[test]
fn a_fatal_sink_error_stops_the_run_naming_its_chunk() {
    let store = Store {
        fail: Some(("c3".into(), false)),
        ..Default::default()
    };
    match run_with(jobs(12), store.clone(), 2, 2) {
        Err(Stop::Failed { work, error }) => {
            assert_eq!(work.name, "c3");
            assert_eq!(error, "sink failed (transient: false)");
        }
        _ => panic!("expected the sink failure"),
    }
    assert!(!store
        .committed
        .lock()
        .unwrap()
        .iter()
        .any(|(n, _)| n == "c3"));
}

#[test]
fn a_transform_error_stops_the_run_and_its_chunk_is_not_committed() {
    let mut js = jobs(10);
    js[4] = Arc::new(Chunk {
        name: "bad".into(),
        values: vec![1, 2, 3, -4, 5],
    });
    let store = Store::default();
    match run_with(js, store.clone(), 2, 1) {
        Err(Stop::Failed { work, error }) => {
            assert_eq!(work.name, "bad");
            assert_eq!(error, "bad holds -4");
        }
        _ => panic!("expected the transform failure"),
    }
    assert!(!store
        .committed
        .lock()
        .unwrap()
        .iter()
        .any(|(n, _)| n == "bad"));
}
