//! The source's binary log as whole transactions of row changes, read as a replica from a position (change
//! capture). Each value comes out as the bytes the text protocol's SELECT gives for it (`reader::select_expr`), so
//! the copy's conversions and checks apply to it unchanged; the binary log's own encodings are undone here:
//! TIMESTAMP as a UTC epoch, ENUM as its index, SET as a bitmask, BINARY(n) without its trailing zero bytes, BIT
//! as bytes, YEAR 0 as 1900, DECIMAL as its digits, fractional seconds without the column's width.
//!
//! `migrate --follow` reads it through `run::catchup`.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Value};

use super::SourceError;
use crate::schema::{SourceColumn, SourceTable};

/// A place in the binary log: the file and the offset of the next event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub file: String,
    pub offset: u64,
}

impl Position {
    /// `file:offset`, as the snapshot records it.
    pub fn parse(text: &str) -> Option<Position> {
        let (file, offset) = text.rsplit_once(':')?;
        Some(Position {
            file: file.to_string(),
            offset: offset.parse().ok()?,
        })
    }

    /// Whether this position is at or past `other`. A file's name ends in its sequence number, compared as a
    /// number (the server widens it past 999999).
    pub fn reached(&self, other: &Position) -> bool {
        let seq = |f: &str| {
            let (base, n) = f.rsplit_once('.').unwrap_or((f, ""));
            (base.to_string(), n.parse::<u64>().unwrap_or(0))
        };
        (seq(&self.file), self.offset) >= (seq(&other.file), other.offset)
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)
    }
}

/// One row's values in the table's column order, as the text protocol gives them (None is NULL).
pub type Row = Vec<Option<Vec<u8>>>;

/// One changed row: an insert has only `after`, a delete only `before`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub table: String,
    pub before: Option<Row>,
    pub after: Option<Row>,
}

/// A committed source transaction's changes to the followed tables, in binary log order.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// MariaDB's `domain-server-sequence`, when the server logged one.
    pub gtid: Option<String>,
    /// Where the next transaction starts: what to store once this one is applied.
    pub end: Position,
    /// When the source committed it (the commit event's Unix time): how far behind the follower is.
    pub when: u32,
    pub changes: Vec<Change>,
}

/// What the follower met besides row changes that the caller must decide on.
#[derive(Debug, Clone, PartialEq)]
pub enum Met {
    Transaction(Transaction),
    /// A statement logged as such in the followed database: DDL, TRUNCATE, or statement-format DML.
    Statement {
        sql: String,
        at: Position,
    },
    /// The changes so far of a transaction that holds more than [`PART_BYTES`] of rows: its next parts and its
    /// end follow, the last part as `Met::Transaction`. The caller applies them all in one transaction of its
    /// own, so memory stays bounded without splitting the source's transaction. `end` is where the part ends.
    Part(Transaction),
}

/// Errors of the binary log stream.
#[derive(Debug, thiserror::Error)]
pub enum BinlogError {
    #[error("reading the source's binary log at {at} failed: {source}")]
    Stream {
        at: String,
        source: mysql_async::Error,
    },
    #[error("decoding the binary log event at {at} failed: {message}")]
    Decode { at: String, message: String },
    #[error("the source ended the binary log stream at {at} (a restart or a shutdown): the connection is lost")]
    Ended { at: String },
    #[error(
        "the source transaction given in parts ended at {at} without its commit ({what}): its parts are rolled back"
    )]
    Unfinished { at: String, what: String },
    #[error(
        "the binary log at {at} changes table {table}, whose columns the follower does not know"
    )]
    UnknownTable { at: String, table: String },
    #[error(
        "the source sent nothing, not even its heartbeat, for {seconds} s while following at {at}: the connection is \
         taken as lost"
    )]
    Silent { at: String, seconds: u64 },
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Reads transactions of one database from a binary log position.
pub struct Follower {
    stream: BinlogStream,
    database: String,
    tables: HashMap<String, SourceTable>,
    /// Where the stream is: the current file and the end of the last event read.
    at: Position,
    open: Option<Transaction>,
    /// No event, heartbeats included, for this long means a lost connection.
    silence: Duration,
    last_heard: tokio::time::Instant,
    /// The stream's format description was read: events and their checksums decode as the server writes them.
    described: bool,
    /// Bytes of row values the open transaction holds, and the most it may before they go as a part.
    held: u64,
    part_bytes: u64,
    /// The open transaction's first changes went as parts: its end must come, even with no change left.
    parted: bool,
}

