//! The manifest of an export directory (`DIR/manifest.json`, format version 1): what the files hold and what an
//! import must check and do. Documented in docs/csv-format.md. Written last, atomically, so a directory with a
//! manifest is a complete export.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::source::mysql::SnapshotInfo;
use crate::target::ledger::Inputs;

/// The manifest format this build writes and reads.
pub const VERSION: u32 = 1;
/// File name of the manifest inside an export directory.
pub const FILE: &str = "manifest.json";

/// One exported chunk file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Path relative to the export directory: `<table>/<chunk>.csv`.
    pub path: String,
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
    /// The source query's rows (text, NULL as null), or why it failed.
    pub source_rows: Result<Vec<Vec<Option<String>>>, String>,
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

impl Manifest {
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
