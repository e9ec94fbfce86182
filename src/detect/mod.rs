//! Detect: from the agent-week table to findings.
//!
//! Each lens is one file with an `assess` function: it reads the population (and what `run`
//! fitted from it and passes in) and returns one [`Assessment`] per agent it could judge, with
//! a one-sided p-value, the excess dollars and the reasons. The data flow is explicit in
//! [`run`]: the behaviour lens first, the peer curves fitted once per pass and handed to the
//! lenses that need them, then the combination and false-discovery control ([`combine`]) and
//! the findings ([`findings`]). Reason codes and lens names live in the leaf [`codes`]; their
//! documentation is gathered by [`catalog`].
//!
//! | file | concern |
//! |---|---|
//! | `config.rs` | `[detect]` settings, severity tiers |
//! | `population.rs` | the agent-week table and each agent's totals; minimum-data gates |
//! | `areas.rs` | the teams that deliver to the same repositories (one level for small teams) |
//! | `efficiency.rs`, `change.rs`, `behavior.rs` | the three lenses |
//! | `combine.rs` | Cauchy combination, Benjamini–Hochberg, weekly families |
//! | `findings.rs` | findings, severity, statuses, report order |
//! | `groups.rs` | fingerprint groups (TA308) |
//! | `codes.rs`, `catalog.rs` | reason codes; their documentation |
//! | `stats.rs` | the statistics every lens shares |

pub mod areas;
pub mod behavior;
pub mod calibration;
pub mod catalog;
pub mod change;
pub mod codes;
pub mod combine;
pub mod config;
pub mod efficiency;
pub mod findings;
pub mod groups;
pub mod population;
pub mod quality;
pub mod root_causes;
pub mod stats;

pub use config::{DetectConfig, Severity};
pub use efficiency::Curve;
pub use findings::{AgentStatus, Detection, Finding, Verdict};
pub use population::{
    output_dispersion, AgentSummary, Evidence, Population, DEFAULT_SNAPSHOT, PRIOR_WEEKS,
};

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::features::AgentWeek;
use crate::normalize::identities::AgentKind;

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
    /// Benjamini–Hochberg q across the agents of the week ([`combine::weekly_q_values`]).
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

/// Passes of the peer and history lenses after the first, each with the curve fitted without
/// the agents the pass before flagged. On the planted seeds the second pass settles it.
const MAX_REFITS: usize = 2;

