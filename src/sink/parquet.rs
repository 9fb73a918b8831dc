//! The Parquet snapshot sink (`migrate --parquet-dir`): one file per chunk holding the converted batches.
//!
//! The ArrowWriter buffers a row group in memory, so the file is flushed once its buffer passes `FLUSH_BYTES`,
//! keeping the snapshot inside the run's memory bound.

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{Encoded, SinkError, Spec};
use crate::pipeline::Sink;

/// In-progress row group size at which the writer flushes.
const FLUSH_BYTES: usize = 16 << 20;

/// Writes each chunk's converted batches to `DIR/<table>.<chunk>.parquet`.
pub struct ParquetFiles {
    dir: PathBuf,
    open: Option<(PathBuf, ArrowWriter<File>)>,
}

impl ParquetFiles {
    pub fn new(dir: &Path) -> ParquetFiles {
        ParquetFiles {
            dir: dir.to_path_buf(),
            open: None,
        }
    }
}

fn pq(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> SinkError + '_ {
    move |e| SinkError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl<W: Spec> Sink<W, Encoded> for ParquetFiles {
    type Error = SinkError;

    async fn begin(&mut self, work: &W) -> Result<(), SinkError> {
        let path = self
            .dir
            .join(format!("{}.{:05}.parquet", work.table(), work.chunk()));
        let file = File::create(&path).map_err(|source| SinkError::File {
            path: path.clone(),
            source,
        })?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let w = ArrowWriter::try_new(file, work.out_schema(), Some(props)).map_err(pq(&path))?;
        self.open = Some((path, w));
        Ok(())
    }

    async fn write(&mut self, _: &W, piece: Encoded) -> Result<(), SinkError> {
        let (path, w) = self.open.as_mut().expect("write after begin");
        let batch = piece
            .batch
            .as_ref()
            .expect("the composition keeps converted batches for Parquet");
        w.write(batch).map_err(pq(path))?;
        if w.in_progress_size() > FLUSH_BYTES {
            w.flush().map_err(pq(path))?;
        }
        Ok(())
    }

    /// Writes the footer; a file without it is unreadable.
    async fn commit(&mut self, _: &W, _: u64) -> Result<u64, SinkError> {
        if let Some((path, w)) = self.open.take() {
            w.close().map_err(pq(&path))?;
        }
        Ok(0)
    }

    async fn abort(&mut self) {
        self.open = None;
    }

    async fn recover(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
