//! Data quality: what the lenses could not read, for whom, and why.
//!
//! A fingerprint assumes its columns mean something: `session_id` a run of work, `ts` the time
//! of a request, `prompt_hash` a prompt. Before a fingerprint reads a column, a gate checks that
//! the column means that for the agent (or, for prompt hashes, for the agent's kind); where it
//! does not, the fingerprint is skipped for that agent and the report says so. A lens that
//! could not judge at all (no outputs given, too few weeks) says so too: "no findings" must
//! never read as "nothing to find".

use serde::Serialize;

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
    /// A way of working (sessions side by side, all hours) by an agent whose
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
