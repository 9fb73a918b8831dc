//! Live progress of a long command. On a terminal: indicatif bars (the phase, overall progress with rate and ETA,
//! and the tables in flight), cleared when the command ends. Redirected: a plain log line every few seconds with
//! the same figures (through `tracing`, so `--log-format json` applies). `--quiet`: nothing.
//!
//! Fed from the transform stage on any thread; updates are a mutex and a few additions per batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{
    HumanBytes, HumanCount, HumanDuration, MultiProgress, ProgressBar, ProgressDrawTarget,
    ProgressState, ProgressStyle,
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
/// Seconds between working out the bar's ETA and its tables in flight.
const BAR_EVERY: Duration = Duration::from_millis(200);
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
    /// The tables whose chunks are known (see [`Progress::with_chunks`]): `total` is the sum of their expectations.
    expected: HashMap<String, Expected>,
    started: Instant,
    /// When a progress line was last logged, or the bar's ETA and tables in flight last worked out.
    last_shown: Instant,
}

/// What one table is expected to bring, from the source's row estimate until its first chunk commits, then from
/// its committed chunks, and exactly once every chunk has: a stale estimate (InnoDB's are off by a third and more)
/// no longer leaves the bar at 100% with the ETA at zero while a large table is still loading.
#[derive(Debug, Clone, Copy)]
struct Expected {
    estimate: u64,
    chunks: u64,
    chunks_done: u64,
    /// Rows of the committed chunks.
    committed: u64,
    /// The table's size on the source (bytes): the share of the time its rows take, for the ETA.
    weight: u64,
    /// The table's share of `State::total` now.
    now: u64,
}

impl Expected {
    /// The expectation for a table of which `seen` units went through so far.
    fn of(&self, seen: u64) -> u64 {
        if self.chunks_done == 0 {
            self.estimate.max(seen)
        } else if self.chunks_done >= self.chunks {
            self.committed.max(seen)
        } else {
            // Chunks split a table into key ranges of about equal size.
            let per_chunk = self.committed as f64 / self.chunks_done as f64;
            ((per_chunk * self.chunks as f64) as u64).max(seen)
        }
    }
}

impl State {
    /// The bar's length: the total, or what went through if that is more (a stale estimate can lag).
    fn length(&self) -> u64 {
        self.total.max(self.done).max(1)
    }

    /// `units` more of `table` went through.
    fn seen(&mut self, table: &str, units: u64, bytes: u64, now: Instant) {
        self.done += units;
        self.bytes += bytes;
        let t = self.tables.entry(table.to_string()).or_insert((0, now));
        t.0 += units;
        t.1 = now;
        self.reexpect(table);
        if self.done > self.total {
            self.total = self.done;
        }
    }

    /// Seconds left, from the fraction of the work done so far. A row costs a fixed amount plus its bytes, so with
    /// tables known that fraction is the mean of the rows' fraction and the bytes' (each table's part done weighted
    /// by its size on the source); else the units'. At Alkemio scale 1 (small tables first, 3 KB JSON rows
    /// throughout) rows alone said 25 s left with 60 s to go, bytes alone 96 s; their mean said 35 s with 49 s to
    /// go in another run, and was within 7 s from then on.
    /// `None` before anything went through.
    fn eta(&self, now: Instant) -> Option<f64> {
        let units = self.done as f64 / self.total.max(1) as f64;
        let weights: u64 = self.expected.values().map(|e| e.weight).sum();
        let fraction = if weights > 0 {
            let bytes = self
                .expected
                .iter()
                .map(|(t, e)| {
                    let seen = self.tables.get(t).map(|t| t.0).unwrap_or(0);
                    e.weight as f64 * (seen as f64 / e.now.max(1) as f64).min(1.0)
                })
                .sum::<f64>()
                / weights as f64;
            (units + bytes) / 2.0
        } else {
            units
        };
        (fraction > 0.0).then(|| {
            let secs = now.duration_since(self.started).as_secs_f64();
            secs * (1.0 - fraction.min(1.0)) / fraction
        })
    }

