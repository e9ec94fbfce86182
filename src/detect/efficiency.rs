//! The efficiency lens: spend against delivered output, across peers of the same cohort.
//!
//! Per cohort (area × human/service, where an area is a team with the teams that deliver to the
//! same repositories, [`super::areas`]; areas with too few judged agents are pooled), a line is
//! fitted through (ln weekly cost, ln weekly output index) of its agents: the cohort's
//! production curve, whose slope is its output elasticity of spend (Theil–Sen, one slope per
//! kind; each cohort its own level, the median over its agents). Inverted, it says what peers
//! spend for a given output; an agent's residual is how many times more it spends, measured
//! against the curve through the *other* agents of its cohort.
//!
//! The residual becomes a z-score as in an overdispersed funnel plot (Spiegelhalter 2005):
//! divided by √(τ² + vᵢ), where vᵢ is the noise of the agent's own mean weekly output carried
//! through the curve (large for an agent that delivers a point a week, small for fifteen
//! points over twelve weeks) and τ the spread agents of the kind show beyond that noise,
//! estimated robustly. A one-sided normal tail gives the p-value. On the log scale and robust,
//! heavy users who deliver in proportion sit on the curve, and a few inflators cannot bend it
//! (breakdown 29%). Agents already under suspicion (clear fingerprints, or flagged by an earlier
//! pass of the lenses) are left out of the slope and of τ, though never out of the levels: they
//! flatten the one and widen the other, and every inflator not yet caught then looks ordinary.
//!
//! What it cannot see: inflation that started mid-period and is diluted by earlier honest weeks
//! (the change lens), a cohort where most agents inflate (the curve moves with them), and
//! burning that also manufactures cheap output (behaviour fingerprints).

use std::collections::{BTreeMap, BTreeSet};

use super::codes::{CodeDoc, EXCESS_SPEND, LOW_ELASTICITY, NO_OUTPUT};
use super::stats::{between_spread, cauchy_combination, median, normal_sf, theil_sen};
use super::{AgentSummary, Assessment, DetectConfig, Population, Reason};
use crate::normalize::identities::AgentKind;
use crate::units::{factor, usd};

/// Residual spread below which z-scores would explode on near-identical synthetic peers.
const MIN_SCALE: f64 = 0.05;
/// The spend ratio from which the elasticity statement is worth making.
const ELASTICITY_MIN_RATIO: f64 = 2.0;
const SEED: u64 = 0x7a11_0d17;

pub const CODES: [CodeDoc; 3] = [
    CodeDoc {
        code: EXCESS_SPEND,
        title: "Spend above peers with the same output",
        lens: "efficiency",
        what_it_means: "Across the audited period the agent spent several times what agents of the same cohort (team, or the teams that deliver to the same repositories; human or service) spend for the same delivered output. The expected spend comes from a robust (Theil–Sen) fit of log weekly cost against log weekly output index over the cohort; the excess is actual minus expected, in dollars.",
        why_it_matters: "This is the dollars-at-stake view of tokenmaxxing: tokens that bought no more output than peers get for a fraction of the price. Because the comparison is against peers at the same output, honest heavy users who deliver in proportion are not flagged, unlike a tokens-per-commit ratio.",
        benign_explanations: &[
            "Work that leaves few countable artifacts: research, design, incident response, large reviews.",
            "A migration or refactor whose output lands after the period.",
            "Onboarding onto a new codebase (context-heavy weeks).",
            "Output recorded under an identity the identity map does not link to this agent.",
            "A model mix the team does not use (a costlier model for a real reason).",
        ],
        example: "spent $4,900 over 8 weeks; peers in team payments with the same output spent about $620 (7.9x); excess $4,280",
    },
    CodeDoc {
        code: LOW_ELASTICITY,
        title: "Spend grew far faster than output",
        lens: "efficiency",
        what_it_means: "Compared with the cohort's median agent, the agent's spend ratio is large and its output ratio small. The elasticity ln(output ratio) ÷ ln(spend ratio) says how much output each multiple of spend bought; \"10x the tokens for 2x the output\" is ln 2 ÷ ln 10 = 0.30. It is compared with the cohort's own elasticity, fitted robustly over its agents.",
        why_it_matters: "With diminishing returns some drop in elasticity is normal for heavy users; an elasticity far below the cohort's is the signature of tokens spent for the leaderboard rather than for the work.",
        benign_explanations: &[
            "The cohort's elasticity is estimated from few agents (see the team size).",
            "The agent's output is undercounted (unlinked aliases, repositories not ingested).",
            "Senior or staff work whose output is other people's output (reviews, unblocking).",
        ],
        example: "9.6x the cohort's median weekly spend for 1.9x its median output: elasticity 0.28 where the cohort's is 0.52",
    },
    CodeDoc {
        code: NO_OUTPUT,
        title: "Material spend with no delivered output",
        lens: "efficiency",
        what_it_means: "The agent used tokens in several weeks but no commit, merged pull request, closed ticket or review was attributed to it in the period.",
        why_it_matters: "Spend that delivers nothing countable is the purest form of burn: background agents on pointless loops, or a leaderboard climbed with regenerated answers.",
        benign_explanations: &[
            "The agent's output is recorded under another identity: check the identity map.",
            "The outputs of this team are not ingested (no git or ticket export for its repositories).",
            "Exploration, prototyping or analysis work that is not meant to ship.",
        ],
        example: "no delivered output recorded in 6 weeks of usage ($3,100); the cohort's median agent delivered 9.5 index points a week",
    },
];

/// Behaviour p-value at or below which an agent is left out of the fit of the elasticity: its
/// request logs already show burning (a loop, padded contexts, bursts before the snapshot,
/// sessions started together), and such agents sit at high spend with ordinary output, where
/// they flatten the slope. Measured on the planted seeds: the fitted elasticity 0.04–0.11 below
/// the one through honest agents alone without this, half of that with it. Honest agents reach
/// it about once in a thousand (the null seeds). The agents a first pass of the lenses flags
/// join them (`detect::run`), and the spread is measured without them too.
pub const SUSPECT_P: f64 = 0.001;

/// Agents compared with one another, and the agents that form the curve they are compared with.
struct Cohort<'a> {
    label: String,
    kind: AgentKind,
    assessed: Vec<&'a AgentSummary>,
    reference: Vec<&'a AgentSummary>,
    /// The references the elasticity may be fitted on: all but the suspects (all of them, if
    /// that leaves too few).
    candidates: Vec<&'a AgentSummary>,
    /// The candidates the elasticity is fitted on: all of them at first, then without those
    /// the previous fit found clearly unusual.
    slope_sample: Vec<&'a AgentSummary>,
    /// Variance of a weekly output index over its mean, typical of the kind.
    dispersion: f64,
    /// The assessed agents the spread is measured over: all but the suspects (all of a kind's,
    /// if that leaves none of the kind). An inflator the
    /// behaviour lens or an earlier pass already caught is no measure of how far honest agents
    /// stray from the curve, and it would widen the yardstick every other agent is held to.
    spread_sample: Vec<&'a AgentSummary>,
    /// Judged at one level, whatever areas its references come from, and in units of a spread
    /// of its own, measured over its references: the agents without a team that no repository
    /// places, judged against every agent without a team as if none were placed. Measured
    /// over the placed agents' residuals from their repositories' curves instead, the spread
    /// narrows, and the services among the rest (judged among people, with no `kind` to say
    /// otherwise) stand out: an honest one was flagged high in 3 of 20 seeds of the
    /// `ci-accounts` world.
    one_level: bool,
}

/// Weekly output index below which output counts as this much: a log needs a floor, and half
/// a commit a week is as good as nothing.
pub const OUTPUT_FLOOR: f64 = 0.5;

/// (ln weekly cost, ln weekly output index). Not ln(1 + output): that bends the curve at the
/// small outputs light users have, and the bend reads as light users being inefficient.
fn point(agent: &AgentSummary) -> (f64, f64) {
    (
        agent.mean_weekly_judged_cost().ln(),
        agent.mean_weekly_output().max(OUTPUT_FLOOR).ln(),
    )
}

