//! The population the lenses judge: the agent-week table, each agent's totals over the period,
//! and the request-level fingerprints. Data only: what the lenses fit from it (the peer curves)
//! is passed to them by `run`, never stored here.

use std::collections::BTreeMap;

use serde::Serialize;

use super::config::DetectConfig;
use super::{areas, behavior, efficiency, stats};
use crate::features::{AgentWeek, BehaviorWeek, Repositories, Snapshot};
use crate::normalize::identities::AgentKind;
use crate::normalize::pricing::Tokens;

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
    /// The model with most of the agent's requests.
    pub primary_model: Option<String>,
    /// Trivial turns and their list-price cost (the costly-model fingerprint).
    pub trivial_requests: u64,
    pub trivial_cost_usd: f64,
    /// Output index and its sum of squares over the weeks with usage only, for the noise of
    /// the weekly mean (`output_index` also holds output credited in weeks without usage).
    pub active_output: f64,
    pub active_output_squares: f64,
    /// The teams whose level the peer comparison reads for this agent's: its team and the
    /// teams that deliver to the same repositories ([`super::areas`]), by name, joined by ", ";
    /// for an agent with no team, the repository most of its work is in, when there is one
    /// ([`super::areas::repository_areas`]).
    pub area: String,
    /// The spend the peer comparison reads: `cost_usd`, or the tokens at reference prices
    /// where peers at the same output agree on tokens rather than dollars
    /// ([`super::efficiency::Reading`]).
    pub judged_cost_usd: f64,
}

impl AgentSummary {
    pub fn mean_weekly_cost(&self) -> f64 {
        self.cost_usd / f64::from(self.weeks_active.max(1))
    }

    /// [`Self::judged_cost_usd`] a week with usage.
    pub fn mean_weekly_judged_cost(&self) -> f64 {
        self.judged_cost_usd / f64::from(self.weeks_active.max(1))
    }

    pub fn mean_weekly_output(&self) -> f64 {
        self.output_index / f64::from(self.weeks_active.max(1))
    }

    /// The sample variance of the weekly output index over the weeks with usage (n − 1
    /// denominator); `None` under two weeks.
    pub fn weekly_output_variance(&self) -> Option<f64> {
        let n = f64::from(self.weeks_active);
        let mean = self.active_output / n;
        (n >= 2.0).then(|| ((self.active_output_squares - n * mean * mean) / (n - 1.0)).max(0.0))
    }

    /// Sampling variance of ln(mean weekly output), by the delta method: s² / (n · m²), with
    /// the mean floored as the efficiency lens floors it. Eight weekly values estimate a
    /// variance poorly (a fifth of the time at under half its value), so the agent's own s² is
    /// shrunk towards `dispersion` × m, the variance its peers' output has at its level, with
    /// the weight of [`PRIOR_WEEKS`] weeks. Twelve weeks of fifteen points make it about 0.01;
    /// eight weeks of one point, about 0.2.
    pub fn log_output_variance(&self, dispersion: f64) -> f64 {
        let n = f64::from(self.weeks_active.max(1));
        let mean = self.mean_weekly_output().max(efficiency::OUTPUT_FLOOR);
        let prior = dispersion * mean;
        let own_weight = (n - 1.0).max(0.0);
        let variance = (PRIOR_WEEKS * prior
            + own_weight * self.weekly_output_variance().unwrap_or(prior))
            / (PRIOR_WEEKS + own_weight);
        variance / (n * mean * mean)
    }
}

/// The median over `agents` of their weekly output variance over its mean, at least 1 (the
/// Poisson value: an index that weighs a merged PR as four commits is noisier than a count).
pub fn output_dispersion(agents: &[&AgentSummary]) -> f64 {
    let ratios: Vec<f64> = agents
        .iter()
        .filter(|a| a.mean_weekly_output() > 0.0)
        .filter_map(|a| Some(a.weekly_output_variance()? / a.mean_weekly_output()))
        .collect();
    stats::median(&ratios).unwrap_or(1.0).max(1.0)
}

/// Weight, in weeks, of a prior variance against an agent's own weekly variance.
pub const PRIOR_WEEKS: f64 = 4.0;

/// What the detectors read besides the agent-week table.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// Request-level fingerprints per agent-week (empty when none were computed).
    pub behavior: &'a [BehaviorWeek],
    /// Each agent's primary model.
    pub primary_models: &'a BTreeMap<String, String>,
    /// Each agent's output by repository, for the teams that work in the same ones.
    pub repositories: &'a Repositories,
}

/// What the lenses read: the agent-week table and its per-agent totals, sorted by agent, and
/// the request-level fingerprints.
pub struct Population<'a> {
    pub weeks: &'a [AgentWeek],
    pub agents: Vec<AgentSummary>,
    pub behavior: &'a [BehaviorWeek],
    pub snapshot: Snapshot,
    /// What the peer comparison reads as the agents' spend ([`Population::read_as`]).
    pub reading: efficiency::Reading,
}

