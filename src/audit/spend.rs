//! `tokenaudit spend`: the reading stages of the audit, priced, rolled up for chargeback.
//! No detection runs and no output files are needed.

use std::io::Write;
use std::path::PathBuf;

use super::progress::Progress;
use super::{load, period, AuditError, Exit, InputSettings, Verbosity};
use crate::features::{self, OutputWeights, SpendDim};
use crate::report::{SpendFormat, SpendReport, SpendTotals, ToolInfo, SCHEMA_VERSION};

/// Everything `spend` needs.
#[derive(Debug, Clone)]
pub struct SpendSettings {
    pub input: InputSettings,
    /// Roll-up dimensions, in the order the columns appear.
    pub by: Vec<SpendDim>,
    pub stdout_format: SpendFormat,
    pub out_files: Vec<(SpendFormat, PathBuf)>,
    pub verbosity: Verbosity,
    pub pseudonymizer: Option<crate::report::Pseudonymizer>,
}

pub fn build(settings: &SpendSettings) -> Result<SpendReport, AuditError> {
    let input = &settings.input;
    let mut progress = Progress::new(settings.verbosity);
    let loaded = load(input, None, &mut progress, Ok)?;
    progress.stage("rolling up", "cost by team, agent, model and week");
    // Agent-weeks only settle each agent's team (identity map first, then the usage rows).
    let weeks = features::build_agent_weeks(
        &loaded.priced,
        &loaded.collected.stats.sessions,
        &[],
        &OutputWeights::default(),
        input.calendar.week_start,
    );
    let mut rows = features::spend_rows(&loaded.priced, &weeks, input.calendar.week_start);
    if let Some(p) = &settings.pseudonymizer {
        for row in &mut rows {
            row.agent = p.name(&row.agent);
        }
    }
    let groups = features::roll_up(&rows, &settings.by);
    progress.done();
    if settings.verbosity != Verbosity::Quiet {
        for line in &loaded.overlaps {
            eprintln!("warning: {line}");
        }
    }
    if settings.verbosity != Verbosity::Quiet && !loaded.unpriced.is_empty() {
        let models: Vec<&str> = loaded.unpriced.iter().map(|m| m.model.as_str()).collect();
        eprintln!(
            "warning: usage of {} has no price and is in no cost column; add prices with --pricing FILE",
            models.join(", ")
        );
    }
    Ok(SpendReport {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::default(),
        period: period(weeks.iter().map(|w| w.week), &input.calendar),
        inputs: loaded.collected.inputs.clone(),
        ingest: loaded.collected.ingest.clone(),
        by: settings.by.iter().map(|d| d.name()).collect(),
        totals: SpendTotals::of(&groups),
        groups,
        unpriced_models: loaded.unpriced,
        rows,
    })
}

pub fn run(settings: &SpendSettings, stdout: &mut dyn Write) -> Result<Exit, AuditError> {
    let report = build(settings)?;
    for (format, path) in &settings.out_files {
        super::write_atomically(path, |out| report.render(*format, out))?;
    }
    report
        .render(settings.stdout_format, stdout)
        .map_err(|source| AuditError::Write {
            path: PathBuf::from("<stdout>"),
            source,
        })?;
    Ok(Exit::Clean)
}
