//! `pgconverge plan`: introspects both sides and checks the schema contract, and with `--window` estimates the
//! cut-over from the table sizes (and a rehearsal's report); writes nothing.

use crate::config::PlanSettings as Settings;
use crate::contract::{self, Contract};
use crate::error::Error;
use crate::mapping::Mapping;
use crate::run::output;
use crate::window::{Calibration, Estimate};

/// Introspects both sides and checks the contract. Returns the plan whether or not it holds.
pub async fn plan(
    source_url: &str,
    target_url: &str,
    mapping: &Mapping,
) -> Result<Contract, Error> {
    let db = crate::connect::source_database(source_url)?;
    let mut src = crate::connect::source(source_url).await?;
    let source = crate::schema::mysql::introspect(&mut src, &db).await?;
    src.disconnect().await.ok();
    let dst = crate::connect::target(target_url).await?;
    let target = crate::schema::pg::introspect(&dst, &mapping.target_schema).await?;
    Ok(contract::build(&source, &target, mapping))
}

/// Adds a problem for each thing the source lacks for change capture (`plan --follow`).
async fn follow_readiness(source_url: &str, p: &mut Contract) -> Result<(), Error> {
    let mut src = crate::connect::source(source_url).await?;
    let lacks = crate::source::mysql::follow::readiness(&mut src).await?;
    src.disconnect().await.ok();
    if lacks.is_empty() {
        tracing::info!("The source's binary log can be followed.");
    }
    for l in lacks {
        p.problems.push(contract::Problem {
            kind: contract::ProblemKind::NotFollowable,
            table: String::new(),
            column: None,
            message: format!(
                "the source's binary log cannot be followed: {} is {}, change capture needs {}; {}",
                l.what, l.found, l.needed, l.fix
            ),
            fix: None,
        });
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct PlanReport<'a> {
    #[serde(flatten)]
    plan: &'a Contract,
    estimate: Option<Estimate>,
}

/// `pgconverge plan`: prints the report (and the window estimate when asked), writes the JSON report if asked,
/// fails when the contract does not hold or the estimate exceeds the window.
pub async fn command(settings: &Settings) -> Result<Contract, Error> {
    let e = &settings.endpoints;
    let mapping = Mapping::load(&e.mapping)?;
    let calibration = settings
        .calibrate
        .as_deref()
        .map(Calibration::read)
        .transpose()
        .map_err(|e| Error::Usage(e.to_string()))?;
    let mut p = plan(&e.source, &e.target, &mapping).await?;
    if settings.follow {
        follow_readiness(&e.source, &mut p).await?;
    }
    print!("{}", contract::render_text(&p));
    let estimate = (settings.window.is_some() || calibration.is_some()).then(|| {
        crate::window::estimate(
            &p.tables,
            calibration.as_ref(),
            settings.window,
            (settings.chunk_rows, settings.chunk_bytes),
        )
    });
    if let Some(e) = &estimate {
        print!("{}", crate::window::render(e));
    }
    if let Some(path) = &settings.report {
        let r = PlanReport {
            plan: &p,
            estimate: estimate.clone(),
        };
        output::write_report(path, "plan", &r)?;
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
