//! Chunk reads: the SELECT of one chunk (each column read so that its text is the exact value), a reader that
//! cuts its result into Arrow batches of raw bytes, and one row read back by key for a message.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use mysql_async::prelude::Queryable;
use mysql_async::Value;

use super::error::{q, SourceError};
use super::ranges::INT_TYPES;
use crate::chunk::{ChunkRange, KeyBound};
use crate::pipeline::{Emitter, Source, Work};
use crate::schema::SourceTable;
use crate::util::sql::mysql_ident;

/// How one column is read so that its text is the exact value: BIT as its unsigned integer (the text protocol
/// sends raw bytes), FLOAT as the double it widens to exactly (its text form keeps only 6 digits).
pub fn select_expr(table: &SourceTable, column: &str) -> String {
    let q = mysql_ident(column);
    match table.columns.iter().find(|c| c.name == column) {
        Some(c) if c.data_type == "bit" => format!("CAST({q} AS UNSIGNED) AS {q}"),
        Some(c) if c.data_type == "float" => format!("({q} + 0e0) AS {q}"),
        _ => q,
    }
}

/// The SELECT of one chunk: every source column, in source order, within the range.
pub fn chunk_sql(table: &SourceTable, columns: &[String], range: &ChunkRange) -> String {
    let cols: Vec<String> = columns.iter().map(|c| select_expr(table, c)).collect();
    let mut sql = format!(
        "SELECT {} FROM {}",
        cols.join(", "),
        mysql_ident(&table.name)
    );
    if let Some(k) = table.primary_key.first() {
        let kc = mysql_ident(k);
        let mut conds = Vec::new();
        if let Some(lo) = &range.lo {
            conds.push(format!("{kc} >= {}", lo.literal()));
        }
        if let Some(hi) = &range.hi {
            conds.push(format!("{kc} < {}", hi.literal()));
        }
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        // InnoDB scans a key range in key order anyway, so this costs nothing; it makes every run send a chunk's
        // rows in the same order, so a rejected row is the same row in a rehearsal and in the cut-over.
        let order: Vec<String> = table.primary_key.iter().map(|k| mysql_ident(k)).collect();
        sql.push_str(" ORDER BY ");
        sql.push_str(&order.join(", "));
    }
    sql
}

/// A raw key value as the text protocol sent it, as a bound of the column's type: integers as numbers,
/// BINARY/VARBINARY as bytes, everything else as text.
fn raw_key_bound(table: &SourceTable, column: &str, raw: &[u8]) -> KeyBound {
    let data_type = table.column(column).map(|c| c.data_type.as_str());
    let text = || String::from_utf8_lossy(raw).into_owned();
    match data_type {
        Some("binary" | "varbinary") => KeyBound::Binary(raw.to_vec()),
        Some(t) if INT_TYPES.contains(&t) => text()
            .parse()
            .map(KeyBound::Int)
            .unwrap_or_else(|_| KeyBound::Text(text())),
        _ => KeyBound::Text(text()),
    }
}

/// The raw value of `column` in the row whose primary key is `key` (raw values in key order): one index seek.
/// `Ok(None)` when no such row exists any more.
pub async fn value_by_key(
    conn: &mut mysql_async::Conn,
    table: &SourceTable,
    key: &[Option<Vec<u8>>],
    column: &str,
) -> Result<Option<Option<Vec<u8>>>, SourceError> {
    let conds: Vec<String> = table
        .primary_key
        .iter()
        .zip(key)
        .map(|(k, v)| match v {
            Some(v) => format!(
                "{} = {}",
                mysql_ident(k),
                raw_key_bound(table, k, v).literal()
            ),
            None => format!("{} IS NULL", mysql_ident(k)),
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {}",
        select_expr(table, column),
        mysql_ident(&table.name),
        conds.join(" AND ")
    );
    let row: Option<mysql_async::Row> = conn
        .query_first(sql)
        .await
        .map_err(q(format!("reading a row of {}", table.name)))?;
    Ok(row.map(|mut r| match r.take::<Value, usize>(0) {
        Some(Value::Bytes(b)) => Some(b),
        _ => None,
    }))
}

/// Arrow schema of raw source batches: every column as nullable Binary.
pub fn raw_schema(columns: &[String]) -> Arc<Schema> {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Binary, true))
            .collect::<Vec<_>>(),
    ))
}

/// What a reader needs to know about a chunk.
pub trait ReadSpec {
    /// The chunk's SELECT (see [`chunk_sql`]).
    fn select_sql(&self) -> &str;
    /// Schema of its raw batches (see [`raw_schema`]).
    fn raw_schema(&self) -> Arc<Schema>;
}

