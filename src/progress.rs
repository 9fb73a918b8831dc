//! Live progress of a long command. On a terminal: indicatif bars (the phase, overall progress with rate and ETA,
//! and the tables in flight), cleared when the command ends. Redirected: a plain log line every few seconds with
//! the same figures (through `tracing`, so `--log-format json` applies). `--quiet`: nothing.
//!
//! Fed from the transform stage on any thread; updates are a mutex and a few additions per batch.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{
    HumanBytes, HumanCount, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState,
    ProgressStyle,
};

/// How progress is shown, decided once by the binary from `--quiet` and whether stderr is a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bars,
    Lines,
    Off,
}

static MODE: OnceLock<Mode> = OnceLock::new();
/// The one set of bars of the process; log lines are written above it (see `LogWriter`).
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Sets the mode for the whole process (the first call wins); without a call progress is off.
pub fn set_mode(mode: Mode) {
    if MODE.set(mode).is_ok() && mode == Mode::Bars {
        let _ = BARS.set(MultiProgress::with_draw_target(
            ProgressDrawTarget::stderr_with_hz(4),
        ));
    }
}

/// Where log lines go: stderr, with the bars lifted out of the way while a line is written, so a log line never
/// lands in the middle of a bar.
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BARS.get() {
            Some(bars) => bars.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn mode() -> Mode {
    *MODE.get().unwrap_or(&Mode::Off)
}

/// What the figures count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Rows,
    Bytes,
}

/// Seconds between plain progress lines.
const LINE_EVERY: Duration = Duration::from_secs(5);
/// A table is "in flight" while it received data this recently.
const IN_FLIGHT: Duration = Duration::from_secs(3);
/// Tables named in the in-flight line; the rest are counted.
const IN_FLIGHT_SHOWN: usize = 4;

struct State {
    phase: String,
    done: u64,
    bytes: u64,
    total: u64,
    tables: BTreeMap<String, (u64, Instant)>,
    started: Instant,
    last_line: Instant,
}

/// One command's progress display.
pub struct Progress {
    command: &'static str,
    unit: Unit,
    state: Mutex<State>,
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
}

impl Progress {
    /// `total` is the expected amount (an estimate: it only drives the percentage and the ETA).
    pub fn new(command: &'static str, total: u64, unit: Unit) -> Progress {
        let now = Instant::now();
        let bars = BARS.get().map(|multi| {
            let multi = multi.clone();
            let main = multi.add(ProgressBar::new(total.max(1)));
            let template = match unit {
                Unit::Rows => {
                    "{prefix:.bold} {wide_bar:.cyan/blue} {human_pos}/{human_len} rows {rate} ETA {eta}"
                }
                Unit::Bytes => {
                    "{prefix:.bold} {wide_bar:.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
                }
            };
            main.set_style(
                ProgressStyle::with_template(template)
                    .expect("valid progress template")
                    // indicatif's own {per_sec} shows four decimals of a row count.
                    .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{} rows/s", HumanCount(s.per_sec() as u64));
                    })
                    .progress_chars("=> "),
            );
            main.set_prefix(command);
            let tables = multi.add(ProgressBar::new_spinner());
            tables.set_style(
                ProgressStyle::with_template("  {spinner} {msg}").expect("valid progress template"),
            );
            tables.enable_steady_tick(Duration::from_millis(250));
            (multi, main, tables)
        });
        Progress {
            command,
            unit,
            state: Mutex::new(State {
                phase: String::new(),
                done: 0,
                bytes: 0,
                total,
                tables: BTreeMap::new(),
                started: now,
                last_line: now,
            }),
            bars,
        }
    }

    /// Names the phase now running (contract, snapshot, prepare, load, finish, verify, ...).
    pub fn phase(&self, phase: &str) {
        let mut s = self.state.lock().expect("progress state");
        s.phase = phase.to_string();
        match &self.bars {
            Some((_, main, _)) => main.set_prefix(format!("{} {phase}", self.command)),
            None if mode() == Mode::Lines => {
                tracing::info!(command = self.command, phase, "Phase started.")
            }
            None => {}
        }
    }

    /// `units` more of `table` went through (rows or bytes, as the unit says), `bytes` of data.
    pub fn add(&self, table: &str, units: u64, bytes: u64) {
        if mode() == Mode::Off {
            return;
        }
        let now = Instant::now();
        let mut s = self.state.lock().expect("progress state");
        s.done += units;
        s.bytes += bytes;
        if s.done > s.total {
            s.total = s.done;
        }
        let t = s.tables.entry(table.to_string()).or_insert((0, now));
        t.0 += units;
        t.1 = now;
        match &self.bars {
            Some((_, main, tables)) => {
                main.set_length(s.total.max(1));
                main.set_position(s.done);
                tables.set_message(format!("in flight: {}", in_flight(&s, self.unit, now)));
            }
            None => {
                if now.duration_since(s.last_line) >= LINE_EVERY {
                    s.last_line = now;
                    self.line(&s, now);
                }
            }
        }
    }

    fn line(&self, s: &State, now: Instant) {
        let secs = now.duration_since(s.started).as_secs_f64().max(1e-3);
        let rate = s.done as f64 / secs;
        let eta = if rate > 0.0 {
            format!("{:.0}s", (s.total.saturating_sub(s.done)) as f64 / rate)
        } else {
            "unknown".into()
        };
        let unit = match self.unit {
            Unit::Rows => "rows",
            Unit::Bytes => "bytes",
        };
        tracing::info!(
            command = self.command,
            phase = %s.phase,
            done = s.done,
            total = s.total,
            percent = format!("{:.0}", 100.0 * s.done as f64 / s.total.max(1) as f64),
            per_second = format!("{rate:.0}"),
            mb_per_second = format!("{:.1}", s.bytes as f64 / 1e6 / secs),
            eta = %eta,
            unit,
            in_flight = %in_flight(s, self.unit, now),
            "Progress."
        );
    }

    /// Clears the bars (the screen ends clean) or prints the last line.
    pub fn finish(&self) {
        match &self.bars {
            Some((multi, main, tables)) => {
                tables.finish_and_clear();
                main.finish_and_clear();
                multi.remove(tables);
                multi.remove(main);
            }
            None if mode() == Mode::Lines => {
                let s = self.state.lock().expect("progress state");
                if s.done > 0 {
                    self.line(&s, Instant::now());
                }
            }
            None => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((multi, main, tables)) = &self.bars {
            tables.finish_and_clear();
            main.finish_and_clear();
            multi.remove(tables);
            multi.remove(main);
        }
    }
}

