//! The exported-files source (`pgconverge import`): reads a chunk file in blocks of raw bytes, handed on as
//! one-column Arrow batches, so an import runs through the same pipeline, sinks and ledger as `migrate`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use crate::pipeline::{Emitter, Source, Work};

/// Bytes per block read from a file.
const BLOCK: usize = 1 << 20;

/// What the file source needs to know about a chunk.
pub trait FileSpec {
    fn path(&self) -> &Path;
    /// Data rows the file holds (from the manifest).
    fn rows(&self) -> u64;
}

/// A file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct FileError {
    pub path: String,
    pub source: std::io::Error,
}

/// Reads chunk files; one per reader.
pub struct FileReader;

/// Schema of the batches: one Binary column holding one block.
pub fn block_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new(
        "block",
        DataType::Binary,
        false,
    )]))
}

impl<W: Work + FileSpec> Source<W> for FileReader {
    type Error = FileError;

    async fn read(&mut self, work: &W, out: &mut dyn Emitter) -> Result<u64, FileError> {
        let err = |source| FileError {
            path: work.path().display().to_string(),
            source,
        };
        let mut f = std::fs::File::open(work.path()).map_err(err)?;
        let schema = block_schema();
        let mut buf = vec![0u8; BLOCK];
        loop {
            let n = f.read(&mut buf).map_err(err)?;
            if n == 0 {
                break;
            }
            let block: ArrayRef = Arc::new(BinaryArray::from(vec![&buf[..n]]));
            let batch = RecordBatch::try_new(schema.clone(), vec![block]).expect("one column");
            if out.emit(batch).await.is_err() {
                break;
            }
        }
        Ok(work.rows())
    }

    async fn close(self) {}
}
