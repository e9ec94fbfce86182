//! Features: the heavy stage, from canonical rows to the stats contract, and the finaliser
//! from the stats contract to the agent-week table.
//!
//! [`compute`] is the one entry point of the local path: two streaming passes over the checked
//! inputs ([`compute`](compute::compute)), with the usage rows reduced by one fold in Rust
//! ([`fold`]) and the keys that grow with requests held in bounded memory ([`spill`]). Its
//! result is a [`Stats`]; [`price_days`] and [`build_agent_weeks`] finalise it into the
//! agent-week table the lenses judge.
//!
//! # The stats contract (version [`STATS_VERSION`])
//!
//! The one seam between reading requests and judging agents. Every part is keyed by an agent
//! (canonical, after the identity map) and a local day or week (day numbers since 1970-01-01
//! in the audit's time zone; a week is named by its first day), and holds only what the
//! finaliser needs:
//!
//! | part | key | columns |
//! |---|---|---|
//! | [`DayUsage`] | agent, day, model, tier | team (smallest named), kind (largest), tokens by class, the same for rows without a vendor cost (`unbilled`) and for trivial turns, billed micro-dollars, requests, trivial requests |
//! | [`WeekSessions`] | agent, week | distinct session ids |
//! | [`WeekOutputs`] | agent, week, kind, repo (empty where the output names none) | amount in millionths |
//! | [`WeekPart`] | agent, week, dimension (`tool`, `repo`, `session`), value, model, tier | tokens by class, unbilled tokens, billed micro-dollars, requests: the week's usage split by tool and by repository, and its [`behavior::TOP_SESSIONS`] largest sessions by tokens (ties by id; model and tier empty, requests counting rows), for the root causes of a finding |
//! | [`BehaviorWeek`] | agent, week | requests per hour from the snapshot, 10-minute bin counts and squares, bucketed flag, prompted and distinct prompts, sessions and most simultaneous starts, session rows, long-session rows, single-row sessions, rows, rows on the hour |
//!
//! Every number is an integer (tokens, micro-dollars, millionths of an output), so sums are
//! exact and independent of row order. The contract is **mergeable by week**: the stats of
//! disjoint sets of weeks (or of disjoint agents) are the concatenation of their parts
//! ([`Stats::merge`]). Distinct counts (sessions, prompts) are exact only when one producer
//! saw every row of an agent-week, so a producer shards by week or agent, never by row.
//! Copies of a request (one `request_id`) collapse wherever they fall, to the largest of each
//! count in the day group and session of the earliest copy: streamed chunks of one message can
//! straddle midnight or a week's end. So a producer must see every copy of a request: shards
//! by agent do, and so do week slices computed with `--since`/`--until` over the same input (the
//! earliest copy decides the slice); files split by date do not, where copies straddle the cut.

pub mod behavior;
pub mod compute;
pub mod fold;
pub mod rows;
pub mod spend;
pub mod spill;
mod table;

pub use behavior::{BehaviorWeek, Snapshot};
pub use compute::{compute, quarantine, Computed, Limits, Sources};
pub use spend::{roll_up, spend_rows, SpendDim, SpendGroup, SpendRow};
pub use table::{
    build_agent_weeks, link_emails, output_by_repository, price_days, price_parts, AgentWeek,
    OutputWeights, PricedDay, Repositories, UnpricedModel, UNASSIGNED_TEAM,
};

use polars::prelude::*;

use crate::normalize::calendar::{WeekStart, WEEK};
use crate::normalize::identities::AgentKind;
use crate::normalize::pricing::Tokens;
use crate::schema;

/// The version of the stats contract. Bump it when a part gains, loses or changes a column.
pub const STATS_VERSION: u32 = 5;

/// The stats versions this one reads: 4 had no `repo` in `outputs`, read as empty (every team
/// then is its own area), so history stores and stats folders of version 4 stay readable.
pub fn reads_stats_version(version: u32) -> bool {
    version == 4 || version == STATS_VERSION
}

/// The stats contract: what the heavy stage hands to the finaliser.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Sorted by (agent, day, model, tier).
    pub days: Vec<DayUsage>,
    /// Sorted by (agent, week).
    pub sessions: Vec<WeekSessions>,
    /// Sorted by (agent, week, kind, repo).
    pub outputs: Vec<WeekOutputs>,
    /// Sorted by (agent, week); empty when the behaviour fingerprints were not computed.
    pub behavior: Vec<BehaviorWeek>,
    /// Sorted by (agent, week, dimension, value, model, tier); only rows that name a tool or a
    /// repository.
    pub parts: Vec<WeekPart>,
}

