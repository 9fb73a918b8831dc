//! The follow phase's helper indexes (`migrate --follow --index-foreign-keys`): an index for each foreign key of
//! the target no index leads with, made before following and dropped when following is done or the run is reset.
//! Their name prefix is their record: the catalog says which exist.

use tokio_postgres::Client;

use super::error::{pg, TargetError};
use crate::durable;
use crate::util::sql::{pg_ident, pg_string};

/// The name every helper index of the follow phase (`--index-foreign-keys`) starts with: its own record, found in
/// the catalog by the cut-over and by `reset`, which drop it.
pub const HELPER_INDEX_PREFIX: &str = "pgconverge_follow_";

/// A block that drops every helper index of the follow phase, in any schema.
pub fn drop_helper_indexes_sql() -> String {
    format!(
        "DO $pgc$DECLARE r record; BEGIN
           FOR r IN SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
                      JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind = 'i' AND starts_with(c.relname, {prefix}) LOOP
             EXECUTE 'DROP INDEX ' || r.name;
           END LOOP;
         END$pgc$",
        prefix = pg_string(HELPER_INDEX_PREFIX)
    )
}

/// Creates helper index `name` on `columns` of `table` in `schema` (one step): while following, a foreign key
/// PostgreSQL would check by scanning the child table finds its rows by index instead, as in MySQL.
pub async fn create_helper_index(
    client: &Client,
    schema: &str,
    table: &str,
    columns: &[String],
    name: &str,
) -> Result<(), TargetError> {
    let cols: Vec<String> = columns.iter().map(|c| pg_ident(c)).collect();
    durable::batch(
        client,
        &format!(
            "CREATE INDEX {} ON {} ({})",
            pg_ident(name),
            crate::util::sql::pg_qualified(schema, table),
            cols.join(", ")
        ),
        || format!("helper index {name} created"),
    )
    .await
    .map_err(pg(format!("creating the helper index {name} on {table}")))
}