/// Runs every lens, combines each agent's p-values and turns them into findings.
pub fn run(
    weeks: &[AgentWeek],
    evidence: Evidence,
    join: quality::OutputJoin,
    config: &DetectConfig,
) -> Detection {
    let mut population = Population::new(weeks, evidence, config);
    let kinds = if join.identity_map {
        behavior::Kinds::Mapped
    } else {
        behavior::Kinds::Unknown
    };
    // Spend is compared with output only where some output was given: with none, every agent
    // would sit at the output floor and the lenses would rank spend alone.
    let has_outputs = population.agents.iter().any(|a| a.output_index > 0.0);
    // The behaviour lens reads request logs, not the curve, so it runs first: agents it finds
    // burning beyond doubt are left out of the curve the others are judged against, where they
    // would flatten it (they spend much for ordinary output) and hide one another.
    let mut behavior = config
        .runs(codes::BEHAVIOR)
        .then(|| behavior::assess(&population, config, kinds, &BTreeMap::new()));
    let mut suspects: BTreeSet<String> = behavior
        .iter()
        .flat_map(|b| &b.assessments)
        .filter(|a| a.p_value <= efficiency::SUSPECT_P)
        .map(|a| a.agent.clone())
        .collect();
    // Dollars or tokens: whichever peers at the same output agree on ([`efficiency::Reading`]).
    if has_outputs && config.runs(codes::EFFICIENCY) {
        population.read_as(efficiency::choose_reading(
            &population.agents,
            population.weeks,
            &suspects,
            config,
        ));
    }
    let judge = |suspects: &BTreeSet<String>, behavior: Option<&behavior::Judgement>| {
        let curves = efficiency::fit_curves(&population.agents, suspects, config);
        let pass = assess(
            &population,
            &curves,
            suspects,
            behavior,
            has_outputs,
            config,
        );
        (curves, pass)
    };
    let (mut curves, mut pass) = judge(&suspects, behavior.as_ref());
    let (mut combined, mut q_values) = combine::family(&pass.by_agent);
    // The same holds for the agents the lenses together flag: the curve is fitted again
    // without them, and the peer and history lenses judge again. Inflators the fingerprints
    // miss (constant burning at human hours, drift) otherwise flatten the elasticity and widen
    // the spread, and every other inflator then looks less unusual. A flag counts here before
    // the materiality floor (the point is where the agent sits, not its dollars), and a
    // suspect stays one. On honest companies it changes nothing measurable: the 40 null seeds
    // give the efficiency lens the same share of p ≤ 0.01 with and without it (0.9%, 1.1%).
    for _ in 0..MAX_REFITS {
        let flagged: BTreeSet<String> = pass
            .by_agent
            .keys()
            .zip(&q_values)
            .filter(|(_, q)| **q <= config.fdr_q)
            .map(|(agent, _)| agent.clone())
            .collect();
        if flagged.is_subset(&suspects) {
            break;
        }
        suspects.extend(flagged);
        (curves, pass) = judge(&suspects, behavior.as_ref());
        (combined, q_values) = combine::family(&pass.by_agent);
    }
    // Dips in output helped choose the suspects; what is reported never reads them
    // ([`change::Readings`]).
    if let Some((reported, nulls)) = pass.reported_change.take() {
        pass.set_lens(
            codes::CHANGE,
            adjusted(codes::CHANGE, reported, &nulls, &population),
        );
        (combined, q_values) = combine::family(&pass.by_agent);
    }
    // A fixed cadence, sessions side by side and work at all hours are ways of working; where
    // the peer comparison finds no sign that an agent spends more than its output needs
    // ([`behavior::WORKFLOW`]), they are not evidence of burn, and the behaviour lens judges
    // that agent again without them.
    if let Some(judged) = &behavior {
        let peer_p: BTreeMap<String, f64> = judged
            .reported_workflow
            .keys()
            .filter_map(|(agent, _)| {
                let lenses = pass.by_agent.get(agent)?;
                let (_, peer) = lenses.iter().find(|(lens, _)| *lens == codes::EFFICIENCY)?;
                Some((agent.clone(), peer.p_value))
            })
            .collect();
        if behavior::explains_any(judged, &peer_p) {
            let judged = behavior::assess(&population, config, kinds, &peer_p);
            pass.set_behavior(&judged);
            behavior = Some(judged);
            (combined, q_values) = combine::family(&pass.by_agent);
        }
    }
    let shared_steps = std::mem::take(&mut pass.shared_steps);
    let output_lag = std::mem::take(&mut pass.output_lags);
    let by_agent = &pass.by_agent;
    let verdicts = findings::verdicts(by_agent, &q_values);
    let weekly = combine::weekly_q_values(weeks, by_agent);
    let mut found = findings::findings(
        by_agent,
        &combined,
        &q_values,
        &weekly,
        &population.agents,
        config,
    );
    let mut skipped = Vec::new();
    let mut calibration = pass.checks;
    if let Some(behavior) = &behavior {
        let judged = behavior.assessments.len();
        skipped.extend(behavior.skipped.iter().cloned());
        skipped.extend(groups::annotate(&mut found, &behavior.fingerprints, judged));
        calibration.extend(behavior.checks.iter().cloned());
    }
    let by_repository = quality::judged_by_repository(&population.agents, config.min_cohort_agents);
    quality::caveat(&mut found, &join, &by_repository);
    findings::sort(&mut found);
    let agents = findings::statuses(&population.agents, &found, by_agent);
    let lenses = lens_notes(&population, by_agent, has_outputs, config);
    let peers_judged = quality::peers_judged(&lenses);
    let quality = quality::DataQuality {
        lenses,
        skipped,
        unmatched_outputs: join.unmatched,
        linked_by_email: join.linked_by_email,
        teams_without_output: quality::teams_without_output(&population.agents),
        agents_without_team: eligible_without_team(&population.agents),
        agents_by_repository: by_repository.len(),
        agents_eligible: population.agents.iter().filter(|a| a.eligible).count(),
        spend_compared_as: peers_judged.then(|| population.reading.name()),
        shared_steps,
        output_lag,
    };
    Detection {
        agents,
        findings: found,
        verdicts,
        curves: if config.runs(codes::EFFICIENCY) && has_outputs {
            curves.curves()
        } else {
            Vec::new()
        },
        weekly,
        quality,
        calibration,
    }
}