impl<'a> Population<'a> {
    pub fn new(
        weeks: &'a [AgentWeek],
        evidence: Evidence<'a>,
        config: &DetectConfig,
    ) -> Population<'a> {
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
                primary_model: evidence.primary_models.get(&week.agent).cloned(),
                trivial_requests: 0,
                trivial_cost_usd: 0.0,
                active_output: 0.0,
                active_output_squares: 0.0,
                area: week.team.clone(),
                judged_cost_usd: 0.0,
            });
            summary.trivial_requests += week.trivial_requests;
            summary.trivial_cost_usd += week.trivial_cost_usd;
            summary.tokens.add(&week.tokens);
            summary.requests += week.requests;
            summary.cost_usd += week.cost_usd;
            summary.output_index += week.output_index;
            summary.active_days += week.active_days;
            if week.requests > 0 {
                summary.weeks_active += 1;
                summary.active_output += week.output_index;
                summary.active_output_squares += week.output_index * week.output_index;
            }
        }
        let mut agents: Vec<AgentSummary> = by_agent
            .into_values()
            .map(|mut summary| {
                summary.eligible = summary.weeks_active >= config.min_weeks
                    && summary.requests >= config.min_requests
                    && summary.active_days >= config.min_active_days
                    && summary.cost_usd > 0.0;
                summary.judged_cost_usd = summary.cost_usd;
                summary
            })
            .collect();
        let areas = areas::areas(&agents, evidence.repositories, config.area_overlap);
        let without_team = agents
            .iter()
            .any(|a| a.eligible && a.team == crate::features::UNASSIGNED_TEAM);
        let automation = if without_team {
            behavior::like_automation(evidence.behavior)
        } else {
            Default::default()
        };
        let homes = areas::repository_areas(&agents, evidence.repositories, &automation);
        for agent in &mut agents {
            if let Some(area) = areas
                .get(&(agent.kind, agent.team.clone()))
                .or_else(|| homes.get(&agent.agent))
            {
                agent.area.clone_from(area);
            }
        }
        Population {
            weeks,
            agents,
            behavior: evidence.behavior,
            snapshot: config.snapshot().unwrap_or(DEFAULT_SNAPSHOT),
            reading: efficiency::Reading::Dollars,
        }
    }

    /// Reads every agent's spend as `reading` ([`efficiency::read_as`]).
    pub fn read_as(&mut self, reading: efficiency::Reading) {
        efficiency::read_as(&mut self.agents, reading);
        self.reading = reading;
    }
}

/// Dollars per million tokens of each class (input, output, cache read, cache write) that
/// tokens are weighed by where a lens reads tokens rather than dollars: the ratios of most list
/// prices (output five times input, cache reads a tenth, cache writes a quarter more). Only
/// the ratios matter.
const REFERENCE_PRICES: [f64; 4] = [3.0, 15.0, 0.3, 3.75];

/// `tokens` at [`REFERENCE_PRICES`]: what they would cost on one model, whichever they ran on.
pub fn at_reference_prices(tokens: &Tokens) -> f64 {
    [
        tokens.input,
        tokens.output,
        tokens.cache_read,
        tokens.cache_write,
    ]
    .iter()
    .zip(REFERENCE_PRICES)
    .map(|(&n, price)| n as f64 * price / 1e6)
    .sum()
}

/// Friday 17:00 UTC, 12 hours: used when the setting cannot be parsed (settings are checked
/// before detection runs, so only library callers reach this).
pub const DEFAULT_SNAPSHOT: Snapshot = Snapshot {
    offset_seconds: 4 * 86_400 + 17 * 3_600,
    window_hours: 12,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_noise_is_measured_over_the_weeks_with_usage() {
        let start = chrono::NaiveDate::from_ymd_opt(2026, 9, 7).unwrap();
        // Output 4 and 6 in two weeks with usage; a pull request merged in a week without.
        let weeks: Vec<AgentWeek> = [(0, 10, 4.0), (1, 10, 6.0), (2, 0, 10.0)]
            .into_iter()
            .map(|(week, requests, output)| AgentWeek {
                agent: "dana".into(),
                team: "payments".into(),
                kind: AgentKind::Human,
                week: start + chrono::Duration::weeks(week),
                tokens: Tokens::default(),
                requests,
                sessions: 1,
                active_days: 2,
                cost_usd: if requests > 0 { 10.0 } else { 0.0 },
                billed_cost_usd: 0.0,
                unpriced_tokens: 0,
                outputs: BTreeMap::from([("pr_merged".to_string(), output)]),
                output_index: output,
                trivial_requests: 0,
                trivial_cost_usd: 0.0,
            })
            .collect();
        let (empty, none) = (BTreeMap::new(), Repositories::new());
        let evidence = Evidence {
            behavior: &[],
            primary_models: &empty,
            repositories: &none,
        };
        let population = Population::new(&weeks, evidence, &DetectConfig::default());
        let dana = &population.agents[0];
        assert_eq!(dana.weeks_active, 2);
        // The mean still credits all output (20 over 2 weeks); the variance is that of 4 and 6.
        assert_eq!(dana.mean_weekly_output(), 10.0);
        assert_eq!(dana.weekly_output_variance(), Some(2.0));
    }
}
