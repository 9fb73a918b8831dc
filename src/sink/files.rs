//! The CSV snapshot sink (`migrate --csv-dir`): exactly the bytes each chunk sent to COPY, one file per chunk.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{Encoded, SinkError, Spec};
use crate::pipeline::Sink;

/// Writes each chunk's encoded data to `DIR/<table>.<chunk>.csv`.
pub struct CsvFiles {
    dir: PathBuf,
    open: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
}

impl CsvFiles {
    pub fn new(dir: &Path) -> CsvFiles {
        CsvFiles {
            dir: dir.to_path_buf(),
            open: None,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
    move |source| SinkError::File {
        path: path.to_path_buf(),
        source,
    }
}

impl<W: Spec> Sink<W, Encoded> for CsvFiles {
    type Error = SinkError;

    async fn begin(&mut self, work: &W) -> Result<(), SinkError> {
        let path = self
            .dir
            .join(format!("{}.{:05}.csv", work.table(), work.chunk()));
        let f = std::fs::File::create(&path).map_err(io(&path))?;
        self.open = Some((path, std::io::BufWriter::new(f)));
        Ok(())
    }

    async fn write(&mut self, _: &W, piece: Encoded) -> Result<(), SinkError> {
        let (path, f) = self.open.as_mut().expect("write after begin");
        f.write_all(&piece.data).map_err(io(path))
    }

    async fn commit(&mut self, _: &W, _: u64) -> Result<u64, SinkError> {
        if let Some((path, mut f)) = self.open.take() {
            f.flush().map_err(io(&path))?;
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
