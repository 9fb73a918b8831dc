//! pgconverge: moves a MySQL/MariaDB database into a PostgreSQL schema made by the application's own migrations.
//!
//! Layout: `schema` introspects both sides, `mapping` + `convert` + `plan` form the schema contract,
//! `source` (MySQL reads) -> `transform` (rayon, column-wise) -> `sink` (CSV, COPY) is the data path that
//! `migrate` drives, with `target` preparing and finishing PostgreSQL. `facts`, `fixtures` and `gen` are the
//! test bed: the pristine application schemas and a production-shaped data generator.

pub mod check;
pub mod commands;
pub mod connect;
pub mod convert;
pub mod error;
pub mod facts;
pub mod fixtures;
pub mod gen;
pub mod hash;
pub mod mapping;
pub mod migrate;
pub mod plan;
pub mod schema;
pub mod sink;
pub mod source;
pub mod target;
pub mod transform;
pub mod url;