/// A reader: one connection inside the shared snapshot, cutting chunks into batches of at most `batch_rows` rows
/// or about `batch_bytes` bytes.
pub struct Reader {
    conn: mysql_async::Conn,
    batch_rows: usize,
    batch_bytes: usize,
}

impl Reader {
    pub fn new(conn: mysql_async::Conn, batch_rows: usize, batch_bytes: usize) -> Reader {
        Reader {
            conn,
            batch_rows: batch_rows.max(1),
            batch_bytes: batch_bytes.max(1),
        }
    }
}

impl<W: Work + ReadSpec> Source<W> for Reader {
    type Error = SourceError;

    async fn read(&mut self, work: &W, out: &mut dyn Emitter) -> Result<u64, SourceError> {
        let table = work.table();
        let schema = work.raw_schema();
        let n = schema.fields().len();
        let cap = self.batch_rows.min(1024);
        let new_builders = || {
            (0..n)
                .map(|_| BinaryBuilder::with_capacity(cap, 64 * 1024))
                .collect::<Vec<_>>()
        };
        let finish = |builders: Vec<BinaryBuilder>| {
            let cols: Vec<ArrayRef> = builders
                .into_iter()
                .map(|mut b| Arc::new(b.finish()) as ArrayRef)
                .collect();
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| SourceError::Batch {
                table: table.to_string(),
                message: e.to_string(),
            })
        };
        let mut builders = new_builders();
        let (mut rows, mut bytes, mut total) = (0usize, 0usize, 0u64);
        let silence = crate::connect::SOURCE_SILENCE;
        let silent = || SourceError::Silent {
            table: table.to_string(),
            seconds: silence.as_secs(),
        };
        let mut result = tokio::time::timeout(silence, self.conn.query_iter(work.select_sql()))
            .await
            .map_err(|_| silent())?
            .map_err(q(format!("reading {table}")))?;
        loop {
            let row = tokio::time::timeout(silence, result.next())
                .await
                .map_err(|_| silent())?
                .map_err(q(format!("reading {table}")))?;
            let Some(mut row) = row else { break };
            for (i, b) in builders.iter_mut().enumerate() {
                match row.take::<Value, usize>(i) {
                    Some(Value::Bytes(v)) => {
                        bytes += v.len();
                        b.append_value(&v);
                    }
                    Some(Value::NULL) | None => b.append_null(),
                    Some(_) => {
                        return Err(SourceError::UnexpectedValue {
                            table: table.to_string(),
                            column: schema.field(i).name().clone(),
                        })
                    }
                }
            }
            rows += 1;
            if rows >= self.batch_rows || bytes >= self.batch_bytes {
                let batch = finish(std::mem::replace(&mut builders, new_builders()))?;
                total += rows as u64;
                (rows, bytes) = (0, 0);
                if out.emit(batch).await.is_err() {
                    return Ok(total);
                }
            }
        }
        if rows > 0 {
            total += rows as u64;
            if out.emit(finish(builders)?).await.is_err() {
                return Ok(total);
            }
        }
        Ok(total)
    }

    async fn close(mut self) {
        self.conn.query_drop("COMMIT").await.ok();
        self.conn.disconnect().await.ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key value read back for a message is quoted by its column's type: numbers bare (BIGINT UNSIGNED above
    /// 2^63 too), any bytes of a BINARY key as hex, text as a string literal with its quotes doubled.
    #[test]
    fn raw_keys_become_literals_of_their_type() {
        let column = |name: &str, data_type: &str| crate::schema::SourceColumn {
            name: name.into(),
            data_type: data_type.into(),
            column_type: data_type.into(),
            nullable: false,
            default: None,
            char_max_len: None,
            fsp: None,
            auto_increment: false,
            is_json: false,
            collation: None,
            generated: false,
        };
        let table = SourceTable {
            name: "t".into(),
            columns: vec![
                column("n", "bigint"),
                column("b", "varbinary"),
                column("s", "char"),
            ],
            primary_key: vec!["n".into(), "b".into(), "s".into()],
            unique_keys: Vec::new(),
            foreign_keys: Vec::new(),
            rows_estimate: 0,
            data_bytes: 0,
        };
        let lit = |c: &str, raw: &[u8]| raw_key_bound(&table, c, raw).literal();
        assert_eq!(lit("n", b"18446744073709551615"), "18446744073709551615");
        assert_eq!(lit("n", b"-7"), "-7");
        assert_eq!(lit("b", &[0, 0xff, b'\'']), "X'00ff27'");
        assert_eq!(lit("s", b"it's"), "'it''s'");
    }
}
