//! `pgconverge export`: chunk files with a header row and a manifest whose sizes and SHA-256 match the files,
//! loadable with plain `psql \copy` exactly as docs/csv-format.md shows, giving a target equal to the source
//! cell for cell (independent comparison), as the non-superuser owner. A non-empty directory is refused.

mod common;

use pgconverge_testbed::facts::App;

fn out_dir(dbs: &common::TestDbs) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("pgc-export-{}", dbs.name))
}

/// The by-hand load of docs/csv-format.md, as one psql script built from the manifest.
fn psql_script(dir: &std::path::Path, m: &serde_json::Value) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut sql = String::from("BEGIN;\n");
    for fk in m["foreign_keys"].as_array().unwrap() {
        sql += &format!(
            "ALTER TABLE {} DROP CONSTRAINT {};\n",
            q(fk["table"].as_str().unwrap()),
            q(fk["name"].as_str().unwrap())
        );
    }
    for t in m["seeded_tables"].as_array().unwrap() {
        sql += &format!("DELETE FROM {};\n", q(t.as_str().unwrap()));
    }
    for f in m["files"].as_array().unwrap() {
        let cols: Vec<String> = f["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| q(c.as_str().unwrap()))
            .collect();
        sql += &format!(
            "\\copy {} ({}) FROM '{}' (FORMAT csv, HEADER true)\n",
            q(f["target_table"].as_str().unwrap()),
            cols.join(", "),
            dir.join(f["path"].as_str().unwrap()).display()
        );
    }
    for fk in m["foreign_keys"].as_array().unwrap() {
        sql += &format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {};\n",
            q(fk["table"].as_str().unwrap()),
            q(fk["name"].as_str().unwrap()),
            fk["definition"].as_str().unwrap()
        );
    }
    sql + "COMMIT;\n"
}

/// A Kratos source (seed `seed`, scale 0.02) and its test's export directory, empty.
async fn kratos_with_empty_dir(seed: u64) -> (common::TestDbs, std::path::PathBuf) {
    let a = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&a.source_admin(), App::Kratos, seed, 0.02, 2)
        .await
        .unwrap();
    let dir = out_dir(&a);
    let _ = std::fs::remove_dir_all(&dir);
    (a, dir)
}

