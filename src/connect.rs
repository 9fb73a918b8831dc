//! Opening the source and target connections with the session settings the data path relies on.

use mysql_async::prelude::Queryable;

use crate::url::redact;

/// A server could not be reached or refused us. The URL is always redacted.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to the {side} at {url}: {message}")]
pub struct ConnectError {
    pub side: &'static str,
    pub url: String,
    pub message: String,
}

fn err(side: &'static str, url: &str, e: impl std::fmt::Display) -> ConnectError {
    ConnectError {
        side,
        url: redact(url),
        message: crate::url::redact_all(&e.to_string(), &[url]),
    }
}

/// Session settings of every source connection: UTC so TIMESTAMP columns arrive as stored, utf8mb4 so no
/// character is converted on the way, and a read-only transaction is opened by the callers that read data.
pub const SOURCE_SESSION: &str =
    "SET NAMES utf8mb4, time_zone = '+00:00', SESSION net_write_timeout = 600";

/// Database name of a `mysql://.../db` URL.
pub fn source_database(url: &str) -> Result<String, ConnectError> {
    let opts = mysql_async::Opts::from_url(url).map_err(|e| err("source", url, e))?;
    opts.db_name()
        .map(str::to_string)
        .ok_or_else(|| ConnectError {
            side: "source",
            url: redact(url),
            message: "the URL names no database: use mysql://user:pass@host:port/database".into(),
        })
}

pub async fn source(url: &str) -> Result<mysql_async::Conn, ConnectError> {
    let opts = mysql_async::Opts::from_url(url).map_err(|e| err("source", url, e))?;
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .map_err(|e| err("source", url, e))?;
    conn.query_drop(SOURCE_SESSION)
        .await
        .map_err(|e| err("source", url, e))?;
    Ok(conn)
}

pub async fn target(url: &str) -> Result<tokio_postgres::Client, ConnectError> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| err("target", url, e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "Target connection closed.");
        }
    });
    client
        .batch_execute("SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'")
        .await
        .map_err(|e| err("target", url, e))?;
    Ok(client)
}
