//! The end of following, once every transaction up to the cut-over's end position is applied: proves the source's
//! mapped tables were not written after that position (before, during and after the checks), sets sequences,
//! checks the rows the follow phase changed key by key in a snapshot shown to be at the end position, verifies
//! the tables whose changed keys are not known, and marks the follow record done. A write found after the end
//! position takes the cut-over back instead: those rows are not in the target, so the applications must not be
//! pointed at it; following goes on.

use std::time::Instant;

use crate::cutover::follow_ledger;
use crate::error::Error;
use crate::run::follow::{Applier, Follow, FollowReport, KeyedError};
use crate::schema::TargetTable;
use crate::source::mysql::binlog::{self, Position};
use crate::source::mysql::SourceError;

/// How the end of following went.
pub enum Finished {
    /// The target is finished at the end position: whether it was verified, and the freeze in seconds.
    Done { verified: Option<bool>, freeze: f64 },
    /// A mapped table was written after the end position (what was written): the cut-over is void.
    Written(String),
}

/// What was written to the mapped tables (`mapped`: their source names) of database `db` after position `end`,
/// or None when nothing was; read on `watch`, a source connection outside any snapshot. A server-wide position
/// that moved for other databases only is no write; one whose events cannot be read counts as a write, as
/// `cutover` counts it.
pub async fn written_after(
    watch: &mut mysql_async::Conn,
    db: &str,
    end: &str,
    mapped: &[(String, String)],
) -> Result<Option<String>, SourceError> {
    let Some(now) = binlog::position_on(watch).await else {
        return Ok(None);
    };
    if Position::parse(end).as_ref() == Some(&now) {
        return Ok(None);
    }
    Ok(
        match crate::source::mysql::tables_written_since(watch, end, db).await? {
            Some(tables) => {
                let written: Vec<&str> = mapped
                    .iter()
                    .map(|(s, _)| s.as_str())
                    .filter(|s| tables.contains(*s))
                    .collect();
                (!written.is_empty()).then(|| {
                    format!(
                        "table(s) {} of database {db} were written after the cut-over position {end} (the source's \
                         binary log is at {now})",
                        written.join(", ")
                    )
                })
            }
            None => Some(format!(
                "the source's binary log moved from the cut-over position {end} to {now}, and its events cannot be \
                 read to tell whether database {db} was written"
            )),
        },
    )
}

/// The end of following at `report.end`, every transaction up to it applied: sequences set; the rows the follow
/// phase changed checked key by key against the source as it was at the end; the tables whose changed keys are
/// not known verified whole (every table with `--verify-full`, or after a live resume: `run.live`, whose foreign
/// keys are restored here first); the follow record done.
pub async fn finish(
    f: &Follow<'_>,
    run: &crate::cutover::ledger::Run,
    client: &mut tokio_postgres::Client,
    loaded: &[&TargetTable],
    applier: &Applier,
    mapped: &[(String, String)],
    report: &mut FollowReport,
) -> Result<Finished, Error> {
    let url = &f.endpoints.source;
    let db = &crate::connect::source_database(url)?;
    let end = report.end.clone();
    // One connection for every look at the source's binary log during the checks.
    let watch = &mut crate::connect::source(url).await?;
    if let Some(why) = written_after(watch, db, &end, mapped).await? {
        return Ok(Finished::Written(why));
    }
    let schema = &f.mapping.target_schema;
    crate::cutover::set_sequences(client, schema, loaded).await?;
    if run.live {
        let started = Instant::now();
        crate::cutover::restore_keys(client, schema, loaded, &run.dropped_fks).await?;
        println!(
            "Restored the {} foreign keys a resume on the live source left off in {:.1}s.",
            run.dropped_fks.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let mut verified = None;
    if f.verify {
        let (keyed, whole) = match f.verify_full || run.live {
            true => (Vec::new(), None),
            false => {
                let (keyed, whole) = applier.touched_tables();
                (keyed, Some(whole))
            }
        };
        report.tables_verified_whole = match &whole {
            Some(w) => w.iter().cloned().collect(),
            None => mapped.iter().map(|(s, _)| s.clone()).collect(),
        };
        // With every changed row checked by key, the copy's verification still holds for the rest: the foreign
        // keys were enforced on each applied change, the sequences were just set, and the critical-data checks'
        // aggregates follow from equal rows. Those run again only with a table to verify whole.
        verified = Some(true);
        if whole.as_ref().is_none_or(|w| !w.is_empty()) {
            let v =
                crate::run::verify::after_follow(f.mapping, f.endpoints, f.tuning, whole).await?;
            verified = Some(v.passed);
            if !v.passed {
                // Differences made by a write after the end position are that write's, not the target's.
                if let Some(why) = written_after(watch, db, &end, mapped).await? {
                    return Ok(Finished::Written(why));
                }
                return Err(crate::run::output::not_verified("migrate --follow", &v));
            }
        }
        if !keyed.is_empty() {
            let started = Instant::now();
            // A snapshot taken now, then no write since the end position: it shows the source at the end.
            let mut source = crate::source::mysql::snapshot_now(url).await?;
            if let Some(why) = written_after(watch, db, &end, mapped).await? {
                return Ok(Finished::Written(why));
            }
            let k = applier
                .check_keys(client, &mut source)
                .await
                .map_err(|e| match e {
                    KeyedError::Source(e) => Error::Source(e),
                    KeyedError::Target(e) => Error::Target(e),
                    KeyedError::Violation(v) => Error::Violation(v),
                })?;
            source.disconnect().await.ok();
            report.keys_checked = k.keys;
            report.tables_checked_by_key = keyed.into_iter().collect();
            if k.differing > 0 {
                return Err(Error::Verify(format!(
                    "{} of the {} rows the follow phase changed differ between the source at the cut-over \
                     position and the target: {}; the target holds every source transaction up to {end} \
                     (`pgconverge reset --yes` returns it to its state before the copy)",
                    k.differing,
                    k.keys,
                    k.differences.join("; ")
                )));
            }
            println!(
                "Checked the {} rows the follow phase changed in {} table(s) key by key in {:.1}s: all equal to the \
                 source at the cut-over position.",
                k.keys,
                k.tables,
                started.elapsed().as_secs_f64()
            );
        }
    }
    crate::hooks::pause(|| "follow-finish".into()).await;
    // The last look: a write that landed while the target was checked is not in it.
    if let Some(why) = written_after(watch, db, &end, mapped).await? {
        return Ok(Finished::Written(why));
    }
    let freeze = follow_ledger::finish_follow(client, &end).await?;
    Ok(Finished::Done { verified, freeze })
}
