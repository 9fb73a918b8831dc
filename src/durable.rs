//! The only way a statement changes the target's durable state: each commit (of a transaction, a simple-query
//! batch, an autocommit statement or a `BEGIN` block) is one named step that the crash tests can stop after.
//!
//! A kill between two steps must leave a state `--resume` and `reset` know (docs/failure-modes.md lists them), so
//! every step commits together with the ledger record that names it. `scripts/check-modules.py` fails when a file
//! outside this one runs `execute`, `batch_execute` or `commit` on anything but a transaction named `tx` (whose
//! commit comes here) or on the source (only ever read): a new write cannot escape the count.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Error, Transaction};

use crate::hooks::durable_step;

/// Commits `tx`: one step.
pub async fn commit(tx: Transaction<'_>, step: impl FnOnce() -> String) -> Result<(), Error> {
    tx.commit().await?;
    durable_step(step);
    Ok(())
}

/// Releases a savepoint inside an open transaction: nothing is durable until that transaction commits here, so no
/// step is counted.
pub async fn release(savepoint: Transaction<'_>) -> Result<(), Error> {
    savepoint.commit().await
}

/// One statement that returns its row (`UPDATE ... RETURNING`) in its own transaction: one step.
pub async fn returning(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    step: impl FnOnce() -> String,
) -> Result<tokio_postgres::Row, Error> {
    let row = client.query_one(sql, params).await?;
    durable_step(step);
    Ok(row)
}

/// Several statements in one simple-query message: PostgreSQL runs them as one implicit transaction (rolled back
/// whole on an error), one step. Takes no parameters.
pub async fn batch(client: &Client, sql: &str, step: impl FnOnce() -> String) -> Result<(), Error> {
    client.batch_execute(sql).await?;
    durable_step(step);
    Ok(())
}

/// One statement in its own transaction: one step. Returns the rows it touched.
pub async fn execute(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    step: impl FnOnce() -> String,
) -> Result<u64, Error> {
    let n = client.execute(sql, params).await?;
    durable_step(step);
    Ok(n)
}

/// A maintenance statement that changes no data the recovery reads (`VACUUM`): still counted, since the process
/// can die right after it.
pub async fn maintenance(
    client: &Client,
    sql: &str,
    step: impl FnOnce() -> String,
) -> Result<(), Error> {
    batch(client, sql, step).await
}

/// Sets a session parameter (`SET ...`): nothing durable.
pub async fn session(client: &Client, sql: &str) -> Result<(), Error> {
    client.batch_execute(sql).await
}

/// Opens a `BEGIN` block on `client` for work that holds the client across awaits (a COPY stream), where a
/// `Transaction` borrow cannot live. Nothing is durable until [`commit_block`].
pub async fn begin(client: &Client) -> Result<(), Error> {
    client.batch_execute("BEGIN").await
}

/// A statement inside the block [`begin`] opened.
pub async fn in_block(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, Error> {
    client.execute(sql, params).await
}

/// Commits the block [`begin`] opened: one step.
pub async fn commit_block(client: &Client, step: impl FnOnce() -> String) -> Result<(), Error> {
    client.batch_execute("COMMIT").await?;
    durable_step(step);
    Ok(())
}

/// Rolls the block [`begin`] opened back: nothing changes.
pub async fn rollback_block(client: &Client) -> Result<(), Error> {
    client.batch_execute("ROLLBACK").await
}
