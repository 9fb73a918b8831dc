//! Export directories, shared by `export` and `migrate --keep`: a new directory (refused when occupied, checked
//! for free space) or an interrupted one reopened from its journal, and the manifest written last from the
//! journal. Layout and manifest: docs/csv-format.md.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::canonical::{empty_buckets, encode_buckets};
use crate::chunk::SnapshotInfo;
use crate::cutover::ledger::{Inputs, Run};
use crate::error::Error;
use crate::manifest::{self, ForeignKey, Journal, Manifest, RecordedCheck, TableDigest};
use crate::mapping::Mapping;
use crate::schema::TargetTable;
use crate::sink::export::Formats;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| {
        Error::Usage(format!(
            "cannot prepare the export directory {}: {e}",
            path.display()
        ))
    }
}

/// Refuses a directory holding anything unless `replace`, which empties it; `flag` names the option that would
/// (None: the command has none).
pub fn prepare_dir(dir: &Path, replace: bool, flag: Option<&str>) -> Result<(), Error> {
    if dir.exists() {
        let occupied = std::fs::read_dir(dir).map_err(io(dir))?.next().is_some();
        if occupied && !replace {
            let resumable =
                dir.join(manifest::JOURNAL).exists() && !dir.join(manifest::FILE).exists();
            return Err(Error::Refused(format!(
                "the export directory {} is not empty{}; choose another{}",
                dir.display(),
                if resumable {
                    " (it holds an interrupted export: continue it with --resume)"
                } else {
                    ""
                },
                flag.map(|f| format!(", or pass {f} to empty it first"))
                    .unwrap_or_default()
            )));
        }
        if occupied {
            std::fs::remove_dir_all(dir).map_err(io(dir))?;
        }
    }
    std::fs::create_dir_all(dir).map_err(io(dir))
}

/// The interrupted export in `dir`: its run (inputs, snapshot, chunk plan) and the chunks already in place.
pub fn reopen(dir: &Path) -> Result<(Run, Journal), Error> {
    if dir.join(manifest::FILE).exists() {
        return Err(Error::Refused(format!(
            "{} holds a complete export (its manifest is written): nothing to resume; load it with `pgconverge \
             import --from {}`, or export again into it with --replace",
            dir.display(),
            dir.display()
        )));
    }
    if !dir.join(manifest::JOURNAL).exists() {
        return Err(Error::Refused(format!(
            "{} holds no interrupted export to resume (no {}); start one without --resume",
            dir.display(),
            manifest::JOURNAL
        )));
    }
    let (run, journal) = Journal::reopen(dir).map_err(|e| Error::Refused(e.to_string()))?;
    // Temporary files of the interrupted run are never part of the export.
    remove_partials(dir).map_err(io(dir))?;
    Ok((run, journal))
}

