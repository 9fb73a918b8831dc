//! The run ledger in the target (schema `pgconverge`): what a run depends on and decided (inputs fingerprint,
//! chunk plan, snapshot position, resolved lookups, dropped foreign keys) and one row per committed chunk, written
//! in the chunk's own transaction by the COPY sink. `--resume` repeats exactly what it records. After success the
//! ledger stays, reduced to the baseline (`state = 'completed'`: the rows the run replaced, sequence positions,
//! every table's row count at the end), so `reset` can return even a completed run's target to its state before.

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::error::{pg, TargetError};
use super::helpers;
use crate::chunk::{ChunkRange, SnapshotInfo};
use crate::durable;
use crate::mapping::Mapping;
use crate::schema::{SourceTable, TargetTable};
use crate::util::hash::fnv;
use crate::util::sql::{pg_ident, pg_string};

fn fingerprint<T: Serialize + ?Sized>(v: &T) -> String {
    format!(
        "{:016x}",
        fnv(&serde_json::to_string(v).unwrap_or_default())
    )
}

/// Name of the schema pgconverge keeps its run state in, inside the target database. After success it keeps only
/// the baseline `reset` needs; `reset --yes` (undo) or `reset --keep-data --yes` (accept) removes it.
pub const LEDGER_SCHEMA: &str = "pgconverge";

/// What a run depends on; `--resume` refuses when any of it changed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Inputs {
    pub mapping: String,
    pub source_schema: String,
    /// Target schema without foreign keys (they are dropped while loading).
    pub target_schema: String,
    pub chunking: String,
}

impl Inputs {
    pub fn of(
        mapping: &Mapping,
        source: &[SourceTable],
        target: &[TargetTable],
        chunk_rows: u64,
        chunk_bytes: u64,
    ) -> Inputs {
        let src: Vec<_> = source
            .iter()
            .map(|t| (&t.name, &t.columns, &t.primary_key))
            .collect();
        Inputs {
            mapping: Inputs::mapping_fingerprint(mapping),
            source_schema: fingerprint(&src),
            target_schema: Inputs::target_fingerprint(target),
            chunking: format!("rows={chunk_rows} bytes={chunk_bytes}"),
        }
    }

    pub fn mapping_fingerprint(mapping: &Mapping) -> String {
        fingerprint(mapping)
    }

