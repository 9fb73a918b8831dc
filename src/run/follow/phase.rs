//! What the follow phase of `migrate --follow` is given by the command, and what it reports back.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::config::{Endpoints, Tuning};
use crate::mapping::Mapping;

/// What the follow phase needs from the command.
pub struct Follow<'a> {
    pub mapping: &'a Mapping,
    pub endpoints: &'a Endpoints,
    pub tuning: &'a Tuning,
    /// Verify at the end: the tables the phase touched, or every table with `verify_full`.
    pub verify: bool,
    pub verify_full: bool,
    /// A statement position (`file:offset`) the operator dealt with: followed past instead of stopping.
    pub skip_statement: Option<String>,
    /// Where the copy spooled the binary log (`--spool-dir`).
    pub spool_dir: &'a std::path::Path,
    /// Index the foreign keys no index leads with while following (`--index-foreign-keys`).
    pub index_foreign_keys: bool,
}

/// How the follow phase went (the migrate report's `follow`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FollowReport {
    /// The copy's snapshot position, where following started (or this run resumed from).
    pub from: String,
    /// The position the cut-over asked for and the follower reached.
    pub end: String,
    pub transactions: u64,
    pub changes: u64,
    pub seconds_following: f64,
    pub changes_per_second: f64,
    /// From the cut-over's request to the verified target.
    pub seconds_freeze: f64,
    /// Target tables the applied changes touched (in this run).
    pub tables_touched: BTreeSet<String>,
    /// Changed rows the cut-over checked key by key, and the source tables so checked; the source tables verified
    /// whole instead (keys unknown or too many; every table with `--verify-full`).
    pub keys_checked: u64,
    pub tables_checked_by_key: BTreeSet<String>,
    pub tables_verified_whole: BTreeSet<String>,
    pub verified: Option<bool>,
}
