//! Where a connection's password comes from when its connection string carries none, the way each server's own
//! clients look for it, so that no secret needs to sit in a shell history or in `ps`:
//!
//! - target (PostgreSQL): `--target-password-file FILE`, then `PGPASSWORD`, then the password file libpq reads
//!   (`PGPASSFILE`, else `~/.pgpass`: `host:port:database:user:password` lines, `*` for any, ignored unless only
//!   its owner can read it);
//! - source (MySQL): `--source-password-file FILE`, then `MYSQL_PWD`, then the `[client]` group of the option file
//!   the mysql client reads (`~/.my.cnf`).
//!
//! A connection service (`service=NAME` in the target string, else `PGSERVICE`) fills what the string does not
//! say from its section of the service file libpq reads (`PGSERVICEFILE`, else `~/.pg_service.conf`, else
//! `$PGSYSCONFDIR/pg_service.conf`): host, port, dbname, user, password, the TLS settings.
//!
//! A password given in the connection string always wins. The password never appears in a message: errors name
//! the file, not its content.

use std::path::{Path, PathBuf};

/// A password or service file that was named but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the {what} {path}: {message}")]
pub struct CredentialError {
    /// "password file" or "service file".
    pub what: &'static str,
    pub path: String,
    pub message: String,
}

/// The `--source-password-file` and `--target-password-file` of this run.
#[derive(Debug, Clone, Default)]
pub struct PasswordFiles {
    pub source: Option<PathBuf>,
    pub target: Option<PathBuf>,
}

static FILES: std::sync::OnceLock<PasswordFiles> = std::sync::OnceLock::new();

/// Records the run's password files; set once, before the first connection.
pub fn set_password_files(files: PasswordFiles) {
    FILES.get_or_init(|| files);
}

fn files() -> PasswordFiles {
    FILES.get().cloned().unwrap_or_default()
}

/// The first line of a password file, without its line end.
pub fn read_password_file(path: &Path) -> Result<String, CredentialError> {
    let err = |message: String| CredentialError {
        what: "password file",
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Err(err("its first line is empty".into()));
    }
    Ok(first.to_string())
}

/// Who the target connection is for, as libpq matches password-file lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgEndpoint {
    /// A host name or address, or `localhost` for a Unix socket (libpq's rule).
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
}

/// The target's password when the connection string has none.
pub fn target_password(at: &PgEndpoint) -> Result<Option<String>, CredentialError> {
    target_password_with(at, files().target.as_deref(), |k| std::env::var(k).ok())
}

