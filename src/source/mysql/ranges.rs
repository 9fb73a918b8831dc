//! Chunk planning on the source: the rows a table holds as far as chunking needs it, and about `want` ranges of
//! its first key column, boundaries proposed by `chunk`'s arithmetic and snapped to real keys with index seeks.

use mysql_async::prelude::Queryable;

use super::error::{q, SourceError};
use crate::chunk::{
    int_bounds, interpolate_bytes, interpolate_text, ranges_from, ChunkRange, KeyBound,
};
use crate::schema::SourceTable;
use crate::util::sql::{mysql_ident, mysql_string};

pub(super) const INT_TYPES: &[&str] = &[
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
    let t = mysql_ident(&table.name);
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
    let t = mysql_ident(&table.name);
    let kc = mysql_ident(k);
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
                mysql_string(&c)
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
    let list: Vec<String> = snapped.iter().map(|s| mysql_string(s)).collect();
    let ordered: Vec<Vec<u8>> = conn
        .query(format!(
            "SELECT DISTINCT {kc} FROM {t} WHERE {kc} IN ({}) AND {kc} > {} ORDER BY {kc}",
            list.join(","),
            mysql_string(&min)
        ))
        .await
        .map_err(q(&ctx))?;
    let bounds = ordered
        .into_iter()
        .map(|b| KeyBound::Text(String::from_utf8_lossy(&b).into_owned()))
        .collect();
    Ok(ranges_from(bounds))
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
