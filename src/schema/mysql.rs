//! Introspection of the MySQL/MariaDB source through `information_schema` (read-only queries).

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;

use super::{SourceColumn, SourceTable};

/// Errors reading the source catalogue.
#[derive(Debug, thiserror::Error)]
pub enum SourceSchemaError {
    #[error("reading the source catalogue of database {db} failed: {source}")]
    Query {
        db: String,
        source: mysql_async::Error,
    },
}

/// ER_UNKNOWN_SYSTEM_VARIABLE.
const UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;

/// Reads every base table of `db` with its columns, primary key and size estimates.
pub async fn introspect(
    conn: &mut mysql_async::Conn,
    db: &str,
) -> Result<Vec<SourceTable>, SourceSchemaError> {
    let err = |source| SourceSchemaError::Query {
        db: db.to_string(),
        source,
    };
    // MySQL 8 serves TABLE_ROWS and DATA_LENGTH from a cache up to a day old unless told otherwise; MariaDB has
    // no such variable (error 1193) and always reads them fresh.
    match conn
        .query_drop("SET SESSION information_schema_stats_expiry = 0")
        .await
    {
        Ok(()) => {}
        Err(mysql_async::Error::Server(e)) if e.code == UNKNOWN_SYSTEM_VARIABLE => {}
        Err(e) => return Err(err(e)),
    }
    let tables: Vec<(String, Option<u64>, Option<u64>)> = conn
        .exec(
            "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (db,),
        )
        .await
        .map_err(err)?;
    // MariaDB stores JSON as longtext with a json_valid() check; MySQL 8 reports DATA_TYPE json.
    let checks: Vec<(String, String)> = conn
        .exec(
            "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?",
            (db,),
        )
        .await
        .unwrap_or_default();
    type ColRow = (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<u64>,
        Option<u64>,
        String,
        Option<String>,
    );
    let cols: Vec<ColRow> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, LOWER(DATA_TYPE), COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, \
             CHARACTER_MAXIMUM_LENGTH, DATETIME_PRECISION, EXTRA, COLLATION_NAME \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (db,),
        )
        .await
        .map_err(err)?;
    let pks: Vec<(String, String)> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (db,),
        )
        .await
        .map_err(err)?;
    let uniques: Vec<(String, String, String)> = conn
        .exec(
            "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND NON_UNIQUE = 0 ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
            (db,),
        )
        .await
        .map_err(err)?;
    let fks: Vec<(String, String, String, String)> = conn
        .exec(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
            (db,),
        )
        .await
        .map_err(err)?;
    let mut by_table: BTreeMap<String, Vec<SourceColumn>> = BTreeMap::new();
    for (t, name, data_type, column_type, nullable, default, char_max_len, fsp, extra, collation) in
        cols
    {
        let is_json = data_type == "json"
            || (data_type == "longtext"
                && checks.iter().any(|(ct, clause)| {
                    ct == &t && clause.replace(' ', "") == format!("json_valid(`{name}`)")
                }));
        // ENUM and SET labels are case-sensitive on both servers: only their keyword is lower-cased.
        let column_type = match data_type.as_str() {
            "enum" | "set" => column_type,
            _ => column_type.to_lowercase(),
        };
        by_table.entry(t).or_default().push(SourceColumn {
            name,
            data_type,
            column_type,
            nullable: nullable == "YES",
            // MariaDB reports a literal NULL default as the string "NULL".
            default: default.filter(|d| d != "NULL"),
            char_max_len,
            fsp: fsp.map(|v| v as u32),
            auto_increment: extra.to_lowercase().contains("auto_increment"),
            is_json,
            collation,
            generated: is_generated(&extra),
        });
    }
    let mut out = Vec::new();
    for (name, rows, bytes) in tables {
        let columns = by_table.remove(&name).unwrap_or_default();
        let primary_key = pks
            .iter()
            .filter(|(t, _)| t == &name)
            .map(|(_, c)| c.clone())
            .collect();
        let mut unique_keys: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (_, index, column) in uniques.iter().filter(|(t, _, _)| t == &name) {
            unique_keys.entry(index).or_default().push(column.clone());
        }
        let unique_keys = unique_keys.into_values().collect();
        let mut foreign_keys: BTreeMap<&str, (Vec<String>, String)> = BTreeMap::new();
        for (_, constraint, column, parent) in fks.iter().filter(|(t, _, _, _)| t == &name) {
            let e = foreign_keys
                .entry(constraint)
                .or_insert_with(|| (Vec::new(), parent.clone()));
            e.0.push(column.clone());
        }
        let foreign_keys = foreign_keys.into_values().collect();
        out.push(SourceTable {
            name,
            columns,
            primary_key,
            unique_keys,
            foreign_keys,
            rows_estimate: rows.unwrap_or(0),
            data_bytes: bytes.unwrap_or(0),
        });
    }
    Ok(out)
}

/// Whether `information_schema.COLUMNS.EXTRA` marks a generated column: MySQL 8 says `VIRTUAL GENERATED` or
/// `STORED GENERATED` (with `INVISIBLE` and `DEFAULT_GENERATED` as other words), MariaDB also `PERSISTENT
/// GENERATED` or, in older releases, `VIRTUAL` / `PERSISTENT` alone.
fn is_generated(extra: &str) -> bool {
    extra.to_ascii_lowercase().split_whitespace().any(|w| {
        matches!(w, "virtual" | "persistent" | "stored")
            || (w == "generated" && !extra.to_ascii_lowercase().contains("default_generated"))
    })
}

#[cfg(test)]
mod extra_tests {
    use super::is_generated;

    /// EXTRA as MySQL 8.0/8.4 and MariaDB 10.x print it (captured from their information_schema).
    #[test]
    fn generated_columns_are_recognised_and_defaults_are_not() {
        for e in [
            "VIRTUAL GENERATED",
            "STORED GENERATED",
            "VIRTUAL GENERATED INVISIBLE",
            "PERSISTENT GENERATED",
            "VIRTUAL",
            "PERSISTENT",
        ] {
            assert!(is_generated(e), "{e}");
        }
        for e in [
            "",
            "auto_increment",
            "DEFAULT_GENERATED",
            "DEFAULT_GENERATED on update CURRENT_TIMESTAMP",
            "on update current_timestamp()",
            "INVISIBLE",
        ] {
            assert!(!is_generated(e), "{e}");
        }
    }
}
