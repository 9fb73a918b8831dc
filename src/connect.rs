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

pub(crate) fn err(side: &'static str, url: &str, e: impl std::fmt::Display) -> ConnectError {
    ConnectError {
        side,
        url: redact(url),
        message: crate::url::redact_all(&e.to_string(), &[url]),
    }
}

/// The name every connection carries (`pgconverge/<command>`), so that a DBA sees whose sessions these are in
/// `pg_stat_activity` (`application_name`) and in MySQL's connection attributes (`program_name`).
static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names this process's connections after `command`; set once, before the first connection.
pub fn set_program(command: &str) {
    PROGRAM.get_or_init(|| format!("pgconverge/{command}"));
}

fn program() -> &'static str {
    PROGRAM.get().map_or("pgconverge", String::as_str)
}

/// How long a connection may take to open, on either side, before it counts as refused.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// TCP keepalive on every connection: probes after this much silence, then every [`KEEPALIVE_INTERVAL`], and the
/// connection is dead after [`KEEPALIVE_PROBES`] unanswered ones (PostgreSQL; MySQL's driver sets only the first,
/// so a silent source is noticed by [`SOURCE_SILENCE`]). A dropped route (no reset, no close) is noticed within
/// about 25 s on an idle target connection instead of the kernel's two hours.
pub const KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(10);
pub const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
pub const KEEPALIVE_PROBES: u32 = 3;

/// Data sent to the target and not acknowledged for this long ends the connection (`TCP_USER_TIMEOUT`): a COPY
/// into a dropped route fails within it and the chunk is copied again on a new connection.
pub const TARGET_UNACKED: std::time::Duration = std::time::Duration::from_secs(30);

/// A chunk read from the source that receives no row for this long ends the run as a lost connection
/// (resumable, exit 3): MySQL sends a PK-range chunk's rows as it reads them, so silence this long means the
/// route or the server is gone.
pub const SOURCE_SILENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Session settings of every source connection: UTC so TIMESTAMP columns arrive as stored, utf8mb4 so no
/// character is converted on the way, and every transaction read-only: the source is only ever read.
pub const SOURCE_SESSION: &str =
    "SET NAMES utf8mb4, time_zone = '+00:00', SESSION net_write_timeout = 600; \
     SET SESSION TRANSACTION READ ONLY";

/// The driver's options of a `mysql://` URL, with the TLS its `ssl-mode`/`ssl-ca` ask for (`crate::tls`), and
/// whether TLS is only preferred (tried first, plain when the server offers none). Without `ssl-mode`, TLS is
/// preferred unless mysql_async's own `require_ssl` parameter says more.
fn source_opts(url: &str) -> Result<(mysql_async::Opts, bool), ConnectError> {
    let (rest, tls) = crate::tls::mysql(url).map_err(|e| err("source", url, e))?;
    let opts = mysql_async::Opts::from_url(&rest).map_err(|e| err("source", url, e))?;
    // No password in the URL: the password file, MYSQL_PWD or ~/.my.cnf (`crate::credentials`).
    let opts = match opts.pass() {
        Some(_) => opts,
        None => match crate::credentials::source_password().map_err(|e| err("source", url, e))? {
            Some(p) => mysql_async::OptsBuilder::from_opts(opts)
                .pass(Some(p))
                .into(),
            None => opts,
        },
    };
    let tls = match tls {
        Some(t) => t,
        None if opts.ssl_opts().is_some() => {
            let named = mysql_async::OptsBuilder::from_opts(opts)
                .tcp_keepalive(Some(KEEPALIVE_IDLE))
                .connect_attribute("program_name", program());
            return Ok((named.into(), false));
        }
        None => crate::tls::Settings {
            mode: crate::tls::Mode::Prefer,
            ca: None,
            identity: None,
        },
    };
    let builder = mysql_async::OptsBuilder::from_opts(opts)
        .ssl_opts(crate::tls::mysql_ssl_opts(&tls))
        .tcp_keepalive(Some(KEEPALIVE_IDLE))
        .connect_attribute("program_name", program());
    Ok((builder.into(), tls.mode == crate::tls::Mode::Prefer))
}

