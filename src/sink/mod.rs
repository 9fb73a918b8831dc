//! Sinks of the data path: CSV encoding (`csv`) and PostgreSQL COPY (`copy`); files come next.

pub mod copy;
pub mod csv;
