//! Where the two sides differ: the buckets whose digests differ, then the keys, columns and values within them,
//! shown as safe excerpts around the first differing character.

use super::checklist::*;
use super::passes::*;
use std::collections::{HashMap, HashSet};

use crate::canonical::{empty_buckets, BUCKETS};
use crate::values::excerpt;

/// Differing buckets read again per table, and differences listed per table.
pub(super) const DRILL_BUCKETS: usize = 4;
pub(super) const DIFFERENCES_PER_TABLE: usize = 20;

/// Both values of a changed cell as safe excerpts that start a little before the first differing character.
pub(super) fn excerpts(a: &Option<String>, b: &Option<String>) -> (String, String) {
    let (Some(x), Some(y)) = (a, b) else {
        let show = |v: &Option<String>| v.as_ref().map_or("NULL".into(), |s| excerpt(s.as_bytes()));
        return (show(a), show(b));
    };
    let first = x
        .char_indices()
        .zip(y.chars())
        .find(|((_, c), d)| c != d)
        .map(|((i, _), _)| i)
        .unwrap_or(x.len().min(y.len()));
    let from = x[..first]
        .char_indices()
        .rev()
        .nth(19)
        .map_or(0, |(i, _)| i);
    let cut = |s: &str| {
        let e = excerpt(&s.as_bytes()[from..]);
        if from > 0 {
            format!("...{e}")
        } else {
            e
        }
    };
    (cut(x), cut(y))
}

/// Names the keys and columns that differ within the buckets read again.
pub(super) fn differences(columns: &[String], rows: &[KeyedRows; 2]) -> Vec<Difference> {
    let mut out = Vec::new();
    for (key, s) in &rows[0] {
        match rows[1].get(key) {
            None => out.push(Difference {
                key: key.clone(),
                kind: "missing",
                column: None,
                source: None,
                target: None,
            }),
            Some(t) => {
                for (i, (a, b)) in s.iter().zip(t).enumerate() {
                    if a != b {
                        let (source, target) = excerpts(a, b);
                        out.push(Difference {
                            key: key.clone(),
                            kind: "changed",
                            column: Some(columns[i].clone()),
                            source: Some(source),
                            target: Some(target),
                        });
                    }
                }
            }
        }
    }
    for key in rows[1].keys().filter(|k| !rows[0].contains_key(*k)) {
        out.push(Difference {
            key: key.clone(),
            kind: "extra",
            column: None,
            source: None,
            target: None,
        });
    }
    out.truncate(DIFFERENCES_PER_TABLE);
    out
}

/// Per table (source, target): the row counts of both sides and the buckets that differ; and the buckets to
/// read again to name the differences.
pub(super) fn bucket_results<'a>(
    acc: &Acc,
    tables: impl Iterator<Item = (&'a String, &'a String)>,
) -> (Vec<TableResult>, HashMap<String, HashSet<u32>>) {
    let mut results = Vec::new();
    let mut wanted: HashMap<String, HashSet<u32>> = HashMap::new();
    let empty = empty_buckets();
    for (source, target) in tables {
        let (s, t) = match acc.digests.get(source) {
            Some([s, t]) => (s, t),
            None => (&empty, &empty),
        };
        let bad: Vec<u32> = (0..BUCKETS)
            .filter(|&b| s[b] != t[b])
            .map(|b| b as u32)
            .collect();
        if !bad.is_empty() {
            wanted.insert(
                source.clone(),
                bad.iter().take(DRILL_BUCKETS).copied().collect(),
            );
        }
        results.push(TableResult {
            source: source.clone(),
            target: target.clone(),
            rows_source: s.iter().map(|x| x.0).sum(),
            rows_target: t.iter().map(|x| x.0).sum(),
            differing_buckets: bad.len(),
            differences: Vec::new(),
        });
    }
    (results, wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_start_near_the_first_difference() {
        let long = "a".repeat(100);
        let (s, t) = excerpts(&Some(long.clone()), &Some(format!("{long}x")));
        assert!(s.starts_with("...") && t.ends_with("x\""), "{s} / {t}");
        assert_ne!(s, t);
        let (s, t) = excerpts(&Some("ab".into()), &None);
        assert_eq!((s.as_str(), t.as_str()), ("\"ab\"", "NULL"));
        let (s, t) = excerpts(&Some("é1".into()), &Some("é2".into()));
        assert_eq!((s.as_str(), t.as_str()), ("\"é1\"", "\"é2\""));
    }
}
