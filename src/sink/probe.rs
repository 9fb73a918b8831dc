//! `check`'s domain probe: whether converted values satisfy the constraints of a target column's domain is
//! PostgreSQL's to say (a CHECK is any SQL expression), so each batch's values of domain columns are cast to the
//! domain on the target, one value at a time inside a session function that catches the refusal. Nothing is
//! written: the function lives in the session's temporary schema.

use tokio_postgres::Client;

use super::SinkError;
use crate::pipeline::Sink;
use crate::values::{excerpt, Rule, Violation};

/// The converted values of one domain column of a batch, keyed by their rows' source keys.
#[derive(Debug, Clone)]
pub struct Probe {
    pub table: String,
    /// The source column, as violations name it.
    pub column: String,
    /// The domain, as `format_type` names it (qualified when not on the search path).
    pub domain: String,
    /// (row key, target text) of each value that converted.
    pub values: Vec<(String, String)>,
}

/// What `check`'s transform found in a batch: the violations of the conversion, and the values only the target
/// can judge.
#[derive(Debug, Default)]
pub struct Inspected {
    pub violations: Vec<Violation>,
    pub probes: Vec<Probe>,
}

/// Returns NULL when `v` casts to `t`, else PostgreSQL's message. The exception block is a subtransaction per
/// value: slow next to COPY, fine for a rehearsal that only sends the domain columns.
const FUNCTION: &str = "CREATE FUNCTION pg_temp.pgc_domain_refusal(v text, t regtype) RETURNS text
    LANGUAGE plpgsql AS $$
    BEGIN
      EXECUTE format('SELECT %L::%s', v, t);
      RETURN NULL;
    EXCEPTION WHEN others THEN
      RETURN SQLERRM;
    END $$";

const QUERY: &str = "SELECT k, v, r FROM (
      SELECT k, v, pg_temp.pgc_domain_refusal(v, $3::text::regtype) AS r FROM unnest($1::text[], $2::text[]) u(k, v)
    ) x WHERE r IS NOT NULL";

/// Hands each violation to `add`, the conversion's as they come and the domains' once the target judged them.
pub struct DomainProbe<F> {
    client: Option<Client>,
    add: F,
}

impl<F: FnMut(Violation) + Send + 'static> DomainProbe<F> {
    /// `url`: the target, when a planned column has a domain; None sends nothing anywhere.
    pub async fn new(url: Option<&str>, add: F) -> Result<Self, SinkError> {
        let client = match url {
            Some(url) => {
                let client = crate::connect::target(url).await?;
                crate::durable::session(&client, FUNCTION)
                    .await
                    .map_err(|e| SinkError::Setting {
                        statement: "CREATE FUNCTION pg_temp.pgc_domain_refusal".into(),
                        sqlstate: e.code().map_or("", |c| c.code()).to_string(),
                        message: crate::connect::pg_message(&e),
                    })?;
                Some(client)
            }
            None => None,
        };
        Ok(DomainProbe { client, add })
    }
}

impl<W, F> Sink<W, Inspected> for DomainProbe<F>
where
    W: crate::pipeline::Work,
    F: FnMut(Violation) + Send + 'static,
{
    type Error = SinkError;

    async fn begin(&mut self, _: &W) -> Result<(), SinkError> {
        Ok(())
    }

    async fn write(&mut self, _: &W, piece: Inspected) -> Result<(), SinkError> {
        for v in piece.violations {
            (self.add)(v);
        }
        let Some(client) = &self.client else {
            return Ok(());
        };
        for p in piece.probes.into_iter().filter(|p| !p.values.is_empty()) {
            let (keys, values): (Vec<String>, Vec<String>) = p.values.into_iter().unzip();
            let rows = client
                .query(QUERY, &[&keys, &values, &p.domain])
                .await
                .map_err(|e| SinkError::Probe {
                    table: p.table.clone(),
                    column: p.column.clone(),
                    message: crate::connect::pg_message(&e),
                })?;
            for r in rows {
                let value: String = r.get(1);
                (self.add)(Violation {
                    table: p.table.clone(),
                    key: r.get(0),
                    column: p.column.clone(),
                    rule: Rule::RejectedByTarget { message: r.get(2) },
                    excerpt: excerpt(value.as_bytes()),
                    hint: None,
                });
            }
        }
        Ok(())
    }

    async fn commit(&mut self, _: &W, _: u64) -> Result<u64, SinkError> {
        Ok(0)
    }

    async fn abort(&mut self) {}

    async fn recover(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
