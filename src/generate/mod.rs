//! `tokenaudit generate`: a synthetic company with planted inflators and a truth file.
//!
//! Request-level usage follows human working hours in each agent's time zone (service accounts
//! run around the clock), in sessions, over several models and tools, with cache reads
//! dominating input as they do for coding agents. Output follows diminishing returns in the
//! list-price cost of the *productive* requests (elasticity 0.45); inflators add requests that
//! buy nothing. Some agents deliver under an email alias that only the identity map links.
//! A small share of rows is duplicated, as overlapping exports are. Same seed, same bytes.

mod population;
mod usage;

use std::io::Write;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

pub use population::{AgentProfile, Archetype};

use crate::audit::Verbosity;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("Cannot write `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Cannot write `{}`: {source}", path.display())]
    Polars {
        path: PathBuf,
        source: polars::prelude::PolarsError,
    },
    #[error("{0}")]
    Invalid(String),
}

/// How usage rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageLayout {
    /// One row per request, with request, session and prompt ids.
    Requests,
    /// One row per (agent, hour, model): a bucketed vendor-style export.
    HourlyBuckets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageFileFormat {
    Parquet,
    Csv,
    /// Claude Code session logs, one folder per agent, for the vendor adapter's bench.
    ClaudeCode,
}

#[derive(Debug, Clone)]
pub struct GenerateSettings {
    pub agents: usize,
    pub weeks: u32,
    pub seed: u64,
    pub out: PathBuf,
    /// Mean productive requests per active week of a typical agent.
    pub requests_per_week: f64,
    pub start: NaiveDate,
    pub layout: UsageLayout,
    pub format: UsageFileFormat,
    /// Plant inflators; off, the company is all honest (a null population).
    pub inflators: bool,
    pub verbosity: Verbosity,
}

impl Default for GenerateSettings {
    fn default() -> Self {
        GenerateSettings {
            agents: 60,
            weeks: 8,
            seed: 1,
            out: PathBuf::from("generated"),
            requests_per_week: 400.0,
            start: NaiveDate::from_ymd_opt(2026, 9, 7).expect("valid date"),
            layout: UsageLayout::Requests,
            format: UsageFileFormat::Parquet,
            inflators: true,
            verbosity: Verbosity::Normal,
        }
    }
}

/// One planted agent in `truth.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Planted {
    pub agent: String,
    pub team: String,
    pub archetype: Archetype,
    pub inflator: bool,
    pub visible_to: &'static [&'static str],
    /// Total spend ÷ productive spend at full burn (1 for look-alikes).
    pub burn_factor: f64,
    /// First day of the first inflated week, for inflators that start mid-period.
    pub onset_week: Option<String>,
    /// Whether the agent's outputs are recorded under an email alias.
    pub output_alias: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    pub seed: u64,
    pub agents: usize,
    pub weeks: u32,
    pub start: String,
    pub requests: u64,
    pub archetypes: std::collections::BTreeMap<&'static str, &'static str>,
    pub planted: Vec<Planted>,
}

/// Writes `usage.parquet` (or `usage.csv`), `outputs.csv`, `identities.csv` and `truth.json`
/// into `settings.out`, and returns a one-line summary.
pub fn write(settings: &GenerateSettings) -> Result<String, GenerateError> {
    if settings.agents == 0 || settings.weeks == 0 {
        return Err(GenerateError::Invalid(
            "--agents and --weeks must be at least 1".into(),
        ));
    }
    let io = |path: PathBuf| move |source| GenerateError::Io { path, source };
    std::fs::create_dir_all(&settings.out).map_err(io(settings.out.clone()))?;
    let profiles = population::draw(
        settings.agents,
        settings.requests_per_week,
        settings.seed,
        usage::MODELS.len(),
        settings.inflators,
    );
    let written = usage::write_all(settings, &profiles)?;

    let identities_path = settings.out.join("identities.csv");
    let mut identities = String::from("alias,agent,team,kind\n");
    for p in &profiles {
        let kind = if p.archetype == Archetype::Service {
            "service"
        } else {
            "human"
        };
        identities.push_str(&format!("{},{},{},{kind}\n", p.login, p.login, p.team));
        if p.output_name != p.login {
            identities.push_str(&format!(
                "{},{},{},{kind}\n",
                p.output_name, p.login, p.team
            ));
        }
    }
    std::fs::write(&identities_path, identities).map_err(io(identities_path.clone()))?;

    let onset = usage::onset_week(settings.weeks);
    let truth = Truth {
        seed: settings.seed,
        agents: settings.agents,
        weeks: settings.weeks,
        start: settings.start.to_string(),
        requests: written.requests,
        archetypes: population::ALL
            .into_iter()
            .map(|a| (archetype_name(a), a.description()))
            .collect(),
        planted: profiles
            .iter()
            .filter(|p| p.archetype != Archetype::Regular)
            .map(|p| Planted {
                agent: p.login.clone(),
                team: p.team.clone(),
                archetype: p.archetype,
                inflator: p.archetype.is_inflator(),
                visible_to: p.archetype.visible_to(),
                burn_factor: crate::units::round_to(
                    if p.archetype == Archetype::SlowDrifter {
                        p.growth.powi(settings.weeks as i32 - 1)
                    } else {
                        p.burn
                    },
                    3,
                ),
                onset_week: match p.archetype {
                    Archetype::OnsetInflater => Some(onset),
                    Archetype::SlowDrifter => Some(1.min(settings.weeks - 1)),
                    _ => None,
                }
                .map(|week| {
                    (settings.start + chrono::Duration::weeks(i64::from(week))).to_string()
                }),
                output_alias: (p.output_name != p.login).then(|| p.output_name.clone()),
            })
            .collect(),
    };
    let truth_path = settings.out.join("truth.json");
    let mut file = std::fs::File::create(&truth_path).map_err(io(truth_path.clone()))?;
    serde_json::to_writer_pretty(&mut file, &truth).map_err(|e| GenerateError::Io {
        path: truth_path.clone(),
        source: e.into(),
    })?;
    writeln!(file).map_err(io(truth_path))?;

    Ok(format!(
        "generated {} agents x {} weeks: {} usage rows ({} requests), {} output rows, {} planted ({} inflators) in {}",
        settings.agents,
        settings.weeks,
        written.usage_rows,
        written.requests,
        written.output_rows,
        truth.planted.len(),
        truth.planted.iter().filter(|p| p.inflator).count(),
        settings.out.display()
    ))
}

pub fn archetype_name(archetype: Archetype) -> &'static str {
    match archetype {
        Archetype::Regular => "regular",
        Archetype::ConstantInflater => "constant_inflater",
        Archetype::LoopBot => "loop_bot",
        Archetype::OnsetInflater => "onset_inflater",
        Archetype::HeavyProductive => "heavy_productive",
        Archetype::Tiny => "tiny",
        Archetype::Service => "service",
        Archetype::ContextStuffer => "context_stuffer",
        Archetype::SnapshotSpiker => "snapshot_spiker",
        Archetype::SlowDrifter => "slow_drifter",
        Archetype::ParallelBurner => "parallel_burner",
        Archetype::HonestRampUp => "honest_ramp_up",
        Archetype::Vacation => "vacation",
        Archetype::FewArtifacts => "few_artifacts",
        Archetype::Aliased => "aliased",
    }
}
