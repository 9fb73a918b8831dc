//! Crash anywhere, recover always: `migrate`, `import`, `export` and `reset` are killed (SIGKILL, by the
//! `PGCONVERGE_CRASH_AT` test hook) right after each step that changes durable state, one run per step, and every
//! crashed state is checked, on a fresh copy of it, with each recovery the runbook offers:
//! - `--resume` gives a target equal to the source, or refuses (exit 8) naming the command to run instead over a
//!   target that is as before the run or already equal to the source;
//! - `reset --yes` gives the target as before the run: catalog (keys, sequences, schemas) and rows;
//! - the plain command again works, or refuses (exit 8) naming the command to run: never an internal error.
//!
//! The steps are counted by `crate::durable` and `util::fsio`, through which every write goes
//! (scripts/check-modules.py fails on one that does not), so a new step is swept without touching this file.

// The crash points exist only in builds with the test-hooks feature.
#[cfg(not(feature = "test-hooks"))]
compile_error!(
    "tests/crash_points.rs needs: cargo test --features test-hooks (scripts/test.sh passes it)"
);

mod common;

use common::runs::{command_of, outcome, reset};
use common::TestDbs;
use mysql_async::prelude::Queryable;

/// Two tables joined by a foreign key with auto-increment keys (sequences on the target) and a table the target's
/// migrations seeded: every kind of state a run changes.
const MYSQL: &str = "
CREATE TABLE parent (id int PRIMARY KEY AUTO_INCREMENT, name varchar(40) NOT NULL);
CREATE TABLE child (id int PRIMARY KEY AUTO_INCREMENT, parent_id int NOT NULL, note text,
  CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id));
CREATE TABLE kind (code varchar(10) PRIMARY KEY, label varchar(40))";

const PG: &str = "
CREATE TABLE parent (id serial PRIMARY KEY, name varchar(40) NOT NULL);
CREATE TABLE child (id serial PRIMARY KEY, parent_id integer NOT NULL, note text,
  CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id));
CREATE TABLE kind (code varchar(10) PRIMARY KEY, label varchar(40));
INSERT INTO kind VALUES ('seed', 'seeded by a migration')";

const TABLES: [(&str, &str); 3] = [
    ("parent", "id, name"),
    ("child", "id, parent_id, note"),
    ("kind", "code, label"),
];

/// One reader and one writer, small chunks and no early finish: the steps come in one order, several per table.
const SMALL: [&str; 8] = [
    "--readers",
    "1",
    "--writers",
    "1",
    "--chunk-rows",
    "20",
    "--source-quiesced",
    "",
];

fn small<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    SMALL
        .iter()
        .copied()
        .filter(|a| !a.is_empty())
        .chain(extra.iter().copied())
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Kill,
    Int,
    Term,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Kill => "KILL",
            Signal::Int => "INT",
            Signal::Term => "TERM",
        }
    }
}

struct Bed {
    dbs: TestDbs,
    mapping: String,
    pristine: String,
    crashed: String,
}

impl Bed {
    /// The small schema of this file, with rows.
    async fn new() -> Bed {
        let dbs = TestDbs::bare(MYSQL, PG).await;
        let mut my = common::mysql_conn(&dbs.source_admin()).await;
        my.query_drop("INSERT INTO parent (name) SELECT concat('p', seq) FROM seq_1_to_45")
            .await
            .unwrap();
        my.query_drop(
            "INSERT INTO child (parent_id, note) SELECT 1 + seq % 45, IF(seq % 7 = 0, NULL, concat('n', seq)) \
             FROM seq_1_to_70",
        )
        .await
        .unwrap();
        my.query_drop("INSERT INTO kind VALUES ('seed', 'seeded by a migration'), ('other', 'from the source')")
            .await
            .unwrap();
        my.disconnect().await.ok();
        let mapping = std::env::temp_dir().join(format!("{}.toml", dbs.name));
        std::fs::write(&mapping, "app = \"crash\"\nseeded_tables = [\"kind\"]\n").unwrap();
        Bed::of(dbs, mapping.display().to_string()).await
    }