/// The dimensions a week's usage is split by, in the fold's order.
pub const PART_DIMENSIONS: [&str; 2] = ["tool", "repo"];

/// The dimension of the parts that name an agent-week's largest sessions
/// ([`behavior::TOP_SESSIONS`] of them, by tokens, ties by id). Their `model` and `tier` are
/// empty, their `requests` count the session's rows, and they are priced at their week's
/// cost per token.
pub const SESSION_DIMENSION: &str = "session";

/// The value of the remainder of an agent-week's spend outside its named sessions (and rows
/// without a session), added when the parts are priced.
pub const OTHER_SESSIONS: &str = "(other sessions)";

/// An agent-week's usage of one model and tier with one tool or in one repository.
#[derive(Debug, Clone, PartialEq)]
pub struct WeekPart {
    pub agent: String,
    pub week: i32,
    /// `tool` or `repo`.
    pub dimension: String,
    pub value: String,
    pub model: String,
    pub tier: String,
    pub tokens: Tokens,
    pub unbilled: Tokens,
    pub billed_micro: i64,
    pub requests: u64,
}

impl WeekPart {
    /// As a day of usage on the week's first day, so that it is priced as days are.
    pub fn as_day(&self) -> DayUsage {
        DayUsage {
            agent: self.agent.clone(),
            team: None,
            kind: AgentKind::Human,
            day: self.week,
            model: self.model.clone(),
            tier: self.tier.clone(),
            tokens: self.tokens,
            unbilled: self.unbilled,
            billed_micro: self.billed_micro,
            requests: self.requests,
            trivial: Tokens::default(),
            trivial_requests: 0,
        }
    }
}

/// Two producers computed the same agent-week (or agent-day): their distinct counts cannot
/// be merged exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stats of {agent} for the week of day {week} come from two producers")]
pub struct Overlap {
    pub agent: String,
    pub week: i32,
}

impl Stats {
    /// The stats of both, when they cover disjoint agent-weeks (different weeks, or different
    /// agents): the concatenation of their parts, sorted.
    pub fn merge(mut self, other: Stats) -> Result<Stats, Overlap> {
        let weeks: std::collections::BTreeSet<(&str, i32)> = self
            .sessions
            .iter()
            .map(|s| (s.agent.as_str(), s.week))
            .collect();
        if let Some(s) = other
            .sessions
            .iter()
            .find(|s| weeks.contains(&(s.agent.as_str(), s.week)))
        {
            return Err(Overlap {
                agent: s.agent.clone(),
                week: s.week,
            });
        }
        self.append(other);
        self.sort();
        Ok(self)
    }

    /// Adds `other`'s rows to these, unchecked and unsorted: for producers whose agent-weeks
    /// are disjoint by construction (one file a week).
    pub fn append(&mut self, other: Stats) {
        self.days.extend(other.days);
        self.sessions.extend(other.sessions);
        self.outputs.extend(other.outputs);
        self.behavior.extend(other.behavior);
        self.parts.extend(other.parts);
    }

    /// The weeks (first days) any part has a row in.
    pub fn weeks(&self, week_start: WeekStart) -> std::collections::BTreeSet<i32> {
        let mut weeks: std::collections::BTreeSet<i32> = self
            .days
            .iter()
            .map(|d| week_start.week_of_day(d.day))
            .collect();
        weeks.extend(self.sessions.iter().map(|s| s.week));
        weeks.extend(self.outputs.iter().map(|o| o.week));
        weeks.extend(self.behavior.iter().map(|b| b.week));
        weeks.extend(self.parts.iter().map(|p| p.week));
        weeks
    }

    /// The rows of the weeks `keep` accepts, and the rest: the contract is split by week as
    /// exactly as it is merged.
    pub fn partition(self, week_start: WeekStart, keep: impl Fn(i32) -> bool) -> (Stats, Stats) {
        let (days, other_days) = self
            .days
            .into_iter()
            .partition(|d| keep(week_start.week_of_day(d.day)));
        let (sessions, other_sessions) = self.sessions.into_iter().partition(|s| keep(s.week));
        let (outputs, other_outputs) = self.outputs.into_iter().partition(|o| keep(o.week));
        let (behavior, other_behavior) = self.behavior.into_iter().partition(|b| keep(b.week));
        let (parts, other_parts) = self.parts.into_iter().partition(|p| keep(p.week));
        (
            Stats {
                days,
                sessions,
                outputs,
                behavior,
                parts,
            },
            Stats {
                days: other_days,
                sessions: other_sessions,
                outputs: other_outputs,
                behavior: other_behavior,
                parts: other_parts,
            },
        )
    }

