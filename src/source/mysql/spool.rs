//! The spool: the source's binary log from the copy's snapshot position, written to a bounded local file while the
//! copy and its verification run, so that the source purging its binary logs during a long copy cannot lose the
//! follower's start. The follower (`binlog::Follower::open_spooled`) reads it first and then the source's stream
//! from where it ends.
//!
//! The file holds the events as the stream sent them, heartbeats left out, and is cut back to the last
//! transaction boundary when spooling ends (the copy is done, the bound is reached, the disk is full or the stream
//! broke): a spool never ends inside a transaction. A file counts only once its description (`<name>.json`:
//! database, start, end, length) is published next to it; a run killed while spooling leaves a `.partial` file
//! that nothing reads and the next spool of the same start replaces.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use mysql_async::binlog::events::{Event, EventData, TableMapEvent};
use mysql_async::binlog::{BinlogVersion, EventType};
use mysql_async::BinlogStream;
use mysql_common::binlog::EventStreamReader;
use serde::{Deserialize, Serialize};

use super::binlog::{self, BinlogError, Position, Spooled};
use crate::util::fsio;

/// What a published spool holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpoolMeta {
    pub database: String,
    /// The snapshot position it starts at, and the transaction boundary it ends at.
    pub start: String,
    pub end: String,
    pub bytes: u64,
}

/// The spool file of `database` from `start` in `dir`, and its description.
fn paths(dir: &Path, database: &str, start: &Position) -> (PathBuf, PathBuf) {
    let name: String = format!("{database}-{start}")
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '.' | '_' => c,
            _ => '_',
        })
        .collect();
    (
        dir.join(format!("{name}.binlog")),
        dir.join(format!("{name}.json")),
    )
}

/// Writes the spool while the copy runs ([`Spooler::run`] alongside it), then [`Spooler::finish`] publishes it.
pub struct Spooler {
    stream: BinlogStream,
    out: BufWriter<File>,
    partial: PathBuf,
    database: String,
    dir: PathBuf,
    start: Position,
    /// Where the stream is, and whether the format description was read (rotates before it name the file asked
    /// for, see `binlog::file_name`).
    at: Position,
    described: bool,
    in_transaction: bool,
    written: u64,
    /// Bytes up to the last transaction boundary, and its position.
    boundary_len: u64,
    boundary: Position,
    max: u64,
    /// Why spooling stopped before `finish`, if it did.
    stopped: Option<String>,
}

impl Spooler {
    /// Registers `conn` as replica `server_id` and starts the spool of `database` from `from` in `dir` (made if
    /// missing), holding at most `max` bytes.
    pub async fn start(
        conn: mysql_async::Conn,
        server_id: u32,
        from: &Position,
        database: &str,
        dir: &Path,
        max: u64,
    ) -> Result<Spooler, BinlogError> {
        let (path, _) = paths(dir, database, from);
        let partial = path.with_extension("binlog.partial");
        let file = std::fs::create_dir_all(dir)
            .and_then(|_| File::create(&partial))
            .map_err(|e| BinlogError::Spool {
                path: partial.display().to_string(),
                message: e.to_string(),
            })?;
        let stream = binlog::open_stream(conn, server_id, from, Duration::from_secs(1)).await?;
        Ok(Spooler {
            stream,
            out: BufWriter::with_capacity(1 << 20, file),
            partial,
            database: database.to_string(),
            dir: dir.to_path_buf(),
            start: from.clone(),
            at: from.clone(),
            described: false,
            in_transaction: false,
            written: 0,
            boundary_len: 0,
            boundary: from.clone(),
            max,
            stopped: None,
        })
    }

    /// Spools until the stream breaks, the bound is reached or a write fails (each logged, none an error of the
    /// run: the follower then reads the source from where the spool ends). Meant to be dropped by the caller once
    /// the copy is done; whatever it was doing, the file is cut back to a boundary by `finish`.
    pub async fn run(&mut self) {
        if self.stopped.is_some() {
            return;
        }
        let why = loop {
            let event = match self.stream.next().await {
                None => break "the source ended the stream".to_string(),
                Some(Err(e)) => break format!("reading the binary log failed: {e}"),
                Some(Ok(e)) => e,
            };
            if let Err(why) = self.write(&event) {
                break why;
            }
        };
        tracing::warn!(
            at = %self.boundary,
            spooled_bytes = self.boundary_len,
            why = %why,
            "Spooling the binary log stopped: the follower reads the source from where the spool ends, so the \
             source must keep its binary logs from there."
        );
        self.stopped = Some(why);
    }