/// One pass of the lenses: their assessments by agent, each lens's p-values checked against
/// the population ([`calibration`]), and the calibration rows of the lenses.
struct Pass {
    by_agent: combine::ByAgent,
    checks: Vec<calibration::Check>,
    /// The history lens's judgement without dips in output, which the report takes in place of
    /// the one in `by_agent` once the passes are done ([`change::Readings`]), with the nulls
    /// of the reading with dips: those are the ones checked and applied to it.
    reported_change: Option<(Vec<Assessment>, KindNulls)>,
    /// The steps agents took together, as the history lens found them ([`change::SharedStep`]).
    shared_steps: Vec<change::SharedStep>,
    /// The lags of output behind the work the history lens read ([`change::OutputLag`]).
    output_lags: Vec<change::OutputLag>,
}

/// Every lens's assessments by agent, in lens order, with the behaviour lens's taken as
/// already made. The peer and history lenses' p-values are checked against the empirical null
/// of each kind they judge; the behaviour lens checked each fingerprint's already.
fn assess(
    population: &Population,
    curves: &efficiency::Curves,
    suspects: &BTreeSet<String>,
    behavior: Option<&behavior::Judgement>,
    has_outputs: bool,
    config: &DetectConfig,
) -> Pass {
    let mut by_agent = combine::ByAgent::new();
    let mut checks = Vec::new();
    let mut add = |lens: &'static str, assessments: Vec<Assessment>| {
        for assessment in assessments {
            by_agent
                .entry(assessment.agent.clone())
                .or_default()
                .push((lens, assessment));
        }
    };
    // The two lenses read the same curves and nothing of each other: judged side by side.
    let (peer, history) = rayon::join(
        || {
            (config.runs(codes::EFFICIENCY) && has_outputs).then(|| {
                calibrated(
                    codes::EFFICIENCY,
                    efficiency::assess(population, curves, suspects, config),
                    population,
                )
            })
        },
        || {
            (config.runs(codes::CHANGE) && has_outputs).then(|| {
                let judgement = change::assess(population, &curves.elasticities(), config);
                let readings = judgement.readings;
                let nulls = kind_nulls(&readings.with_dips, &agent_kinds(population));
                let judged = adjusted(codes::CHANGE, readings.with_dips, &nulls, population);
                let found = (judgement.shared_steps, judgement.output_lags);
                (judged, (readings.reported, nulls), found)
            })
        },
    );
    if let Some((assessments, check)) = peer {
        checks.push(check);
        add(codes::EFFICIENCY, assessments);
    }
    let (mut reported_change, mut shared_steps, mut output_lags) = (None, Vec::new(), Vec::new());
    if let Some(((assessments, check), reported, (shared, lags))) = history {
        checks.push(check);
        add(codes::CHANGE, assessments);
        reported_change = Some(reported);
        (shared_steps, output_lags) = (shared, lags);
    }
    let mut pass = Pass {
        by_agent,
        checks,
        reported_change,
        shared_steps,
        output_lags,
    };
    if let Some(behavior) = behavior {
        pass.set_behavior(behavior);
    }
    pass
}

