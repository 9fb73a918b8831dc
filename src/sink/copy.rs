//! The PostgreSQL COPY sink: one transaction per chunk holding the COPY and its ledger row, so a chunk is either
//! fully loaded and recorded or absent.

use std::io::Write as _;
use std::pin::pin;

use bytes::Bytes;
use futures::SinkExt;
use tokio::sync::mpsc::Receiver;
use tokio_postgres::Client;

use crate::error::Error;
use crate::target::{db_message, qi, LEDGER_SCHEMA};

/// What flows from a reader to the writer of one chunk.
pub enum Piece {
    /// Encoded CSV of `rows` rows, with the rows holding line feeds (see `csv::encode`).
    Data {
        csv: Bytes,
        rows: u64,
        multiline: Vec<(u32, u32, u32)>,
    },
    /// The reader finished the chunk after this many rows.
    End { rows: u64 },
}

/// A failed COPY, with the position PostgreSQL reported so the row can be found in the source.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{what} of {table} chunk {chunk} ({range}) failed: {message}{}",
    row.map(|r| format!(" (row {} of the chunk)", r + 1)).unwrap_or_default()
)]
pub struct CopyFailure {
    pub table: String,
    pub chunk: u32,
    pub range: String,
    pub what: String,
    pub message: String,
    /// 0-based row of the chunk PostgreSQL rejected, when it said.
    pub row: Option<u64>,
    /// The line number PostgreSQL reported.
    pub line: Option<u64>,
    /// Target column PostgreSQL named.
    pub column: Option<String>,
    /// A lost connection or a server-side abort unrelated to the data: the chunk can be copied again.
    pub transient: bool,
}

/// Whether a PostgreSQL error is about the connection or the server's state rather than the data: lost
/// connections (class 08), administrator shutdown or crash recovery (57P01-57P03), serialization failures and
/// deadlocks (40001, 40P01). Data errors (class 22, 23, ...) never are.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        }
        // No SQLSTATE: an I/O error on the socket.
        None => e.as_db_error().is_none(),
    }
}

/// COPY streams started in this process, for the `copying:<n>` pause point.
static COPIES_STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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

/// Identity of a chunk in the ledger and in messages.
#[derive(Debug, Clone)]
pub struct ChunkLabel {
    pub table: String,
    pub chunk: u32,
    pub range: String,
}

/// Copies one chunk. A reader that stops without `End` (error or cancellation) makes this roll back.
pub async fn copy_chunk(
    client: &mut Client,
    copy_sql: &str,
    label: &ChunkLabel,
    mut rx: Receiver<Piece>,
    mut csv_file: Option<std::fs::File>,
    binary: bool,
) -> Result<(u64, u64), Error> {
    let fail = |what: &str, e: tokio_postgres::Error, lines: &crate::sink::csv::LineMap| {
        let (line, column) = e
            .as_db_error()
            .and_then(|d| d.where_())
            .map(copy_position)
            .unwrap_or((None, None));
        let row = line.and_then(|l| lines.row_of_line(l));
        Error::Copy(Box::new(CopyFailure {
            transient: is_transient(&e),
            row,
            table: label.table.clone(),
            chunk: label.chunk,
            range: label.range.clone(),
            what: what.to_string(),
            message: db_message(&e),
            line,
            column,
        }))
    };
    let mut lines = crate::sink::csv::LineMap::default();
    let tx = client
        .transaction()
        .await
        .map_err(|e| fail("BEGIN", e, &lines))?;
    let mut sink = pin!(tx
        .copy_in::<_, Bytes>(copy_sql)
        .await
        .map_err(|e| fail("COPY", e, &lines))?);
    if binary {
        sink.send(Bytes::from_static(crate::sink::binary::HEADER))
            .await
            .map_err(|e| fail("COPY", e, &lines))?;
    }
    let mut bytes = 0u64;
    let rows = loop {
        match rx.recv().await {
            Some(Piece::Data {
                csv: b,
                rows,
                multiline,
            }) => {
                lines.push(rows, &multiline);
                bytes += b.len() as u64;
                if let Some(f) = csv_file.as_mut() {
                    f.write_all(&b).map_err(|e| {
                        Error::Usage(format!("writing the CSV snapshot of {}: {e}", label.table))
                    })?;
                }
                let first = lines.rows() == rows;
                sink.send(b).await.map_err(|e| fail("COPY", e, &lines))?;
                if first {
                    let n = COPIES_STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    crate::migrate::pause_point(&format!("copying:{n}")).await;
                }
            }
            Some(Piece::End { rows }) => break rows,
            // The reader gave up: dropping the sink aborts the COPY and the transaction rolls back.
            None => {
                return Err(Error::Internal(format!(
                    "reader of {} chunk {} stopped",
                    label.table, label.chunk
                )))
            }
        }
    };
    if binary {
        sink.send(Bytes::from_static(crate::sink::binary::TRAILER))
            .await
            .map_err(|e| fail("COPY", e, &lines))?;
    }
    let copied = sink
        .as_mut()
        .finish()
        .await
        .map_err(|e| fail("COPY", e, &lines))?;
    if copied != rows {
        return Err(Error::Data(format!(
            "{} chunk {} ({}): COPY stored {copied} rows but {rows} were read; the chunk was rolled back",
            label.table, label.chunk, label.range
        )));
    }
    tx.execute(
        &format!(
            "INSERT INTO {}.chunk (table_name, chunk, rows, bytes) VALUES ($1, $2, $3, $4)",
            qi(LEDGER_SCHEMA)
        ),
        &[
            &label.table,
            &(label.chunk as i32),
            &(rows as i64),
            &(bytes as i64),
        ],
    )
    .await
    .map_err(|e| fail("ledger insert", e, &lines))?;
    tx.commit().await.map_err(|e| fail("COMMIT", e, &lines))?;
    Ok((rows, bytes))
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