/// The most row-value bytes of one source transaction held in memory: past it the changes so far go to the
/// caller as a part ([`Met::Part`]), so memory stays bounded whatever the source commits.
pub const PART_BYTES: u64 = 64 << 20;

/// MariaDB's GTID event, which starts each transaction of a slave that declares it can read it.
const MARIADB_GTID_EVENT: u8 = 0xa2;
/// A replica that understands GTID events (MariaDB's `MARIA_SLAVE_CAPABILITY_GTID`).
const MARIADB_SLAVE_CAPABILITY: u32 = 4;

impl Follower {
    /// Registers `conn` as replica `server_id` and streams `database` from `from`; `tables` are the followed
    /// tables (their columns in ordinal order, as the binary log sends them). The server sends a heartbeat every
    /// `heartbeat` while idle, so three heartbeats' worth of silence (at least 3 s) is a lost connection.
    pub async fn open(
        mut conn: mysql_async::Conn,
        server_id: u32,
        from: &Position,
        database: &str,
        tables: Vec<SourceTable>,
        heartbeat: Duration,
    ) -> Result<Follower, BinlogError> {
        let at = from.to_string();
        let stream_err = |source| BinlogError::Stream {
            at: at.clone(),
            source,
        };
        // MySQL ignores the MariaDB variable; MariaDB without it rewrites GTID events into dummies.
        conn.query_drop(format!(
            "SET @mariadb_slave_capability = {MARIADB_SLAVE_CAPABILITY}, @master_heartbeat_period = {}",
            heartbeat.as_nanos()
        ))
        .await
        .map_err(stream_err)?;
        let request = BinlogStreamRequest::new(server_id)
            .with_filename(from.file.as_bytes())
            .with_pos(from.offset);
        let stream = conn.get_binlog_stream(request).await.map_err(stream_err)?;
        Ok(Follower {
            stream,
            database: database.to_string(),
            tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
            at: from.clone(),
            open: None,
            silence: (heartbeat * 3).max(Duration::from_secs(3)),
            last_heard: tokio::time::Instant::now(),
            described: false,
            held: 0,
            part_bytes: PART_BYTES,
            parted: false,
        })
    }

    /// Holds at most `bytes` of one transaction's row values before giving them as a part, instead of
    /// [`PART_BYTES`] (tests).
    pub fn holding_at_most(mut self, bytes: u64) -> Follower {
        self.part_bytes = bytes.max(1);
        self
    }

    /// Where the stream is.
    pub fn position(&self) -> &Position {
        &self.at
    }

