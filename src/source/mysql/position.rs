//! Places in the source's binary log: a position (`file:offset`) and how positions compare, where the source's
//! log is now, and whether it still keeps the log from a position.

use mysql_async::prelude::Queryable;

use super::SourceError;

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

/// A binary log file name from a rotate event. The rotate the server makes up at the start of a stream comes
/// before the format description that says events carry a checksum, so its name may end in the checksum's four
/// bytes: the name is `base.NNNNNN`, cut after its digits.
pub fn file_name(raw: &str) -> String {
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

/// The source's binary log position now (`SHOW MASTER STATUS` or its successor), on a connection of its own.
pub async fn current_position(url: &str) -> Result<Option<Position>, SourceError> {
    let mut conn = crate::connect::source(url).await?;
    let now = position_on(&mut conn).await;
    conn.disconnect().await.ok();
    Ok(now)
}

/// The source's binary log position now, read on `conn` (outside any snapshot): None when it is hidden or off.
pub async fn position_on(conn: &mut mysql_async::Conn) -> Option<Position> {
    super::binlog_and_gtid(conn)
        .await
        .0
        .as_deref()
        .and_then(Position::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_file_names() {
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
    }
}
