//! Which copied table a statement logged in the followed database names: a statement on a copied table stops
//! the follower (pgconverge applies row changes, not statements), any other passes. A statement logged in another
//! database counts as the followed database's when it names that database (`db.table`).

use std::collections::HashSet;

/// The first of `tables` that `sql` names as an identifier (bare or quoted, alone or after a database name).
pub fn mentioned<'t>(sql: &str, tables: impl Iterator<Item = &'t str>) -> Option<&'t str> {
    let words: HashSet<String> = identifiers(sql);
    tables
        .into_iter()
        .find(|t| words.contains(&t.to_lowercase()))
}

/// Every identifier of a statement, lower-cased: backquoted ones whole, bare ones as runs of word characters.
/// String literals are left out, so a value that happens to spell a table's name does not count.
fn identifiers(sql: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                let mut id = String::new();
                while let Some(c) = chars.next() {
                    if c == '`' {
                        if chars.peek() == Some(&'`') {
                            chars.next();
                            id.push('`');
                            continue;
                        }
                        break;
                    }
                    id.push(c);
                }
                out.insert(id.to_lowercase());
            }
            '\'' | '"' => {
                while let Some(n) = chars.next() {
                    if n == '\\' {
                        chars.next();
                    } else if n == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                            continue;
                        }
                        break;
                    }
                }
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                let mut id = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' || n == '$' {
                        id.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.insert(id.to_lowercase());
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_tables_by_identifier_only() {
        let t = ["film", "payment", "Store"];
        let m = |sql: &str| mentioned(sql, t.iter().copied());
        assert_eq!(m("TRUNCATE TABLE film"), Some("film"));
        assert_eq!(m("ALTER TABLE `shop`.`payment` ADD x int"), Some("payment"));
        assert_eq!(m("drop table STORE"), Some("Store"));
        assert_eq!(m("CREATE TABLE films (id int)"), None);
        assert_eq!(m("INSERT INTO log VALUES ('film', \"payment\")"), None);
        assert_eq!(m("CREATE TABLE `film``s` (a int)"), None);
    }
}
