//! Detect: from the agent-week table to findings.
//!
//! Each lens is one file implementing [`Lens`]: it reads the population and returns one
//! [`Assessment`] per agent it could judge, with a one-sided p-value, the excess dollars and
//! the reasons. This module does what is common to every lens: minimum-data gates, the Cauchy
//! combination of each agent's lens p-values (Liu & Xie 2020), Benjamini–Hochberg across the
//! agents of the run, the materiality floor, severity tiers and the deterministic order of
//! findings. A new lens is a new file and one line in [`lenses`].

pub mod behavior;
pub mod change;
pub mod codes;
pub mod efficiency;
pub mod groups;
pub mod stats;

pub use efficiency::Curve;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::features::{AgentWeek, BehaviorWeek, Snapshot};
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
    /// Weeks with usage the change lens needs to compare an agent with its own history.
    pub min_change_weeks: u32,
    /// When the usage leaderboard takes its weekly snapshot: weekday and UTC time.
    pub snapshot: String,
    /// Hours before the snapshot that count as the pre-snapshot window.
    pub snapshot_window_hours: u32,
    /// The lenses to run. Leaving out `behavior` also skips computing its request-level
    /// features, which saves a third of the second streaming pass.
    pub lenses: Vec<String>,
}

impl DetectConfig {
    /// The snapshot setting, parsed; `None` when it is not "weekday HH:MM".
    pub fn snapshot(&self) -> Option<Snapshot> {
        Snapshot::parse(&self.snapshot, self.snapshot_window_hours)
    }

    pub fn runs(&self, lens: &str) -> bool {
        self.lenses.iter().any(|l| l == lens)
    }
}

/// The names of every lens, in the order they run.
pub const LENS_NAMES: [&str; 3] = ["efficiency", "change", "behavior"];

impl DetectConfig {
    /// A setting that cannot work, as a message naming it.
    pub fn check(&self) -> Result<(), String> {
        if self.snapshot().is_none() {
            return Err(format!(
                "[detect] snapshot = \"{}\" with snapshot_window_hours = {}: expected a weekday and a UTC time such as \"fri 17:00\", and a window of at least one hour",
                self.snapshot, self.snapshot_window_hours
            ));
        }
        if let Some(unknown) = self
            .lenses
            .iter()
            .find(|l| !LENS_NAMES.contains(&l.as_str()))
        {
            return Err(format!(
                "[detect] lenses names `{unknown}`; the lenses are {}",
                LENS_NAMES.join(", ")
            ));
        }
        Ok(())
    }
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
            min_change_weeks: 4,
            snapshot: "fri 17:00".to_string(),
            snapshot_window_hours: 12,
            lenses: LENS_NAMES.iter().map(|n| n.to_string()).collect(),
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

/// The weeks a lens's evidence is about: each week's family reads only the evidence about it.
#[derive(Debug, Clone, PartialEq)]
pub enum Coverage {
    /// Every week of the period (a whole-period comparison with peers, a habit).
    Period,
    /// The weeks from this one on (a recent window, a change from its onset).
    From(NaiveDate),
    /// These weeks only (bursts before a snapshot in some weeks, one week of parallel starts).
    Weeks(BTreeSet<NaiveDate>),
}

impl Coverage {
    pub fn includes(&self, week: NaiveDate) -> bool {
        match self {
            Coverage::Period => true,
            Coverage::From(from) => week >= *from,
            Coverage::Weeks(weeks) => weeks.contains(&week),
        }
    }
}

/// One judged agent-week in its week's family.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WeekQ {
    pub week: NaiveDate,
    /// Benjamini–Hochberg q across the agents of the week ([`weekly_q_values`]).
    pub q_value: f64,
    pub cost_usd: f64,
}

