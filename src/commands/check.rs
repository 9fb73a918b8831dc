//! `pgconverge check`: the rehearsal preflight. Reads the whole source through the same pipeline as `migrate`
//! (MySQL readers, the validating transform) into a sink that only collects, writes nothing, and reports *every*
//! violation, grouped and counted; meanwhile checks on the source the rules only the target enforces: foreign
//! keys and UNIQUE constraints.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use mysql_async::prelude::Queryable;
use serde::Serialize;

use super::session::{self, ChunkWork, Endpoints, Ledger, Tuning};
use crate::error::Error;
use crate::mapping::Mapping;
use crate::pipeline::{self, Stop, Transform};
use crate::plan::Plan;
use crate::schema::TargetTable;
use crate::sink::{Collect, Tally};
use crate::source::mysql::{self as src, SourceError};
use crate::transform::{Rule, Violation};
use crate::util::sql::{mysql_ident as quote_ident, orphan_sql, Dialect};

/// Everything `pgconverge check` was asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoints: Endpoints,
    pub tuning: Tuning,
    /// Also scan foreign keys the source declares.
    pub all_foreign_keys: bool,
    /// Write every finding as JSON here.
    pub report: Option<PathBuf>,
}

/// Examples kept per (table, column, rule) group; every violation is counted.
const EXAMPLES_PER_GROUP: usize = 100;

/// Violations of one kind in one column.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub table: String,
    pub column: String,
    pub rule: String,
    pub count: u64,
    pub examples: Vec<Violation>,
}

/// The preflight's findings.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub app: String,
    pub settings: Tuning,
    pub tables: usize,
    pub rows: u64,
    pub violations: u64,
    pub groups: Vec<Group>,
    pub seconds: f64,
}

#[derive(Default)]
struct Collector {
    groups: BTreeMap<(String, String, String), Group>,
}

impl Collector {
    fn add(&mut self, v: Violation, count: u64) {
        let rule = rule_code(&v.rule);
        let g = self
            .groups
            .entry((v.table.clone(), v.column.clone(), rule.clone()))
            .or_insert_with(|| Group {
                table: v.table.clone(),
                column: v.column.clone(),
                rule,
                count: 0,
                examples: Vec::new(),
            });
        g.count += count;
        if g.examples.len() < EXAMPLES_PER_GROUP {
            g.examples.push(v);
        }
    }
}

/// Short stable name of a rule, for grouping and JSON.
pub fn rule_code(r: &Rule) -> String {
    match serde_json::to_value(r) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(o)) => o.keys().next().cloned().unwrap_or_default(),
        _ => format!("{r:?}"),
    }
}

/// The check transform: every violation of a batch (a clean batch costs one conversion).
struct Inspect(Arc<crate::progress::Progress>);

impl Transform<ChunkWork> for Inspect {
    type Output = Vec<Violation>;
    type Error = std::convert::Infallible;

    fn apply(&self, work: &ChunkWork, raw: RecordBatch) -> Result<Vec<Violation>, Self::Error> {
        self.0.add(
            &work.table.plan.source,
            raw.num_rows() as u64,
            raw.get_array_memory_size() as u64,
        );
        Ok(work.table.transform.violations(&raw))
    }
}

