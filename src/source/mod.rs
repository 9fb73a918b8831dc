//! Sources of the data path. Today: MySQL/MariaDB (`mysql`); exported files will be a second source.

pub mod mysql;
