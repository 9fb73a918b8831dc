//! `migrate --keep DIR`: what was loaded, kept as an export directory beside the load. The directory is checked
//! before anything else (a wrong one costs nothing), its journal started (or, resumed, proven to be the
//! interrupted run's) and its free space checked before the target is touched, its files written by the same
//! sinks as `export`'s, and its manifest written last.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::cutover::ledger::Run;
use crate::error::Error;
use crate::manifest::Journal;
use crate::sink::export::{ExportFiles, Formats};

use super::export_dir::{self, About};
use super::work::ChunkWork;

/// The kept directory of a run, or none.
pub struct Kept {
    dir: Option<PathBuf>,
    formats: Formats,
    /// An interrupted run's directory: its run and journal, read before the session opens.
    reopened: Option<(Run, Journal)>,
    journal: Option<Arc<Mutex<Journal>>>,
    /// Chunks already in the directory, by (source table, chunk).
    published: HashMap<(String, u32), u64>,
}

impl Kept {
    /// Checks `dir` first thing: empty (a new run) or an interrupted run's (`resume`).
    pub fn check(dir: Option<&Path>, formats: Formats, resume: bool) -> Result<Kept, Error> {
        let reopened = match (dir, resume) {
            (Some(dir), true) => Some(export_dir::reopen(dir)?),
            (Some(dir), false) => {
                export_dir::prepare_dir(dir, false, None)?;
                None
            }
            (None, _) => None,
        };
        Ok(Kept {
            dir: dir.map(Path::to_path_buf),
            formats,
            reopened,
            journal: None,
            published: HashMap::new(),
        })
    }

    pub fn is_on(&self) -> bool {
        self.dir.is_some()
    }

    pub fn formats(&self) -> Formats {
        self.formats
    }

    /// Starts the journal of `run` (or takes the reopened one, which must be `previous`'s), then checks that the
    /// file system has room for the chunks of `jobs` not yet in it: a refusal leaves the target untouched.
    pub fn start(
        &mut self,
        run: &Run,
        previous: Option<&Run>,
        contract: &crate::contract::Contract,
        jobs: &[Arc<ChunkWork>],
    ) -> Result<(), Error> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let journal = match self.reopened.take() {
            Some((kept, j)) => {
                let same =
                    previous.is_some_and(|p| p.inputs == kept.inputs && p.chunks == kept.chunks);
                if !same {
                    return Err(Error::Refused(format!(
                        "{} was kept by another run than the one in the target's ledger; resume without --keep",
                        dir.display()
                    )));
                }
                j
            }
            None => export_dir::create_journal(dir, run)?,
        };
        let journal = Arc::new(Mutex::new(journal));
        self.published = export_dir::published(&journal);
        self.journal = Some(journal);
        let to_write = jobs
            .iter()
            .filter(|w| {
                !self
                    .published
                    .contains_key(&(w.table.contract.source.clone(), w.index))
            })
            .count();
        export_dir::check_space_for(dir, contract, jobs.len(), to_write, self.formats)
    }

    /// Refuses when a chunk the target holds is not in the directory (an interrupted run that kept nothing): the
    /// directory would be short.
    pub fn holds(&self, loaded: &HashMap<(String, u32), u64>) -> Result<(), Error> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        match loaded.keys().find(|k| !self.published.contains_key(*k)) {
            Some((t, c)) => Err(Error::Refused(format!(
                "{t} chunk {c} is loaded but not in {}: that directory cannot hold this run's export; resume \
                 without --keep",
                dir.display()
            ))),
            None => Ok(()),
        }
    }

    /// A writer's file sink (None without `--keep`). The files are published before the chunk's COPY commits,
    /// so a chunk in the ledger is always kept.
    pub fn files(&self) -> Option<ExportFiles> {
        let (dir, journal) = (self.dir.as_deref()?, self.journal.clone()?);
        Some(ExportFiles::new(dir, self.formats, journal))
    }

    /// Writes the manifest last: from here on the directory is a complete export.
    pub fn finish(&self, about: About<'_>) -> Result<(), Error> {
        if let (Some(dir), Some(j)) = (&self.dir, &self.journal) {
            export_dir::write_manifest(dir, j, about)?;
        }
        Ok(())
    }
}