async fn exported_and_loaded_by_hand(app: App, scale: f64) {
    let dbs = common::TestDbs::new(app).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), app, 51, scale, 2)
        .await
        .unwrap();
    let dir = out_dir(&dbs);
    let _ = std::fs::remove_dir_all(&dir);
    let before = common::target_state(&dbs).await;
    let (code, text) = common::run(
        &dbs,
        "export",
        &["--out", dir.to_str().unwrap(), "--chunk-rows", "500"],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        common::target_state(&dbs).await,
        before,
        "export must not change the target"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["format_version"], 1);
    let files = m["files"].as_array().unwrap();
    assert!(
        files.len() > m["tables"].as_array().unwrap().len(),
        "several chunks per big table"
    );
    for f in files {
        let path = dir.join(f["path"].as_str().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, f["bytes"].as_u64().unwrap(), "{path:?}");
        // An independent SHA-256: the coreutils one.
        let out = std::process::Command::new("sha256sum")
            .arg(&path)
            .output()
            .unwrap();
        let sum = String::from_utf8_lossy(&out.stdout);
        assert!(
            sum.starts_with(f["sha256"].as_str().unwrap()),
            "{path:?}: {sum}"
        );
        let header = bytes.split(|b| *b == b'\n').next().unwrap();
        let cols: Vec<&str> = f["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(String::from_utf8_lossy(header), cols.join(","), "{path:?}");
    }
    let rows: u64 = files.iter().map(|f| f["rows"].as_u64().unwrap()).sum();
    assert!(rows > 0);
    // No partial file is left under any name.
    let partial = walk(&dir)
        .into_iter()
        .filter(|p| p.ends_with(".partial"))
        .count();
    assert_eq!(partial, 0);

    let script = dir.join("load.sql");
    std::fs::write(&script, psql_script(&dir, &m)).unwrap();
    let out = std::process::Command::new("psql")
        .args([
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            script.to_str().unwrap(),
            &dbs.target(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::compare::compare_all(app, &dbs).await;

    // A second export into the same directory is refused, and allowed with --replace.
    let (code, text) = common::run(&dbs, "export", &["--out", dir.to_str().unwrap()]);
    assert_eq!(code, 8, "{text}");
    assert!(text.contains("not empty"), "{text}");
    let (code, text) = common::run(
        &dbs,
        "export",
        &["--out", dir.to_str().unwrap(), "--replace"],
    );
    assert_eq!(code, 0, "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[tokio::test]
async fn alkemio_exported_and_loaded_with_psql() {
    exported_and_loaded_by_hand(App::Alkemio, 0.002).await;
}

#[tokio::test]
async fn kratos_exported_and_loaded_with_psql() {
    exported_and_loaded_by_hand(App::Kratos, 0.05).await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let _ = std::fs::remove_dir_all(to);
    let status = std::process::Command::new("cp")
        .args(["-r", from.to_str().unwrap(), to.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn import(dbs: &common::TestDbs, dir: &std::path::Path, mapping: &str) -> (i32, String) {
    import_with(dbs, dir, mapping, &[])
}

fn import_with(
    dbs: &common::TestDbs,
    dir: &std::path::Path,
    mapping: &str,
    extra: &[&str],
) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgconverge"))
        .args([
            "import",
            "--mapping",
            mapping,
            "--from",
            dir.to_str().unwrap(),
        ])
        .args(extra)
        .env("PGCONVERGE_TARGET", dbs.target())
        .env("PGCONVERGE_LOG", "warn")
        .output()
        .unwrap();
    common::runs::outcome(out)
}

/// Export from one pair of databases, import into a second target whose source holds the same generated data:
/// the second target equals its source cell for cell, and its catalog is unchanged. `extra`: flags of the import.
async fn exported_and_imported(app: App, scale: f64, extra: &[&str]) {
    let a = common::TestDbs::new(app).await;
    let b = common::TestDbs::new(app).await;
    for dbs in [&a, &b] {
        pgconverge_testbed::gen::generate(&dbs.source_admin(), app, 52, scale, 2)
            .await
            .unwrap();
    }
    let dir = out_dir(&a);
    let _ = std::fs::remove_dir_all(&dir);
    let (code, text) = common::run(
        &a,
        "export",
        &[
            "--out",
            dir.to_str().unwrap(),
            "--chunk-rows",
            "400",
            "--format",
            "both",
        ],
    );
    assert_eq!(code, 0, "{text}");
    let catalog = |s: String| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("rows ") && !l.starts_with("sequence "))
            .map(str::to_string)
            .collect()
    };
    let before = catalog(common::target_state(&b).await);
    let mapping = format!("mappings/{}.toml", app.name());
    let (code, text) = import_with(&b, &dir, &mapping, extra);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Imported"), "{text}");
    // The import verified the target against the export's digests and recorded checks by itself.
    assert!(
        text.contains("Verified in")
            && text.contains("against the export's digests")
            && text.contains("all equal"),
        "{text}"
    );
    common::compare::compare_all(app, &b).await;
    // The Parquet files beside the CSV hold every table's rows (read by pyarrow, counted against the target).
    let m = pgconverge::manifest::Manifest::read(&dir).unwrap();
    // Each recorded check answer keeps at most its first rows, with the count and digest of all of them; the
    // import above compared a longer one (Alkemio's credentials by type) in full.
    let kept = pgconverge::util::answer::HEAD_ROWS;
    for c in &m.checks {
        let rows = c.source_rows.as_ref().unwrap();
        let count = c.source_row_count.unwrap() as usize;
        assert!(
            rows.len() == count.min(kept) && c.source_digest.is_some(),
            "{c:?}"
        );
    }
    if app == App::Alkemio {
        assert!(
            m.checks
                .iter()
                .any(|c| c.source_row_count.unwrap() as usize > kept),
            "no recorded answer is longer than the kept rows"
        );
    }
    let pg = common::pg_conn(&b.target()).await;
    for table in &m.tables {
        let files: Vec<_> = m
            .files
            .iter()
            .filter(|f| {
                &f.target_table == table && f.format == pgconverge::manifest::FileFormat::Parquet
            })
            .map(|f| dir.join(&f.path))
            .collect();
        let rows = common::read_parquet(&files)["rows"]
            .as_array()
            .unwrap()
            .len() as i64;
        let want: i64 = pg
            .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, want, "Parquet rows of {table}");
    }
    // Beside the kept baseline (the completed run's ledger schema) the catalog is unchanged, and reset removes
    // that too.
    let mut after = catalog(common::target_state(&b).await);
    after.retain(|l| l != "schema pgconverge");
    assert_eq!(after, before, "the target catalog changed");
    let (code, text) = common::runs::reset(&b, &mapping, true);
    assert_eq!(code, 0, "{text}");
    assert_eq!(catalog(common::target_state(&b).await), before);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn alkemio_exported_and_imported() {
    // Tables are finished while others load (the default only with cores to spare).
    exported_and_imported(App::Alkemio, 0.002, &["--finish-early", "on"]).await;
}

#[tokio::test]
async fn kratos_exported_and_imported() {
    exported_and_imported(App::Kratos, 0.05, &["--finish-early", "off"]).await;
}

/// A value the target changes on the way in (a trigger) is caught by the import's own verification: exit 6
/// naming table, key, column and both values, the exported one read back from the files.
#[tokio::test]
async fn import_catches_a_value_the_target_changed_on_the_way_in() {
    let (a, dir) = kratos_with_empty_dir(54).await;
    let (code, text) = common::run(&a, "export", &["--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    let pg = common::pg_conn(&a.target()).await;
    pg.batch_execute(
        "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN NEW.subject := translate(NEW.subject, 'a', 'A'); RETURN NEW; END $$;
         CREATE TRIGGER shout BEFORE INSERT ON courier_messages FOR EACH ROW EXECUTE FUNCTION shout();",
    )
    .await
    .unwrap();
    let checklist = std::env::temp_dir().join(format!("{}-checklist.md", a.name));
    let (code, text) = common::run(
        &a,
        "import",
        &[
            "--from",
            dir.to_str().unwrap(),
            "--checklist",
            checklist.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 6, "{text}");
    for needle in [
        "FAILED table courier_messages",
        "column subject",
        "the import completed",
        "pgconverge reset --yes",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let md = std::fs::read_to_string(&checklist).unwrap();
    assert!(md.contains("courier_messages"), "{md}");
    // The keys the import's finish validated are taken from the catalog, not scanned again.
    assert!(
        md.contains("every value has its parent row: PostgreSQL validated the key")
            && !md.contains("every value has its parent row\n"),
        "{md}"
    );
    // Without the trigger, after a reset, the same export imports and verifies clean.
    pg.batch_execute("DROP TRIGGER shout ON courier_messages")
        .await
        .unwrap();
    let (code, text) = common::runs::reset(&a, "mappings/kratos.toml", true);
    assert_eq!(code, 0, "{text}");
    let (code, text) = common::run(&a, "import", &["--from", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("all equal"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_file(&checklist).ok();
}

/// Each corruption stops the import before any write, naming the file; the target is unchanged.
#[tokio::test]
async fn a_corrupt_export_is_refused_before_any_write() {
    let (a, dir) = kratos_with_empty_dir(53).await;
    let (code, text) = common::run(
        &a,
        "export",
        &["--out", dir.to_str().unwrap(), "--chunk-rows", "100"],
    );
    assert_eq!(code, 0, "{text}");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let file = m["files"][0]["path"].as_str().unwrap().to_string();
    let pristine = common::target_state(&a).await;
    let broken = std::env::temp_dir().join(format!("pgc-broken-{}", a.name));
    let other_mapping = std::env::temp_dir().join(format!("{}-kratos.toml", a.name));
    std::fs::write(
        &other_mapping,
        std::fs::read_to_string("mappings/kratos.toml")
            .unwrap()
            .replace(
                "[skip_tables]\n",
                "[skip_tables]\nlegacy_sessions = \"a rule the export did not have\"\n",
            ),
    )
    .unwrap();
    type Corrupt = Box<dyn Fn(&std::path::Path)>;
    let f = file.clone();
    let cases: Vec<(&str, Corrupt, &str)> = vec![
        (
            "truncated file",
            Box::new({
                let f = f.clone();
                move |d| {
                    let p = d.join(&f);
                    let b = std::fs::read(&p).unwrap();
                    std::fs::write(&p, &b[..b.len() / 2]).unwrap();
                }
            }),
            &file,
        ),
        (
            "one byte changed",
            Box::new({
                let f = f.clone();
                move |d| {
                    let p = d.join(&f);
                    let mut b = std::fs::read(&p).unwrap();
                    let i = b.len() - 3;
                    b[i] ^= 0x01;
                    std::fs::write(&p, b).unwrap();
                }
            }),
            &file,
        ),
        (
            "missing file",
            Box::new({
                let f = f.clone();
                move |d| std::fs::remove_file(d.join(&f)).unwrap()
            }),
            &file,
        ),
        (
            "extra file",
            Box::new(|d| std::fs::write(d.join("identities/99999.csv"), "id\n").unwrap()),
            "99999.csv",
        ),
        (
            "edited manifest",
            Box::new({
                let f = f.clone();
                move |d| {
                    let p = d.join("manifest.json");
                    let mut m: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                    let i = m["files"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .position(|x| x["path"] == f.as_str())
                        .unwrap();
                    m["files"][i]["sha256"] = serde_json::json!("00".repeat(32));
                    std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
                }
            }),
            &file,
        ),
    ];
    for (what, corrupt, needle) in cases {
        copy_dir(&dir, &broken);
        std::fs::create_dir_all(broken.join("identities")).unwrap();
        corrupt(&broken);
        let (code, text) = import(&a, &broken, "mappings/kratos.toml");
        assert_eq!(code, 8, "{what}: {text}");
        assert!(
            text.contains(needle),
            "{what}: the message lacks {needle:?}: {text}"
        );
        assert!(text.contains("nothing was written"), "{what}: {text}");
        assert_eq!(
            common::target_state(&a).await,
            pristine,
            "{what}: the target changed"
        );
    }
    copy_dir(&dir, &broken);
    let (code, text) = import(&a, &broken, other_mapping.to_str().unwrap());
    assert_eq!(code, 8, "{text}");
    assert!(text.contains("another mapping"), "{text}");
    assert_eq!(common::target_state(&a).await, pristine);
    // The intact export still loads.
    let (code, text) = import(&a, &dir, "mappings/kratos.toml");
    assert_eq!(code, 0, "{text}");
    common::compare::compare_all(App::Kratos, &a).await;
    for p in [&dir, &broken] {
        std::fs::remove_dir_all(p).ok();
    }
    std::fs::remove_file(other_mapping).ok();
}

/// `pgconverge export` of Kratos in small chunks into `dir`, one reader and one writer.
fn export_cmd(
    dbs: &common::TestDbs,
    dir: &std::path::Path,
    extra: &[&str],
) -> std::process::Command {
    let mut args = vec![
        "--out",
        dir.to_str().unwrap(),
        "--chunk-rows",
        "60",
        "--readers",
        "1",
        "--writers",
        "1",
    ];
    args.extend_from_slice(extra);
    common::runs::command_of(dbs, "export", "mappings/kratos.toml", &args)
}

fn output(mut c: std::process::Command) -> (i32, String) {
    let out = c.output().unwrap();
    common::runs::outcome(out)
}

/// Final (not temporary) data files under `dir`, relative, with their sizes.
fn final_files(dir: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for t in std::fs::read_dir(dir).unwrap() {
        let t = t.unwrap();
        if !t.file_type().unwrap().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(t.path()).unwrap() {
            let f = f.unwrap();
            let name = f.file_name().to_string_lossy().into_owned();
            assert!(
                !name.ends_with(".partial"),
                "a temporary file stayed: {name}"
            );
            out.insert(
                format!("{}/{name}", t.file_name().to_string_lossy()),
                f.metadata().unwrap().len(),
            );
        }
    }
    out
}

/// Every final file is one the journal recorded, with the size it recorded: nothing half-written under a final
/// name.
fn all_journaled(dir: &std::path::Path) -> usize {
    let journal = std::fs::read_to_string(dir.join(pgconverge::manifest::JOURNAL)).unwrap();
    let mut recorded = std::collections::BTreeMap::new();
    for line in journal.lines().skip(1) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for f in v["chunk"]["files"].as_array().unwrap() {
            recorded.insert(
                f["path"].as_str().unwrap().to_string(),
                f["bytes"].as_u64().unwrap(),
            );
        }
    }
    let files = final_files(dir);
    for (path, bytes) in &files {
        assert_eq!(
            recorded.get(path),
            Some(bytes),
            "{path} is not as the journal recorded it"
        );
    }
    files.len()
}

#[tokio::test]
async fn an_interrupted_export_resumes_keeping_the_files_already_written() {
    let (a, dir) = kratos_with_empty_dir(54).await;
    let mut p = common::runs::start_paused_with(
        export_cmd(&a, &dir, &["--format", "both"]),
        "chunk:5",
        "600",
    );
    p.child.kill().unwrap();
    p.finish();
    assert!(!dir.join(pgconverge::manifest::FILE).exists());
    let before = final_files(&dir);
    assert_eq!(
        all_journaled(&dir),
        10,
        "five chunks, a CSV and a Parquet file each"
    );
    let mtimes: Vec<_> = before
        .keys()
        .map(|f| std::fs::metadata(dir.join(f)).unwrap().modified().unwrap())
        .collect();
    // Without --resume the directory is refused, naming the way on.
    let (code, text) = output(export_cmd(&a, &dir, &["--format", "both"]));
    assert_eq!(code, 8, "{text}");
    assert!(text.contains("--resume"), "{text}");
    // Other tests write to the same server and move its binary log: only the operator's word proves this source
    // unchanged.
    let (code, text) = output(export_cmd(
        &a,
        &dir,
        &["--format", "both", "--resume", "--source-quiesced"],
    ));
    assert_eq!(code, 0, "{text}");
    for (f, t) in before.keys().zip(mtimes) {
        let now = std::fs::metadata(dir.join(f)).unwrap().modified().unwrap();
        assert_eq!(now, t, "{f} was written again");
    }
    assert!(!dir.join(pgconverge::manifest::JOURNAL).exists());
    // The resumed export is whole: it imports into a target equal to the source cell for cell.
    let (code, text) = common::run(&a, "import", &["--from", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("all equal"), "{text}");
    common::compare::compare_all(App::Kratos, &a).await;
    std::fs::remove_dir_all(&dir).ok();
}

/// A small file system of its own for the export (tmpfs; the tests run as root, as CI does).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "cannot mount a tmpfs on {}", dir.display());
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_full_disk_stops_the_export_cleanly_and_it_resumes_once_there_is_room() {
    let a = common::TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&a.source_admin(), App::Kratos, 55, 0.02, 2)
        .await
        .unwrap();
    let disk = SmallDisk::mount(&out_dir(&a), "64m");
    let dir = disk.0.join("export");
    // Too little room by the source's size estimate: refused before anything is written.
    let tiny = SmallDisk::mount(&disk.0.join("tiny"), "16k");
    let (code, text) = output(export_cmd(&a, &tiny.0.join("export"), &[]));
    assert_eq!(code, 8, "{text}");
    assert!(
        text.contains("MB free") && text.contains("nothing was written"),
        "{text}"
    );
    drop(tiny);
    // Room enough at the start; then the disk fills up while the export writes.
    let p = common::runs::start_paused_with(export_cmd(&a, &dir, &[]), "export-writing", "3");
    let filler = disk.0.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 << 10];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    drop(f);
    // Leave room for a few files, not for all of them.
    let len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(len - (256 << 10))
        .unwrap();
    let (code, text) = p.finish();
    assert_eq!(
        code,
        Some(9),
        "a full disk mid-run is exit 9 (files), not a usage error: {text}"
    );
    for needle in ["No space left on device", "export --resume", ".csv"] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!dir.join(pgconverge::manifest::FILE).exists());
    let kept = all_journaled(&dir);
    assert!(kept > 0, "some files fitted before the disk was full");
    std::fs::remove_file(&filler).unwrap();
    let (code, text) = output(export_cmd(&a, &dir, &["--resume", "--source-quiesced"]));
    assert_eq!(code, 0, "{text}");
    let (code, text) = common::run(&a, "import", &["--from", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    common::compare::compare_all(App::Kratos, &a).await;
}