fn cohorts<'a>(
    agents: &'a [AgentSummary],
    suspects: &BTreeSet<String>,
    config: &DetectConfig,
) -> Vec<Cohort<'a>> {
    // A cohort is an area: a team, with the teams that deliver to the same repositories.
    let mut by_area: BTreeMap<(AgentKind, &str), Vec<&AgentSummary>> = BTreeMap::new();
    for agent in agents.iter().filter(|a| a.eligible) {
        by_area
            .entry((agent.kind, &agent.area))
            .or_default()
            .push(agent);
    }
    let mut cohorts = Vec::new();
    let mut pooled: BTreeMap<AgentKind, Vec<&AgentSummary>> = BTreeMap::new();
    let mut all: BTreeMap<AgentKind, Vec<&AgentSummary>> = BTreeMap::new();
    // Agents without a team, placed by a repository or not.
    let mut without_team: BTreeMap<AgentKind, Vec<&AgentSummary>> = BTreeMap::new();
    for agent in agents
        .iter()
        .filter(|a| a.eligible && a.team == crate::features::UNASSIGNED_TEAM)
    {
        without_team.entry(agent.kind).or_default().push(agent);
    }
    for ((kind, area), members) in by_area {
        all.entry(kind).or_default().extend(&members);
        if area == crate::features::UNASSIGNED_TEAM {
            // Agents without a team that no repository places ([`super::areas`]: no main
            // repository, or automation's rhythm) are judged as without the repositories,
            // against every agent without a team, at one level: what is left of them is
            // services, people with no output credited, and people spread over repositories,
            // no cohort of its own.
            let reference = without_team.remove(&kind).unwrap_or_default();
            if reference.len() >= config.min_cohort_agents {
                cohorts.push(Cohort {
                    label: format!("peers in team {area}"),
                    kind,
                    candidates: reference.clone(),
                    slope_sample: reference.clone(),
                    spread_sample: reference.clone(),
                    assessed: members,
                    reference,
                    dispersion: 1.0,
                    one_level: true,
                });
                continue;
            }
        }
        if members.len() >= config.min_cohort_agents {
            // Named by the teams of its judged agents, or by its repository.
            let teams: BTreeSet<&str> = members.iter().map(|a| a.team.as_str()).collect();
            let label = match (super::areas::by_repository(area), teams.len()) {
                (Some(repo), _) => format!("peers without a team in repository {repo}"),
                (None, 1) => format!("peers in team {}", members[0].team),
                (None, _) => format!(
                    "peers in teams {}",
                    teams.into_iter().collect::<Vec<_>>().join(", ")
                ),
            };
            cohorts.push(Cohort {
                label,
                kind,
                reference: members.clone(),
                candidates: members.clone(),
                slope_sample: members.clone(),
                spread_sample: members.clone(),
                assessed: members,
                dispersion: 1.0,
                one_level: false,
            });
        } else {
            pooled.entry(kind).or_default().extend(members);
        }
    }
    for (kind, members) in pooled {
        let kind_name = match kind {
            AgentKind::Human => "people",
            AgentKind::Service => "service accounts",
        };
        // Small teams are compared with the other small teams, or with every agent of their
        // kind when even those are too few.
        let reference = if members.len() >= config.min_cohort_agents {
            members.clone()
        } else {
            all.get(&kind).cloned().unwrap_or_default()
        };
        if reference.len() >= config.min_cohort_agents {
            cohorts.push(Cohort {
                label: format!("{kind_name} across small teams"),
                kind,
                spread_sample: members.clone(),
                assessed: members,
                candidates: reference.clone(),
                slope_sample: reference.clone(),
                reference,
                dispersion: 1.0,
                one_level: false,
            });
        }
    }
    let dispersion: BTreeMap<AgentKind, f64> = all
        .iter()
        .map(|(kind, agents)| (*kind, super::output_dispersion(agents)))
        .collect();
    for cohort in &mut cohorts {
        cohort.dispersion = dispersion[&cohort.kind];
        // The slope is fitted without the suspects, unless that leaves too few to fit.
        let clean: Vec<&AgentSummary> = cohort
            .reference
            .iter()
            .copied()
            .filter(|a| !suspects.contains(&a.agent))
            .collect();
        if clean.len() >= config.min_cohort_agents {
            cohort.slope_sample = clean.clone();
            cohort.candidates = clean;
        }
        cohort
            .spread_sample
            .retain(|a| !suspects.contains(&a.agent));
    }
    cohorts
}

impl Cohort<'_> {
    /// Which spread the cohort's agents are judged in units of: their kind's, or their own.
    fn spread_key(&self) -> SpreadKey {
        (self.kind, self.one_level)
    }

    /// What the cohort's levels are of ([`KindLevels::for_cohort`]): its areas, where it pools
    /// several; its teams, where it is one area of several; none, where it is judged at one
    /// level (one team, or [`Cohort::one_level`]).
    fn unit(&self) -> Option<Unit> {
        if self.one_level {
            return None;
        }
        let several = |unit: Unit| {
            let mut names = self.reference.iter().map(|a| unit.of(a));
            let first = names.next();
            names.any(|name| Some(name) != first)
        };
        [Unit::Area, Unit::Team]
            .into_iter()
            .find(|unit| several(*unit))
    }
}

/// A kind, and whether the spread is a [`Cohort::one_level`] cohort's own.
type SpreadKey = (AgentKind, bool);

/// Below this elasticity output says nothing about spend, and expected spend is the median.
const MIN_ELASTICITY: f64 = 0.05;

/// A cohort's production curve, ln weekly output = intercept + elasticity · ln weekly cost,
/// inverted to give the spend expected for an output. Kept after detection for the report's
/// efficiency chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// "peers in team payments", "people across small teams".
    pub label: String,
    pub kind: AgentKind,
    pub elasticity: f64,
    pub intercept: f64,
    pub median_log_cost: f64,
    /// The cheapest peer's ln weekly cost: expected spend never goes below it, however little
    /// an agent delivered (the inverted curve would otherwise expect cents for zero output).
    pub min_log_cost: f64,
    /// The agents judged against this curve.
    pub agents: Vec<String>,
    /// Where the curve pools small teams, the level (intercept) of each, drawn from the pooled
    /// level towards the team's own ([`TeamLevels`]).
    pub team_intercepts: BTreeMap<String, f64>,
    /// Where spend is read as tokens ([`Reading::Tokens`]), each judged agent's own dollars per
    /// dollar of the spend the curve reads; empty where it is read as dollars.
    pub prices: BTreeMap<String, f64>,
}

impl Curve {
    /// ln of the weekly spend that buys `log_output` on the curve.
    ///
    /// The curve is fitted as output on spend and inverted, rather than fitting spend on
    /// output: a regression of spend on output shrinks towards the cohort mean, so a heavy
    /// user who delivers exactly in proportion would show a positive residual just for being
    /// heavy. Inverting the production curve keeps the residual at zero for everyone on it.
    pub fn expected_log_cost(&self, log_output: f64) -> f64 {
        self.on_curve(self.intercept, log_output)
            .max(self.min_log_cost)
    }

    /// ln of the weekly spend that buys `log_output` on the curve through `intercept`,
    /// unfloored.
    fn on_curve(&self, intercept: f64, log_output: f64) -> f64 {
        if self.elasticity < MIN_ELASTICITY {
            return self.median_log_cost;
        }
        (log_output - intercept) / self.elasticity
    }

    /// `agent`'s own dollars per dollar of the spend this curve reads (1 where it reads dollars).
    pub fn price_of(&self, agent: &str) -> f64 {
        self.prices.get(agent).copied().unwrap_or(1.0)
    }

    /// Weekly spend expected for a weekly output index (floored as the fit floors it).
    pub fn expected_weekly_cost(&self, weekly_output: f64) -> f64 {
        self.expected_log_cost(weekly_output.max(OUTPUT_FLOOR).ln())
            .exp()
    }

    /// Weekly spend expected for a weekly output index of an agent of `team`: at the team's
    /// own level where the curve pools small teams.
    pub fn expected_weekly_cost_in(&self, team: &str, weekly_output: f64) -> f64 {
        let intercept = self
            .team_intercepts
            .get(team)
            .copied()
            .unwrap_or(self.intercept);
        self.on_curve(intercept, weekly_output.max(OUTPUT_FLOOR).ln())
            .max(self.min_log_cost)
            .exp()
    }
}

/// A cohort with its curve.
struct Fitted<'a> {
    cohort: Cohort<'a>,
    curve: Curve,
    median_cost: f64,
    median_output: f64,
    /// The references' offsets, ln output − elasticity · ln cost, sorted: the intercept is
    /// their median, and an agent's own offset can be left out of it.
    offsets: Vec<f64>,
    /// The references' names, to know whose offset to leave out.
    references: std::collections::HashSet<&'a str>,
    /// Where the references come from several teams (small teams pooled), each team's level
    /// drawn partly towards its own ([`TeamLevels`]).
    teams: TeamLevels<'a>,
}

/// The levels of the teams a pooled cohort mixes. Teams differ in how much output a dollar
/// buys (what they build, how output is counted there), so a small team judged at the pooled
/// level is judged against other teams' work: a team a third below the pool puts all its
/// members a third above the curve. Five people are too few for a level of their own, and one
/// is a noisy guess; the empirical-Bayes compromise between the two (Efron & Morris 1975,
/// JASA 70:311; the James–Stein estimator for unequal group sizes) weighs the team's median by
/// how much teams really differ, `between`, against how uncertain a median of `k` members is.
///
/// Two units of it. A cohort that pools small teams mixes areas ([`super::areas`]): squads
/// that deliver to the same repositories share one level, measured over all their members,
/// where a squad of two has next to none. A cohort that is one area of several teams mixes
/// teams: squads of one department differ little, and their levels are drawn to the area's
/// level, but two departments that deliver to one repository may differ as much as any two
/// teams, and each then keeps close to its own ([`Unit::Team`], with the spread between the
/// teams of one area).
#[derive(Debug, Default)]
struct TeamLevels<'a> {
    /// What the levels are of.
    unit: Unit,
    /// Each unit's reference offsets, sorted.
    offsets: BTreeMap<&'a str, Vec<f64>>,
    /// Variance of the units' levels around the cohort's level, beyond sampling noise.
    between: f64,
    /// Variance of one agent's offset around its team's level.
    within: f64,
    /// Variance a unit's median carries beyond its members' noise: for an area of several
    /// teams among pooled small teams, the spread between the teams of one area (its median
    /// is of a mix of levels, not of one).
    mixed: BTreeMap<&'a str, f64>,
}

/// What a cohort's levels are of: the areas a pooled cohort mixes, or the teams of one area.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Unit {
    #[default]
    Area,
    Team,
}

impl Unit {
    /// The name of `agent`'s unit.
    fn of(self, agent: &AgentSummary) -> &str {
        match self {
            Unit::Area => &agent.area,
            Unit::Team => &agent.team,
        }
    }
}