    /// The target schema without foreign keys (they are dropped while loading) and without the follow phase's
    /// helper indexes (made and dropped by the run itself).
    pub fn target_fingerprint(target: &[TargetTable]) -> String {
        let dst: Vec<_> = target
            .iter()
            .map(|t| {
                (
                    &t.name,
                    &t.columns,
                    t.constraints
                        .iter()
                        .filter(|c| c.kind != 'f')
                        .collect::<Vec<_>>(),
                    t.indexes
                        .iter()
                        .filter(|(name, _)| !name.starts_with(helpers::HELPER_INDEX_PREFIX))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        fingerprint(&dst)
    }

    /// Names of the inputs that differ from `other`.
    pub fn differences(&self, other: &Inputs) -> Vec<&'static str> {
        let mut d = Vec::new();
        if self.mapping != other.mapping {
            d.push("the mapping file");
        }
        if self.source_schema != other.source_schema {
            d.push("the source schema");
        }
        if self.target_schema != other.target_schema {
            d.push("the target schema");
        }
        if self.chunking != other.chunking {
            d.push("the chunk plan options (--chunk-rows/--chunk-bytes)");
        }
        d
    }
}

/// A foreign key dropped for the load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DroppedFk {
    pub table: String,
    pub name: String,
    pub definition: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

impl DroppedFk {
    /// (table, constraint name): how the verification names a key the finish validated.
    pub fn key(&self) -> (String, String) {
        (self.table.clone(), self.name.clone())
    }

    /// The schema itself had the key `NOT VALID`: it is put back as it was, unchecked.
    pub fn unchecked(&self) -> bool {
        self.definition.trim_end().ends_with("NOT VALID")
    }
}

/// One resolved lookup as stored: (table, by, [(source key, target key)]).
pub type StoredLookup = (String, String, Vec<(String, String)>);

/// The ledger's record of a run: what it depends on and what it decided, so a resumed run repeats it exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub inputs: Inputs,
    pub snapshot: SnapshotInfo,
    pub chunks: std::collections::BTreeMap<String, Vec<ChunkRange>>,
    /// Resolved lookups as (table, by, [(source key, target key)]); the target's seeded rows are gone on resume.
    pub lookups: Vec<StoredLookup>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub dropped_fks: Vec<DroppedFk>,
    /// The command that started the run (`migrate` or `import`): only the same command resumes it.
    #[serde(default)]
    pub command: String,
    /// The target schema and the tables the run loads: what a restore empties.
    #[serde(default)]
    pub target_schema: String,
    #[serde(default)]
    pub tables: Vec<String>,
    /// A resume met a source written since this run's snapshot (`migrate --resume --follow`): the tables are not
    /// of one instant until the follower passes every position in `recopied`, and no copy verification covers
    /// them, so the cut-over restores the foreign keys and verifies every table.
    #[serde(default)]
    pub live: bool,
    /// Source tables such a resume emptied and copied again from its own snapshot: the binary log position of that
    /// snapshot. The follower applies a change to one of them only from past that position.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub recopied: std::collections::BTreeMap<String, String>,
}

impl Run {
    pub fn new(
        inputs: Inputs,
        snapshot: SnapshotInfo,
        chunks: std::collections::BTreeMap<String, Vec<ChunkRange>>,
        lookups: &crate::values::Lookups,
    ) -> Run {
        let lookups = lookups
            .iter()
            .map(|((t, by), m)| {
                let mut pairs: Vec<(String, String)> = m
                    .iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.clone()))
                    .collect();
                pairs.sort();
                (t.clone(), by.clone(), pairs)
            })
            .collect();
        Run {
            inputs,
            snapshot,
            chunks,
            lookups,
            state: "preparing".into(),
            dropped_fks: Vec::new(),
            command: String::new(),
            target_schema: String::new(),
            tables: Vec::new(),
            live: false,
            recopied: Default::default(),
        }
    }

    /// The run finished: the ledger is only the baseline `reset` needs, nothing is left to resume.
    pub fn is_completed(&self) -> bool {
        self.state == COMPLETED
    }

    pub fn lookups(&self) -> crate::values::Lookups {
        self.lookups
            .iter()
            .map(|(t, by, pairs)| {
                let m = pairs
                    .iter()
                    .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
                    .collect();
                ((t.clone(), by.clone()), std::sync::Arc::new(m))
            })
            .collect()
    }
}

/// The state of a run that finished (see [`complete`]).
pub const COMPLETED: &str = "completed";

/// Creates the ledger schema and records the run (state `preparing`), in one transaction: a run killed at any
/// instant leaves either no ledger or a ledger that names it (one simple-query message is one implicit
/// transaction; the record travels as a literal because such a message takes no parameters).
pub async fn create_ledger(client: &Client, run: &Run) -> Result<(), TargetError> {
    let record = serde_json::to_string(run).expect("the run record serializes");
    durable::batch(
        client,
        &format!(
            "CREATE SCHEMA {s};
             CREATE TABLE {s}.run (id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), state text NOT NULL,
               record jsonb NOT NULL, dropped_fks jsonb NOT NULL DEFAULT '[]',
               started_at timestamptz NOT NULL DEFAULT now(), last_error jsonb);
             CREATE TABLE {s}.saved (table_name text PRIMARY KEY, copy text NOT NULL, rows bigint NOT NULL);
             CREATE TABLE {s}.sequence (name text PRIMARY KEY, last_value bigint NOT NULL, is_called boolean NOT NULL);
             CREATE TABLE {s}.chunk (table_name text NOT NULL, chunk int NOT NULL, rows bigint NOT NULL,
               bytes bigint NOT NULL, loaded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
               PRIMARY KEY (table_name, chunk));
             INSERT INTO {s}.run (state, record) VALUES ('preparing', {record}::jsonb);",
            s = pg_ident(LEDGER_SCHEMA),
            record = pg_string(&record),
        ),
        || "ledger created, run recorded (preparing)".into(),
    )
    .await
    .map_err(pg("creating the ledger"))
}