/// Runs the preflight. Returns the report; the caller decides the exit code from `violations`.
pub async fn check(mapping: &Mapping, settings: &Settings) -> Result<CheckReport, Error> {
    let started = Instant::now();
    // A preflight never takes the global read lock (it would hold back the production source's writes): each
    // reader reads in its own consistent snapshot, and the key checks run on one connection, consistent within
    // itself. Enough to find the rows that would stop a run.
    let opts = &Tuning {
        source_quiesced: true,
        ..settings.tuning.clone()
    };
    let session::Session {
        plan,
        source_tables,
        target_tables,
        jobs,
        mut snapshot,
        ..
    } = session::open(
        &settings.endpoints.source,
        &settings.endpoints.target,
        mapping,
        opts,
        false,
        Ledger::Ignore,
    )
    .await?;
    let collector = Arc::new(Mutex::new(Collector::default()));
    let progress = Arc::new(super::session::progress(
        "check",
        &plan,
        jobs.iter().map(|j| j.table.plan.source.as_str()),
        1,
    ));
    progress.phase("read");
    let mut main_conn = snapshot.conns.pop().expect("at least one reader");
    // The last connection checks keys while the others read; alone, it reads afterwards.
    let single = snapshot.conns.is_empty();
    let keys = async {
        let keys_started = Instant::now();
        keys(
            &mut main_conn,
            &plan,
            &source_tables,
            &target_tables,
            &collector,
            settings.all_foreign_keys,
        )
        .await?;
        tracing::info!(
            seconds = keys_started.elapsed().as_secs_f64(),
            "Foreign keys and unique constraints checked."
        );
        Ok::<_, Error>(())
    };
    let read = |readers: Vec<src::Reader>| {
        let sinks: Vec<_> = (0..readers.len())
            .map(|_| {
                let c = collector.clone();
                let collect = Collect(move |found: Vec<Violation>| {
                    let mut c = c.lock().expect("collector lock");
                    for v in found {
                        c.add(v, 1);
                    }
                });
                Tally(collect, progress.clone())
            })
            .collect();
        let jobs = jobs.clone();
        async move {
            match pipeline::run(
                jobs,
                readers,
                Inspect(progress.clone()),
                sinks,
                Default::default(),
            )
            .await
            {
                Ok(done) => Ok(done.iter().map(|d| d.rows).sum::<u64>()),
                Err(Stop::Failed { error, .. }) => Err::<u64, Error>(error),
                Err(Stop::Fault(f)) => Err(f.into()),
            }
        }
    };
    let rows = if single {
        keys.await?;
        read(vec![src::Reader::new(
            main_conn,
            opts.batch_rows,
            opts.batch_bytes(),
        )])
        .await?
    } else {
        let readers = opts.readers_of(&mut snapshot);
        let (k, r) = tokio::join!(keys, read(readers));
        k?;
        r?
    };
    let c = Arc::try_unwrap(collector)
        .map_err(|_| Error::Internal("the collector is still shared".into()))?
        .into_inner()
        .expect("collector lock");
    let groups: Vec<Group> = c.groups.into_values().collect();
    Ok(CheckReport {
        app: mapping.app.clone(),
        settings: opts.clone(),
        tables: plan.tables.len(),
        rows,
        violations: groups.iter().map(|g| g.count).sum(),
        groups,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `pgconverge check`: runs it, prints the findings, writes the JSON report if asked.
pub async fn command(settings: &Settings) -> Result<CheckReport, Error> {
    let mapping = Mapping::load(&settings.endpoints.mapping)?;
    let report = check(&mapping, settings).await?;
    print!("{}", render_text(&report));
    if let Some(path) = &settings.report {
        session::write_report(path, "check", &report)?;
    }
    Ok(report)
}

/// Target column -> source column of a planned table.
fn source_column<'a>(
    plan: &'a Plan,
    target_table: &str,
    target_column: &str,
) -> Option<(&'a str, &'a str)> {
    let tp = plan.tables.iter().find(|t| t.target == target_table)?;
    let c = tp.columns.iter().find(|c| c.target == target_column)?;
    Some((tp.source.as_str(), c.source.as_str()))
}

/// Rows whose value of a target foreign key has no parent row, found on the source inside the snapshot (at most
/// `limit` per key). Keys the source declares were enforced on its writes and are scanned only with `all`.
pub async fn foreign_key_orphans(
    conn: &mut mysql_async::Conn,
    plan: &Plan,
    sources: &[crate::schema::SourceTable],
    target: &[TargetTable],
    all_foreign_keys: bool,
    limit: usize,
) -> Result<Vec<Violation>, Error> {
    let q =
        |context: String| move |source: mysql_async::Error| SourceError::Query { context, source };
    let mut found = Vec::new();
    for t in target {
        let Some(tp) = plan.tables.iter().find(|p| p.target == t.name) else {
            continue;
        };
        for con in t.constraints.iter().filter(|c| c.kind == 'f') {
            let Some(parent) = con.ref_table.as_deref() else {
                continue;
            };
            let cols: Option<Vec<(&str, &str)>> = con
                .columns
                .iter()
                .zip(&con.ref_columns)
                .map(|(c, r)| {
                    Some((
                        source_column(plan, &t.name, c)?.1,
                        source_column(plan, parent, r)?.1,
                    ))
                })
                .collect();
            let (Some(cols), Some(ptp)) = (cols, plan.tables.iter().find(|p| p.target == parent))
            else {
                continue;
            };
            // A key the source declares was enforced on every write made with foreign_key_checks on;
            // only bulk loads with the checks off (restored dumps) can break it. Those are scanned
            // with --all-foreign-keys; PostgreSQL re-validates every key at the end of migrate anyway.
            let declared = sources
                .iter()
                .find(|s| s.name == tp.source)
                .is_some_and(|s| {
                    s.foreign_keys.iter().any(|(c, p)| {
                        p == &ptp.source
                            && c.len() == cols.len()
                            && cols.iter().all(|(x, _)| c.iter().any(|y| y == x))
                    })
                });
            if declared && !all_foreign_keys {
                continue;
            }
            let sql = orphan_sql(
                Dialect::MySql,
                &quote_ident(&tp.source),
                &quote_ident(&ptp.source),
                &tp.primary_key,
                &cols,
                limit as u32,
            );
            let rows: Vec<(String, String)> = conn
                .query(&sql)
                .await
                .map_err(q(format!("checking {}", con.name)))?;
            for (key, value) in rows {
                found.push(Violation {
                    table: tp.source.clone(),
                    key: format!("{}={key}", tp.primary_key.join(",")),
                    column: cols.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(","),
                    rule: Rule::OrphanForeignKey {
                        parent: ptp.source.clone(),
                    },
                    excerpt: format!("{value:?}"),
                    hint: Some(format!("target foreign key {}", con.name)),
                });
            }
        }
    }
    Ok(found)
}

/// Foreign keys and UNIQUE constraints of the target, checked on the source inside the snapshot (target UNIQUE
/// constraints the source does not enforce: duplicates PostgreSQL would reject).
async fn keys(
    conn: &mut mysql_async::Conn,
    plan: &Plan,
    sources: &[crate::schema::SourceTable],
    target: &[TargetTable],
    collector: &Arc<Mutex<Collector>>,
    all_foreign_keys: bool,
) -> Result<(), Error> {
    let q =
        |context: String| move |source: mysql_async::Error| SourceError::Query { context, source };
    let orphans = foreign_key_orphans(
        conn,
        plan,
        sources,
        target,
        all_foreign_keys,
        EXAMPLES_PER_GROUP,
    )
    .await?;
    for v in orphans {
        collector.lock().expect("collector lock").add(v, 1);
    }
    for t in target {
        let Some(tp) = plan.tables.iter().find(|p| p.target == t.name) else {
            continue;
        };
        for con in t.constraints.iter().filter(|c| c.kind == 'u') {
            let cols: Option<Vec<&str>> = con
                .columns
                .iter()
                .map(|c| source_column(plan, &t.name, c).map(|x| x.1))
                .collect();
            let Some(cols) = cols else { continue };
            // A source UNIQUE index on the same columns already forbids what PostgreSQL would reject:
            // MySQL's collations and PAD SPACE compare more loosely, never more strictly.
            let enforced = sources
                .iter()
                .find(|s| s.name == tp.source)
                .is_some_and(|s| {
                    s.unique_keys.iter().any(|k| {
                        k.len() == cols.len() && cols.iter().all(|c| k.iter().any(|x| x == c))
                    })
                });
            if enforced {
                continue;
            } // PostgreSQL compares bytes and lets NULLs repeat; MySQL's collation may fold case.
            let bin: Vec<String> = cols
                .iter()
                .map(|c| format!("CAST({} AS BINARY)", quote_ident(c)))
                .collect();
            let present: Vec<String> = cols
                .iter()
                .map(|c| format!("{0} IS NOT NULL AND {0} <> ''", quote_ident(c)))
                .collect();
            let sql = format!(
                "SELECT CONCAT_WS(', ', {}), COUNT(*) FROM {} WHERE {} GROUP BY {} HAVING COUNT(*) > 1 LIMIT {EXAMPLES_PER_GROUP}",
                cols.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", "),
                quote_ident(&tp.source),
                present.join(" AND "),
                bin.join(", ")
            );
            let rows: Vec<(String, u64)> = conn
                .query(&sql)
                .await
                .map_err(q(format!("checking {}", con.name)))?;
            for (value, n) in rows {
                collector.lock().expect("collector lock").add(
                    Violation {
                        table: tp.source.clone(),
                        key: format!("{n} rows"),
                        column: cols.join(","),
                        rule: Rule::Duplicate {
                            constraint: con.name.clone(),
                        },
                        excerpt: format!("{value:?}"),
                        hint: Some("keep one of the rows in the source".into()),
                    },
                    n,
                );
            }
        }
    }
    Ok(())
}

/// Human-readable report: groups with counts and the first examples.
pub fn render_text(r: &CheckReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Preflight of {}: {} rows in {} tables read in {:.1}s.",
        r.app, r.rows, r.tables, r.seconds
    );
    if r.groups.is_empty() {
        let _ = writeln!(s, "No violations: every row converts.");
        return s;
    }
    let _ = writeln!(
        s,
        "{} violation(s) in {} group(s):",
        r.violations,
        r.groups.len()
    );
    for g in &r.groups {
        let _ = writeln!(s, "\n{}.{} [{}]: {}", g.table, g.column, g.rule, g.count);
        for v in g.examples.iter().take(10) {
            let _ = writeln!(s, "  {}: {} {}", v.key, v.rule, v.excerpt);
        }
        if g.count > 10 {
            let _ = writeln!(
                s,
                "  ... and {} more (all examples kept are in --report)",
                g.count - 10
            );
        }
    }
    s
}
