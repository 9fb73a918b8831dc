//! The row images of a group of followed transactions through each table's converter, a table's images in one
//! batch: the converter's per-call costs (its column tasks, the batch around the values) are paid once per table
//! and group instead of once per row. A violation is then looked for row by row, so that it names the transaction
//! it is in.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, RecordBatch};

use crate::run::work::TableWork;
use crate::source::mysql::binlog::{Row, Transaction};
use crate::values::Violation;

/// One converted image: the target text of each copied column.
pub(super) type Image = Vec<Option<String>>;
/// A change's place in its group: (transaction, change).
pub(super) type Slot = (usize, usize);
/// A change's images, before and after.
pub(super) type Images = HashMap<Slot, (Option<Image>, Option<Image>)>;

/// A followed table's converter, where each of its input columns is in the binary log's row, and where its
/// primary key is.
pub(super) struct Conversion<'a> {
    pub work: &'a TableWork,
    pub pick: &'a [usize],
    pub source_key: &'a [usize],
}

/// An image and where it belongs: its change, and whether it is the row after.
type Placed<'r> = ((Slot, bool), &'r Row);

/// Converts every image of `group`'s changes to the tables `tables` gives a conversion for; returns them by
/// change, as (before, after). Only the key of a row before is ever used: an update that keeps its key has no
/// image before here, the row after gives it (a conversion gives equal keys from equal bytes), which halves the
/// conversion of a stream of updates. A violation comes with the index of its transaction in `group`.
pub(super) fn convert_all<'a>(
    tables: impl Fn(&str) -> Option<Conversion<'a>>,
    group: &[Transaction],
) -> Result<Images, (usize, Box<Violation>)> {
    let mut by_table: HashMap<&str, Vec<Placed>> = HashMap::new();
    for (ti, t) in group.iter().enumerate() {
        for (ci, c) in t.changes.iter().enumerate() {
            let Some(f) = tables(&c.table) else {
                continue;
            };
            let images = by_table.entry(c.table.as_str()).or_default();
            let same_key = |a: &Row, b: &Row| f.source_key.iter().all(|&k| a[k] == b[k]);
            match (&c.before, &c.after) {
                (Some(b), Some(a)) if same_key(b, a) => {}
                (Some(b), _) => images.push((((ti, ci), false), b)),
                _ => {}
            }
            if let Some(a) = &c.after {
                images.push((((ti, ci), true), a));
            }
        }
    }
    let mut out = Images::new();
    for (table, images) in by_table {
        let f = tables(table).expect("a followed table");
        let rows: Vec<&Row> = images.iter().map(|(_, r)| *r).collect();
        let converted = match batch(&f, &rows) {
            Ok(c) => c,
            Err(_) => return Err(first_violation(&f, &images)),
        };
        for ((slot, after), image) in images.iter().map(|(s, _)| *s).zip(converted) {
            let e = out.entry(slot).or_default();
            match after {
                true => e.1 = Some(image),
                false => e.0 = Some(image),
            }
        }
    }
    Ok(out)
}

/// `rows` of `f`'s table through its converter in one batch.
pub(super) fn batch(f: &Conversion, rows: &[&Row]) -> Result<Vec<Image>, Box<Violation>> {
    let columns: Vec<ArrayRef> = f
        .pick
        .iter()
        .map(|&i| {
            Arc::new(BinaryArray::from(
                rows.iter().map(|r| r[i].as_deref()).collect::<Vec<_>>(),
            )) as ArrayRef
        })
        .collect();
    let raw =
        RecordBatch::try_new(f.work.raw_schema.clone(), columns).expect("rows in the raw schema");
    let out = f.work.converter.apply(&raw)?;
    let strings: Vec<_> = out.columns().iter().map(|c| c.as_string::<i32>()).collect();
    Ok((0..rows.len())
        .map(|r| {
            strings
                .iter()
                .map(|s| (!s.is_null(r)).then(|| s.value(r).to_string()))
                .collect()
        })
        .collect())
}

/// The violation of the first image that has one, with its transaction's index.
fn first_violation(f: &Conversion, images: &[Placed]) -> (usize, Box<Violation>) {
    for (((ti, _), _), row) in images {
        if let Err(violation) = batch(f, &[row]) {
            return (*ti, violation);
        }
    }
    unreachable!("a batch with a violation has a row with one")
}
