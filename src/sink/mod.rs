//! Sinks of the data path: CSV encoding (`csv`), PostgreSQL COPY (`copy`), Parquet snapshots (`parquet`).

pub mod copy;
pub mod csv;
pub mod parquet;
