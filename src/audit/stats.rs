//! `tokenaudit stats`: the heavy stage alone, its result written as a stats folder that
//! `tokenaudit audit --stats DIR` reads (see [`crate::contract`]). One machine can compute a
//! company's weeks or teams apart, and one audit merges them.

use std::path::PathBuf;

use super::progress::Progress;
use super::{behavior_snapshot, read, AuditError, Exit, InputSettings, Verbosity};
use crate::contract::{self, Accounting, Parameters};
use crate::detect::DetectConfig;

/// Everything `stats` needs.
#[derive(Debug, Clone)]
pub struct StatsSettings {
    pub input: InputSettings,
    /// Whether the behaviour fingerprints are computed, and from which snapshot.
    pub detect: DetectConfig,
    pub to: PathBuf,
    pub verbosity: Verbosity,
}

pub fn run(settings: &StatsSettings) -> Result<Exit, AuditError> {
    let snapshot = behavior_snapshot(&settings.detect);
    let mut progress = Progress::new(settings.verbosity);
    let (_, collected, overlaps) = read(&settings.input, snapshot, &mut progress)?;
    let quiet = settings.verbosity == Verbosity::Quiet;
    if !quiet {
        for line in &overlaps {
            eprintln!("warning: {line}");
        }
    }
    progress.stage("writing", &settings.to.display().to_string());
    let agent_weeks = collected.stats.sessions.len();
    contract::write(
        &settings.to,
        &collected.stats,
        Parameters::of(&settings.input.calendar, snapshot),
        Accounting {
            ingest: Some(collected.ingest),
            inputs: collected.inputs,
            rows_outside_window: collected.rows_outside_window,
        },
    )?;
    progress.done();
    if !quiet {
        eprintln!(
            "Wrote the stats of {agent_weeks} agent-weeks to {} (audit them with `tokenaudit audit --stats {}`)",
            settings.to.display(),
            settings.to.display()
        );
    }
    Ok(Exit::Clean)
}
