//! An export directory read back by `import`: the manifest and every file checked before anything is written
//! (listed, sized and hashed as the manifest says), and each CSV file as a pipeline job whose blocks pass to COPY
//! as they are.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;

use crate::error::Error;
use crate::manifest::{FileEntry, Manifest};
use crate::pipeline::{Transform, Work};
use crate::sink::copy::CopySpec;
use crate::sink::{Encoded, Spec};
use crate::source::files::FileSpec;
use crate::util::sql::{pg_ident, pg_qualified};

/// One file of the export as a pipeline job.
pub struct FileWork {
    pub entry: FileEntry,
    path: PathBuf,
    copy_sql: String,
    schema: Arc<Schema>,
    staged: Option<crate::sink::copy::Staged>,
}

impl Work for FileWork {
    fn table(&self) -> &str {
        &self.entry.table
    }
}

impl FileSpec for FileWork {
    fn path(&self) -> &Path {
        &self.path
    }
    fn rows(&self) -> u64 {
        self.entry.rows
    }
}

impl CopySpec for FileWork {
    fn copy_sql(&self) -> &str {
        &self.copy_sql
    }
    fn binary(&self) -> bool {
        false
    }
    fn staged(&self) -> Option<&crate::sink::copy::Staged> {
        self.staged.as_ref()
    }
}

impl Spec for FileWork {
    fn target(&self) -> &str {
        &self.entry.target_table
    }
    fn chunk(&self) -> u32 {
        self.entry.chunk
    }
    fn describe(&self) -> String {
        format!("file {}", self.entry.path)
    }
    fn out_schema(&self) -> Arc<Schema> {
        self.schema.clone()
    }
    /// Files are loaded as they are: nothing is converted (and nothing typed).
    fn conversions(&self) -> &[crate::convert::Conversion] {
        &[]
    }
}

/// The import transform: the files already hold the target's CSV, so blocks pass through unchanged.
pub struct Pass(pub Arc<crate::progress::Progress>);

impl Transform<FileWork> for Pass {
    type Output = Encoded;
    type Error = std::convert::Infallible;

    fn apply(&self, work: &FileWork, raw: RecordBatch) -> Result<Encoded, Self::Error> {
        let block = raw.column(0).as_binary::<i32>().value(0);
        self.0
            .add(&work.entry.table, block.len() as u64, block.len() as u64);
        Ok(Encoded {
            rows: 0,
            data: Bytes::copy_from_slice(block),
            multiline: Vec::new(),
            csv: None,
            batch: None,
            digest: None,
            keys: Vec::new(),
        })
    }
}

pub fn refused(what: String) -> Error {
    Error::Refused(format!(
        "{what}; nothing was written to the target: export again, or restore the directory from its copy"
    ))
}

/// Every data file (`.csv`, `.parquet`, or a temporary `.partial`) under `dir`, relative to it.
fn data_files(dir: &Path, rel: &str, out: &mut BTreeSet<String>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| refused(format!("cannot list {}: {e}", dir.display())))?;
    for e in entries {
        let e = e.map_err(|e| refused(format!("cannot list {}: {e}", dir.display())))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let rel_name = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.path().is_dir() {
            data_files(&e.path(), &rel_name, out)?;
        } else if [".csv", ".parquet", ".partial"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            out.insert(rel_name);
        }
    }
    Ok(())
}

/// The manifest against the mapping and the live target, then every file against the manifest.
pub fn check_files(dir: &Path, m: &Manifest) -> Result<(), Error> {
    let mut present = BTreeSet::new();
    data_files(dir, "", &mut present)?;
    if m.csv_files().next().is_none() && !m.files.is_empty() {
        return Err(refused(format!(
            "the export in {} holds Parquet files only; import loads the CSV files, so export with \
             --format csv or --format both",
            dir.display()
        )));
    }
    let listed: BTreeSet<String> = m.files.iter().map(|f| f.path.clone()).collect();
    if let Some(extra) = present.difference(&listed).next() {
        return Err(refused(format!(
            "{} is in the export directory but not in its manifest",
            dir.join(extra).display()
        )));
    }
    for f in &m.files {
        let path = dir.join(&f.path);
        let (bytes, sha) = crate::util::fsio::sha256_file(&path).map_err(|e| {
            refused(format!(
                "{} is listed in the manifest but cannot be read: {e}",
                path.display()
            ))
        })?;
        if bytes != f.bytes {
            return Err(refused(format!(
                "{} holds {bytes} bytes, the manifest says {}",
                path.display(),
                f.bytes
            )));
        }
        if sha != f.sha256 {
            return Err(refused(format!(
                "{} does not have the SHA-256 the manifest records (its content changed)",
                path.display()
            )));
        }
    }
    Ok(())
}

