//! Updates that keep their key write only the columns they changed: the binary log's full row images show which
//! source columns differ, and a converted column depends on its own source column alone, so the others already
//! hold their converted values. A few changed columns of a wide row then travel, are cast and are written alone;
//! the rest keep their stored (and compressed) values. Each table's shapes (sets of changed columns) get their
//! own statements, up to a bound.

use std::collections::HashMap;

use super::sets;
use crate::source::mysql::binlog::Row;

/// Past this many shapes of one table, its updates write every column: the statements kept stay bounded.
const MAX_SHAPES: usize = 64;

/// A followed table's columns as its update shapes need them.
pub(super) struct Columns {
    /// Each converted column's source column, as its position among the source's columns.
    pub sources: Vec<usize>,
    /// The qualified table, its columns (quoted) and their types.
    pub qualified: String,
    pub names: Vec<String>,
    pub types: Vec<String>,
}

/// The columns an update that kept its key changed (positions among the converted columns), and its two
/// statements: for one row and for a run of rows.
pub(super) struct Shape {
    pub set: Vec<usize>,
    pub one: String,
    pub many: String,
}

/// The shapes met so far; a shape is known by its index here plus one, 0 standing for every column.
#[derive(Default)]
pub(super) struct Shapes {
    by_table: HashMap<String, HashMap<Vec<usize>, usize>>,
    shaped: Vec<Shape>,
}

impl Shapes {
    /// The shape of an update of a row of source table `table` (`c`: its columns; `key`: its key among the
    /// converted columns, `source_key` among the source's) from source row `before` to `after`: 0 when it changes
    /// its key or every column, or when the table has met too many shapes already. A row whose bytes did not
    /// change at all still takes an update (of its key, to itself), so that a missing row stops the run.
    pub(super) fn of(
        &mut self,
        c: &Columns,
        (key, source_key): (&[usize], &[usize]),
        table: &str,
        (before, after): (&Row, &Row),
    ) -> usize {
        let Some(set) = changed(&c.sources, source_key, key, before, after) else {
            return 0;
        };
        if !self.by_table.contains_key(table) {
            self.by_table.insert(table.to_string(), HashMap::new());
        }
        let known = self.by_table.get_mut(table).expect("just made");
        if let Some(&i) = known.get(&set) {
            return i + 1;
        }
        if known.len() >= MAX_SHAPES {
            return 0;
        }
        let types: Vec<&str> = c.types.iter().map(String::as_str).collect();
        let sql = |rows| sets::update(&c.qualified, &c.names, &types, key, &set, rows);
        self.shaped.push(Shape {
            one: sql(false),
            many: sql(true),
            set: set.clone(),
        });
        known.insert(set, self.shaped.len() - 1);
        self.shaped.len()
    }

    /// Shape `shape`, or None for every column.
    pub(super) fn get(&self, shape: usize) -> Option<&Shape> {
        shape.checked_sub(1).map(|i| &self.shaped[i])
    }
}

/// The converted columns (positions) an update from source row `before` to `after` writes, when it keeps its key
/// (`source_key`, among the source's columns) and leaves some column alone: those whose source column
/// (`sources`) changed, or the key's columns (`key`, among the converted ones) when none did. None: every column.
fn changed(
    sources: &[usize],
    source_key: &[usize],
    key: &[usize],
    before: &Row,
    after: &Row,
) -> Option<Vec<usize>> {
    if source_key.iter().any(|&k| before[k] != after[k]) {
        return None;
    }
    let set: Vec<usize> = (0..sources.len())
        .filter(|&i| before[sources[i]] != after[sources[i]])
        .collect();
    match set.len() {
        0 => Some(key.to_vec()),
        n if n == sources.len() => None,
        _ => Some(set),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_writes_the_columns_whose_source_bytes_changed() {
        let row = |v: &[&str]| -> Row { v.iter().map(|s| Some(s.as_bytes().to_vec())).collect() };
        // Source columns: id, note, big, version; converted: version, id, big (note is not copied).
        let (sources, source_key, key) = ([3, 0, 2], [0], [1]);
        let before = row(&["1", "a", "xxxx", "7"]);
        let changed = |after: &[&str]| changed(&sources, &source_key, &key, &before, &row(after));
        assert_eq!(changed(&["1", "a", "xxxx", "8"]), Some(vec![0]));
        assert_eq!(
            changed(&["1", "b", "xxxx", "7"]),
            Some(vec![1]),
            "none copied changed: the key"
        );
        assert_eq!(changed(&["1", "a", "yyyy", "8"]), Some(vec![0, 2]));
        assert_eq!(
            changed(&["2", "a", "xxxx", "8"]),
            None,
            "a key change moves the row"
        );
        let mut nulled = row(&["1", "a", "xxxx", "7"]);
        nulled[2] = None;
        assert_eq!(
            super::changed(&sources, &source_key, &key, &before, &nulled),
            Some(vec![2])
        );
        let all = [0, 3];
        assert_eq!(
            super::changed(
                &all,
                &source_key,
                &[0],
                &before,
                &row(&["1", "a", "xxxx", "9"])
            ),
            Some(vec![1])
        );
        assert_eq!(
            super::changed(
                &[3],
                &source_key,
                &[0],
                &before,
                &row(&["1", "a", "xxxx", "9"])
            ),
            None,
            "every converted column changed"
        );
    }
}
