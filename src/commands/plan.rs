//! `pgconverge plan`: introspects both sides and checks the schema contract; writes nothing.

use std::path::Path;

use crate::error::Error;
use crate::mapping::Mapping;
use crate::plan::{self, Plan};

/// Introspects both sides and checks the contract. Returns the plan whether or not it holds.
pub async fn plan(source_url: &str, target_url: &str, mapping: &Mapping) -> Result<Plan, Error> {
    let db = crate::connect::source_database(source_url)?;
    let mut src = crate::connect::source(source_url).await?;
    let source = crate::schema::mysql::introspect(&mut src, &db).await?;
    src.disconnect().await.ok();
    let dst = crate::connect::target(target_url).await?;
    let target = crate::schema::pg::introspect(&dst, &mapping.target_schema).await?;
    Ok(plan::build(&source, &target, mapping))
}

/// `pgconverge plan`: prints the report, writes the JSON report if asked, fails when the contract does not hold.
pub async fn plan_command(
    source_url: &str,
    target_url: &str,
    mapping_path: &Path,
    report: Option<&Path>,
) -> Result<Plan, Error> {
    let mapping = Mapping::load(mapping_path)?;
    let p = plan(source_url, target_url, &mapping).await?;
    print!("{}", plan::render_text(&p));
    if let Some(path) = report {
        super::session::write_report(path, "plan", &p)?;
    }
    if p.holds() {
        Ok(p)
    } else {
        Err(Error::Contract(p.problems.len()))
    }
}