    /// A chunk of `table` with `rows` rows committed.
    fn committed(&mut self, table: &str, rows: u64) {
        if let Some(e) = self.expected.get_mut(table) {
            e.chunks_done += 1;
            e.committed += rows;
        }
        self.reexpect(table);
    }

    /// Sets `table`'s share of the total from what went through and committed so far.
    fn reexpect(&mut self, table: &str) {
        let seen = self.tables.get(table).map(|t| t.0).unwrap_or(0);
        if let Some(e) = self.expected.get_mut(table) {
            let next = e.of(seen);
            self.total = (self.total + next).saturating_sub(e.now);
            e.now = next;
        }
    }
}

/// One command's progress display.
pub struct Progress {
    command: &'static str,
    unit: Unit,
    state: Mutex<State>,
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    /// Seconds left as [`State::eta`] last said (`u64::MAX`: unknown), for the bar's template.
    eta: Arc<AtomicU64>,
}

impl Progress {
    /// `total` is the expected amount (an estimate: it only drives the percentage and the ETA).
    pub fn new(command: &'static str, total: u64, unit: Unit) -> Progress {
        let now = Instant::now();
        let eta = Arc::new(AtomicU64::new(u64::MAX));
        let shown = eta.clone();
        let bars = BARS.get().map(|multi| {
            let multi = multi.clone();
            let main = multi.add(ProgressBar::new(total.max(1)));
            let template = match unit {
                Unit::Rows => {
                    "{prefix:.bold} {wide_bar:.cyan/blue} {human_pos}/{human_len} rows {rate} ETA {left}"
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
                    .with_key("left", move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = match shown.load(Ordering::Relaxed) {
                            u64::MAX => write!(w, "-"),
                            secs => write!(w, "{}", HumanDuration(Duration::from_secs(secs))),
                        };
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
                expected: HashMap::new(),
                started: now,
                last_shown: now,
            }),
            bars,
            eta,
        }
    }

    /// Progress counted in rows whose total follows the tables' chunks as they commit (fed by
    /// [`Progress::chunk_done`]): `tables` gives each table's row estimate, its size on the
    /// source in bytes and the number of chunks to come.
    pub fn with_chunks(
        command: &'static str,
        tables: impl IntoIterator<Item = (String, u64, u64, usize)>,
    ) -> Progress {
        let expected: HashMap<String, Expected> = tables
            .into_iter()
            .map(|(t, estimate, bytes, chunks)| {
                let e = Expected {
                    estimate,
                    chunks: chunks as u64,
                    chunks_done: 0,
                    committed: 0,
                    weight: bytes,
                    now: estimate,
                };
                (t, e)
            })
            .collect();
        let p = Progress::new(command, expected.values().map(|e| e.now).sum(), Unit::Rows);
        p.state.lock().expect("progress state").expected = expected;
        p
    }

    /// A chunk of `table` committed with `rows` rows: the table's expectation follows its chunks.
    pub fn chunk_done(&self, table: &str, rows: u64) {
        if mode() == Mode::Off {
            return;
        }
        let mut s = self.state.lock().expect("progress state");
        s.committed(table, rows);
        if let Some((_, main, _)) = &self.bars {
            main.set_length(s.length());
        }
    }

    /// One of `table`'s chunks will not be read (an interrupted run loaded it): its share of the estimate goes.
    pub fn skip_chunk(&self, table: &str) {
        let mut s = self.state.lock().expect("progress state");
        if let Some(e) = s.expected.get_mut(table).filter(|e| e.chunks > 0) {
            e.estimate -= e.estimate / e.chunks;
            e.chunks -= 1;
        }
        s.reexpect(table);
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
        s.seen(table, units, bytes, now);
        match &self.bars {
            Some((_, main, tables)) => {
                main.set_length(s.length());
                main.set_position(s.done);
                // The ETA and the tables in flight at about the rate the bar redraws, not once per batch.
                if now.duration_since(s.last_shown) >= BAR_EVERY {
                    s.last_shown = now;
                    let eta = s.eta(now).map_or(u64::MAX, |e| e.round() as u64);
                    self.eta.store(eta, Ordering::Relaxed);
                    tables.set_message(format!("in flight: {}", in_flight(&s, self.unit, now)));
                }
            }
            None => {
                if now.duration_since(s.last_shown) >= LINE_EVERY {
                    s.last_shown = now;
                    self.line(&s, now);
                }
            }
        }
    }

    fn line(&self, s: &State, now: Instant) {
        let secs = now.duration_since(s.started).as_secs_f64().max(1e-3);
        let rate = s.done as f64 / secs;
        let eta = match s.eta(now) {
            Some(e) => format!("{e:.0}s"),
            None => "unknown".into(),
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

    /// A load that started at `started`, expecting `tables` (name, row estimate, chunks, size on the source).
    fn state(started: Instant, tables: &[(&str, u64, u64, u64)]) -> State {
        let expected: HashMap<String, Expected> = tables
            .iter()
            .map(|&(name, estimate, chunks, weight)| {
                let e = Expected {
                    estimate,
                    chunks,
                    chunks_done: 0,
                    committed: 0,
                    weight,
                    now: estimate,
                };
                (name.to_string(), e)
            })
            .collect();
        State {
            phase: "load".into(),
            done: 0,
            bytes: 0,
            total: expected.values().map(|e| e.now).sum(),
            tables: BTreeMap::new(),
            expected,
            started,
            last_shown: started,
        }
    }

    #[test]
    fn the_total_follows_committed_chunks_instead_of_a_stale_estimate() {
        let now = Instant::now();
        let mut s = state(
            now,
            &[
                ("big", 1_000, 4, 0),
                ("small", 100, 1, 0),
                ("over", 10_000, 2, 0),
            ],
        );
        // Underestimated: the first committed chunk extrapolates over the table's four.
        s.seen("big", 300, 0, now);
        assert_eq!(s.total, 11_100);
        s.committed("big", 300);
        assert_eq!(s.total, 11_300);
        // Past its estimate before its only chunk commits: what went through, then exactly its rows.
        s.seen("small", 150, 0, now);
        assert_eq!(s.total, 11_350);
        s.committed("small", 150);
        assert_eq!(s.total, 11_350);
        // Overestimated: one chunk of two with 100 rows says about 200, not 10,000.
        s.seen("over", 100, 0, now);
        s.committed("over", 100);
        assert_eq!(s.total, 1_200 + 150 + 200);
        // Every chunk committed: the table's share is its rows, and the total is what went through.
        for rows in [350, 320, 280] {
            s.seen("big", rows, 0, now);
            s.committed("big", rows);
        }
        s.seen("over", 90, 0, now);
        s.committed("over", 90);
        assert_eq!((s.total, s.done), (1_250 + 150 + 190, 1_590));
    }

    #[test]
    fn the_eta_weighs_each_table_by_its_size_on_the_source() {
        let now = Instant::now();
        let mut s = state(
            now - Duration::from_secs(10),
            &[("keys", 1_000, 1, 100), ("documents", 100, 1, 900)],
        );
        assert_eq!(s.eta(now), None);
        // 91% of the rows but a tenth of the bytes in 10 s: half done, 10 s to go (rows alone: 1 s).
        s.seen("keys", 1_000, 0, now);
        let f = (1_000.0 / 1_100.0 + 0.1) / 2.0;
        let eta = s.eta(now).unwrap();
        assert!((eta - 10.0 * (1.0 - f) / f).abs() < 1e-6, "{eta}");
        s.seen("documents", 50, 0, now);
        let f = (1_050.0 / 1_100.0 + 0.55) / 2.0;
        let eta = s.eta(now).unwrap();
        assert!((eta - 10.0 * (1.0 - f) / f).abs() < 1e-6, "{eta}");
        // Without sizes: from the units done.
        s.expected.values_mut().for_each(|e| e.weight = 0);
        let eta = s.eta(now).unwrap();
        assert!((eta - 10.0 * 50.0 / 1_050.0).abs() < 1e-6, "{eta}");
    }

    #[test]
    fn in_flight_names_the_latest_tables_first_with_their_unit() {
        let now = Instant::now();
        let ago = |ms: u64| now - Duration::from_millis(ms);
        let mut s = state(ago(60_000), &[]);
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
