//! The cut-over window estimate of `plan --window`: each phase and the total from the source's table sizes,
//! scaled from an earlier rehearsal's `migrate` report when one is given (`--calibrate`), and the table on the
//! critical path. Pure arithmetic; the measured accuracy is in docs/benchmarks.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contract::TableContract;

/// Uncalibrated rates, measured on the 2-core reference machine (docs/benchmarks.md): chunk seconds per source
/// byte, the finish and verification per row, the fixed preparation. A rehearsal's report replaces them all.
const REF_CHUNK_SECONDS_PER_MB: f64 = 0.04;
const REF_FINISH_SECONDS_PER_MROW: f64 = 16.0;
const REF_VERIFY_SECONDS_PER_MROW: f64 = 17.0;
const REF_PREPARE_SECONDS: f64 = 1.0;
const REF_PARALLELISM: f64 = 3.0;

/// What a `migrate` report tells the estimate (fields of report format 1).
#[derive(Debug, Clone, Deserialize)]
pub struct Calibration {
    pub report_format: u32,
    pub command: String,
    pub seconds_prepare: f64,
    pub seconds_load: f64,
    pub seconds_finish: f64,
    #[serde(default)]
    pub seconds_verify: f64,
    pub settings: CalibrationSettings,
    pub tables: BTreeMap<String, CalibrationTable>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CalibrationSettings {
    pub chunk_rows: u64,
    pub chunk_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CalibrationTable {
    pub rows_estimate: u64,
    pub bytes_estimate: u64,
    pub chunks_done: usize,
    pub seconds_chunks: f64,
}

/// Why a calibration report cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("cannot read the calibration report {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path} is a `{command}` report; calibrate with the --report of a complete `pgconverge migrate`")]
    Command { path: String, command: String },
    #[error(
        "{path} is report format {found}; this pgconverge reads format {}",
        crate::report::FORMAT
    )]
    Format { path: String, found: u32 },
    #[error("{path} is from a resumed or empty run (no chunk was timed); calibrate with a complete `migrate`")]
    Empty { path: String },
}

impl Calibration {
    pub fn read(path: &std::path::Path) -> Result<Calibration, CalibrationError> {
        let name = path.display().to_string();
        let read = |message: String| CalibrationError::Read {
            path: name.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| read(e.to_string()))?;
        let head: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| read(e.to_string()))?;
        let command = head["command"].as_str().unwrap_or("unknown").to_string();
        if command != "migrate" {
            return Err(CalibrationError::Command {
                path: name,
                command,
            });
        }
        let found = head["report_format"].as_u64().unwrap_or(0) as u32;
        if found != crate::report::FORMAT {
            return Err(CalibrationError::Format { path: name, found });
        }
        let c: Calibration = serde_json::from_value(head).map_err(|e| read(e.to_string()))?;
        if c.tables.values().all(|t| t.chunks_done == 0) || c.seconds_load <= 0.0 {
            return Err(CalibrationError::Empty { path: name });
        }
        Ok(c)
    }
}

/// The estimate, per phase and in total, in seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Estimate {
    /// `calibrated` (from a rehearsal report) or `reference` (the reference machine's rates).
    pub basis: String,
    pub seconds_prepare: f64,
    pub seconds_load: f64,
    pub seconds_finish: f64,
    pub seconds_verify: f64,
    pub seconds_total: f64,
    /// The table whose chunks bound the load from below (it cannot spread over more workers than it has chunks).
    pub critical_table: String,
    pub critical_table_seconds: f64,
    pub window_seconds: Option<u64>,
    pub fits: Option<bool>,
}

/// Chunks the run would cut a table into (as `migrate` plans them).
fn chunks(t: &TableContract, chunk_rows: u64, chunk_bytes: u64) -> f64 {
    (t.rows_estimate.div_ceil(chunk_rows.max(1)))
        .max(t.bytes_estimate.div_ceil(chunk_bytes.max(1)))
        .max(1) as f64
}

