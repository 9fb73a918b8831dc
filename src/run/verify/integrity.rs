//! The checks beside the row comparison: every foreign key holds on the target, every owned sequence is past its
//! column's maximum, and the mapping's critical-data checks give the same answer on both sides.

use super::checklist::*;
use crate::run::answers::target_answer;
use crate::util::answer::QueryFailed;
use std::collections::HashSet;

use crate::error::Error;
use crate::manifest::RecordedCheck;
use crate::mapping::Mapping;
use crate::schema::TargetTable;
use crate::util::answer::{show_row, Answer, Row};
use crate::util::sql::{orphan_sql, pg_ident, pg_qualified, Dialect};

/// Every foreign key of the loaded tables holds on the target. A key in `validated` (re-created and validated by
/// the run just finished) that the catalog shows validated is not scanned again.
pub(super) async fn foreign_keys(
    control: &tokio_postgres::Client,
    schema: &str,
    tables: &[&TargetTable],
    validated: &HashSet<(String, String)>,
) -> Result<Vec<Item>, Error> {
    let proven: HashSet<(String, String)> = if validated.is_empty() {
        HashSet::new()
    } else {
        crate::cutover::foreign_key_states(control, schema)
            .await?
            .into_iter()
            .filter(|(k, valid)| *valid && validated.contains(k))
            .map(|(k, _)| k)
            .collect()
    };
    let mut items = Vec::new();
    for t in tables {
        let key = t.primary_key();
        for con in t.constraints.iter().filter(|c| c.kind == 'f') {
            let Some(parent) = &con.ref_table else {
                continue;
            };
            let name = format!("foreign key {}.{} -> {parent}", t.name, con.name);
            if proven.contains(&(t.name.clone(), con.name.clone())) {
                items.push(Item {
                    phase: "data integrity".into(),
                    name,
                    passed: true,
                    detail: "every value has its parent row: PostgreSQL validated the key over every row when this \
                             run re-created it (VALIDATE CONSTRAINT)"
                        .into(),
                });
                continue;
            }
            let pairs = crate::util::sql::key_pairs(&con.columns, &con.ref_columns);
            let sql = orphan_sql(
                Dialect::Postgres,
                &pg_qualified(schema, &t.name),
                &pg_qualified(schema, parent),
                &key,
                &pairs,
                3,
            );
            let rows = control
                .query(&sql, &[])
                .await
                .map_err(crate::cutover::error::pg("checking a foreign key"))?;
            let examples: Vec<String> = rows
                .iter()
                .map(|r| format!("{} -> {}", r.get::<_, String>(0), r.get::<_, String>(1)))
                .collect();
            items.push(Item {
                phase: "data integrity".into(),
                name,
                passed: examples.is_empty(),
                detail: if examples.is_empty() {
                    "every value has its parent row".into()
                } else {
                    format!(
                        "rows without parent (key -> value): {}",
                        examples.join("; ")
                    )
                },
            });
        }
    }
    Ok(items)
}

/// Every owned sequence of the loaded tables would hand out a value above its column's maximum.
pub(super) async fn sequences(
    control: &tokio_postgres::Client,
    schema: &str,
    tables: &[&TargetTable],
) -> Result<Vec<Item>, Error> {
    let mut items = Vec::new();
    for t in tables {
        for c in &t.columns {
            let Some(seq) = &c.owned_sequence else {
                continue;
            };
            let row = control
                .query_one(
                    &format!(
                        "SELECT (SELECT max({col})::bigint FROM {tab}), last_value, is_called FROM {seq}",
                        col = pg_ident(&c.name),
                        tab = pg_qualified(schema, &t.name),
                        seq = seq,
                    ),
                    &[],
                )
                .await
                .map_err(crate::cutover::error::pg("checking a sequence"))?;
            let (max, last, called): (Option<i64>, i64, bool) =
                (row.get(0), row.get(1), row.get(2));
            let next = if called { last + 1 } else { last };
            let passed = max.is_none_or(|m| next > m);
            items.push(Item {
                phase: "data integrity".into(),
                name: format!("sequence of {}.{}", t.name, c.name),
                passed,
                detail: format!(
                    "next value {next}, column maximum {}",
                    max.map(|m| m.to_string())
                        .unwrap_or_else(|| "none (empty)".into())
                ),
            });
        }
    }
    Ok(items)
}

/// The mapping's critical-data checks: each source query (on `conn`, the verification snapshot's side connection:
/// the instant its rows are read at) and target query must give the same rows.
pub(super) async fn critical_checks(
    mapping: &Mapping,
    conn: Option<mysql_async::Conn>,
    control: &tokio_postgres::Client,
) -> Result<Vec<Item>, Error> {
    let answers = crate::run::answers::record_checks(mapping, conn).await?;
    Ok(recorded_checks(control, &answers, "source").await)
}

/// The mapping's critical-data checks against the source's answers recorded earlier (`source` says when).
pub(super) async fn recorded_checks(
    control: &tokio_postgres::Client,
    checks: &[RecordedCheck],
    source: &str,
) -> Vec<Item> {
    let mut items = Vec::new();
    for c in checks {
        let t = target_answer(control, &c.target).await;
        items.push(check_item(
            &c.name,
            &c.phase,
            c.answer().as_ref(),
            t,
            source,
        ));
    }
    items
}

/// A critical-data check's checklist item from both sides' answers (`source` names where the source's came
/// from, in messages).
pub(super) fn check_item(
    name: &str,
    phase: &str,
    s: Result<&Answer, &QueryFailed>,
    t: Result<Answer, QueryFailed>,
    source: &str,
) -> Item {
    let (passed, detail) = match (s, t) {
        (Ok(s), Ok(t)) if *s == t => (true, format!("{} on both sides", s.show())),
        (Ok(s), Ok(t)) => {
            let first = match s.first_difference(&t) {
                Some((n, a, b)) => {
                    let show = |r: Option<&Row>| {
                        r.map_or("no row".to_string(), |r| format!("[{}]", show_row(r)))
                    };
                    format!(
                        "; first difference at row {n}: {source} {} but target {}",
                        show(a),
                        show(b)
                    )
                }
                None => String::new(),
            };
            (
                false,
                format!("{source} {} but target {}{first}", s.show(), t.show()),
            )
        }
        (Err(e), _) => (false, format!("the {source} query failed: {e}")),
        (_, Err(e)) => (false, format!("the target query failed: {e}")),
    };
    Item {
        phase: phase.to_string(),
        name: name.to_string(),
        passed,
        detail,
    }
}
