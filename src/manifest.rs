//! The manifest of an export directory (`DIR/manifest.json`, format version 1): what the files hold and what an
//! import must check and do. Documented in docs/csv-format.md. Written last, atomically, so a directory with a
//! manifest is a complete export.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chunk::SnapshotInfo;
use crate::cutover::ledger::{Inputs, Run};
use crate::util::answer::{Answer, QueryFailed, Row};

/// The manifest format this build writes and reads.
pub const VERSION: u32 = 1;
/// File name of the manifest inside an export directory.
pub const FILE: &str = "manifest.json";

/// What a file holds: CSV (what `import` and `psql` load) or typed Parquet.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    #[default]
    Csv,
    Parquet,
}

impl FileFormat {
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// One exported chunk file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Path relative to the export directory: `<table>/<chunk>.csv` or `<table>/<chunk>.parquet`.
    pub path: String,
    #[serde(default)]
    pub format: FileFormat,
    /// Source table and the target table it loads into.
    pub table: String,
    pub target_table: String,
    pub chunk: u32,
    /// Target columns, in file order (the header row).
    pub columns: Vec<String>,
    /// The source key range the chunk covers.
    pub key_range: String,
    pub rows: u64,
    pub bytes: u64,
    /// SHA-256 of the whole file, lower-case hex.
    pub sha256: String,
}

/// A foreign key the import drops before loading and re-creates afterwards, as the target declared it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForeignKey {
    pub table: String,
    pub name: String,
    pub definition: String,
}

/// The whole manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub tool_version: String,
    pub app: String,
    /// Fingerprints of the mapping file and of both schemas (as `migrate --resume` compares them).
    pub inputs: Inputs,
    /// The source snapshot every file was read in.
    pub snapshot: SnapshotInfo,
    pub target_schema: String,
    /// Target tables in load order, and those whose seeded rows the import replaces.
    pub tables: Vec<String>,
    pub seeded_tables: Vec<String>,
    /// Foreign keys of the target touching the loaded tables when the export ran.
    pub foreign_keys: Vec<ForeignKey>,
    pub files: Vec<FileEntry>,
    /// By source table: what `import` verifies the loaded target against (absent in exports without it).
    #[serde(default)]
    pub digests: std::collections::BTreeMap<String, TableDigest>,
    /// The mapping's critical-data checks with the source's answers in the export's snapshot.
    #[serde(default)]
    pub checks: Vec<RecordedCheck>,
}

/// The canonical digests of one table's exported rows, computed in the export's transform stage from the very
/// batches written to the files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableDigest {
    pub target_table: String,
    /// How the target's rows are put in canonical form to compare (columns, conversions, key).
    pub canon: crate::canonical::Spec,
    /// Non-empty buckets as `bucket:rows:sum` (`canonical::encode_buckets`).
    pub buckets: String,
}

/// One critical-data check of the mapping and the source's answer, recorded by `export` for `import`'s
/// verification (the source is not reachable then).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordedCheck {
    pub name: String,
    pub phase: String,
    /// The target query to run after the import.
    pub target: String,
    /// The source query's first rows (text, NULL as null; at most `util::answer::HEAD_ROWS`), or why it failed.
    pub source_rows: Result<Vec<Row>, String>,
    /// How many rows the source query gave and their digest (`util::answer`); absent in manifests written before
    /// answers were folded, which kept every row in `source_rows`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_row_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
}

impl RecordedCheck {
    /// A check and the source's answer (or why the query failed), as the manifest keeps it.
    pub fn new(
        name: &str,
        phase: &str,
        target: &str,
        answer: Result<Answer, QueryFailed>,
    ) -> RecordedCheck {
        let (source_rows, source_row_count, source_digest) = match answer {
            Ok(a) => (Ok(a.head), Some(a.rows), Some(a.digest)),
            Err(e) => (Err(e.0), None, None),
        };
        RecordedCheck {
            name: name.to_string(),
            phase: phase.to_string(),
            target: target.to_string(),
            source_rows,
            source_row_count,
            source_digest,
        }
    }

    /// The source's answer as recorded.
    pub fn answer(&self) -> Result<Answer, QueryFailed> {
        let rows = self.source_rows.clone().map_err(QueryFailed)?;
        Ok(match (self.source_row_count, &self.source_digest) {
            (Some(n), Some(d)) => Answer {
                rows: n,
                digest: d.clone(),
                head: rows,
            },
            _ => Answer::of(rows),
        })
    }
}

/// Errors reading or writing a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is manifest format {found}; this pgconverge reads format {VERSION}")]
    Version { path: String, found: u32 },
}

/// File name of the journal of an export in progress: the run it belongs to, then one line per chunk whose
/// files were published. `export --resume` (and `migrate --resume --keep`) continue from it; it goes once the
/// manifest is written.
pub const JOURNAL: &str = ".journal.jsonl";

/// One chunk whose files are in place, with its rows' canonical digests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkRecord {
    pub table: String,
    pub chunk: u32,
    pub files: Vec<FileEntry>,
    /// The chunk's non-empty digest buckets (`canonical::encode_buckets`).
    pub digest: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum JournalLine {
    Run(Box<Run>),
    Chunk(ChunkRecord),
}

