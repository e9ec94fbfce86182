//! Detect: from the agent-week table to findings.
//!
//! Each lens is one file implementing [`Lens`]: it reads the population and returns one
//! [`Assessment`] per agent (or agent-week) it could judge, with a one-sided p-value, the
//! excess dollars and the reasons. This module does what is common to every lens: minimum-data
//! gates, Benjamini–Hochberg across the agents judged together, the materiality floor, severity
//! tiers and the deterministic order of findings. A new lens is a new file and one line in
//! [`lenses`].

pub mod codes;
pub mod efficiency;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::features::AgentWeek;
use crate::normalize::identities::AgentKind;
use crate::normalize::pricing::Tokens;

/// Thresholds of the detection engine; every one is settable in `tokenaudit.toml` `[detect]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Benjamini–Hochberg level: a finding needs q ≤ this. 0.10 reports "alerts" (low
    /// severity) as the funnel-plot literature does; medium and high need q ≤ 0.01.
    pub fdr_q: f64,
    /// q at or below which a finding is at least `medium`.
    pub medium_q: f64,
    /// q at or below which a finding with a large excess factor is `high`.
    pub high_q: f64,
    /// Excess factor (actual ÷ expected spend) a `high` finding also needs.
    pub high_excess_factor: f64,
    /// Dollars at stake below which nothing is reported, however unusual.
    pub materiality_usd: f64,
    /// Minimum weeks with usage for an agent to be judged.
    pub min_weeks: u32,
    /// Minimum requests over the period.
    pub min_requests: u64,
    /// Minimum distinct active days over the period.
    pub min_active_days: u32,
    /// Minimum judged agents in a team cohort; smaller teams are pooled with their kind.
    pub min_cohort_agents: usize,
    /// Upper bound on pairwise slopes per Theil–Sen fit (a seeded sample beyond it).
    pub max_pairs: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            fdr_q: 0.10,
            medium_q: 0.01,
            high_q: 0.001,
            high_excess_factor: 3.0,
            materiality_usd: 250.0,
            min_weeks: 2,
            min_requests: 50,
            min_active_days: 3,
            min_cohort_agents: 6,
            max_pairs: 2_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }
}

/// One reason behind a finding, with the numbers it states.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub code: &'static str,
    pub message: String,
    pub observed: f64,
    pub expected: f64,
}

/// A lens's judgement of one agent (or agent-week).
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub agent: String,
    pub week: Option<NaiveDate>,
    /// One-sided p-value of "spends more than this agent's output explains".
    pub p_value: f64,
    /// The lens's standardized score (robust z).
    pub score: f64,
    pub excess_cost_usd: f64,
    /// Actual ÷ expected spend.
    pub excess_factor: f64,
    pub reasons: Vec<Reason>,
}

/// A lens: one way of telling inflation from real work.
pub trait Lens {
    /// Name in findings (`efficiency`, `change`, `behavior`).
    fn name(&self) -> &'static str;
    fn assess(&self, population: &Population, config: &DetectConfig) -> Vec<Assessment>;
}

/// Every lens, in the order they run.
pub fn lenses() -> Vec<Box<dyn Lens>> {
    vec![Box::new(efficiency::Efficiency)]
}

/// One agent over the whole period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSummary {
    pub agent: String,
    pub team: String,
    pub kind: AgentKind,
    pub tokens: Tokens,
    pub requests: u64,
    pub cost_usd: f64,
    pub output_index: f64,
    /// Weeks with usage.
    pub weeks_active: u32,
    pub active_days: u32,
    /// Passes the minimum-data gates.
    pub eligible: bool,
}

impl AgentSummary {
    pub fn mean_weekly_cost(&self) -> f64 {
        self.cost_usd / f64::from(self.weeks_active.max(1))
    }

    pub fn mean_weekly_output(&self) -> f64 {
        self.output_index / f64::from(self.weeks_active.max(1))
    }
}

/// What the lenses read: the agent-week table and its per-agent totals, sorted by agent.
pub struct Population<'a> {
    pub weeks: &'a [AgentWeek],
    pub agents: Vec<AgentSummary>,
}

