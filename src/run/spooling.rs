//! The binary log spool of `migrate --follow` while the copy runs: started at the copy's snapshot, driven
//! alongside the load and its verification, published before following (`source::mysql::spool`).

use crate::error::Error;
use crate::source::mysql::binlog::Position;
use crate::source::mysql::spool::Spooler;

/// Starts spooling the source's binary log from the copy's snapshot `at` into `dir` (at most `max` bytes), as
/// a replica of its own id; None, with a warning, when the snapshot has no position or the stream cannot start
/// (the follower then reads the source alone, as without a spool).
pub async fn spool(
    source_url: &str,
    at: &crate::chunk::SnapshotInfo,
    dir: &std::path::Path,
    max: u64,
) -> Option<Spooler> {
    let from = at.binlog.as_deref().and_then(Position::parse)?;
    let started = async {
        let db = crate::connect::source_database(source_url)?;
        let conn = crate::connect::source(source_url).await?;
        // Distinct from the follower's id: a source drops a replica when another registers with its id.
        let id = 0x7000_0000 + (std::process::id() + 0x0800_0000) % 0x0fff_ffff;
        Spooler::start(conn, id, &from, &db, dir, max)
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    };
    match started.await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "Could not start spooling the binary log: the follower will read the source's binary log from the snapshot, which must still be kept then.");
            None
        }
    }
}

/// Spools while awaited (alongside the copy and its verification); nothing without a spooler.
pub async fn spooling(spool: &mut Option<Spooler>) {
    if let Some(s) = spool {
        s.run().await
    }
}
