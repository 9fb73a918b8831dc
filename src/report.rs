//! Run reports (`--report FILE`, format [`FORMAT`], schema in docs/report.schema.json): the envelope every
//! command writes, per-table timings folded from the pipeline's chunk timings with where the time went, and the
//! summary table printed at the end of a run.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::pipeline::{Done, Work};

/// The report format this build writes; a change that removes or retypes a field raises it.
pub const FORMAT: u32 = 1;

/// Writes `report` as JSON with the envelope every report has: `report_format`, `command`, `tool_version` and
/// `written_at` (UTC, RFC 3339) before the command's own fields.
pub fn write<T: Serialize>(path: &Path, command: &str, report: &T) -> std::io::Result<()> {
    let body = serde_json::to_value(report).expect("reports serialize");
    let mut out = serde_json::Map::new();
    out.insert("report_format".into(), FORMAT.into());
    out.insert("command".into(), command.into());
    out.insert("tool_version".into(), env!("CARGO_PKG_VERSION").into());
    out.insert(
        "written_at".into(),
        jiff::Timestamp::now().to_string().into(),
    );
    match body {
        serde_json::Value::Object(fields) => out.extend(fields),
        other => {
            out.insert("report".into(), other);
        }
    }
    let json = serde_json::to_string_pretty(&serde_json::Value::Object(out)).expect("JSON");
    std::fs::write(path, json)
}

/// One table's share of a pipeline run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableTiming {
    /// Chunks committed (files written, for `export`).
    pub chunks_done: usize,
    pub rows: u64,
    /// Bytes the sink wrote (CSV or binary COPY data, file bytes).
    pub bytes: u64,
    /// Wall time from the table's first chunk starting to its last chunk committing.
    pub seconds: f64,
    /// Sum of its chunks' wall times (chunks of a table run in parallel, so this can exceed `seconds`).
    pub seconds_chunks: f64,
    /// Where the chunk time went, summed over chunks: waiting on the source (MySQL, or the files), converting on
    /// rayon, in the sink (PostgreSQL COPY, or the files).
    pub seconds_source: f64,
    pub seconds_transform: f64,
    pub seconds_target: f64,
    pub rows_per_second: f64,
    pub mb_per_second: f64,
}

/// Folds committed chunks into per-table timings, by source table.
pub fn per_table<W: Work>(done: &[Done<W>]) -> BTreeMap<String, TableTiming> {
    let mut spans: BTreeMap<String, (std::time::Instant, std::time::Instant)> = BTreeMap::new();
    let mut out: BTreeMap<String, TableTiming> = BTreeMap::new();
    for d in done {
        let table = d.work.table().to_string();
        let t = &d.timing;
        let span = spans.entry(table.clone()).or_insert((t.started, t.ended));
        span.0 = span.0.min(t.started);
        span.1 = span.1.max(t.ended);
        let e = out.entry(table).or_default();
        e.chunks_done += 1;
        e.rows += d.rows;
        e.bytes += d.bytes;
        e.seconds_chunks += (t.ended - t.started).as_secs_f64();
        e.seconds_source += t.source.as_secs_f64();
        e.seconds_transform += t.transform.as_secs_f64();
        e.seconds_target += t.sink.as_secs_f64();
    }
    for (table, e) in out.iter_mut() {
        let (a, b) = spans[table];
        e.seconds = (b - a).as_secs_f64();
        e.rows_per_second = e.rows as f64 / e.seconds.max(1e-6);
        e.mb_per_second = e.bytes as f64 / 1e6 / e.seconds.max(1e-6);
    }
    out
}

/// Where a run's time went, over all tables, and the knob to turn.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Split {
    pub seconds_source: f64,
    pub seconds_transform: f64,
    pub seconds_target: f64,
    /// `source`, `transform` or `target`: the stage that took most of the chunk time.
    pub bottleneck: String,
    pub advice: String,
}

/// The split of `tables`' chunk time and what to do about the largest part.
pub fn split<'a>(tables: impl IntoIterator<Item = &'a TableTiming>) -> Split {
    let (mut s, mut x, mut t) = (0.0, 0.0, 0.0);
    for e in tables {
        s += e.seconds_source;
        x += e.seconds_transform;
        t += e.seconds_target;
    }
    let (bottleneck, advice) = if t >= s && t >= x {
        (
            "target",
            "PostgreSQL takes most of the time: more --writers while its disk and CPU have room, \
             the binary wire format (the default; not --copy-format csv), a faster target disk",
        )
    } else if s >= x {
        (
            "source",
            "reading the source takes most of the time: more --readers while MySQL has room, a larger \
             --chunk-rows for small rows",
        )
    } else {
        (
            "transform",
            "converting takes most of the time: more cores for pgconverge (rayon uses them all)",
        )
    };
    Split {
        seconds_source: s,
        seconds_transform: x,
        seconds_target: t,
        bottleneck: bottleneck.into(),
        advice: advice.into(),
    }
}

