//! The source's binary log as whole transactions of row changes, read as a replica from a position (change
//! capture), from the source's stream or first from the spool written during the copy (`spool`). Each value
//! comes out as the bytes the text protocol's SELECT gives for it (`binlog_text`), so the copy's conversions and
//! checks apply to it unchanged.
//!
//! `migrate --follow` reads it through `run::catchup`.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use mysql_async::binlog::events::{Event, EventData, RowsEventData, TableMapEvent};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest};

use super::binlog_text::text_value;
use super::mariadb;
pub use super::position::{available, current_position, file_name, position_on, Position};
use super::SourceError;
use crate::schema::SourceTable;

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
    #[error(
        "the source no longer keeps its binary log from {at} (purged or reset), where the spool written during the \
         copy ends: the changes since cannot be followed"
    )]
    Purged { at: String },
    #[error("reading the spool {path} failed: {message}")]
    Spool { path: String, message: String },
    #[error(
        "the row change of table {table} at {at} holds {present} of its {columns} columns: the session that wrote \
         it logged partial row images (binlog_row_image MINIMAL or NOBLOB), and a partial row cannot be applied"
    )]
    PartialImage {
        at: String,
        table: String,
        present: usize,
        columns: usize,
    },
    #[error(
        "the binary log at {at} changes table {table} with {logged} columns, but it had {known} when following \
         began: its structure changed"
    )]
    Reshaped {
        at: String,
        table: String,
        logged: u64,
        known: usize,
    },
    #[error("the binary log at {at} holds {what}, which the follower cannot read: the changes in it cannot be applied")]
    Unreadable { at: String, what: String },
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Binary log events kept locally (the spool written during the copy), read before the source's own stream.
pub trait Spooled: Send {
    /// The next event, None at the end (which is a transaction boundary).
    fn next_event(&mut self) -> Result<Option<Event>, BinlogError>;
    fn get_tme(&self, table_id: u64) -> Option<&TableMapEvent<'static>>;
}

/// The connection a follower reads the source's stream on: registered as replica `server_id`, with a heartbeat
/// every `heartbeat` while the source is idle.
pub struct Replica {
    pub conn: mysql_async::Conn,
    pub server_id: u32,
    pub heartbeat: Duration,
}

/// Where the follower's events come from: the spool, then the source's stream from where the spool ends.
enum Events {
    Spool {
        spool: Box<dyn Spooled>,
        /// For the stream once the spool is read.
        conn: Option<mysql_async::Conn>,
        server_id: u32,
        heartbeat: Duration,
    },
    Live(BinlogStream),
}

/// Reads transactions of one database from a binary log position.
pub struct Follower {
    events: Events,
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
    /// Read from the spool's start, events before this position are passed over (a resumed follower).
    skip_until: Option<Position>,
    /// The open transaction's savepoints: name (lower-cased) and how many of its changes came before it.
    savepoints: Vec<(String, usize)>,
}

/// The most row-value bytes of one source transaction held in memory: past it the changes so far go to the
/// caller as a part ([`Met::Part`]), so memory stays bounded whatever the source commits.
pub const PART_BYTES: u64 = 64 << 20;

impl Follower {
    /// Registers as `replica` and streams `database` from `from`; `tables` are the followed tables (their columns
    /// in ordinal order, as the binary log sends them). The server sends a heartbeat every `replica.heartbeat`
    /// while idle, so three heartbeats' worth of silence (at least 3 s) is a lost connection.
    pub async fn open(
        replica: Replica,
        from: &Position,
        database: &str,
        tables: Vec<SourceTable>,
    ) -> Result<Follower, BinlogError> {
        let heartbeat = replica.heartbeat;
        let stream = open_stream(replica.conn, replica.server_id, from, heartbeat).await?;
        Ok(Follower::with(
            Events::Live(stream),
            from,
            database,
            tables,
            heartbeat,
        ))
    }