/// A lens's judgement of one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub agent: String,
    /// The weeks the evidence is about.
    pub covers: Coverage,
    /// First week of the change, for lenses that date one.
    pub onset_week: Option<NaiveDate>,
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
    vec![
        Box::new(efficiency::Efficiency),
        Box::new(change::Change),
        Box::new(behavior::Behavior),
    ]
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
    /// The model with most of the agent's requests.
    pub primary_model: Option<String>,
    /// Trivial turns and their list-price cost (the costly-model fingerprint).
    pub trivial_requests: u64,
    pub trivial_cost_usd: f64,
    /// Output index and its sum of squares over the weeks with usage only, for the noise of
    /// the weekly mean (`output_index` also holds output credited in weeks without usage).
    pub active_output: f64,
    pub active_output_squares: f64,
}

impl AgentSummary {
    pub fn mean_weekly_cost(&self) -> f64 {
        self.cost_usd / f64::from(self.weeks_active.max(1))
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
}

/// What the lenses read: the agent-week table and its per-agent totals, sorted by agent, and
/// the request-level fingerprints.
pub struct Population<'a> {
    pub weeks: &'a [AgentWeek],
    pub agents: Vec<AgentSummary>,
    pub behavior: &'a [BehaviorWeek],
    pub snapshot: Snapshot,
    /// Output elasticity of spend per kind, fitted by the efficiency lens on each pass and read
    /// by the change lens.
    pub elasticities: std::cell::OnceCell<BTreeMap<AgentKind, f64>>,
    /// The efficiency lens's whole-period curves, kept for the report's chart.
    pub curves: std::cell::OnceCell<Vec<efficiency::Curve>>,
    /// The fingerprints of the agents whose fingerprints are clear (behaviour p at most
    /// [`efficiency::SUSPECT_P`]), for [`groups`]: a weak fingerprint next to a strong one would
    /// chain an agent with a passing habit into a group of burners.
    pub fingerprints: std::cell::OnceCell<BTreeMap<String, groups::Fingerprint>>,
    /// Agents under suspicion, whom the production curve's elasticity is fitted without: those
    /// whose request logs show burning beyond doubt (behaviour p at most
    /// [`efficiency::SUSPECT_P`]), then those an earlier pass of the lenses flagged ([`run`]).
    pub suspects: std::collections::BTreeSet<String>,
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
        Population {
            weeks,
            agents,
            behavior: evidence.behavior,
            snapshot: config.snapshot().unwrap_or(DEFAULT_SNAPSHOT),
            elasticities: std::cell::OnceCell::new(),
            curves: std::cell::OnceCell::new(),
            fingerprints: std::cell::OnceCell::new(),
            suspects: std::collections::BTreeSet::new(),
        }
    }
}

/// Friday 17:00 UTC, 12 hours: used when the setting cannot be parsed (settings are checked
/// before detection runs, so only library callers reach this).
pub const DEFAULT_SNAPSHOT: Snapshot = Snapshot {
    offset_seconds: 4 * 86_400 + 17 * 3_600,
    window_hours: 12,
};

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
    /// First week of the inflation, when a lens could date it.
    pub onset_week: Option<NaiveDate>,
    /// The agent's weeks whose own q ([`Detection::weekly`]) is at most `fdr_q`, with that q.
    pub weeks: Vec<WeekQ>,
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
    /// Every judged agent's combined q-value and the p-value of each lens that judged it, so a
    /// reader can see why an agent was not flagged as well as why one was.
    pub verdicts: BTreeMap<String, Verdict>,
    /// The efficiency lens's peer curves (empty when it did not run).
    pub curves: Vec<efficiency::Curve>,
    /// q of every judged agent-week with usage: Benjamini–Hochberg across the agents of the
    /// week, on the lens evidence about that week ([`weekly_q_values`]).
    pub weekly: BTreeMap<String, Vec<WeekQ>>,
}

/// What the lenses said about one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub q_value: f64,
    pub p_values: BTreeMap<&'static str, f64>,
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

