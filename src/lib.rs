//! pgconverge: moves a MySQL/MariaDB database into a PostgreSQL schema made by the application's own migrations.
//!
//! Layers, each importing only those below it in this list (`scripts/check-modules.py` proves there is no cycle
//! and no command importing another; docs/architecture.md draws them):
//! - `cli` (flags as typed), `config` (every default and policy: flags + cores -> each command's settings),
//!   `exit` (the exit codes), `logging`.
//! - `commands`: the eight commands, each a short sequence of the run layer's phases; `commands::run` dispatches.
//! - `run`: the phases (session, jobs, target-only keys, encode, load and finish, export directories, answers,
//!   verification, output); `error`: the run-level error wrapping each layer's typed error.
//! - `pipeline`: the engine, the only module with tasks, channels and cancellation; generic over sources,
//!   transforms and sinks. `source` (MySQL snapshot readers, export files, the target read back) and `sink`
//!   (encoders, COPY, CSV and Parquet files): its stages.
//! - `cutover`: preparing and finishing PostgreSQL, restoring it, the run ledger.
//! - `values`: values converted and validated column by column; `canonical`: the form `verify` compares.
//! - `durable`: every statement that changes the target's durable state, one counted step per commit.
//! - `connect`, `credentials`, `tls`, `url`, `schema`, `mapping`, `convert`, `contract`: connections, introspection and the schema
//!   contract; `chunk`: the chunk and snapshot types every layer shares; `manifest`, `report`, `window`.
//! - `util`, `hooks`, `progress`, `pgbinary`: pure helpers, test hooks (cargo feature `test-hooks`), the progress
//!   display, PostgreSQL's binary COPY framing and values read back.
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
pub mod credentials;
pub mod cutover;
pub mod durable;
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
