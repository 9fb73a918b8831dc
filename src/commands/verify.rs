//! `pgconverge verify`: proves the target holds what the source holds (`run::verify`), prints the checklist, and
//! writes the report and checklist files if asked.

use crate::config::VerifySettings as Settings;
use crate::error::Error;
use crate::mapping::Mapping;
use crate::run::output;
use crate::run::verify::{self, failure, render_markdown, VerifyReport};

/// `pgconverge verify`: runs it, prints the checklist, writes the report and checklist files if asked; a
/// failed verification is `Error::Verify` (exit 6).
pub async fn command(settings: &Settings) -> Result<VerifyReport, Error> {
    let mapping = Mapping::load(&settings.endpoints.mapping)?;
    let report = verify::verify(&mapping, settings).await?;
    let md = render_markdown(&report);
    print!("{md}");
    if let Some(path) = &settings.report {
        output::write_report(path, "verify", &report)?;
    }
    if let Some(path) = &settings.checklist {
        verify::write_checklist(path, &report)?;
    }
    if !report.passed {
        return Err(failure(
            &report,
            "the checklist above names each difference",
        ));
    }
    Ok(report)
}
