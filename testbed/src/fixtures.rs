//! The fixture schemas (testbed/fixtures/*.sql, rendered from the facts) embedded for the demo, tests and generator.

use crate::facts::App;

/// MySQL/MariaDB source schema of `app` (Alkemio v0.128.3, Kratos v1.3.1).
pub fn mysql_schema(app: App) -> &'static str {
    match app {
        App::Alkemio => include_str!("../fixtures/alkemio.mysql.sql"),
        App::Kratos => include_str!("../fixtures/kratos.mysql.sql"),
    }
}

/// PostgreSQL target schema of `app` with the rows its migrations seed (Alkemio v0.129.0 baseline, Kratos v1.3.1).
pub fn pg_schema(app: App) -> &'static str {
    match app {
        App::Alkemio => include_str!("../fixtures/alkemio.pg.sql"),
        App::Kratos => include_str!("../fixtures/kratos.pg.sql"),
    }
}

/// Splits a fixture into statements. Fixtures put each statement's closing `;` at a line end and never inside a
/// string literal, which scripts/gen-fixtures.py guarantees.
pub fn statements(sql: &str) -> impl Iterator<Item = String> + '_ {
    sql.split(";\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| !s.trim().is_empty())
}
