//! Reading the target back (`verify`): PostgreSQL rows of one key range through `COPY (SELECT ...) TO STDOUT`,
//! cut into batches of Utf8 columns holding PostgreSQL's text output, inside one exported snapshot shared by every
//! reader.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::Schema;
use futures::StreamExt;

use crate::connect::{pg_message, ConnectError};
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
    /// Utf8 schema of its batches.
    fn schema(&self) -> Arc<Schema>;
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
        let n = schema.fields().len();
        let new_builders = || (0..n).map(|_| StringBuilder::new()).collect::<Vec<_>>();
        let finish = |builders: Vec<StringBuilder>| {
            let cols: Vec<ArrayRef> = builders
                .into_iter()
                .map(|mut b| Arc::new(b.finish()) as ArrayRef)
                .collect();
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| TargetReadError::Format {
                context: context.clone(),
                message: e.to_string(),
            })
        };
        let stream = self
            .client
            .copy_out(work.copy_out_sql())
            .await
            .map_err(q(context.clone()))?;
        futures::pin_mut!(stream);
        let mut builders = new_builders();
        let (mut rows, mut bytes, mut total) = (0usize, 0usize, 0u64);
        let mut pending: Vec<u8> = Vec::new();
        let mut field = String::new();
        while let Some(data) = stream.next().await {
            let data = data.map_err(q(context.clone()))?;
            pending.extend_from_slice(&data);
            let mut start = 0;
            while let Some(end) = memchr::memchr(b'\n', &pending[start..]) {
                let line = &pending[start..start + end];
                start += end + 1;
                bytes += line.len();
                parse_line(line, &mut builders, &mut field).map_err(|message| {
                    TargetReadError::Format {
                        context: context.clone(),
                        message,
                    }
                })?;
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
            pending.drain(..start);
        }
        if !pending.is_empty() {
            return Err(TargetReadError::Format {
                context,
                message: "the stream ended inside a row".into(),
            });
        }
        if rows > 0 {
            total += rows as u64;
            if out.emit(finish(builders)?).await.is_err() {
                return Ok(total);
            }
        }
        Ok(total)
    }

    async fn close(self) {
        self.client.batch_execute("COMMIT").await.ok();
    }
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
}