impl FileWork {
    /// The job of one CSV file of the manifest, in the export directory `dir`, into `schema`; `staged` for a
    /// target with inheritance children (see [`crate::sink::copy::Staged`]).
    pub fn new(dir: &Path, schema: &str, f: &FileEntry, staged: bool) -> FileWork {
        let cols = f
            .columns
            .iter()
            .map(|c| pg_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let table = pg_qualified(schema, &f.target_table);
        let staged = staged.then(|| crate::sink::copy::Staged::new(&table, &cols));
        FileWork {
            path: dir.join(&f.path),
            copy_sql: format!(
                "COPY {} ({cols}) FROM STDIN (FORMAT csv, HEADER true)",
                if staged.is_some() {
                    crate::sink::copy::Staged::TABLE
                } else {
                    &table
                },
            ),
            staged,
            schema: Arc::new(Schema::new(
                f.columns
                    .iter()
                    .map(|c| Field::new(c, DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            )),
            entry: f.clone(),
        }
    }
}

/// The export in `dir` for `mapping` (read from `mapping_path`) and the target at `target_url`: its manifest, written
/// with this mapping (checked before connecting) for this target schema, and every file as the manifest lists it;
/// the target's control connection and tables. Anything else refuses with nothing written.
pub async fn open(
    dir: &Path,
    mapping: &crate::mapping::Mapping,
    mapping_path: &Path,
    target_url: &str,
) -> Result<
    (
        Manifest,
        tokio_postgres::Client,
        Vec<crate::schema::TargetTable>,
    ),
    Error,
> {
    use crate::cutover::ledger::Inputs;
    let m = Manifest::read(dir).map_err(|e| refused(e.to_string()))?;
    if m.inputs.mapping != Inputs::mapping_fingerprint(mapping) {
        return Err(refused(format!(
            "the manifest in {} was written with another mapping than {}",
            dir.display(),
            mapping_path.display()
        )));
    }
    let control = crate::connect::target(target_url).await?;
    let target_tables = crate::schema::pg::introspect(&control, &m.target_schema).await?;
    if m.inputs.target_schema != Inputs::target_fingerprint(&target_tables) {
        return Err(refused(format!(
            "the target schema differs from the one the export in {} was converted for",
            dir.display()
        )));
    }
    check_files(dir, &m)?;
    Ok((m, control, target_tables))
}

/// The target tables the export loads, in its order.
pub fn loaded<'a>(
    m: &Manifest,
    target: &'a [crate::schema::TargetTable],
) -> Result<Vec<&'a crate::schema::TargetTable>, Error> {
    m.tables
        .iter()
        .map(|t| {
            target
                .iter()
                .find(|x| &x.name == t)
                .ok_or_else(|| refused(format!("the target has no table {t}")))
        })
        .collect()
}

/// The interrupted import to continue (`resume`), or none for a new one: a ledger of another kind of run, of
/// another export or of a completed run refuses, naming the way on.
pub async fn previous(
    control: &tokio_postgres::Client,
    m: &Manifest,
    resume: bool,
) -> Result<Option<crate::cutover::ledger::Run>, Error> {
    use crate::cutover::ledger;
    let previous = ledger::read_run(control).await?;
    if let Some(run) = previous.as_ref().filter(|r| r.is_completed()) {
        return Err(super::session::completed_refusal(run));
    }
    match (&previous, resume) {
        (Some(_), false) => Err(Error::Refused(format!(
            "the target holds the ledger of an interrupted run (schema {}); continue it with \
             `pgconverge import --resume`, or return the target to its state before it with `pgconverge reset --yes`",
            ledger::LEDGER_SCHEMA
        ))),
        (None, true) => Err(super::session::nothing_to_resume(control).await?),
        (Some(run), true) if run.command != "import" => Err(Error::Refused(format!(
            "the interrupted run in this target was started by `pgconverge {}`; continue it with that command \
             and --resume, or return the target to its state before it with `pgconverge reset --yes`",
            run.command
        ))),
        (Some(run), true) if run.inputs != m.inputs => Err(Error::Refused(
            "cannot resume: the interrupted run loaded another export; return the target to its state before it \
             with `pgconverge reset --yes` first"
                .into(),
        )),
        _ => Ok(previous),
    }
}

/// The ledger record of a new import of `m`.
pub fn new_run(m: &Manifest) -> crate::cutover::ledger::Run {
    let mut run = crate::cutover::ledger::Run::new(
        m.inputs.clone(),
        m.snapshot.clone(),
        Default::default(),
        &Default::default(),
    );
    run.command = "import".into();
    run.target_schema = m.target_schema.clone();
    run.tables = m.tables.clone();
    run
}

/// One job per CSV file of `m` in `dir` not yet loaded (`done`: by source table and chunk).
pub fn jobs(
    m: &Manifest,
    dir: &Path,
    done: &std::collections::HashMap<(String, u32), u64>,
    target: &[crate::schema::TargetTable],
) -> Vec<Arc<FileWork>> {
    let staged = |name: &str| {
        target
            .iter()
            .any(|t| t.name == name && t.inheritance_parent)
    };
    m.csv_files()
        .filter(|f| !done.contains_key(&(f.table.clone(), f.chunk)))
        .map(|f| {
            Arc::new(FileWork::new(
                dir,
                &m.target_schema,
                f,
                staged(&f.target_table),
            ))
        })
        .collect()
}