fn target_password_with(
    at: &PgEndpoint,
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, CredentialError> {
    if let Some(f) = file {
        return read_password_file(f).map(Some);
    }
    if let Some(p) = env("PGPASSWORD").filter(|p| !p.is_empty()) {
        return Ok(Some(p));
    }
    let path = match env("PGPASSFILE") {
        Some(p) => PathBuf::from(p),
        None => match env("HOME") {
            Some(h) => Path::new(&h).join(".pgpass"),
            None => return Ok(None),
        },
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    if !owner_only(&path) {
        tracing::warn!(
            path = %path.display(),
            "The password file is readable by others than its owner: ignored, as libpq does (chmod 600 it)."
        );
        return Ok(None);
    }
    Ok(pgpass_lookup(&text, at))
}

/// Whether only the file's owner may read or write it (libpq ignores a `.pgpass` others can read).
fn owner_only(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
}

/// The password of the first `.pgpass` line matching `at` (`*` matches anything; `\:` and `\\` escape).
pub fn pgpass_lookup(text: &str, at: &PgEndpoint) -> Option<String> {
    let port = at.port.to_string();
    let want = [
        at.host.as_str(),
        port.as_str(),
        at.database.as_str(),
        at.user.as_str(),
    ];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .find_map(|line| {
            let fields = split_pgpass(line);
            if fields.len() < 5 {
                return None;
            }
            let matches = want.iter().zip(&fields).all(|(w, f)| f == "*" || f == w);
            matches.then(|| fields[4..].join(":"))
        })
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("one field").push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

/// The source's password when its URL has none.
pub fn source_password() -> Result<Option<String>, CredentialError> {
    source_password_with(files().source.as_deref(), |k| std::env::var(k).ok())
}

fn source_password_with(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, CredentialError> {
    if let Some(f) = file {
        return read_password_file(f).map(Some);
    }
    if let Some(p) = env("MYSQL_PWD").filter(|p| !p.is_empty()) {
        return Ok(Some(p));
    }
    let Some(home) = env("HOME") else {
        return Ok(None);
    };
    let Ok(text) = std::fs::read_to_string(Path::new(&home).join(".my.cnf")) else {
        return Ok(None);
    };
    Ok(option_file_password(&text))
}

/// `password` of the `[client]` group of a MySQL option file (quotes removed), the last one given.
pub fn option_file_password(text: &str) -> Option<String> {
    let mut group = String::new();
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(g) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            group = g.trim().to_ascii_lowercase();
            continue;
        }
        if group != "client" {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim().replace('_', "-") == "password" {
            let v = v.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            found = Some(unquoted.to_string());
        }
    }
    found
}

/// A connection service's settings: `(key, value)` in file order.
pub type Service = Vec<(String, String)>;

/// The service the target string names (`service=NAME`) or `PGSERVICE` names, and the string without the key.
/// A named service that no service file holds is an error naming the files looked in.
pub fn target_service(conn: &str) -> Result<(String, Option<Service>), CredentialError> {
    target_service_with(conn, |k| std::env::var(k).ok())
}

fn target_service_with(
    conn: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(String, Option<Service>), CredentialError> {
    let (rest, taken) = crate::url::take_params(conn, &["service"]);
    let name = match taken.into_iter().next_back() {
        Some((_, v)) => v,
        None => match env("PGSERVICE").filter(|v| !v.is_empty()) {
            Some(v) => v,
            None => return Ok((conn.to_string(), None)),
        },
    };
    let mut files = Vec::new();
    match env("PGSERVICEFILE") {
        Some(f) => files.push(PathBuf::from(f)),
        None => {
            if let Some(h) = env("HOME") {
                files.push(Path::new(&h).join(".pg_service.conf"));
            }
        }
    }
    if let Some(d) = env("PGSYSCONFDIR") {
        files.push(Path::new(&d).join("pg_service.conf"));
    }
    for f in &files {
        if let Ok(text) = std::fs::read_to_string(f) {
            if let Some(found) = service_section(&text, &name) {
                return Ok((rest, Some(found)));
            }
        }
    }
    Err(CredentialError {
        what: "service file",
        path: files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        message: format!("no service [{name}] in it (service= or PGSERVICE names it)"),
    })
}

/// The `key=value` lines of section `[name]` of a service file (`#` comments, blank lines ignored).
pub fn service_section(text: &str, name: &str) -> Option<Service> {
    let mut found: Option<Service> = None;
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == name;
            if inside && found.is_none() {
                found = Some(Vec::new());
            }
            continue;
        }
        if let (true, Some((k, v)), Some(f)) = (inside, line.split_once('='), found.as_mut()) {
            f.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> PgEndpoint {
        PgEndpoint {
            host: "db.example".into(),
            port: 5432,
            database: "alkemio".into(),
            user: "loader".into(),
        }
    }

    #[test]
    fn a_service_fills_from_its_section_and_the_string_loses_the_key() {
        let text = "# comment\n[other]\nhost=elsewhere\n\n[prod]\nhost = db.internal\nport=6432\nuser=app\n";
        let s = super::service_section(text, "prod").unwrap();
        assert_eq!(s[0], ("host".to_string(), "db.internal".to_string()));
        assert_eq!(s.len(), 3);
        assert!(super::service_section(text, "none").is_none());
        let dir = std::env::temp_dir().join(format!("pgc-service-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("services");
        std::fs::write(&file, text).unwrap();
        let env = |k: &str| (k == "PGSERVICEFILE").then(|| file.display().to_string());
        let (rest, found) = super::target_service_with("service=prod dbname=x", env).unwrap();
        assert_eq!(rest.trim(), "dbname='x'");
        assert_eq!(found.unwrap().len(), 3);
        let (rest, found) = super::target_service_with("dbname=x", env).unwrap();
        assert_eq!(rest, "dbname=x");
        assert!(found.is_none());
        let e = super::target_service_with("service=missing", env).unwrap_err();
        assert!(e.to_string().contains("no service [missing]"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pgpass_lines_match_as_libpq_matches_them() {
        let text = "# comment\n\
                    other:5432:*:*:wrong\n\
                    db.example:5432:alkemio:loader:pa\\:ss:word\n\
                    *:*:*:*:fallback\n";
        assert_eq!(pgpass_lookup(text, &at()).as_deref(), Some("pa:ss:word"));
        let mut elsewhere = at();
        elsewhere.port = 6543;
        assert_eq!(pgpass_lookup(text, &elsewhere).as_deref(), Some("fallback"));
        assert_eq!(pgpass_lookup("db.example:5432:alkemio\n", &at()), None);
    }

    #[test]
    fn the_target_password_comes_from_the_file_then_pgpassword_then_pgpass() {
        let dir = std::env::temp_dir().join(format!("pgc-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "from-file\nignored\n").unwrap();
        let pgpass = dir.join("pgpass");
        std::fs::write(&pgpass, "*:*:*:*:from-pgpass\n").unwrap();
        let env = |k: &str| match k {
            "PGPASSWORD" => Some("from-env".to_string()),
            "PGPASSFILE" => Some(pgpass.display().to_string()),
            _ => None,
        };
        let no_pw = |k: &str| if k == "PGPASSWORD" { None } else { env(k) };
        assert_eq!(
            target_password_with(&at(), Some(&file), env).unwrap(),
            Some("from-file".into())
        );
        assert_eq!(
            target_password_with(&at(), None, env).unwrap(),
            Some("from-env".into())
        );
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(target_password_with(&at(), None, no_pw).unwrap(), None);
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            target_password_with(&at(), None, no_pw).unwrap(),
            Some("from-pgpass".into())
        );
        let missing = dir.join("missing");
        let e = target_password_with(&at(), Some(&missing), env).unwrap_err();
        assert!(e.to_string().contains("missing"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_source_password_comes_from_the_file_then_mysql_pwd_then_my_cnf() {
        assert_eq!(
            option_file_password(
                "[mysqld]\npassword=no\n[client]\nuser=x\npassword = \"sec ret\"\n"
            ),
            Some("sec ret".into())
        );
        assert_eq!(option_file_password("[mysql]\npassword=no\n"), None);
        let env = |k: &str| (k == "MYSQL_PWD").then(|| "from-env".to_string());
        assert_eq!(
            source_password_with(None, env).unwrap(),
            Some("from-env".into())
        );
        assert_eq!(source_password_with(None, |_| None).unwrap(), None);
    }
}
