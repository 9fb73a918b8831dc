//! Connection strings: their redacted form for every message, log line and report, and the passwords they carry
//! (as the drivers read them) for scrubbing free text. Every form a driver accepts is covered: URLs with a
//! password in the userinfo or in a `password=` query parameter, and libpq's `key=value` form.

/// Query parameters and libpq keys that hold a password.
const PASSWORD_KEYS: &[&str] = &["password", "pass", "pwd"];

fn is_password_key(k: &str) -> bool {
    PASSWORD_KEYS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(k.trim()))
}

/// What a connection string that does not have the form of a URL or of libpq's `key=value` list is shown as: it
/// is never echoed, since where its password ends cannot be told.
pub const MALFORMED: &str = "(a malformed connection string, not shown)";

/// A connection string that has neither form; the message says which part is wrong, never what it holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {side} connection string is malformed: {what}; write it as {example}")]
pub struct Malformed {
    pub side: &'static str,
    pub what: &'static str,
    pub example: &'static str,
}

/// Checks the form of `conn` (`side`: `source`, a `mysql://` URL, or `target`, a `postgres://` or
/// `postgresql://` URL or libpq's `key=value` list) before anything connects.
pub fn check_form(side: &'static str, conn: &str) -> Result<(), Malformed> {
    let example = match side {
        "source" => "mysql://user:password@host:port/database",
        _ => "postgres://user:password@host:port/database, or host=... user=... dbname=...",
    };
    let bad = |what| {
        Err(Malformed {
            side,
            what,
            example,
        })
    };
    let schemes: &[&str] = match side {
        "source" => &["mysql"],
        _ => &["postgres", "postgresql"],
    };
    match conn.find("://") {
        Some(end) if schemes.contains(&&conn[..end]) => {
            let rest = &conn[end + 3..];
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if host.is_empty() && side == "source" {
                return bad("it names no host after the '@'");
            }
            Ok(())
        }
        Some(_) => bad("its scheme is not one this side takes"),
        None if side == "source" => bad("it does not begin with mysql://"),
        None if conn.contains('@') || conn.starts_with("postgres") => {
            bad("it is no URL (no '://' after the scheme) and no key=value list")
        }
        None => match key_values_complete(conn) {
            true => Ok(()),
            false => bad("it is no URL and not a list of key=value pairs"),
        },
    }
}

/// Whether all of `conn` reads as libpq `key=value` pairs with word keys.
fn key_values_complete(conn: &str) -> bool {
    let pairs = key_values(conn);
    let words = pairs.iter().all(|(k, _, _)| {
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    let end = pairs.last().map_or(0, |(_, _, r)| r.end);
    words && !pairs.is_empty() && conn[end..].trim().is_empty()
}

/// The connection string with every password replaced by `***`; other text is left as is. A string of neither
/// form ([`check_form`]) is not shown at all ([`MALFORMED`]).
///
/// ```
/// use pgconverge::url::redact;
/// assert_eq!(redact("mysql://app:s3cr3t@db:3306/x"), "mysql://app:***@db:3306/x");
/// assert_eq!(redact("postgres://app@db/x?password=s3cr3t&sslmode=require"), "postgres://app@db/x?password=***&sslmode=require");
/// assert_eq!(redact("host=db user=app password='s 3' dbname=x"), "host=db user=app password=*** dbname=x");
/// assert_eq!(redact("postgres://db/x"), "postgres://db/x");
/// ```
pub fn redact(conn: &str) -> String {
    match conn.find("://") {
        Some(scheme_end) if scheme_end > 0 => redact_url(conn, scheme_end),
        None if key_values_complete(conn) => redact_key_values(conn),
        _ => MALFORMED.to_string(),
    }
}

fn redact_url(url: &str, scheme_end: usize) -> String {
    let head = &url[..scheme_end + 3];
    let rest = &url[scheme_end + 3..];
    // The userinfo ends at the last '@' before the path: passwords may contain '@' when percent-encoding is skipped.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}:***{}", &userinfo[..colon], &authority[at..]),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let (query, fragment) = match query.find('#') {
                Some(h) => query.split_at(h),
                None => (query, ""),
            };
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if is_password_key(k) => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}{}{fragment}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{head}{authority}{tail}")
}

/// libpq's `key=value` form: values are bare words or single-quoted with backslash escapes.
fn key_values(conn: &str) -> Vec<(String, String, std::ops::Range<usize>)> {
    let b = conn.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = conn[key_start..i].to_string();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            break;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value_start = i;
        let mut value = String::new();
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch = conn[i..].chars().next().expect("in bounds");
                value.push(ch);
                i += ch.len_utf8();
            }
            i = (i + 1).min(b.len());
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            value.push_str(&conn[value_start..i]);
        }
        out.push((key, value, value_start..i));
    }
    out
}

