//! `pgconverge status`: the run the target's ledger records (`run::status`), as lines or `--json`, from any shell
//! during a run or after one. Only reads.

use crate::config::StatusSettings as Settings;
use crate::error::Error;
use crate::mapping::Mapping;
use crate::run::status::{read, render, Status};

pub async fn command(settings: &Settings) -> Result<Status, Error> {
    let mapping = Mapping::load(&settings.mapping)?;
    let client = crate::connect::target(&settings.target).await?;
    let status = read(&client, &mapping.target_schema).await?;
    if settings.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("the status serializes")
        );
    } else {
        print!("{}", render(&status));
    }
    Ok(status)
}
