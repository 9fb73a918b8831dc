//! The MySQL/MariaDB source: one consistent snapshot shared by every reader, primary-key range chunks, and
//! chunk reads into Arrow batches of raw bytes.
//!
//! Reads use the text protocol, so every value arrives as the exact bytes the server would print: no float
//! rounding, no charset conversion (the session is utf8mb4), blobs as bytes, TIMESTAMP in UTC.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};

use crate::connect::ConnectError;
use crate::pipeline::{Emitter, Source, Work};
use crate::schema::SourceTable;
use crate::util::sql::{mysql_ident as quote_ident, mysql_string as sql_string};

/// Errors of the source side of the data path.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source query failed ({context}): {source}")]
    Query {
        context: String,
        source: mysql_async::Error,
    },
    #[error(
        "the source user cannot take the global read lock needed for a consistent snapshot ({0}); grant it \
         RELOAD, or stop all writes to the source and pass --source-quiesced"
    )]
    NoSnapshotPrivilege(String),
    #[error(
        "the global read lock for the consistent snapshot waited {seconds} s behind statements still running on the \
         source and gave up, so writes were held back at most that long; nothing was changed. Running: {blockers}. \
         Let them finish (or stop them) and run again, allow a longer wait with --lock-wait, or stop all writes and \
         pass --source-quiesced"
    )]
    LockWait { seconds: u64, blockers: String },
    #[error("table {table}: unexpected value type in column {column} (the text protocol should give bytes)")]
    UnexpectedValue { table: String, column: String },
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("table {table}: building a batch failed: {message}")]
    Batch { table: String, message: String },
}

fn q(context: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> SourceError {
    let context = context.into();
    move |source| SourceError::Query { context, source }
}

/// The point in time every reader sees.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotInfo {
    /// True when taken under a global read lock; false when the operator declared the source quiesced.
    pub locked: bool,
    /// `file:position` of the binary log, when the server has one and lets us see it.
    pub binlog: Option<String>,
    /// MariaDB `gtid_current_pos` or MySQL `gtid_executed`, when available.
    pub gtid: Option<String>,
}

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

/// Opens `n` reader connections that all see one consistent point in time: a global read lock, then
/// `START TRANSACTION WITH CONSISTENT SNAPSHOT` on every reader, then unlock. The readers connect before the lock so
/// that it is held only for a few statements; the lock waits at most `lock_wait` seconds behind running write
/// statements (it holds back new writes while it waits) and then gives up naming what it waited for.
pub async fn open_snapshot(
    url: &str,
    n: usize,
    quiesced: bool,
    lock_wait: u64,
) -> Result<Snapshot, SourceError> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
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
    // MySQL 8.4 removed SHOW MASTER STATUS; older servers and MariaDB lack its successor.
    let mut binlog: Option<String> = None;
    for sql in ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"] {
        if let Ok(Some(r)) = lock.query_first::<mysql_async::Row, _>(sql).await {
            binlog = binlog_position(&r.unwrap());
            break;
        }
    }
    let gtid: Option<String> = match lock
        .query_first::<String, _>("SELECT @@GLOBAL.gtid_current_pos")
        .await
    {
        Ok(v) => v,
        Err(_) => lock
            .query_first::<String, _>("SELECT @@GLOBAL.gtid_executed")
            .await
            .ok()
            .flatten(),
    }
    .map(|g| normalize_gtid(&g))
    .filter(|g| !g.is_empty());
    if locked {
        lock.query_drop("UNLOCK TABLES")
            .await
            .map_err(q("unlock tables"))?;
    }
    lock.disconnect().await.ok();
    Ok(Snapshot {
        conns,
        info: SnapshotInfo {
            locked,
            binlog,
            gtid,
        },
    })
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

/// A bound on the first primary-key column. In JSON (the ledger): a number, a string, or an array of bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Hash)]
#[serde(untagged)]
pub enum KeyBound {
    /// Any MySQL integer, BIGINT UNSIGNED above 2^63 included.
    Int(i128),
    Text(String),
    /// A BINARY/VARBINARY key, compared byte by byte (its values need not be UTF-8).
    Binary(Vec<u8>),
}