/// Database name of a `mysql://.../db` URL.
pub fn source_database(url: &str) -> Result<String, ConnectError> {
    let (opts, _) = source_opts(url)?;
    opts.db_name()
        .map(str::to_string)
        .ok_or_else(|| ConnectError {
            side: "source",
            url: redact(url),
            message: "the URL names no database: use mysql://user:pass@host:port/database".into(),
        })
}

pub async fn source(url: &str) -> Result<mysql_async::Conn, ConnectError> {
    let (opts, prefer) = source_opts(url)?;
    let open = async {
        match mysql_async::Conn::new(opts.clone()).await {
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) if prefer => {
                let plain = mysql_async::OptsBuilder::from_opts(opts).ssl_opts(None);
                mysql_async::Conn::new(plain).await
            }
            r => r,
        }
    };
    // The driver has no connect timeout: a dropped route would wait for the kernel's SYN retries (minutes).
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, open)
        .await
        .map_err(|_| {
            err(
                "source",
                url,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )
        })?
        .map_err(|e| err("source", url, e))?;
    conn.query_drop(SOURCE_SESSION)
        .await
        .map_err(|e| err("source", url, e))?;
    Ok(conn)
}

/// Fills what the connection string did not say from a connection service's section (the string wins).
fn service_defaults(
    config: &mut tokio_postgres::Config,
    service: &[(String, String)],
) -> Result<(), String> {
    for (k, v) in service {
        match k.as_str() {
            "host" if config.get_hosts().is_empty() => {
                for h in v.split(',') {
                    config.host(h.trim());
                }
            }
            "port" if config.get_ports().is_empty() => {
                let port = v
                    .parse()
                    .map_err(|_| format!("the service's port {v:?} is not a port number"))?;
                config.port(port);
            }
            "dbname" if config.get_dbname().is_none() => {
                config.dbname(v);
            }
            "user" if config.get_user().is_none() => {
                config.user(v);
            }
            "password" if config.get_password().is_none() => {
                config.password(v);
            }
            "application_name" if config.get_application_name().is_none() => {
                config.application_name(v);
            }
            "connect_timeout" if config.get_connect_timeout().is_none() => {
                let secs = v
                    .parse()
                    .map_err(|_| format!("the service's connect_timeout {v:?} is not a number"))?;
                config.connect_timeout(std::time::Duration::from_secs(secs));
            }
            "options" if config.get_options().is_none() => {
                config.options(v);
            }
            "sslmode" | "sslrootcert" | "sslcert" | "sslkey" => {} // crate::tls took them
            "host" | "port" | "dbname" | "user" | "password" | "application_name"
            | "connect_timeout" | "options" => {} // the string said it
            other => tracing::warn!(
                key = other,
                "The connection service sets a key pgconverge does not use; ignored."
            ),
        }
    }
    Ok(())
}

