//! `pgconverge plan`: introspects both sides and checks the schema contract, and with `--window` estimates the
//! cut-over from the table sizes (and a rehearsal's report); writes nothing.

use std::path::Path;

use crate::error::Error;
use crate::mapping::Mapping;
use crate::plan::{self, Plan};
use crate::window::{Calibration, Estimate};

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

/// What `plan` estimates: the window to fit in, and a rehearsal's report to scale from.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub window: Option<u64>,
    pub calibrate: Option<std::path::PathBuf>,
}

#[derive(serde::Serialize)]
struct PlanReport<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    estimate: Option<Estimate>,
}

/// `pgconverge plan`: prints the report (and the window estimate when asked), writes the JSON report if asked,
/// fails when the contract does not hold or the estimate exceeds the window.
pub async fn plan_command(
    source_url: &str,
    target_url: &str,
    mapping_path: &Path,
    report: Option<&Path>,
    w: &Window,
) -> Result<Plan, Error> {
    let mapping = Mapping::load(mapping_path)?;
    let calibration = w
        .calibrate
        .as_deref()
        .map(Calibration::read)
        .transpose()
        .map_err(|e| Error::Usage(e.to_string()))?;
    let p = plan(source_url, target_url, &mapping).await?;
    print!("{}", plan::render_text(&p));
    let estimate = (w.window.is_some() || calibration.is_some()).then(|| {
        let t = super::session::Tuning::default();
        crate::window::estimate(
            &p.tables,
            calibration.as_ref(),
            w.window,
            (t.chunk_rows, t.chunk_bytes),
        )
    });
    if let Some(e) = &estimate {
        print!("{}", crate::window::render(e));
    }
    if let Some(path) = report {
        let r = PlanReport {
            plan: &p,
            estimate: estimate.clone(),
        };
        super::session::write_report(path, "plan", &r)?;
    }
    if !p.holds() {
        return Err(Error::Contract(p.problems.len()));
    }
    match estimate {
        Some(Estimate {
            fits: Some(false),
            seconds_total,
            window_seconds: Some(window),
            ..
        }) => Err(Error::Window {
            estimate: format!("{seconds_total:.0} s"),
            window: format!("{window} s"),
        }),
        _ => Ok(p),
    }
}
