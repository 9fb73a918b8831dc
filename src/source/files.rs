//! The exported-files source (`pgconverge import`): reads a chunk file in blocks of raw bytes, handed on as
//! one-column Arrow batches, so an import runs through the same pipeline, sinks and ledger as `migrate`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use crate::pipeline::{Emitter, Source, Work};

/// Bytes per block read from a file.
const BLOCK: usize = 1 << 20;

/// What the file source needs to know about a chunk.
pub trait FileSpec {
    fn path(&self) -> &Path;
    /// Data rows the file holds (from the manifest).
    fn rows(&self) -> u64;
}

/// A file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct FileError {
    pub path: String,
    pub source: std::io::Error,
}

/// Reads chunk files; one per reader.
pub struct FileReader;

/// Schema of the batches: one Binary column holding one block.
pub fn block_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new(
        "block",
        DataType::Binary,
        false,
    )]))
}

impl<W: Work + FileSpec> Source<W> for FileReader {
    type Error = FileError;

    async fn read(&mut self, work: &W, out: &mut dyn Emitter) -> Result<u64, FileError> {
        let err = |source| FileError {
            path: work.path().display().to_string(),
            source,
        };
        let mut f = std::fs::File::open(work.path()).map_err(err)?;
        let schema = block_schema();
        let mut buf = vec![0u8; BLOCK];
        loop {
            let n = f.read(&mut buf).map_err(err)?;
            if n == 0 {
                break;
            }
            let block: ArrayRef = Arc::new(BinaryArray::from(vec![&buf[..n]]));
            let batch = RecordBatch::try_new(schema.clone(), vec![block]).expect("one column");
            if out.emit(batch).await.is_err() {
                break;
            }
        }
        Ok(work.rows())
    }

    async fn close(self) {}
}

/// Parses an exported CSV file (docs/csv-format.md: a header row, RFC 4180 quoting, lines ending in LF, NULL as
/// an unquoted empty field, `''` as `""`) into its data rows, NULL as None. For locating differences after an
/// import; the load itself streams the bytes to COPY unparsed.
pub fn parse_csv(data: &[u8]) -> Result<Vec<Vec<Option<String>>>, String> {
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| "a field is not valid UTF-8".to_string())
    };
    let mut rows = Vec::new();
    let mut row: Vec<Option<String>> = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let field = if data[i] == b'"' {
            let mut v = Vec::new();
            i += 1;
            loop {
                match memchr::memchr(b'"', &data[i..]) {
                    None => return Err("a quoted field is not closed".into()),
                    Some(q) => {
                        v.extend_from_slice(&data[i..i + q]);
                        i += q + 1;
                        if data.get(i) == Some(&b'"') {
                            v.push(b'"');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            Some(text(&v)?)
        } else {
            let end = memchr::memchr2(b',', b'\n', &data[i..]).map_or(data.len(), |e| i + e);
            let v = &data[i..end];
            i = end;
            (!v.is_empty()).then(|| text(v)).transpose()?
        };
        row.push(field);
        match data.get(i) {
            Some(b',') => i += 1,
            Some(b'\n') | None => {
                rows.push(std::mem::take(&mut row));
                i += 1;
            }
            Some(_) => return Err("a quoted field is followed by more than a separator".into()),
        }
    }
    if rows.is_empty() {
        return Err("the file has no header row".into());
    }
    rows.remove(0);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::parse_csv;

    #[test]
    fn exported_csv_reads_back_with_null_apart_from_empty() {
        let data = b"a,b\n,\"\"\n\"a,b\",plain\n\"say \"\"hi\"\"\",\"l1\r\nl2\"\n\"\\.\",x\n";
        let rows = parse_csv(data).unwrap();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            rows,
            vec![
                vec![None, s("")],
                vec![s("a,b"), s("plain")],
                vec![s("say \"hi\""), s("l1\r\nl2")],
                vec![s("\\."), s("x")],
            ]
        );
        assert!(parse_csv(b"a\n\"open").is_err());
        assert!(parse_csv(b"").is_err());
    }
}
