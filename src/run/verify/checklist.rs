//! What a verification found, as data (the report) and for people: each checklist item, the Markdown checklist,
//! the summary line and the run-level error of a failed verification.

use std::time::Instant;

use serde::Serialize;

use crate::canonical::BUCKETS;
use crate::error::Error;
use crate::mapping::Mapping;

/// One automatic item of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub phase: String,
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// One row that differs.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub key: String,
    /// `missing` (in the target), `extra` (only in the target) or `changed`.
    pub kind: &'static str,
    pub column: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
}

/// The content comparison of one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableResult {
    pub source: String,
    pub target: String,
    pub rows_source: u64,
    pub rows_target: u64,
    pub differing_buckets: usize,
    pub differences: Vec<Difference>,
}

impl TableResult {
    pub fn passed(&self) -> bool {
        self.rows_source == self.rows_target && self.differing_buckets == 0
    }
}

/// A manual item for the operator to tick.
#[derive(Debug, Clone, Serialize)]
pub struct Manual {
    pub phase: String,
    pub item: String,
}

/// What `verify` found. Format 1; documented in docs/verification-checklist.md.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub format: u32,
    pub tool_version: String,
    pub app: String,
    pub passed: bool,
    pub seconds: f64,
    /// `read`: the source was read again; `load`: the source side is the digests `migrate` computed from the
    /// rows it sent (differing buckets are still read from the source); `export`: the digests and check answers
    /// an export recorded in its manifest (differing buckets are read from its files).
    pub source_side: &'static str,
    pub rows_source: u64,
    pub rows_target: u64,
    /// The instant the source side describes (`chunk::SnapshotInfo::describe`): the run's snapshot when its digests
    /// and answers are used, the export's for `import`, else this verification's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_instant: Option<String>,
    /// Said before any difference: the source moved since the run it verifies, so a difference may be a row
    /// written since rather than one lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    pub tables: Vec<TableResult>,
    pub items: Vec<Item>,
    pub manual: Vec<Manual>,
}

/// One item per column the copy did not carry or write (skipped, filled by the target, defaulted): its reason
/// and what the target holds, so that the sign-off sees every gap the mapping accepted.
pub(super) fn not_copied(plan: &crate::contract::Contract) -> Vec<Item> {
    plan.tables
        .iter()
        .flat_map(|t| {
            t.not_copied.iter().map(move |n| Item {
                phase: "data integrity".into(),
                name: if n.source == "-" {
                    format!("column {}.{} not written", t.target, n.target)
                } else {
                    format!("column {}.{} not copied", t.source, n.source)
                },
                passed: true,
                detail: format!("{}; the target gets {}", n.reason, n.target_gets),
            })
        })
        .collect()
}

/// The report: a checklist item per table, then the independent items, the mapping's manual items.
pub(super) fn assemble(
    mapping: &Mapping,
    results: Vec<TableResult>,
    independent: Vec<Item>,
    started: Instant,
    source_side: &'static str,
) -> VerifyReport {
    let mut items: Vec<Item> = results
        .iter()
        .map(|r| Item {
            phase: "data integrity".into(),
            name: format!("table {}", r.target),
            passed: r.passed(),
            detail: table_detail(r),
        })
        .collect();
    items.extend(independent);
    VerifyReport {
        format: 1,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        app: mapping.app.clone(),
        passed: items.iter().all(|i| i.passed),
        seconds: started.elapsed().as_secs_f64(),
        source_side,
        rows_source: results.iter().map(|r| r.rows_source).sum(),
        rows_target: results.iter().map(|r| r.rows_target).sum(),
        source_instant: None,
        notice: None,
        tables: results,
        items,
        manual: mapping
            .manual_checks
            .iter()
            .map(|m| Manual {
                phase: m.phase.clone(),
                item: m.item.clone(),
            })
            .collect(),
    }
}

