//! Sinks of the data path and their encoders: CSV and binary COPY encoding (`csv`, `binary`), PostgreSQL COPY
//! with the ledger row (`copy`), export-directory files (`export`: CSV and typed Parquet, `parquet`), and
//! [`Tee`] to fan one chunk out to two sinks, [`Collect`] to hand pieces to a function (what `check` needs),
//! [`Tally`] to tell the progress display (and the early finish) of committed chunks.

pub mod binary;
pub mod copy;
pub mod csv;
pub mod export;
pub mod parquet;
pub mod probe;

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::Schema;
use bytes::Bytes;

use crate::pipeline::{Retry, Sink, Work};

/// One encoded batch on its way to the sinks.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub rows: u64,
    /// CSV or binary COPY data of the rows.
    pub data: Bytes,
    /// CSV rows whose quoted fields hold line breaks (see `csv::encode`), for tracing COPY errors to rows.
    pub multiline: Vec<(u32, u32, u32)>,
    /// The rows as CSV when a sink asks for it ([`Needs::csv`]): `data` itself (shared, nothing copied) when it
    /// is CSV, the rows encoded once more when it is binary COPY.
    pub csv: Option<Bytes>,
    /// The converted batch in Parquet's types (`parquet::typed`), when a sink asks for it ([`Needs::typed`]).
    pub batch: Option<RecordBatch>,
    /// Canonical digests of the rows (`canonical`), when a sink asks for them ([`Needs::digest`]).
    pub digest: Option<crate::canonical::Partial>,
    /// The rows' source primary-key columns as read (shared with the raw batch, nothing copied), so a row
    /// PostgreSQL rejects is named by its key from the stream itself: no second query, no OFFSET, no reading
    /// outside the snapshot. Empty when the table has no key or the data are files.
    pub keys: Vec<ArrayRef>,
}

/// What a sink stack needs in each piece beyond the wire data; the transform encodes exactly that, so a piece
/// carries nothing no sink asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// [`Encoded::csv`]: the rows as CSV, for CSV files.
    pub csv: bool,
    /// [`Encoded::batch`]: the rows in Parquet's types, for Parquet files.
    pub typed: bool,
    /// [`Encoded::digest`]: the rows' canonical digests, for the verification or an export's manifest.
    pub digest: bool,
}

impl Needs {
    /// What either stack needs.
    pub fn and(self, o: Needs) -> Needs {
        Needs {
            csv: self.csv || o.csv,
            typed: self.typed || o.typed,
            digest: self.digest || o.digest,
        }
    }
}

/// A sink that says what it needs in each [`Encoded`] piece.
pub trait Asks {
    fn needs(&self) -> Needs;
}

impl<A: Asks, B: Asks> Asks for Tee<A, B> {
    fn needs(&self) -> Needs {
        self.0.needs().and(self.1.needs())
    }
}

impl<S: Asks> Asks for Option<S> {
    fn needs(&self) -> Needs {
        self.as_ref().map(Asks::needs).unwrap_or_default()
    }
}

impl<S: Asks, C: ?Sized> Asks for Tally<S, C> {
    fn needs(&self) -> Needs {
        self.0.needs()
    }
}

impl Asks for Digests {
    fn needs(&self) -> Needs {
        Needs {
            digest: true,
            ..Needs::default()
        }
    }
}

/// What the sinks need to know about a chunk.
pub trait Spec: Work {
    /// The target table.
    fn target(&self) -> &str;
    /// Index of the chunk within its table.
    fn chunk(&self) -> u32;
    /// The chunk's key range, for messages.
    fn describe(&self) -> String;
    /// Schema of the converted batches.
    fn out_schema(&self) -> Arc<Schema>;
    /// How each output column was converted (what typed Parquet is built from).
    fn conversions(&self) -> &[crate::convert::Conversion];
    /// Names of the source key columns carried in [`Encoded::keys`].
    fn key_names(&self) -> &[String] {
        &[]
    }
}

/// The key columns of the pieces of one chunk, kept until it commits: what names a rejected row.
#[derive(Debug, Default)]
pub struct KeyLog {
    /// (first row of the piece in the chunk, its key columns), in stream order.
    pieces: Vec<(u64, Vec<ArrayRef>)>,
    rows: u64,
}

impl KeyLog {
    /// Records a piece of `rows` rows; pieces without keys leave the log unable to name rows.
    pub fn push(&mut self, rows: u64, keys: Vec<ArrayRef>) {
        if !keys.is_empty() {
            self.pieces.push((self.rows, keys));
        }
        self.rows += rows;
    }

