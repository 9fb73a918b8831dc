//! The consistent snapshot: reader connections that all start their transaction under one global read lock (or,
//! on a quiesced source, without it), and the binary log position and GTID set of that instant.

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use super::error::{q, SourceError};
use crate::chunk::SnapshotInfo;

/// `file:position` from the first row of `SHOW BINARY LOG STATUS` (MySQL 8.2+) or `SHOW MASTER STATUS` (older
/// MySQL, MariaDB): both begin with `File` and `Position`, as text in the text protocol.
fn binlog_position(row: &[Value]) -> Option<String> {
    let file: String = mysql_async::from_value_opt(row.first()?.clone()).ok()?;
    let position: u64 = mysql_async::from_value_opt(row.get(1)?.clone()).ok()?;
    (!file.is_empty()).then(|| format!("{file}:{position}"))
}

/// Reader connections, each inside a read-only transaction that started at the same instant.
pub struct Snapshot {
    pub conns: Vec<mysql_async::Conn>,
    /// One more connection in the same snapshot, for what a run asks the source besides reading chunks (the
    /// mapping's critical-data checks), when it was asked for.
    pub side: Option<mysql_async::Conn>,
    pub info: SnapshotInfo,
}

/// Session settings of reader connections. Backslash escapes must be on for our literals, and a reader that
/// waits on a slow writer must not be cut off mid-result.
const READER_SESSION: &str =
    "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', ''), \
     SESSION net_write_timeout = 3600; SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ";

/// MySQL's `ER_LOCK_WAIT_TIMEOUT` and `ER_SPECIFIC_ACCESS_DENIED_ERROR`.
const LOCK_WAIT_TIMEOUT: u16 = 1205;
const ACCESS_DENIED: u16 = 1227;

/// Opens `n` reader connections (and, with `side`, one more: [`Snapshot::side`]) that all see one consistent point
/// in time: a global read lock, then `START TRANSACTION WITH CONSISTENT SNAPSHOT` on every connection, then unlock.
/// The connections are made before the lock so that it is held only for a few statements; the lock waits at most
/// `lock_wait` seconds behind running write statements (it holds back new writes while it waits) and then gives up
/// naming what it waited for.
pub async fn open_snapshot(
    url: &str,
    n: usize,
    side: bool,
    quiesced: bool,
    lock_wait: u64,
) -> Result<Snapshot, SourceError> {
    let mut conns = Vec::with_capacity(n + 1);
    for _ in 0..n.max(1) + usize::from(side) {
        let mut c = crate::connect::source(url).await?;
        c.query_drop(READER_SESSION)
            .await
            .map_err(q("reader session"))?;
        conns.push(c);
    }
    let mut lock = crate::connect::source(url).await?;
    lock.query_drop(format!(
        "SET SESSION lock_wait_timeout = {}",
        lock_wait.max(1)
    ))
    .await
    .map_err(q("lock wait timeout"))?;
    let locked = match lock.query_drop("FLUSH TABLES WITH READ LOCK").await {
        Ok(()) => true,
        Err(mysql_async::Error::Server(e)) if e.code == LOCK_WAIT_TIMEOUT => {
            return Err(SourceError::LockWait {
                seconds: lock_wait.max(1),
                blockers: running_statements(&mut lock).await,
            })
        }
        Err(e) if quiesced => {
            tracing::warn!(error = %e, "No global read lock; relying on --source-quiesced.");
            false
        }
        Err(mysql_async::Error::Server(e)) if e.code == ACCESS_DENIED => {
            return Err(SourceError::NoSnapshotPrivilege(e.message))
        }
        Err(e) => return Err(q("taking the global read lock")(e)),
    };
    for c in conns.iter_mut() {
        c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await
            .map_err(q("start snapshot"))?;
    }
    let (binlog, gtid) = binlog_and_gtid(&mut lock).await;
    let taken_at = jiff::Timestamp::now().to_string();
    if locked {
        lock.query_drop("UNLOCK TABLES")
            .await
            .map_err(q("unlock tables"))?;
    }
    lock.disconnect().await.ok();
    let side = if side { conns.pop() } else { None };
    Ok(Snapshot {
        conns,
        side,
        info: SnapshotInfo {
            locked,
            binlog,
            gtid,
            taken_at: Some(taken_at),
        },
    })
}

