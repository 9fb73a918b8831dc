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

/// Appends one batch (all columns Utf8) as CSV rows to `out`. Returns, for the rows whose quoted fields hold
/// line breaks, (row in batch, line feeds, carriage returns): PostgreSQL counts those in the line numbers of COPY
/// errors, and [`LineMap`] undoes that to find the row.
pub fn encode(batch: &RecordBatch, out: &mut Vec<u8>) -> Vec<(u32, u32, u32)> {
    let mut multiline = Vec::new();
    let cols: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| c.as_string::<i32>())
        .collect();
    for row in 0..batch.num_rows() {
        let (mut feeds, mut returns) = (0u32, 0u32);
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if c.is_null(row) {
                continue;
            }
            let v = c.value(row).as_bytes();
            if needs_quotes(v) {
                feeds += memchr::memchr_iter(b'\n', v).count() as u32;
                returns += memchr::memchr_iter(b'\r', v).count() as u32;
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
        if feeds > 0 || returns > 0 {
            multiline.push((row as u32, feeds, returns));
        }
    }
    multiline
}

/// The header row of a CSV file: the column names, quoted where needed, as `COPY ... (HEADER true)` skips it.
pub fn header(names: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if needs_quotes(n.as_bytes()) {
            out.push(b'"');
            out.extend_from_slice(n.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(n.as_bytes());
        }
    }
    out.push(b'\n');
    out
}

/// Maps the line numbers PostgreSQL reports for a COPY stream back to row numbers.
///
/// PostgreSQL (copyfromparse.c, CopyReadLineText) counts one line per record, plus every line break inside a
/// quoted field that matches the stream's line ending. Until the first record ends it does not know the ending
/// and counts carriage returns; from then on (we end records with `\n`) it counts line feeds.
#[derive(Debug, Default)]
pub struct LineMap {
    rows: u64,
    /// (row in the stream, line feeds, carriage returns inside its quoted fields), rows in order.
    multiline: Vec<(u64, u64, u64)>,
}

impl LineMap {
    /// Rows recorded so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Records a batch of `rows` rows with its `encode` result.
    pub fn push(&mut self, rows: u64, multiline: &[(u32, u32, u32)]) {
        let base = self.rows;
        self.multiline.extend(
            multiline
                .iter()
                .map(|&(r, lf, cr)| (base + r as u64, lf as u64, cr as u64)),
        );
        self.rows += rows;
    }

    /// 0-based row of the stream that PostgreSQL calls `line` (1-based).
    pub fn row_of_line(&self, line: u64) -> Option<u64> {
        let first = self
            .multiline
            .first()
            .filter(|m| m.0 == 0)
            .map(|m| m.2)
            .unwrap_or(0);
        if line <= 1 + first {
            return (line >= 1 && self.rows > 0).then_some(0);
        }
        let mut extra = first;
        for &(row, feeds, _) in self.multiline.iter().filter(|m| m.0 > 0) {
            let candidate = line.checked_sub(1 + extra)?;
            if candidate < row {
                return Some(candidate);
            }
            if line <= row + 1 + extra + feeds {
                return Some(row);
            }
            extra += feeds;
        }
        let row = line.checked_sub(1 + extra)?;
        (row < self.rows).then_some(row)
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
        assert_eq!(encode(&b, &mut out), vec![(4, 2, 2)]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            ",\n\"\",\"\"\n\"a,b\",\"a,b\"\n\"say \"\"hi\"\"\",\"say \"\"hi\"\"\"\n\"l1\r\nl2\",\"l1\r\nl2\"\n\"\\.\",\"\\.\"\nplain,plain\n"
        );
    }

    #[test]
    fn line_numbers_map_back_to_rows() {
        // Rows 0..6; row 0 has 2 LF and 3 CR (the CRs count), row 2 has 1 LF, row 4 has 3 LF and 1 CR.
        let mut m = LineMap::default();
        m.push(3, &[(0, 2, 3), (2, 1, 0)]);
        m.push(4, &[(1, 3, 1)]);
        assert_eq!(m.row_of_line(4), Some(0)); // 1 + 3 CR
        assert_eq!(m.row_of_line(5), Some(1));
        assert_eq!(m.row_of_line(7), Some(2)); // 6 + its own LF
        assert_eq!(m.row_of_line(8), Some(3));
        assert_eq!(m.row_of_line(12), Some(4)); // 9 + 3 LF
        assert_eq!(m.row_of_line(13), Some(5));
        assert_eq!(m.row_of_line(14), Some(6));
        assert_eq!(m.row_of_line(15), None);
    }

    /// What PostgreSQL 15 answered for this stream (checked with psql): `"a\r\nb",1` `"c\nd",2` `"e",oops`
    /// fails with "COPY x, line 5, column b". The tests in tests/fail_fast.rs check the mapping end to end.
    #[test]
    fn line_map_matches_a_recorded_postgres_answer() {
        let mut m = LineMap::default();
        m.push(3, &[(0, 1, 1), (1, 1, 0)]);
        assert_eq!(m.row_of_line(5), Some(2));
        assert_eq!(m.row_of_line(4), Some(1));
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