    /// Raw key values of the chunk's `row` (0-based), in key-column order.
    pub fn key_of(&self, row: u64) -> Option<Vec<Option<Vec<u8>>>> {
        let i = self.pieces.partition_point(|(start, _)| *start <= row);
        let (start, cols) = self.pieces.get(i.checked_sub(1)?)?;
        let at = usize::try_from(row - start).ok()?;
        cols.iter()
            .map(|c| {
                let c = c.as_binary_opt::<i32>()?;
                (at < c.len()).then(|| (!c.is_null(at)).then(|| c.value(at).to_vec()))
            })
            .collect()
    }
}

/// A failed COPY, with the position PostgreSQL reported so the row can be found in the source.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{what} of {table} chunk {chunk} ({range}) failed: {message}{}",
    match (row, key) {
        (_, Some(k)) => format!(" (source row {})", crate::util::key::render(key_names.iter().zip(k.iter().cloned()))),
        (Some(r), None) => format!(" (row {} of the chunk)", r + 1),
        _ => String::new(),
    }
)]
pub struct CopyFailure {
    pub table: String,
    pub chunk: u32,
    pub range: String,
    pub what: String,
    pub message: String,
    /// 0-based row of the chunk PostgreSQL rejected, when it said.
    pub row: Option<u64>,
    /// That row's source key as read in the snapshot (raw values, in `key_names` order), when the stream had it.
    pub key: Option<Vec<Option<Vec<u8>>>>,
    pub key_names: Vec<String>,
    /// The line number PostgreSQL reported.
    pub line: Option<u64>,
    /// Target column PostgreSQL named.
    pub column: Option<String>,
    /// The SQLSTATE PostgreSQL gave, when it gave one.
    pub sqlstate: Option<String>,
    /// A lost connection or a server-side abort unrelated to the data: the chunk can be copied again.
    pub transient: bool,
}

/// Errors of the sinks.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Copy(Box<CopyFailure>),
    #[error(
        "{table} chunk {chunk} ({range}): COPY stored {copied} rows but {read} were read; the chunk was rolled back"
    )]
    RowCount {
        table: String,
        chunk: u32,
        range: String,
        copied: u64,
        read: u64,
    },
    #[error("cannot write {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error(transparent)]
    Connect(#[from] crate::connect::ConnectError),
    /// `check` could not ask the target whether a column's values satisfy its domain.
    #[error("checking the values of {table}.{column} against its domain on the target failed: {message}")]
    Probe {
        table: String,
        column: String,
        message: String,
    },
    /// A session setting the COPY sessions need was refused (the connection itself is fine).
    #[error("the target refused `{statement}` (SQLSTATE {sqlstate}): {message}")]
    Setting {
        statement: String,
        sqlstate: String,
        message: String,
    },
}

impl Retry for SinkError {
    fn transient(&self) -> bool {
        matches!(self, SinkError::Copy(f) if f.transient)
    }
}

/// Fans every chunk out to two sinks: the first is written and committed first, both commit or the chunk fails;
/// the chunk's bytes are the larger of the two sinks' counts (files sinks count file bytes, COPY wire bytes).
pub struct Tee<A, B>(pub A, pub B);

impl<W, A, B> Sink<W, Encoded> for Tee<A, B>
where
    W: Spec,
    A: Sink<W, Encoded, Error = SinkError>,
    B: Sink<W, Encoded, Error = SinkError>,
{
    type Error = SinkError;

    async fn begin(&mut self, work: &W) -> Result<(), SinkError> {
        self.0.begin(work).await?;
        self.1.begin(work).await
    }

    async fn write(&mut self, work: &W, piece: Encoded) -> Result<(), SinkError> {
        self.0.write(work, piece.clone()).await?;
        self.1.write(work, piece).await
    }

    async fn commit(&mut self, work: &W, rows: u64) -> Result<u64, SinkError> {
        let bytes = self.0.commit(work, rows).await?;
        Ok(bytes.max(self.1.commit(work, rows).await?))
    }

    async fn abort(&mut self) {
        self.0.abort().await;
        self.1.abort().await;
    }

    async fn recover(&mut self) -> Result<(), SinkError> {
        self.0.recover().await?;
        self.1.recover().await
    }
}

/// Hears of each chunk a sink committed: the progress display (its total follows the tables' real sizes) and,
/// in `migrate`, the early finish (a table whose chunks are all committed can be finished while others load).
pub trait OnCommit: Send + Sync + 'static {
    /// A chunk of the source table `table` committed `rows` rows.
    fn committed(&self, table: &str, rows: u64);
}