/// Sampling variance of the median of `n` normal values over that of their mean: 1 for one
/// or two values, then between about 1.2 and 1.5 (an even count averages the middle two),
/// towards π/2 (Rider 1960, JASA 55:322, for the small-sample values).
fn median_inefficiency(n: usize) -> f64 {
    const SMALL: [f64; 10] = [
        1.0, 1.0, 1.346, 1.193, 1.434, 1.288, 1.468, 1.342, 1.495, 1.383,
    ];
    SMALL
        .get(n.wrapping_sub(1))
        .copied()
        .unwrap_or(std::f64::consts::FRAC_PI_2)
}

impl TeamLevels<'_> {
    /// The level for `agent` of `team`, given the pooled level `pooled`: its team's median
    /// without it, weighted by the share of the spread between teams in what that median says.
    fn level(&self, team: &str, agent_offset: Option<f64>, pooled: f64) -> f64 {
        let Some(offsets) = self.offsets.get(team) else {
            return pooled;
        };
        let own = agent_offset.map(|own| offsets.partition_point(|o| *o < own));
        let team_level = match own {
            Some(at) => median_without(offsets, at),
            // A team of one says nothing of its level but the agent itself.
            None if offsets.len() < 2 => None,
            None => median(offsets),
        };
        let others = offsets.len() - usize::from(own.is_some());
        match (team_level, self.shrink(team, others)) {
            (Some(team_level), Some(weight)) => pooled + weight * (team_level - pooled),
            _ => pooled,
        }
    }

    /// How far an agent of `team` is judged at its team's level rather than the pooled one
    /// (its team's median over the others), for the report: `None` where the cohort is one
    /// team or the team has no one else.
    fn weight(&self, team: &str) -> Option<f64> {
        self.shrink(team, self.offsets.get(team)?.len().checked_sub(1)?)
    }

    /// The weight of a median of `members` offsets of `unit` against the pooled level.
    fn shrink(&self, unit: &str, members: usize) -> Option<f64> {
        if members == 0 || self.between <= 0.0 {
            return None;
        }
        let noise = median_inefficiency(members) * self.within / members as f64
            + self.mixed.get(unit).copied().unwrap_or(0.0);
        Some(self.between / (self.between + noise))
    }
}

/// The levels of every kind, from all references: by area, for the cohorts that pool small
/// teams, and by team, for the cohorts that are one area of several teams. A cohort of one
/// team keeps its own median.
#[derive(Debug, Default)]
struct KindLevels<'a> {
    /// Each area's and each team's reference offsets, sorted.
    areas: BTreeMap<&'a str, Vec<f64>>,
    teams: BTreeMap<&'a str, Vec<f64>>,
    /// Variance of area levels around the kind's level, beyond sampling noise, measured over
    /// every area of the kind with two members or more.
    between_areas: f64,
    /// Variance of team levels around their area's level, beyond sampling noise, measured over
    /// the teams (of two members or more) of areas of several teams.
    between_teams: f64,
    /// Variance of one agent's offset around its team's level.
    within: f64,
    /// The areas of several teams.
    mixed_areas: BTreeSet<&'a str>,
}

impl<'a> KindLevels<'a> {
    /// The levels a cohort reads: of its areas where it pools several, of its teams where it
    /// is one area of several, none where it is one team.
    fn for_cohort(&self, cohort: &Cohort<'a>) -> TeamLevels<'a> {
        let (unit, offsets, between) = match cohort.unit() {
            Some(Unit::Area) => (Unit::Area, &self.areas, self.between_areas),
            Some(Unit::Team) => (Unit::Team, &self.teams, self.between_teams),
            None => return TeamLevels::default(),
        };
        let offsets: BTreeMap<&str, Vec<f64>> = cohort
            .reference
            .iter()
            .map(|a| unit.of(a))
            .collect::<BTreeSet<&str>>()
            .into_iter()
            .filter_map(|name| Some((name, offsets.get(name)?.clone())))
            .collect();
        let mixed = match unit {
            Unit::Area => offsets
                .keys()
                .filter(|area| self.mixed_areas.contains(*area))
                .map(|area| (*area, self.between_teams))
                .collect(),
            Unit::Team => BTreeMap::new(),
        };
        TeamLevels {
            unit,
            offsets,
            between,
            within: self.within,
            mixed,
        }
    }
}

fn team_levels<'a>(
    cohorts: &[Cohort<'a>],
    elasticity: &BTreeMap<AgentKind, f64>,
) -> BTreeMap<AgentKind, KindLevels<'a>> {
    // (kind, area, team) → agent → offset.
    type Offsets<'a> = BTreeMap<(AgentKind, &'a str, &'a str), BTreeMap<&'a str, f64>>;
    let mut by_team: Offsets = BTreeMap::new();
    for cohort in cohorts {
        let slope = elasticity.get(&cohort.kind).copied().unwrap_or(0.0);
        for agent in &cohort.reference {
            let (x, y) = point(agent);
            by_team
                .entry((cohort.kind, agent.area.as_str(), agent.team.as_str()))
                .or_default()
                .insert(agent.agent.as_str(), y - slope * x);
        }
    }
    let sorted = |offsets: Vec<f64>| {
        let mut offsets = offsets;
        offsets.sort_by(f64::total_cmp);
        offsets
    };
    let mut kinds: BTreeMap<AgentKind, KindLevels> = BTreeMap::new();
    // Teams by area, for the spread between the teams of one area.
    let mut areas: BTreeMap<(AgentKind, &str), Vec<Vec<f64>>> = BTreeMap::new();
    for ((kind, area, team), offsets) in by_team {
        let offsets: Vec<f64> = offsets.into_values().collect();
        let levels = kinds.entry(kind).or_default();
        levels.areas.entry(area).or_default().extend(&offsets);
        let offsets = sorted(offsets);
        levels.teams.insert(team, offsets.clone());
        areas.entry((kind, area)).or_default().push(offsets);
    }
    for (kind, levels) in &mut kinds {
        for offsets in levels.areas.values_mut() {
            *offsets = sorted(std::mem::take(offsets));
        }
        // Each team of each area: the agents without a team are one pseudo-team across the
        // repositories that place them, and one group of it would mix their levels.
        let teams: Vec<&Vec<f64>> = areas
            .iter()
            .filter(|((k, _), _)| k == kind)
            .flat_map(|(_, teams)| teams)
            .filter(|o| o.len() >= 2)
            .collect();
        // Within: from the differences between members of one team, which no fitted centre
        // shrinks (deviations from a team's median are zero for its middle member, a third of
        // a team of three): a difference of two draws has twice the variance, and the median
        // of its absolute value is 0.6745 · √2 · σ.
        let differences: Vec<f64> = teams
            .iter()
            .flat_map(|o| {
                o.iter()
                    .enumerate()
                    .flat_map(move |(i, a)| o[i + 1..].iter().map(move |b| (a - b).abs()))
            })
            .collect();
        let within = median(&differences)
            .map_or(0.0, |m| (m / (0.674_49 * std::f64::consts::SQRT_2)).powi(2));
        levels.within = within;
        let groups: Vec<&Vec<f64>> = levels.areas.values().filter(|o| o.len() >= 2).collect();
        levels.between_areas = between(&[groups], within, 2).unwrap_or(0.0);
        levels.mixed_areas = areas
            .iter()
            .filter(|((k, _), teams)| k == kind && teams.len() >= 2)
            .map(|((_, area), _)| *area)
            .collect();
        let within_areas: Vec<Vec<&Vec<f64>>> = areas
            .iter()
            .filter(|((k, _), _)| k == kind)
            .map(|(_, teams)| teams.iter().filter(|o| o.len() >= 2).collect::<Vec<_>>())
            .filter(|teams| teams.len() >= 2)
            .collect();
        // One area of two teams is one degree of freedom: a noisy spread, and still the only
        // word on whether two departments that share a repository share a level.
        levels.between_teams = between(&within_areas, within, 1).unwrap_or(0.0);
    }
    kinds
}

/// The variance of group levels around their family's mean beyond what their own noise
/// explains (`within` over each group's size), by an unweighted method of moments pooled over
/// the families (after DerSimonian & Laird 1986, Control Clin Trials 7:177); `None` under
/// `min_freedom` degrees of freedom. Not a robust estimate: the group furthest from the rest is the one
/// that most needs a level of its own, and a median of its members already resists one burner
/// among them.
fn between(families: &[Vec<&Vec<f64>>], within: f64, min_freedom: usize) -> Option<f64> {
    // E Σ (c − c̄)² over a family of k groups is (k − 1) · between + (k − 1)/k · Σ noise.
    let (mut squares, mut freedom, mut noise) = (0.0, 0usize, 0.0);
    for family in families {
        let centres: Vec<f64> = family.iter().filter_map(|o| median(o)).collect();
        if centres.len() < 2 {
            continue;
        }
        let k = centres.len() as f64;
        let mean = centres.iter().sum::<f64>() / k;
        squares += centres.iter().map(|c| (c - mean).powi(2)).sum::<f64>();
        freedom += centres.len() - 1;
        noise += (k - 1.0) / k
            * family
                .iter()
                .map(|o| median_inefficiency(o.len()) * within / o.len() as f64)
                .sum::<f64>();
    }
    (freedom >= min_freedom.max(1)).then(|| ((squares - noise) / freedom as f64).max(0.0))
}