/// Opens a PostgreSQL connection with `sslmode` (`crate::tls`) and hands its I/O to a task.
async fn pg_connect(url: &str) -> Result<tokio_postgres::Client, ConnectError> {
    // The server's own message (tokio-postgres displays only "db error"): which database or role it refused.
    let refused = |e: tokio_postgres::Error| err("target", url, pg_message(&e));
    let (conn, service) =
        crate::credentials::target_service(url).map_err(|e| err("target", url, e))?;
    let service = service.unwrap_or_default();
    let (rest, tls) =
        crate::tls::postgres_in_service(&conn, &service).map_err(|e| err("target", url, e))?;
    let mut config: tokio_postgres::Config = rest.parse().map_err(refused)?;
    service_defaults(&mut config, &service).map_err(|e| err("target", url, e))?;
    // No password in the string: the password file, PGPASSWORD or the .pgpass file (`crate::credentials`).
    if config.get_password().is_none() {
        let endpoint = crate::credentials::PgEndpoint {
            host: match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                _ => "localhost".into(),
            },
            port: config.get_ports().first().copied().unwrap_or(5432),
            database: config
                .get_dbname()
                .or(config.get_user())
                .unwrap_or_default()
                .to_string(),
            user: config.get_user().unwrap_or_default().to_string(),
        };
        if let Some(p) =
            crate::credentials::target_password(&endpoint).map_err(|e| err("target", url, e))?
        {
            config.password(p);
        }
    }
    // A dead peer is noticed (`KEEPALIVE_IDLE`, `TARGET_UNACKED`) instead of waited on for hours.
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_PROBES)
        .tcp_user_timeout(TARGET_UNACKED);
    // The operator's own application_name in the connection string wins.
    if config.get_application_name().is_none() {
        config.application_name(program());
    }
    fn drive<F>(connection: F)
    where
        F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
    {
        crate::pipeline::drive(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "Target connection closed.");
            }
        });
    }
    match crate::tls::client_config(&tls).map_err(|e| err("target", url, e))? {
        None => {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(refused)?;
            drive(connection);
            Ok(client)
        }
        Some(c) => {
            config.ssl_mode(match tls.mode {
                crate::tls::Mode::Prefer => tokio_postgres::config::SslMode::Prefer,
                _ => tokio_postgres::config::SslMode::Require,
            });
            let make = tokio_postgres_rustls::MakeRustlsConnect::new(c);
            let (client, connection) = config.connect(make).await.map_err(refused)?;
            drive(connection);
            Ok(client)
        }
    }
}

pub async fn target(url: &str) -> Result<tokio_postgres::Client, ConnectError> {
    let refused = |e: tokio_postgres::Error| err("target", url, pg_message(&e));
    let client = pg_connect(url).await?;
    crate::durable::session(
        &client,
        "SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'",
    )
    .await
    .map_err(refused)?;
    Ok(client)
}

/// The server process behind `client` (None when the connection is already gone).
pub async fn backend_pid(client: &tokio_postgres::Client) -> Option<i32> {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .ok()
        .map(|r| r.get(0))
}

/// Ends the server process of a connection this process lost, from the connection that replaces it. Over a
/// dropped route the server does not notice the loss for hours (its keepalive defaults to the kernel's), and an
/// orphaned COPY keeps its lock on the table, so the finish's ALTER TABLE would wait for it forever. The same role
/// may end its own sessions; a failure only warns (the orphan then ends when the server notices).
pub async fn end_orphan(replacement: &tokio_postgres::Client, orphan: Option<i32>) {
    let Some(pid) = orphan else { return };
    match replacement
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
    {
        Ok(r) if r.get::<_, bool>(0) => {
            tracing::info!(pid, "Ended the server session of the lost connection.")
        }
        Ok(_) => tracing::debug!(
            pid,
            "The lost connection's server session had already ended."
        ),
        Err(e) => {
            tracing::warn!(pid, error = %pg_message(&e), "Could not end the server session of the lost connection; it ends when the server notices.")
        }
    }
}

/// Opens a target connection, retrying a few times with backoff: the server may be restarting.
pub async fn target_with_retry(url: &str) -> Result<tokio_postgres::Client, ConnectError> {
    let mut delay = std::time::Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match target(url).await {
            Ok(c) => return Ok(c),
            Err(e) if attempt < 5 => {
                tracing::warn!(error = %e, attempt, "Target connection failed; retrying.");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The server's message with its detail and context, or the client error.
pub fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let mut s = d.message().to_string();
            if let Some(x) = d.detail() {
                s.push_str(&format!(" ({x})"));
            }
            if let Some(w) = d.where_() {
                s.push_str(&format!(" [{w}]"));
            }
            s
        }
        // tokio-postgres keeps the cause (a TLS handshake's certificate problem, say) in its source chain.
        None => {
            let mut s = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                s.push_str(&format!(": {c}"));
                cause = c.source();
            }
            s
        }
    }
}

/// Whether a PostgreSQL error is about the connection or the server's state rather than the data: lost
/// connections (class 08), administrator shutdown or crash recovery (57P01-57P03), serialization failures and
/// deadlocks (40001, 40P01). Data errors (class 22, 23, ...) never are.
pub fn pg_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        }
        // No SQLSTATE: an I/O error on the socket.
        None => e.as_db_error().is_none(),
    }
}