// By hand: serde's untagged buffering has no 128-bit integers, and BIGINT UNSIGNED bounds exceed i64.
impl<'de> Deserialize<'de> for KeyBound {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .map(KeyBound::Int)
                .ok_or_else(|| D::Error::custom(format!("key bound {n} is not an integer"))),
            serde_json::Value::String(s) => Ok(KeyBound::Text(s)),
            serde_json::Value::Array(a) => a
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<Vec<u8>>>()
                .map(KeyBound::Binary)
                .ok_or_else(|| D::Error::custom("a binary key bound holds a non-byte")),
            other => Err(D::Error::custom(format!("unexpected key bound {other}"))),
        }
    }
}

impl KeyBound {
    /// SQL literal; strings go through the column's collation because a string literal is coercible; binary
    /// keys are hex literals.
    pub fn literal(&self) -> String {
        match self {
            KeyBound::Int(v) => v.to_string(),
            KeyBound::Text(s) => sql_string(s),
            KeyBound::Binary(b) => {
                let mut hex = String::from("X'");
                crate::util::hex::push_hex(&mut hex, b);
                hex.push('\'');
                hex
            }
        }
    }
}

/// One half-open range of a table's first key column: `lo <= k < hi`, unbounded where None.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRange {
    pub lo: Option<KeyBound>,
    pub hi: Option<KeyBound>,
}

const INT_TYPES: &[&str] = &[
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
];

/// The table's row count as far as chunking needs it: `estimate` when it is at least `chunk_rows`; otherwise
/// the rows are counted, up to `chunk_rows + 1` first (cheap), and exactly when there are more (the estimate was
/// stale).
pub async fn rows_at_least(
    conn: &mut mysql_async::Conn,
    table: &SourceTable,
    estimate: u64,
    chunk_rows: u64,
) -> Result<u64, SourceError> {
    if estimate >= chunk_rows || table.primary_key.is_empty() {
        return Ok(estimate);
    }
    let t = quote_ident(&table.name);
    let ctx = format!("counting the rows of {}", table.name);
    let probe: Option<u64> = conn
        .query_first(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM {t} LIMIT {}) x",
            chunk_rows + 1
        ))
        .await
        .map_err(q(&ctx))?;
    let probe = probe.unwrap_or(0);
    if probe <= chunk_rows {
        return Ok(probe.max(estimate));
    }
    let exact: Option<u64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {t}"))
        .await
        .map_err(q(&ctx))?;
    let exact = exact.unwrap_or(probe);
    tracing::info!(
        table = %table.name,
        estimate,
        rows = exact,
        "The row estimate was stale; chunking by the count."
    );
    Ok(exact)
}