    /// The next committed transaction that changed a followed table, or a statement on the followed database;
    /// None when none came within `idle` (the position still moves past what was read).
    pub async fn next(&mut self, idle: Duration) -> Result<Option<Met>, BinlogError> {
        // One deadline for the whole call: heartbeats and other databases' events must not extend it.
        let started = tokio::time::Instant::now();
        let deadline = started + idle;
        // Silence counts from this call at the earliest: time the caller spent elsewhere is not the server's.
        self.last_heard = self.last_heard.max(started);
        loop {
            let silent_at = self.last_heard + self.silence;
            let event =
                match tokio::time::timeout_at(deadline.min(silent_at), self.stream.next()).await {
                    Err(_) if tokio::time::Instant::now() >= silent_at => {
                        return Err(BinlogError::Silent {
                            at: self.at.to_string(),
                            seconds: self.silence.as_secs(),
                        })
                    }
                    Err(_) if tokio::time::Instant::now() >= deadline => return Ok(None),
                    Err(_) => continue,
                    Ok(None) => {
                        return Err(BinlogError::Ended {
                            at: self.at.to_string(),
                        })
                    }
                    Ok(Some(e)) => e.map_err(|source| BinlogError::Stream {
                        at: self.at.to_string(),
                        source,
                    })?,
                };
            self.last_heard = tokio::time::Instant::now();
            let header = event.header();
            let decode = |e: std::io::Error| BinlogError::Decode {
                at: format!("{}:{}", self.at.file, header.log_pos()),
                message: e.to_string(),
            };
            // log_pos is 0 for events the server made up for this stream (the first rotate, heartbeats).
            let next_offset = header.log_pos() as u64;
            if header.event_type_raw() == MARIADB_GTID_EVENT {
                let data = event.data();
                let seq = data
                    .get(..8)
                    .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
                let domain = data
                    .get(8..12)
                    .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
                if let (Some(seq), Some(domain)) = (seq, domain) {
                    self.unfinished("the next transaction began")?;
                    self.held = 0;
                    self.open = Some(Transaction {
                        gtid: Some(format!("{domain}-{}-{seq}", header.server_id())),
                        end: self.at.clone(),
                        when: 0,
                        changes: Vec::new(),
                    });
                }
                self.advance(next_offset);
                continue;
            }
            let data = event.read_data().map_err(decode)?;
            let mut met = None;
            match data {
                // The rotate the server makes up at the start of a stream comes before the format description
                // that says whether events carry a checksum, so its name may end in the checksum's bytes (digits
                // among them): it names the file the stream was asked for, which is kept.
                Some(EventData::RotateEvent(r)) => {
                    if self.described {
                        self.at = Position {
                            file: file_name(&r.name()),
                            offset: r.position(),
                        };
                    }
                    continue;
                }
                Some(EventData::FormatDescriptionEvent(_)) => self.described = true,
                Some(EventData::QueryEvent(q)) => {
                    let sql = q.query().to_string();
                    let word = sql.trim_start().to_ascii_uppercase();
                    if word.starts_with("BEGIN") {
                        self.open.get_or_insert_with(|| Transaction {
                            gtid: None,
                            end: self.at.clone(),
                            when: 0,
                            changes: Vec::new(),
                        });
                    } else if word.starts_with("COMMIT") {
                        met = self.close(next_offset, header.timestamp());
                    } else if q.schema() == self.database {
                        // Anything else logged as a statement in the followed database: DDL, TRUNCATE, or DML
                        // in statement format. The caller decides; the stream moves past it.
                        self.unfinished("a statement came")?;
                        self.advance(next_offset);
                        self.open = None;
                        self.held = 0;
                        return Ok(Some(Met::Statement {
                            sql,
                            at: self.at.clone(),
                        }));
                    } else {
                        // A statement of another database ends its implicit transaction.
                        self.unfinished("a statement came")?;
                        self.open = None;
                        self.held = 0;
                    }
                }
                Some(EventData::XidEvent(_)) => met = self.close(next_offset, header.timestamp()),
                Some(EventData::RowsEvent(rows)) => {
                    self.rows(&rows)?;
                    if self.held > self.part_bytes {
                        met = self.part(next_offset);
                    }
                }
                _ => {}
            }
            self.advance(next_offset);
            if let Some(m) = met {
                return Ok(Some(m));
            }
        }
    }

    fn advance(&mut self, next_offset: u64) {
        if next_offset > 0 {
            self.at.offset = next_offset;
        }
    }

    /// Ends the open transaction at `next_offset`: returned when it changed a followed table, or when its first
    /// changes went as parts.
    fn close(&mut self, next_offset: u64, when: u32) -> Option<Met> {
        self.held = 0;
        let parted = std::mem::take(&mut self.parted);
        let mut t = self.open.take()?;
        t.when = when;
        t.end = Position {
            file: self.at.file.clone(),
            offset: next_offset,
        };
        (parted || !t.changes.is_empty()).then_some(Met::Transaction(t))
    }

