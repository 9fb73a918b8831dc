//! The schema contract: pairs every source table and column with its target, decides each conversion, and lists
//! every problem that would make the data path lose, invent or mangle data.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::convert::{self, Conversion, Incompatibility};
use crate::mapping::{Mapping, OnNull, Rewrite};
use crate::schema::{SourceTable, TargetTable};

/// One column pair of a table plan.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnContract {
    pub source: String,
    pub source_type: String,
    pub target: String,
    pub target_type: String,
    pub conversion: Conversion,
    pub transform: Option<Rewrite>,
    /// Set when the source allows NULL and the target does not.
    pub on_null: Option<OnNull>,
    /// The mapping's reason for accepting a narrower target (every value is still checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub narrowing: Option<String>,
}

/// One source table and where it goes.
#[derive(Debug, Clone, Serialize)]
pub struct TableContract {
    pub source: String,
    pub target: String,
    pub rows_estimate: u64,
    pub bytes_estimate: u64,
    pub primary_key: Vec<String>,
    pub columns: Vec<ColumnContract>,
    /// Target columns filled by their default (no source column).
    pub defaulted: Vec<String>,
    /// Target columns PostgreSQL generates, whose source columns are generated too: never written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub generated: Vec<String>,
}

/// A contract problem, named precisely enough to act on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub table: String,
    pub column: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A source table neither the target nor the mapping knows: a custom schema change.
    UnknownSourceTable,
    /// A source column with no target column and no skip rule.
    UnmappedSourceColumn,
    /// A target NOT NULL column with no source and no default.
    MissingRequiredColumn,
    UnsupportedTypePair,
    TargetNarrower,
    MissingEnumLabels,
    IntRange,
    /// Source allows NULL, target does not, and the mapping has no `on_null` for it.
    NullIntoNotNull,
    /// A target table the source lacks, not declared in `target_only_tables`.
    TargetOnlyTable,
    /// The source table has no primary key (chunked, exactly-once reads need one).
    NoPrimaryKey,
    /// The mapping names a table or column that does not exist.
    StaleMapping,
    /// A plain source column feeds a column PostgreSQL generates: its values would be dropped.
    GeneratedTarget,
}

/// The whole contract.
#[derive(Debug, Clone, Serialize)]
pub struct Contract {
    pub app: String,
    pub tables: Vec<TableContract>,
    pub skipped: Vec<(String, String)>,
    pub target_only: Vec<(String, String)>,
    pub problems: Vec<Problem>,
}

