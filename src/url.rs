//! Connection URLs: which engine a URL names, and its redacted form for every log line and report.

/// Replaces the password of a `scheme://user:password@host/...` URL with `***`; other text is left as is.
///
/// ```
/// assert_eq!(pgconverge::url::redact("mysql://app:s3cr3t@db:3306/x"), "mysql://app:***@db:3306/x");
/// assert_eq!(pgconverge::url::redact("postgres://db/x"), "postgres://db/x");
/// ```
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    // The userinfo ends at the last '@' before the path: passwords may contain '@' when percent-encoding is skipped.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

/// Replaces every URL's password inside a free text (error messages from drivers may echo the URL).
pub fn redact_all(text: &str, urls: &[&str]) -> String {
    let mut out = text.to_string();
    for u in urls {
        out = out.replace(u, &redact(u));
        if let Some(pw) = password(u) {
            if !pw.is_empty() {
                out = out.replace(pw, "***");
            }
        }
    }
    out
}

fn password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let userinfo = &rest[..at];
    userinfo.find(':').map(|c| &userinfo[c + 1..])
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
    fn redacts_passwords_with_special_characters() {
        assert_eq!(
            redact("postgres://u:p@ss@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("mysql://u@h/db"), "mysql://u@h/db");
        let msg = "failed for mysql://u:hunter2@h/db: hunter2 rejected";
        assert_eq!(
            redact_all(msg, &["mysql://u:hunter2@h/db"]),
            "failed for mysql://u:***@h/db: *** rejected"
        );
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