    /// Puts every part in the contract's order (see the fields).
    pub fn sort(&mut self) {
        self.days.sort_by(|a, b| {
            (&a.agent, a.day, &a.model, &a.tier).cmp(&(&b.agent, b.day, &b.model, &b.tier))
        });
        self.sessions
            .sort_by(|a, b| (&a.agent, a.week).cmp(&(&b.agent, b.week)));
        self.outputs.sort_by(|a, b| {
            (&a.agent, a.week, &a.kind, &a.repo).cmp(&(&b.agent, b.week, &b.kind, &b.repo))
        });
        self.behavior
            .sort_by(|a, b| (&a.agent, a.week).cmp(&(&b.agent, b.week)));
        self.parts.sort_by(|a, b| {
            (&a.agent, a.week, &a.dimension, &a.value, &a.model, &a.tier).cmp(&(
                &b.agent,
                b.week,
                &b.dimension,
                &b.value,
                &b.model,
                &b.tier,
            ))
        });
    }
}

/// Usage summed per (agent, day, model, tier), before pricing.
#[derive(Debug, Clone, PartialEq)]
pub struct DayUsage {
    pub agent: String,
    pub team: Option<String>,
    pub kind: AgentKind,
    /// Local date as days since 1970-01-01.
    pub day: i32,
    pub model: String,
    pub tier: String,
    pub tokens: Tokens,
    /// The part of `tokens` on rows without a vendor cost, to be priced from the price table.
    pub unbilled: Tokens,
    /// Vendor-billed cost, micro-dollars.
    pub billed_micro: i64,
    pub requests: u64,
    /// Tokens and requests of trivial turns (see [`TRIVIAL_OUTPUT_TOKENS`]).
    pub trivial: Tokens,
    pub trivial_requests: u64,
}

/// Output tokens per request at or below which a turn is trivial: an acknowledgement, a
/// "continue", a one-line answer. Rows that carry several requests (bucketed exports) count
/// when their average turn is this small.
pub const TRIVIAL_OUTPUT_TOKENS: u64 = 100;

/// Distinct sessions per agent-week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekSessions {
    pub agent: String,
    pub week: i32,
    pub sessions: u64,
}

/// Delivered artifacts per (agent, week, kind, repository).
#[derive(Debug, Clone, PartialEq)]
pub struct WeekOutputs {
    pub agent: String,
    pub week: i32,
    pub kind: String,
    /// The repository or project the artifacts were delivered to; empty where none is named.
    /// The peer comparison reads which teams deliver to the same repositories.
    pub repo: String,
    /// Sum of `amount`, in millionths, so sums are exact.
    pub amount_micro: i64,
}

/// Outputs per agent-week, kind and repository (empty where the output names none).
pub fn output_weeks(outputs: LazyFrame) -> LazyFrame {
    outputs
        .with_column(col(schema::REPO).fill_null(lit("")))
        .group_by([
            col(schema::AGENT),
            col(WEEK),
            col(schema::KIND),
            col(schema::REPO),
        ])
        .agg([(col(schema::AMOUNT) * lit(1e6))
            .round(0, RoundMode::HalfAwayFromZero)
            .cast(DataType::Int64)
            .sum()
            .alias("amount_micro")])
}

fn strings(frame: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::String)?
        .str()?
        .iter()
        .map(|v| v.map(String::from))
        .collect())
}

fn i64s(frame: &DataFrame, name: &str) -> PolarsResult<Vec<i64>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect())
}

/// The collected output aggregate, in the engine's order.
pub fn read_outputs(frame: &DataFrame) -> PolarsResult<Vec<WeekOutputs>> {
    let agents = strings(frame, schema::AGENT)?;
    let weeks = i64s(frame, WEEK)?;
    let kinds = strings(frame, schema::KIND)?;
    let repos = strings(frame, schema::REPO)?;
    let amounts = i64s(frame, "amount_micro")?;
    Ok((0..frame.height())
        .map(|i| WeekOutputs {
            agent: agents[i].clone().unwrap_or_default(),
            week: weeks[i] as i32,
            kind: kinds[i].clone().unwrap_or_default(),
            repo: repos[i].clone().unwrap_or_default(),
            amount_micro: amounts[i],
        })
        .collect())
}
