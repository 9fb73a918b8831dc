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
    /// A per-value check of an exact pair whose source type admits values the target cannot hold (`int unsigned`
    /// into `integer`): shown by `plan`, enforced on every row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<String>,
    /// The PostgreSQL domain of the target column: its constraints are checked by PostgreSQL on every value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// A source column the copy does not carry, or a target column it does not write: the mapping's reason and what
/// the target column holds instead. Shown by `plan`, in the run report and in the verification checklist.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NotCopied {
    /// The source column, or `-` for a target column no source column feeds.
    pub source: String,
    /// The target column, or `-` when the target has none.
    pub target: String,
    pub reason: String,
    /// What the target column gets: its default, NULL, a trigger's or a generated value.
    pub target_gets: String,
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
    /// Skipped source columns and unwritten target columns, with reasons and what the target gets.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub not_copied: Vec<NotCopied>,
    /// The target table's partitions or inheritance children (all levels): rows are loaded into the target
    /// table and PostgreSQL routes them; counts and content are compared across the whole family.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub family: Vec<String>,
    /// Loaded through a staging table and `INSERT ... SELECT`, so that the parent's routing rules and triggers
    /// place every row (a target with inheritance children).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub staged: bool,
}

/// A contract problem, named precisely enough to act on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub table: String,
    pub column: Option<String>,
    pub message: String,
    /// The mapping entry that resolves it, as one line of TOML, where such an entry exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
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
    /// A transform the column's types cannot take (relabel on a non-enum, latin1_bytes_to_base64 on non-text).
    InvalidTransform,
    /// `target_fills` names a column no default, generated expression or BEFORE INSERT trigger fills.
    NothingFillsTarget,
    /// A warning, not a problem: `narrowing` declared on a pair that is not narrower (it has no effect).
    IgnoredNarrowing,
    /// `plan --follow`: the source's binary log cannot be followed (a setting or a privilege is missing).
    NotFollowable,
}

/// The mapping entry that resolves a problem of `kind` on source table `table` (column `column`), as one line
/// of TOML; None where only the database can change.
fn fix(kind: ProblemKind, table: &str, column: Option<&str>) -> Option<String> {
    let c = column.unwrap_or("<column>");
    Some(match kind {
        ProblemKind::UnknownSourceTable => format!("[skip_tables] {table} = \"<why it is not copied>\""),
        ProblemKind::UnmappedSourceColumn | ProblemKind::UnsupportedTypePair | ProblemKind::IntRange => {
            format!("[tables.{table}] skip_columns = {{ {c} = \"<why it is not copied>\" }}")
        }
        ProblemKind::GeneratedTarget => {
            format!("[tables.{table}] skip_columns = {{ {c} = \"PostgreSQL computes the same value\" }}")
        }
        ProblemKind::MissingRequiredColumn => {
            format!("[tables.{table}] target_fills = {{ {c} = \"<the trigger or default that sets it>\" }}")
        }
        ProblemKind::TargetNarrower => {
            format!("[tables.{table}.columns.{c}] narrowing = \"<why every value fits>\"")
        }
        ProblemKind::MissingEnumLabels => format!(
            "[tables.{table}.columns.{c}] transform = {{ kind = \"relabel\", map = {{ \"<source label>\" = \"<target label>\" }} }}"
        ),
        ProblemKind::NullIntoNotNull => {
            format!("[tables.{table}.columns.{c}] on_null = \"fail\"   # or on_null = {{ replace = \"<value>\" }}")
        }
        ProblemKind::TargetOnlyTable => {
            format!("[target_only_tables] {table} = \"<why the source has no such table>\"")
        }
        ProblemKind::NothingFillsTarget => {
            format!("remove {c} from [tables.{table}] target_fills, or give the target column a default or trigger")
        }
        ProblemKind::IgnoredNarrowing => {
            format!("remove narrowing from [tables.{table}.columns.{c}]")
        }
        ProblemKind::NoPrimaryKey
        | ProblemKind::StaleMapping
        | ProblemKind::InvalidTransform
        | ProblemKind::NotFollowable => return None,
    })
}

/// What a target column that is not written holds.
fn target_gets(t: &TargetTable, tc: &crate::schema::TargetColumn) -> String {
    if tc.generated {
        "the value PostgreSQL generates".into()
    } else if let Some(d) = &tc.default {
        format!("its default {d}")
    } else if !t.before_insert_triggers.is_empty() {
        format!(
            "what trigger {} sets, else NULL",
            t.before_insert_triggers.join(", ")
        )
    } else if tc.nullable {
        "NULL".into()
    } else {
        "nothing: NOT NULL without a default".into()
    }
}