/// The tables that received data in the last seconds, the most recent first, each with its amount so far.
fn in_flight(s: &State, unit: Unit, now: Instant) -> String {
    let mut recent: Vec<(&String, u64, Instant)> = s
        .tables
        .iter()
        .filter(|(_, (_, at))| now.duration_since(*at) < IN_FLIGHT)
        .map(|(name, (n, at))| (name, *n, *at))
        .collect();
    if recent.is_empty() {
        return "-".into();
    }
    recent.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(b.0)));
    let mut names: Vec<String> = recent
        .iter()
        .take(IN_FLIGHT_SHOWN)
        .map(|(name, n, _)| match unit {
            Unit::Rows => format!("{name} ({} rows)", HumanCount(*n)),
            Unit::Bytes => format!("{name} ({})", HumanBytes(*n)),
        })
        .collect();
    if recent.len() > IN_FLIGHT_SHOWN {
        names.push(format!("{} more", recent.len() - IN_FLIGHT_SHOWN));
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_names_the_latest_tables_first_with_their_unit() {
        let now = Instant::now();
        let ago = |ms: u64| now - Duration::from_millis(ms);
        let mut s = State {
            phase: "load".into(),
            done: 0,
            bytes: 0,
            total: 0,
            tables: BTreeMap::new(),
            started: ago(60_000),
            last_line: ago(0),
        };
        for (name, n, ms) in [
            ("account", 125, 2_500),
            ("authorization_policy", 1_234_567, 10),
            ("calendar", 9, 900),
            ("done_long_ago", 5, 50_000),
            ("profile", 20_000, 400),
            ("space", 7, 1_500),
        ] {
            s.tables.insert(name.into(), (n, ago(ms)));
        }
        assert_eq!(
            in_flight(&s, Unit::Rows, now),
            "authorization_policy (1,234,567 rows), profile (20,000 rows), calendar (9 rows), space (7 rows), 1 more"
        );
        s.tables.retain(|name, _| name == "authorization_policy");
        assert_eq!(
            in_flight(&s, Unit::Bytes, now),
            "authorization_policy (1.18 MiB)"
        );
        s.tables.clear();
        assert_eq!(in_flight(&s, Unit::Rows, now), "-");
    }
}
