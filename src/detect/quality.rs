//! Data quality: what the lenses could not read, for whom, and why.
//!
//! A fingerprint assumes its columns mean something: `session_id` a run of work, `ts` the time
//! of a request, `prompt_hash` a prompt. Before a fingerprint reads a column, a gate checks that
//! the column means that for the agent (or, for prompt hashes, for the agent's kind); where it
//! does not, the fingerprint is skipped for that agent and the report says so. A lens that
//! could not judge at all (no outputs given, too few weeks) says so too: "no findings" must
//! never read as "nothing to find".

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::population::AgentSummary;

/// Why a fingerprint was not read for an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Rows stand for several requests (bucketed exports): timing within a bucket is unknown.
    Bucketed,
    /// Most timestamps sit exactly on the hour: bucket starts, not request times.
    HourTimestamps,
    /// No row carries a session id.
    NoSessions,
    /// Most requests sit in sessions whose requests span more than a day: ids are labels.
    SessionLabels,
    /// Nearly every session holds one request: ids name requests, not sessions.
    SessionPerRequest,
    /// Prompt hashes barely vary across the agent's kind: the hash is not of the prompt.
    ConstantPrompts,
    /// A large share of the agent's calibration group shows the trait: the population's
    /// habit, not evidence against one agent.
    PopulationHabit,
    /// A way of working (a fixed cadence, sessions side by side, all hours) by an agent whose
    /// spend its output matches: a workflow, not burn.
    DeliversInProportion,
}

impl Gate {
    pub fn name(self) -> &'static str {
        match self {
            Gate::Bucketed => "bucketed",
            Gate::HourTimestamps => "hour_timestamps",
            Gate::NoSessions => "no_sessions",
            Gate::SessionLabels => "session_labels",
            Gate::SessionPerRequest => "session_per_request",
            Gate::ConstantPrompts => "constant_prompts",
            Gate::PopulationHabit => "population_habit",
            Gate::DeliversInProportion => "delivers_in_proportion",
        }
    }

    /// What the check found, as the report says it.
    pub fn reason(self) -> &'static str {
        match self {
            Gate::Bucketed => "usage comes in buckets of several requests: timing within a bucket is unknown",
            Gate::HourTimestamps => "most timestamps sit exactly on the hour: they are bucket starts, not request times",
            Gate::NoSessions => "no usage row carries a session id",
            Gate::SessionLabels => "most requests sit in session ids that span more than a day: the ids are labels, not sessions",
            Gate::SessionPerRequest => "nearly every session id holds a single request: the ids name requests, not sessions",
            Gate::ConstantPrompts => "prompt hashes barely vary across agents of this kind: the hash is not of the prompt",
            Gate::PopulationHabit => "more than a quarter of the agents it is calibrated against show it: this population's habit, not evidence against one agent",
            Gate::DeliversInProportion => "shown by agents whose spend the peer comparison finds matched by their output: a way of working, not burn",
        }
    }
}

/// A fingerprint skipped for some agents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skip {
    /// The fingerprint's reason code.
    pub code: &'static str,
    pub check: Gate,
    pub agents: usize,
    pub reason: &'static str,
}

/// What one lens could judge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LensNote {
    pub lens: &'static str,
    /// Agents it gave a verdict on.
    pub judged: usize,
    /// Agents that passed the minimum-data gates.
    pub eligible: usize,
    /// Why it judged nobody, or fewer than the eligible, where it did.
    pub note: Option<String>,
}

