//! The PostgreSQL COPY sink: one transaction per chunk holding the COPY and its ledger row, so a chunk is either
//! fully loaded and recorded or absent.

use std::pin::Pin;

use bytes::Bytes;
use futures::SinkExt;
use tokio_postgres::{Client, CopyInSink};

use super::{CopyFailure, Encoded, SinkError, Spec};
use crate::connect::{pg_message as db_message, pg_transient as is_transient};
use crate::pipeline::Sink;
use crate::util::sql::pg_ident;

/// Parses PostgreSQL's `COPY t, line N[, column c: ...]` context.
pub fn copy_position(context: &str) -> (Option<u64>, Option<String>) {
    // Contexts nest, one per line ("JSON data, line 1: ..." above "COPY t, line 5, column c: ...").
    let Some(copy) = context.lines().find(|l| l.starts_with("COPY ")) else {
        return (None, None);
    };
    let Some(after) = copy.split(", line ").nth(1) else {
        return (None, None);
    };
    let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    let column = after
        .split(", column ")
        .nth(1)
        .map(|c| c.split(':').next().unwrap_or(c).trim().to_string());
    (digits.parse().ok(), column)
}

/// A chunk being copied.
struct Open {
    copy: Pin<Box<CopyInSink<Bytes>>>,
    lines: super::csv::LineMap,
    keys: super::KeyLog,
    bytes: u64,
}

/// Copies chunks into PostgreSQL on one connection, recording each in the ledger table `ledger` inside the
/// chunk's transaction.
pub struct CopySink {
    url: String,
    client: Client,
    /// The server process of `client`: ended from the replacement connection after a loss.
    pid: Option<i32>,
    ledger: String,
    open: Option<Open>,
    toast: Option<ToastCompression>,
}

/// How a COPY session compresses the large values it writes (`default_toast_compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToastCompression {
    Lz4,
    Pglz,
}

impl ToastCompression {
    pub fn as_str(self) -> &'static str {
        match self {
            ToastCompression::Lz4 => "lz4",
            ToastCompression::Pglz => "pglz",
        }
    }
}

impl std::fmt::Display for ToastCompression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sets how the session compresses large values. pglz, PostgreSQL's default, was a sixth of all CPU time of a
/// scale-1 Alkemio load (its 3 KB JSON rules are all compressed); lz4 compresses several times faster and
/// PostgreSQL reads both. A server built without lz4 refuses the value: the load goes on with its default.
/// `None` leaves the server's setting as it is. The follower's session sets it too, so followed rows are stored
/// as the copied ones are.
pub async fn toast_compression(
    client: &Client,
    url: &str,
    method: Option<ToastCompression>,
) -> Result<(), SinkError> {
    let Some(method) = method.map(ToastCompression::as_str) else {
        return Ok(());
    };
    let sql = format!("SET default_toast_compression = '{method}'");
    match crate::durable::session(client, &sql).await {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE) => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(method, error = %db_message(&e), "The target cannot compress with this method; its default is used.")
            });
            Ok(())
        }
        Err(e) if e.as_db_error().is_some() => Err(SinkError::Setting {
            statement: sql,
            sqlstate: e.code().map_or("", |c| c.code()).to_string(),
            message: db_message(&e),
        }),
        Err(e) => Err(SinkError::Connect(crate::connect::err(
            "target",
            url,
            db_message(&e),
        ))),
    }
}

impl CopySink {
    /// `ledger_schema` holds the `chunk` table (see `cutover::ledger`); `toast` is the session's
    /// `default_toast_compression` (None: the server's).
    pub async fn connect(
        url: &str,
        ledger_schema: &str,
        toast: Option<ToastCompression>,
    ) -> Result<CopySink, SinkError> {
        let client = crate::connect::target(url).await?;
        toast_compression(&client, url, toast).await?;
        let pid = crate::connect::backend_pid(&client).await;
        Ok(CopySink {
            url: url.to_string(),
            client,
            pid,
            ledger: format!("{}.chunk", pg_ident(ledger_schema)),
            open: None,
            toast,
        })
    }

    fn fail<W: Spec>(&self, work: &W, what: &str, e: tokio_postgres::Error) -> SinkError {
        let (line, column) = e
            .as_db_error()
            .and_then(|d| d.where_())
            .map(copy_position)
            .unwrap_or((None, None));
        let row = line.and_then(|l| self.open.as_ref()?.lines.row_of_line(l));
        let key = row.and_then(|r| self.open.as_ref()?.keys.key_of(r));
        SinkError::Copy(Box::new(CopyFailure {
            key,
            key_names: work.key_names().to_vec(),
            transient: is_transient(&e),
            sqlstate: e.code().map(|c| c.code().to_string()),
            row,
            table: work.table().to_string(),
            chunk: work.chunk(),
            range: work.describe(),
            what: what.to_string(),
            message: db_message(&e),
            line,
            column,
        }))
    }
}

impl super::Asks for CopySink {
    /// The wire data only.
    fn needs(&self) -> super::Needs {
        super::Needs::default()
    }
}

/// What the COPY sink needs to know about a chunk beyond [`Spec`].
pub trait CopySpec: Spec {
    /// `COPY "schema"."table" (...) FROM STDIN (FORMAT ...)`.
    fn copy_sql(&self) -> &str;
    /// Whether the data is PostgreSQL's binary COPY format (else CSV).
    fn binary(&self) -> bool;
    /// Set when the chunk goes through a staging table (see [`Staged`]).
    fn staged(&self) -> Option<&Staged> {
        None
    }
}

