//! The mapping's critical-data checks as each side answers them, folded as the rows arrive (bounded memory whatever
//! a query returns); and the source's answers recorded for an export's manifest or the verification after a load.

use mysql_async::prelude::Queryable;

use crate::error::Error;
use crate::manifest::RecordedCheck;
use crate::mapping::Mapping;
use crate::util::answer::{Answer, Fold, QueryFailed};

/// A MySQL value as a check's text (NULL as `None`).
fn source_text(v: mysql_async::Value) -> Option<String> {
    match v {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// The source's answer to a check query, folded as the rows arrive (bounded memory whatever the query returns).
pub async fn source_answer(conn: &mut mysql_async::Conn, sql: &str) -> Result<Answer, QueryFailed> {
    let result = conn
        .query_iter(sql)
        .await
        .map_err(|e| QueryFailed(e.to_string()))?;
    let fold = result
        .reduce_and_drop(Fold::default(), |mut f, r: mysql_async::Row| {
            f.push(r.unwrap().into_iter().map(source_text).collect());
            f
        })
        .await
        .map_err(|e| QueryFailed(e.to_string()))?;
    Ok(fold.finish())
}

/// The target's answer to a check query, folded as the rows arrive.
pub async fn target_answer(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Answer, QueryFailed> {
    use futures::TryStreamExt as _;
    let stream = client
        .simple_query_raw(sql)
        .await
        .map_err(|e| QueryFailed(crate::connect::pg_message(&e)))?;
    let mut stream = std::pin::pin!(stream);
    let mut fold = Fold::default();
    while let Some(m) = stream
        .try_next()
        .await
        .map_err(|e| QueryFailed(crate::connect::pg_message(&e)))?
    {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            fold.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
        }
    }
    Ok(fold.finish())
}

/// The source's answers to the mapping's critical-data checks, asked on `conn`: the snapshot's side connection
/// ([`crate::source::mysql::Snapshot::side`]), so that they describe the instant the rows were read at, whatever
/// the source committed since. `import` compares the target's answers with them, and so does the verification after
/// a fresh load.
pub async fn record_checks(
    mapping: &Mapping,
    conn: Option<mysql_async::Conn>,
) -> Result<Vec<RecordedCheck>, Error> {
    if mapping.checks.is_empty() {
        return Ok(Vec::new());
    }
    let Some(mut conn) = conn else {
        return Err(Error::Internal(
            "the mapping has critical-data checks but the snapshot has no connection to ask them on".into(),
        ));
    };
    let mut out = Vec::new();
    for c in &mapping.checks {
        let answer = source_answer(&mut conn, &c.source).await;
        out.push(RecordedCheck::new(&c.name, &c.phase, &c.target, answer));
    }
    conn.disconnect().await.ok();
    Ok(out)
}