impl<'a> Population<'a> {
    pub fn new(weeks: &'a [AgentWeek], config: &DetectConfig) -> Population<'a> {
        let mut by_agent: BTreeMap<&str, AgentSummary> = BTreeMap::new();
        for week in weeks {
            let summary = by_agent.entry(&week.agent).or_insert_with(|| AgentSummary {
                agent: week.agent.clone(),
                team: week.team.clone(),
                kind: week.kind,
                tokens: Tokens::default(),
                requests: 0,
                cost_usd: 0.0,
                output_index: 0.0,
                weeks_active: 0,
                active_days: 0,
                eligible: false,
            });
            summary.tokens.add(&week.tokens);
            summary.requests += week.requests;
            summary.cost_usd += week.cost_usd;
            summary.output_index += week.output_index;
            summary.active_days += week.active_days;
            if week.requests > 0 {
                summary.weeks_active += 1;
            }
        }
        let agents = by_agent
            .into_values()
            .map(|mut summary| {
                summary.eligible = summary.weeks_active >= config.min_weeks
                    && summary.requests >= config.min_requests
                    && summary.active_days >= config.min_active_days
                    && summary.cost_usd > 0.0;
                summary
            })
            .collect();
        Population { weeks, agents }
    }
}

/// A reported finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub agent: String,
    pub team: String,
    pub week: Option<NaiveDate>,
    pub severity: Severity,
    pub detector: &'static str,
    pub score: f64,
    pub q_value: f64,
    pub excess_cost_usd: f64,
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Ok,
    Flagged,
    InsufficientData,
}

/// The outcome of detection.
#[derive(Debug, Clone)]
pub struct Detection {
    pub agents: Vec<(AgentSummary, AgentStatus)>,
    pub findings: Vec<Finding>,
}

fn severity(q: f64, excess_factor: f64, config: &DetectConfig) -> Severity {
    if q <= config.high_q && excess_factor >= config.high_excess_factor {
        Severity::High
    } else if q <= config.medium_q {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// Runs every lens and turns their assessments into findings.
pub fn run(weeks: &[AgentWeek], config: &DetectConfig) -> Detection {
    let population = Population::new(weeks, config);
    let teams: BTreeMap<&str, &str> = population
        .agents
        .iter()
        .map(|a| (a.agent.as_str(), a.team.as_str()))
        .collect();
    let mut judged: BTreeSet<String> = BTreeSet::new();
    let mut findings = Vec::new();
    for lens in lenses() {
        let assessments = lens.assess(&population, config);
        // Agents judged together (same lens, same week) share one BH family.
        let mut families: BTreeMap<Option<NaiveDate>, Vec<&Assessment>> = BTreeMap::new();
        for assessment in &assessments {
            judged.insert(assessment.agent.clone());
            families
                .entry(assessment.week)
                .or_default()
                .push(assessment);
        }
        for family in families.values() {
            let p: Vec<f64> = family.iter().map(|a| a.p_value).collect();
            let q = stats::benjamini_hochberg(&p);
            for (assessment, q) in family.iter().zip(q) {
                if q > config.fdr_q || assessment.excess_cost_usd < config.materiality_usd {
                    continue;
                }
                findings.push(Finding {
                    agent: assessment.agent.clone(),
                    team: teams
                        .get(assessment.agent.as_str())
                        .copied()
                        .unwrap_or("")
                        .to_string(),
                    week: assessment.week,
                    severity: severity(q, assessment.excess_factor, config),
                    detector: lens.name(),
                    score: crate::units::round_to(assessment.score, 3),
                    q_value: q,
                    excess_cost_usd: crate::units::round_to(assessment.excess_cost_usd, 2),
                    reasons: assessment.reasons.clone(),
                });
            }
        }
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.excess_cost_usd.total_cmp(&a.excess_cost_usd))
            .then_with(|| a.agent.cmp(&b.agent))
            .then_with(|| a.week.cmp(&b.week))
            .then_with(|| a.detector.cmp(b.detector))
    });
    let flagged: BTreeSet<&str> = findings.iter().map(|f| f.agent.as_str()).collect();
    let agents = population
        .agents
        .iter()
        .map(|agent| {
            let status = if flagged.contains(agent.agent.as_str()) {
                AgentStatus::Flagged
            } else if agent.eligible && judged.contains(&agent.agent) {
                AgentStatus::Ok
            } else {
                AgentStatus::InsufficientData
            };
            (agent.clone(), status)
        })
        .collect();
    Detection { agents, findings }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_needs_both_a_small_q_and_a_large_factor_for_high() {
        let config = DetectConfig::default();
        assert_eq!(severity(0.0001, 5.0, &config), Severity::High);
        assert_eq!(severity(0.0001, 1.5, &config), Severity::Medium);
        assert_eq!(severity(0.03, 9.0, &config), Severity::Low);
    }
}