/// Whether the target holds a ledger schema that records no run: what a run killed between creating the schema
/// and recording itself left before both were one transaction. Nothing else of that run was changed.
pub async fn is_empty_ledger(client: &Client) -> Result<bool, TargetError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), to_regclass($2) IS NOT NULL",
            &[&LEDGER_SCHEMA, &format!("{}.run", pg_ident(LEDGER_SCHEMA))],
        )
        .await
        .map_err(pg("reading the ledger"))?;
    let (schema, run_table): (bool, bool) = (row.get(0), row.get(1));
    if !schema {
        return Ok(false);
    }
    if !run_table {
        return Ok(true);
    }
    let rows: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {}.run", pg_ident(LEDGER_SCHEMA)),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?
        .get(0);
    Ok(rows == 0)
}

/// Removes a ledger that records no run ([`is_empty_ledger`]).
pub async fn drop_empty_ledger(client: &Client) -> Result<(), TargetError> {
    durable::batch(
        client,
        &format!("DROP SCHEMA {} CASCADE", pg_ident(LEDGER_SCHEMA)),
        || "empty ledger removed".into(),
    )
    .await
    .map_err(pg("removing the empty ledger"))
}

/// Why a run does not start (or resume) on a target holding an empty ledger, and the way on.
pub fn empty_ledger_message() -> String {
    format!(
        "the target holds an empty ledger (schema {LEDGER_SCHEMA}, no run recorded): a run was stopped right after \
         creating it, before it recorded itself or changed anything else; remove it with `pgconverge reset --yes`, \
         then run the command again"
    )
}

/// The interrupted run recorded in the target, if any.
pub async fn read_run(client: &Client) -> Result<Option<Run>, TargetError> {
    if !has_table(client, "run").await? {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!(
                "SELECT state, record::text, dropped_fks::text FROM {}.run",
                pg_ident(LEDGER_SCHEMA)
            ),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?;
    let Some(row) = row else { return Ok(None) };
    let bad = |e: serde_json::Error| TargetError::LedgerUnreadable {
        schema: LEDGER_SCHEMA,
        message: e.to_string(),
    };
    let mut run: Run = serde_json::from_str(row.get(1)).map_err(bad)?;
    run.state = row.get(0);
    run.dropped_fks = serde_json::from_str(row.get(2)).map_err(bad)?;
    Ok(Some(run))
}

/// Chunks committed so far: (source table, chunk index) -> rows.
pub async fn loaded_chunks(
    client: &Client,
) -> Result<std::collections::HashMap<(String, u32), u64>, TargetError> {
    Ok(client
        .query(
            &format!(
                "SELECT table_name, chunk, rows FROM {}.chunk",
                pg_ident(LEDGER_SCHEMA)
            ),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?
        .iter()
        .map(|r| {
            (
                (r.get::<_, String>(0), r.get::<_, i32>(1) as u32),
                r.get::<_, i64>(2) as u64,
            )
        })
        .collect())
}

/// Records that the run reached `state`.
pub async fn set_state(client: &Client, state: &str) -> Result<(), TargetError> {
    durable::execute(
        client,
        &format!("UPDATE {}.run SET state = $1", pg_ident(LEDGER_SCHEMA)),
        &[&state],
        || format!("run state {state}"),
    )
    .await
    .map_err(pg("updating the ledger"))?;
    Ok(())
}

/// Marks the run completed, in one transaction (idempotent): the chunk records go, each loaded table's row count
/// (`counts`, taken by the finish) is kept so that `reset` can tell rows written after the run (by the
/// applications) from the run's own.
pub async fn complete(client: &mut Client, counts: &[(String, i64)]) -> Result<(), TargetError> {
    let l = pg_ident(LEDGER_SCHEMA);
    let (names, rows): (Vec<&str>, Vec<i64>) = counts.iter().map(|(t, n)| (t.as_str(), *n)).unzip();
    let tx = client
        .transaction()
        .await
        .map_err(pg("completing the ledger"))?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {l}.completed (table_name text PRIMARY KEY, rows bigint NOT NULL);
         DELETE FROM {l}.completed;
         DROP TABLE IF EXISTS {l}.chunk;
         {last_error};
         UPDATE {l}.run SET state = '{COMPLETED}', last_error = NULL;",
        last_error = add_column("run", "last_error jsonb")
    ))
    .await
    .map_err(pg("completing the ledger"))?;
    tx.execute(
        &format!("INSERT INTO {l}.completed SELECT * FROM unnest($1::text[], $2::bigint[])"),
        &[&names, &rows],
    )
    .await
    .map_err(pg("keeping the row counts of the completed run"))?;
    durable::commit(tx, || format!("run {COMPLETED}"))
        .await
        .map_err(pg("completing the ledger"))
}

