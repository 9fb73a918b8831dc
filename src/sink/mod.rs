//! Sinks of the data path: CSV and binary COPY encoding (`csv`, `binary`), PostgreSQL COPY (`copy`), Parquet snapshots
//! (`parquet`).

pub mod binary;
pub mod copy;
pub mod csv;
pub mod parquet;
