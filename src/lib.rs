//! pgconverge: moves a MySQL/MariaDB database into a PostgreSQL schema made by the application's own migrations.
//!
//! Layout: `facts` and `fixtures` describe the pristine application schemas (test bed and generator only);
//! `gen` fills a source with production-shaped data; `url` parses and redacts connection strings.

pub mod commands;
pub mod connect;
pub mod convert;
pub mod error;
pub mod facts;
pub mod fixtures;
pub mod gen;
pub mod mapping;
pub mod plan;
pub mod schema;
pub mod url;
