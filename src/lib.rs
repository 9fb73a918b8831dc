//! pgconverge: moves a MySQL/MariaDB database into a PostgreSQL schema made by the application's own migrations.
//!
//! Layers, each importing only those above it in this list (`scripts/check-modules.py` proves there is no cycle):
//! - `util`, `hooks`, `url`, `progress`: pure helpers, test hooks (cargo feature `test-hooks`), URL redaction, the
//!   progress display; `pgbinary`: PostgreSQL's binary COPY framing and values, read back.
//! - `pipeline`: the engine, the only module with tasks, channels and cancellation; generic over sources,
//!   transforms and sinks.
//! - `connect`, `schema`, `mapping`, `convert`, `plan`: connections, introspection and the schema contract.
//! - `transform`: values converted and validated column by column; `canonical`: the form `verify` compares.
//! - `source` (MySQL snapshot readers, export files, the target read back) and `sink` (encoders, COPY, CSV and Parquet
//!   files): pipeline stages.
//! - `target`: preparing and finishing PostgreSQL, the run ledger.
//! - `report`: the run reports' envelope, per-table timings and the summary table; `window`: the cut-over
//!   window estimate from table sizes and a rehearsal's report.
//! - `error`, `commands`, `cli`: the run-level error, the compositions the binary calls, and its flags.
//!
//! The test bed (data generator, fact catalogues, fixture schemas) is the separate crate `testbed/`.

pub mod canonical;
pub mod chunk;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connect;
pub mod contract;
pub mod convert;
pub mod cutover;
pub mod error;
pub mod exit;
pub mod hooks;
pub mod logging;
pub mod manifest;
pub mod mapping;
pub mod pgbinary;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod run;
pub mod schema;
pub mod sink;
pub mod source;
pub mod tls;
pub mod url;
pub mod util;
pub mod values;
pub mod window;