impl Fitted<'_> {
    /// ln(actual ÷ expected weekly spend), where the expected spend comes from the curve
    /// through the other references: an agent is not part of its own yardstick. With ten
    /// agents to a team, leaving the agent in pulls the intercept towards it and shrinks every
    /// residual, the spread most of all. (Where the cohort's elasticity is too flat for a
    /// curve, the expectation is the cohort's median spend, the agent included.)
    fn residual(&self, agent: &AgentSummary) -> f64 {
        let (log_cost, _) = point(agent);
        log_cost - self.expected_without(agent).max(self.curve.min_log_cost)
    }

    /// The residual before the floor at the cheapest peer's spend. The floor keeps the dollars
    /// of light agents with little output from being counted against cents, but it pulls
    /// their residuals to zero; the spread and the z-score are measured before it, and the
    /// agent's own noise in the z-score is what keeps a light agent from standing out.
    fn model_residual(&self, agent: &AgentSummary) -> f64 {
        let (log_cost, _) = point(agent);
        log_cost - self.expected_without(agent)
    }

    /// ln of the weekly spend the curve through the other references expects for the agent's
    /// output, unfloored.
    fn expected_without(&self, agent: &AgentSummary) -> f64 {
        let (_, log_output) = point(agent);
        self.curve
            .on_curve(self.intercept_without(agent), log_output)
    }

    /// Sampling variance of the agent's residual: the noise of its mean weekly output,
    /// carried through the curve (ln cost moves 1/elasticity for each unit of ln output).
    fn noise(&self, agent: &AgentSummary) -> f64 {
        if self.curve.elasticity < MIN_ELASTICITY {
            return 0.0;
        }
        agent.log_output_variance(self.cohort.dispersion) / self.curve.elasticity.powi(2)
    }

    /// A residual in standard deviations: the cohort's spread `tau` and the agent's own noise.
    fn z(&self, agent: &AgentSummary, tau: f64, residual: f64) -> f64 {
        residual / (tau * tau + self.noise(agent)).sqrt()
    }

    fn intercept_without(&self, agent: &AgentSummary) -> f64 {
        if !self.references.contains(agent.agent.as_str()) {
            return self
                .teams
                .level(self.teams.unit.of(agent), None, self.curve.intercept);
        }
        let (log_cost, log_output) = point(agent);
        let own = log_output - self.curve.elasticity * log_cost;
        let at = self.offsets.partition_point(|o| *o < own);
        let pooled = median_without(&self.offsets, at).unwrap_or(self.curve.intercept);
        self.teams
            .level(self.teams.unit.of(agent), Some(own), pooled)
    }
}

/// The median of sorted `values` without the one at `index`.
fn median_without(sorted: &[f64], index: usize) -> Option<f64> {
    let n = sorted.len().checked_sub(1).filter(|n| *n > 0)?;
    let at = |i: usize| sorted[if i < index { i } else { i + 1 }];
    Some(if n % 2 == 1 {
        at(n / 2)
    } else {
        (at(n / 2 - 1) + at(n / 2)) / 2.0
    })
}

/// The groups of a cohort's slope sample that are centred apart for the slope: the cohort,
/// or, where it is one area of several teams, each team of two or more. Teams that share a
/// repository need not share a level (research and platform in one repository, research
/// delivering a quarter of the artifacts a dollar), and points of two levels centred as one
/// tilt the slope (the cheaper team's level difference reads as elasticity). A team of one
/// says nothing of the slope within a level.
fn level_groups<'a>(cohort: &Cohort<'a>, min_points: usize) -> Vec<Vec<&'a AgentSummary>> {
    if cohort.one_level {
        // Its references are in other cohorts' groups too, but for its own agents.
        let own: BTreeSet<&str> = cohort.assessed.iter().map(|a| a.agent.as_str()).collect();
        return vec![cohort
            .slope_sample
            .iter()
            .copied()
            .filter(|a| own.contains(a.agent.as_str()))
            .collect()];
    }
    if cohort.unit() != Some(Unit::Team) {
        return vec![cohort.slope_sample.clone()];
    }
    let mut teams: BTreeMap<&str, Vec<&AgentSummary>> = BTreeMap::new();
    for agent in &cohort.slope_sample {
        teams.entry(&agent.team).or_default().push(agent);
    }
    let groups: Vec<Vec<&AgentSummary>> =
        teams.into_values().filter(|team| team.len() >= 2).collect();
    // Teams of one and two leave too few points to say anything of a slope: then the cohort
    // is centred as one.
    if groups.iter().map(Vec::len).sum::<usize>() < min_points {
        return vec![cohort.slope_sample.clone()];
    }
    groups
}

/// One elasticity per kind, from every cohort's points centred on the cohort's medians: a
/// team of twelve is too few to estimate a slope, and teams differ in level, not in how
/// output responds to spend. Each cohort keeps its own level (intercept).
fn fit_once<'a>(
    cohorts: Vec<Cohort<'a>>,
    given: Option<&BTreeMap<AgentKind, f64>>,
    config: &DetectConfig,
) -> Vec<Fitted<'a>> {
    let mut centred: BTreeMap<AgentKind, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for cohort in &cohorts {
        for group in level_groups(cohort, config.min_cohort_agents) {
            let (log_cost, log_output): (Vec<f64>, Vec<f64>) =
                group.iter().map(|a| point(a)).unzip();
            let (Some(mx), Some(my)) = (median(&log_cost), median(&log_output)) else {
                continue;
            };
            let entry = centred.entry(cohort.kind).or_default();
            entry.0.extend(log_cost.iter().map(|x| x - mx));
            entry.1.extend(log_output.iter().map(|y| y - my));
        }
    }
    let elasticity: BTreeMap<AgentKind, f64> = cohorts
        .iter()
        .map(|c| c.kind)
        .collect::<BTreeSet<AgentKind>>()
        .into_iter()
        .filter_map(|kind| {
            let slope = match given.and_then(|g| g.get(&kind)) {
                Some(slope) => *slope,
                None => {
                    let (x, y) = centred.get(&kind)?;
                    theil_sen(x, y, config.max_pairs, SEED).map_or(0.0, |l| l.slope)
                }
            };
            Some((kind, slope))
        })
        .collect();
    // Only a cohort that pools teams reads the team levels; without one they are not measured
    // (every pair of a team's members is compared).
    let levels = if cohorts.iter().any(|c| c.unit().is_some()) {
        team_levels(&cohorts, &elasticity)
    } else {
        BTreeMap::new()
    };
    cohorts
        .into_iter()
        .filter_map(|cohort| {
            let elasticity = elasticity.get(&cohort.kind).copied().unwrap_or(0.0);
            let teams = levels
                .get(&cohort.kind)
                .map(|kind| kind.for_cohort(&cohort))
                .unwrap_or_default();
            let (log_cost, log_output): (Vec<f64>, Vec<f64>) =
                cohort.reference.iter().map(|a| point(a)).unzip();
            let mut offsets: Vec<f64> = log_cost
                .iter()
                .zip(&log_output)
                .map(|(x, y)| y - elasticity * x)
                .collect();
            offsets.sort_by(f64::total_cmp);
            let costs: Vec<f64> = cohort
                .reference
                .iter()
                .map(|a| a.mean_weekly_judged_cost())
                .collect();
            let outputs: Vec<f64> = cohort
                .reference
                .iter()
                .map(|a| a.mean_weekly_output())
                .collect();
            let intercept = median(&offsets)?;
            let team_intercepts = if teams.offsets.is_empty() {
                BTreeMap::new()
            } else {
                cohort
                    .reference
                    .iter()
                    .map(|a| {
                        (
                            a.team.clone(),
                            teams.level(teams.unit.of(a), None, intercept),
                        )
                    })
                    .collect()
            };
            Some(Fitted {
                curve: Curve {
                    label: cohort.label.clone(),
                    kind: cohort.kind,
                    elasticity,
                    intercept,
                    team_intercepts,
                    median_log_cost: median(&log_cost)?,
                    min_log_cost: log_cost.iter().copied().fold(f64::INFINITY, f64::min),
                    agents: cohort.assessed.iter().map(|a| a.agent.clone()).collect(),
                    prices: cohort
                        .assessed
                        .iter()
                        .filter(|a| {
                            a.judged_cost_usd > 0.0
                                && a.judged_cost_usd.to_bits() != a.cost_usd.to_bits()
                        })
                        .map(|a| (a.agent.clone(), a.cost_usd / a.judged_cost_usd))
                        .collect(),
                },
                median_cost: median(&costs)?,
                median_output: median(&outputs)?,
                offsets,
                references: cohort.reference.iter().map(|a| a.agent.as_str()).collect(),
                teams,
                cohort,
            })
        })
        .collect()
}

/// The spread of residuals beyond each agent's own noise, per kind, over the assessed agents
/// not under suspicion: agents differ in skill and work, and that is what an agent is judged
/// against.
fn spread(fitted: &[Fitted]) -> BTreeMap<SpreadKey, f64> {
    type Residuals = BTreeMap<SpreadKey, (Vec<f64>, Vec<f64>)>;
    fn add(residuals: &mut Residuals, f: &Fitted, agent: &AgentSummary) {
        let entry = residuals.entry(f.cohort.spread_key()).or_default();
        entry.0.push(f.model_residual(agent));
        entry.1.push(f.noise(agent));
    }
    let mut residuals = Residuals::new();
    for f in fitted {
        for agent in &f.cohort.spread_sample {
            add(&mut residuals, f, agent);
        }
    }
    // A kind whose assessed agents are all suspects is measured over all of them.
    let measured: Vec<SpreadKey> = residuals.keys().copied().collect();
    for f in fitted
        .iter()
        .filter(|f| !measured.contains(&f.cohort.spread_key()))
    {
        for agent in &f.cohort.assessed {
            add(&mut residuals, f, agent);
        }
    }
    residuals
        .iter()
        .map(|(kind, (r, v))| (*kind, between_spread(r, v).unwrap_or(1.0).max(MIN_SCALE)))
        .collect()
}