    /// `dbs` as they are now, `mapping` for them.
    async fn of(dbs: TestDbs, mapping: String) -> Bed {
        let bed = Bed {
            pristine: format!("{}_pristine", dbs.name),
            crashed: format!("{}_crashed", dbs.name),
            mapping,
            dbs,
        };
        copy_db(&bed.dbs.name, &bed.pristine).await;
        bed
    }

    /// The target as it was before any run.
    async fn to_pristine(&self) {
        copy_db(&self.pristine, &self.dbs.name).await;
    }

    fn command(&self, name: &str, extra: &[&str]) -> std::process::Command {
        command_of(&self.dbs, name, &self.mapping, extra)
    }

    /// Runs `name` with `extra`, announcing its durable steps; returns their names.
    fn steps(&self, name: &str, extra: &[&str]) -> Vec<String> {
        let (code, text) = outcome(
            self.command(name, extra)
                .env("PGCONVERGE_TRACE_STEPS", "1")
                .output()
                .unwrap(),
        );
        assert_eq!(code, 0, "the traced {name} failed:\n{text}");
        let steps: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("pgconverge: durable step "))
            .map(|l| l.split_once(": ").map(|(_, n)| n.to_string()).unwrap())
            .collect();
        assert!(!steps.is_empty(), "{name} counted no durable step:\n{text}");
        steps
    }

    /// Runs `name` killed right after its n-th durable step; panics unless it died there.
    fn crash(&self, name: &str, extra: &[&str], n: usize) {
        self.interrupt(name, extra, n, Signal::Kill);
    }

    /// Runs `name` sent `signal` right after its n-th durable step; panics unless it ended as the signal says.
    fn interrupt(&self, name: &str, extra: &[&str], n: usize, signal: Signal) {
        let (code, text) = outcome(
            self.command(name, extra)
                .env("PGCONVERGE_CRASH_AT", n.to_string())
                .env("PGCONVERGE_CRASH_SIGNAL", signal.name())
                .output()
                .unwrap(),
        );
        assert!(
            text.contains(&format!("crashing after durable step {n}")),
            "{text}"
        );
        let expected: &[i32] = match signal {
            Signal::Kill => &[-1],
            // The run stops at its next check (exit 130, saying how to go on), or it was past the last one and
            // ends normally; where no handler listens the signal ends the process.
            Signal::Int | Signal::Term => &[130, 0, -1],
        };
        assert!(
            expected.contains(&code),
            "{name} sent {signal:?} after durable step {n} exited {code}:\n{text}"
        );
        if code == 130 {
            assert!(names_the_way_on(&text), "{text}");
        }
    }

    async fn save_crashed(&self) {
        copy_db(&self.dbs.name, &self.crashed).await;
    }

    async fn to_crashed(&self) {
        copy_db(&self.crashed, &self.dbs.name).await;
    }

    async fn drop_copies(&self) {
        let sup = common::pg_conn(&format!("{}/postgres", common::pg_super())).await;
        for db in [&self.pristine, &self.crashed] {
            sup.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                .await
                .unwrap();
        }
        let _ =
            std::fs::remove_dir_all(std::env::temp_dir().join(format!("{}_files", self.dbs.name)));
    }
}

/// Replaces database `to` with a copy of `from` (which must have no session: a killed run's backends may take a
/// moment to notice their client is gone).
async fn copy_db(from: &str, to: &str) {
    let sup = common::pg_conn(&format!("{}/postgres", common::pg_super())).await;
    sup.batch_execute(&format!("DROP DATABASE IF EXISTS \"{to}\" WITH (FORCE)"))
        .await
        .unwrap();
    for attempt in 0.. {
        match sup
            .batch_execute(&format!(
                "CREATE DATABASE \"{to}\" TEMPLATE \"{from}\" OWNER pgc_owner"
            ))
            .await
        {
            Ok(()) => return,
            Err(e)
                if attempt < 20
                    && e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(e) => panic!("copying database {from} to {to}: {e:?}"),
        }
    }
}