    /// The open transaction's changes so far, as a part ending at `next_offset`; the transaction stays open.
    fn part(&mut self, next_offset: u64) -> Option<Met> {
        let open = self.open.as_mut()?;
        self.held = 0;
        self.parted = true;
        Some(Met::Part(Transaction {
            gtid: open.gtid.clone(),
            end: Position {
                file: self.at.file.clone(),
                offset: next_offset,
            },
            when: 0,
            changes: std::mem::take(&mut open.changes),
        }))
    }

    /// A transaction given in parts must end with its commit: anything else ending it is an error, so that the
    /// caller rolls the parts back instead of committing half a transaction.
    fn unfinished(&mut self, what: &str) -> Result<(), BinlogError> {
        if std::mem::take(&mut self.parted) {
            return Err(BinlogError::Unfinished {
                at: self.at.to_string(),
                what: what.to_string(),
            });
        }
        Ok(())
    }

    fn rows(&mut self, rows: &RowsEventData<'_>) -> Result<(), BinlogError> {
        let at = self.at.to_string();
        let Some(tme) = self.stream.get_tme(rows.table_id()) else {
            return Err(BinlogError::Decode {
                at,
                message: format!("rows of table id {} without its table map", rows.table_id()),
            });
        };
        if tme.database_name() != self.database {
            return Ok(());
        }
        let name = tme.table_name().to_string();
        let Some(table) = self.tables.get(&name) else {
            return Err(BinlogError::UnknownTable { at, table: name });
        };
        let mut changes = Vec::new();
        for row in rows.rows(tme) {
            let (before, after) = row.map_err(|e| BinlogError::Decode {
                at: at.clone(),
                message: e.to_string(),
            })?;
            let text = |r: Option<mysql_async::binlog::row::BinlogRow>| {
                r.map(|r| {
                    r.unwrap()
                        .into_iter()
                        .zip(&table.columns)
                        .map(|(v, c)| text_value(v, c))
                        .collect::<Result<Row, String>>()
                })
                .transpose()
            };
            let decode = |message| BinlogError::Decode {
                at: at.clone(),
                message: format!("table {name}: {message}"),
            };
            changes.push(Change {
                table: name.clone(),
                before: text(before).map_err(decode)?,
                after: text(after).map_err(decode)?,
            });
        }
        let bytes: u64 = changes
            .iter()
            .flat_map(|c| c.before.iter().chain(c.after.iter()))
            .flatten()
            .map(|v| 24 + v.as_ref().map_or(0, |b| b.len() as u64))
            .sum();
        self.held += bytes;
        let open = self.open.get_or_insert_with(|| Transaction {
            gtid: None,
            end: Position {
                file: String::new(),
                offset: 0,
            },
            when: 0,
            changes: Vec::new(),
        });
        open.changes.extend(changes);
        Ok(())
    }
}