    /// As [`Follower::open`], reading `spool` (which starts at `start`) first: events before `from` in it are
    /// passed over, and where it ends the source's stream takes over as `replica`.
    pub fn open_spooled(
        spool: Box<dyn Spooled>,
        start: &Position,
        replica: Replica,
        from: &Position,
        database: &str,
        tables: Vec<SourceTable>,
    ) -> Follower {
        let heartbeat = replica.heartbeat;
        let events = Events::Spool {
            spool,
            conn: Some(replica.conn),
            server_id: replica.server_id,
            heartbeat,
        };
        let mut f = Follower::with(events, start, database, tables, heartbeat);
        f.skip_until = (from != start).then(|| from.clone());
        f
    }

    fn with(
        events: Events,
        at: &Position,
        database: &str,
        tables: Vec<SourceTable>,
        heartbeat: Duration,
    ) -> Follower {
        Follower {
            events,
            database: database.to_string(),
            tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
            at: at.clone(),
            open: None,
            silence: (heartbeat * 3).max(Duration::from_secs(3)),
            last_heard: tokio::time::Instant::now(),
            described: false,
            held: 0,
            part_bytes: PART_BYTES,
            parted: false,
            skip_until: None,
            savepoints: Vec::new(),
        }
    }

    /// The spool is read: the source's stream takes over from where it ended (a transaction boundary), or from the
    /// resumed position past its end.
    async fn go_live(&mut self) -> Result<(), BinlogError> {
        let Events::Spool {
            conn,
            server_id,
            heartbeat,
            ..
        } = &mut self.events
        else {
            return Ok(());
        };
        let (server_id, heartbeat) = (*server_id, *heartbeat);
        let mut conn = conn.take().expect("the spool's connection is used once");
        if self.open.is_some() {
            return Err(BinlogError::Decode {
                at: self.at.to_string(),
                message: "the spool ends inside a transaction".into(),
            });
        }
        let from = self.skip_until.take().unwrap_or_else(|| self.at.clone());
        if !available(&mut conn, &from).await? {
            return Err(BinlogError::Purged {
                at: from.to_string(),
            });
        }
        tracing::info!(at = %from, "The spool is applied: following the source's binary log from where it ends.");
        let stream = open_stream(conn, server_id, &from, heartbeat).await?;
        self.events = Events::Live(stream);
        self.at = from;
        self.described = false;
        self.last_heard = tokio::time::Instant::now();
        Ok(())
    }

