//! The PostgreSQL target around the load: refuse unexpected rows, drop and later re-create foreign keys with
//! identical names and definitions, delete seeded rows, set owned sequences, keep the per-chunk ledger.
//!
//! Everything works as a non-superuser that owns the tables: no `session_replication_role`, no triggers off.

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::error::Error;
use crate::schema::TargetTable;
use crate::transform::{Rule, Violation};

/// Name of the schema pgconverge keeps its run state in, inside the target database. Dropped after success.
pub const LEDGER_SCHEMA: &str = "pgconverge";

pub fn qi(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", qi(schema), qi(table))
}

fn pg(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
    let c = context.into();
    move |e| Error::Internal(format!("{c}: {}", db_message(&e)))
}

/// The server's message with detail, or the client error.
pub fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let mut s = d.message().to_string();
            if let Some(x) = d.detail() {
                s.push_str(&format!(" ({x})"));
            }
            if let Some(w) = d.where_() {
                s.push_str(&format!(" [{w}]"));
            }
            s
        }
        None => e.to_string(),
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

/// One resolved lookup as stored: (table, by, [(source key, target key)]).
pub type StoredLookup = (String, String, Vec<(String, String)>);

/// The ledger's record of a run: what it depends on and what it decided, so a resumed run repeats it exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub inputs: crate::migrate::Inputs,
    pub snapshot: crate::source::mysql::SnapshotInfo,
    pub chunks: std::collections::BTreeMap<String, Vec<crate::source::mysql::ChunkRange>>,
    /// Resolved lookups as (table, by, [(source key, target key)]); the target's seeded rows are gone on resume.
    pub lookups: Vec<StoredLookup>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub dropped_fks: Vec<DroppedFk>,
}

impl Run {
    pub fn new(
        inputs: crate::migrate::Inputs,
        snapshot: crate::source::mysql::SnapshotInfo,
        chunks: std::collections::BTreeMap<String, Vec<crate::source::mysql::ChunkRange>>,
        lookups: &crate::transform::Lookups,
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
        }
    }

    pub fn lookups(&self) -> crate::transform::Lookups {
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

/// Creates the ledger schema and records the run (state `preparing`).
pub async fn create_ledger(client: &Client, run: &Run) -> Result<(), Error> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {s};
             CREATE TABLE {s}.run (id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), state text NOT NULL,
               record jsonb NOT NULL, dropped_fks jsonb NOT NULL DEFAULT '[]',
               started_at timestamptz NOT NULL DEFAULT now());
             CREATE TABLE {s}.chunk (table_name text NOT NULL, chunk int NOT NULL, rows bigint NOT NULL,
               bytes bigint NOT NULL, loaded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
               PRIMARY KEY (table_name, chunk));",
            s = qi(LEDGER_SCHEMA)
        ))
        .await
        .map_err(pg("creating the ledger"))?;
    let record = serde_json::to_string(run).map_err(|e| Error::Internal(e.to_string()))?;
    client
        .execute(
            &format!(
                "INSERT INTO {}.run (state, record) VALUES ('preparing', $1::text::jsonb)",
                qi(LEDGER_SCHEMA)
            ),
            &[&record],
        )
        .await
        .map_err(pg("creating the ledger"))?;
    Ok(())
}

/// The interrupted run recorded in the target, if any.
pub async fn read_run(client: &Client) -> Result<Option<Run>, Error> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{}.run", qi(LEDGER_SCHEMA))],
        )
        .await
        .map_err(pg("reading the ledger"))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!(
                "SELECT state, record::text, dropped_fks::text FROM {}.run",
                qi(LEDGER_SCHEMA)
            ),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?;
    let Some(row) = row else { return Ok(None) };
    let bad = |e: serde_json::Error| {
        Error::Usage(format!(
            "the ledger in schema {LEDGER_SCHEMA} is unreadable ({e}); reset the target"
        ))
    };
    let mut run: Run = serde_json::from_str(row.get(1)).map_err(bad)?;
    run.state = row.get(0);
    run.dropped_fks = serde_json::from_str(row.get(2)).map_err(bad)?;
    Ok(Some(run))
}

