//! `pgconverge check`: the rehearsal preflight. Reads the whole source through the same pipeline as `migrate`
//! (MySQL readers, the validating transform) into a sink that only collects, writes nothing, and reports *every*
//! violation, grouped and counted; meanwhile checks on the source the rules only the target enforces: foreign
//! keys and UNIQUE constraints.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use serde::Serialize;

use crate::config::{CheckSettings as Settings, Tuning};
use crate::error::Error;
use crate::mapping::Mapping;
use crate::pipeline::{self, Stop, Transform};
use crate::run::session::{self, Ledger};
use crate::run::work::{self, ChunkWork};
use crate::run::{keys, output};
use crate::sink::probe::{DomainProbe, Inspected, Probe};
use crate::sink::Tally;
use crate::source::mysql as src;
use crate::values::{Rule, Violation};

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
    type Output = Inspected;
    type Error = std::convert::Infallible;

    fn apply(&self, work: &ChunkWork, raw: RecordBatch) -> Result<Inspected, Self::Error> {
        let contract = &work.table.contract;
        self.0.add(
            &contract.source,
            raw.num_rows() as u64,
            raw.get_array_memory_size() as u64,
        );
        let converter = &work.table.converter;
        let probes = contract
            .columns
            .iter()
            .filter_map(|c| {
                Some(Probe {
                    table: contract.source.clone(),
                    column: c.source.clone(),
                    domain: c.domain.clone()?,
                    values: converter.converted(&raw, &c.target),
                })
            })
            .collect();
        Ok(Inspected {
            violations: converter.violations(&raw),
            probes,
        })
    }
}

pub async fn check(mapping: &Mapping, settings: &Settings) -> Result<CheckReport, Error> {
    let started = Instant::now();
    // The key checks run on one connection, consistent within itself (config: a preflight never locks).
    let opts = &settings.tuning;
    let session::Session {
        contract: plan,
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
    let progress = Arc::new(session::progress(
        "check",
        &plan,
        jobs.iter().map(|j| j.table.contract.source.as_str()),
        1,
    ));
    progress.phase("read");
    let mut main_conn = snapshot.conns.pop().expect("at least one reader");
    // The last connection checks keys while the others read; alone, it reads afterwards.
    let single = snapshot.conns.is_empty();
    let keys = async {
        let keys_started = Instant::now();
        let found = keys::target_only_keys(
            &mut main_conn,
            &plan,
            &source_tables,
            &target_tables,
            settings.all_foreign_keys,
            EXAMPLES_PER_GROUP,
        )
        .await?;
        let mut c = collector.lock().expect("collector lock");
        for (v, n) in found {
            c.add(v, n);
        }
        drop(c);
        tracing::info!(
            seconds = keys_started.elapsed().as_secs_f64(),
            "Foreign keys and unique constraints checked."
        );
        Ok::<_, Error>(())
    };
    // Domains' constraints are PostgreSQL's to judge: only then does each sink talk to the target.
    let has_domains = plan
        .tables
        .iter()
        .any(|t| t.columns.iter().any(|c| c.domain.is_some()));
    let target_url = has_domains.then_some(settings.endpoints.target.as_str());
    let read = |readers: Vec<src::Reader>| {
        let jobs = jobs.clone();
        let collector = collector.clone();
        let progress = progress.clone();
        async move {
            let mut sinks = Vec::new();
            for _ in 0..readers.len() {
                let c = collector.clone();
                let add = move |v: Violation| c.lock().expect("collector lock").add(v, 1);
                sinks.push(Tally(
                    DomainProbe::new(target_url, add).await?,
                    progress.clone(),
                ));
            }
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
        let readers = work::readers(opts, &mut snapshot);
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
        output::write_report(path, "check", &report)?;
    }
    Ok(report)
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