/// The whole contract.
#[derive(Debug, Clone, Serialize)]
pub struct Contract {
    pub app: String,
    pub tables: Vec<TableContract>,
    pub skipped: Vec<(String, String)>,
    pub target_only: Vec<(String, String)>,
    pub problems: Vec<Problem>,
    /// What `plan` says without refusing: mapping entries that have no effect.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<Problem>,
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
    let mut warnings = Vec::new();
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    let mut used_targets = BTreeSet::new();
    // A problem names the source table (the mapping entry that resolves it goes under that name), except those
    // of target-only tables, which name the target table their entry is keyed by.
    let mut problem = |kind, table: &str, column: Option<&str>, message: String| {
        problems.push(Problem {
            kind,
            table: table.to_string(),
            column: column.map(str::to_string),
            fix: fix(kind, table, column),
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
        let fills = tm.map(|m| &m.target_fills);
        let mut columns = Vec::new();
        let mut generated = Vec::new();
        let mut not_copied = Vec::new();
        let mut fed = BTreeSet::new();
        for sc in &s.columns {
            let cname = mapping.target_column(&s.name, &sc.name);
            if let Some(reason) = tm.and_then(|m| m.skip_columns.get(&sc.name)) {
                not_copied.push((sc.name.clone(), cname.to_string(), reason.clone()));
                continue;
            }
            if let Some(reason) = fills.and_then(|f| f.get(cname)) {
                not_copied.push((
                    sc.name.clone(),
                    cname.to_string(),
                    format!("the target fills it: {reason}"),
                ));
                continue;
            }
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
            let transform = cm.and_then(|c| c.transform.as_ref());
            let at = format!(
                "{}.{} ({}) -> {}.{} ({})",
                s.name,
                sc.name,
                sc.column_type,
                t.name,
                tc.name,
                match &tc.domain {
                    Some(d) => format!("domain {d} over {}", tc.format_type),
                    None => tc.format_type.clone(),
                }
            );
            // A relabel decides the pair with the labels it makes.
            let relabeled;
            let sc_decided = match transform {
                Some(r @ Rewrite::Relabel { .. }) => {
                    if sc.data_type != "enum" && sc.data_type != "set" {
                        problem(
                            ProblemKind::InvalidTransform,
                            &s.name,
                            Some(&sc.name),
                            format!("relabel renames ENUM or SET labels, and {at} is neither"),
                        );
                        continue;
                    }
                    let labels: Vec<String> = sc
                        .enum_labels()
                        .iter()
                        .map(|l| r.relabel(l).unwrap_or_default())
                        .collect();
                    let mut c = sc.clone();
                    c.column_type = format!(
                        "{}({})",
                        sc.data_type,
                        labels
                            .iter()
                            .map(|l| format!("'{}'", l.replace('\'', "''")))
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                    relabeled = c;
                    &relabeled
                }
                Some(Rewrite::Latin1BytesToBase64) if !crate::convert::is_text(sc) => {
                    problem(
                        ProblemKind::InvalidTransform,
                        &s.name,
                        Some(&sc.name),
                        format!("latin1_bytes_to_base64 reads text, and {at} is not text"),
                    );
                    continue;
                }
                _ => sc,
            };
            let conversion = match convert::decide(sc_decided, tc) {
                Ok(c) => c,
                Err(Incompatibility::Unsupported) => {
                    // A transform may change the value class (latin1 bytes -> base64 text).
                    if matches!(transform, Some(Rewrite::Latin1BytesToBase64))
                        && tc.type_name == "text"
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
            let narrowing = convert::narrowing(sc_decided, tc, &conversion);
            let accepted = cm.and_then(|c| c.narrowing.clone());
            match (&narrowing, &accepted) {
                (Some(why), None) => {
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
                (None, Some(_)) => warnings.push(Problem {
                    kind: ProblemKind::IgnoredNarrowing,
                    table: s.name.clone(),
                    column: Some(sc.name.clone()),
                    fix: fix(ProblemKind::IgnoredNarrowing, &s.name, Some(&sc.name)),
                    message: format!(
                        "narrowing is declared for {at}, but the target holds every source value: it has no effect"
                    ),
                }),
                _ => {}
            }
            // A NULL transform makes NULLs of a NOT NULL source column too.
            let nulls = sc.nullable || matches!(transform, Some(Rewrite::Null { .. }));
            let on_null = if nulls && !tc.nullable {
                match cm.and_then(|c| c.on_null.clone()) {
                    Some(p) => Some(p),
                    None => {
                        problem(
                            ProblemKind::NullIntoNotNull,
                            &s.name,
                            Some(&sc.name),
                            format!(
                                "{at}: the source {} NULL, the target does not; declare on_null = \"fail\" or \
                                 {{ replace = \"...\" }} for this column in the mapping",
                                if sc.nullable { "allows" } else { "transform makes" }
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
                checked: convert::checked_per_value(sc, &conversion),
                conversion,
                transform: transform.cloned(),
                on_null,
                narrowing: narrowing.and(accepted),
                domain: tc.domain.clone(),
            });
        }
        let mut defaulted = Vec::new();
        let mut unwritten = Vec::new();
        for tc in t
            .columns
            .iter()
            .filter(|c| !fed.contains(&c.name) && !c.generated)
        {
            if let Some(reason) = fills.and_then(|f| f.get(&tc.name)) {
                if tc.default.is_none() && t.before_insert_triggers.is_empty() {
                    problem(
                        ProblemKind::NothingFillsTarget,
                        &s.name,
                        Some(&tc.name),
                        format!(
                            "target_fills says {}.{} is filled by the target ({reason}), but it has no default and \
                             the table has no BEFORE INSERT trigger",
                            t.name, tc.name
                        ),
                    );
                }
                unwritten.push(tc);
                continue;
            }
            if !tc.nullable && tc.default.is_none() {
                problem(
                    ProblemKind::MissingRequiredColumn,
                    &s.name,
                    Some(&tc.name),
                    format!("target column {}.{} is NOT NULL without default and no source column feeds it", t.name, tc.name),
                );
            } else {
                defaulted.push(tc.name.clone());
                unwritten.push(tc);
            }
        }
        let mut listed: Vec<NotCopied> = not_copied
            .into_iter()
            .map(|(source, target, reason)| {
                let tc = t.column(&target).filter(|_| !fed.contains(&target));
                NotCopied {
                    target_gets: match tc {
                        Some(tc) => target_gets(t, tc),
                        None if t.column(&target).is_some() => {
                            "the values of the source column that feeds it".into()
                        }
                        None => "nothing (the target has no such column)".into(),
                    },
                    target: if t.column(&target).is_some() {
                        target
                    } else {
                        "-".into()
                    },
                    source,
                    reason,
                }
            })
            .collect();
        for tc in unwritten {
            if listed.iter().any(|n| n.target == tc.name) {
                continue;
            }
            listed.push(NotCopied {
                source: "-".into(),
                target: tc.name.clone(),
                reason: match fills.and_then(|f| f.get(&tc.name)) {
                    Some(r) => format!("the target fills it: {r}"),
                    None => "no source column".into(),
                },
                target_gets: target_gets(t, tc),
            });
        }
        for name in fills.into_iter().flat_map(|f| f.keys()) {
            if t.column(name).is_none() {
                problem(
                    ProblemKind::StaleMapping,
                    &s.name,
                    Some(name),
                    format!(
                        "target_fills of {} names {}.{name}, which does not exist",
                        s.name, t.name
                    ),
                );
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
            not_copied: listed,
            family: Vec::new(),
            staged: t.inheritance_parent,
        });
    }
    // Partitions and inheritance children of a loaded table belong to its family, not to the target-only tables.
    let root = |t: &TargetTable| -> String {
        let mut name = t.name.clone();
        let mut seen = BTreeSet::new();
        while let Some(p) = target
            .iter()
            .find(|x| x.name == name)
            .and_then(|x| x.parent.clone())
        {
            if !seen.insert(p.clone()) {
                break;
            }
            name = p;
        }
        name
    };
    let mut members = BTreeSet::new();
    for t in target.iter().filter(|t| t.parent.is_some()) {
        let r = root(t);
        if let Some(tc) = tables.iter_mut().find(|tc| tc.target == r) {
            tc.family.push(t.name.clone());
            members.insert(t.name.clone());
        }
    }
    let mut target_only = Vec::new();
    for t in target
        .iter()
        .filter(|t| !used_targets.contains(&t.name) && !members.contains(&t.name))
    {
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
        warnings,
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
            let mut extra = match (&c.transform, &c.on_null) {
                (Some(tr), _) => format!("  [transform {}]", tr.kind()),
                (None, Some(OnNull::Fail)) => "  [NULL fails]".to_string(),
                (None, Some(OnNull::Replace(v))) => format!("  [NULL -> {v}]"),
                _ => String::new(),
            };
            if let Some(d) = &c.domain {
                let _ = write!(extra, "  [domain {d}: its checks apply]");
            }
            if let Some(why) = &c.narrowing {
                let _ = write!(extra, "  [narrowing, each value checked: {why}]");
            }
            if let Some(check) = &c.checked {
                let _ = write!(extra, "  [checked per value: {check}]");
            }
            let _ = writeln!(
                s,
                "  {:<32} {:<24} -> {:<32} {:<28} {conv}{extra}",
                c.source, c.source_type, c.target, c.target_type
            );
        }
        if !t.family.is_empty() {
            let _ = writeln!(
                s,
                "  rows go into {} and PostgreSQL routes them to its {} ({}){}",
                t.target,
                if t.staged {
                    "inheritance children"
                } else {
                    "partitions"
                },
                t.family.join(", "),
                if t.staged {
                    ": loaded through INSERT so that its rules and triggers apply"
                } else {
                    ""
                }
            );
        }
        for n in &t.not_copied {
            let _ = writeln!(
                s,
                "  {:<32} {:<24} -> {:<32} not copied: {}; the target gets {}",
                n.source, "", n.target, n.reason, n.target_gets
            );
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
    for w in &plan.warnings {
        let _ = writeln!(s, "\nwarning: {}", w.message);
        if let Some(f) = &w.fix {
            let _ = writeln!(s, "  fix: {f}");
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
            if let Some(f) = &p.fix {
                let _ = writeln!(s, "      mapping: {f}");
            }
        }
    }
    s
}