/// Chunks committed so far, as (source table, chunk index).
pub async fn loaded_chunks(
    client: &Client,
) -> Result<std::collections::HashSet<(String, u32)>, Error> {
    Ok(client
        .query(
            &format!("SELECT table_name, chunk FROM {}.chunk", qi(LEDGER_SCHEMA)),
            &[],
        )
        .await
        .map_err(pg("reading the ledger"))?
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i32>(1) as u32))
        .collect())
}

pub async fn set_state(client: &Client, state: &str) -> Result<(), Error> {
    client
        .execute(
            &format!("UPDATE {}.run SET state = $1", qi(LEDGER_SCHEMA)),
            &[&state],
        )
        .await
        .map_err(pg("updating the ledger"))?;
    Ok(())
}

/// Drops the ledger after a successful run.
pub async fn drop_ledger(client: &Client) -> Result<(), Error> {
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            qi(LEDGER_SCHEMA)
        ))
        .await
        .map_err(pg("dropping the ledger"))
}

/// Refuses tables holding rows no migration seeded, unless `replace`. Runs before anything is changed.
pub async fn check_occupied(
    client: &Client,
    schema: &str,
    tables: &[&TargetTable],
    seeded: &[String],
    replace: bool,
) -> Result<(), Error> {
    let mut occupied = Vec::new();
    for t in tables {
        let has: bool = client
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {})",
                    qualified(schema, &t.name)
                ),
                &[],
            )
            .await
            .map_err(pg(format!("checking {}", t.name)))?
            .get(0);
        if has && !seeded.contains(&t.name) {
            occupied.push(t.name.clone());
        }
    }
    if !occupied.is_empty() && !replace {
        return Err(Error::Usage(format!(
            "target tables already hold rows that no migration seeded: {}; load into a freshly migrated database, \
             or pass --replace to delete them",
            occupied.join(", ")
        )));
    }
    Ok(())
}

/// Before the load, in one transaction: drop the foreign keys touching the loaded tables (recorded in the
/// ledger) and delete seeded rows (or every row with `replace`).
pub async fn prepare(
    client: &mut Client,
    schema: &str,
    tables: &[&TargetTable],
    seeded: &[String],
    replace: bool,
) -> Result<Vec<DroppedFk>, Error> {
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    // Every FK whose child or parent is loaded: a parent's delete or load must not be blocked by it.
    let mut fks = Vec::new();
    let all = crate::schema::pg::introspect(client, schema).await?;
    for t in &all {
        for c in t.constraints.iter().filter(|c| c.kind == 'f') {
            let parent = c.ref_table.clone().unwrap_or_default();
            if names.contains(&t.name.as_str()) || names.contains(&parent.as_str()) {
                fks.push(DroppedFk {
                    table: t.name.clone(),
                    name: c.name.clone(),
                    definition: c.definition.clone(),
                    columns: c.columns.clone(),
                    ref_table: parent,
                    ref_columns: c.ref_columns.clone(),
                });
            }
        }
    }
    let tx = client
        .transaction()
        .await
        .map_err(pg("preparing the target"))?;
    let json = serde_json::to_string(&fks).map_err(|e| Error::Internal(e.to_string()))?;
    tx.execute(
        &format!(
            "UPDATE {}.run SET dropped_fks = $1::text::jsonb, state = 'loading'",
            qi(LEDGER_SCHEMA)
        ),
        &[&json],
    )
    .await
    .map_err(pg("recording foreign keys"))?;
    for fk in &fks {
        tx.batch_execute(&format!(
            "ALTER TABLE {} DROP CONSTRAINT {}",
            qualified(schema, &fk.table),
            qi(&fk.name)
        ))
        .await
        .map_err(pg(format!(
            "dropping foreign key {} on {}",
            fk.name, fk.table
        )))?;
    }
    for t in tables {
        if replace || seeded.contains(&t.name) {
            tx.batch_execute(&format!("DELETE FROM {}", qualified(schema, &t.name)))
                .await
                .map_err(pg(format!("deleting seeded rows of {}", t.name)))?;
        }
    }
    tx.commit().await.map_err(pg("preparing the target"))?;
    Ok(fks)
}