impl Pass {
    /// Puts the behaviour lens's assessments and calibration row in, in place of any it had:
    /// the behaviour lens is judged apart from the curve, so a second judgement of it leaves
    /// the peer and history lenses' work as it was.
    fn set_behavior(&mut self, behavior: &behavior::Judgement) {
        self.set_lens(
            codes::BEHAVIOR,
            (behavior.assessments.clone(), behavior.lens_check()),
        );
    }

    /// Puts one lens's assessments and calibration row in, in place of any it had (the row
    /// where the lens's was).
    fn set_lens(
        &mut self,
        lens: &'static str,
        (assessments, check): (Vec<Assessment>, calibration::Check),
    ) {
        for lenses in self.by_agent.values_mut() {
            lenses.retain(|(l, _)| *l != lens);
        }
        for assessment in assessments {
            self.by_agent
                .entry(assessment.agent.clone())
                .or_default()
                .push((lens, assessment));
        }
        self.by_agent.retain(|_, lenses| !lenses.is_empty());
        match self.checks.iter_mut().find(|c| c.scope == lens) {
            Some(row) => *row = check,
            None => self.checks.push(check),
        }
    }
}

/// A lens's assessments with each p checked against the empirical null of the agent's kind,
/// and the lens's calibration row.
fn calibrated(
    lens: &'static str,
    assessments: Vec<Assessment>,
    population: &Population,
) -> (Vec<Assessment>, calibration::Check) {
    let nulls = kind_nulls(&assessments, &agent_kinds(population));
    adjusted(lens, assessments, &nulls, population)
}

/// The empirical null of each agent kind's p-values in `assessments` (`None`: agents the
/// population does not know).
type KindNulls = BTreeMap<Option<AgentKind>, calibration::Null>;

/// A kind with enough agents gets a null of its own; a kind too small for one (a company's
/// seven service accounts) is judged by the null of every agent, not left to the model: a
/// company-wide shift, such as a migration to a costlier model, moves its p-values too, and a
/// hostile test found service accounts alone accused of it while the report said the lens was
/// discounted.
fn kind_nulls(assessments: &[Assessment], kind_of: &BTreeMap<&str, AgentKind>) -> KindNulls {
    let mut p: BTreeMap<Option<AgentKind>, Vec<f64>> = BTreeMap::new();
    for a in assessments {
        p.entry(kind_of.get(a.agent.as_str()).copied())
            .or_default()
            .push(a.p_value);
    }
    let every: Vec<f64> = assessments.iter().map(|a| a.p_value).collect();
    let pooled = calibration::fit(&every);
    p.into_iter()
        .filter_map(|(kind, p)| Some((kind, calibration::fit(&p).or(pooled)?)))
        .collect()
}

/// `assessments` with each p adjusted by its kind's null from `nulls`, and the lens's
/// calibration row. The nulls may come from another reading of the same lens: the history
/// lens reports no dips in output, so most agents have nothing to report and the bulk of its
/// reported p-values is 1, which says nothing of how its tests behave on this data; the
/// reading with dips does.
fn adjusted(
    lens: &'static str,
    mut assessments: Vec<Assessment>,
    nulls: &KindNulls,
    population: &Population,
) -> (Vec<Assessment>, calibration::Check) {
    let kind_of = agent_kinds(population);
    for a in &mut assessments {
        if let Some(null) = nulls.get(&kind_of.get(a.agent.as_str()).copied()) {
            a.p_value = null.adjust(a.p_value);
        }
    }
    let p: Vec<f64> = assessments.iter().map(|a| a.p_value).collect();
    let nulls: Vec<calibration::Null> = nulls.values().copied().collect();
    (assessments, calibration::Check::new(lens, &p, &nulls))
}

fn agent_kinds<'a>(population: &'a Population) -> BTreeMap<&'a str, AgentKind> {
    population
        .agents
        .iter()
        .map(|a| (a.agent.as_str(), a.kind))
        .collect()
}

