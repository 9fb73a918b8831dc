//! Whether the source's binary log can carry a copy's changes to the target after the copy (change capture):
//! the server settings and the reading user's privileges it needs, each missing one named with the statement
//! that provides it. Only reads server variables and the user's own grants.

use mysql_async::prelude::Queryable;
use serde::Serialize;

use super::SourceError;

/// One thing the source lacks for change capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lack {
    /// The server variable or privilege.
    pub what: String,
    /// What the source has.
    pub found: String,
    /// What change capture needs.
    pub needed: String,
    /// How to give it, as the operator would type it.
    pub fix: String,
}

/// A privilege on `*.*` the reading user needs, and the grants that include it.
struct Needed {
    privilege: &'static str,
    why: &'static str,
    /// Any of these in the user's grants on `*.*` gives it (`REPLICATION CLIENT` is MariaDB's older name of
    /// `BINLOG MONITOR`, `REPLICA` MySQL's newer name of `SLAVE`).
    given_by: &'static [&'static str],
}

const PRIVILEGES: [Needed; 2] = [
    Needed {
        privilege: "REPLICATION SLAVE",
        why: "to read the binary log as a replica does",
        given_by: &["REPLICATION SLAVE", "REPLICATION REPLICA", "ALL PRIVILEGES"],
    },
    Needed {
        privilege: "BINLOG MONITOR",
        why: "to read the binary log's position",
        given_by: &[
            "BINLOG MONITOR",
            "REPLICATION CLIENT",
            "SUPER",
            "ALL PRIVILEGES",
        ],
    },
];

/// The privileges the grant lines give on `*.*` (upper case, one per entry).
fn global_privileges(grants: &[String]) -> Vec<String> {
    grants
        .iter()
        .filter_map(|g| {
            let rest = g.trim().strip_prefix("GRANT ")?;
            let (privs, on) = rest.split_once(" ON ")?;
            on.trim_start()
                .starts_with("*.*")
                .then(|| privs.split(',').map(|p| p.trim().to_uppercase()))
        })
        .flatten()
        .collect()
}

/// What the user whose grants are `grants` lacks of [`PRIVILEGES`]; `user` names it in the fix.
fn missing_privileges(grants: &[String], user: &str) -> Vec<Lack> {
    let have = global_privileges(grants);
    PRIVILEGES
        .iter()
        .filter(|n| !n.given_by.iter().any(|g| have.iter().any(|h| h == g)))
        .map(|n| Lack {
            what: format!("privilege {}", n.privilege),
            found: if have.is_empty() {
                "no global privileges".into()
            } else {
                have.join(", ")
            },
            needed: format!("{} ({})", n.privilege, n.why),
            fix: format!("GRANT {} ON *.* TO {user};", n.privilege),
        })
        .collect()
}

/// A server variable and the value change capture needs.
fn setting(name: &str, found: Option<&str>, needed: &str, fix: &str) -> Option<Lack> {
    let found = found.unwrap_or("unset");
    (!found.eq_ignore_ascii_case(needed)).then(|| Lack {
        what: name.to_string(),
        found: found.to_string(),
        needed: needed.to_string(),
        fix: fix.to_string(),
    })
}

/// `log_bin`, `binlog_format`, `binlog_row_image` (NULL where the server has no such variable), `CURRENT_USER()`.
type Settings = (Option<String>, Option<String>, Option<String>, String);

/// A boolean server variable as SHOW VARIABLES prints it: servers return `1`/`0` or `ON`/`OFF`.
fn on_off(v: &str) -> &str {
    match v {
        "1" => "ON",
        "0" => "OFF",
        other => other,
    }
}

