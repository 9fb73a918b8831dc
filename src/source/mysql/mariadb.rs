//! MariaDB's own binary log events, which mysql_common does not decode: its GTID event (each transaction's
//! start, for a replica that declares it reads them) and its compressed events (`log_bin_compress`), of which
//! only the uncompressed post-header is read, to tell which database or table they are of.

/// MariaDB's GTID event.
pub(crate) const GTID_EVENT: u8 = 0xa2;
/// A replica that understands GTID events (MariaDB's `MARIA_SLAVE_CAPABILITY_GTID`).
pub(super) const SLAVE_CAPABILITY: u32 = 4;
/// The compressed events: a query, then the row events in their two versions.
const QUERY_COMPRESSED: u8 = 0xa5;
const COMPRESSED: std::ops::RangeInclusive<u8> = 0xa5..=0xab;

/// The GTID (`domain-server-sequence`) a GTID event of `server_id` holds, when its data is whole.
pub(super) fn gtid(data: &[u8], server_id: u32) -> Option<String> {
    let seq = u64::from_le_bytes(data.get(..8)?.try_into().ok()?);
    let domain = u32::from_le_bytes(data.get(8..12)?.try_into().ok()?);
    Some(format!("{domain}-{server_id}-{seq}"))
}

/// What a compressed event is of, as its post-header says.
#[derive(Debug, PartialEq)]
pub(super) enum Compressed<'a> {
    /// A statement, run in this database (None: the event is too short to tell).
    Query(Option<&'a [u8]>),
    /// Row changes of the table this table map id names.
    Rows(Option<u64>),
}

/// Event type `kind` with `data`, when it is a compressed event.
pub(super) fn compressed(kind: u8, data: &[u8]) -> Option<Compressed<'_>> {
    if !COMPRESSED.contains(&kind) {
        return None;
    }
    if kind == QUERY_COMPRESSED {
        // Thread id (4), execution time (4), database length (1), error code (2), status length (2), the status
        // variables, then the database.
        let database = data.get(8).and_then(|&len| {
            let vars = u16::from_le_bytes(data.get(11..13)?.try_into().ok()?) as usize;
            data.get(13 + vars..13 + vars + len as usize)
        });
        return Some(Compressed::Query(database));
    }
    // A row event's table id: 6 bytes, little-endian.
    let table = data
        .get(..6)
        .map(|b| b.iter().rev().fold(0u64, |id, &byte| id << 8 | byte as u64));
    Some(Compressed::Rows(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtids_and_compressed_post_headers() {
        let mut g = 76423u64.to_le_bytes().to_vec();
        g.extend(0u32.to_le_bytes());
        assert_eq!(gtid(&g, 1).as_deref(), Some("0-1-76423"));
        assert_eq!(gtid(&g[..10], 1), None);
        // A query in database `app`, with 2 bytes of status variables.
        let q = [
            0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 2, 0, 9, 9, b'a', b'p', b'p', 0,
        ];
        assert_eq!(
            compressed(0xa5, &q),
            Some(Compressed::Query(Some(&b"app"[..])))
        );
        assert_eq!(compressed(0xa5, &q[..12]), Some(Compressed::Query(None)));
        let rows = [178, 1, 0, 0, 0, 0, 1, 0];
        assert_eq!(compressed(0xa9, &rows), Some(Compressed::Rows(Some(434))));
        assert_eq!(compressed(0x1e, &rows), None);
    }
}