/// The summary table printed at the end of a run: the `limit` slowest tables, the others in one line, the
/// total over `wall` seconds (the whole load), and where the time went.
pub fn render(tables: &BTreeMap<String, TableTiming>, limit: usize, wall: f64) -> String {
    use std::fmt::Write as _;
    let mut rows: Vec<(&String, &TableTiming)> = tables.iter().collect();
    rows.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds).then(a.0.cmp(b.0)));
    let width = rows
        .iter()
        .take(limit)
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(16, 40);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$} {:>12} {:>10} {:>8} {:>12} {:>9} {:>9} {:>9}",
        "table", "rows", "MB", "s", "rows/s", "source s", "conv s", "target s"
    );
    let line = |out: &mut String, name: &str, e: &TableTiming| {
        let name: String = name.chars().take(width).collect();
        let _ = writeln!(
            out,
            "{name:<width$} {:>12} {:>10.1} {:>8.1} {:>12.0} {:>9.1} {:>9.1} {:>9.1}",
            e.rows,
            e.bytes as f64 / 1e6,
            e.seconds,
            e.rows_per_second,
            e.seconds_source,
            e.seconds_transform,
            e.seconds_target
        );
    };
    for (name, e) in rows.iter().take(limit) {
        line(&mut out, name, e);
    }
    let fold = |items: &[(&String, &TableTiming)]| {
        let mut sum = TableTiming::default();
        for (_, e) in items {
            sum.rows += e.rows;
            sum.bytes += e.bytes;
            sum.seconds = sum.seconds.max(e.seconds);
            sum.seconds_source += e.seconds_source;
            sum.seconds_transform += e.seconds_transform;
            sum.seconds_target += e.seconds_target;
        }
        sum.rows_per_second = sum.rows as f64 / sum.seconds.max(1e-6);
        sum
    };
    if rows.len() > limit {
        let rest = &rows[limit..];
        line(
            &mut out,
            &format!("({} more tables)", rest.len()),
            &fold(rest),
        );
    }
    let mut all = fold(&rows);
    all.seconds = wall;
    all.rows_per_second = all.rows as f64 / wall.max(1e-6);
    line(&mut out, "all tables", &all);
    let s = split(tables.values());
    let _ = writeln!(
        out,
        "Time went to: source {:.1}s, conversion {:.1}s, target {:.1}s (summed over parallel workers); {}.",
        s.seconds_source, s.seconds_transform, s.seconds_target, s.advice
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: u64, seconds: f64, source: f64, target: f64) -> TableTiming {
        TableTiming {
            chunks_done: 1,
            rows,
            bytes: rows * 100,
            seconds,
            seconds_chunks: seconds,
            seconds_source: source,
            seconds_transform: 0.1,
            seconds_target: target,
            rows_per_second: rows as f64 / seconds,
            mb_per_second: 0.0,
        }
    }

    #[test]
    fn the_table_lists_the_slowest_first_folds_the_rest_and_names_the_bottleneck() {
        let mut m = BTreeMap::new();
        m.insert("small".to_string(), t(10, 0.5, 0.2, 0.3));
        m.insert("big".to_string(), t(1000, 9.0, 2.0, 7.0));
        m.insert("mid".to_string(), t(100, 3.0, 2.5, 0.5));
        let text = render(&m, 2, 10.0);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("big "), "{text}");
        assert!(lines[2].starts_with("mid "), "{text}");
        assert!(lines[3].starts_with("(1 more tables)"), "{text}");
        assert!(
            lines[4].starts_with("all tables")
                && lines[4].contains(" 1110 ")
                && lines[4].contains(" 111 "),
            "{text}"
        );
        assert!(text.contains("PostgreSQL takes most of the time"), "{text}");
        let s = split(m.values());
        assert_eq!(s.bottleneck, "target");
        assert!((s.seconds_source - 4.7).abs() < 1e-9);
    }

    #[test]
    fn a_report_carries_the_envelope() {
        let path = std::env::temp_dir().join(format!("pgc-report-{}.json", std::process::id()));
        #[derive(Serialize)]
        struct R {
            rows: u64,
        }
        write(&path, "migrate", &R { rows: 3 }).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(v["report_format"], FORMAT);
        assert_eq!(v["command"], "migrate");
        assert_eq!(v["rows"], 3);
        assert!(v["written_at"].as_str().unwrap().ends_with('Z'), "{v}");
    }
}
