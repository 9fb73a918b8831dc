//! The run layer: the phases every command is made of, one file per phase, below the commands and above the
//! engine (`pipeline`), the stages (`source`, `sink`) and PostgreSQL's preparation and finish (`cutover`). A command
//! is a short sequence of these calls; no command calls another.
//!
//! - `session`: contract, interrupted run's ledger, consistent snapshot, lookups and chunk plan; `work`: the
//!   chunk jobs it plans.
//! - `keys`: the keys only the target enforces, checked on the source in the snapshot.
//! - `encode`: the convert-and-encode stage of `migrate` and `export`.
//! - `load`: prepare, skip what an interrupted run loaded, commit tally, early finish, finish, and the state a
//!   failure leaves; `copy`: `migrate`'s load and finish; `keep`: its `--keep` directory.
//! - `export_dir`: export directories and their journal and manifest; `files`: an export read back by `import`.
//! - `follow`: followed source transactions applied to the target, each whole with its position; `catchup`: the
//!   follow phase of `migrate --follow` that drives it up to the cut-over; `frozen`: the end of following, proven
//!   against the source as it stood at the cut-over position; `spooling`: the binary log spooled while the copy
//!   runs.
//! - `answers`: the critical-data checks as each side answers them.
//! - `verify`: the verification and its checklist.
//! - `output`: report and checklist files, how a loading command ends, and the report of a run that failed.
//! - `status`: what the target's ledger says about its run (`pgconverge status`, failed runs' reports).

pub mod answers;
pub mod catchup;
pub mod copy;
pub mod encode;
pub mod export_dir;
pub mod files;
pub mod follow;
pub mod frozen;
pub mod keep;
pub mod keys;
pub mod load;
pub mod output;
pub mod session;
pub mod spooling;
pub mod status;
pub mod verify;
pub mod work;
