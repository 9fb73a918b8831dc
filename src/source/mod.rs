//! Sources of the data path (`pipeline::Source` implementations). Today: MySQL/MariaDB (`mysql`); exported files
//! will be a second source.

pub mod files;
pub mod mysql;
