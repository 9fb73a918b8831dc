//! CSV encoding of transformed batches for `COPY ... FROM STDIN (FORMAT csv)` and for exported files.
//!
//! NULL is an unquoted empty field and the empty string is `""`; every character is kept (CR and LF inside
//! quotes). arrow-csv's writer cannot tell NULL from the empty string (see the test below), hence our own encoder.
//! Fields are quoted only when they need it: empty, or holding a delimiter, quote, CR, LF or backslash (a quoted
//! `\.` can never be read as an end-of-data marker).

use arrow::array::{Array, AsArray, RecordBatch};

fn needs_quotes(v: &[u8]) -> bool {
    v.is_empty()
        || v.iter()
            .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r' | b'\\'))
}

/// Appends one batch (all columns Utf8) as CSV rows to `out`.
pub fn encode(batch: &RecordBatch, out: &mut Vec<u8>) {
    let cols: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| c.as_string::<i32>())
        .collect();
    for row in 0..batch.num_rows() {
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if c.is_null(row) {
                continue;
            }
            let v = c.value(row).as_bytes();
            if needs_quotes(v) {
                out.push(b'"');
                let mut start = 0;
                for q in memchr::memchr_iter(b'"', v) {
                    out.extend_from_slice(&v[start..=q]);
                    out.push(b'"');
                    start = q + 1;
                }
                out.extend_from_slice(&v[start..]);
                out.push(b'"');
            } else {
                out.extend_from_slice(v);
            }
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray};
    use std::sync::Arc;

    fn batch(values: Vec<Option<&str>>) -> RecordBatch {
        let a: ArrayRef = Arc::new(StringArray::from(values));
        RecordBatch::try_from_iter([("c", a.clone()), ("d", a)]).unwrap()
    }

    #[test]
    fn null_and_empty_differ_and_specials_survive() {
        let b = batch(vec![
            None,
            Some(""),
            Some("a,b"),
            Some("say \"hi\""),
            Some("l1\r\nl2"),
            Some("\\."),
            Some("plain"),
        ]);
        let mut out = Vec::new();
        encode(&b, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            ",\n\"\",\"\"\n\"a,b\",\"a,b\"\n\"say \"\"hi\"\"\",\"say \"\"hi\"\"\"\n\"l1\r\nl2\",\"l1\r\nl2\"\n\"\\.\",\"\\.\"\nplain,plain\n"
        );
    }

    /// The reason this module exists: arrow-csv writes NULL and '' identically with its defaults.
    #[test]
    fn arrow_csv_cannot_tell_null_from_empty() {
        let b = batch(vec![None, Some("")]);
        let mut w = arrow_csv::WriterBuilder::new()
            .with_header(false)
            .build(Vec::new());
        w.write(&b).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0], lines[1],
            "arrow-csv now distinguishes them; reconsider using it"
        );
    }
}