/// One reader connection in a consistent snapshot taken now, without the global lock: whether it shows the
/// source at a given position is for the caller to prove (no write to the tables it reads since that position).
pub async fn snapshot_now(url: &str) -> Result<mysql_async::Conn, SourceError> {
    let mut c = crate::connect::source(url).await?;
    c.query_drop(READER_SESSION)
        .await
        .map_err(q("reader session"))?;
    c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(q("start snapshot"))?;
    Ok(c)
}

/// The source's position now (binary log and GTID set, no lock taken), to tell whether it moved since a snapshot.
pub async fn position(url: &str) -> Result<SnapshotInfo, SourceError> {
    let mut conn = crate::connect::source(url).await?;
    let (binlog, gtid) = binlog_and_gtid(&mut conn).await;
    conn.disconnect().await.ok();
    Ok(SnapshotInfo {
        locked: false,
        binlog,
        gtid,
        taken_at: Some(jiff::Timestamp::now().to_string()),
    })
}

/// Events read per `SHOW BINLOG EVENTS` page, and at most in all before the answer is "cannot tell".
const EVENTS_PAGE: usize = 10_000;
const EVENTS_MAX: usize = 2_000_000;

/// The tables of database `db` that the binary log shows written after position `from` (`file:position`, an event
/// boundary as the snapshot recorded it), up to now: row events name their table (`Table_map`), statements their
/// default database. `None` when the events cannot be read (no privilege, a purged file, too many to scan), so
/// nobody can tell whether `db` was written. Read on `conn`, outside any snapshot.
pub async fn tables_written_since(
    conn: &mut mysql_async::Conn,
    from: &str,
    db: &str,
) -> Result<Option<std::collections::BTreeSet<String>>, SourceError> {
    let Some((file, pos)) = from
        .rsplit_once(':')
        .and_then(|(f, p)| Some((f.to_string(), p.parse::<u64>().ok()?)))
    else {
        return Ok(None);
    };
    let logs: Vec<String> = match conn.query::<mysql_async::Row, _>("SHOW BINARY LOGS").await {
        Ok(rows) => rows
            .into_iter()
            .filter_map(|r| r.get::<String, usize>(0))
            .filter(|f| f.as_str() >= file.as_str())
            .collect(),
        Err(_) => return Ok(None),
    };
    if logs.first() != Some(&file) {
        // The snapshot's file was purged: the events between cannot be read.
        return Ok(None);
    }
    let table_map = format!("({db}.");
    let use_db = format!("use `{db}`");
    let mut written = std::collections::BTreeSet::new();
    let mut seen = 0;
    for (i, log) in logs.iter().enumerate() {
        let mut at = if i == 0 { pos } else { 4 };
        loop {
            let sql = format!("SHOW BINLOG EVENTS IN '{log}' FROM {at} LIMIT {EVENTS_PAGE}");
            let rows: Vec<mysql_async::Row> = match conn.query(sql).await {
                Ok(rows) => rows,
                Err(_) => return Ok(None),
            };
            let n = rows.len();
            for r in rows {
                let kind: String = r.get(2).unwrap_or_default();
                let info: String = r.get(5).unwrap_or_default();
                at = r.get(4).unwrap_or(at);
                match kind.as_str() {
                    // `table_id: 71 (db.table)`
                    "Table_map" => {
                        if let Some(rest) = info.split_once(table_map.as_str()).map(|x| x.1) {
                            written.insert(rest.trim_end_matches(')').to_string());
                        }
                    }
                    "Query" if info.starts_with(&use_db) && !info.ends_with("; BEGIN") => {
                        written.insert("(a statement)".to_string());
                    }
                    _ => {}
                }
            }
            seen += n;
            if seen > EVENTS_MAX {
                return Ok(None);
            }
            if n < EVENTS_PAGE {
                break;
            }
        }
    }
    Ok(Some(written))
}