/// Residual z above which a peer is left out of the refit: it may be one of the agents under
/// suspicion, and inflators sit at high spend with ordinary output, where they flatten the
/// slope and hide one another (masking).
/// The trim is symmetric, so that it removes honest outliers on both sides alike and does not
/// tilt the slope itself (a one-sided trim steepens it: heavy users with below-curve output are
/// dropped, and the steeper curve then makes the next heavy users look worse).
const REFIT_EXCLUDE_Z: f64 = 2.0;

/// Fits, drops clearly unusual peers from the references, and fits again.
fn fit<'a>(
    cohorts: Vec<Cohort<'a>>,
    given: Option<&BTreeMap<AgentKind, f64>>,
    config: &DetectConfig,
) -> (Vec<Fitted<'a>>, BTreeMap<SpreadKey, f64>) {
    let mut fitted = fit_once(cohorts, given, config);
    // Twice: the first trim is decided on a curve the suspects still bend. (Given slopes need
    // no trimming.)
    if given.is_none() {
        for _ in 0..2 {
            fitted = refit(fitted, config);
        }
    }
    let spread = spread(&fitted);
    (fitted, spread)
}

/// Refits every cohort's elasticity without the peers the current fit finds clearly unusual.
/// Only the slope is refitted on the trimmed peers. The intercepts stay medians over every
/// reference: a median needs no trimming, and a trimmed one chases the densest cluster of
/// each small team, so that the residuals, and the spread measured from them, shrink with
/// every round.
fn refit<'a>(fitted: Vec<Fitted<'a>>, config: &DetectConfig) -> Vec<Fitted<'a>> {
    let spread = spread(&fitted);
    let trimmed: Vec<Cohort> = fitted
        .iter()
        .map(|f| {
            let kept: Vec<&AgentSummary> = f
                .cohort
                .candidates
                .iter()
                .copied()
                .filter(|a| {
                    let tau = spread[&f.cohort.spread_key()];
                    f.z(a, tau, f.model_residual(a)).abs() <= REFIT_EXCLUDE_Z
                })
                .collect();
            Cohort {
                label: f.cohort.label.clone(),
                kind: f.cohort.kind,
                assessed: f.cohort.assessed.clone(),
                spread_sample: f.cohort.spread_sample.clone(),
                reference: f.cohort.reference.clone(),
                candidates: f.cohort.candidates.clone(),
                dispersion: f.cohort.dispersion,
                one_level: f.cohort.one_level,
                // Trimming never leaves a cohort too small to fit.
                slope_sample: if kept.len() >= config.min_cohort_agents {
                    kept
                } else {
                    f.cohort.candidates.clone()
                },
            }
        })
        .collect();
    fit_once(trimmed, None, config)
}

/// What the peer comparison reads as an agent's spend. Dollars, unless peers at the same output
/// agree on tokens rather than on dollars: where tokens buy the work and an agent's model sets
/// what they cost, an honest agent on a model five times the price spends five times its
/// peers' dollars for their output, and a company that moves its people to a dearer model
/// widens the dollars' spread by each agent's old price, so that inflators hide. Tokens are
/// then weighed at the ratios of list prices ([`super::population::at_reference_prices`]) and
/// scaled to the company's dollars; the dollars at stake are still each agent's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reading {
    #[default]
    Dollars,
    Tokens,
}

impl Reading {
    /// The reading as the JSON report's `data_quality.spend_compared_as` names it.
    pub fn name(self) -> &'static str {
        match self {
            Reading::Dollars => "dollars",
            Reading::Tokens => "tokens",
        }
    }
}

/// How much narrower the peers' spread must be on tokens than on dollars for the comparison
/// to read tokens: where every agent runs one model the two readings are the same but for
/// noise, and dollars are what finance pays.
const TOKENS_NARROWER: f64 = 0.9;

/// Sets each agent's [`AgentSummary::judged_cost_usd`] as `reading` reads it. Under
/// [`Reading::Tokens`], tokens at reference prices times the company's average price per
/// reference dollar; agents without tokens (a cost report) keep their dollars.
pub fn read_as(agents: &mut [AgentSummary], reading: Reading) {
    let price = match reading {
        Reading::Dollars => None,
        Reading::Tokens => {
            let (cost, reference) =
                agents
                    .iter()
                    .filter(|a| a.eligible)
                    .fold((0.0, 0.0), |(c, r), a| {
                        (
                            c + a.cost_usd,
                            r + super::population::at_reference_prices(&a.tokens),
                        )
                    });
            (reference > 0.0).then(|| cost / reference)
        }
    };
    for agent in agents {
        let reference = super::population::at_reference_prices(&agent.tokens);
        agent.judged_cost_usd = match price {
            Some(price) if reference > 0.0 => reference * price,
            _ => agent.cost_usd,
        };
    }
}

/// The reading under which peers at the same output agree most: the peer curves fitted on
/// dollars and on tokens, side by side, with `suspects` left out, and tokens chosen where the
/// spread of agents around their curves, averaged over the judged agents, is under
/// [`TOKENS_NARROWER`] of the dollars'. One fit each, without the refits that trim unusual
/// peers: both readings keep the same peers, and the comparison is between them. Dollars where
/// an eligible agent, or a week of one, has dollars without tokens (a cost report).
pub fn choose_reading(
    agents: &[AgentSummary],
    weeks: &[crate::features::AgentWeek],
    suspects: &BTreeSet<String>,
    config: &DetectConfig,
) -> Reading {
    let eligible: BTreeSet<&str> = agents
        .iter()
        .filter(|a| a.eligible)
        .map(|a| a.agent.as_str())
        .collect();
    // An agent, or a week, with dollars and no tokens (a cost report's lines, web search billed
    // apart) would count as nothing on tokens, over the period or in the recent window.
    let cost_without_tokens = agents
        .iter()
        .filter(|a| a.eligible)
        .any(|a| super::population::at_reference_prices(&a.tokens) <= 0.0)
        || weeks.iter().any(|w| {
            w.cost_usd > 0.0
                && super::population::at_reference_prices(&w.tokens) <= 0.0
                && eligible.contains(w.agent.as_str())
        });
    if eligible.is_empty() || cost_without_tokens {
        return Reading::Dollars;
    }
    let mean_spread = |agents: &[AgentSummary]| {
        let fitted = fit_once(cohorts(agents, suspects, config), None, config);
        let spread = spread(&fitted);
        let (sum, n) = fitted.iter().fold((0.0, 0usize), |(sum, n), f| {
            let k = f.cohort.assessed.len();
            (sum + k as f64 * spread[&f.cohort.spread_key()], n + k)
        });
        (n > 0).then(|| sum / n as f64)
    };
    let mut on_tokens = agents.to_vec();
    read_as(&mut on_tokens, Reading::Tokens);
    match rayon::join(|| mean_spread(agents), || mean_spread(&on_tokens)) {
        (Some(dollars), Some(tokens)) if tokens < TOKENS_NARROWER * dollars => Reading::Tokens,
        _ => Reading::Dollars,
    }
}

/// The whole period's peer curves: fitted once per pass of `detect::run`, without the agents
/// under suspicion, and passed to whoever needs them (this lens judges on them, the change lens
/// reads their elasticities, the report draws them).
pub struct Curves<'a> {
    fitted: Vec<Fitted<'a>>,
    spread: BTreeMap<SpreadKey, f64>,
}

impl Curves<'_> {
    /// The output elasticity of spend fitted for each kind.
    pub fn elasticities(&self) -> BTreeMap<AgentKind, f64> {
        self.fitted
            .iter()
            .map(|f| (f.cohort.kind, f.curve.elasticity))
            .collect()
    }

    /// Each cohort's curve, for the report's chart.
    pub fn curves(&self) -> Vec<Curve> {
        self.fitted.iter().map(|f| f.curve.clone()).collect()
    }
}

/// Fits the curves of every cohort of `agents` over the whole period, with `suspects` left out
/// of the slope and of the spread (never out of the levels).
pub fn fit_curves<'a>(
    agents: &'a [AgentSummary],
    suspects: &BTreeSet<String>,
    config: &DetectConfig,
) -> Curves<'a> {
    let (fitted, spread) = fit(cohorts(agents, suspects, config), None, config);
    Curves { fitted, spread }
}