/// A lens's p-value at or below which it supports a finding: its reasons are given and its
/// dollars count. When no lens reaches it, the strongest one speaks alone.
const SUPPORT_P: f64 = 0.01;

/// One agent's p-value from its lenses': the Cauchy combination of those below 1.
///
/// A lens with nothing to report (its gates unmet, or its one-sided test on the other side:
/// p = 1) is left out rather than entered as evidence of innocence, which in the Cauchy sum
/// would cancel another lens's evidence. That is not exactly valid: a lens that survives alone
/// is no longer divided among the lenses, and a gated p-value is not uniform below 1. Measured
/// on the 1,161 honest agents of the eight-week null seeds (README): combined p ≤ 0.1 for 14.0%,
/// ≤ 0.05 for 7.5%, ≤ 0.01 for 1.8% and ≤ 0.001 for 0.26%, where the combination over every
/// lens gives 2.2%, 2.0%, 1.0% and 0.17%.
fn combine(p_values: impl Iterator<Item = f64>) -> f64 {
    let tested: Vec<f64> = p_values.filter(|p| *p < 1.0).collect();
    stats::cauchy_combination(&tested).unwrap_or(1.0)
}

/// Each agent's lens assessments, by agent.
type ByAgent = BTreeMap<String, Vec<(&'static str, Assessment)>>;

/// Passes of the peer and history lenses after the first, each with the curve fitted without
/// the agents the pass before flagged. On the planted seeds the second pass settles it.
const MAX_REFITS: usize = 2;

/// Runs every lens, combines each agent's p-values and turns them into findings.
pub fn run(weeks: &[AgentWeek], evidence: Evidence, config: &DetectConfig) -> Detection {
    let mut population = Population::new(weeks, evidence, config);
    // The behaviour lens reads request logs, not the curve, so it runs first: agents it finds
    // burning beyond doubt are left out of the curve the others are judged against, where they
    // would flatten it (they spend much for ordinary output) and hide one another.
    let mut behavior = None;
    if config.runs("behavior") {
        let assessments = behavior::Behavior.assess(&population, config);
        population.suspects = assessments
            .iter()
            .filter(|a| a.p_value <= efficiency::SUSPECT_P)
            .map(|a| a.agent.clone())
            .collect();
        behavior = Some(assessments);
    }
    let mut by_agent = assess(&population, behavior.as_deref(), config);
    let (mut combined, mut q_values) = family(&by_agent);
    // The same holds for the agents the lenses together flag: the curve is fitted again
    // without them, and the peer and history lenses judge again. Inflators the fingerprints
    // miss (constant burning at human hours, drift) otherwise flatten the elasticity and widen
    // the spread, and every other inflator then looks less unusual. A flag counts here before
    // the materiality floor (the point is where the agent sits, not its dollars), and a
    // suspect stays one. On honest companies it changes nothing measurable: the 40 null seeds
    // give the efficiency lens the same share of p ≤ 0.01 with and without it (0.9%, 1.1%).
    for _ in 0..MAX_REFITS {
        let flagged: BTreeSet<String> = by_agent
            .keys()
            .zip(&q_values)
            .filter(|(_, q)| **q <= config.fdr_q)
            .map(|(agent, _)| agent.clone())
            .collect();
        if flagged.is_subset(&population.suspects) {
            break;
        }
        population.suspects.extend(flagged);
        population.elasticities = std::cell::OnceCell::new();
        population.curves = std::cell::OnceCell::new();
        by_agent = assess(&population, behavior.as_deref(), config);
        (combined, q_values) = family(&by_agent);
    }
    let population = population;
    let summaries: BTreeMap<&str, &AgentSummary> = population
        .agents
        .iter()
        .map(|a| (a.agent.as_str(), a))
        .collect();
    let verdicts: BTreeMap<String, Verdict> = by_agent
        .iter()
        .zip(&q_values)
        .map(|((agent, lenses), q)| {
            let p_values = lenses.iter().map(|(n, a)| (*n, a.p_value)).collect();
            (
                agent.clone(),
                Verdict {
                    q_value: *q,
                    p_values,
                },
            )
        })
        .collect();
    let weekly = weekly_q_values(weeks, &by_agent);
    let mut findings = Vec::new();
    for ((agent, lenses), (p, q)) in by_agent.iter().zip(combined.iter().zip(&q_values)) {
        if *q > config.fdr_q {
            continue;
        }
        let mut ranked: Vec<&(&'static str, Assessment)> = lenses.iter().collect();
        ranked.sort_by(|a, b| a.1.p_value.total_cmp(&b.1.p_value).then(a.0.cmp(b.0)));
        let supporting: Vec<&(&'static str, Assessment)> = ranked
            .iter()
            .copied()
            .filter(|(_, a)| a.p_value <= SUPPORT_P)
            .collect();
        let supporting = if supporting.is_empty() {
            ranked[..1].to_vec()
        } else {
            supporting
        };
        // Lenses measure overlapping spend: the largest estimate, never their sum.
        let excess = supporting
            .iter()
            .map(|(_, a)| a.excess_cost_usd)
            .fold(0.0, f64::max);
        if excess < config.materiality_usd {
            continue;
        }
        let excess_factor = supporting
            .iter()
            .map(|(_, a)| a.excess_factor)
            .fold(1.0, f64::max);
        findings.push(Finding {
            agent: agent.clone(),
            team: summaries
                .get(agent.as_str())
                .map(|s| s.team.clone())
                .unwrap_or_default(),
            week: None,
            severity: severity(*q, excess_factor, config),
            detector: supporting[0].0,
            score: crate::units::round_to(stats::normal_isf(*p), 3),
            q_value: *q,
            excess_cost_usd: crate::units::round_to(excess, 2),
            onset_week: supporting.iter().find_map(|(_, a)| a.onset_week),
            weeks: weekly
                .get(agent)
                .map(|weeks| {
                    weeks
                        .iter()
                        .filter(|w| w.q_value <= config.fdr_q)
                        .copied()
                        .collect()
                })
                .unwrap_or_default(),
            reasons: supporting
                .iter()
                .flat_map(|(_, a)| a.reasons.iter().cloned())
                .collect(),
        });
    }
    if let Some(fingerprints) = population.fingerprints.get() {
        groups::annotate(&mut findings, fingerprints);
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
            } else if agent.eligible && by_agent.contains_key(&agent.agent) {
                AgentStatus::Ok
            } else {
                AgentStatus::InsufficientData
            };
            (agent.clone(), status)
        })
        .collect();
    Detection {
        agents,
        findings,
        verdicts,
        curves: population.curves.get().cloned().unwrap_or_default(),
        weekly,
    }
}

/// Every lens's assessments, with the behaviour lens's taken as already made.
fn assess(
    population: &Population,
    behavior: Option<&[Assessment]>,
    config: &DetectConfig,
) -> ByAgent {
    let mut by_agent = ByAgent::new();
    for lens in lenses().into_iter().filter(|l| config.runs(l.name())) {
        let assessments = match behavior {
            Some(done) if lens.name() == "behavior" => done.to_vec(),
            _ => lens.assess(population, config),
        };
        for assessment in assessments {
            by_agent
                .entry(assessment.agent.clone())
                .or_default()
                .push((lens.name(), assessment));
        }
    }
    by_agent
}

/// One p per agent (Cauchy combination over its lenses), and the q-values of the run's one
/// Benjamini–Hochberg family.
fn family(by_agent: &ByAgent) -> (Vec<f64>, Vec<f64>) {
    let combined: Vec<f64> = by_agent
        .values()
        .map(|lenses| combine(lenses.iter().map(|(_, a)| a.p_value)))
        .collect();
    let q_values = stats::benjamini_hochberg(&combined);
    (combined, q_values)
}

/// The weekly families: for every week, each judged agent with usage in it gets the Cauchy
/// combination of the lens p-values whose evidence is about that week ([`Coverage`]), and
/// Benjamini–Hochberg runs across the agents of the week. A whole-period comparison speaks for
/// every week; a change only for the weeks from its onset; bursts before the snapshot only for
/// the weeks they happened in. An agent-week no lens speaks for has p = 1.
///
/// These q-values say which weeks a finding is about. Findings themselves come from the one
/// family of the run: each week's family holds about as many agents, so a week judged on the
/// same evidence gets about the same q, and a per-week decision would add a test per week.
fn weekly_q_values(weeks: &[AgentWeek], by_agent: &ByAgent) -> BTreeMap<String, Vec<WeekQ>> {
    // Week → (agent's slot, position of the week in the agent's list, p). An agent's weeks
    // take at most 2^lenses distinct p-values: one combination per set of lenses speaking.
    let mut families: BTreeMap<NaiveDate, Vec<(usize, usize, f64)>> = BTreeMap::new();
    let mut slots: Vec<(String, Vec<WeekQ>)> = Vec::new();
    let mut cache: BTreeMap<u32, f64> = BTreeMap::new();
    for run in weeks.chunk_by(|a, b| a.agent == b.agent) {
        let Some(lenses) = by_agent.get(&run[0].agent) else {
            continue;
        };
        cache.clear();
        let slot = slots.len();
        let mut list = Vec::new();
        for week in run.iter().filter(|w| w.requests > 0) {
            let mask = lenses
                .iter()
                .enumerate()
                .filter(|(_, (_, a))| a.covers.includes(week.week))
                .fold(0u32, |mask, (i, _)| mask | 1 << i);
            let p = *cache.entry(mask).or_insert_with(|| {
                combine(
                    lenses
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & 1 << i != 0)
                        .map(|(_, (_, a))| a.p_value),
                )
            });
            families
                .entry(week.week)
                .or_default()
                .push((slot, list.len(), p));
            list.push(WeekQ {
                week: week.week,
                q_value: 1.0,
                cost_usd: week.cost_usd,
            });
        }
        slots.push((run[0].agent.clone(), list));
    }
    for family in families.values() {
        let p: Vec<f64> = family.iter().map(|(_, _, p)| *p).collect();
        for ((slot, at, _), q) in family.iter().zip(stats::benjamini_hochberg(&p)) {
            slots[*slot].1[*at].q_value = q;
        }
    }
    // One agent can own several runs when the table is not sorted by agent.
    let mut out: BTreeMap<String, Vec<WeekQ>> = BTreeMap::new();
    for (agent, list) in slots {
        out.entry(agent).or_default().extend(list);
    }
    // In week order, whatever the order of the table.
    for list in out.values_mut() {
        list.sort_by_key(|w| w.week);
    }
    out
}

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
        let empty = BTreeMap::new();
        let evidence = Evidence {
            behavior: &[],
            primary_models: &empty,
        };
        let population = Population::new(&weeks, evidence, &DetectConfig::default());
        let dana = &population.agents[0];
        assert_eq!(dana.weeks_active, 2);
        // The mean still credits all output (20 over 2 weeks); the variance is that of 4 and 6.
        assert_eq!(dana.mean_weekly_output(), 10.0);
        assert_eq!(dana.weekly_output_variance(), Some(2.0));
    }

    #[test]
    fn lenses_with_nothing_to_report_do_not_dilute_the_others() {
        let p = combine([0.004, 1.0, 1.0].into_iter());
        assert!((p - 0.004).abs() < 1e-6, "{p}");
        // Entered as evidence, the two 1s would have made it about 0.014.
        let diluted = stats::cauchy_combination(&[0.004, 1.0, 1.0]).unwrap();
        assert!(diluted > 0.01, "{diluted}");
        assert_eq!(combine([1.0, 1.0].into_iter()), 1.0);
        let both = combine([0.01, 0.02, 1.0].into_iter());
        assert_eq!(both, stats::cauchy_combination(&[0.01, 0.02]).unwrap());
    }

    fn assessment(agent: &str, p_value: f64, covers: Coverage) -> Assessment {
        Assessment {
            agent: agent.to_string(),
            covers,
            onset_week: None,
            p_value,
            score: 0.0,
            excess_cost_usd: 0.0,
            excess_factor: 1.0,
            reasons: Vec::new(),
        }
    }

    fn week_of(agent: &str, week: NaiveDate, requests: u64) -> AgentWeek {
        AgentWeek {
            agent: agent.into(),
            team: "payments".into(),
            kind: AgentKind::Human,
            week,
            tokens: Tokens::default(),
            requests,
            sessions: 1,
            active_days: 3,
            cost_usd: 10.0,
            billed_cost_usd: 0.0,
            unpriced_tokens: 0,
            outputs: BTreeMap::new(),
            output_index: 1.0,
            trivial_requests: 0,
            trivial_cost_usd: 0.0,
        }
    }

    #[test]
    fn each_week_is_judged_on_the_evidence_about_it() {
        let start = NaiveDate::from_ymd_opt(2026, 9, 7).unwrap();
        let week = |i: i64| start + chrono::Duration::weeks(i);
        // Twenty honest agents, one whose change began in week 2, one that burst before the
        // snapshot in week 1 only, one that spends above its peers all period.
        let mut by_agent: BTreeMap<String, Vec<(&'static str, Assessment)>> = BTreeMap::new();
        for i in 0..20 {
            let name = format!("honest{i:02}");
            let p = 0.2 + 0.04 * i as f64;
            by_agent.insert(
                name.clone(),
                vec![("efficiency", assessment(&name, p, Coverage::Period))],
            );
        }
        by_agent.insert(
            "changer".into(),
            vec![
                ("efficiency", assessment("changer", 0.6, Coverage::Period)),
                (
                    "change",
                    assessment("changer", 1e-6, Coverage::From(week(2))),
                ),
            ],
        );
        by_agent.insert(
            "spiker".into(),
            vec![(
                "behavior",
                assessment("spiker", 1e-6, Coverage::Weeks([week(1)].into())),
            )],
        );
        by_agent.insert(
            "burner".into(),
            vec![("efficiency", assessment("burner", 1e-6, Coverage::Period))],
        );
        let mut weeks = Vec::new();
        for agent in by_agent.keys() {
            for i in 0..4 {
                weeks.push(week_of(agent, week(i), 100));
            }
        }
        // A week without usage has no q.
        weeks.push(week_of("burner", week(4), 0));
        let q = weekly_q_values(&weeks, &by_agent);
        let q_of = |agent: &str, i: i64| {
            q[agent]
                .iter()
                .find(|w| w.week == week(i))
                .map(|w| w.q_value)
                .unwrap()
        };
        for i in 0..4 {
            assert!(q_of("burner", i) < 1e-4, "burner week {i}");
            assert!(q_of("honest00", i) > 0.1, "honest week {i}");
            assert_eq!(q_of("changer", i) < 1e-4, i >= 2, "changer week {i}");
            assert_eq!(q_of("spiker", i) < 1e-4, i == 1, "spiker week {i}");
        }
        assert!(q["burner"].iter().all(|w| w.week != week(4)));
        // An agent-week no lens speaks for is p = 1, and so q = 1.
        assert_eq!(q_of("spiker", 0), 1.0);
    }

    #[test]
    fn severity_needs_both_a_small_q_and_a_large_factor_for_high() {
        let config = DetectConfig::default();
        assert_eq!(severity(0.0001, 5.0, &config), Severity::High);
        assert_eq!(severity(0.0001, 1.5, &config), Severity::Medium);
        assert_eq!(severity(0.03, 9.0, &config), Severity::Low);
    }
}
