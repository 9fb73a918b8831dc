//! A live writer for tests: the application going on committing while pgconverge reads, as in a staging rehearsal
//! against a live copy (and, later, change capture). On an Alkemio source it commits, at a fixed rate, related rows
//! across tables in one transaction each: an authorization policy and the calendar that points at it, updates of
//! such a policy, deletes of a pair, and a key-changing update of a policy nothing points at. It reports what it
//! committed, so a test can check that every transaction is whole or absent in the target.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, TxOpts};

/// What the writer committed, each transaction once.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// Committed transactions.
    pub transactions: u64,
    /// (policy id, calendar id) inserted together and still in the source.
    pub pairs: Vec<(String, String)>,
    /// Pairs deleted together after they were inserted.
    pub deleted: Vec<(String, String)>,
    /// Updates of a pair's policy.
    pub updates: u64,
    /// Policies inserted alone, with their id as it is now (after any key change).
    pub lone: Vec<String>,
    /// Key changes of a lone policy: (old id, new id).
    pub rekeyed: Vec<(String, String)>,
}

/// A running writer; [`LiveWriter::stop`] ends it and returns what it committed.
pub struct LiveWriter {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<Committed, mysql_async::Error>>,
}

/// A uuid in MySQL's text form, distinct for every (seed, n).
fn uuid(seed: u64, n: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        0x7e57_0000u32 | (seed as u32 & 0xffff),
        (n >> 48) & 0xffff,
        (n >> 36) & 0xfff,
        (n >> 24) & 0xfff,
        n & 0xff_ffff_ffff
    )
}

impl LiveWriter {
    /// Starts committing about `per_second` transactions a second into the Alkemio database at `url` (a user that
    /// may write). `seed` keeps the ids of two writers apart.
    pub async fn start(
        url: &str,
        per_second: u32,
        seed: u64,
    ) -> Result<LiveWriter, mysql_async::Error> {
        let conn = Conn::new(Opts::from_url(url)?).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let period = Duration::from_secs_f64(1.0 / f64::from(per_second.max(1)));
        let task = tokio::spawn(run(conn, stop.clone(), period, seed));
        Ok(LiveWriter { stop, task })
    }

    /// Stops after the transaction in flight and returns what was committed.
    pub async fn stop(self) -> Result<Committed, mysql_async::Error> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the writer task panicked")
    }
}

async fn run(
    mut conn: Conn,
    stop: Arc<AtomicBool>,
    period: Duration,
    seed: u64,
) -> Result<Committed, mysql_async::Error> {
    let mut done = Committed::default();
    let mut n: u64 = 0;
    let mut next = || {
        n += 1;
        uuid(seed, n)
    };
    let policy =
        "INSERT INTO authorization_policy (id, version, credentialRules, privilegeRules, type) \
                  VALUES (?, 1, '[]', '[]', 'calendar')";
    let mut i: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        match i % 5 {
            // A parent and its child in one transaction.
            0 | 1 => {
                let (p, c) = (next(), next());
                tx.exec_drop(policy, (&p,)).await?;
                tx.exec_drop(
                    "INSERT INTO calendar (id, version, authorizationId) VALUES (?, 1, ?)",
                    (&c, &p),
                )
                .await?;
                tx.commit().await?;
                done.pairs.push((p, c));
            }
            // An update of the newest pair's policy.
            2 => {
                if let Some((p, _)) = done.pairs.last() {
                    tx.exec_drop(
                        "UPDATE authorization_policy SET version = version + 1, credentialRules = ? WHERE id = ?",
                        (format!("[{{\"n\": {i}}}]"), p),
                    )
                    .await?;
                    done.updates += 1;
                }
                tx.commit().await?;
            }
            // Both rows of the oldest pair deleted together.
            3 => {
                if done.pairs.len() > 2 {
                    let (p, c) = done.pairs.remove(0);
                    tx.exec_drop("DELETE FROM calendar WHERE id = ?", (&c,))
                        .await?;
                    tx.exec_drop("DELETE FROM authorization_policy WHERE id = ?", (&p,))
                        .await?;
                    tx.commit().await?;
                    done.deleted.push((p, c));
                } else {
                    tx.commit().await?;
                }
            }
            // A lone policy, then, next time, its key changed.
            _ => match done.lone.pop() {
                Some(old) if i % 2 == 1 => {
                    let new = next();
                    tx.exec_drop(
                        "UPDATE authorization_policy SET id = ? WHERE id = ?",
                        (&new, &old),
                    )
                    .await?;
                    tx.commit().await?;
                    done.lone.push(new.clone());
                    done.rekeyed.push((old, new));
                }
                kept => {
                    let l = next();
                    tx.exec_drop(policy, (&l,)).await?;
                    tx.commit().await?;
                    done.lone.extend(kept);
                    done.lone.push(l);
                }
            },
        }
        done.transactions += 1;
        i += 1;
        tokio::time::sleep(period).await;
    }
    conn.disconnect().await.ok();
    Ok(done)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_uuids_and_distinct() {
        let a = super::uuid(1, 1);
        assert_eq!(a.len(), 36);
        assert!(pgconverge::values::is_uuid(a.as_bytes()), "{a}");
        assert_ne!(a, super::uuid(1, 2));
        assert_ne!(a, super::uuid(2, 1));
    }
}
