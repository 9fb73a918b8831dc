//! Small pure helpers shared by several layers: calendar arithmetic, hex, stable hashing, row-key rendering,
//! SQL quoting.
//! Nothing here does I/O or knows about a database.

pub mod calendar;
pub mod hash;
pub mod hex;
pub mod key;
pub mod sql;