fn redact_key_values(conn: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    for (key, _, range) in key_values(conn) {
        if is_password_key(&key) {
            out.push_str(&conn[last..range.start]);
            out.push_str("***");
            last = range.end;
        }
    }
    out.push_str(&conn[last..]);
    out
}

/// The connection string without the TLS parameters pgconverge reads itself (`tls`), which the drivers' parsers
/// do not all accept.
fn without_tls(conn: &str) -> String {
    take_params(conn, &["sslmode", "sslrootcert", "ssl-mode", "ssl-ca"]).0
}

/// Every password `conn` carries: as its driver decodes it (percent-decoding, quoting) and as written.
pub fn passwords(conn: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(scheme_end) = conn.find("://") {
        let rest = &conn[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                out.push(rest[colon + 1..at].to_string());
            }
        }
        if let Some(q) = rest.find('?') {
            for p in rest[q + 1..].split(['&', '#']) {
                if let Some((k, v)) = p.split_once('=') {
                    if is_password_key(k) {
                        out.push(v.to_string());
                    }
                }
            }
        }
        if conn.starts_with("mysql") {
            if let Ok(opts) = mysql_async::Opts::from_url(&without_tls(conn)) {
                out.extend(opts.pass().map(str::to_string));
            }
        }
    } else {
        out.extend(
            key_values(conn)
                .into_iter()
                .filter(|(k, _, _)| is_password_key(k))
                .map(|(_, v, _)| v),
        );
    }
    if !conn.starts_with("mysql") {
        if let Ok(c) = without_tls(conn).parse::<tokio_postgres::Config>() {
            if let Some(p) = c.get_password() {
                out.push(String::from_utf8_lossy(p).into_owned());
            }
        }
    }
    out.retain(|p| !p.is_empty());
    out.sort();
    out.dedup();
    out
}

/// Replaces every connection string and every password it carries inside a free text (error messages from
/// drivers may echo either).
pub fn redact_all(text: &str, conns: &[&str]) -> String {
    let mut out = text.to_string();
    for c in conns {
        out = out.replace(c, &redact(c));
        for pw in passwords(c) {
            out = scrub(&out, &pw);
        }
    }
    out
}