fn remove_partials(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            remove_partials(&e.path())?;
        } else if e.file_name().to_string_lossy().ends_with(".partial") {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// Bytes free for an unprivileged writer on the file system holding `dir`.
fn available_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path that outlives the call and `st` points to writable memory sized for
    // one `statvfs`; the struct is read only when the call returned 0, i.e. after the kernel filled it.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: rc == 0, so statvfs initialised the whole struct.
    let st = unsafe { st.assume_init() };
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Bytes of files per byte of InnoDB data (`DATA_LENGTH`), by format: CSV text is about as large as the pages
/// (measured on Alkemio at scale 1), snappy Parquet about half.
const CSV_PER_DATA_BYTE: f64 = 1.0;
const PARQUET_PER_DATA_BYTE: f64 = 0.5;

/// Refuses to start when the file system holding `dir` has less room than the files are expected to take.
fn check_space(dir: &Path, data_bytes: u64, formats: Formats) -> Result<(), Error> {
    let per_byte = if formats.csv { CSV_PER_DATA_BYTE } else { 0.0 }
        + if formats.parquet {
            PARQUET_PER_DATA_BYTE
        } else {
            0.0
        };
    let needed = (data_bytes as f64 * per_byte) as u64;
    let available = available_bytes(dir).map_err(io(dir))?;
    if available < needed {
        return Err(Error::Refused(format!(
            "{} has {:.1} MB free, and the files are expected to take about {:.1} MB (from the source's size \
             estimate); nothing was written: free space there, or choose another directory",
            dir.display(),
            available as f64 / 1e6,
            needed as f64 / 1e6
        )));
    }
    Ok(())
}

/// Refuses when the room left is short of the files' share of the source's size estimate: `to_write` of the run's
/// `total_chunks` chunks are still to be written.
pub fn check_space_for(
    dir: &Path,
    contract: &crate::contract::Contract,
    total_chunks: usize,
    to_write: usize,
    formats: Formats,
) -> Result<(), Error> {
    let data: u64 = contract.tables.iter().map(|t| t.bytes_estimate).sum();
    let share = data as u128 * to_write as u128 / total_chunks.max(1) as u128;
    check_space(dir, share as u64, formats)
}

/// Starts the journal of a new export directory (`export`, `migrate --keep`).
pub fn create_journal(dir: &Path, run: &Run) -> Result<Journal, Error> {
    Journal::create(dir, run).map_err(|e| {
        Error::Usage(format!(
            "cannot write the journal in {}: {e}",
            dir.display()
        ))
    })
}

/// The target's foreign keys touching the loaded tables, as it declares them.
pub fn foreign_keys(target_tables: &[TargetTable], loaded: &[String]) -> Vec<ForeignKey> {
    target_tables
        .iter()
        .flat_map(|t| {
            t.constraints
                .iter()
                .filter(|c| c.kind == 'f')
                .map(move |c| (t, c))
        })
        .filter(|(t, c)| {
            loaded.contains(&t.name) || c.ref_table.as_ref().is_some_and(|p| loaded.contains(p))
        })
        .map(|(t, c)| ForeignKey {
            table: t.name.clone(),
            name: c.name.clone(),
            definition: c.definition.clone(),
        })
        .collect()
}

/// What the manifest says besides the files, which come from the journal.
pub struct About<'a> {
    pub mapping: &'a Mapping,
    pub contract: &'a crate::contract::Contract,
    pub inputs: Inputs,
    pub snapshot: SnapshotInfo,
    pub target_tables: &'a [TargetTable],
    pub checks: Vec<RecordedCheck>,
}

/// Writes `DIR/manifest.json` from the journal (files in load order, each table's digests merged over its
/// chunks), then removes the journal: from here on the directory is a complete export.
pub fn write_manifest(
    dir: &Path,
    journal: &Arc<Mutex<Journal>>,
    about: About<'_>,
) -> Result<Manifest, Error> {
    let loaded: Vec<String> = about
        .contract
        .tables
        .iter()
        .map(|t| t.target.clone())
        .collect();
    let (mut files, mut digests) = journal
        .lock()
        .expect("journal lock")
        .contents()
        .map_err(|e| Error::Internal(format!("the export journal: {e}")))?;
    files.sort_by(|a, b| {
        let pos = |f: &manifest::FileEntry| loaded.iter().position(|t| t == &f.target_table);
        (pos(a), a.chunk, a.format.extension()).cmp(&(pos(b), b.chunk, b.format.extension()))
    });
    let digests: std::collections::BTreeMap<String, TableDigest> = about
        .contract
        .tables
        .iter()
        .map(|tp| {
            let buckets = digests.remove(&tp.source).unwrap_or_else(empty_buckets);
            (
                tp.source.clone(),
                TableDigest {
                    target_table: tp.target.clone(),
                    canon: crate::canonical::Spec::of(tp),
                    buckets: encode_buckets(&buckets),
                },
            )
        })
        .collect();
    let m = Manifest {
        format_version: manifest::VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        app: about.mapping.app.clone(),
        inputs: about.inputs,
        snapshot: about.snapshot,
        target_schema: about.mapping.target_schema.clone(),
        foreign_keys: foreign_keys(about.target_tables, &loaded),
        tables: loaded,
        seeded_tables: about.mapping.seeded_tables.clone(),
        files,
        digests,
        checks: about.checks,
    };
    m.write(dir).map_err(|e| Error::Usage(e.to_string()))?;
    // The manifest is the export's truth from here on; a journal left beside it by a crash is ignored.
    crate::util::fsio::remove(&dir.join(manifest::JOURNAL)).ok();
    Ok(m)
}

/// Chunks already published by an interrupted export, by (source table, chunk): the pipeline skips them.
pub fn published(journal: &Arc<Mutex<Journal>>) -> HashMap<(String, u32), u64> {
    journal
        .lock()
        .expect("journal lock")
        .chunks
        .values()
        .map(|c| {
            (
                (c.table.clone(), c.chunk),
                c.files.first().map(|f| f.rows).unwrap_or(0),
            )
        })
        .collect()
}