/// The binary log position and GTID set as this connection sees them; either is None where the server has none
/// or does not show it to this user.
pub async fn binlog_and_gtid(conn: &mut mysql_async::Conn) -> (Option<String>, Option<String>) {
    // MySQL 8.4 removed SHOW MASTER STATUS; older servers and MariaDB lack its successor.
    let mut binlog: Option<String> = None;
    for sql in ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"] {
        if let Ok(Some(r)) = conn.query_first::<mysql_async::Row, _>(sql).await {
            binlog = binlog_position(&r.unwrap());
            break;
        }
    }
    let gtid: Option<String> = match conn
        .query_first::<String, _>("SELECT @@GLOBAL.gtid_current_pos")
        .await
    {
        Ok(v) => v,
        Err(_) => conn
            .query_first::<String, _>("SELECT @@GLOBAL.gtid_executed")
            .await
            .ok()
            .flatten(),
    }
    .map(|g| normalize_gtid(&g))
    .filter(|g| !g.is_empty());
    (binlog, gtid)
}

/// A GTID set as one comparable line: MySQL 8 prints `gtid_executed` with a newline after each comma once it holds
/// several server UUIDs (`3E11FA47-...:1-5,\n4D22EB58-...:1-3`); MariaDB's `gtid_current_pos` is `0-1-42,1-2-7`.
fn normalize_gtid(g: &str) -> String {
    g.split_whitespace().collect()
}

/// A processlist entry: thread id, user, seconds running, statement.
type Running = (u64, String, u64, Option<String>);

/// The statements running longest on the source (others than ours), for the lock-wait message.
async fn running_statements(conn: &mut mysql_async::Conn) -> String {
    let rows: Result<Vec<Running>, _> = conn
        .query(
            "SELECT ID, USER, TIME, LEFT(INFO, 120) FROM information_schema.PROCESSLIST \
             WHERE COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump') AND ID <> CONNECTION_ID() \
             ORDER BY TIME DESC LIMIT 5",
        )
        .await;
    match rows {
        Ok(rows) if !rows.is_empty() => rows
            .into_iter()
            .map(|(id, user, time, info)| {
                format!(
                    "thread {id} of {user}, {time} s: {}",
                    info.unwrap_or_else(|| "(no statement text)".into())
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => "none visible (grant the source user PROCESS to see other users' statements)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SHOW BINARY LOG STATUS` of MySQL 8.4 (File, Position, Binlog_Do_DB, Binlog_Ignore_DB, Executed_Gtid_Set)
    /// and `SHOW MASTER STATUS` of MariaDB 10.11, as the text protocol delivers them.
    #[test]
    fn binlog_positions_of_both_servers() {
        let bytes = |s: &str| Value::Bytes(s.as_bytes().to_vec());
        let mysql84 = [
            bytes("binlog.000007"),
            bytes("4831"),
            bytes(""),
            bytes(""),
            bytes("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23"),
        ];
        assert_eq!(
            binlog_position(&mysql84).as_deref(),
            Some("binlog.000007:4831")
        );
        let mariadb = [
            bytes("mysql-bin.000002"),
            bytes("342"),
            bytes(""),
            bytes(""),
        ];
        assert_eq!(
            binlog_position(&mariadb).as_deref(),
            Some("mysql-bin.000002:342")
        );
        // Binary protocol (prepared statements) gives the position as an integer.
        assert_eq!(
            binlog_position(&[bytes("binlog.000001"), Value::UInt(157)]).as_deref(),
            Some("binlog.000001:157")
        );
        assert_eq!(binlog_position(&[bytes("x"), bytes("not a number")]), None);
        assert_eq!(binlog_position(&[]), None);
    }

    /// gtid_executed as MySQL 8.0 prints it with two source servers, and MariaDB's gtid_current_pos.

    #[test]
    fn gtid_sets_compare_as_one_line() {
        assert_eq!(
            normalize_gtid("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4d22eb58-71ca-11e1-9e33-c80aa9429562:1-3"),
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4d22eb58-71ca-11e1-9e33-c80aa9429562:1-3"
        );
        assert_eq!(normalize_gtid("0-1-42,1-2-7"), "0-1-42,1-2-7");
        assert_eq!(normalize_gtid(""), "");
    }
}
