//! Small pure helpers shared by several layers: check answers folded as they stream, calendar arithmetic, hex, JSON
//! as PostgreSQL accepts it, stable hashing, row-key rendering, SQL quoting, sizes and durations as written on the
//! command line. Nothing here knows about a database; `fsio` is the only one that touches files.

pub mod answer;
pub mod calendar;
pub mod duration;
pub mod fsio;
pub mod hash;
pub mod hex;
pub mod json;
pub mod key;
pub mod pgarray;
pub mod size;
pub mod sql;
pub mod zone;
