//! The export-directory sink (`pgconverge export`, `migrate --keep`): each chunk becomes `DIR/<table>/<chunk>.csv`
//! with a header row and/or a typed `DIR/<table>/<chunk>.parquet`, written under temporary names, hashed while
//! written, synced and renamed on commit, then recorded in the directory's journal with the chunk's digests. The
//! command writes the manifest from the journal last.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::parquet::ChunkParquet;
use super::{Encoded, SinkError, Spec};
use crate::manifest::{ChunkRecord, FileEntry, FileFormat, Journal};
use crate::pipeline::Sink;
use crate::util::fsio;

/// Which files each chunk gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub csv: bool,
    pub parquet: bool,
}

impl Formats {
    /// `csv`, `parquet` or `both`.
    pub fn parse(s: &str) -> Option<Formats> {
        match s {
            "csv" => Some(Formats {
                csv: true,
                parquet: false,
            }),
            "parquet" => Some(Formats {
                csv: false,
                parquet: true,
            }),
            "both" => Some(Formats {
                csv: true,
                parquet: true,
            }),
            _ => None,
        }
    }
}

struct Csv {
    file: std::io::BufWriter<std::fs::File>,
    hash: Sha256,
    bytes: u64,
}

/// One chunk's files while they are written.
struct Open {
    table_dir: PathBuf,
    chunk: u32,
    csv: Option<Csv>,
    parquet: Option<ChunkParquet>,
    digest: crate::canonical::Buckets,
}

/// Writes chunk files into an export directory and records every published chunk in its journal.
pub struct ExportFiles {
    dir: PathBuf,
    formats: Formats,
    journal: Arc<Mutex<Journal>>,
    open: Option<Open>,
}

impl super::Asks for ExportFiles {
    /// The files of its formats, and the digests its journal records per chunk.
    fn needs(&self) -> super::Needs {
        super::Needs {
            csv: self.formats.csv,
            typed: self.formats.parquet,
            digest: true,
        }
    }
}

impl ExportFiles {
    fn publish<W: Spec>(&self, work: &W, rows: u64, open: Open) -> Result<u64, SinkError> {
        let chunk = open.chunk;
        let mut finished = Vec::new();
        if let Some(csv) = open.csv {
            let tmp = partial(&open.table_dir, chunk, FileFormat::Csv);
            let file = csv
                .file
                .into_inner()
                .map_err(|e| file_err(&tmp)(e.into_error()))?;
            file.sync_all().map_err(file_err(&tmp))?;
            finished.push((FileFormat::Csv, csv.bytes, fsio::hex_digest(csv.hash)));
        }
        if let Some(p) = open.parquet {
            let tmp = partial(&open.table_dir, chunk, FileFormat::Parquet);
            let (bytes, hash) = p.finish().map_err(parquet_err(&tmp))?;
            finished.push((FileFormat::Parquet, bytes, fsio::hex_digest(hash)));
        }
        let mut files = Vec::new();
        for (format, bytes, sha256) in finished {
            let path = open.table_dir.join(name(chunk, format));
            fsio::publish(&partial(&open.table_dir, chunk, format), &path)
                .map_err(file_err(&path))?;
            files.push(FileEntry {
                path: format!("{}/{}", work.table(), name(chunk, format)),
                format,
                table: work.table().to_string(),
                target_table: work.target().to_string(),
                chunk,
                columns: columns(work),
                key_range: work.describe(),
                rows,
                bytes,
                sha256,
            });
        }
        let bytes = files.iter().map(|f| f.bytes).max().unwrap_or(0);
        let record = ChunkRecord {
            table: work.table().to_string(),
            chunk,
            files,
            digest: crate::canonical::encode_buckets(&open.digest),
        };
        let journal = self.dir.join(crate::manifest::JOURNAL);
        self.journal
            .lock()
            .expect("journal lock")
            .record(record)
            .map_err(file_err(&journal))?;
        Ok(bytes)
    }

    pub fn new(dir: &Path, formats: Formats, journal: Arc<Mutex<Journal>>) -> ExportFiles {
        ExportFiles {
            dir: dir.to_path_buf(),
            formats,
            journal,
            open: None,
        }
    }
}

fn file_err(path: &Path) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
    move |source| SinkError::File {
        path: path.to_path_buf(),
        source,
    }
}

fn parquet_err(path: &Path) -> impl FnOnce(super::parquet::ParquetError) -> SinkError + '_ {
    move |e| SinkError::Parquet {
        path: path.to_path_buf(),
        message: e.0,
    }
}