/// Whether every table of the target holds exactly the source's rows.
async fn equal_to_source(dbs: &TestDbs) -> Result<(), String> {
    let mut my = common::mysql_conn(&dbs.source_admin()).await;
    let pg = common::pg_conn(&dbs.target_super()).await;
    for (table, columns) in TABLES {
        // Sorted here: the servers' collations order text differently.
        let sql = format!("SELECT concat_ws('|', {columns}) AS r FROM {table}");
        let mut source: Vec<String> = my.query(&sql).await.unwrap();
        let mut target = common::strings(&pg, &sql).await;
        source.sort();
        target.sort();
        if source != target {
            return Err(format!(
                "{table}: the target holds {} rows, the source {}; first target rows {:?}",
                target.len(),
                source.len(),
                &target[..target.len().min(3)]
            ));
        }
    }
    Ok(())
}

/// Whether a refusal's text names a command that exists to run next.
fn names_the_way_on(text: &str) -> bool {
    ["pgconverge reset", "--resume", "--replace"]
        .iter()
        .any(|c| text.contains(c))
}

/// What a recovery may end in: equal to the source (exit 0), or a refusal (exit 8) that names the way on and
/// changes nothing. A refused `--resume` must stand over a target as before the run or already equal to the source.
async fn recovered(
    bed: &Bed,
    what: &str,
    (code, text): (i32, String),
    crashed: &str,
    pristine: Option<&str>,
) -> Result<(), String> {
    match code {
        0 => equal_to_source(&bed.dbs)
            .await
            .map_err(|e| format!("{what} exited 0 but {e}\n{text}")),
        8 if names_the_way_on(&text) => {
            let now = common::target_state(&bed.dbs).await;
            if now != crashed {
                return Err(format!("{what} refused but changed the target:\n{text}"));
            }
            match pristine {
                Some(p) if now != p && equal_to_source(&bed.dbs).await.is_err() => Err(format!(
                    "{what} refused over a target neither as before the run nor loaded:\n{text}"
                )),
                _ => Ok(()),
            }
        }
        _ => Err(format!("{what} exited {code}:\n{text}")),
    }
}

/// Every crash point of `command extra`: resume, reset and a plain re-run each recover from a copy of the crash.
/// `resume` is the command's resume invocation (None: it has none). Returns the number of points.
async fn sweep(bed: &Bed, command: &str, extra: &[&str], resume: Option<&[&str]>) -> usize {
    sweep_with(bed, command, extra, resume, Signal::Kill, None).await
}

