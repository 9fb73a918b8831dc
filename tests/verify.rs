//! `pgconverge verify` on the real servers: after a correct migration it passes and its checklist names every table
//! and check; each difference planted afterwards, one at a time, makes it exit 6 naming table, key and column,
//! and undoing the plant makes it pass again. A reordered jsonb key is the documented equivalent and passes.

mod common;

use mysql_async::prelude::Queryable;
use pgconverge_testbed::facts::App;

fn verify(dbs: &common::TestDbs) -> (i32, String) {
    common::run(dbs, "verify", &["--readers", "2", "--writers", "2"])
}

/// Runs `sql` on the target as the superuser, with triggers and foreign key checks off (as a broken load or a
/// manual edit would leave them).
async fn on_target(dbs: &common::TestDbs, sql: &str) {
    let pg = common::pg_conn(&dbs.target_super()).await;
    pg.batch_execute(&format!("SET session_replication_role = replica; {sql}"))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
}

/// Saves the row of `table` with `id` into the `plant` schema, then runs `change`; `undo` puts the row back.
fn saved(table: &str, id: &str, change: &str) -> (String, String) {
    (
        format!(
            "CREATE SCHEMA IF NOT EXISTS plant; DROP TABLE IF EXISTS plant.b; \
             CREATE TABLE plant.b AS SELECT * FROM \"{table}\" WHERE id = '{id}'; {change}"
        ),
        format!(
            "DELETE FROM \"{table}\" WHERE id = '{id}'; INSERT INTO \"{table}\" SELECT * FROM plant.b; \
             DROP SCHEMA plant CASCADE"
        ),
    )
}

async fn first_id(dbs: &common::TestDbs, sql: &str) -> String {
    let pg = common::pg_conn(&dbs.target_super()).await;
    pg.query_one(sql, &[]).await.unwrap().get(0)
}

async fn migrated(app: App, scale: f64) -> common::TestDbs {
    let dbs = common::TestDbs::new(app).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), app, 3, scale, 2)
        .await
        .unwrap();
    let (code, out) = common::run(&dbs, "migrate", &["--chunk-rows", "50"]);
    assert_eq!(code, 0, "{out}");
    dbs
}