/// A binary log file name from a rotate event. The rotate the server makes up at the start of a stream comes
/// before the format description that says events carry a checksum, so its name may end in the checksum's four
/// bytes: the name is `base.NNNNNN`, cut after its digits.
fn file_name(raw: &str) -> String {
    match raw.rfind('.') {
        Some(dot) => {
            let digits = raw[dot + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            raw[..dot + 1 + digits].to_string()
        }
        None => raw.to_string(),
    }
}

/// The text protocol's bytes for one binary log value of column `c` (see the module's list of encodings).
pub fn text_value(v: BinlogValue<'_>, c: &SourceColumn) -> Result<Option<Vec<u8>>, String> {
    let v = match v {
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => {
            // MySQL 8's binary JSON: printed as MySQL prints JSON (`, ` and `: ` separators).
            let json = serde_json::Value::try_from(j).map_err(|e| e.to_string())?;
            return Ok(Some(mysql_json(&json).into_bytes()));
        }
        BinlogValue::JsonDiff(_) => {
            return Err(format!(
                "column {}: a partial JSON update (binlog_row_value_options=PARTIAL_JSON), which a full row image never has",
                c.name
            ))
        }
    };
    let dt = c.data_type.as_str();
    let fsp = c.fsp.unwrap_or(0) as usize;
    let text = match v {
        Value::NULL => return Ok(None),
        Value::Int(i) if dt == "timestamp" => utc_timestamp(i, 0, fsp)?,
        Value::Int(i) if dt == "enum" => {
            let labels = c.enum_labels();
            match usize::try_from(i).ok().and_then(|i| i.checked_sub(1)) {
                Some(i) => labels.get(i).cloned().ok_or_else(|| {
                    format!("column {}: enum index {} out of range", c.name, i + 1)
                })?,
                // Index 0 is the empty string MySQL stores for an invalid value in non-strict mode.
                None => String::new(),
            }
        }
        // Without binlog_row_metadata=FULL the log does not say which integers are unsigned, so the decoder
        // guesses: the column's own type and width say how to read the bits.
        Value::Int(i) => int_text(i as i128, c),
        Value::UInt(u) => int_text(u as i128, c),
        Value::Float(f) => float_text(f as f64),
        Value::Double(d) => float_text(d),
        Value::Date(y, m, d, ..) if dt == "date" => format!("{y:04}-{m:02}-{d:02}"),
        Value::Date(y, m, d, h, mi, s, us) => {
            let mut t = format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            push_fraction(&mut t, us, fsp);
            t
        }
        Value::Time(neg, days, h, m, s, us) => {
            let hours = days as u64 * 24 + h as u64;
            let mut t = format!("{}{hours:02}:{m:02}:{s:02}", if neg { "-" } else { "" });
            push_fraction(&mut t, us, fsp);
            t
        }
        Value::Bytes(b) => match dt {
            "timestamp" => {
                let s = std::str::from_utf8(&b).map_err(|e| e.to_string())?;
                let (sec, frac) = s.split_once('.').unwrap_or((s, "0"));
                let sec: i64 = sec.parse().map_err(|_| format!("timestamp {s:?}"))?;
                let us: u32 = format!("{frac:0<6}")[..6]
                    .parse()
                    .map_err(|_| format!("timestamp {s:?}"))?;
                utc_timestamp(sec, us, fsp)?
            }
            "set" => {
                let labels = c.enum_labels();
                let mut mask = 0u64;
                for (i, byte) in b.iter().enumerate().take(8) {
                    mask |= (*byte as u64) << (8 * i);
                }
                labels
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask >> i & 1 == 1)
                    .map(|(_, l)| l.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            }
            "bit" => {
                let mut n = 0u64;
                for byte in &b {
                    n = n << 8 | *byte as u64;
                }
                n.to_string()
            }
            "year" => {
                // The binary log stores YEAR as years since 1900, 0 meaning the year 0000.
                let y = String::from_utf8_lossy(&b).into_owned();
                if y == "1900" {
                    "0000".to_string()
                } else {
                    y
                }
            }
            "binary" => {
                // BINARY(n) is logged without its trailing zero bytes; SELECT gives all n.
                let n = c.char_max_len.unwrap_or(b.len() as u64) as usize;
                let mut b = b;
                b.resize(n.max(b.len()), 0);
                return Ok(Some(b));
            }
            // DECIMAL (its digits), text and blobs: already the bytes a SELECT gives.
            _ => return Ok(Some(b)),
        },
    };
    Ok(Some(text.into_bytes()))
}

/// An integer of column `c` read back into the column's range (two's complement of its width).
fn int_text(v: i128, c: &SourceColumn) -> String {
    let bits = match c.data_type.as_str() {
        "tinyint" => 8,
        "smallint" => 16,
        "mediumint" => 24,
        "int" | "integer" => 32,
        "bigint" => 64,
        _ => return v.to_string(),
    };
    let modulus = 1i128 << bits;
    let mut v = v.rem_euclid(modulus);
    if !c.unsigned() && v >= modulus / 2 {
        v -= modulus;
    }
    v.to_string()
}

/// `YYYY-MM-DD HH:MM:SS[.f...]` in UTC (the snapshot's session time zone) of a Unix time, with `fsp` digits.
fn utc_timestamp(sec: i64, us: u32, fsp: usize) -> Result<String, String> {
    if sec == 0 && us == 0 {
        // MySQL's zero TIMESTAMP.
        let mut t = "0000-00-00 00:00:00".to_string();
        push_fraction(&mut t, 0, fsp);
        return Ok(t);
    }
    let days = sec.div_euclid(86_400);
    let rem = sec.rem_euclid(86_400);
    let (y, m, d) = crate::util::calendar::civil_from_days(days);
    let mut t = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    push_fraction(&mut t, us, fsp);
    Ok(t)
}

/// `.ffffff` cut to the column's `fsp` digits, as the text protocol prints them (none for fsp 0).
fn push_fraction(t: &mut String, us: u32, fsp: usize) {
    if fsp > 0 {
        let f = format!("{us:06}");
        t.push('.');
        t.push_str(&f[..fsp.min(6)]);
    }
}

/// A float's shortest text that reads back to the same value; exponent form where MySQL uses one.
fn float_text(d: f64) -> String {
    let a = d.abs();
    if a != 0.0 && !(1e-5..1e15).contains(&a) {
        format!("{d:e}")
    } else {
        format!("{d}")
    }
}

/// JSON as MySQL prints it: `{"a": 1, "b": [1, 2]}`.
fn mysql_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(mysql_json).collect::<Vec<_>>().join(", ")
        ),
        serde_json::Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", serde_json::Value::from(k.as_str()), mysql_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Whether the source still keeps the binary log from `p` on: its file is among `SHOW BINARY LOGS` and at least