/// The report's data-quality section.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DataQuality {
    pub lenses: Vec<LensNote>,
    pub skipped: Vec<Skip>,
    /// Output credited to names with no usage: a person whose commits are under a git handle
    /// and whose usage is under a login, unmapped, has output the peer comparison never sees.
    /// `None` when every name in the outputs has usage.
    pub unmatched_outputs: Option<UnmatchedOutputs>,
    /// Output names credited to an agent by the name before their `@`, as (output name,
    /// agent): emails that no identity map named and that have no usage of their own.
    pub linked_by_email: Vec<(String, String)>,
    /// Teams none of whose agents has any output in the period, while others do: their
    /// outputs are most likely not in the input (a repository or tracker not exported), and
    /// the peer comparison cannot tell their burn from their work.
    pub teams_without_output: Vec<TeamWithoutOutput>,
    /// Eligible agents with no team (neither the identity map nor the usage rows name one):
    /// they are compared with one another across whatever teams they belong to, or, those in
    /// `agents_by_repository`, with the others whose work is mostly in the same repository.
    pub agents_without_team: usize,
    /// Of `agents_without_team`, those compared with a cohort of their own: the agents without
    /// a team whose work is mostly in the same repository ([`super::areas::repository_areas`]).
    pub agents_by_repository: usize,
    /// Eligible agents.
    pub agents_eligible: usize,
    /// What the peer comparison read as each agent's spend: `dollars`, or `tokens` where peers
    /// at the same output agree on tokens more than on dollars
    /// ([`super::efficiency::Reading`]); `None` when it judged no one.
    pub spend_compared_as: Option<&'static str>,
    /// Agents who at least doubled their spend from the same week and together delivered
    /// less for it than the steady agents did ([`super::change::SharedStep`]): what the
    /// per-agent tests read as the company's norm.
    pub shared_steps: Vec<super::change::SharedStep>,
    /// The share of each kind's weekly output the history lens read as the week before's
    /// work, where output followed last week's spend beyond chance
    /// ([`super::change::OutputLag`]); empty where it read each week's output against its own.
    pub output_lag: Vec<super::change::OutputLag>,
}

/// Whether the peer comparison judged anyone: what the report says of teams and of how spend
/// was read holds only then.
pub fn peers_judged(lenses: &[LensNote]) -> bool {
    lenses
        .iter()
        .any(|l| l.lens == super::codes::EFFICIENCY && l.judged > 0)
}

/// How the finaliser joined usage and outputs, for the report and for the findings it caps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputJoin {
    /// Output emails credited to an agent by the name before their `@`, as (output name, agent).
    pub linked_by_email: Vec<(String, String)>,
    /// Output names that match no agent with usage.
    pub unmatched: Option<UnmatchedOutputs>,
    /// Whether an identity map was given: then it, not a guess, says who is who.
    pub identity_map: bool,
}

impl OutputJoin {
    /// Names that may be a person's missing output: some unmatched, not all of them apps, and
    /// no identity map to say whose they are.
    fn uncredited(&self) -> Option<&UnmatchedOutputs> {
        self.unmatched
            .as_ref()
            .filter(|u| !self.identity_map && u.names > u.bots)
    }
}

/// A team with usage and no output at all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamWithoutOutput {
    pub team: String,
    /// Its agents that passed the minimum-data gates.
    pub agents: usize,
}

/// Teams of two eligible agents or more, none with any output, by team; empty where no agent
/// has output at all (the lenses' own note says that).
pub fn teams_without_output(agents: &[super::AgentSummary]) -> Vec<TeamWithoutOutput> {
    use std::collections::BTreeMap;
    if agents.iter().all(|a| a.output_index <= 0.0) {
        return Vec::new();
    }
    let mut teams: BTreeMap<&str, (usize, bool)> = BTreeMap::new();
    for agent in agents.iter().filter(|a| a.eligible) {
        let entry = teams.entry(agent.team.as_str()).or_default();
        entry.0 += 1;
        entry.1 |= agent.output_index > 0.0;
    }
    teams
        .into_iter()
        .filter(|(team, (agents, output))| {
            *team != crate::features::UNASSIGNED_TEAM && *agents >= 2 && !output
        })
        .map(|(team, (agents, _))| TeamWithoutOutput {
            team: team.to_string(),
            agents,
        })
        .collect()
}

/// Names in the outputs that match no agent with usage, and the agents with usage and no
/// output at all: where both exist, some are likely one person under two names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnmatchedOutputs {
    /// Names credited with output that have no usage in the period.
    pub names: usize,
    /// Their output rows' weeks, summed over names: how much work goes uncredited.
    pub output_weeks: usize,
    /// Up to five of the names, most output weeks first, then by name.
    pub examples: Vec<String>,
    /// Agents with usage and no output credited in the whole period.
    pub agents_without_output: usize,
    /// Of `names`, the GitHub apps (`dependabot[bot]`, or the no-reply address of its
    /// commits): nobody's missing output.
    pub bots: usize,
}

/// Names shown in [`UnmatchedOutputs::examples`].
const UNMATCHED_EXAMPLES: usize = 5;

