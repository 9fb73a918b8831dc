//! Reading the target back (`verify`): PostgreSQL rows of one key range through `COPY (SELECT ...) TO STDOUT`,
//! cut into batches inside one exported snapshot shared by every reader: Binary columns of binary COPY values when
//! the range asks for the binary format (every column's type decodes), Utf8 columns of the text output otherwise.

use std::sync::Arc;

use arrow::array::{ArrayBuilder, ArrayRef, BinaryBuilder, RecordBatch, StringBuilder};
use arrow::datatypes::Schema;
use futures::StreamExt;

use crate::connect::{pg_message, ConnectError};
use crate::pgbinary::Tuple;
use crate::pipeline::{Emitter, Source, Work};

/// Errors reading the target.
#[derive(Debug, thiserror::Error)]
pub enum TargetReadError {
    #[error("reading the target ({context}): {message}")]
    Query {
        context: String,
        message: String,
        sqlstate: Option<String>,
    },
    #[error("reading the target ({context}): malformed COPY row ({message})")]
    Format { context: String, message: String },
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

fn q(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> TargetReadError {
    let context = context.into();
    move |e| TargetReadError::Query {
        context,
        message: pg_message(&e),
        sqlstate: e.code().map(|c| c.code().to_string()),
    }
}

/// Output settings that make PostgreSQL print values in the forms `canonical` expects.
pub const SESSION: &str =
    "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; \
     SET extra_float_digits = 1; SET bytea_output = 'hex'";

/// What a target reader needs to know about a range.
pub trait CopyOutSpec {
    /// `COPY (SELECT ...) TO STDOUT` of the range.
    fn copy_out_sql(&self) -> &str;
    /// Schema of its batches: Binary columns for the binary format, Utf8 for the text format.
    fn schema(&self) -> Arc<Schema>;
    /// Whether the statement asks for `(FORMAT binary)`.
    fn binary(&self) -> bool;
}

/// Each result column's type of a query, as (OID, whether it is an enum type): what decides whether a table can be
/// read back in the binary format.
pub async fn column_types(
    client: &tokio_postgres::Client,
    select: &str,
) -> Result<Vec<(u32, bool)>, TargetReadError> {
    let statement = client
        .prepare(select)
        .await
        .map_err(q("describing the columns read back"))?;
    Ok(statement
        .columns()
        .iter()
        .map(|c| {
            let t = c.type_();
            (
                t.oid(),
                matches!(t.kind(), tokio_postgres::types::Kind::Enum(_)),
            )
        })
        .collect())
}

/// Connections inside one snapshot of the target: the first exports it, the others adopt it.
pub async fn open_snapshot(
    url: &str,
    n: usize,
) -> Result<Vec<tokio_postgres::Client>, TargetReadError> {
    let mut out = Vec::with_capacity(n);
    let mut snapshot: Option<String> = None;
    for _ in 0..n.max(1) {
        let c = crate::connect::target(url).await?;
        c.batch_execute(SESSION)
            .await
            .map_err(q("session settings"))?;
        c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(q("starting the snapshot"))?;
        match &snapshot {
            None => {
                let row = c
                    .query_one("SELECT pg_export_snapshot()", &[])
                    .await
                    .map_err(q("exporting the snapshot"))?;
                snapshot = Some(row.get(0));
            }
            Some(id) => c
                .batch_execute(&format!(
                    "SET TRANSACTION SNAPSHOT {}",
                    crate::util::sql::pg_string(id)
                ))
                .await
                .map_err(q("adopting the snapshot"))?,
        }
        out.push(c);
    }
    Ok(out)
}

/// A target reader: one connection of the snapshot.
pub struct TargetReader {
    client: tokio_postgres::Client,
    batch_rows: usize,
    batch_bytes: usize,
}

impl TargetReader {
    pub fn new(client: tokio_postgres::Client, batch_rows: usize, batch_bytes: usize) -> Self {
        TargetReader {
            client,
            batch_rows: batch_rows.max(1),
            batch_bytes: batch_bytes.max(1),
        }
    }
}

impl<W: Work + CopyOutSpec> Source<W> for TargetReader {
    type Error = TargetReadError;

    async fn read(&mut self, work: &W, out: &mut dyn Emitter) -> Result<u64, TargetReadError> {
        let context = format!("table {}", work.table());
        let schema = work.schema();
        let stream = self
            .client
            .copy_out(work.copy_out_sql())
            .await
            .map_err(q(context.clone()))?;
        let mut batches = Batches {
            schema: schema.clone(),
            context: context.clone(),
            limits: (self.batch_rows, self.batch_bytes),
            rows: 0,
            bytes: 0,
            total: 0,
        };
        let n = schema.fields().len();
        let format = |message: String| TargetReadError::Format {
            context: context.clone(),
            message,
        };
        futures::pin_mut!(stream);
        // PostgreSQL sends a row per message: each is parsed where it lies, and only the start of a row that the
        // next message completes is kept in `pending`. A whole message is parsed before its batch goes out, so
        // nothing complete is left behind at the end of the stream (a full batch grows by at most one message).
        let mut pending: Vec<u8> = Vec::new();
        if work.binary() {
            let mut builders: Vec<BinaryBuilder> = (0..n).map(|_| BinaryBuilder::new()).collect();
            let mut fields = Vec::with_capacity(n);
            let (mut started, mut ended) = (false, false);
            while let Some(data) = stream.next().await {
                let data = data.map_err(q(context.clone()))?;
                let mut full = false;
                feed(&mut pending, &data, |buf| {
                    let mut start = 0;
                    if !started {
                        match crate::pgbinary::header(buf).map_err(format)? {
                            Some(len) => (start, started) = (len, true),
                            None => return Ok(0),
                        }
                    }
                    while !ended {
                        match crate::pgbinary::tuple(&buf[start..], n, &mut fields)
                            .map_err(format)?
                        {
                            None => break,
                            Some(Tuple::End(len)) => {
                                start += len;
                                ended = true;
                            }
                            Some(Tuple::Row(len)) => {
                                append_tuple(&buf[start..], &fields, &mut builders);
                                start += len;
                                full |= batches.counted(len);
                            }
                        }
                    }
                    Ok(start)
                })?;
                if full && !batches.emit(&mut builders, out).await? {
                    return Ok(batches.total);
                }
            }
            if !ended || !pending.is_empty() {
                return Err(format("the stream ended inside a row".into()));
            }
            batches.finish(builders, out).await
        } else {
            let mut builders: Vec<StringBuilder> = (0..n).map(|_| StringBuilder::new()).collect();
            let mut field = String::new();
            while let Some(data) = stream.next().await {
                let data = data.map_err(q(context.clone()))?;
                let mut full = false;
                feed(&mut pending, &data, |buf| {
                    let mut start = 0;
                    while let Some(end) = memchr::memchr(b'\n', &buf[start..]) {
                        let line = &buf[start..start + end];
                        start += end + 1;
                        parse_line(line, &mut builders, &mut field).map_err(format)?;
                        full |= batches.counted(line.len());
                    }
                    Ok(start)
                })?;
                if full && !batches.emit(&mut builders, out).await? {
                    return Ok(batches.total);
                }
            }
            if !pending.is_empty() {
                return Err(format("the stream ended inside a row".into()));
            }
            batches.finish(builders, out).await
        }
    }

    async fn close(self) {
        self.client.batch_execute("COMMIT").await.ok();
    }
}

/// Rows of one range cut into batches by rows and bytes.
struct Batches {
    schema: Arc<Schema>,
    context: String,
    limits: (usize, usize),
    rows: usize,
    bytes: usize,
    total: u64,
}

impl Batches {
    /// Counts a row of `bytes`; true when the batch is full.
    fn counted(&mut self, bytes: usize) -> bool {
        self.rows += 1;
        self.bytes += bytes;
        self.rows >= self.limits.0 || self.bytes >= self.limits.1
    }

    /// Emits the builders' rows (finishing a builder empties it for the next batch); false when the pipeline wants
    /// no more.
    async fn emit<B: ArrayBuilder>(
        &mut self,
        builders: &mut [B],
        out: &mut dyn Emitter,
    ) -> Result<bool, TargetReadError> {
        let cols: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| {
            TargetReadError::Format {
                context: self.context.clone(),
                message: e.to_string(),
            }
        })?;
        self.total += self.rows as u64;
        (self.rows, self.bytes) = (0, 0);
        Ok(out.emit(batch).await.is_ok())
    }

    /// Emits what is left and returns the range's row count.
    async fn finish<B: ArrayBuilder>(
        mut self,
        mut builders: Vec<B>,
        out: &mut dyn Emitter,
    ) -> Result<u64, TargetReadError> {
        if self.rows > 0 {
            self.emit(&mut builders, out).await?;
        }
        Ok(self.total)
    }
}

/// Appends the fields of one binary COPY tuple (as [`crate::pgbinary::tuple`] found them at the start of `tuple`)
/// to the builders, one per column, each value as PostgreSQL sent it.
pub fn append_tuple(
    tuple: &[u8],
    fields: &[Option<std::ops::Range<usize>>],
    builders: &mut [BinaryBuilder],
) {
    for (b, f) in builders.iter_mut().zip(fields) {
        match f {
            Some(r) => b.append_value(&tuple[r.clone()]),
            None => b.append_null(),
        }
    }
}

/// Hands `parse` the bytes not parsed yet, `data` where it lies when nothing is pending (else the pending bytes with
/// `data` appended), and keeps what it did not take: `parse` returns how many bytes it took.
fn feed(
    pending: &mut Vec<u8>,
    data: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<usize, TargetReadError>,
) -> Result<(), TargetReadError> {
    if pending.is_empty() {
        let taken = parse(data)?;
        pending.extend_from_slice(&data[taken..]);
    } else {
        pending.extend_from_slice(data);
        let taken = parse(pending)?;
        pending.drain(..taken);
    }
    Ok(())
}

/// One line of COPY's text format: tab-separated fields, `\N` for NULL, backslash escapes. The line is checked as
/// UTF-8 once; fields without a backslash (nearly all) go into the builders without a copy of their own.
fn parse_line(
    line: &[u8],
    builders: &mut [StringBuilder],
    field: &mut String,
) -> Result<(), String> {
    let line = std::str::from_utf8(line).map_err(|e| e.to_string())?;
    let mut fields = line.split('\t');
    for b in builders.iter_mut() {
        let raw = fields.next().ok_or("fewer fields than columns")?;
        if raw == "\\N" {
            b.append_null();
        } else if !raw.contains('\\') {
            b.append_value(raw);
        } else {
            field.clear();
            let mut it = raw.chars();
            while let Some(c) = it.next() {
                if c != '\\' {
                    field.push(c);
                    continue;
                }
                field.push(match it.next().ok_or("a backslash ends a field")? {
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{b}',
                    other => other,
                });
            }
            b.append_value(&*field);
        }
    }
    if fields.next().is_some() {
        return Err("more fields than columns".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn copy_text_lines() {
        let mut b = vec![
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        ];
        let mut f = String::new();
        parse_line(b"a\\tb\\\\c\t\\N\t\xc3\xbc\\n", &mut b, &mut f).unwrap();
        let cols: Vec<_> = b.iter_mut().map(|b| b.finish()).collect();
        assert_eq!(cols[0].value(0), "a\tb\\c");
        assert!(cols[1].is_null(0));
        assert_eq!(cols[2].value(0), "ü\n");
        let mut b = vec![StringBuilder::new()];
        assert!(parse_line(b"a\tb", &mut b, &mut f).is_err());
    }

    #[test]
    fn rows_split_across_messages_are_kept_until_complete() {
        let stream = b"one\ntwo words\n\nthree\n";
        for size in 1..=stream.len() {
            let (mut pending, mut lines) = (Vec::new(), Vec::new());
            for data in stream.chunks(size) {
                feed(&mut pending, data, |buf| {
                    let mut start = 0;
                    while let Some(end) = memchr::memchr(b'\n', &buf[start..]) {
                        lines.push(String::from_utf8(buf[start..start + end].to_vec()).unwrap());
                        start += end + 1;
                    }
                    Ok(start)
                })
                .unwrap();
            }
            assert_eq!(
                lines,
                ["one", "two words", "", "three"],
                "messages of {size} bytes"
            );
            assert!(pending.is_empty(), "messages of {size} bytes");
        }
    }
}