/// Judged twice: over the whole period, on `curves`, and over its last third on its own (at
/// least three weeks, in periods of eight or more), so that inflation which began mid-period is
/// compared with peers undiluted. The two p-values are combined by the Cauchy test: the
/// windows overlap, so where both see the agent (constant burning) the combination costs next
/// to nothing, and where only the recent one does, about what Bonferroni would ([`windows_p`]).
pub fn assess(
    population: &Population,
    curves: &Curves,
    suspects: &BTreeSet<String>,
    config: &DetectConfig,
) -> Vec<Assessment> {
    let whole = judge(&curves.fitted, &curves.spread, None);
    let weeks: BTreeSet<chrono::NaiveDate> = population.weeks.iter().map(|w| w.week).collect();
    if weeks.len() < 8 {
        return whole;
    }
    let recent = weeks.len().div_ceil(3).max(3);
    let from = *weeks.iter().nth(weeks.len() - recent).expect("non-empty");
    let recent_weeks: Vec<crate::features::AgentWeek> = population
        .weeks
        .iter()
        .filter(|w| w.week >= from)
        .cloned()
        .collect();
    let empty = BTreeMap::new();
    let evidence = super::Evidence {
        behavior: &[],
        primary_models: &empty,
        repositories: &Default::default(),
    };
    let mut recent_population = Population::new(&recent_weeks, evidence, config);
    recent_population.read_as(population.reading);
    // The whole period's areas: the recent weeks are judged in the same cohorts.
    let areas: BTreeMap<&str, &str> = population
        .agents
        .iter()
        .map(|a| (a.agent.as_str(), a.area.as_str()))
        .collect();
    for agent in &mut recent_population.agents {
        if let Some(area) = areas.get(agent.agent.as_str()) {
            agent.area = area.to_string();
        }
    }
    // The recent window keeps the period's elasticity: a third of the weeks says less about
    // how output responds to spend, and the curve's level and spread are what it re-measures.
    let elasticities = curves.elasticities();
    let (fitted, spread) = fit(
        cohorts(&recent_population.agents, suspects, config),
        Some(&elasticities),
        config,
    );
    let recent: BTreeMap<String, Assessment> = judge(&fitted, &spread, Some(from))
        .into_iter()
        .map(|a| (a.agent.clone(), a))
        .collect();
    whole
        .into_iter()
        .map(|overall| {
            let Some(recent) = recent.get(&overall.agent) else {
                return overall;
            };
            let p_values = [overall.p_value, recent.p_value];
            let mut best = if recent.p_value < overall.p_value {
                recent.clone()
            } else {
                overall
            };
            best.p_value = windows_p(p_values);
            best
        })
        .collect()
}

/// One p from the two windows' p-values. Cauchy when both windows saw the agent above its
/// peers; when one did not (p = 1, nothing to report), Bonferroni on the other: in the Cauchy
/// sum a 1, capped at 0.99, would cancel a 0.01 exactly, and a late inflater that was cheap
/// until then is what the recent window is there for.
fn windows_p(p_values: [f64; 2]) -> f64 {
    let smaller = p_values[0].min(p_values[1]);
    if smaller >= 1.0 {
        1.0
    } else if p_values.contains(&1.0) {
        (2.0 * smaller).min(1.0)
    } else {
        cauchy_combination(&p_values).unwrap_or(1.0)
    }
}

/// Judges every assessed agent of the `fitted` cohorts (a whole period, or the weeks from
/// `from`) against its cohort's curve and its kind's `spread`.
fn judge(
    fitted: &[Fitted],
    spread: &BTreeMap<SpreadKey, f64>,
    from: Option<chrono::NaiveDate>,
) -> Vec<Assessment> {
    let mut assessments = Vec::new();
    for f in fitted {
        for agent in &f.cohort.assessed {
            // Judged on the curve itself, in units of the cohort's spread and the agent's own
            // noise, which is what keeps light agents with little output from standing out;
            // the dollars are counted against the floored expectation. An agent that spends no
            // more than the cheapest peer has nothing above its peers to report, whatever the
            // curve says its output would need (p = 1: a stricter test, so still valid).
            let z = f.z(
                agent,
                spread[&f.cohort.spread_key()],
                f.model_residual(agent),
            );
            let residual = f.residual(agent);
            let p_value = if residual > 0.0 { normal_sf(z) } else { 1.0 };
            let excess_factor = residual.exp();
            let expected = agent.cost_usd / excess_factor;
            let excess = (agent.cost_usd - expected).max(0.0);
            let mut reasons = reasons(agent, f, expected, excess, excess_factor);
            if let Some(from) = from {
                for reason in &mut reasons {
                    reason.message = format!("in the weeks from {from}: {}", reason.message);
                }
            }
            assessments.push(Assessment {
                agent: agent.agent.clone(),
                covers: from.map_or(super::Coverage::Period, super::Coverage::From),
                onset_week: None,
                p_value,
                score: z,
                excess_cost_usd: excess,
                excess_factor,
                reasons,
            });
        }
    }
    assessments
}