fn name(chunk: u32, format: FileFormat) -> String {
    format!("{chunk:05}.{}", format.extension())
}

fn partial(table_dir: &Path, chunk: u32, format: FileFormat) -> PathBuf {
    table_dir.join(format!(".{}.partial", name(chunk, format)))
}

fn columns<W: Spec>(work: &W) -> Vec<String> {
    work.out_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

impl Csv {
    fn put(&mut self, data: &[u8], path: &Path) -> Result<(), SinkError> {
        self.hash.update(data);
        self.bytes += data.len() as u64;
        self.file.write_all(data).map_err(file_err(path))
    }
}

impl<W: Spec> Sink<W, Encoded> for ExportFiles {
    type Error = SinkError;

    async fn begin(&mut self, work: &W) -> Result<(), SinkError> {
        let table_dir = self.dir.join(work.table());
        std::fs::create_dir_all(&table_dir).map_err(file_err(&table_dir))?;
        let create = |format| {
            let tmp = partial(&table_dir, work.chunk(), format);
            std::fs::File::create(&tmp).map_err(file_err(&tmp))
        };
        let csv = match self.formats.csv {
            true => {
                let mut csv = Csv {
                    file: std::io::BufWriter::with_capacity(1 << 20, create(FileFormat::Csv)?),
                    hash: Sha256::new(),
                    bytes: 0,
                };
                let tmp = partial(&table_dir, work.chunk(), FileFormat::Csv);
                csv.put(&super::csv::header(&columns(work)), &tmp)?;
                Some(csv)
            }
            false => None,
        };
        let parquet = match self.formats.parquet {
            true => {
                let tmp = partial(&table_dir, work.chunk(), FileFormat::Parquet);
                let schema = super::parquet::schema(&work.out_schema(), work.conversions());
                Some(
                    ChunkParquet::create(create(FileFormat::Parquet)?, schema)
                        .map_err(parquet_err(&tmp))?,
                )
            }
            false => None,
        };
        self.open = Some(Open {
            table_dir,
            chunk: work.chunk(),
            csv,
            parquet,
            digest: crate::canonical::empty_buckets(),
        });
        Ok(())
    }

    async fn write(&mut self, work: &W, piece: Encoded) -> Result<(), SinkError> {
        let open = self.open.as_mut().expect("write after begin");
        if let Some(csv) = open.csv.as_mut() {
            let tmp = partial(&open.table_dir, work.chunk(), FileFormat::Csv);
            let Some(data) = &piece.csv else {
                return Err(SinkError::File {
                    path: tmp,
                    source: std::io::Error::other("the transform sent no CSV for a CSV file"),
                });
            };
            csv.put(data, &tmp)?;
        }
        if let Some(p) = open.parquet.as_mut() {
            let tmp = partial(&open.table_dir, work.chunk(), FileFormat::Parquet);
            let batch = piece
                .batch
                .as_ref()
                .expect("the transform keeps typed batches for Parquet");
            p.write(batch).map_err(parquet_err(&tmp))?;
        }
        if let Some(d) = &piece.digest {
            crate::canonical::merge(&mut open.digest, d);
        }
        Ok(())
    }

    /// Publishes the chunk's files and records them; on any failure neither a temporary nor a final file of
    /// the chunk stays (a full disk leaves no half file under a final name, and the journal stays the truth).
    async fn commit(&mut self, work: &W, rows: u64) -> Result<u64, SinkError> {
        let open = self.open.take().expect("commit after begin");
        let (table_dir, chunk) = (open.table_dir.clone(), open.chunk);
        let r = self.publish(work, rows, open);
        if r.is_err() {
            for format in [FileFormat::Csv, FileFormat::Parquet] {
                let _ = std::fs::remove_file(partial(&table_dir, chunk, format));
                let _ = std::fs::remove_file(table_dir.join(name(chunk, format)));
            }
        }
        r
    }

    /// A half-written file never stays under any name.
    async fn abort(&mut self) {
        if let Some(open) = self.open.take() {
            let Open {
                table_dir,
                chunk,
                csv,
                parquet,
                ..
            } = open;
            drop((csv, parquet));
            for format in [FileFormat::Csv, FileFormat::Parquet] {
                let _ = std::fs::remove_file(partial(&table_dir, chunk, format));
            }
        }
    }

    async fn recover(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
