//! A critical-data check's answer, folded while its rows stream in: the row count, a digest of every row in order
//! and the first rows (to show, and to point at the first difference). Memory stays bounded whatever the query
//! returns: a check grouping by a column with a hundred thousand distinct values once held them all, on both sides.

use sha2::{Digest, Sha256};

/// Why a check's query gave no answer (the server's message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryFailed(pub String);

/// One row of a check's answer as text; NULL is `None`.
pub type Row = Vec<Option<String>>;

/// Rows kept of an answer: enough to show it and to name the first difference of a short answer.
pub const HEAD_ROWS: usize = 200;

/// Rows shown in a checklist line.
const SHOWN_ROWS: usize = 3;

/// A finished answer. Two answers are equal when they have as many rows and the same digest.
#[derive(Debug, Clone)]
pub struct Answer {
    pub rows: u64,
    /// SHA-256 over the rows in order (hex), see [`Fold::push`].
    pub digest: String,
    /// The first [`HEAD_ROWS`] rows.
    pub head: Vec<Row>,
}

impl PartialEq for Answer {
    fn eq(&self, other: &Answer) -> bool {
        self.rows == other.rows && self.digest == other.digest
    }
}

/// Folds rows into an [`Answer`].
#[derive(Default)]
pub struct Fold {
    rows: u64,
    hash: Sha256,
    head: Vec<Row>,
}

impl Fold {
    /// Adds the next row. Each value is hashed with its length, so that no two different rows (or splits of the
    /// same bytes into values) hash alike.
    pub fn push(&mut self, row: Row) {
        self.hash.update((row.len() as u32).to_le_bytes());
        for v in &row {
            match v {
                None => self.hash.update([0u8]),
                Some(s) => {
                    self.hash.update([1u8]);
                    self.hash.update((s.len() as u64).to_le_bytes());
                    self.hash.update(s.as_bytes());
                }
            }
        }
        self.rows += 1;
        if self.head.len() < HEAD_ROWS {
            self.head.push(row);
        }
    }

    pub fn finish(self) -> Answer {
        Answer {
            rows: self.rows,
            digest: super::fsio::hex_digest(self.hash),
            head: self.head,
        }
    }
}

impl Answer {
    /// The answer of these rows (a manifest written before answers were folded kept every row).
    pub fn of(rows: Vec<Row>) -> Answer {
        let mut f = Fold::default();
        for r in rows {
            f.push(r);
        }
        f.finish()
    }

    /// The first rows, `|` between values, and how many more there are.
    pub fn show(&self) -> String {
        let text: Vec<String> = self.head.iter().take(SHOWN_ROWS).map(show_row).collect();
        let more = if self.rows > SHOWN_ROWS as u64 {
            format!(" (+{} rows)", self.rows - SHOWN_ROWS as u64)
        } else {
            String::new()
        };
        format!("[{}]{more}", text.join("; "))
    }

    /// Where two different answers first differ, when their kept rows show it: the row number (from 1) and both
    /// rows (`None` past an answer's end).
    pub fn first_difference<'a>(
        &'a self,
        other: &'a Answer,
    ) -> Option<(usize, Option<&'a Row>, Option<&'a Row>)> {
        let kept = self.head.len().min(other.head.len());
        if let Some(i) = (0..kept).find(|&i| self.head[i] != other.head[i]) {
            return Some((i + 1, Some(&self.head[i]), Some(&other.head[i])));
        }
        // Equal kept rows; one answer ends inside them.
        let ends = |a: &Answer| a.rows as usize == a.head.len() && a.head.len() == kept;
        (self.rows != other.rows && (ends(self) || ends(other)))
            .then(|| (kept + 1, self.head.get(kept), other.head.get(kept)))
    }
}

/// A row as `a | b | NULL`, each value cut at 60 characters.
pub fn show_row(r: &Row) -> String {
    r.iter()
        .map(|v| {
            v.as_deref()
                .unwrap_or("NULL")
                .chars()
                .take(60)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &[Option<&str>]) -> Row {
        v.iter().map(|x| x.map(str::to_string)).collect()
    }

    #[test]
    fn equal_rows_fold_alike_and_any_change_differs() {
        let rows = |n: usize| {
            (0..n)
                .map(|i| row(&[Some(&i.to_string()), None]))
                .collect::<Vec<_>>()
        };
        let a = Answer::of(rows(1000));
        assert_eq!(a, Answer::of(rows(1000)));
        assert_eq!(a.head.len(), HEAD_ROWS);
        assert_eq!(a.rows, 1000);
        // A change past the kept rows still differs (the digest covers every row).
        let mut changed = rows(1000);
        changed[900][1] = Some(String::new());
        let b = Answer::of(changed);
        assert_ne!(a, b);
        assert_eq!(a.first_difference(&b), None);
        // NULL, an empty string and values split differently are all distinct.
        assert_ne!(
            Answer::of(vec![row(&[None])]),
            Answer::of(vec![row(&[Some("")])])
        );
        assert_ne!(
            Answer::of(vec![row(&[Some("ab"), Some("c")])]),
            Answer::of(vec![row(&[Some("a"), Some("bc")])])
        );
    }

    #[test]
    fn first_difference_inside_the_kept_rows_is_named() {
        let a = Answer::of(vec![
            row(&[Some("x"), Some("1")]),
            row(&[Some("y"), Some("2")]),
        ]);
        let b = Answer::of(vec![
            row(&[Some("x"), Some("1")]),
            row(&[Some("y"), Some("3")]),
        ]);
        let (n, s, t) = a.first_difference(&b).expect("a difference");
        assert_eq!(n, 2);
        assert_eq!(show_row(s.unwrap()), "y | 2");
        assert_eq!(show_row(t.unwrap()), "y | 3");
        // One answer is a prefix of the other.
        let c = Answer::of(vec![row(&[Some("x"), Some("1")])]);
        assert_eq!(
            a.first_difference(&c).map(|d| (d.0, d.2.is_none())),
            Some((2, true))
        );
        assert_eq!(a.show(), "[x | 1; y | 2]");
        assert_eq!(
            Answer::of(vec![row(&[Some("z")]); 5]).show(),
            "[z; z; z] (+2 rows)"
        );
    }
}