/// `new` relative to `old`, by rows and by bytes (each where known), averaged.
fn ratio(new_rows: u64, new_bytes: u64, old_rows: u64, old_bytes: u64) -> Option<f64> {
    let mut parts = Vec::new();
    if old_rows > 0 {
        parts.push(new_rows as f64 / old_rows as f64);
    }
    if old_bytes > 0 {
        parts.push(new_bytes as f64 / old_bytes as f64);
    }
    (!parts.is_empty()).then(|| parts.iter().sum::<f64>() / parts.len() as f64)
}

/// Estimates a migration of `tables` (their current size estimates), from `calibration` when given; `chunking`
/// is (rows, bytes) per chunk when no calibration says what the run used.
pub fn estimate(
    tables: &[TableContract],
    calibration: Option<&Calibration>,
    window_seconds: Option<u64>,
    chunking: (u64, u64),
) -> Estimate {
    let rows_new: u64 = tables.iter().map(|t| t.rows_estimate).sum();
    let (chunk_rows, chunk_bytes) = calibration
        .map(|c| (c.settings.chunk_rows, c.settings.chunk_bytes))
        .unwrap_or(chunking);
    // Chunk seconds per table, and how many chunks run at once.
    let (costs, parallelism, prepare, finish, verify, basis): (Vec<f64>, f64, f64, f64, f64, &str) =
        match calibration {
            Some(c) => {
                let timed: Vec<&CalibrationTable> =
                    c.tables.values().filter(|t| t.chunks_done > 0).collect();
                let cal_rows: u64 = timed.iter().map(|t| t.rows_estimate).sum();
                let cal_bytes: u64 = timed.iter().map(|t| t.bytes_estimate).sum();
                let cal_chunk_seconds: f64 = timed.iter().map(|t| t.seconds_chunks).sum();
                // For a table the rehearsal did not time: the rehearsal's average rate.
                let per_byte = cal_chunk_seconds / cal_bytes.max(1) as f64;
                let per_row = cal_chunk_seconds / cal_rows.max(1) as f64;
                let costs = tables
                    .iter()
                    .map(|t| {
                        c.tables
                            .get(&t.source)
                            .filter(|x| x.chunks_done > 0)
                            .and_then(|x| {
                                ratio(
                                    t.rows_estimate,
                                    t.bytes_estimate,
                                    x.rows_estimate,
                                    x.bytes_estimate,
                                )
                                .map(|r| x.seconds_chunks * r)
                            })
                            .unwrap_or(
                                0.5 * (per_byte * t.bytes_estimate as f64
                                    + per_row * t.rows_estimate as f64),
                            )
                    })
                    .collect();
                let scale = rows_new as f64 / cal_rows.max(1) as f64;
                (
                    costs,
                    (cal_chunk_seconds / c.seconds_load).max(1.0),
                    c.seconds_prepare,
                    c.seconds_finish * scale,
                    c.seconds_verify * scale,
                    "calibrated",
                )
            }
            None => (
                tables
                    .iter()
                    .map(|t| REF_CHUNK_SECONDS_PER_MB * t.bytes_estimate as f64 / 1e6)
                    .collect(),
                REF_PARALLELISM,
                REF_PREPARE_SECONDS,
                REF_FINISH_SECONDS_PER_MROW * rows_new as f64 / 1e6,
                REF_VERIFY_SECONDS_PER_MROW * rows_new as f64 / 1e6,
                "reference",
            ),
        };
    let spread = costs.iter().sum::<f64>() / parallelism;
    let (critical, critical_seconds) = tables
        .iter()
        .zip(&costs)
        .map(|(t, c)| (t, c / parallelism.min(chunks(t, chunk_rows, chunk_bytes))))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(t, s)| (t.source.clone(), s))
        .unwrap_or_default();
    let load = spread.max(critical_seconds);
    let total = prepare + load + finish + verify;
    Estimate {
        basis: basis.into(),
        seconds_prepare: prepare,
        seconds_load: load,
        seconds_finish: finish,
        seconds_verify: verify,
        seconds_total: total,
        critical_table: critical,
        critical_table_seconds: critical_seconds,
        window_seconds,
        fits: window_seconds.map(|w| total <= w as f64),
    }
}