impl Contract {
    pub fn holds(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn table(&self, source: &str) -> Option<&TableContract> {
        self.tables.iter().find(|t| t.source == source)
    }
}

/// Checks the contract between the introspected schemas under `mapping`.
pub fn build(source: &[SourceTable], target: &[TargetTable], mapping: &Mapping) -> Contract {
    let mut problems = Vec::new();
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    let mut used_targets = BTreeSet::new();
    let mut problem = |kind, table: &str, column: Option<&str>, message: String| {
        problems.push(Problem {
            kind,
            table: table.to_string(),
            column: column.map(str::to_string),
            message,
        })
    };
    for s in source {
        if let Some(reason) = mapping.skip_tables.get(&s.name) {
            skipped.push((s.name.clone(), reason.clone()));
            continue;
        }
        let tname = mapping.target_table(&s.name);
        let Some(t) = target.iter().find(|t| t.name == tname) else {
            problem(
                ProblemKind::UnknownSourceTable,
                &s.name,
                None,
                format!(
                    "source table {} has no target table {tname} and no skip rule: a custom schema change; \
                     add it to [skip_tables] with a reason or create it in the target",
                    s.name
                ),
            );
            continue;
        };
        used_targets.insert(t.name.clone());
        if s.primary_key.is_empty() {
            problem(
                ProblemKind::NoPrimaryKey,
                &s.name,
                None,
                format!("source table {} has no primary key", s.name),
            );
        }
        let tm = mapping.table(&s.name);
        let mut columns = Vec::new();
        let mut generated = Vec::new();
        let mut fed = BTreeSet::new();
        for sc in &s.columns {
            if tm.is_some_and(|m| m.skip_columns.contains_key(&sc.name)) {
                continue;
            }
            let cname = mapping.target_column(&s.name, &sc.name);
            let Some(tc) = t.column(cname) else {
                problem(
                    ProblemKind::UnmappedSourceColumn,
                    &s.name,
                    Some(&sc.name),
                    format!(
                        "source column {}.{} ({}) has no target column {}.{cname} and no skip rule",
                        s.name, sc.name, sc.column_type, t.name
                    ),
                );
                continue;
            };
            fed.insert(tc.name.clone());
            if tc.generated {
                // PostgreSQL computes the column; COPY cannot write it. Generated on both sides, the values are
                // the expressions' (verify compares them like any column); a plain source column's values would
                // be dropped, which only the mapping may accept (skip_columns, with its reason).
                if sc.generated {
                    generated.push(tc.name.clone());
                } else {
                    problem(
                        ProblemKind::GeneratedTarget,
                        &s.name,
                        Some(&sc.name),
                        format!(
                            "target column {}.{} is generated by PostgreSQL and takes no value, so the values of \
                             source column {}.{} would be dropped; if PostgreSQL's expression gives the same values, \
                             add the column to skip_columns with that reason",
                            t.name, tc.name, s.name, sc.name
                        ),
                    );
                }
                continue;
            }
            let cm = mapping.column(&s.name, &sc.name);
            let at = format!(
                "{}.{} ({}) -> {}.{} ({})",
                s.name, sc.name, sc.column_type, t.name, tc.name, tc.format_type
            );
            let conversion = match convert::decide(sc, tc) {
                Ok(c) => c,
                Err(Incompatibility::Unsupported) => {
                    // A transform may change the value class (latin1 bytes -> base64 text).
                    if matches!(
                        cm.and_then(|c| c.transform.as_ref()),
                        Some(Rewrite::Latin1BytesToBase64)
                    ) && tc.type_name == "text"
                    {
                        Conversion::Text { max_chars: None }
                    } else {
                        problem(
                            ProblemKind::UnsupportedTypePair,
                            &s.name,
                            Some(&sc.name),
                            format!("no conversion for {at}"),
                        );
                        continue;
                    }
                }
                Err(Incompatibility::MissingLabels(l)) => {
                    problem(
                        ProblemKind::MissingEnumLabels,
                        &s.name,
                        Some(&sc.name),
                        format!("target enum lacks source labels {l:?}: {at}"),
                    );
                    continue;
                }
                Err(Incompatibility::IntRange) => {
                    problem(
                        ProblemKind::IntRange,
                        &s.name,
                        Some(&sc.name),
                        format!("no source value fits the target range: {at}"),
                    );
                    continue;
                }
            };
            let narrowing = convert::narrowing(sc, tc, &conversion);
            let accepted = cm.and_then(|c| c.narrowing.clone());
            if let (Some(why), None) = (&narrowing, &accepted) {
                problem(
                    ProblemKind::TargetNarrower,
                    &s.name,
                    Some(&sc.name),
                    format!(
                        "target is narrower: {at}: {why}; if every value fits, declare narrowing = \"<why>\" for \
                         this column in the mapping (each value is then checked and one that would change stops the run)"
                    ),
                );
                continue;
            }
            let on_null = if sc.nullable && !tc.nullable {
                match cm.and_then(|c| c.on_null.clone()) {
                    Some(p) => Some(p),
                    None => {
                        problem(
                            ProblemKind::NullIntoNotNull,
                            &s.name,
                            Some(&sc.name),
                            format!(
                                "{at}: the source allows NULL, the target does not; declare on_null = \"fail\" or \
                                 {{ replace = \"...\" }} for this column in the mapping"
                            ),
                        );
                        None
                    }
                }
            } else {
                None
            };
            columns.push(ColumnContract {
                source: sc.name.clone(),
                source_type: sc.column_type.clone(),
                target: tc.name.clone(),
                target_type: tc.format_type.clone(),
                conversion,
                transform: cm.and_then(|c| c.transform.clone()),
                on_null,
                narrowing: narrowing.and(accepted),
            });
        }
        let mut defaulted = Vec::new();
        for tc in t
            .columns
            .iter()
            .filter(|c| !fed.contains(&c.name) && !c.generated)
        {
            if !tc.nullable && tc.default.is_none() {
                problem(
                    ProblemKind::MissingRequiredColumn,
                    &t.name,
                    Some(&tc.name),
                    format!("target column {}.{} is NOT NULL without default and no source column feeds it", t.name, tc.name),
                );
            } else {
                defaulted.push(tc.name.clone());
            }
        }
        tables.push(TableContract {
            source: s.name.clone(),
            target: t.name.clone(),
            rows_estimate: s.rows_estimate,
            bytes_estimate: s.data_bytes,
            primary_key: s.primary_key.clone(),
            columns,
            defaulted,
            generated,
        });
    }
    let mut target_only = Vec::new();
    for t in target.iter().filter(|t| !used_targets.contains(&t.name)) {
        match mapping.target_only_tables.get(&t.name) {
            Some(reason) => target_only.push((t.name.clone(), reason.clone())),
            None => problem(
                ProblemKind::TargetOnlyTable,
                &t.name,
                None,
                format!(
                    "target table {} has no source table; add it to [target_only_tables] with a reason if that is expected",
                    t.name
                ),
            ),
        }
    }
    // Mapping entries that point nowhere are mistakes waiting to happen on the real database.
    for (name, tm) in &mapping.tables {
        let Some(s) = source.iter().find(|s| &s.name == name) else {
            problem(
                ProblemKind::StaleMapping,
                name,
                None,
                format!("mapping names source table {name}, which does not exist"),
            );
            continue;
        };
        for c in tm.columns.keys().chain(tm.skip_columns.keys()) {
            if s.column(c).is_none() {
                problem(
                    ProblemKind::StaleMapping,
                    name,
                    Some(c),
                    format!("mapping names column {name}.{c}, which does not exist"),
                );
            }
        }
    }
    Contract {
        app: mapping.app.clone(),
        tables,
        skipped,
        target_only,
        problems,
    }
}

/// Human-readable report of a plan.
pub fn render_text(plan: &Contract) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Schema contract for {}: {} tables to copy, {} skipped.",
        plan.app,
        plan.tables.len(),
        plan.skipped.len()
    );
    for t in &plan.tables {
        let _ = writeln!(
            s,
            "\n{} -> {}  (~{} rows, ~{:.1} MB)",
            t.source,
            t.target,
            t.rows_estimate,
            t.bytes_estimate as f64 / 1e6
        );
        for c in &t.columns {
            let conv = serde_json::to_value(&c.conversion)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_string))
                .unwrap_or_default();
            let extra = match (&c.transform, &c.on_null) {
                (Some(tr), _) => format!(
                    "  [transform {}]",
                    serde_json::to_value(tr)
                        .ok()
                        .and_then(|v| v["kind"].as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
                (None, Some(OnNull::Fail)) => "  [NULL fails]".to_string(),
                (None, Some(OnNull::Replace(v))) => format!("  [NULL -> {v}]"),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "  {:<32} {:<24} -> {:<32} {:<28} {conv}{extra}",
                c.source, c.source_type, c.target, c.target_type
            );
        }
        for d in &t.defaulted {
            let _ = writeln!(s, "  {:<32} {:<24} -> {d} (target default)", "-", "");
        }
    }
    if !plan.skipped.is_empty() {
        let _ = writeln!(s, "\nSkipped source tables:");
        for (t, r) in &plan.skipped {
            let _ = writeln!(s, "  {t}: {r}");
        }
    }
    if !plan.target_only.is_empty() {
        let _ = writeln!(s, "\nTarget-only tables:");
        for (t, r) in &plan.target_only {
            let _ = writeln!(s, "  {t}: {r}");
        }
    }
    if plan.problems.is_empty() {
        let _ = writeln!(s, "\nThe contract holds.");
    } else {
        let _ = writeln!(s, "\n{} contract problem(s):", plan.problems.len());
        for p in &plan.problems {
            let _ = writeln!(
                s,
                "  [{}] {}",
                serde_json::to_value(p.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                p.message
            );
        }
    }
    s
}