#[tokio::test]
async fn alkemio_verify_passes_then_catches_each_planted_difference() {
    let dbs = migrated(App::Alkemio, 0.002).await;
    let (code, out) = verify(&dbs);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASSED"), "{out}");
    let pg = common::pg_conn(&dbs.target_super()).await;
    let tables = common::strings(
        &pg,
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_type = 'BASE TABLE'",
    )
    .await;
    let listed = tables
        .iter()
        .filter(|t| out.contains(&format!("- [x] table {t}: ")))
        .count();
    // Every loaded table is listed (target-only tables are not compared).
    assert!(
        listed >= tables.len() - 2,
        "listed {listed} of {}:\n{out}",
        tables.len()
    );
    assert!(out.contains("- [x] foreign key "), "{out}");
    assert!(out.contains("- [x] sequence of user.rowId"), "{out}");
    // The mapping's critical-data checks, and the items the operator ticks by hand.
    for item in [
        "- [x] users: count, ids, emails and account UPNs: ",
        "- [x] memberships and roles: credentials by type and resource: ",
        "- [x] whiteboards decode to the same bytes: ",
        "- [ ] (by hand) Sign in as an existing user",
    ] {
        assert!(out.contains(item), "missing {item:?} in:\n{out}");
    }

    let user = first_id(&dbs, "SELECT id::text FROM \"user\" ORDER BY id LIMIT 1").await;
    let space = first_id(&dbs, "SELECT id::text FROM space ORDER BY id LIMIT 1").await;
    let board = first_id(
        &dbs,
        "SELECT id::text FROM whiteboard WHERE content <> '' ORDER BY id LIMIT 1",
    )
    .await;
    let tagset = first_id(&dbs, "SELECT id::text FROM tagset ORDER BY id LIMIT 1").await;
    // The credential whose type the credentials check lists last: past the answer rows a check keeps, so only the
    // digest over every row can see it change.
    let last_credential = first_id(
        &dbs,
        "SELECT id::text FROM credential ORDER BY type COLLATE \"C\" DESC, id LIMIT 1",
    )
    .await;
    let rank: i64 = pg
        .query_one(
            &format!(
                "SELECT count(DISTINCT type) FROM credential WHERE type COLLATE \"C\" < \
                 (SELECT type FROM credential WHERE id = '{last_credential}') COLLATE \"C\""
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        rank > pgconverge::util::answer::HEAD_ROWS as i64,
        "the planted credential is answer row {rank}, inside the kept rows"
    );
    let plants: Vec<(&str, (String, String), Vec<String>)> = vec![
        (
            "one changed character",
            saved("user", &user, &format!("UPDATE \"user\" SET \"firstName\" = \"firstName\" || 'x' WHERE id = '{user}'")),
            vec!["table user".into(), format!("id={user}"), "column firstName: source ".into(), "x\"".into()],
        ),
        (
            "one changed microsecond",
            saved("space", &space, &format!("UPDATE space SET \"createdDate\" = \"createdDate\" + interval '1 microsecond' WHERE id = '{space}'")),
            vec!["table space".into(), "createdDate".into()],
        ),
        (
            "one flipped boolean",
            saved("user", &user, &format!("UPDATE \"user\" SET \"serviceProfile\" = NOT \"serviceProfile\" WHERE id = '{user}'")),
            vec!["serviceProfile".into(), format!("id={user}")],
        ),
        (
            "one byte of a whiteboard",
            saved("whiteboard", &board, &format!(
                "UPDATE whiteboard SET content = overlay(content placing \
                 (CASE WHEN substr(content, 5, 1) = 'A' THEN 'B' ELSE 'A' END) from 5 for 1) WHERE id = '{board}'")),
            // The mapping's independent check (raw bytes on MySQL, base64 decoded on PostgreSQL) fails too.
            vec!["table whiteboard".into(), "content".into(), "failed: table whiteboard, whiteboards decode to the same bytes".into()],
        ),
        (
            "a credential listed after the kept answer rows",
            saved("credential", &last_credential, &format!(
                "UPDATE credential SET \"resourceID\" = \"resourceID\" || 'x' WHERE id = '{last_credential}'")),
            vec!["table credential".into(), format!("id={last_credential}"),
                 "failed: table credential, memberships and roles: credentials by type and resource".into()],
        ),
        (
            "one deleted row",
            saved("tagset", &tagset, &format!("DELETE FROM tagset WHERE id = '{tagset}'")),
            vec!["table tagset".into(), "missing in the target".into()],
        ),
        (
            "one orphan foreign key value",
            saved("space", &space, &format!(
                "UPDATE space SET \"parentSpaceId\" = '00000000-0000-4000-8000-00000000dead' WHERE id = '{space}'")),
            vec!["foreign key space.".into(), "00000000-0000-4000-8000-00000000dead".into()],
        ),
        (
            "a sequence below the maximum",
            (
                "SELECT setval(pg_get_serial_sequence('\"user\"', 'rowId'), 1)".into(),
                "SELECT setval(pg_get_serial_sequence('\"user\"', 'rowId'), (SELECT max(\"rowId\") FROM \"user\"))".into(),
            ),
            vec!["sequence of user.rowId".into(), "FAILED".into()],
        ),
    ];
    for (what, (plant, undo), needles) in plants {
        on_target(&dbs, &plant).await;
        let (code, out) = verify(&dbs);
        assert_eq!(code, 6, "{what}: {out}");
        for n in &needles {
            assert!(out.contains(n.as_str()), "{what}: missing {n:?} in:\n{out}");
        }
        on_target(&dbs, &undo).await;
        let (code, out) = verify(&dbs);
        assert_eq!(code, 0, "after undoing {what}: {out}");
    }
}

#[tokio::test]
async fn kratos_jsonb_reordered_keys_pass_a_changed_value_and_an_extra_row_do_not() {
    let dbs = migrated(App::Kratos, 0.02).await;
    let (code, out) = verify(&dbs);
    assert_eq!(code, 0, "{out}");
    for item in [
        "- [x] password credentials: hashes byte-identical: ",
        "- [x] identifiers linked to their credential, type and identity: ",
        "- [x] active sessions and their tokens: ",
    ] {
        assert!(out.contains(item), "missing {item:?} in:\n{out}");
    }
    let id = first_id(&dbs, "SELECT id::text FROM identities ORDER BY id LIMIT 1").await;
    // jsonb keeps no key order: a value written with its keys reversed is the same document.
    on_target(
        &dbs,
        &format!(
            "UPDATE identities SET traits = (SELECT jsonb_object_agg(key, value) FROM \
             (SELECT * FROM jsonb_each(traits) ORDER BY key DESC) e) WHERE id = '{id}'"
        ),
    )
    .await;
    let (code, out) = verify(&dbs);
    assert_eq!(code, 0, "reordered keys: {out}");
    let (plant, undo) = saved(
        "identities",
        &id,
        &format!("UPDATE identities SET traits = traits || '{{\"email\": \"changed@example.org\"}}' WHERE id = '{id}'"),
    );
    on_target(&dbs, &plant).await;
    let (code, out) = verify(&dbs);
    assert_eq!(code, 6, "{out}");
    assert!(
        out.contains(&format!("id={id}"))
            && out.contains("traits")
            && out.contains("changed@example.org"),
        "{out}"
    );
    on_target(&dbs, &undo).await;
    // A row only the target has.
    on_target(
        &dbs,
        &format!(
            "INSERT INTO identities SELECT '00000000-0000-4000-8000-0000000000ee', schema_id, traits, created_at, \
             updated_at, nid, state, state_changed_at, metadata_public, metadata_admin, available_aal, organization_id \
             FROM identities WHERE id = '{id}'"
        ),
    )
    .await;
    let (code, out) = verify(&dbs);
    assert_eq!(code, 6, "{out}");
    assert!(
        out.contains("00000000-0000-4000-8000-0000000000ee only in the target"),
        "{out}"
    );
}

/// `migrate` verifies at the end from the digests of the rows it sent: a target trigger that changes a value on
/// the way in (the load itself succeeds) is caught, named, and ends the run with exit 6; `--no-verify` skips it.
#[tokio::test]
async fn migrate_catches_a_value_the_target_changed_on_the_way_in() {
    let dbs = common::TestDbs::bare(
        "CREATE TABLE note (id int PRIMARY KEY, body varchar(40) NOT NULL);\n\
         INSERT INTO note VALUES (1, 'kept'), (2, 'changed by a trigger'), (3, 'kept too');\n\
         CREATE TABLE tag (id int PRIMARY KEY, note_id int NOT NULL, FOREIGN KEY (note_id) REFERENCES note (id));\n\
         INSERT INTO tag VALUES (1, 1), (2, 3)",
        "CREATE TABLE note (id integer PRIMARY KEY, body varchar(40) NOT NULL);
         CREATE TABLE tag (id integer PRIMARY KEY, note_id integer NOT NULL CONSTRAINT tag_note REFERENCES note (id));
         CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN IF NEW.id = 2 THEN NEW.body := upper(NEW.body); END IF; RETURN NEW; END $$;
         CREATE TRIGGER shout BEFORE INSERT ON note FOR EACH ROW EXECUTE FUNCTION shout();",
    )
    .await;
    let mapping = std::env::temp_dir().join(format!("{}.toml", dbs.name));
    std::fs::write(
        &mapping,
        "app = \"notes\"\n\n[[checks]]\nname = \"note bodies\"\nphase = \"core features\"\n\
         source = \"SELECT id, body FROM note ORDER BY id\"\ntarget = \"SELECT id, body FROM note ORDER BY id\"\n",
    )
    .unwrap();
    let report = std::env::temp_dir().join(format!("{}.json", dbs.name));
    let checklist = std::env::temp_dir().join(format!("{}.md", dbs.name));
    let run =
        |extra: &[&str]| common::run_mapping(&dbs, "migrate", mapping.to_str().unwrap(), extra);
    let (code, out) = run(&[
        "--report",
        report.to_str().unwrap(),
        "--checklist",
        checklist.to_str().unwrap(),
    ]);
    assert_eq!(code, 6, "{out}");
    for needle in [
        "table note",
        "id=2 column body: source \"changed by a trigger\" target \"CHANGED BY A TRIGGER\"",
        "the load completed",
        "pgconverge verify",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // The check's source answer was asked during the load; the difference is named by its row. The key the
    // finish validated is taken from the catalog, not scanned again.
    let md = std::fs::read_to_string(&checklist).unwrap();
    for needle in [
        "- [ ] note bodies: FAILED: source (at the run's snapshot) [1 | kept; 2 | changed by a trigger; 3 | kept too] \
         but target [1 | kept; 2 | CHANGED BY A TRIGGER; 3 | kept too]; first difference at row 2",
        "- [x] foreign key tag.tag_note -> note: every value has its parent row: PostgreSQL validated the key",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in:\n{md}");
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["verified"], serde_json::Value::Bool(false), "{r}");
    // A verify of its own scans the key (nothing proves who wrote the rows since) and asks the source now.
    let (code, _) = common::run_mapping(
        &dbs,
        "verify",
        mapping.to_str().unwrap(),
        &["--checklist", checklist.to_str().unwrap()],
    );
    assert_eq!(code, 6);
    let md = std::fs::read_to_string(&checklist).unwrap();
    assert!(
        md.contains("- [x] foreign key tag.tag_note -> note: every value has its parent row\n")
            && md.contains("FAILED: source [1 | kept;"),
        "{md}"
    );
    // When the source cannot be asked the checks during the load, the verification asks it afterwards (one
    // warning) and still finds the difference; a kept directory needs the answers, so that run stops.
    let (code, out) = common::runs::reset(&dbs, mapping.to_str().unwrap(), true);
    assert_eq!(code, 0, "{out}");
    let failing = |extra: &[&str]| {
        let out = common::runs::command(&dbs, mapping.to_str().unwrap(), extra)
            .env("PGCONVERGE_FAIL_AT", "load-checks")
            .output()
            .unwrap();
        common::runs::outcome(out)
    };
    let (code, out) = failing(&["--checklist", checklist.to_str().unwrap()]);
    assert_eq!(code, 6, "{out}");
    assert!(
        out.contains("Could not ask the source the mapping's checks during the load")
            && out.contains("refused by the test hook load-checks"),
        "{out}"
    );
    let md = std::fs::read_to_string(&checklist).unwrap();
    assert!(
        md.contains("note bodies: FAILED: source [1 | kept;"),
        "{md}"
    );
    let (code, out) = common::runs::reset(&dbs, mapping.to_str().unwrap(), true);
    assert_eq!(code, 0, "{out}");
    let kept = std::env::temp_dir().join(format!("{}-kept", dbs.name));
    let (code, out) = failing(&["--keep", kept.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("refused by the test hook load-checks") && out.contains("`--resume`"),
        "{out}"
    );
    std::fs::remove_dir_all(&kept).ok();
    let (code, out) = common::runs::reset(&dbs, mapping.to_str().unwrap(), true);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&["--no-verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("Verified"), "{out}");
    std::fs::remove_file(&checklist).ok();
}

/// A completed migrate keeps the digests of the rows it sent: a later `verify` told the source is unchanged
/// reads only the target against them (here the binary log has moved since the run, so without the flag it reads
/// the source, saying that it cannot tell a lost row from a new one), and still names a planted difference, reading
/// the source for that bucket.
#[tokio::test]
async fn a_later_verify_reuses_the_load_digests_when_the_source_is_unchanged() {
    let dbs = migrated(App::Kratos, 0.02).await;
    let report = std::env::temp_dir().join(format!("{}-verify.json", dbs.name));
    let side = |extra: &[&str]| {
        let mut args = vec!["--report", report.to_str().unwrap()];
        args.extend_from_slice(extra);
        let (code, out) = common::run(&dbs, "verify", &args);
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        (code, out, r["source_side"].as_str().unwrap().to_string())
    };
    // The test server keeps a binary log; a new file moves its position whatever the other tests do.
    let mut admin = common::mysql_conn(&common::mysql_admin()).await;
    admin.query_drop("FLUSH BINARY LOGS").await.unwrap();
    admin.disconnect().await.ok();
    let (code, out, source_side) = side(&[]);
    assert_eq!((code, source_side.as_str()), (0, "read"), "{out}");
    assert!(out.contains("the source has moved since the run"), "{out}");
    let (code, out, source_side) = side(&["--source-unchanged"]);
    assert_eq!((code, source_side.as_str()), (0, "load"), "{out}");
    assert!(out.contains("PASSED"), "{out}");
    let id = first_id(&dbs, "SELECT id::text FROM identities ORDER BY id LIMIT 1").await;
    on_target(
        &dbs,
        &format!(
            "UPDATE identities SET state = 'inactive' WHERE id = '{id}' AND state <> 'inactive'"
        ),
    )
    .await;
    let (code, out, source_side) = side(&["--source-unchanged"]);
    assert_eq!((code, source_side.as_str()), (6, "load"), "{out}");
    assert!(
        out.contains(&format!("id={id}")) && out.contains("state"),
        "{out}"
    );
    std::fs::remove_file(&report).ok();
}