/// After the load: re-create the foreign keys (an orphan is reported with its row), set owned sequences to their
/// column's maximum, and refresh planner statistics.
pub async fn finish(
    client: &Client,
    schema: &str,
    tables: &[&TargetTable],
    fks: &[DroppedFk],
) -> Result<(), Error> {
    // Idempotent: a resumed finish skips the keys an interrupted finish already restored.
    let existing: std::collections::HashSet<(String, String)> = client
        .query(
            "SELECT c.relname::text, k.conname::text FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
             WHERE k.contype = 'f' AND k.connamespace = $1::text::regnamespace",
            &[&qi(schema)],
        )
        .await
        .map_err(pg("listing foreign keys"))?
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect();
    for (restored, fk) in fks.iter().enumerate() {
        crate::migrate::pause_point(&format!("finishing:{restored}")).await;
        if existing.contains(&(fk.table.clone(), fk.name.clone())) {
            continue;
        }
        let sql = format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {}",
            qualified(schema, &fk.table),
            qi(&fk.name),
            fk.definition
        );
        if let Err(e) = client.batch_execute(&sql).await {
            if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
                return Err(orphan(client, schema, fk, tables).await.unwrap_or_else(|| {
                    Error::Data(format!(
                        "foreign key {} on {} cannot be restored: {}",
                        fk.name,
                        fk.table,
                        db_message(&e)
                    ))
                }));
            }
            return Err(pg(format!(
                "re-creating foreign key {} on {}",
                fk.name, fk.table
            ))(e));
        }
    }
    for t in tables {
        for c in &t.columns {
            if let Some(seq) = &c.owned_sequence {
                let col = qi(&c.name);
                client
                    .execute(
                        &format!(
                            "SELECT setval($1::text::regclass, COALESCE(MAX({col}), 1), MAX({col}) IS NOT NULL) FROM {}",
                            qualified(schema, &t.name)
                        ),
                        &[seq],
                    )
                    .await
                    .map_err(pg(format!("setting sequence {seq}")))?;
            }
        }
    }
    for t in tables {
        client
            .batch_execute(&format!("ANALYZE {}", qualified(schema, &t.name)))
            .await
            .map_err(pg(format!("analyzing {}", t.name)))?;
    }
    Ok(())
}

/// Finds one row breaking `fk` and names it.
async fn orphan(
    client: &Client,
    schema: &str,
    fk: &DroppedFk,
    tables: &[&TargetTable],
) -> Option<Error> {
    let pk = tables
        .iter()
        .find(|t| t.name == fk.table)
        .map(|t| t.primary_key())
        .unwrap_or_default();
    let key_expr = if pk.is_empty() {
        "ctid::text".to_string()
    } else {
        pk.iter()
            .map(|k| format!("c.{}::text", qi(k)))
            .collect::<Vec<_>>()
            .join(" || ', ' || ")
    };
    let not_null: Vec<String> = fk
        .columns
        .iter()
        .map(|c| format!("c.{} IS NOT NULL", qi(c)))
        .collect();
    let join: Vec<String> = fk
        .columns
        .iter()
        .zip(&fk.ref_columns)
        .map(|(c, r)| format!("p.{} = c.{}", qi(r), qi(c)))
        .collect();
    let vals: Vec<String> = fk
        .columns
        .iter()
        .map(|c| format!("c.{}::text", qi(c)))
        .collect();
    let sql = format!(
        "SELECT {key_expr}, {} FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {}) LIMIT 1",
        vals.join(" || ', ' || "),
        qualified(schema, &fk.table),
        not_null.join(" AND "),
        qualified(schema, &fk.ref_table),
        join.join(" AND ")
    );
    let row = client.query_opt(&sql, &[]).await.ok()??;
    let (key, value): (String, String) = (row.get(0), row.get(1));
    let key = if pk.is_empty() {
        key
    } else {
        format!("{}={key}", pk.join(","))
    };
    Some(Error::Violation(Box::new(Violation {
        table: fk.table.clone(),
        key,
        column: fk.columns.join(","),
        rule: Rule::OrphanForeignKey {
            parent: fk.ref_table.clone(),
        },
        excerpt: format!("{value:?}"),
        hint: Some(format!(
            "foreign key {}: add the parent row in the source or fix the reference",
            fk.name
        )),
    })))
}
