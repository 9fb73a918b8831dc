//! Passwords from where each server's own clients look for them, so that none sits in a URL: the password-file
//! flags, `PGPASSWORD` and `MYSQL_PWD`, a `.pgpass` file (`PGPASSFILE`) and the `[client]` group of `~/.my.cnf`;
//! a file that cannot be read is a usage error before anything connects, and no password is ever printed.

mod common;

use std::process::Command;

use common::runs::outcome;
use common::TestDbs;
use pgconverge_testbed::facts::App;

/// `scheme://user:password@rest` -> (`scheme://user@rest`, password).
fn without_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let (user, password) = userinfo.split_once(':').unwrap();
    (format!("{scheme}://{user}@{host}"), password.to_string())
}

struct Bare {
    dir: std::path::PathBuf,
    source: String,
    source_pw: String,
    target: String,
    target_pw: String,
}

impl Bare {
    fn new(dbs: &TestDbs) -> Bare {
        let dir = std::env::temp_dir().join(format!("{}-cred", dbs.name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (source, source_pw) = without_password(&dbs.source());
        let (target, target_pw) = without_password(&dbs.target());
        Bare {
            dir,
            source,
            source_pw,
            target,
            target_pw,
        }
    }

    /// `pgconverge plan` with URLs that carry no password and a HOME holding nothing.
    fn plan(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pgconverge"));
        c.args(["plan", "--mapping", "mappings/kratos.toml"])
            .args(args)
            .env("PGCONVERGE_SOURCE", &self.source)
            .env("PGCONVERGE_TARGET", &self.target)
            .env("PGCONVERGE_LOG", "warn")
            .env("HOME", &self.dir)
            .env_remove("PGPASSWORD")
            .env_remove("PGPASSFILE")
            .env_remove("MYSQL_PWD");
        c
    }

    fn file(&self, name: &str, text: &str, mode: u32) -> String {
        use std::os::unix::fs::PermissionsExt as _;
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p.display().to_string()
    }
}

#[tokio::test]
async fn passwords_come_from_files_and_the_environment_never_from_the_url() {
    let dbs = TestDbs::new(App::Kratos).await;
    let b = Bare::new(&dbs);

    let (code, text) = outcome(b.plan(&[]).output().unwrap());
    assert_eq!(code, 3, "no password anywhere: the server refuses\n{text}");

    let sf = b.file("source.pw", &format!("{}\n", b.source_pw), 0o600);
    let tf = b.file("target.pw", &format!("{}\n", b.target_pw), 0o600);
    let (code, text) = outcome(
        b.plan(&["--source-password-file", &sf, "--target-password-file", &tf])
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "the password-file flags\n{text}");

    let (code, text) = outcome(
        b.plan(&[])
            .env("MYSQL_PWD", &b.source_pw)
            .env("PGPASSWORD", &b.target_pw)
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "MYSQL_PWD and PGPASSWORD\n{text}");

    let pgpass = b.file(
        "pgpass",
        &format!(
            "otherhost:*:*:*:wrong\n127.0.0.1:*:{}:pgc_owner:{}\n",
            dbs.name, b.target_pw
        ),
        0o600,
    );
    b.file(
        ".my.cnf",
        &format!(
            "[mysqld]\npassword=wrong\n[client]\npassword=\"{}\"\n",
            b.source_pw
        ),
        0o600,
    );
    let (code, text) = outcome(b.plan(&[]).env("PGPASSFILE", &pgpass).output().unwrap());
    assert_eq!(code, 0, "a .pgpass file and ~/.my.cnf\n{text}");

    // A .pgpass others can read is ignored, as libpq ignores it.
    let open = b.file("pgpass-open", &format!("*:*:*:*:{}\n", b.target_pw), 0o644);
    let (code, text) = outcome(b.plan(&[]).env("PGPASSFILE", &open).output().unwrap());
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("readable by others"), "{text}");

    // A wrong password from a file: refused by the server, and the password is not printed.
    let wrong = b.file("wrong.pw", "n0t-the-Passw0rd\n", 0o600);
    let (code, text) = outcome(
        b.plan(&["--target-password-file", &wrong])
            .output()
            .unwrap(),
    );
    assert_eq!(code, 3, "{text}");
    assert!(!text.contains("n0t-the-Passw0rd"), "{text}");

    // A file that cannot be read: a usage error before anything connects, naming the file.
    let missing = b.dir.join("missing.pw");
    let (code, text) = outcome(
        b.plan(&["--source-password-file", missing.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("missing.pw"), "{text}");
    std::fs::remove_dir_all(&b.dir).ok();
}

#[tokio::test]
async fn a_connection_service_names_the_target_from_the_service_file() {
    let dbs = TestDbs::new(App::Kratos).await;
    let b = Bare::new(&dbs);
    // postgres://user@host:port/db, as Bare keeps it.
    let rest = b.target.split_once("://").unwrap().1;
    let (user, rest) = rest.split_once('@').unwrap();
    let (hostport, db) = rest.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap();
    let services = b.file(
        "services.conf",
        &format!(
            "# other services first\n[elsewhere]\nhost=192.0.2.1\n\n[pgc]\nhost={host}\nport={port}\n\
             dbname={db}\nuser={user}\npassword={}\nsslmode=disable\n",
            b.target_pw
        ),
        0o600,
    );
    // service= in the string.
    let (code, text) = outcome(
        b.plan(&[])
            .env("PGCONVERGE_TARGET", "service=pgc")
            .env("MYSQL_PWD", &b.source_pw)
            .env("PGSERVICEFILE", &services)
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "service=pgc\n{text}");
    assert!(!text.contains(&b.target_pw), "{text}");
    // PGSERVICE, the string saying only what it adds.
    let (code, text) = outcome(
        b.plan(&[])
            .env("PGCONVERGE_TARGET", "connect_timeout=10")
            .env("PGSERVICE", "pgc")
            .env("MYSQL_PWD", &b.source_pw)
            .env("PGSERVICEFILE", &services)
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "PGSERVICE=pgc\n{text}");
    // A service no file holds: named, with the files looked in.
    let (code, text) = outcome(
        b.plan(&[])
            .env("PGCONVERGE_TARGET", "service=nope")
            .env("MYSQL_PWD", &b.source_pw)
            .env("PGSERVICEFILE", &services)
            .output()
            .unwrap(),
    );
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("no service [nope]") && text.contains("services.conf"),
        "{text}"
    );
}