fn clock(s: f64) -> String {
    let s = s.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The estimate as the operator reads it.
pub fn render(e: &Estimate) -> String {
    let mut out = format!(
        "Window estimate ({}):\n  prepare {}\n  load    {}  (critical path: table {}, {})\n  finish  {}\n  verify  {}\n  total   {}\n",
        if e.basis == "calibrated" {
            "calibrated on a rehearsal report"
        } else {
            "reference rates, not calibrated: pass --calibrate with a rehearsal's migrate report"
        },
        clock(e.seconds_prepare),
        clock(e.seconds_load),
        e.critical_table,
        clock(e.critical_table_seconds),
        clock(e.seconds_finish),
        clock(e.seconds_verify),
        clock(e.seconds_total)
    );
    if let (Some(w), Some(fits)) = (e.window_seconds, e.fits) {
        out.push_str(&format!(
            "  window  {} : {}\n",
            clock(w as f64),
            if fits {
                "fits"
            } else {
                "DOES NOT FIT: more readers/writers, a faster target, or export ahead and import in the window"
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, rows: u64, bytes: u64) -> TableContract {
        TableContract {
            source: name.into(),
            target: name.into(),
            rows_estimate: rows,
            bytes_estimate: bytes,
            primary_key: vec!["id".into()],
            columns: Vec::new(),
            defaulted: Vec::new(),
            not_copied: Vec::new(),
            family: Vec::new(),
            staged: false,
            generated: Vec::new(),
        }
    }

    fn calibration() -> Calibration {
        let mut tables = BTreeMap::new();
        tables.insert(
            "big".to_string(),
            CalibrationTable {
                rows_estimate: 1000,
                bytes_estimate: 1_000_000,
                chunks_done: 4,
                seconds_chunks: 40.0,
            },
        );
        tables.insert(
            "small".to_string(),
            CalibrationTable {
                rows_estimate: 100,
                bytes_estimate: 100_000,
                chunks_done: 1,
                seconds_chunks: 4.0,
            },
        );
        Calibration {
            report_format: 1,
            command: "migrate".into(),
            seconds_prepare: 3.0,
            seconds_load: 22.0,
            seconds_finish: 5.0,
            seconds_verify: 6.0,
            settings: CalibrationSettings {
                chunk_rows: 250,
                chunk_bytes: 1 << 30,
            },
            tables,
        }
    }

    #[test]
    fn a_calibrated_estimate_scales_each_table_and_the_row_bound_phases() {
        let c = calibration();
        // Twice the data: load, finish and verify double, preparing stays.
        let e = estimate(
            &[table("big", 2000, 2_000_000), table("small", 200, 200_000)],
            Some(&c),
            Some(60),
            (0, 0),
        );
        assert_eq!(e.basis, "calibrated");
        assert!((e.seconds_load - 44.0).abs() < 1e-9, "{e:?}");
        assert!((e.seconds_finish - 10.0).abs() < 1e-9);
        assert!((e.seconds_verify - 12.0).abs() < 1e-9);
        assert!((e.seconds_total - 69.0).abs() < 1e-9);
        assert_eq!(e.critical_table, "big");
        assert_eq!(e.fits, Some(false));
    }

    #[test]
    fn a_table_in_one_chunk_bounds_the_load() {
        let mut c = calibration();
        c.settings.chunk_rows = 1 << 40;
        // One chunk of `big` cannot spread over the two workers the rehearsal had.
        let e = estimate(&[table("big", 1000, 1_000_000)], Some(&c), None, (0, 0));
        assert!((e.seconds_load - 40.0).abs() < 1e-9, "{e:?}");
        assert_eq!(e.fits, None);
    }

    #[test]
    fn a_table_the_rehearsal_did_not_see_takes_its_average_rate() {
        let c = calibration();
        let e = estimate(&[table("new", 1100, 1_100_000)], Some(&c), None, (0, 0));
        // 44 chunk seconds per 1100 rows and per 1.1 MB: 44 s spread over 2 workers.
        assert!((e.seconds_load - 22.0).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn the_rendering_names_the_verdict() {
        let e = estimate(&[table("t", 10, 10)], None, Some(1800), (100, 100));
        let text = render(&e);
        assert!(
            text.contains("not calibrated") && text.contains(": fits"),
            "{text}"
        );
    }
}
