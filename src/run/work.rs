//! The jobs a run hands to the pipeline: each table's part (what to read, how to convert, where to COPY) and one
//! job per chunk of it, interleaved across tables so that every writer has a table to load.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow::datatypes::Schema;

use crate::chunk::ChunkRange;
use crate::config::Tuning;
use crate::contract::TableContract;
use crate::convert::Conversion;
use crate::mapping::Mapping;
use crate::pipeline::Work;
use crate::schema::{SourceTable, TargetTable};
use crate::source::mysql::{self as src, ReadSpec};
use crate::util::sql::{pg_ident, pg_qualified};
use crate::values::TableConverter;

/// The per-table part of a job: what to read, how to convert, where to COPY.
pub struct TableWork {
    pub source: SourceTable,
    pub contract: TableContract,
    pub converter: TableConverter,
    pub conversions: Vec<Conversion>,
    pub read_columns: Vec<String>,
    /// Positions of the source primary-key columns in `read_columns`, in key order.
    pub key_columns: Vec<usize>,
    pub raw_schema: Arc<Schema>,
    pub copy_sql: String,
    pub binary: bool,
    pub staged: Option<crate::sink::copy::Staged>,
}

/// One chunk of a table: the unit the pipeline reads, converts and commits.
pub struct ChunkWork {
    pub table: Arc<TableWork>,
    pub index: u32,
    pub range: ChunkRange,
    select_sql: String,
}

impl ChunkWork {
    pub fn new(table: Arc<TableWork>, index: u32, range: ChunkRange) -> ChunkWork {
        let select_sql = src::chunk_sql(&table.source, &table.read_columns, &range);
        ChunkWork {
            table,
            index,
            range,
            select_sql,
        }
    }
}

impl Work for ChunkWork {
    fn table(&self) -> &str {
        &self.table.contract.source
    }
}

impl ReadSpec for ChunkWork {
    fn select_sql(&self) -> &str {
        &self.select_sql
    }
    fn raw_schema(&self) -> Arc<Schema> {
        self.table.raw_schema.clone()
    }
}

impl crate::sink::copy::CopySpec for ChunkWork {
    fn copy_sql(&self) -> &str {
        &self.table.copy_sql
    }
    fn binary(&self) -> bool {
        self.table.binary
    }
    fn staged(&self) -> Option<&crate::sink::copy::Staged> {
        self.table.staged.as_ref()
    }
}

impl crate::sink::Spec for ChunkWork {
    fn target(&self) -> &str {
        &self.table.contract.target
    }
    fn chunk(&self) -> u32 {
        self.index
    }
    fn describe(&self) -> String {
        format!("{:?}", self.range)
    }
    fn out_schema(&self) -> Arc<Schema> {
        self.table.converter.out_schema()
    }
    fn conversions(&self) -> &[Conversion] {
        &self.table.conversions
    }
    fn key_names(&self) -> &[String] {
        &self.table.source.primary_key
    }
}

/// The per-table part of the pipeline: what to read, how to convert, where to COPY.
pub(super) fn table_work(
    tp: &TableContract,
    s: &SourceTable,
    t: &TargetTable,
    lookups: &crate::values::Lookups,
    mapping: &Mapping,
    validate_json: bool,
    binary: bool,
) -> TableWork {
    let mut read_columns: Vec<String> = tp.columns.iter().map(|c| c.source.clone()).collect();
    for k in &tp.primary_key {
        if !read_columns.contains(k) {
            read_columns.push(k.clone());
        }
    }
    let nullable: HashMap<String, bool> = t
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.nullable))
        .collect();
    let converter = TableConverter::new(
        tp,
        &read_columns,
        &nullable,
        lookups,
        &mapping
            .source_zone()
            .expect("the zone was checked when the mapping was loaded"),
    );
    let converter = if validate_json {
        converter
    } else {
        converter.without_json_validation()
    };
    let cols: Vec<String> = converter
        .target_columns()
        .iter()
        .map(|c| pg_ident(c))
        .collect();
    let table = pg_qualified(&mapping.target_schema, &t.name);
    let staged = tp
        .staged
        .then(|| crate::sink::copy::Staged::new(&table, &cols.join(", ")));
    let copy_sql = format!(
        "COPY {} ({}) FROM STDIN (FORMAT {})",
        if staged.is_some() {
            crate::sink::copy::Staged::TABLE
        } else {
            &table
        },
        cols.join(", "),
        if binary { "binary" } else { "csv" }
    );
    let key_columns = s
        .primary_key
        .iter()
        .filter_map(|k| read_columns.iter().position(|c| c == k))
        .collect();
    TableWork {
        key_columns,
        source: s.clone(),
        contract: tp.clone(),
        conversions: converter.conversions(),
        converter,
        raw_schema: src::raw_schema(&read_columns),
        read_columns,
        copy_sql,
        binary,
        staged,
    }
}

/// Round-robin over tables, each table's chunks in order, biggest tables first.
pub(super) fn interleave(jobs: Vec<ChunkWork>) -> Vec<Arc<ChunkWork>> {
    let mut per: Vec<VecDeque<ChunkWork>> = Vec::new();
    for j in jobs {
        match per
            .iter_mut()
            .find(|q| q.front().is_some_and(|f| Arc::ptr_eq(&f.table, &j.table)))
        {
            Some(q) => q.push_back(j),
            None => per.push(VecDeque::from([j])),
        }
    }
    let mut out = Vec::new();
    while per.iter().any(|q| !q.is_empty()) {
        for q in per.iter_mut() {
            if let Some(j) = q.pop_front() {
                out.push(Arc::new(j));
            }
        }
    }
    out
}

/// One reader per snapshot connection, its batches sized by `tuning`.
pub fn readers(tuning: &Tuning, snapshot: &mut src::Snapshot) -> Vec<src::Reader> {
    let (rows, bytes) = (tuning.batch_rows, tuning.batch_bytes());
    std::mem::take(&mut snapshot.conns)
        .into_iter()
        .map(|c| src::Reader::new(c, rows, bytes))
        .collect()
}
