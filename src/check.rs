//! `pgconverge check`: the rehearsal preflight. Reads the whole source through the same readers and transforms
//! as `migrate`, writes nothing, and reports *every* violation, grouped and counted; then checks on the source
//! the rules only the target enforces: foreign keys and UNIQUE constraints.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::error::Error;
use crate::mapping::Mapping;
use crate::migrate::Options;
use crate::plan::Plan;
use crate::schema::TargetTable;
use crate::source::mysql::{self as src, quote_ident};
use crate::transform::{Rule, Violation};

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
    pub tables: usize,
    pub rows: u64,
    pub violations: u64,
    pub groups: Vec<Group>,
    pub seconds: f64,
}

#[derive(Default)]
struct Collector {
    groups: BTreeMap<(String, String, String), Group>,
    rows: u64,
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

/// Runs the preflight. Returns the report; the caller decides the exit code from `violations`.
pub async fn check(
    source_url: &str,
    target_url: &str,
    mapping: &Mapping,
    opts: &Options,
    all_foreign_keys: bool,
) -> Result<CheckReport, Error> {
    let started = Instant::now();
    let session = crate::migrate::open_read_session(
        source_url,
        target_url,
        mapping,
        opts,
        crate::migrate::Ledger::Ignore,
    )
    .await?;
    let crate::migrate::ReadSession {
        plan,
        source_tables,
        target_tables,
        jobs,
        mut snapshot,
        ..
    } = session;
    let collector = Arc::new(Mutex::new(Collector::default()));
    let mut conns = std::mem::take(&mut snapshot.conns);
    let mut main_conn = conns.pop().expect("at least one reader");
    let queue = Arc::new(Mutex::new(jobs));
    let batch_bytes = opts.batch_bytes();
    let mut set = tokio::task::JoinSet::new();
    // The last connection checks keys while the others read; alone, it reads afterwards.
    let single = conns.is_empty();
    for mut conn in conns {
        let (queue, collector) = (queue.clone(), collector.clone());
        let batch_rows = opts.batch_rows;
        set.spawn(
            async move { read_all(&mut conn, &queue, &collector, batch_rows, batch_bytes).await },
        );
    }
    let keys_started = Instant::now();
    keys(
        &mut main_conn,
        &plan,
        &source_tables,
        &target_tables,
        &collector,
        all_foreign_keys,
    )
    .await?;
    tracing::info!(
        seconds = keys_started.elapsed().as_secs_f64(),
        "Foreign keys and unique constraints checked."
    );
    if single {
        read_all(
            &mut main_conn,
            &queue,
            &collector,
            opts.batch_rows,
            batch_bytes,
        )
        .await?;
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| Error::Internal(format!("check task failed: {e}")))??;
    }
    let c =
        Arc::try_unwrap(collector).map_err(|_| Error::Internal("collector still shared".into()))?;
    let c = c.into_inner().expect("collector lock");
    let groups: Vec<Group> = c.groups.into_values().collect();
    Ok(CheckReport {
        app: mapping.app.clone(),
        tables: plan.tables.len(),
        rows: c.rows,
        violations: groups.iter().map(|g| g.count).sum(),
        groups,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn read_all(
    conn: &mut mysql_async::Conn,
    queue: &Mutex<std::collections::VecDeque<crate::migrate::Job>>,
    collector: &Arc<Mutex<Collector>>,
    batch_rows: usize,
    batch_bytes: usize,
) -> Result<(), Error> {
    loop {
        let job = queue.lock().expect("queue lock").pop_front();
        let Some(job) = job else { break };
        let t = job.table.clone();
        let sql = src::chunk_sql(&t.source, &t.read_columns, &job.range);
        let schema = src::raw_schema(&t.read_columns);
        let rows = src::read_chunk(
            conn,
            &t.plan.source,
            &sql,
            schema,
            batch_rows,
            batch_bytes,
            |raw| {
                let (t, collector) = (t.clone(), collector.clone());
                async move {
                    let (otx, orx) = tokio::sync::oneshot::channel();
                    rayon::spawn(move || {
                        let _ = otx.send(t.transform.violations(&raw));
                    });
                    let found = orx
                        .await
                        .map_err(|_| Error::Internal("check worker vanished".into()))?;
                    let mut c = collector.lock().expect("collector lock");
                    for v in found {
                        c.add(v, 1);
                    }
                    Ok(())
                }
            },
        )
        .await?;
        collector.lock().expect("collector lock").rows += rows;
    }
    Ok(())
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

/// Foreign keys and UNIQUE constraints of the target, checked on the source inside the snapshot.
async fn keys(
    conn: &mut mysql_async::Conn,
    plan: &Plan,
    sources: &[crate::schema::SourceTable],
    target: &[TargetTable],
    collector: &Arc<Mutex<Collector>>,
    all_foreign_keys: bool,
) -> Result<(), Error> {
    let q = |ctx: String| move |e: mysql_async::Error| Error::Internal(format!("{ctx}: {e}"));
    for t in target {
        let Some(tp) = plan.tables.iter().find(|p| p.target == t.name) else {
            continue;
        };
        let pk: Vec<String> = tp
            .primary_key
            .iter()
            .map(|k| format!("c.{}", quote_ident(k)))
            .collect();
        let key_expr = format!("CONCAT_WS(', ', {})", pk.join(", "));
        for con in &t.constraints {
            match con.kind {
                'f' => {
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
                    let (Some(cols), Some(ptp)) =
                        (cols, plan.tables.iter().find(|p| p.target == parent))
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
                    // '' in a nullable uuid column becomes NULL, so it is no reference.
                    let present: Vec<String> = cols
                        .iter()
                        .map(|(c, _)| format!("c.{0} IS NOT NULL AND c.{0} <> ''", quote_ident(c)))
                        .collect();
                    let join: Vec<String> = cols
                        .iter()
                        .map(|(c, r)| format!("p.{} = c.{}", quote_ident(r), quote_ident(c)))
                        .collect();
                    let sql = format!(
                        "SELECT {key_expr}, CONCAT_WS(', ', {}) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {}) LIMIT {EXAMPLES_PER_GROUP}",
                        cols.iter().map(|(c, _)| format!("c.{}", quote_ident(c))).collect::<Vec<_>>().join(", "),
                        quote_ident(&tp.source),
                        present.join(" AND "),
                        quote_ident(&ptp.source),
                        join.join(" AND ")
                    );
                    let rows: Vec<(String, String)> = conn
                        .query(&sql)
                        .await
                        .map_err(q(format!("checking {}", con.name)))?;
                    for (key, value) in rows {
                        collector.lock().expect("collector lock").add(
                            Violation {
                                table: tp.source.clone(),
                                key: format!("{}={key}", tp.primary_key.join(",")),
                                column: cols.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(","),
                                rule: Rule::OrphanForeignKey {
                                    parent: ptp.source.clone(),
                                },
                                excerpt: format!("{value:?}"),
                                hint: Some(format!("target foreign key {}", con.name)),
                            },
                            1,
                        );
                    }
                }
                'u' => {
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
                                k.len() == cols.len()
                                    && cols.iter().all(|c| k.iter().any(|x| x == c))
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
                _ => {}
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