/// Splits a table into about `want` ranges of its first key column, without OFFSET scans.
///
/// Candidate boundaries are interpolated between MIN and MAX (integers: equal width; uuid text: in hex-digit
/// space; other text: in byte space), then snapped to real keys with index seeks and put in the server's
/// collation order. Any set of strictly increasing boundaries partitions the table exactly, so skewed keys can
/// only unbalance chunks, never lose or repeat rows.
pub async fn plan_ranges(
    conn: &mut mysql_async::Conn,
    table: &SourceTable,
    want: usize,
) -> Result<Vec<ChunkRange>, SourceError> {
    let whole = vec![ChunkRange { lo: None, hi: None }];
    let Some(k) = table.primary_key.first() else {
        return Ok(whole);
    };
    if want <= 1 {
        return Ok(whole);
    }
    let t = quote_ident(&table.name);
    let kc = quote_ident(k);
    let col = table
        .column(k)
        .map(|c| c.data_type.clone())
        .unwrap_or_default();
    let ctx = format!("planning chunks of {}", table.name);
    if INT_TYPES.contains(&col.as_str()) {
        // Read as text: BIGINT UNSIGNED goes up to 2^64 - 1, beyond i64.
        let mm: Option<(Option<String>, Option<String>)> = conn
            .query_first(format!("SELECT MIN({kc}), MAX({kc}) FROM {t}"))
            .await
            .map_err(q(&ctx))?;
        let Some((Some(lo), Some(hi))) = mm else {
            return Ok(whole);
        };
        let (Ok(lo), Ok(hi)) = (lo.parse::<i128>(), hi.parse::<i128>()) else {
            return Ok(whole);
        };
        return Ok(ranges_from(
            int_bounds(lo, hi, want)
                .into_iter()
                .map(KeyBound::Int)
                .collect(),
        ));
    }
    if matches!(col.as_str(), "binary" | "varbinary") {
        return binary_ranges(conn, &t, &kc, want, &ctx).await;
    }
    type MinMax = Option<(Option<Vec<u8>>, Option<Vec<u8>>)>;
    let mm: MinMax = conn
        .query_first(format!("SELECT MIN({kc}), MAX({kc}) FROM {t}"))
        .await
        .map_err(q(&ctx))?;
    let Some((Some(min), Some(max))) = mm else {
        return Ok(whole);
    };
    let (min, max) = (
        String::from_utf8_lossy(&min).into_owned(),
        String::from_utf8_lossy(&max).into_owned(),
    );
    let candidates = interpolate_text(&min, &max, want);
    let mut snapped = Vec::new();
    for c in candidates {
        let v: Option<Option<Vec<u8>>> = conn
            .query_first(format!(
                "SELECT MIN({kc}) FROM {t} WHERE {kc} >= {}",
                sql_string(&c)
            ))
            .await
            .map_err(q(&ctx))?;
        if let Some(Some(v)) = v {
            snapped.push(String::from_utf8_lossy(&v).into_owned());
        }
    }
    if snapped.is_empty() {
        return Ok(whole);
    }
    // The server orders the real keys in the column's collation; the first key needs no boundary.
    let list: Vec<String> = snapped.iter().map(|s| sql_string(s)).collect();
    let ordered: Vec<Vec<u8>> = conn
        .query(format!(
            "SELECT DISTINCT {kc} FROM {t} WHERE {kc} IN ({}) AND {kc} > {} ORDER BY {kc}",
            list.join(","),
            sql_string(&min)
        ))
        .await
        .map_err(q(&ctx))?;
    let bounds = ordered
        .into_iter()
        .map(|b| KeyBound::Text(String::from_utf8_lossy(&b).into_owned()))
        .collect();
    Ok(ranges_from(bounds))
}

/// About `want` equal-width boundaries strictly inside `lo..=hi`.
fn int_bounds(lo: i128, hi: i128, want: usize) -> Vec<i128> {
    let span = (hi - lo + 1).max(1);
    let mut bounds: Vec<i128> = (1..want as i128)
        .map(|i| lo + span * i / want as i128)
        .collect();
    bounds.dedup();
    bounds.retain(|b| *b > lo);
    bounds
}

/// Ranges of a BINARY/VARBINARY key: candidates interpolated in byte space, snapped to real keys, put in
/// byte order (the column's own order) on the client.
async fn binary_ranges(
    conn: &mut mysql_async::Conn,
    t: &str,
    kc: &str,
    want: usize,
    ctx: &str,
) -> Result<Vec<ChunkRange>, SourceError> {
    type MinMax = Option<(Option<Vec<u8>>, Option<Vec<u8>>)>;
    let mm: MinMax = conn
        .query_first(format!("SELECT MIN({kc}), MAX({kc}) FROM {t}"))
        .await
        .map_err(q(ctx))?;
    let Some((Some(min), Some(max))) = mm else {
        return Ok(vec![ChunkRange { lo: None, hi: None }]);
    };
    let mut snapped = Vec::new();
    for c in interpolate_bytes(&min, &max, want) {
        let v: Option<Option<Vec<u8>>> = conn
            .query_first(format!(
                "SELECT MIN({kc}) FROM {t} WHERE {kc} >= {}",
                KeyBound::Binary(c).literal()
            ))
            .await
            .map_err(q(ctx))?;
        if let Some(Some(v)) = v {
            snapped.push(v);
        }
    }
    snapped.sort();
    snapped.dedup();
    snapped.retain(|b| *b > min);
    Ok(ranges_from(
        snapped.into_iter().map(KeyBound::Binary).collect(),
    ))
}

fn ranges_from(bounds: Vec<KeyBound>) -> Vec<ChunkRange> {
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut lo = None;
    for b in bounds {
        out.push(ChunkRange {
            lo: lo.clone(),
            hi: Some(b.clone()),
        });
        lo = Some(b);
    }
    out.push(ChunkRange { lo, hi: None });
    out
}