/// `text` with `secret` replaced by `***`. A short secret is replaced only where it stands alone (not inside a word):
/// inside words it would garble the message (`looku***`) and show which letters it holds.
fn scrub(text: &str, secret: &str) -> String {
    if secret.chars().count() >= 6 {
        return text.replace(secret, "***");
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(secret) {
        let (before, after) = (
            rest[..i].chars().next_back(),
            rest[i + secret.len()..].chars().next(),
        );
        out.push_str(&rest[..i]);
        if word(before) || word(after) {
            out.push_str(secret);
        } else {
            out.push_str("***");
        }
        rest = &rest[i + secret.len()..];
    }
    out.push_str(rest);
    out
}

/// Returns `base` with its database path replaced by `db` (`mysql://u:p@h:1/old` -> `mysql://u:p@h:1/db`).
pub fn with_database(base: &str, db: &str) -> String {
    let Some(scheme_end) = base.find("://") else {
        return format!("{base}/{db}");
    };
    let rest = &base[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let query = rest[authority_end..]
        .find('?')
        .map(|q| &rest[authority_end + q..])
        .unwrap_or("");
    format!(
        "{}{}/{db}{query}",
        &base[..scheme_end + 3],
        &rest[..authority_end]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_every_form() {
        assert_eq!(
            redact("postgres://u:p@ss@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("mysql://u@h/db"), "mysql://u@h/db");
        assert_eq!(
            redact("postgresql://u@h/db?sslmode=require&Password=x%20y#f"),
            "postgresql://u@h/db?sslmode=require&Password=***#f"
        );
        assert_eq!(
            redact("host=h  password = 'it\\'s q' user=u"),
            "host=h  password = *** user=u"
        );
        let msg = "failed for mysql://u:hunter2@h/db: hunter2 rejected";
        assert_eq!(
            redact_all(msg, &["mysql://u:hunter2@h/db"]),
            "failed for mysql://u:***@h/db: *** rejected"
        );
    }

    #[test]
    fn a_malformed_string_is_never_shown() {
        for conn in [
            "mysql:/u:PASSWORD@host/db",
            "postgres//u:PASSWORD@host/db",
            "u:PASSWORD@host/db",
            "host=h password=PASSWORD stray",
            "://u:PASSWORD@h/db",
        ] {
            assert_eq!(redact(conn), MALFORMED, "{conn}");
            assert!(
                !redact_all(&format!("bad: {conn}"), &[conn]).contains("PASSWORD"),
                "{conn}"
            );
        }
        assert!(check_form("source", "mysql:/u:PASSWORD@host/db").is_err());
        assert!(check_form("target", "postgres//u:PASSWORD@host/db").is_err());
        assert!(check_form("target", "u:PASSWORD@host/db").is_err());
        assert!(check_form("source", "postgres://u:p@h/db").is_err());
        assert!(check_form("target", "host=h password=PASSWORD stray").is_err());
        assert!(check_form("source", "mysql://u:p@h:1/db").is_ok());
        assert!(check_form("target", "postgresql://u:p@ss@h/db").is_ok());
        assert!(check_form("target", "host=h user=u password='a b'").is_ok());
        let e = check_form("source", "mysql:/u:PASSWORD@host/db")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("PASSWORD") && e.contains("mysql://"), "{e}");
    }

    #[test]
    fn a_short_password_is_scrubbed_only_where_it_stands_alone() {
        let c = "postgres://u:p@h/db";
        assert_eq!(
            redact_all("failed to lookup address: p rejected", &[c]),
            "failed to lookup address: *** rejected"
        );
    }

    #[test]
    fn finds_passwords_as_the_drivers_read_them() {
        assert_eq!(
            passwords("postgres://u:p%40ss@h/db"),
            ["p%40ss".to_string(), "p@ss".to_string()]
        );
        assert_eq!(
            passwords("host=h password='a b\\'c'"),
            ["a b'c".to_string()]
        );
        assert_eq!(
            passwords("postgres://u@h/db?password=s3"),
            ["s3".to_string()]
        );
        assert_eq!(passwords("mysql://u:m%21y@h/db"), ["m!y", "m%21y"]);
        assert!(passwords("postgres://u@h/db").is_empty());
    }

    #[test]
    fn replaces_the_database() {
        assert_eq!(with_database("mysql://u:p@h:1", "x"), "mysql://u:p@h:1/x");
        assert_eq!(
            with_database("postgres://u:p@h:1/old?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
    }
}

/// Takes the parameters named `keys` out of a connection string (URL query or libpq `key=value` form): the
/// string without them, and their values (the last one of each key wins, as in libpq).
pub fn take_params(conn: &str, keys: &[&str]) -> (String, Vec<(String, String)>) {
    let mut taken = Vec::new();
    if conn.contains("://") {
        let Some((base, query)) = conn.split_once('?') else {
            return (conn.to_string(), taken);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                if keys.contains(&k) {
                    taken.push((k.to_string(), v.to_string()));
                    false
                } else {
                    !p.is_empty()
                }
            })
            .collect();
        let rest = match kept.is_empty() {
            true => base.to_string(),
            false => format!("{base}?{}", kept.join("&")),
        };
        return (rest, taken);
    }
    let mut rest = Vec::new();
    for (k, v, _) in key_values(conn) {
        if keys.contains(&k.as_str()) {
            taken.push((k, v));
        } else {
            rest.push(format!(
                "{k}='{}'",
                v.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    (rest.join(" "), taken)
}

#[cfg(test)]
mod take_tests {
    use super::take_params;

    #[test]
    fn parameters_come_out_of_both_forms() {
        let (rest, taken) = take_params(
            "postgres://u:p@h:5432/db?sslmode=verify-full&application_name=x&sslrootcert=/ca.pem",
            &["sslmode", "sslrootcert"],
        );
        assert_eq!(rest, "postgres://u:p@h:5432/db?application_name=x");
        assert_eq!(
            taken,
            vec![
                ("sslmode".into(), "verify-full".into()),
                ("sslrootcert".into(), "/ca.pem".into())
            ]
        );
        let (rest, taken) = take_params("mysql://u:p@h/db?ssl-mode=REQUIRED", &["ssl-mode"]);
        assert_eq!((rest.as_str(), taken.len()), ("mysql://u:p@h/db", 1));
        let (rest, taken) = take_params(
            "host=h password='a b\\'c' sslmode=verify-ca dbname=d",
            &["sslmode"],
        );
        assert_eq!(rest, "host='h' password='a b\\'c' dbname='d'");
        assert_eq!(taken, vec![("sslmode".into(), "verify-ca".into())]);
    }
}