fn reasons(
    agent: &AgentSummary,
    fitted: &Fitted,
    expected: f64,
    excess: f64,
    excess_factor: f64,
) -> Vec<Reason> {
    let weeks = agent.weeks_active;
    let unit = fitted.teams.unit.of(agent);
    let peers = match fitted.teams.weight(unit) {
        Some(weight) if weight >= 0.005 => {
            let whose = if let Some(repo) = super::areas::by_repository(unit) {
                format!("that of the agents without a team in repository {repo}")
            } else if unit != agent.team {
                format!("that of teams {unit}, which deliver to the same repositories")
            } else {
                format!("team {unit}'s")
            };
            format!(
                "{} (at a level {:.0}% of the way to {whose})",
                fitted.cohort.label,
                100.0 * weight
            )
        }
        _ => fitted.cohort.label.clone(),
    };
    // Read as tokens, what peers used for the same output is priced at the agent's own prices.
    let peers_spent = if fitted.curve.prices.contains_key(&agent.agent) {
        "used tokens that at its prices cost about"
    } else {
        "spent about"
    };
    let mut reasons = vec![Reason {
        code: EXCESS_SPEND,
        message: format!(
            "spent {} over {weeks} weeks; {peers} with the same output {peers_spent} {} ({}); excess {}",
            usd(agent.cost_usd),
            usd(expected),
            factor(excess_factor),
            usd(excess)
        ),
        observed: crate::units::round_to(agent.cost_usd, 2),
        expected: crate::units::round_to(expected, 2),
    }];
    // In the units the curve reads, as its elasticity is.
    let cost_ratio = agent.mean_weekly_judged_cost() / fitted.median_cost;
    if agent.output_index <= 0.0 {
        reasons.push(Reason {
            code: NO_OUTPUT,
            message: format!(
                "no delivered output recorded in {weeks} weeks of usage ({}); the cohort's median agent delivered {:.1} index points a week",
                usd(agent.cost_usd),
                fitted.median_output
            ),
            observed: 0.0,
            expected: crate::units::round_to(fitted.median_output, 3),
        });
    } else if cost_ratio >= ELASTICITY_MIN_RATIO && fitted.median_output > 0.0 {
        let output_ratio = agent.mean_weekly_output() / fitted.median_output;
        let elasticity = output_ratio.ln() / cost_ratio.ln();
        reasons.push(Reason {
            code: LOW_ELASTICITY,
            message: format!(
                "{} the cohort's median weekly spend for {} its median output: elasticity {:.2} where peers' is {:.2}",
                factor(cost_ratio),
                factor(output_ratio),
                elasticity,
                fitted.curve.elasticity
            ),
            observed: crate::units::round_to(elasticity, 3),
            expected: crate::units::round_to(fitted.curve.elasticity, 3),
        });
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::pricing::Tokens;

    fn agent(name: &str, team: &str, weekly_cost: f64, weekly_output: f64) -> AgentSummary {
        AgentSummary {
            agent: name.into(),
            team: team.into(),
            kind: AgentKind::Human,
            tokens: Tokens::default(),
            requests: 500,
            cost_usd: weekly_cost * 8.0,
            output_index: weekly_output * 8.0,
            weeks_active: 8,
            active_days: 30,
            eligible: true,
            primary_model: None,
            trivial_requests: 0,
            trivial_cost_usd: 0.0,
            active_output: weekly_output * 8.0,
            active_output_squares: 8.0 * weekly_output * weekly_output,
            area: team.into(),
            judged_cost_usd: weekly_cost * 8.0,
        }
    }

    /// Output ∝ cost^0.45 with mild, deterministic skill differences.
    fn honest(i: usize, team: &str, weekly_cost: f64) -> AgentSummary {
        let skill = [0.9, 1.1, 1.0, 0.95, 1.05][i % 5];
        agent(
            &format!("{team}-{i}"),
            team,
            weekly_cost,
            skill * 2.0 * weekly_cost.powf(0.45),
        )
    }

    fn population_with(extra: Vec<AgentSummary>) -> Vec<AgentSummary> {
        let mut agents: Vec<AgentSummary> = (0..12)
            .map(|i| honest(i, "payments", 50.0 * 1.4f64.powi(i as i32)))
            .collect();
        agents.extend(extra);
        agents.sort_by(|a, b| a.agent.cmp(&b.agent));
        agents
    }

    /// A population of `agents` alone.
    fn population<'a>(agents: Vec<AgentSummary>) -> Population<'a> {
        Population {
            weeks: &[],
            agents,
            behavior: &[],
            snapshot: crate::detect::DEFAULT_SNAPSHOT,
            reading: Default::default(),
        }
    }

    fn names(suspects: &[&str]) -> BTreeSet<String> {
        suspects.iter().map(|s| s.to_string()).collect()
    }

    fn judge_all(agents: Vec<AgentSummary>) -> Vec<Assessment> {
        let config = DetectConfig::default();
        let population = population(agents);
        let curves = fit_curves(&population.agents, &BTreeSet::new(), &config);
        assess(&population, &curves, &BTreeSet::new(), &config)
    }

    /// The elasticity the lens fits with `suspects` (named by the behaviour lens) left out of
    /// the slope.
    fn fitted_elasticity(agents: Vec<AgentSummary>, suspects: &[&str]) -> f64 {
        fit_curves(&agents, &names(suspects), &DetectConfig::default()).elasticities()
            [&AgentKind::Human]
    }

    /// Twenty honest people on the curve, every fourth on a model at five times the price.
    /// Where tokens buy the work, the dearer model's output is that of its tokens and its
    /// dollars are five times theirs; where dollars buy it, its tokens are a fifth.
    fn on_two_models(tokens_buy_work: bool) -> Vec<AgentSummary> {
        (0..20)
            .map(|i| {
                let work = 40.0 * 1.2f64.powi(i);
                let mut agent = honest(i as usize, "payments", work);
                let (cost, reference) = match (i % 4 == 1, tokens_buy_work) {
                    (false, _) => (work, work),
                    (true, true) => (5.0 * work, work),
                    (true, false) => (work, work / 5.0),
                };
                agent.cost_usd = cost * 8.0;
                agent.judged_cost_usd = agent.cost_usd;
                // Input tokens at $3 a million, the reference price of input.
                agent.tokens = Tokens {
                    input: (reference * 8.0 / 3.0 * 1e6).round() as u64,
                    ..Tokens::default()
                };
                agent
            })
            .collect()
    }

    fn p_of(assessments: &[Assessment], agent: &str) -> f64 {
        assessments
            .iter()
            .find(|a| a.agent == agent)
            .unwrap()
            .p_value
    }

    #[test]
    fn peers_are_compared_on_tokens_where_tokens_and_not_dollars_buy_the_work() {
        let (config, none) = (DetectConfig::default(), BTreeSet::new());
        let tokens_world = on_two_models(true);
        assert_eq!(
            choose_reading(&tokens_world, &[], &none, &config),
            Reading::Tokens
        );
        assert_eq!(
            choose_reading(&on_two_models(false), &[], &none, &config),
            Reading::Dollars
        );
        // On dollars, the honest people on the dearer model spend five times their peers.
        let on_dollars = judge_all(tokens_world.clone());
        assert!(p_of(&on_dollars, "payments-1") < 0.01);
        let mut read = tokens_world.clone();
        read_as(&mut read, Reading::Tokens);
        let on_tokens = judge_all(read.clone());
        assert!(p_of(&on_tokens, "payments-1") > 0.2);
        // Read on tokens, the judged spend is in the company's dollars, and a burner's excess
        // is counted in its own: three times the tokens its work needs on the dearer model.
        let total: f64 = tokens_world.iter().map(|a| a.cost_usd).sum();
        let judged: f64 = read.iter().map(|a| a.judged_cost_usd).sum();
        assert!((judged / total - 1.0).abs() < 1e-9);
        let mut burner = honest(1, "payments", 100.0);
        burner.agent = "burner".into();
        burner.cost_usd = 3.0 * 5.0 * 100.0 * 8.0;
        burner.tokens.input = (3.0 * 100.0 * 8.0 / 3.0 * 1e6) as u64;
        let mut with_burner = tokens_world.clone();
        with_burner.push(burner);
        read_as(&mut with_burner, Reading::Tokens);
        let assessed = judge_all(with_burner);
        let burner = assessed.iter().find(|a| a.agent == "burner").unwrap();
        assert!(burner.p_value < 0.01);
        assert!(
            (2.0..4.0).contains(&burner.excess_factor),
            "{}",
            burner.excess_factor
        );
        // Dollars where a week of an eligible agent has dollars without tokens (web search
        // billed apart, a cost report's lines), or an agent has no tokens at all.
        let web_search = crate::features::AgentWeek {
            agent: "payments-3".into(),
            team: "payments".into(),
            kind: AgentKind::Human,
            week: chrono::NaiveDate::from_ymd_opt(2026, 9, 7).unwrap(),
            tokens: Tokens::default(),
            requests: 0,
            sessions: 0,
            active_days: 0,
            cost_usd: 12.0,
            billed_cost_usd: 0.0,
            unpriced_tokens: 0,
            outputs: BTreeMap::new(),
            output_index: 0.0,
            trivial_requests: 0,
            trivial_cost_usd: 0.0,
        };
        assert_eq!(
            choose_reading(&tokens_world, &[web_search], &none, &config),
            Reading::Dollars
        );
        let mut cost_report = tokens_world;
        cost_report[3].tokens = Tokens::default();
        assert_eq!(
            choose_reading(&cost_report, &[], &none, &config),
            Reading::Dollars
        );
    }

    /// Twelve honest people whose output per dollar differs by ±30% (skill), and five burners
    /// who spend 2.5 to 5 times what their work needs, spread across the cost range: too close
    /// to the honest spread for the refit to trim.
    fn people_and_burners() -> (Vec<AgentSummary>, Vec<String>) {
        let mut agents: Vec<AgentSummary> = (0..12)
            .map(|i| {
                let cost = 50.0 * 1.4f64.powi(i);
                let skill = [
                    0.78, 1.21, 0.95, 1.30, 0.85, 1.10, 0.72, 1.05, 1.25, 0.90, 1.15, 0.80,
                ][i as usize];
                agent(
                    &format!("person-{i}"),
                    "payments",
                    cost,
                    skill * 2.0 * cost.powf(0.45),
                )
            })
            .collect();
        let burners: Vec<String> = (0..5).map(|i| format!("burner-{i}")).collect();
        agents.extend(burners.iter().enumerate().map(|(i, name)| {
            let work = 60.0 * 1.8f64.powi(i as i32);
            let burn = [2.5, 4.0, 3.0, 5.0, 3.5][i];
            agent(name, "payments", burn * work, 2.0 * work.powf(0.45))
        }));
        (agents, burners)
    }

    #[test]
    fn burners_the_behaviour_lens_found_do_not_flatten_the_curve() {
        // The burners flatten the slope; left out as suspects, the honest slope (0.45) returns.
        let (agents, burners) = people_and_burners();
        let names: Vec<&str> = burners.iter().map(String::as_str).collect();
        let with = fitted_elasticity(agents.clone(), &[]);
        let without = fitted_elasticity(agents, &names);
        eprintln!("elasticity with the burners {with:.3}, without {without:.3}");
        assert!(with < 0.41, "burners in the slope: {with}");
        assert!((without - 0.45).abs() < 0.03, "burners left out: {without}");
    }

    #[test]
    fn a_small_team_is_judged_near_its_own_level() {
        // Five teams of four, too small to be cohorts, pooled. Web delivers less than half what
        // the others do per dollar (what it builds, how its output is counted): at the pooled
        // level each of its people would be 2.4 times above the curve. Drawn to their own
        // team's level they are not, and the burner among them still is.
        let levels = [
            ("api", 1.0),
            ("data", 1.15),
            ("web", 0.45),
            ("mobile", 1.1),
            ("infra", 0.9),
        ];
        let mut agents: Vec<AgentSummary> = Vec::new();
        for (t, (team, level)) in levels.iter().enumerate() {
            for i in 0..4 {
                let cost = 60.0 * 1.5f64.powi(((i + t) % 6) as i32);
                let mut a = honest(i, team, cost);
                a.output_index *= level;
                a.active_output *= level;
                a.active_output_squares *= level * level;
                agents.push(a);
            }
        }
        let work: f64 = 150.0;
        let output = 0.45 * 2.0 * work.powf(0.45);
        agents.push(agent("web-burner", "web", 5.0 * work, output));
        let results = judge_all(agents);
        for a in results.iter().filter(|a| a.agent.starts_with("web-")) {
            eprintln!("{} p {:.2e} {}", a.agent, a.p_value, a.reasons[0].message);
        }
        let p = |name: &str| results.iter().find(|a| a.agent == name).unwrap().p_value;
        for i in 0..4 {
            assert!(
                p(&format!("web-{i}")) > 0.05,
                "web-{i}: {}",
                p(&format!("web-{i}"))
            );
        }
        assert!(p("web-burner") < 0.001, "{}", p("web-burner"));
        let burner = results.iter().find(|a| a.agent == "web-burner").unwrap();
        assert!(
            burner.reasons[0]
                .message
                .contains("people across small teams (at a level"),
            "{}",
            burner.reasons[0].message
        );
    }

    /// A team of `members` honest agents delivering to one repository at `level` times the
    /// output of the curve, their weekly costs `base` × `step`^k.
    struct Team(&'static str, f64, &'static str, usize, f64, f64);

    /// The agents of `teams` (costs cycling every `cycle` members) and the agents `extra` with
    /// their repositories, each in the area its repository makes.
    fn in_repositories(
        teams: &[Team],
        cycle: usize,
        extra: Vec<(AgentSummary, &str)>,
    ) -> Vec<AgentSummary> {
        let mut agents: Vec<AgentSummary> = Vec::new();
        let mut repositories = crate::features::Repositories::new();
        for (t, Team(team, level, repo, members, base, step)) in teams.iter().enumerate() {
            for i in 0..*members {
                let cost = base * step.powi(((i + t) % cycle) as i32);
                let mut a = honest(i, team, cost);
                a.output_index *= level;
                a.active_output *= level;
                a.active_output_squares *= level * level;
                repositories.insert(a.agent.clone(), BTreeMap::from([(repo.to_string(), 1.0)]));
                agents.push(a);
            }
        }
        for (agent, repo) in extra {
            repositories.insert(
                agent.agent.clone(),
                BTreeMap::from([(repo.to_string(), 1.0)]),
            );
            agents.push(agent);
        }
        let areas = super::super::areas::areas(&agents, &repositories, 0.5);
        for a in &mut agents {
            a.area.clone_from(&areas[&(a.kind, a.team.clone())]);
        }
        agents
    }

    /// Asserts that none of `honest` is unusual and `burner` is, against `peers`.
    fn only_the_burner_stands_out(
        results: &[Assessment],
        honest: &[String],
        burner: &str,
        peers: &str,
    ) {
        let p = |name: &str| results.iter().find(|a| a.agent == name).unwrap().p_value;
        for name in honest {
            assert!(p(name) > 0.05, "{name}: {}", p(name));
        }
        assert!(p(burner) < 0.001, "{}", p(burner));
        let message = &results.iter().find(|a| a.agent == burner).unwrap().reasons[0].message;
        assert!(message.contains(peers), "{message}");
    }

    #[test]
    fn squads_that_deliver_to_the_same_repositories_are_one_cohort() {
        // Web is cut into two squads of three, each too small for a cohort; both deliver to
        // web's repository, at web's level, less than half what the other teams deliver per
        // dollar. Read as one area they are a cohort of six, judged at web's own level: none of
        // its people stands out, the burner among them does.
        let work: f64 = 150.0;
        let burner = agent("web-burner", "web-2", 5.0 * work, 0.9 * work.powf(0.45));
        let results = judge_all(in_repositories(
            &[
                Team("api", 1.0, "api", 4, 60.0, 1.5),
                Team("data", 1.15, "data", 4, 60.0, 1.5),
                Team("mobile", 1.1, "app", 4, 60.0, 1.5),
                Team("infra", 0.9, "infra", 4, 60.0, 1.5),
                Team("web-1", 0.45, "site", 3, 60.0, 1.5),
                Team("web-2", 0.45, "site", 3, 60.0, 1.5),
            ],
            6,
            vec![(burner, "site")],
        ));
        let web = [
            "web-1-0", "web-1-1", "web-1-2", "web-2-0", "web-2-1", "web-2-2",
        ];
        only_the_burner_stands_out(
            &results,
            &web.map(String::from),
            "web-burner",
            "peers in teams web-1, web-2 with the same output",
        );
    }

    #[test]
    fn two_teams_of_one_repository_keep_their_own_levels_and_the_slope() {
        // Research delivers a third of what platform does per dollar, in platform's
        // repository: one area of eight and eight, beside two other teams. Judged at one level,
        // research's people would all look three times too costly, and points of two levels
        // centred as one would read the difference as elasticity. Each team keeps its level,
        // the slope is fitted within teams, and the burner in research still stands out.
        // Research spends less, so that its level lines up with spend.
        let teams = [
            Team("research", 0.33, "shared", 8, 40.0, 1.3),
            Team("platform", 1.0, "shared", 8, 120.0, 1.3),
            Team("api", 1.0, "api", 8, 120.0, 1.3),
            Team("web", 0.9, "site", 8, 120.0, 1.3),
        ];
        let honest_only = in_repositories(&teams, 8, Vec::new());
        assert_eq!(honest_only[0].area, "platform, research");
        let elasticity = fitted_elasticity(honest_only, &[]);
        assert!((elasticity - 0.45).abs() < 0.05, "elasticity {elasticity}");
        let work: f64 = 100.0;
        let burner = agent(
            "research-burner",
            "research",
            5.0 * work,
            0.66 * work.powf(0.45),
        );
        let results = judge_all(in_repositories(&teams, 8, vec![(burner, "shared")]));
        let research: Vec<String> = (0..8).map(|i| format!("research-{i}")).collect();
        only_the_burner_stands_out(
            &results,
            &research,
            "research-burner",
            "peers in teams platform, research (at a level",
        );
    }

    #[test]
    fn without_teams_repositories_make_cohorts_and_the_rest_are_judged_against_all() {
        // No team known: eight agents placed by repository `api`, six by `site`, and three no
        // repository places (a service, people spread over repositories).
        let none = crate::features::UNASSIGNED_TEAM;
        let mut agents: Vec<AgentSummary> = (0..17)
            .map(|i| honest(i, none, 40.0 * 1.2f64.powi(i as i32)))
            .collect();
        for (i, agent) in agents.iter_mut().enumerate() {
            agent.area = match i {
                0..8 => "repository api".into(),
                8..14 => "repository site".into(),
                _ => none.into(),
            };
        }
        let config = DetectConfig::default();
        let cohorts = cohorts(&agents, &BTreeSet::new(), &config);
        let shape: Vec<(&str, usize, usize, bool)> = cohorts
            .iter()
            .map(|c| {
                let label = c.label.as_str();
                (label, c.assessed.len(), c.reference.len(), c.one_level)
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("peers without a team in repository api", 8, 8, false),
                ("peers without a team in repository site", 6, 6, false),
                ("peers in team unassigned", 3, 17, true),
            ]
        );
        // The rest are judged at one level, not drawn towards their own few; the cohorts of
        // a repository would be, were they pooled.
        let levels = team_levels(&cohorts, &BTreeMap::from([(AgentKind::Human, 0.45)]));
        let kind = &levels[&AgentKind::Human];
        assert!(kind.for_cohort(&cohorts[2]).offsets.is_empty());
        let as_pool = Cohort {
            one_level: false,
            ..cohorts.into_iter().nth(2).unwrap()
        };
        assert_eq!(kind.for_cohort(&as_pool).offsets.len(), 3);
    }

    #[test]
    fn a_window_with_nothing_to_report_does_not_cancel_the_other() {
        // Cheap over the whole period, above peers in the last third: Bonferroni, not the
        // Cauchy sum, where a capped 1 would cancel 0.01 exactly (p = 0.5).
        assert_eq!(windows_p([1.0, 0.01]), 0.02);
        assert_eq!(windows_p([0.005, 1.0]), 0.01);
        assert_eq!(windows_p([1.0, 1.0]), 1.0);
        // Both windows above peers: the Cauchy combination, which costs little when they agree.
        let both = windows_p([0.01, 0.012]);
        assert!(both > 0.01 && both < 0.012, "{both}");
    }

    #[test]
    fn suspects_do_not_widen_the_spread_others_are_judged_by() {
        // Four burners already under suspicion: measured with them, the spread every agent is
        // divided by, the fifth burner's included, is half as wide again.
        let (agents, burners) = people_and_burners();
        let config = DetectConfig::default();
        let suspects: Vec<&str> = burners[1..].iter().map(String::as_str).collect();
        let spread_with = |suspects: &[&str]| {
            let names = suspects.iter().map(|s| s.to_string()).collect();
            let (_, spread) = fit(cohorts(&agents, &names, &config), None, &config);
            spread[&(AgentKind::Human, false)]
        };
        let (wide, narrow) = (spread_with(&[]), spread_with(&suspects));
        eprintln!("spread with the suspects {wide:.3}, without {narrow:.3}");
        assert!(narrow < 0.8 * wide, "{narrow} against {wide}");
    }

    #[test]
    fn ten_times_the_spend_for_the_same_output_is_the_most_extreme() {
        let inflator = agent(
            "payments-burner",
            "payments",
            2000.0,
            2.0 * 200f64.powf(0.45),
        );
        let results = judge_all(population_with(vec![inflator]));
        let burner = results
            .iter()
            .find(|a| a.agent == "payments-burner")
            .unwrap();
        assert!(burner.excess_factor > 5.0, "{burner:?}");
        assert!(burner.p_value < 1e-4, "{burner:?}");
        let others_max = results
            .iter()
            .filter(|a| a.agent != "payments-burner")
            .map(|a| a.score)
            .fold(f64::MIN, f64::max);
        assert!(burner.score > others_max + 2.0);
        assert!(
            burner.reasons.iter().any(|r| r.code == LOW_ELASTICITY),
            "{:?}",
            burner.reasons
        );
    }

    #[test]
    fn a_heavy_user_on_the_curve_is_not_unusual() {
        // Sixty times the lightest peer's spend, with output on the same curve.
        let whale = honest(2, "payments-whale", 3000.0);
        let whale = AgentSummary {
            team: "payments".into(),
            agent: "payments-whale".into(),
            ..whale
        };
        let results = judge_all(population_with(vec![whale]));
        let whale = results
            .iter()
            .find(|a| a.agent == "payments-whale")
            .unwrap();
        assert!(whale.p_value > 0.05, "{whale:?}");
    }

    #[test]
    fn the_median_without_one_value() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(median_without(&sorted, 0), Some(3.5));
        assert_eq!(median_without(&sorted, 2), Some(3.0));
        assert_eq!(median_without(&sorted, 4), Some(2.5));
        assert_eq!(median_without(&[1.0, 9.0], 1), Some(1.0));
        assert_eq!(median_without(&[1.0], 0), None);
    }

    #[test]
    fn the_same_ratio_says_less_about_an_agent_that_delivers_little() {
        // Both spend three times what the curve says their output needs; a point a week is
        // mostly count noise, twenty points a week are not.
        let at_three_times = |name: &str, weekly_output: f64| {
            agent(
                name,
                "payments",
                3.0 * (weekly_output / 2.0).powf(1.0 / 0.45),
                weekly_output,
            )
        };
        let results = judge_all(population_with(vec![
            at_three_times("payments-light", 1.0),
            at_three_times("payments-heavy", 20.0),
        ]));
        let find = |name: &str| results.iter().find(|a| a.agent == name).unwrap().clone();
        let (light, heavy) = (find("payments-light"), find("payments-heavy"));
        assert!(light.p_value > 2.0 * heavy.p_value, "{light:?} {heavy:?}");
        assert!(light.score < heavy.score);
    }

    #[test]
    fn zero_output_spend_says_so() {
        let idle = agent("payments-idle", "payments", 900.0, 0.0);
        let results = judge_all(population_with(vec![idle]));
        let idle = results.iter().find(|a| a.agent == "payments-idle").unwrap();
        assert!(idle.reasons.iter().any(|r| r.code == NO_OUTPUT));
    }

    #[test]
    fn small_teams_are_pooled_and_still_judged() {
        let mut agents = population_with(vec![]);
        agents.push(honest(1, "tiny", 120.0));
        agents.push(honest(2, "tiny", 300.0));
        let results = judge_all(agents);
        assert!(results.iter().any(|a| a.agent == "tiny-1"));
    }
}