/// The journal of an export directory being written, shared by the writers.
pub struct Journal {
    file: std::fs::File,
    /// Published chunks by (source table, chunk).
    pub chunks: std::collections::BTreeMap<(String, u32), ChunkRecord>,
}

fn line(line: &JournalLine) -> Vec<u8> {
    let mut text = serde_json::to_vec(line).expect("a journal line serializes");
    text.push(b'\n');
    text
}

impl Journal {
    /// Starts the journal of a new export in `dir`: its first line (the run) is written under a temporary name and
    /// renamed into place, so a journal never exists without the run it belongs to.
    pub fn create(dir: &Path, run: &Run) -> std::io::Result<Journal> {
        let path = dir.join(JOURNAL);
        let first = line(&JournalLine::Run(Box::new(run.clone())));
        crate::util::fsio::write_atomically(
            &dir.join(format!(".{JOURNAL}.partial")),
            &path,
            &first,
        )?;
        let file = std::fs::OpenOptions::new().append(true).open(&path)?;
        Ok(Journal {
            file,
            chunks: Default::default(),
        })
    }

    /// Reopens the journal of an interrupted export: its run, and the chunks whose files are still in place with
    /// the size recorded (a torn last line, from a crash while it was written, is ignored; its chunk is redone).
    pub fn reopen(dir: &Path) -> Result<(Run, Journal), ManifestError> {
        let path = dir.join(JOURNAL);
        let name = path.display().to_string();
        let read = |message: String| ManifestError::Read {
            path: name.clone(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| read(e.to_string()))?;
        let mut lines = text.lines();
        let run = match lines.next().map(serde_json::from_str::<JournalLine>) {
            Some(Ok(JournalLine::Run(run))) => *run,
            _ => return Err(read("it does not start with the run it belongs to".into())),
        };
        let mut chunks = std::collections::BTreeMap::new();
        for line in lines {
            let Ok(JournalLine::Chunk(c)) = serde_json::from_str::<JournalLine>(line) else {
                continue;
            };
            let intact = c
                .files
                .iter()
                .all(|f| std::fs::metadata(dir.join(&f.path)).is_ok_and(|m| m.len() == f.bytes));
            if intact {
                chunks.insert((c.table.clone(), c.chunk), c);
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| read(e.to_string()))?;
        if !text.ends_with('\n') {
            // A torn last line ends here, so the next record starts a line of its own.
            std::io::Write::write_all(&mut file, b"\n").map_err(|e| read(e.to_string()))?;
        }
        Ok((run, Journal { file, chunks }))
    }

    /// Records a chunk whose files were published.
    pub fn record(&mut self, c: ChunkRecord) -> std::io::Result<()> {
        use std::io::Write as _;
        self.file.write_all(&line(&JournalLine::Chunk(c.clone())))?;
        self.file.sync_data()?;
        crate::hooks::durable_step(|| format!("journal records {}#{}", c.table, c.chunk));
        self.chunks.insert((c.table.clone(), c.chunk), c);
        Ok(())
    }

    /// Every recorded file, and each table's digest buckets merged over its chunks.
    pub fn contents(
        &self,
    ) -> Result<
        (
            Vec<FileEntry>,
            std::collections::HashMap<String, crate::canonical::Buckets>,
        ),
        crate::canonical::DigestError,
    > {
        let mut files = Vec::new();
        let mut digests = std::collections::HashMap::new();
        for c in self.chunks.values() {
            files.extend(c.files.iter().cloned());
            let b = digests
                .entry(c.table.clone())
                .or_insert_with(crate::canonical::empty_buckets);
            let chunk = crate::canonical::decode_buckets(&c.digest)?;
            for (slot, (n, sum)) in b.iter_mut().zip(chunk) {
                slot.0 += n;
                slot.1 = slot.1.wrapping_add(sum);
            }
        }
        Ok((files, digests))
    }
}

impl Manifest {
    /// The CSV files: what `import` loads and what a differing bucket is located in.
    pub fn csv_files(&self) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(|f| f.format == FileFormat::Csv)
    }

    /// Writes `DIR/manifest.json` through a temporary file, synced and renamed into place.
    pub fn write(&self, dir: &Path) -> Result<(), ManifestError> {
        let path = dir.join(FILE);
        let tmp = dir.join(format!(".{FILE}.partial"));
        let err = |source| ManifestError::Write {
            path: path.display().to_string(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).expect("the manifest serializes");
        crate::util::fsio::write_atomically(&tmp, &path, &json).map_err(err)
    }

    pub fn read(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(FILE);
        let name = path.display().to_string();
        let text = std::fs::read(&path).map_err(|e| ManifestError::Read {
            path: name.clone(),
            message: e.to_string(),
        })?;
        let m: Manifest = serde_json::from_slice(&text).map_err(|e| ManifestError::Read {
            path: name.clone(),
            message: e.to_string(),
        })?;
        if m.format_version != VERSION {
            return Err(ManifestError::Version {
                path: name,
                found: m.format_version,
            });
        }
        Ok(m)
    }
}