/// A resume on a source written since the run's snapshot (`migrate --resume --follow`): the tables whose copy is not
/// complete (`tables`: source and target names) are emptied and their chunk records dropped, and the run is
/// recorded as live with each of them to be followed from `at`, the resume's own snapshot position. One
/// transaction: a kill before its commit leaves the interrupted run as it was; after it, a run the next resume
/// picks up the same way (a table it copies again gets that resume's position).
pub async fn recopy_live(
    client: &mut Client,
    schema: &str,
    tables: &[(String, String)],
    at: &str,
) -> Result<(), TargetError> {
    let l = pg_ident(LEDGER_SCHEMA);
    let recopied: serde_json::Map<String, serde_json::Value> = tables
        .iter()
        .map(|(s, _)| (s.clone(), serde_json::Value::from(at)))
        .collect();
    let recopied = serde_json::Value::Object(recopied).to_string();
    let tx = client
        .transaction()
        .await
        .map_err(pg("recording the resume on a live source"))?;
    if !tables.is_empty() {
        let list: Vec<String> = tables
            .iter()
            .map(|(_, t)| crate::util::sql::pg_qualified(schema, t))
            .collect();
        tx.batch_execute(&format!("TRUNCATE {}", list.join(", ")))
            .await
            .map_err(pg("emptying the tables to copy again"))?;
        let names: Vec<&str> = tables.iter().map(|(s, _)| s.as_str()).collect();
        tx.execute(
            &format!("DELETE FROM {l}.chunk WHERE table_name = ANY($1)"),
            &[&names],
        )
        .await
        .map_err(pg("dropping the chunk records of the tables to copy again"))?;
    }
    tx.execute(
        &format!(
            "UPDATE {l}.run SET record = record || jsonb_build_object('live', true, 'recopied',
               coalesce(record->'recopied', '{{}}'::jsonb) || $1::text::jsonb)"
        ),
        &[&recopied],
    )
    .await
    .map_err(pg("recording the resume on a live source"))?;
    durable::commit(tx, || {
        format!("{} table(s) emptied to copy again from {at}", tables.len())
    })
    .await
    .map_err(pg("recording the resume on a live source"))
}