/// `p.offset` long. A follow run that starts from a purged position would miss changes, so it must refuse.
pub async fn available(conn: &mut mysql_async::Conn, p: &Position) -> Result<bool, SourceError> {
    let logs: Vec<mysql_async::Row> =
        conn.query("SHOW BINARY LOGS")
            .await
            .map_err(|source| SourceError::Query {
                context: "listing the binary logs".into(),
                source,
            })?;
    Ok(logs.into_iter().any(|mut r| {
        let name: Option<String> = r.take(0);
        let size: Option<u64> = r.take(1);
        name.as_deref() == Some(p.file.as_str()) && size.is_some_and(|s| s >= p.offset)
    }))
}

/// The source's binary log position now (`SHOW MASTER STATUS` or its successor), for tests and `cutover`.
pub async fn current_position(url: &str) -> Result<Option<Position>, SourceError> {
    Ok(super::position(url)
        .await?
        .binlog
        .as_deref()
        .and_then(Position::parse))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_timestamps() {
        let p = Position::parse("mariadb-bin.000012:4567").unwrap();
        assert_eq!((p.file.as_str(), p.offset), ("mariadb-bin.000012", 4567));
        assert_eq!(p.to_string(), "mariadb-bin.000012:4567");
        let at = |t: &str| Position::parse(t).unwrap();
        assert!(p.reached(&p));
        assert!(at("mariadb-bin.000012:4568").reached(&p));
        assert!(!at("mariadb-bin.000012:4566").reached(&p));
        assert!(at("mariadb-bin.000013:4").reached(&p));
        assert!(at("mariadb-bin.1000000:4").reached(&at("mariadb-bin.999999:900")));
        assert_eq!(
            file_name("mariadb-bin.000022\u{fffd}T\u{fffd}"),
            "mariadb-bin.000022"
        );
        assert_eq!(file_name("binlog.000003"), "binlog.000003");
        assert_eq!(utc_timestamp(1, 0, 0).unwrap(), "1970-01-01 00:00:01");
        assert_eq!(
            utc_timestamp(2_147_483_647, 999_999, 6).unwrap(),
            "2038-01-19 03:14:07.999999"
        );
        assert_eq!(utc_timestamp(0, 0, 3).unwrap(), "0000-00-00 00:00:00.000");
        assert_eq!(float_text(0.5), "0.5");
        assert_eq!(
            float_text(-1.7976931348623157e308),
            "-1.7976931348623157e308"
        );
        assert_eq!(
            mysql_json(&serde_json::json!({"a": [1, "x"], "b": null})),
            r#"{"a": [1, "x"], "b": null}"#
        );
    }
}