    fn write(&mut self, event: &Event) -> Result<(), String> {
        let kind = event.header().event_type_raw();
        if kind == EventType::HEARTBEAT_EVENT as u8 {
            return Ok(());
        }
        let size = event.header().event_size() as u64;
        if self.written + size > self.max {
            return Err(format!("the spool reached its bound of {} bytes", self.max));
        }
        event
            .write(BinlogVersion::Version4, &mut self.out)
            .map_err(|e| format!("writing {} failed: {e}", self.partial.display()))?;
        self.written += size;
        let data = event.read_data().map_err(|e| e.to_string())?;
        let rotate = matches!(data, Some(EventData::RotateEvent(_)));
        match data {
            Some(EventData::RotateEvent(r)) if self.described => {
                self.at = Position {
                    file: binlog::file_name(&r.name()),
                    offset: r.position(),
                };
            }
            Some(EventData::FormatDescriptionEvent(_)) => self.described = true,
            Some(EventData::QueryEvent(q)) => {
                self.in_transaction = q
                    .query()
                    .trim_start()
                    .to_ascii_uppercase()
                    .starts_with("BEGIN")
            }
            Some(EventData::XidEvent(_)) => self.in_transaction = false,
            _ if kind == super::mariadb::GTID_EVENT
                || kind == EventType::GTID_EVENT as u8
                || kind == EventType::ANONYMOUS_GTID_EVENT as u8 =>
            {
                self.in_transaction = true
            }
            _ => {}
        }
        let next = event.header().log_pos() as u64;
        if next > 0 && !rotate {
            self.at.offset = next;
        }
        if !self.in_transaction {
            self.boundary_len = self.written;
            self.boundary = self.at.clone();
        }
        Ok(())
    }

    /// Ends spooling: the file cut back to the last transaction boundary, synced and published with its
    /// description. None (and no file left) when nothing was spooled or the file could not be kept.
    pub fn finish(mut self) -> Option<SpoolMeta> {
        let meta = SpoolMeta {
            database: self.database.clone(),
            start: self.start.to_string(),
            end: self.boundary.to_string(),
            bytes: self.boundary_len,
        };
        let kept = (|| -> std::io::Result<bool> {
            self.out.flush()?;
            let file = self.out.get_mut();
            file.set_len(self.boundary_len)?;
            file.seek(std::io::SeekFrom::End(0))?;
            file.sync_all()?;
            if self.boundary == self.start {
                return Ok(false);
            }
            let (path, described) = paths(&self.dir, &self.database, &self.start);
            fsio::publish(&self.partial, &path)?;
            let json = serde_json::to_vec_pretty(&meta).expect("a spool description");
            fsio::write_atomically(&described.with_extension("json.partial"), &described, &json)?;
            Ok(true)
        })();
        match kept {
            Ok(true) => {
                tracing::info!(
                    from = %meta.start,
                    to = %meta.end,
                    bytes = meta.bytes,
                    "Spooled the source's binary log during the copy."
                );
                Some(meta)
            }
            Ok(false) => {
                std::fs::remove_file(&self.partial).ok();
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, path = %self.partial.display(), "Could not keep the spool: the follower reads the source's binary log instead.");
                std::fs::remove_file(&self.partial).ok();
                None
            }
        }
    }
}

impl Spooler {
    /// Drops the spool unpublished (the run failed before following).
    pub fn discard(self) {
        std::fs::remove_file(&self.partial).ok();
    }
}

/// Reads a published spool: its events in order, and the table maps among them.
pub struct SpoolReader {
    reader: EventStreamReader,
    file: BufReader<File>,
    path: PathBuf,
}

impl SpoolReader {
    /// The published spool of `database` from `start` in `dir`, when there is one whose description matches and
    /// whose file is whole; a mismatch is logged and passed over (the follower reads the source instead).
    pub fn open(dir: &Path, database: &str, start: &Position) -> Option<(SpoolReader, SpoolMeta)> {
        let (path, described) = paths(dir, database, start);
        let text = std::fs::read(&described).ok()?;
        let whole = |meta: &SpoolMeta| {
            meta.database == database
                && meta.start == start.to_string()
                && std::fs::metadata(&path).is_ok_and(|m| m.len() == meta.bytes)
        };
        let meta = match serde_json::from_slice::<SpoolMeta>(&text) {
            Ok(meta) if whole(&meta) => meta,
            _ => {
                tracing::warn!(path = %path.display(), "This spool does not match its description: it is not read.");
                return None;
            }
        };
        let file = File::open(&path).ok()?;
        Some((
            SpoolReader {
                reader: EventStreamReader::new(BinlogVersion::Version4),
                file: BufReader::with_capacity(1 << 20, file),
                path,
            },
            meta,
        ))
    }
}

/// Removes the spool of `database` from `start` in `dir` and its description (following finished).
pub fn remove(dir: &Path, database: &str, start: &Position) {
    let (path, described) = paths(dir, database, start);
    for p in [described, path] {
        if p.exists() {
            if let Err(e) = fsio::remove(&p) {
                tracing::warn!(path = %p.display(), error = %e, "Could not remove the spent spool.");
            }
        }
    }
}

impl Spooled for SpoolReader {
    fn next_event(&mut self) -> Result<Option<Event>, BinlogError> {
        self.reader
            .read(&mut self.file)
            .map_err(|e| BinlogError::Spool {
                path: self.path.display().to_string(),
                message: e.to_string(),
            })
    }

    fn get_tme(&self, table_id: u64) -> Option<&TableMapEvent<'static>> {
        self.reader.get_tme(table_id)
    }
}
