//! The export sink (`pgconverge export`): each chunk becomes `DIR/<table>/<chunk>.csv` with a header row, written
//! under a temporary name, hashed while written, synced and renamed on commit; its manifest entry is handed to
//! the command, which writes the manifest last.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::{Encoded, SinkError, Spec};
use crate::manifest::FileEntry;
use crate::pipeline::Sink;
use crate::util::fsio;

struct Open {
    tmp: PathBuf,
    path: PathBuf,
    rel: String,
    file: std::io::BufWriter<std::fs::File>,
    hash: Sha256,
    bytes: u64,
}

/// Writes chunk files into an export directory; every committed file is recorded in `entries`.
pub struct ExportFiles {
    dir: PathBuf,
    entries: Arc<Mutex<Vec<FileEntry>>>,
    open: Option<Open>,
}

impl ExportFiles {
    pub fn new(dir: &Path, entries: Arc<Mutex<Vec<FileEntry>>>) -> ExportFiles {
        ExportFiles {
            dir: dir.to_path_buf(),
            entries,
            open: None,
        }
    }
}

impl Open {
    fn put(&mut self, data: &[u8]) -> Result<(), SinkError> {
        self.hash.update(data);
        self.bytes += data.len() as u64;
        self.file.write_all(data).map_err(|source| SinkError::File {
            path: self.tmp.clone(),
            source,
        })
    }
}

fn columns<W: Spec>(work: &W) -> Vec<String> {
    work.out_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

impl<W: Spec> Sink<W, Encoded> for ExportFiles {
    type Error = SinkError;

    async fn begin(&mut self, work: &W) -> Result<(), SinkError> {
        let table_dir = self.dir.join(work.table());
        std::fs::create_dir_all(&table_dir).map_err(|source| SinkError::File {
            path: table_dir.clone(),
            source,
        })?;
        let name = format!("{:05}.csv", work.chunk());
        let tmp = table_dir.join(format!(".{name}.partial"));
        let file = std::fs::File::create(&tmp).map_err(|source| SinkError::File {
            path: tmp.clone(),
            source,
        })?;
        let mut open = Open {
            path: table_dir.join(&name),
            rel: format!("{}/{name}", work.table()),
            tmp,
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            hash: Sha256::new(),
            bytes: 0,
        };
        open.put(&super::csv::header(&columns(work)))?;
        self.open = Some(open);
        Ok(())
    }

    async fn write(&mut self, _: &W, piece: Encoded) -> Result<(), SinkError> {
        self.open
            .as_mut()
            .expect("write after begin")
            .put(&piece.data)
    }

    async fn commit(&mut self, work: &W, rows: u64) -> Result<u64, SinkError> {
        let open = self.open.take().expect("commit after begin");
        let err = |source| SinkError::File {
            path: open.tmp.clone(),
            source,
        };
        let file = open.file.into_inner().map_err(|e| err(e.into_error()))?;
        file.sync_all().map_err(err)?;
        drop(file);
        fsio::publish(&open.tmp, &open.path).map_err(|source| SinkError::File {
            path: open.path.clone(),
            source,
        })?;
        self.entries.lock().expect("entries lock").push(FileEntry {
            path: open.rel,
            table: work.table().to_string(),
            target_table: work.target().to_string(),
            chunk: work.chunk(),
            columns: columns(work),
            key_range: work.describe(),
            rows,
            bytes: open.bytes,
            sha256: fsio::hex_digest(open.hash),
        });
        Ok(open.bytes)
    }

    /// A half-written file never stays under any name.
    async fn abort(&mut self) {
        if let Some(open) = self.open.take() {
            drop(open.file);
            let _ = std::fs::remove_file(&open.tmp);
        }
    }

    async fn recover(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