/// The names of `outputs` (agent, week) that are not among `usage_agents` and have output in
/// one of `usage_weeks` (a git history reaches back to authors long gone), and the usage agents
/// with no output in any week; `None` when every such name has usage.
pub fn unmatched_outputs<'a>(
    usage_agents: &std::collections::BTreeSet<&'a str>,
    usage_weeks: &std::collections::BTreeSet<i32>,
    outputs: impl IntoIterator<Item = (&'a str, i32)>,
) -> Option<UnmatchedOutputs> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut weeks: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    let mut credited: BTreeSet<&str> = BTreeSet::new();
    for (agent, week) in outputs {
        if usage_agents.contains(agent) {
            credited.insert(agent);
        } else if usage_weeks.contains(&week) {
            weeks.entry(agent).or_default().insert(week);
        }
    }
    if weeks.is_empty() {
        return None;
    }
    let mut names: Vec<(&str, usize)> = weeks.iter().map(|(n, w)| (*n, w.len())).collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Some(UnmatchedOutputs {
        names: names.len(),
        output_weeks: names.iter().map(|(_, w)| w).sum(),
        examples: names
            .iter()
            .take(UNMATCHED_EXAMPLES)
            .map(|(n, _)| n.to_string())
            .collect(),
        agents_without_output: usage_agents.len() - credited.len(),
        // `dependabot[bot]`, and its commits' `49699333+dependabot[bot]@users.noreply…`.
        bots: names.iter().filter(|(n, _)| n.contains("[bot]")).count(),
    })
}

/// Caps the peer findings `join` and the missing teams leave in doubt (see
/// [`super::findings`]); unsorted after. `by_repository` are the agents without a team judged
/// among the others who work in the same repository, whose comparison is not in doubt.
pub fn caveat(
    findings: &mut [super::findings::Finding],
    join: &OutputJoin,
    by_repository: &BTreeSet<&str>,
) {
    super::findings::caveat_no_team(findings, by_repository);
    if let Some(unmatched) = join.uncredited() {
        super::findings::caveat_unmatched_outputs(findings, unmatched);
    }
}

/// Counts of agents kept out by each gate, as report rows in gate order.
pub fn skips(code: &'static str, gated: &std::collections::BTreeMap<Gate, usize>) -> Vec<Skip> {
    gated
        .iter()
        .filter(|(_, agents)| **agents > 0)
        .map(|(check, agents)| Skip {
            code,
            check: *check,
            agents: *agents,
            reason: check.reason(),
        })
        .collect()
}

/// Eligible agents without a team that the peer comparison judges in a cohort of their own
/// repository: those whose area is a repository ([`super::areas::repository_areas`]) that
/// `min_cohort_agents` eligible agents or more of their kind share. The others of a small
/// repository are pooled with other small areas, which is a comparison across teams again.
pub fn judged_by_repository(agents: &[AgentSummary], min_cohort_agents: usize) -> BTreeSet<&str> {
    let mut by_area: BTreeMap<_, Vec<&str>> = BTreeMap::new();
    for agent in agents.iter().filter(|a| {
        a.eligible
            && a.team == crate::features::UNASSIGNED_TEAM
            && super::areas::by_repository(&a.area).is_some()
    }) {
        by_area
            .entry((agent.kind, agent.area.as_str()))
            .or_default()
            .push(agent.agent.as_str());
    }
    by_area
        .into_values()
        .filter(|members| members.len() >= min_cohort_agents)
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_without_usage_are_counted_with_the_agents_without_output() {
        let usage: std::collections::BTreeSet<&str> = ["dana", "eli", "fay"].into();
        let outputs = [
            ("dana", 1),
            ("gh-eli", 1),
            ("gh-eli", 2),
            ("gh-eli", 2),
            ("old-bot", 3),
            ("49699333+dependabot[bot]@users.noreply.github.com", 3),
        ];
        let weeks: std::collections::BTreeSet<i32> = [1, 2, 3].into();
        let unmatched = unmatched_outputs(&usage, &weeks, outputs).unwrap();
        assert_eq!(
            unmatched,
            UnmatchedOutputs {
                names: 3,
                output_weeks: 4,
                examples: vec![
                    "gh-eli".into(),
                    "49699333+dependabot[bot]@users.noreply.github.com".into(),
                    "old-bot".into()
                ],
                agents_without_output: 2,
                bots: 1,
            }
        );
        // Output outside the weeks with usage: an author long gone is no one's missing output,
        // and an agent credited there has output all the same.
        assert_eq!(
            unmatched_outputs(&usage, &weeks, [("dana", 1), ("eli", 4), ("gone", 9)]),
            None
        );
        assert_eq!(
            unmatched_outputs(&usage, &weeks, [("dana", 1), ("gh-fay", 2), ("eli", 9)])
                .unwrap()
                .agents_without_output,
            1
        );
    }
}
