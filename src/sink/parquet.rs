//! Parquet snapshots of exactly what was loaded: one file per chunk holding the transformed batches.
//!
//! The ArrowWriter buffers a row group in memory, so the file is flushed once its buffer passes
//! `FLUSH_BYTES`, keeping the snapshot inside the run's memory bound.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::Error;

/// In-progress row group size at which the writer flushes.
const FLUSH_BYTES: usize = 16 << 20;

/// A chunk's Parquet file, shared by the batches of that chunk (written one after another).
#[derive(Clone)]
pub struct ChunkParquet(Arc<Mutex<Option<ArrowWriter<File>>>>, String);

impl ChunkParquet {
    pub fn create(
        dir: &Path,
        table: &str,
        chunk: u32,
        schema: Arc<Schema>,
    ) -> Result<ChunkParquet, Error> {
        let path = dir.join(format!("{table}.{chunk:05}.parquet"));
        let name = path.display().to_string();
        let file =
            File::create(&path).map_err(|e| Error::Usage(format!("cannot create {name}: {e}")))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let w = ArrowWriter::try_new(file, schema, Some(props))
            .map_err(|e| Error::Internal(format!("{name}: {e}")))?;
        Ok(ChunkParquet(Arc::new(Mutex::new(Some(w))), name))
    }

    pub fn write(&self, batch: &RecordBatch) -> Result<(), Error> {
        let mut g = self.0.lock().expect("parquet writer lock");
        let w = g
            .as_mut()
            .ok_or_else(|| Error::Internal(format!("{} already closed", self.1)))?;
        w.write(batch)
            .map_err(|e| Error::Internal(format!("writing {}: {e}", self.1)))?;
        if w.in_progress_size() > FLUSH_BYTES {
            w.flush()
                .map_err(|e| Error::Internal(format!("writing {}: {e}", self.1)))?;
        }
        Ok(())
    }

    /// Writes the footer; a file without it is unreadable.
    pub fn close(&self) -> Result<(), Error> {
        if let Some(w) = self.0.lock().expect("parquet writer lock").take() {
            w.close()
                .map_err(|e| Error::Internal(format!("closing {}: {e}", self.1)))?;
        }
        Ok(())
    }
}
