//! Sources of the data path (`pipeline::Source` implementations): MySQL/MariaDB (`mysql`), exported files
//! (`files`) and, for `verify`, the target read back (`pg`).

pub mod files;
pub mod mysql;
pub mod pg;