/// Loading through a staging table, for a target with inheritance children: COPY fires no rules, and a trigger
/// that moves a row into a child makes COPY count it as not stored. The chunk is copied into a temporary table of
/// the copied columns (dropped at commit), then `INSERT ... SELECT` into the target, where rules and triggers
/// route each row, in the chunk's transaction.
#[derive(Debug, Clone)]
pub struct Staged {
    pub create: String,
    pub insert: String,
}

impl Staged {
    /// The table COPY writes into instead of the target.
    pub const TABLE: &'static str = "pg_temp.pgc_stage";

    /// For `table` (quoted, qualified) and its copied columns (quoted, comma-separated).
    pub fn new(table: &str, columns: &str) -> Staged {
        Staged {
            create: format!(
                "CREATE TEMP TABLE pgc_stage ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA"
            ),
            insert: format!(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM {}",
                Staged::TABLE
            ),
        }
    }
}

impl<W: CopySpec> Sink<W, Encoded> for CopySink {
    type Error = SinkError;

    async fn begin(&mut self, work: &W) -> Result<(), SinkError> {
        self.open = None;
        if let Err(e) = crate::durable::begin(&self.client).await {
            return Err(self.fail(work, "BEGIN", e));
        }
        if let Some(staged) = work.staged() {
            if let Err(e) = crate::durable::in_block(&self.client, &staged.create, &[]).await {
                return Err(self.fail(work, "creating the staging table", e));
            }
        }
        let mut copy = match self.client.copy_in::<_, Bytes>(work.copy_sql()).await {
            Ok(c) => Box::pin(c),
            Err(e) => return Err(self.fail(work, "COPY", e)),
        };
        if work.binary() {
            if let Err(e) = copy.send(Bytes::from_static(super::binary::HEADER)).await {
                return Err(self.fail(work, "COPY", e));
            }
        }
        self.open = Some(Open {
            copy,
            lines: Default::default(),
            keys: Default::default(),
            bytes: 0,
        });
        Ok(())
    }

    async fn write(&mut self, work: &W, piece: Encoded) -> Result<(), SinkError> {
        let open = self.open.as_mut().expect("write after begin");
        open.lines.push(piece.rows, &piece.multiline);
        open.keys.push(piece.rows, piece.keys);
        open.bytes += piece.data.len() as u64;
        let first = open.lines.rows() == piece.rows;
        if let Err(e) = open.copy.send(piece.data).await {
            return Err(self.fail(work, "COPY", e));
        }
        if first {
            #[cfg(feature = "test-hooks")]
            {
                static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                crate::hooks::pause(|| format!("copying:{n}")).await;
            }
        }
        Ok(())
    }

    async fn commit(&mut self, work: &W, rows: u64) -> Result<u64, SinkError> {
        let open = self.open.as_mut().expect("commit after begin");
        if work.binary() {
            if let Err(e) = open
                .copy
                .send(Bytes::from_static(super::binary::TRAILER))
                .await
            {
                return Err(self.fail(work, "COPY", e));
            }
        }
        let copied = match open.copy.as_mut().finish().await {
            Ok(n) => n,
            Err(e) => return Err(self.fail(work, "COPY", e)),
        };
        let bytes = open.bytes;
        if copied != rows {
            return Err(SinkError::RowCount {
                table: work.table().to_string(),
                chunk: work.chunk(),
                range: work.describe(),
                copied,
                read: rows,
            });
        }
        if let Some(staged) = work.staged() {
            if let Err(e) = crate::durable::in_block(&self.client, &staged.insert, &[]).await {
                return Err(self.fail(work, "INSERT from the staging table", e));
            }
        }
        let sql = format!(
            "INSERT INTO {} (table_name, chunk, rows, bytes) VALUES ($1, $2, $3, $4)",
            self.ledger
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [
            &work.table(),
            &(work.chunk() as i32),
            &(rows as i64),
            &(bytes as i64),
        ];
        if let Err(e) = crate::durable::in_block(&self.client, &sql, &params).await {
            return Err(self.fail(work, "ledger insert", e));
        }
        let step = || format!("chunk {}#{} committed", work.table(), work.chunk());
        if let Err(e) = crate::durable::commit_block(&self.client, step).await {
            return Err(self.fail(work, "COMMIT", e));
        }
        self.open = None;
        Ok(bytes)
    }

    async fn abort(&mut self) {
        // Dropping an unfinished COPY stream makes the server fail the COPY; the transaction then rolls back.
        if self.open.take().is_some() {
            let _ = crate::durable::rollback_block(&self.client).await;
        }
    }

    async fn recover(&mut self) -> Result<(), SinkError> {
        self.open = None;
        self.client = crate::connect::target_with_retry(&self.url).await?;
        crate::connect::end_orphan(&self.client, self.pid).await;
        self.pid = crate::connect::backend_pid(&self.client).await;
        toast_compression(&self.client, &self.url, self.toast).await
    }
}

#[cfg(test)]
mod tests {
    use super::copy_position;

    #[test]
    fn parses_copy_context() {
        assert_eq!(
            copy_position("COPY x, line 3, column b: \"oops\""),
            (Some(3), Some("b".into()))
        );
        assert_eq!(
            copy_position("COPY session_devices, line 12"),
            (Some(12), None)
        );
        assert_eq!(copy_position("SQL statement"), (None, None));
        assert_eq!(
            copy_position(
                "JSON data, line 1: {\"a\":...\nCOPY identities, line 5, column traits: \"{}\""
            ),
            (Some(5), Some("traits".into()))
        );
    }
}