/// Keeps the canonical digests of the rows a completed run sent (`canonical::encode_buckets` text by source
/// table), so that a later `verify` against an unchanged source reads only the target. One transaction: a later
/// `verify` finds every table's digest or none.
pub async fn store_digests(
    client: &mut Client,
    digests: &[(String, String)],
) -> Result<(), TargetError> {
    let l = pg_ident(LEDGER_SCHEMA);
    let (tables, buckets): (Vec<&str>, Vec<&str>) = digests
        .iter()
        .map(|(t, b)| (t.as_str(), b.as_str()))
        .unzip();
    let tx = client
        .transaction()
        .await
        .map_err(pg("keeping the load digests"))?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {l}.digest (table_name text PRIMARY KEY, buckets text NOT NULL);
         DELETE FROM {l}.digest;"
    ))
    .await
    .map_err(pg("keeping the load digests"))?;
    tx.execute(
        &format!("INSERT INTO {l}.digest SELECT * FROM unnest($1::text[], $2::text[])"),
        &[&tables, &buckets],
    )
    .await
    .map_err(pg("keeping the load digests"))?;
    durable::commit(tx, || "load digests kept".into())
        .await
        .map_err(pg("keeping the load digests"))
}

/// The digests [`store_digests`] kept, if any.
pub async fn stored_digests(client: &Client) -> Result<Vec<(String, String)>, TargetError> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{}.digest", pg_ident(LEDGER_SCHEMA))],
        )
        .await
        .map_err(pg("reading the ledger"))?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    Ok(client
        .query(
            &format!(
                "SELECT table_name, buckets FROM {}.digest",
                pg_ident(LEDGER_SCHEMA)
            ),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The loaded tables whose row count differs from the one recorded when the run completed (rows written, or
/// deleted, after it): (table, rows then, rows now).
pub async fn changed_since_completed(
    client: &Client,
    schema: &str,
) -> Result<Vec<(String, i64, i64)>, TargetError> {
    let l = pg_ident(LEDGER_SCHEMA);
    let recorded = client
        .query(
            &format!("SELECT table_name, rows FROM {l}.completed ORDER BY 1"),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?;
    let mut changed = Vec::new();
    for r in recorded {
        let (table, then): (String, i64) = (r.get(0), r.get(1));
        let now: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}",
                    crate::util::sql::pg_qualified(schema, &table)
                ),
                &[],
            )
            .await
            .map_err(pg(format!("counting the rows of {table}")))?
            .get(0);
        if now != then {
            changed.push((table, then, now));
        }
    }
    Ok(changed)
}

/// Adds `column` (name and type) to ledger table `table` when a ledger from an earlier version lacks it. Only
/// then: `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` takes the table's exclusive lock even when the column is there,
/// and would wait behind any open transaction that read the table (a `status`, an operator's psql).
pub(super) fn add_column(table: &str, column: &str) -> String {
    let (name, _) = column.split_once(' ').expect("a name and a type");
    let t = format!("{}.{}", pg_ident(LEDGER_SCHEMA), pg_ident(table));
    format!(
        "DO $pgc$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {rel}::regclass AND attname = {name}
                            AND NOT attisdropped) THEN
             ALTER TABLE {t} ADD COLUMN {column};
           END IF;
         END $pgc$",
        rel = pg_string(&t),
        name = pg_string(name),
    )
}

/// Records why the run stopped (its exit code and message), for `pgconverge status` to show from any shell: one
/// step. A ledger made by an earlier version gets the column first.
pub async fn record_error(client: &Client, exit: u8, message: &str) -> Result<(), TargetError> {
    let l = pg_ident(LEDGER_SCHEMA);
    let error = serde_json::json!({ "exit": exit, "message": message }).to_string();
    durable::batch(
        client,
        &format!(
            "{};
             UPDATE {l}.run SET last_error = {}::jsonb || jsonb_build_object('at', now());",
            add_column("run", "last_error jsonb"),
            pg_string(&error)
        ),
        || format!("run error recorded (exit {exit})"),
    )
    .await
    .map_err(pg("recording the error in the ledger"))
}