pub(super) fn table_detail(r: &TableResult) -> String {
    if r.passed() {
        return format!("{} rows on both sides, content equal", r.rows_source);
    }
    let mut s = format!(
        "source {} rows, target {} rows, {} of {BUCKETS} key buckets differ",
        r.rows_source, r.rows_target, r.differing_buckets
    );
    for d in &r.differences {
        s.push_str(&match d.kind {
            "changed" => format!(
                "; {} column {}: source {} target {}",
                d.key,
                d.column.as_deref().unwrap_or("?"),
                d.source.as_deref().unwrap_or(""),
                d.target.as_deref().unwrap_or("")
            ),
            "missing" => format!("; {} missing in the target", d.key),
            _ => format!("; {} only in the target", d.key),
        });
    }
    s
}

/// The checklist as Markdown: automatic items by phase, then the manual ones to tick.
pub fn render_markdown(r: &VerifyReport) -> String {
    let failed = r.items.iter().filter(|i| !i.passed).count();
    let mut s = format!(
        "# Verification checklist: {}\n\n{} ({} automatic checks, {} failed; {} rows in the source, {} in the \
         target; {:.1} s)\n",
        r.app,
        if r.passed { "PASSED" } else { "FAILED" },
        r.items.len(),
        failed,
        r.rows_source,
        r.rows_target,
        r.seconds
    );
    if let Some(instant) = &r.source_instant {
        s.push_str(&format!("\nThe source as of its snapshot: {instant}.\n"));
    }
    if let Some(notice) = &r.notice {
        s.push_str(&format!("\n**Note:** {notice}\n"));
    }
    let mut phases: Vec<&str> = Vec::new();
    for p in r
        .items
        .iter()
        .map(|i| i.phase.as_str())
        .chain(r.manual.iter().map(|m| m.phase.as_str()))
    {
        if !phases.contains(&p) {
            phases.push(p);
        }
    }
    for p in phases {
        s.push_str(&format!("\n## {}\n\n", capitalized(p)));
        for i in r.items.iter().filter(|i| i.phase == p) {
            s.push_str(&format!(
                "- [{}] {}: {}{}\n",
                if i.passed { "x" } else { " " },
                i.name,
                if i.passed { "" } else { "FAILED: " },
                i.detail
            ));
        }
        for m in r.manual.iter().filter(|m| m.phase == p) {
            s.push_str(&format!("- [ ] (by hand) {}\n", m.item));
        }
    }
    s
}

pub(super) fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// One line (and one per failed item) for the end of `migrate`.
pub fn summary(r: &VerifyReport) -> String {
    let count = |prefix: &str| {
        r.items
            .iter()
            .filter(|i| i.name.starts_with(prefix))
            .count()
    };
    let mut s = format!(
        "Verified in {:.1}s{}: {} rows in the source, {} in the target; {} tables, {} foreign keys, {} sequences, \
         {} critical-data checks; {}.",
        r.seconds,
        match r.source_side {
            "load" => " against the digests of the rows sent",
            "export" => " against the export's digests and recorded checks",
            _ => "",
        },
        r.rows_source,
        r.rows_target,
        count("table "),
        count("foreign key "),
        count("sequence "),
        r.items.len() - count("table ") - count("foreign key ") - count("sequence "),
        if r.passed { "all equal" } else { "DIFFERENCES FOUND" }
    );
    if let Some(instant) = &r.source_instant {
        s.push_str(&format!(" Source as of {instant}."));
    }
    if let Some(notice) = &r.notice {
        s.push_str(&format!("\n  NOTE: {notice}"));
    }
    for i in r.items.iter().filter(|i| !i.passed) {
        s.push_str(&format!("\n  FAILED {}: {}", i.name, i.detail));
    }
    s
}

/// The run-level error of a failed verification; `state` says what the target holds.
pub fn failure(r: &VerifyReport, state: &str) -> Error {
    let failed: Vec<&str> = r
        .items
        .iter()
        .filter(|i| !i.passed)
        .map(|i| i.name.as_str())
        .collect();
    Error::Verify(format!(
        "{} check(s) failed: {}; {state}, verify changed nothing: find the cause, then run `pgconverge verify` again",
        failed.len(),
        failed.join(", ")
    ))
}

/// Writes the verification checklist as Markdown.
pub fn write_checklist(path: &std::path::Path, r: &VerifyReport) -> Result<(), Error> {
    std::fs::write(path, render_markdown(r)).map_err(|e| {
        Error::Usage(format!(
            "cannot write the checklist {}: {e}",
            path.display()
        ))
    })
}
