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
    /// Encoded CSV of some rows.
    Data(Bytes),
    /// The reader finished the chunk after this many rows.
    End { rows: u64 },
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
) -> Result<(u64, u64), Error> {
    let fail = |what: &str, e: tokio_postgres::Error| {
        Error::Data(format!(
            "{what} of {} chunk {} ({}) failed: {}",
            label.table,
            label.chunk,
            label.range,
            db_message(&e)
        ))
    };
    let tx = client.transaction().await.map_err(|e| fail("BEGIN", e))?;
    let mut sink = pin!(tx
        .copy_in::<_, Bytes>(copy_sql)
        .await
        .map_err(|e| fail("COPY", e))?);
    let mut bytes = 0u64;
    let rows = loop {
        match rx.recv().await {
            Some(Piece::Data(b)) => {
                bytes += b.len() as u64;
                if let Some(f) = csv_file.as_mut() {
                    f.write_all(&b).map_err(|e| {
                        Error::Usage(format!("writing the CSV snapshot of {}: {e}", label.table))
                    })?;
                }
                sink.send(b).await.map_err(|e| fail("COPY", e))?;
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
    let copied = sink.as_mut().finish().await.map_err(|e| fail("COPY", e))?;
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
    .map_err(|e| fail("ledger insert", e))?;
    tx.commit().await.map_err(|e| fail("COMMIT", e))?;
    Ok((rows, bytes))
}