/// What the ledger tells about a run's progress, for `pgconverge status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    pub started_at: String,
    pub seconds_since_start: f64,
    /// Chunks committed so far (none once completed: the chunk records go then).
    pub chunks_done: u64,
    pub rows_done: u64,
    pub bytes_done: u64,
    /// Seconds from the first to the last chunk committed, and since the last one.
    pub loading_seconds: f64,
    pub seconds_since_last_chunk: Option<f64>,
    /// Rows the completed run loaded, by table (from its baseline).
    pub completed_rows: Vec<(String, i64)>,
    /// The exit code and message of the last failure recorded, and when.
    pub last_error: Option<serde_json::Value>,
}

/// Reads [`Progress`] for the run the ledger records (`run` comes from [`read_run`]).
pub async fn progress(client: &Client, run: &Run) -> Result<Progress, TargetError> {
    let l = pg_ident(LEDGER_SCHEMA);
    let row = client
        .query_one(
            &format!(
                "SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'),
                        extract(epoch FROM clock_timestamp() - started_at)::float8,
                        (to_jsonb(r) -> 'last_error')::text
                 FROM {l}.run r"
            ),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?;
    let last: Option<String> = row.get(2);
    let mut p = Progress {
        started_at: row.get(0),
        seconds_since_start: row.get(1),
        last_error: last
            .and_then(|t| serde_json::from_str(&t).ok())
            .filter(|v: &serde_json::Value| !v.is_null()),
        ..Default::default()
    };
    if run.is_completed() {
        p.completed_rows = client
            .query(
                &format!("SELECT table_name, rows FROM {l}.completed ORDER BY 1"),
                &[],
            )
            .await
            .map_err(pg("reading the ledger"))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        return Ok(p);
    }
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), coalesce(sum(rows), 0)::bigint, coalesce(sum(bytes), 0)::bigint,
                        coalesce(extract(epoch FROM max(loaded_at) - min(loaded_at)), 0)::float8,
                        extract(epoch FROM clock_timestamp() - max(loaded_at))::float8
                 FROM {l}.chunk"
            ),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?;
    p.chunks_done = row.get::<_, i64>(0) as u64;
    p.rows_done = row.get::<_, i64>(1) as u64;
    p.bytes_done = row.get::<_, i64>(2) as u64;
    p.loading_seconds = row.get(3);
    p.seconds_since_last_chunk = row.get(4);
    Ok(p)
}

/// The `application_name` of every session connected to this database by a pgconverge command (`pgconverge/<command>`):
/// whether a run is going on right now.
pub async fn running_sessions(client: &Client) -> Result<Vec<String>, TargetError> {
    Ok(client
        .query(
            "SELECT application_name FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND application_name LIKE 'pgconverge/%' AND application_name <> 'pgconverge/status'
             ORDER BY 1",
            &[],
        )
        .await
        .map_err(pg("reading pg_stat_activity"))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// The pgconverge sessions of a `migrate` connected now: a follower may be among them (`cutover` waits for one,
/// `reset` refuses while one applies).
pub async fn migrate_sessions(client: &Client) -> Result<Vec<String>, TargetError> {
    let mut running = running_sessions(client).await?;
    running.retain(|s| s.starts_with("pgconverge/migrate"));
    Ok(running)
}

/// Whether the ledger schema holds table `name`.
pub(super) async fn has_table(client: &Client, name: &str) -> Result<bool, TargetError> {
    Ok(client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{}.{name}", pg_ident(LEDGER_SCHEMA))],
        )
        .await
        .map_err(pg("reading the ledger"))?
        .get(0))
}

/// Drops the ledger (a completed run accepted with `reset --keep-data`).
pub async fn drop_ledger(client: &Client) -> Result<(), TargetError> {
    durable::batch(
        client,
        &format!(
            "{}; DROP SCHEMA IF EXISTS {} CASCADE",
            helpers::drop_helper_indexes_sql(),
            pg_ident(LEDGER_SCHEMA)
        ),
        || "ledger dropped (data kept)".into(),
    )
    .await
    .map_err(pg("dropping the ledger"))
}