fn is_uuidish(s: &str) -> bool {
    s.len() >= 13
        && s.bytes().take(13).enumerate().all(|(i, b)| {
            if i == 8 {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// Candidate boundaries strictly between `min` and `max`.
fn interpolate_text(min: &str, max: &str, want: usize) -> Vec<String> {
    if is_uuidish(min) && is_uuidish(max) {
        let num =
            |s: &str| u64::from_str_radix(&format!("{}{}", &s[..8], &s[9..13]), 16).unwrap_or(0);
        let (a, b) = (num(min) as u128, num(max) as u128);
        return (1..want as u128)
            .map(|i| {
                let v = a + (b.saturating_sub(a)) * i / want as u128;
                format!("{:08x}-{:04x}", v >> 16, v & 0xffff)
            })
            .collect();
    }
    interpolate_bytes(min.as_bytes(), max.as_bytes(), want)
        .into_iter()
        .filter_map(|bytes| {
            let valid = match std::str::from_utf8(&bytes) {
                Ok(s) => s.to_string(),
                Err(e) => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
            };
            (!valid.is_empty()).then_some(valid)
        })
        .collect()
}

/// About `want` byte strings between `min` and `max`: their common prefix, then equal steps in the next eight
/// bytes (trailing zero bytes dropped).
fn interpolate_bytes(mb: &[u8], xb: &[u8], want: usize) -> Vec<Vec<u8>> {
    let prefix = mb.iter().zip(xb).take_while(|(a, b)| a == b).count();
    let word = |s: &[u8]| -> u64 {
        let mut w = [0u8; 8];
        for (i, b) in s.iter().skip(prefix).take(8).enumerate() {
            w[i] = *b;
        }
        u64::from_be_bytes(w)
    };
    let (a, b) = (word(mb) as u128, word(xb) as u128);
    (1..want as u128)
        .map(|i| {
            let v = (a + b.saturating_sub(a) * i / want as u128) as u64;
            let mut bytes = mb[..prefix].to_vec();
            bytes.extend(v.to_be_bytes().iter().copied().take_while(|b| *b != 0));
            bytes
        })
        .collect()
}

/// How one column is read so that its text is the exact value: BIT as its unsigned integer (the text protocol
/// sends raw bytes), FLOAT as the double it widens to exactly (its text form keeps only 6 digits).
pub fn select_expr(table: &SourceTable, column: &str) -> String {
    let q = quote_ident(column);
    match table.columns.iter().find(|c| c.name == column) {
        Some(c) if c.data_type == "bit" => format!("CAST({q} AS UNSIGNED) AS {q}"),
        Some(c) if c.data_type == "float" => format!("({q} + 0e0) AS {q}"),
        _ => q,
    }
}

/// The SELECT of one chunk: every source column, in source order, within the range.
pub fn chunk_sql(table: &SourceTable, columns: &[String], range: &ChunkRange) -> String {
    let cols: Vec<String> = columns.iter().map(|c| select_expr(table, c)).collect();
    let mut sql = format!(
        "SELECT {} FROM {}",
        cols.join(", "),
        quote_ident(&table.name)
    );
    if let Some(k) = table.primary_key.first() {
        let kc = quote_ident(k);
        let mut conds = Vec::new();
        if let Some(lo) = &range.lo {
            conds.push(format!("{kc} >= {}", lo.literal()));
        }
        if let Some(hi) = &range.hi {
            conds.push(format!("{kc} < {}", hi.literal()));
        }
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        // InnoDB scans a key range in key order anyway, so this costs nothing; it makes every run send a chunk's
        // rows in the same order, so a rejected row is the same row in a rehearsal and in the cut-over.
        let order: Vec<String> = table.primary_key.iter().map(|k| quote_ident(k)).collect();
        sql.push_str(" ORDER BY ");
        sql.push_str(&order.join(", "));
    }
    sql
}

/// A raw key value as the text protocol sent it, as a bound of the column's type: integers as numbers,
/// BINARY/VARBINARY as bytes, everything else as text.
fn raw_key_bound(table: &SourceTable, column: &str, raw: &[u8]) -> KeyBound {
    let data_type = table.column(column).map(|c| c.data_type.as_str());
    let text = || String::from_utf8_lossy(raw).into_owned();
    match data_type {
        Some("binary" | "varbinary") => KeyBound::Binary(raw.to_vec()),
        Some(t) if INT_TYPES.contains(&t) => text()
            .parse()
            .map(KeyBound::Int)
            .unwrap_or_else(|_| KeyBound::Text(text())),
        _ => KeyBound::Text(text()),
    }
}

/// The raw value of `column` in the row whose primary key is `key` (raw values in key order): one index seek.
/// `Ok(None)` when no such row exists any more.
pub async fn value_by_key(
    conn: &mut mysql_async::Conn,
    table: &SourceTable,
    key: &[Option<Vec<u8>>],
    column: &str,
) -> Result<Option<Option<Vec<u8>>>, SourceError> {
    let conds: Vec<String> = table
        .primary_key
        .iter()
        .zip(key)
        .map(|(k, v)| match v {
            Some(v) => format!(
                "{} = {}",
                quote_ident(k),
                raw_key_bound(table, k, v).literal()
            ),
            None => format!("{} IS NULL", quote_ident(k)),
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {}",
        select_expr(table, column),
        quote_ident(&table.name),
        conds.join(" AND ")
    );
    let row: Option<mysql_async::Row> = conn
        .query_first(sql)
        .await
        .map_err(q(format!("reading a row of {}", table.name)))?;
    Ok(row.map(|mut r| match r.take::<Value, usize>(0) {
        Some(Value::Bytes(b)) => Some(b),
        _ => None,
    }))
}

/// Arrow schema of raw source batches: every column as nullable Binary.
pub fn raw_schema(columns: &[String]) -> Arc<Schema> {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Binary, true))
            .collect::<Vec<_>>(),
    ))
}

/// What a reader needs to know about a chunk.
pub trait ReadSpec {
    /// The chunk's SELECT (see [`chunk_sql`]).
    fn select_sql(&self) -> &str;
    /// Schema of its raw batches (see [`raw_schema`]).
    fn raw_schema(&self) -> Arc<Schema>;
}

/// A reader: one connection inside the shared snapshot, cutting chunks into batches of at most `batch_rows` rows
/// or about `batch_bytes` bytes.
pub struct Reader {
    conn: mysql_async::Conn,
    batch_rows: usize,
    batch_bytes: usize,
}

impl Reader {
    pub fn new(conn: mysql_async::Conn, batch_rows: usize, batch_bytes: usize) -> Reader {
        Reader {
            conn,
            batch_rows: batch_rows.max(1),
            batch_bytes: batch_bytes.max(1),
        }
    }
}

impl<W: Work + ReadSpec> Source<W> for Reader {
    type Error = SourceError;

    async fn read(&mut self, work: &W, out: &mut dyn Emitter) -> Result<u64, SourceError> {
        let table = work.table();
        let schema = work.raw_schema();
        let n = schema.fields().len();
        let cap = self.batch_rows.min(1024);
        let new_builders = || {
            (0..n)
                .map(|_| BinaryBuilder::with_capacity(cap, 64 * 1024))
                .collect::<Vec<_>>()
        };
        let finish = |builders: Vec<BinaryBuilder>| {
            let cols: Vec<ArrayRef> = builders
                .into_iter()
                .map(|mut b| Arc::new(b.finish()) as ArrayRef)
                .collect();
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| SourceError::Batch {
                table: table.to_string(),
                message: e.to_string(),
            })
        };
        let mut builders = new_builders();
        let (mut rows, mut bytes, mut total) = (0usize, 0usize, 0u64);
        let mut result = self
            .conn
            .query_iter(work.select_sql())
            .await
            .map_err(q(format!("reading {table}")))?;
        loop {
            let row = result.next().await.map_err(q(format!("reading {table}")))?;
            let Some(mut row) = row else { break };
            for (i, b) in builders.iter_mut().enumerate() {
                match row.take::<Value, usize>(i) {
                    Some(Value::Bytes(v)) => {
                        bytes += v.len();
                        b.append_value(&v);
                    }
                    Some(Value::NULL) | None => b.append_null(),
                    Some(_) => {
                        return Err(SourceError::UnexpectedValue {
                            table: table.to_string(),
                            column: schema.field(i).name().clone(),
                        })
                    }
                }
            }
            rows += 1;
            if rows >= self.batch_rows || bytes >= self.batch_bytes {
                let batch = finish(std::mem::replace(&mut builders, new_builders()))?;
                total += rows as u64;
                (rows, bytes) = (0, 0);
                if out.emit(batch).await.is_err() {
                    return Ok(total);
                }
            }
        }
        if rows > 0 {
            total += rows as u64;
            if out.emit(finish(builders)?).await.is_err() {
                return Ok(total);
            }
        }
        Ok(total)
    }

    async fn close(mut self) {
        self.conn.query_drop("COMMIT").await.ok();
        self.conn.disconnect().await.ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key value read back for a message is quoted by its column's type: numbers bare (BIGINT UNSIGNED above
    /// 2^63 too), any bytes of a BINARY key as hex, text as a string literal with its quotes doubled.
    #[test]
    fn raw_keys_become_literals_of_their_type() {
        let column = |name: &str, data_type: &str| crate::schema::SourceColumn {
            name: name.into(),
            data_type: data_type.into(),
            column_type: data_type.into(),
            nullable: false,
            default: None,
            char_max_len: None,
            fsp: None,
            auto_increment: false,
            is_json: false,
            collation: None,
            generated: false,
        };
        let table = SourceTable {
            name: "t".into(),
            columns: vec![
                column("n", "bigint"),
                column("b", "varbinary"),
                column("s", "char"),
            ],
            primary_key: vec!["n".into(), "b".into(), "s".into()],
            unique_keys: Vec::new(),
            foreign_keys: Vec::new(),
            rows_estimate: 0,
            data_bytes: 0,
        };
        let lit = |c: &str, raw: &[u8]| raw_key_bound(&table, c, raw).literal();
        assert_eq!(lit("n", b"18446744073709551615"), "18446744073709551615");
        assert_eq!(lit("n", b"-7"), "-7");
        assert_eq!(lit("b", &[0, 0xff, b'\'']), "X'00ff27'");
        assert_eq!(lit("s", b"it's"), "'it''s'");
    }

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

    #[test]
    fn integer_bounds_hold_beyond_i64() {
        let max = u64::MAX as i128;
        let b = int_bounds(0, max, 4);
        assert_eq!(b.len(), 3);
        assert!(
            b.windows(2).all(|w| w[0] < w[1]) && b[0] > 0 && b[2] < max,
            "{b:?}"
        );
        assert!(b[2] > i64::MAX as i128, "{b:?}");
        assert_eq!(KeyBound::Int(max).literal(), "18446744073709551615");
        assert_eq!(int_bounds(5, 5, 4), Vec::<i128>::new());
    }

    #[test]
    fn binary_bounds_are_hex_literals_in_byte_order() {
        let c = interpolate_bytes(&[0x00, 0xff], &[0xf0, 0x01], 4);
        assert_eq!(c.len(), 3);
        assert!(c.windows(2).all(|w| w[0] < w[1]), "{c:?}");
        assert_eq!(KeyBound::Binary(vec![0x00, 0xfe]).literal(), "X'00fe'");
        // Stored in the ledger and read back unchanged, next to the other kinds.
        for b in [
            KeyBound::Binary(vec![0, 255]),
            KeyBound::Int(u64::MAX as i128),
            KeyBound::Text("7".into()),
        ] {
            let json = serde_json::to_string(&b).unwrap();
            assert_eq!(
                serde_json::from_str::<KeyBound>(&json).unwrap(),
                b,
                "{json}"
            );
        }
    }

    #[test]
    fn uuid_interpolation_is_increasing_hex() {
        let c = interpolate_text(
            "00000000-0000-4000-8000-000000000000",
            "ffffffff-ffff-4fff-bfff-ffffffffffff",
            4,
        );
        assert_eq!(c, vec!["3fffffff-ffff", "7fffffff-ffff", "bfffffff-ffff"]);
    }

    #[test]
    fn text_interpolation_stays_valid_utf8() {
        let c = interpolate_text("apple", "zebra", 5);
        assert_eq!(c.len(), 4);
        assert!(c.windows(2).all(|w| w[0] < w[1]));
        assert!(interpolate_text("é", "ü", 3).iter().all(|s| !s.is_empty()));
    }

    #[test]
    fn ranges_cover_everything() {
        let r = ranges_from(vec![KeyBound::Int(10), KeyBound::Int(20)]);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].lo, None);
        assert_eq!(r[1].lo, Some(KeyBound::Int(10)));
        assert_eq!(r[2].hi, None);
    }
}