    fn get_tme(&self, table_id: u64) -> Option<&TableMapEvent<'static>> {
        match &self.events {
            Events::Spool { spool, .. } => spool.get_tme(table_id),
            Events::Live(stream) => stream.get_tme(table_id),
        }
    }

    /// Whether events are passed over until the resumed position; false from the event at it on.
    fn skipping(&mut self) -> bool {
        match &self.skip_until {
            Some(s) if self.at.reached(s) => {
                self.skip_until = None;
                false
            }
            Some(_) => true,
            None => false,
        }
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
            let spooled = match &mut self.events {
                Events::Spool { spool, .. } => Some(spool.next_event()?),
                Events::Live(_) => None,
            };
            let event = match spooled {
                Some(Some(event)) => event,
                Some(None) => {
                    self.go_live().await?;
                    continue;
                }
                None => {
                    let Events::Live(stream) = &mut self.events else {
                        unreachable!("not spooled")
                    };
                    match tokio::time::timeout_at(deadline.min(silent_at), stream.next()).await {
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
                    }
                }
            };
            self.last_heard = tokio::time::Instant::now();
            let header = event.header();
            let skipping = self.skipping();
            let decode = |e: std::io::Error| BinlogError::Decode {
                at: format!("{}:{}", self.at.file, header.log_pos()),
                message: e.to_string(),
            };
            // log_pos is 0 for events the server made up for this stream (the first rotate, heartbeats).
            let next_offset = header.log_pos() as u64;
            if header.event_type_raw() == mariadb::GTID_EVENT && skipping {
                self.advance(next_offset);
                continue;
            }
            if header.event_type_raw() == mariadb::GTID_EVENT {
                if let Some(gtid) = mariadb::gtid(event.data(), header.server_id()) {
                    self.unfinished("the next transaction began")?;
                    self.held = 0;
                    self.savepoints.clear();
                    self.open = Some(Transaction {
                        gtid: Some(gtid),
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
                _ if skipping => {}
                // LOAD DATA logged as a statement: its rows are not in the log.
                Some(EventData::ExecuteLoadQueryEvent(q)) if self.ours(&q.schema(), &q.query()) => {
                    if let Some(m) = self.statement(q.query().to_string(), next_offset)? {
                        return Ok(Some(m));
                    }
                }
                Some(EventData::TransactionPayloadEvent(_)) => {
                    return Err(self.unreadable(
                        "a compressed transaction (MySQL's binlog_transaction_compression)",
                    ))
                }
                Some(EventData::IncidentEvent(_)) => {
                    return Err(self.unreadable(
                        "an incident event: the source noted that changes may be missing from its binary log",
                    ))
                }
                Some(
                    EventData::PreGaWriteRowsEvent(_)
                    | EventData::PreGaUpdateRowsEvent(_)
                    | EventData::PreGaDeleteRowsEvent(_),
                ) => return Err(self.unreadable("a row event of the format before MySQL 5.1")),
                None => {
                    if let Some(c) = mariadb::compressed(header.event_type_raw(), event.data()) {
                        if let Some(what) = self.compressed(c) {
                            return Err(self.unreadable(&what));
                        }
                    }
                }
                // An XA transaction's end: committed in one phase (its first byte), or prepared to be committed
                // or rolled back later, in a group of its own.
                Some(EventData::XaPrepareLogEvent(x)) => match x.first() {
                    Some(1) => met = self.close(next_offset, header.timestamp()),
                    _ => self.not_committed(
                        "an XA transaction that was prepared",
                        "a prepared XA transaction commits later in the log, if at all; the follower applies \
                         transactions that commit where they end",
                    )?,
                },
                Some(EventData::QueryEvent(q)) => {
                    let sql = q.query().to_string();
                    let word = sql.trim_start().to_ascii_uppercase();
                    if ["BEGIN", "XA START", "XA BEGIN"].iter().any(|w| word.starts_with(w)) {
                        self.savepoints.clear();
                        self.open.get_or_insert_with(|| Transaction {
                            gtid: None,
                            end: self.at.clone(),
                            when: 0,
                            changes: Vec::new(),
                        });
                    } else if word.starts_with("XA END") {
                        // The XA transaction's rows are all read; its end comes next.
                    } else if word.starts_with("XA COMMIT") && word.contains("ONE PHASE") {
                        met = self.close(next_offset, header.timestamp());
                    } else if word.starts_with("XA COMMIT") || word.starts_with("XA ROLLBACK") {
                        self.not_committed(
                            "an XA transaction that is committed or rolled back by this statement",
                            "the follower applies transactions that commit where they end",
                        )?;
                    } else if word.starts_with("SAVEPOINT") {
                        // Logged inside a transaction (ORMs nest transactions as savepoints): it goes on.
                        let held = self.open.as_ref().map_or(0, |t| t.changes.len());
                        self.savepoints.push((savepoint(&sql), held));
                    } else if word.starts_with("RELEASE SAVEPOINT") {
                    } else if word.starts_with("ROLLBACK TO") {
                        self.rolled_back_to(&sql)?;
                    } else if word.starts_with("ROLLBACK") {
                        self.not_committed(
                            "a transaction that was rolled back",
                            "which of its changes the source kept cannot be told from the log",
                        )?;
                    } else if word.starts_with("COMMIT") {
                        met = self.close(next_offset, header.timestamp());
                    } else if self.ours(&q.schema(), &sql) {
                        if let Some(m) = self.statement(sql, next_offset)? {
                            return Ok(Some(m));
                        }
                    } else if !self.parted && self.open.as_ref().is_none_or(|t| t.changes.is_empty()) {
                        // A statement of another database outside a transaction of ours: one without BEGIN
                        // (DDL) ends whatever was opened for it.
                        self.open = None;
                        self.held = 0;
                    }
                    // Otherwise another database's statement logged inside a transaction that changed followed
                    // tables: it passes, and the transaction goes on.
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

    /// Whether a statement logged in database `schema` is the followed database's: run there, or run from another
    /// database (or none) naming it, since such a statement can change its tables (`ALTER TABLE db.t`,
    /// `TRUNCATE db.t`).
    fn ours(&self, schema: &str, sql: &str) -> bool {
        schema == self.database
            || super::statement::mentioned(sql, std::iter::once(self.database.as_str())).is_some()
    }

    /// A statement logged in the followed database (DDL, TRUNCATE, or DML in statement format), met: the caller
    /// decides; the stream moves past it.
    ///
    /// Inside a transaction that already changed followed tables (a session logging statements mid-transaction),
    /// the statement cannot be met apart from it: one naming no followed table passes (None) and the transaction
    /// goes on; one naming a followed table stops the follower.
    fn statement(&mut self, sql: String, next_offset: u64) -> Result<Option<Met>, BinlogError> {
        if self.parted || self.open.as_ref().is_some_and(|t| !t.changes.is_empty()) {
            let tables = self.tables.keys().map(String::as_str);
            return match super::statement::mentioned(&sql, tables) {
                Some(table) => Err(self.unreadable(&format!(
                    "a statement on table {table} inside a transaction that changed copied tables by rows \
                     (`{sql}`): it cannot be applied apart from them"
                ))),
                None => Ok(None),
            };
        }
        self.unfinished("a statement came")?;
        self.advance(next_offset);
        self.open = None;
        self.held = 0;
        Ok(Some(Met::Statement {
            sql,
            at: self.at.clone(),
        }))
    }

    /// The open transaction ends without a commit here and now (`what`, and `why` that stops the follower): an XA
    /// transaction prepared to commit later (kept prepared transactions across a follower's restarts are not
    /// supported) or rolled back, a transaction rolled back. It must not have changed a followed table;
    /// otherwise it is dropped as the empty group it is.
    fn not_committed(&mut self, what: &str, why: &str) -> Result<(), BinlogError> {
        self.held = 0;
        match self.open.take() {
            Some(t) if !t.changes.is_empty() || self.parted => Err(self.unreadable(&format!(
                "{what} and changed table {} ({why})",
                t.changes
                    .first()
                    .map_or("(given in parts)", |c| c.table.as_str())
            ))),
            _ => Ok(()),
        }
    }

    /// `ROLLBACK TO <savepoint>` logged: the source undid what its transaction did since that savepoint, which the
    /// log does not show (it shows nothing undone when only rows were changed since). Passed when no change of
    /// the followed database came since the savepoint; otherwise which of them stayed cannot be told.
    fn rolled_back_to(&mut self, sql: &str) -> Result<(), BinlogError> {
        let name = savepoint(sql);
        let held = self.open.as_ref().map_or(0, |t| t.changes.len());
        let since = self.savepoints.iter().rev().find(|(n, _)| *n == name);
        match since {
            Some(&(_, before)) if before == held && !self.parted => Ok(()),
            _ if held == 0 && !self.parted => Ok(()),
            _ => Err(self.unreadable(&format!(
                "a transaction rolled back to savepoint {name} after changing a copied table since it (which of \
                 those changes the source kept cannot be told from the log)"
            ))),
        }
    }

    fn unreadable(&self, what: &str) -> BinlogError {
        BinlogError::Unreadable {
            at: self.at.to_string(),
            what: what.to_string(),
        }
    }

    /// What a MariaDB compressed event holds, when it is of the followed database or of one that cannot be told;
    /// None for another database's, which is passed as its uncompressed form would be.
    fn compressed(&self, event: mariadb::Compressed) -> Option<String> {
        let id = match event {
            mariadb::Compressed::Query(Some(d)) if d != self.database.as_bytes() => return None,
            mariadb::Compressed::Query(_) => {
                return Some(format!(
                    "a compressed statement in database {} (MariaDB's log_bin_compress)",
                    self.database
                ))
            }
            mariadb::Compressed::Rows(id) => id,
        };
        match id.and_then(|id| self.get_tme(id)) {
            Some(t) if t.database_name() != self.database => None,
            Some(t) => Some(format!(
                "a compressed row event of table {} (MariaDB's log_bin_compress)",
                t.table_name()
            )),
            None => Some("a compressed row event (MariaDB's log_bin_compress)".into()),
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
        let Some(tme) = self.get_tme(rows.table_id()) else {
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
        // A table whose columns changed since following began (its DDL run where the follower did not see it).
        if tme.columns_count() != table.columns.len() as u64 {
            return Err(BinlogError::Reshaped {
                at,
                table: name,
                logged: tme.columns_count(),
                known: table.columns.len(),
            });
        }
        let mut changes = Vec::new();
        for row in rows.rows(tme) {
            let (before, after) = row.map_err(|e| BinlogError::Decode {
                at: at.clone(),
                message: e.to_string(),
            })?;
            // A row holds only the columns its image has: one without all of them would shift every value after a
            // missing one onto the wrong column.
            let text = |r: Option<mysql_async::binlog::row::BinlogRow>| {
                let Some(r) = r else {
                    return Ok(None);
                };
                if r.len() != table.columns.len() {
                    return Err(BinlogError::PartialImage {
                        at: at.clone(),
                        table: name.clone(),
                        present: r.len(),
                        columns: table.columns.len(),
                    });
                }
                r.unwrap()
                    .into_iter()
                    .zip(&table.columns)
                    .map(|(v, c)| text_value(v, c))
                    .collect::<Result<Row, String>>()
                    .map(Some)
                    .map_err(|message| BinlogError::Decode {
                        at: at.clone(),
                        message: format!("table {name}: {message}"),
                    })
            };
            changes.push(Change {
                table: name.clone(),
                before: text(before)?,
                after: text(after)?,
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

/// The savepoint a `SAVEPOINT`, `ROLLBACK TO [SAVEPOINT]` or `RELEASE SAVEPOINT` statement names, lower-cased
/// (savepoint names are not case-sensitive) and without its quotes.
fn savepoint(sql: &str) -> String {
    let name = sql.split_whitespace().last().unwrap_or_default();
    name.trim_matches('`').replace("``", "`").to_lowercase()
}

/// Registers `conn` as replica `server_id` and asks for the binary log from `from`, with a heartbeat every
/// `heartbeat` while the source is idle.
pub async fn open_stream(
    mut conn: mysql_async::Conn,
    server_id: u32,
    from: &Position,
    heartbeat: Duration,
) -> Result<BinlogStream, BinlogError> {
    let at = from.to_string();
    let stream_err = |source| BinlogError::Stream {
        at: at.clone(),
        source,
    };
    // MySQL ignores the MariaDB variable; MariaDB without it rewrites GTID events into dummies.
    conn.query_drop(format!(
        "SET @mariadb_slave_capability = {}, @master_heartbeat_period = {}",
        mariadb::SLAVE_CAPABILITY,
        heartbeat.as_nanos()
    ))
    .await
    .map_err(stream_err)?;
    let request = BinlogStreamRequest::new(server_id)
        .with_filename(from.file.as_bytes())
        .with_pos(from.offset);
    conn.get_binlog_stream(request).await.map_err(stream_err)
}