/// [`sweep`] with `signal`, at the steps `only` lists (None: every step).
async fn sweep_with(
    bed: &Bed,
    command: &str,
    extra: &[&str],
    resume: Option<&[&str]>,
    signal: Signal,
    only: Option<&[usize]>,
) -> usize {
    bed.to_pristine().await;
    let pristine = common::target_state(&bed.dbs).await;
    let steps = bed.steps(command, extra);
    let mut failures = Vec::new();
    let mut tried = 0;
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        if only.is_some_and(|o| !o.contains(&n)) {
            continue;
        }
        tried += 1;
        bed.to_pristine().await;
        bed.interrupt(command, extra, n, signal);
        bed.save_crashed().await;
        let at = format!("{command} sent {signal:?} after step {n} ({step})");
        let crashed = common::target_state(&bed.dbs).await;
        if let Some(args) = resume {
            bed.to_crashed().await;
            let run = outcome(bed.command(command, args).output().unwrap());
            if let Err(e) = recovered(bed, "--resume", run, &crashed, Some(&pristine)).await {
                failures.push(format!("{at}: {e}"));
            }
        }
        bed.to_crashed().await;
        let (code, text) = reset(&bed.dbs, &bed.mapping, true);
        let state = common::target_state(&bed.dbs).await;
        if code != 0 || state != pristine {
            failures.push(format!(
                "{at}: reset --yes exited {code}, target {}:\n{text}",
                if state == pristine {
                    "as before the run"
                } else {
                    "not as before the run"
                }
            ));
        }
        bed.to_crashed().await;
        let run = outcome(bed.command(command, extra).output().unwrap());
        if let Err(e) = recovered(bed, "the plain re-run", run, &crashed, None).await {
            failures.push(format!("{at}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} crash points of {command} did not recover:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!(
        "{command} ({signal:?}): {tried} of {} crash points tried, each recovered: {steps:?}",
        steps.len()
    );
    tried
}

#[tokio::test]
async fn migrate_recovers_from_a_crash_after_any_durable_step() {
    let bed = Bed::new().await;
    let extra = small(&["--finish-early", "off"]);
    let resume = small(&["--resume"]);
    let points = sweep(&bed, "migrate", &extra, Some(&resume)).await;
    assert!(
        points >= 12,
        "a migrate of three tables in 7 chunks takes more steps than {points}"
    );
    bed.drop_copies().await;
}

#[tokio::test]
async fn migrate_finishing_tables_early_recovers_from_a_crash_after_any_durable_step() {
    let bed = Bed::new().await;
    let extra = small(&["--finish-early", "on"]);
    let resume = small(&["--resume", "--finish-early", "on"]);
    sweep(&bed, "migrate", &extra, Some(&resume)).await;
    bed.drop_copies().await;
}

/// A new empty directory for the bed's files (removed by [`Bed::drop_copies`]).
fn work_dir(bed: &Bed) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{}_files", bed.dbs.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A complete export of the bed's source.
fn exported(bed: &Bed) -> std::path::PathBuf {
    let out = work_dir(bed).join("export");
    let (code, text) = outcome(
        bed.command("export", &small(&["--out", out.to_str().unwrap()]))
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "{text}");
    out
}

#[tokio::test]
async fn import_recovers_from_a_crash_after_any_durable_step() {
    let bed = Bed::new().await;
    let from = exported(&bed);
    let from = from.to_str().unwrap();
    let extra = ["--from", from, "--writers", "1", "--finish-early", "off"];
    let resume = [
        "--from",
        from,
        "--writers",
        "1",
        "--finish-early",
        "off",
        "--resume",
    ];
    let points = sweep(&bed, "import", &extra, Some(&resume)).await;
    assert!(
        points >= 12,
        "an import of three tables in 7 files takes more steps than {points}"
    );
    bed.drop_copies().await;
}

/// Copies directory `from` to `to` (replacing it), files only: an export directory is flat per table.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let _ = std::fs::remove_dir_all(to);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every crash point of `export`: `--resume` completes the export (or refuses naming the way on), the plain
/// re-run refuses naming `--resume` or `--replace` and changes nothing, `--replace` starts over; every export that
/// ends complete loads (`import`) into a target equal to the source.
#[tokio::test]
async fn export_recovers_from_a_crash_after_any_durable_step() {
    let bed = Bed::new().await;
    let work = work_dir(&bed);
    let out = work.join("export");
    let crashed = work.join("crashed");
    let out_s = out.to_str().unwrap().to_string();
    let extra = small(&["--out", &out_s]);
    let steps = bed.steps("export", &extra);
    let listing = |d: &std::path::Path| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("find . -type f | sort | xargs sha256sum")
            .current_dir(d)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let loads = |bed: &Bed| {
        let (code, text) = outcome(
            bed.command(
                "import",
                &["--from", out.to_str().unwrap(), "--writers", "1"],
            )
            .output()
            .unwrap(),
        );
        (code, text)
    };
    let mut failures = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        let at = format!("export killed after step {n} ({step})");
        let _ = std::fs::remove_dir_all(&out);
        bed.crash("export", &extra, n);
        copy_dir(&out, &crashed);
        let before = listing(&crashed);
        for (what, flags) in [
            ("--resume", vec!["--resume"]),
            ("--replace", vec!["--replace"]),
            ("the plain re-run", vec![]),
        ] {
            copy_dir(&crashed, &out);
            let mut args = extra.clone();
            args.extend(flags);
            let (code, text) = outcome(bed.command("export", &args).output().unwrap());
            match code {
                0 => {
                    bed.to_pristine().await;
                    let (code, loaded) = loads(&bed);
                    let equal = equal_to_source(&bed.dbs).await;
                    if code != 0 || equal.is_err() {
                        failures.push(format!("{at}: {what} exited 0, but the import exited {code} ({equal:?}):\n{loaded}"));
                    }
                }
                8 if names_the_way_on(&text) => {
                    if listing(&out) != before {
                        failures.push(format!(
                            "{at}: {what} refused but changed the directory:\n{text}"
                        ));
                    }
                }
                _ => failures.push(format!("{at}: {what} exited {code}:\n{text}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} crash points of export did not recover:\n{}",
        failures.len(),
        steps.len(),
        failures.join("\n\n")
    );
    eprintln!(
        "export: {} crash points, each recovered: {steps:?}",
        steps.len()
    );
    bed.drop_copies().await;
}

/// Every crash point of `reset`, over a completed run and over one killed mid-load: running `reset --yes` again
/// gives the target as before the run, and a new `migrate` then loads it equal to the source.
#[tokio::test]
async fn reset_recovers_from_a_crash_after_any_durable_step() {
    let bed = Bed::new().await;
    let pristine = {
        bed.to_pristine().await;
        common::target_state(&bed.dbs).await
    };
    let migrate = small(&["--finish-early", "off"]);
    let mut points = Vec::new();
    for (scenario, crash_migrate_at) in [
        ("a completed run", None),
        ("a run killed mid-load", Some(6)),
    ] {
        let prepare = || async {
            bed.to_pristine().await;
            match crash_migrate_at {
                None => {
                    let (code, text) = outcome(bed.command("migrate", &migrate).output().unwrap());
                    assert_eq!(code, 0, "{text}");
                }
                Some(n) => bed.crash("migrate", &migrate, n),
            }
        };
        prepare().await;
        let (code, text) = outcome(
            std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
                .args(["reset", "--yes", "--mapping", &bed.mapping])
                .env("PGCONVERGE_TARGET", bed.dbs.target())
                .env("PGCONVERGE_TRACE_STEPS", "1")
                .output()
                .unwrap(),
        );
        assert_eq!(code, 0, "{text}");
        let steps = text.matches("pgconverge: durable step ").count();
        assert!(steps >= 1, "reset of {scenario} counted no step:\n{text}");
        for n in 1..=steps {
            prepare().await;
            let (code, text) = outcome(
                std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
                    .args(["reset", "--yes", "--mapping", &bed.mapping])
                    .env("PGCONVERGE_TARGET", bed.dbs.target())
                    .env("PGCONVERGE_CRASH_AT", n.to_string())
                    .output()
                    .unwrap(),
            );
            assert_eq!(
                code, -1,
                "reset of {scenario} was to be killed after step {n}:\n{text}"
            );
            let (code, text) = reset(&bed.dbs, &bed.mapping, true);
            assert_eq!(
                code, 0,
                "reset again after a crash at step {n} of resetting {scenario}:\n{text}"
            );
            assert_eq!(
                common::target_state(&bed.dbs).await,
                pristine,
                "reset again after a crash at step {n} of resetting {scenario}: not as before the run\n{text}"
            );
            let (code, text) = outcome(bed.command("migrate", &migrate).output().unwrap());
            assert_eq!(code, 0, "{text}");
            equal_to_source(&bed.dbs).await.unwrap();
        }
        points.push(format!("{scenario}: {steps}"));
    }
    eprintln!("reset crash points: {points:?}");
    bed.drop_copies().await;
}

/// Ctrl-C and a service stop (SIGTERM) right after a handful of steps (the ledger created, the target prepared,
/// mid-load, while keys are restored, completed): the run stops and each recovery still works.
#[tokio::test]
async fn migrate_interrupted_by_ctrl_c_or_sigterm_recovers() {
    let bed = Bed::new().await;
    let extra = small(&["--finish-early", "off"]);
    let resume = small(&["--resume"]);
    for signal in [Signal::Int, Signal::Term] {
        sweep_with(
            &bed,
            "migrate",
            &extra,
            Some(&resume),
            signal,
            Some(&[1, 2, 5, 12, 18, 19]),
        )
        .await;
    }
    bed.drop_copies().await;
}

/// `kill -9` at 20 instants drawn over the whole of a real-size run (Alkemio's schema, 50-row chunks, one reader and
/// one writer): every crash leaves a state each recovery handles (`PGCONVERGE_TEST_SEED` replays a draw).
#[tokio::test]
async fn kill_9_at_random_instants_of_a_real_size_run_always_recovers() {
    use pgconverge_testbed::facts::App;
    let dbs = TestDbs::new(App::Alkemio).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Alkemio, 41, 0.001, 2)
        .await
        .unwrap();
    let bed = Bed::of(dbs, "mappings/alkemio.toml".to_string()).await;
    let args = small(&[])
        .into_iter()
        .map(|a| if a == "20" { "50" } else { a })
        .collect::<Vec<_>>();
    let pristine = common::target_state(&bed.dbs).await;
    let started = std::time::Instant::now();
    let (code, text) = outcome(bed.command("migrate", &args).output().unwrap());
    assert_eq!(code, 0, "{text}");
    let whole = started.elapsed();
    let seed: u64 = std::env::var("PGCONVERGE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut rng = seed | 1;
    let mut next = move || {
        // xorshift64: enough spread for kill instants, and replayable from the seed.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..20 {
        bed.to_pristine().await;
        let at = whole.mul_f64((next() % 1000) as f64 / 1000.0);
        let mut child = bed
            .command("migrate", &args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        // SIGKILL on Unix; a run that already ended is not killed.
        let _ = child.kill();
        let status = child.wait().unwrap();
        let pg = common::pg_conn(&bed.dbs.target()).await;
        let state: String = pg
            .query_one("SELECT state FROM pgconverge.run", &[])
            .await
            .map(|r| r.get(0))
            .unwrap_or_else(|_| "no run recorded".into());
        drop(pg);
        let what =
            format!("kill {i} at {at:?} of {whole:?} (seed {seed}, {status}, ledger: {state})");
        *outcomes.entry(state).or_default() += 1;
        bed.save_crashed().await;
        let crashed = common::target_state(&bed.dbs).await;
        let (code, text) = outcome(
            bed.command("migrate", &small_resume(&args))
                .output()
                .unwrap(),
        );
        match code {
            0 => {
                common::compare::compare_all(App::Alkemio, &bed.dbs).await;
            }
            8 => assert!(
                names_the_way_on(&text) && common::target_state(&bed.dbs).await == crashed,
                "{what}: --resume refused without naming the way on, or changed the target:\n{text}"
            ),
            _ => panic!("{what}: --resume exited {code}:\n{text}"),
        }
        bed.to_crashed().await;
        let (code, text) = reset(&bed.dbs, &bed.mapping, true);
        assert_eq!(code, 0, "{what}: reset --yes:\n{text}");
        assert!(
            common::target_state(&bed.dbs).await == pristine,
            "{what}: reset left the target changed:\n{text}"
        );
        bed.to_crashed().await;
        let (code, text) = outcome(bed.command("migrate", &args).output().unwrap());
        match code {
            0 => {
                common::compare::compare_all(App::Alkemio, &bed.dbs).await;
            }
            8 => assert!(
                names_the_way_on(&text) && common::target_state(&bed.dbs).await == crashed,
                "{what}: the plain re-run refused without naming the way on, or changed the target:\n{text}"
            ),
            _ => panic!("{what}: the plain re-run exited {code}:\n{text}"),
        }
    }
    eprintln!("20 kills over a {whole:?} run (seed {seed}): ledger states {outcomes:?}");
    bed.drop_copies().await;
}

fn small_resume<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut a = args.to_vec();
    a.push("--resume");
    a
}
