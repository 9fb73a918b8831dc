//! Quoting identifiers and literals for both dialects, in one place: MySQL (backquotes; string literals for a
//! session with backslash escapes on, which every reader session sets) and PostgreSQL (double quotes).

/// A MySQL identifier in backquotes.
pub fn mysql_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A MySQL string literal for a session without NO_BACKSLASH_ESCAPES.
pub fn mysql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_mysql_string(&mut out, s);
    out
}

/// Appends `s` as a quoted MySQL string literal (backslash, quote and NUL escaped) to `out`.
pub fn push_mysql_string(out: &mut String, s: &str) {
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// A PostgreSQL identifier in double quotes.
pub fn pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL string literal (standard_conforming_strings, the default since 9.1).
pub fn pg_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `"schema"."table"`.
pub fn pg_qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", pg_ident(schema), pg_ident(table))
}

/// The two SQL dialects pgconverge writes queries in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    MySql,
    Postgres,
}

impl Dialect {
    pub fn ident(self, name: &str) -> String {
        match self {
            Dialect::MySql => mysql_ident(name),
            Dialect::Postgres => pg_ident(name),
        }
    }
}

/// A foreign key's (child column, parent column) pairs, as [`orphan_sql`] takes them.
pub fn key_pairs<'a>(columns: &'a [String], ref_columns: &'a [String]) -> Vec<(&'a str, &'a str)> {
    columns
        .iter()
        .map(String::as_str)
        .zip(ref_columns.iter().map(String::as_str))
        .collect()
}

/// Rows of `child` whose foreign key (`pairs` of child column, parent column) has no row in `parent`: selects
/// the row's key (`key` columns joined by `, `, or the ctid without a key) and the dangling value. On MySQL an
/// empty string is no reference either, since it becomes NULL in a nullable uuid column. `child` and `parent`
/// are already quoted (and qualified) table names.
pub fn orphan_sql(
    d: Dialect,
    child: &str,
    parent: &str,
    key: &[String],
    pairs: &[(&str, &str)],
    limit: u32,
) -> String {
    let c = |col: &str| format!("c.{}", d.ident(col));
    let key_expr = if key.is_empty() {
        "c.ctid::text".to_string()
    } else {
        format!(
            "concat_ws(', ', {})",
            key.iter().map(|k| c(k)).collect::<Vec<_>>().join(", ")
        )
    };
    let present: Vec<String> = pairs
        .iter()
        .map(|&(col, _)| match d {
            Dialect::MySql => format!("{0} IS NOT NULL AND {0} <> ''", c(col)),
            Dialect::Postgres => format!("{} IS NOT NULL", c(col)),
        })
        .collect();
    let join: Vec<String> = pairs
        .iter()
        .map(|&(col, r)| format!("p.{} = {}", d.ident(r), c(col)))
        .collect();
    let values: Vec<String> = pairs.iter().map(|&(col, _)| c(col)).collect();
    format!(
        "SELECT {key_expr}, concat_ws(', ', {}) FROM {child} c WHERE {} AND NOT EXISTS \
         (SELECT 1 FROM {parent} p WHERE {}) LIMIT {limit}",
        values.join(", "),
        present.join(" AND "),
        join.join(" AND ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers() {
        assert_eq!(mysql_string("a'b\\c\0"), "'a''b\\\\c\\0'");
        assert_eq!(mysql_ident("we`ird"), "`we``ird`");
        assert_eq!(pg_qualified("s", "t\"x"), "\"s\".\"t\"\"x\"");
    }

    #[test]
    fn orphan_queries_in_both_dialects() {
        let pairs = [("parentId", "id")];
        assert_eq!(
            orphan_sql(Dialect::MySql, "`c`", "`p`", &["id".into()], &pairs, 5),
            "SELECT concat_ws(', ', c.`id`), concat_ws(', ', c.`parentId`) FROM `c` c WHERE c.`parentId` IS NOT NULL \
             AND c.`parentId` <> '' AND NOT EXISTS (SELECT 1 FROM `p` p WHERE p.`id` = c.`parentId`) LIMIT 5"
        );
        assert!(orphan_sql(Dialect::Postgres, "c", "p", &[], &pairs, 1)
            .starts_with("SELECT c.ctid::text"));
    }
}