impl OnCommit for crate::progress::Progress {
    fn committed(&self, table: &str, rows: u64) {
        self.chunk_done(table, rows)
    }
}

/// A sink that tells `C` each chunk it committed, with its rows; a chunk counts only once the inner sink made it
/// durable.
pub struct Tally<S, C: ?Sized = crate::progress::Progress>(pub S, pub Arc<C>);

impl<W, O, S, C> Sink<W, O> for Tally<S, C>
where
    W: Work,
    O: Send + 'static,
    S: Sink<W, O>,
    C: OnCommit + ?Sized,
{
    type Error = S::Error;

    async fn begin(&mut self, work: &W) -> Result<(), S::Error> {
        self.0.begin(work).await
    }

    async fn write(&mut self, work: &W, piece: O) -> Result<(), S::Error> {
        self.0.write(work, piece).await
    }

    async fn commit(&mut self, work: &W, rows: u64) -> Result<u64, S::Error> {
        let bytes = self.0.commit(work, rows).await?;
        self.1.committed(work.table(), rows);
        Ok(bytes)
    }

    async fn abort(&mut self) {
        self.0.abort().await
    }

    async fn recover(&mut self) -> Result<(), S::Error> {
        self.0.recover().await
    }
}

/// Keeps the canonical digests of every committed chunk by table, for `verify` after the load: placed after the
/// COPY sink in a `Tee`, it adds a chunk's digests only once that chunk committed, and drops them on abort.
pub struct Digests {
    chunk: Vec<crate::canonical::Partial>,
    into: Arc<std::sync::Mutex<std::collections::HashMap<String, crate::canonical::Buckets>>>,
}

impl Digests {
    pub fn new(
        into: Arc<std::sync::Mutex<std::collections::HashMap<String, crate::canonical::Buckets>>>,
    ) -> Self {
        Digests {
            chunk: Vec::new(),
            into,
        }
    }
}

impl<W: Spec> Sink<W, Encoded> for Digests {
    type Error = SinkError;

    async fn begin(&mut self, _: &W) -> Result<(), SinkError> {
        self.chunk.clear();
        Ok(())
    }

    async fn write(&mut self, _: &W, piece: Encoded) -> Result<(), SinkError> {
        self.chunk.extend(piece.digest);
        Ok(())
    }

    async fn commit(&mut self, work: &W, _: u64) -> Result<u64, SinkError> {
        let mut all = self.into.lock().expect("digest map");
        let b = all
            .entry(work.table().to_string())
            .or_insert_with(crate::canonical::empty_buckets);
        for p in self.chunk.drain(..) {
            crate::canonical::merge(b, &p);
        }
        Ok(0)
    }

    async fn abort(&mut self) {
        self.chunk.clear();
    }

    async fn recover(&mut self) -> Result<(), SinkError> {
        self.chunk.clear();
        Ok(())
    }
}

/// A sink that writes nothing: hands each piece to a function and commits at once.
pub struct Collect<F>(pub F);

impl<W, O, F> Sink<W, O> for Collect<F>
where
    W: Work,
    O: Send + 'static,
    F: FnMut(O) + Send + 'static,
{
    type Error = std::convert::Infallible;

    async fn begin(&mut self, _: &W) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn write(&mut self, _: &W, piece: O) -> Result<(), Self::Error> {
        (self.0)(piece);
        Ok(())
    }

    async fn commit(&mut self, _: &W, _: u64) -> Result<u64, Self::Error> {
        Ok(0)
    }

    async fn abort(&mut self) {}

    async fn recover(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// An optional sink: `None` accepts every chunk and writes nothing.
impl<W, S> Sink<W, Encoded> for Option<S>
where
    W: Spec,
    S: Sink<W, Encoded, Error = SinkError>,
{
    type Error = SinkError;

    async fn begin(&mut self, work: &W) -> Result<(), SinkError> {
        match self {
            Some(s) => s.begin(work).await,
            None => Ok(()),
        }
    }

    async fn write(&mut self, work: &W, piece: Encoded) -> Result<(), SinkError> {
        match self {
            Some(s) => s.write(work, piece).await,
            None => Ok(()),
        }
    }

    async fn commit(&mut self, work: &W, rows: u64) -> Result<u64, SinkError> {
        match self {
            Some(s) => s.commit(work, rows).await,
            None => Ok(0),
        }
    }

    async fn abort(&mut self) {
        if let Some(s) = self {
            s.abort().await;
        }
    }

    async fn recover(&mut self) -> Result<(), SinkError> {
        match self {
            Some(s) => s.recover().await,
            None => Ok(()),
        }
    }
}