/// What each lens could judge, and why it judged fewer than the eligible agents where it did.
fn lens_notes(
    population: &Population,
    by_agent: &combine::ByAgent,
    has_outputs: bool,
    config: &DetectConfig,
) -> Vec<quality::LensNote> {
    let eligible = population.agents.iter().filter(|a| a.eligible).count();
    let weeks: BTreeSet<NaiveDate> = population
        .weeks
        .iter()
        .filter(|w| w.requests > 0)
        .map(|w| w.week)
        .collect();
    codes::LENS_NAMES
        .iter()
        .map(|lens| {
            let judged = by_agent
                .values()
                .filter(|lenses| lenses.iter().any(|(name, _)| name == lens))
                .count();
            let missing = eligible.saturating_sub(judged);
            let note = if !config.runs(lens) {
                Some("left out by `[detect] lenses`".to_string())
            } else if *lens != codes::BEHAVIOR && !has_outputs {
                Some("no outputs were given, so spend was not compared with delivered work: give `--outputs` (git repositories, merged pull requests, closed tickets)".to_string())
            } else if missing == 0 {
                None
            } else if *lens == codes::EFFICIENCY {
                Some(format!(
                    "{} of a kind with fewer than {} judged agents: no peers to compare with",
                    eligible_agents(missing),
                    config.min_cohort_agents
                ))
            } else if *lens == codes::CHANGE {
                if weeks.len() < config.min_change_weeks as usize {
                    Some(format!(
                        "the period has {} weeks with usage; comparing an agent with its own history needs {}",
                        weeks.len(),
                        config.min_change_weeks
                    ))
                } else {
                    Some(format!(
                        "{} fewer than {} weeks with usage to compare with their own history",
                        eligible_agents_have(missing),
                        config.min_change_weeks
                    ))
                }
            } else if population.behavior.is_empty() {
                Some("no request-level usage rows were read".to_string())
            } else {
                Some(format!(
                    "{} no request-level usage rows",
                    eligible_agents_have(missing)
                ))
            };
            quality::LensNote {
                lens,
                judged,
                eligible,
                note,
            }
        })
        .collect()
}

/// Eligible agents that no identity map or usage row gives a team.
fn eligible_without_team(agents: &[AgentSummary]) -> usize {
    agents
        .iter()
        .filter(|a| a.eligible && a.team == crate::features::UNASSIGNED_TEAM)
        .count()
}

/// "1 eligible agent is" or "3 eligible agents are".
fn eligible_agents(n: usize) -> String {
    if n == 1 {
        "1 eligible agent is".to_string()
    } else {
        format!("{n} eligible agents are")
    }
}

/// "1 eligible agent has" or "3 eligible agents have".
fn eligible_agents_have(n: usize) -> String {
    if n == 1 {
        "1 eligible agent has".to_string()
    } else {
        format!("{n} eligible agents have")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::combine::tests::assessment;
    use crate::detect::stats::normal_sf;

    #[test]
    fn a_kind_too_small_for_a_null_of_its_own_is_judged_by_everyones() {
        // A company-wide shift (a migration to a costlier model): every agent's z near 2.
        // 200 people and 7 service accounts, too few for a null of their own.
        let names: Vec<String> = (0..207).map(|i| format!("a{i}")).collect();
        let kind_of: BTreeMap<&str, AgentKind> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let kind = if i < 200 {
                    AgentKind::Human
                } else {
                    AgentKind::Service
                };
                (name.as_str(), kind)
            })
            .collect();
        let assessments: Vec<Assessment> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let z = 2.0 + ((i * 37) % 100) as f64 / 50.0 - 1.0;
                assessment(name, normal_sf(z), Coverage::Period)
            })
            .collect();
        let nulls = kind_nulls(&assessments, &kind_of);
        let people = nulls[&Some(AgentKind::Human)];
        assert_eq!(people.status, calibration::Status::Discounted);
        let services = nulls
            .get(&Some(AgentKind::Service))
            .expect("service accounts judged by the population's null");
        assert_eq!(services.status, calibration::Status::Discounted);
        assert_eq!(services.agents, 207);
        // A service account at z = 4 keeps far more than the model's p of 3e-5.
        assert!(services.adjust(normal_sf(4.0)) > 0.01);
    }
}