/// Everything the source lacks for change capture; empty when its binary log can be followed.
pub async fn readiness(conn: &mut mysql_async::Conn) -> Result<Vec<Lack>, SourceError> {
    let err = |context: &str| {
        let context = context.to_string();
        move |source| SourceError::Query { context, source }
    };
    let row: Option<Settings> = conn
        .query_first(
            "SELECT CAST(@@GLOBAL.log_bin AS CHAR), @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image, \
             CURRENT_USER()",
        )
        .await
        .map_err(err("reading the binary log settings"))?;
    let (log_bin, format, image, user) = row.unwrap_or_default();
    let mut lacks = Vec::new();
    let log_bin = log_bin.as_deref().map(on_off);
    lacks.extend(setting(
        "log_bin",
        log_bin,
        "ON",
        "start the server with log-bin (and a server-id) in its configuration",
    ));
    lacks.extend(setting(
        "binlog_format",
        format.as_deref(),
        "ROW",
        "SET GLOBAL binlog_format = 'ROW'; and binlog_format=ROW in the server's configuration",
    ));
    lacks.extend(setting(
        "binlog_row_image",
        image.as_deref(),
        "FULL",
        "SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image=FULL in the server's configuration",
    ));
    // Compressed events are a format of their own, the follower does not read them: MariaDB's (log_bin_compress)
    // and MySQL's compressed transactions (binlog_transaction_compression, 8.0.20 on). Each server lacks the
    // other's variable.
    for variable in ["log_bin_compress", "binlog_transaction_compression"] {
        if let Ok(Some(Some(value))) = conn
            .query_first::<Option<String>, _>(format!("SELECT CAST(@@GLOBAL.{variable} AS CHAR)"))
            .await
        {
            lacks.extend(setting(
                variable,
                Some(on_off(&value)),
                "OFF",
                &format!(
                    "SET GLOBAL {variable} = OFF; and remove {variable} from the server's configuration"
                ),
            ));
        }
    }
    let grants: Vec<String> = conn
        .query("SHOW GRANTS FOR CURRENT_USER()")
        .await
        .map_err(err("reading the source user's grants"))?;
    let quoted = match user.rsplit_once('@') {
        Some((name, host)) => format!("'{name}'@'{host}'"),
        None => format!("'{user}'"),
    };
    lacks.extend(missing_privileges(&grants, &quoted));
    Ok(lacks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_are_read_from_the_global_grant_lines() {
        let grants = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let reader = grants(&[
            "GRANT SELECT, RELOAD, PROCESS, BINLOG MONITOR ON *.* TO `pgc_reader`@`127.0.0.1` IDENTIFIED BY PASSWORD '*x'",
            "GRANT ALL PRIVILEGES ON `app`.* TO `pgc_reader`@`127.0.0.1`",
        ]);
        let lacks = missing_privileges(&reader, "'pgc_reader'@'127.0.0.1'");
        assert_eq!(lacks.len(), 1, "{lacks:?}");
        assert_eq!(lacks[0].what, "privilege REPLICATION SLAVE");
        assert_eq!(
            lacks[0].fix,
            "GRANT REPLICATION SLAVE ON *.* TO 'pgc_reader'@'127.0.0.1';"
        );
        // ALL PRIVILEGES on a database is not global; on *.* it is.
        assert!(
            missing_privileges(&grants(&["GRANT ALL PRIVILEGES ON *.* TO `root`@`%`"]), "r")
                .is_empty()
        );
        assert!(missing_privileges(
            &grants(&["GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `u`@`%`"]),
            "u"
        )
        .is_empty());
        assert_eq!(
            missing_privileges(&grants(&["GRANT USAGE ON *.* TO `u`@`%`"]), "u").len(),
            2
        );
    }

    #[test]
    fn settings_compare_without_case() {
        assert_eq!(setting("binlog_format", Some("row"), "ROW", "f"), None);
        let l = setting("binlog_row_image", Some("MINIMAL"), "FULL", "f").unwrap();
        assert_eq!((l.found.as_str(), l.needed.as_str()), ("MINIMAL", "FULL"));
        assert_eq!(setting("log_bin", None, "ON", "f").unwrap().found, "unset");
    }
}
