//! Features: the lazy plan from normalized rows to small aggregates, and the agent-week table
//! built from them once collected.
//!
//! The plan groups usage by (agent, local day, model, tier): the only grain fine enough to
//! price exactly and to count active days, and still small (agents × days × models). Sessions
//! are counted per agent-week in a second aggregate of the same stream, and outputs per
//! (agent, week, kind). All sums are integers (tokens, micro-dollars, micro-units of output), so
//! they are exact and do not depend on row order: shuffled input gives the same bytes.

mod table;

pub use table::{
    build_agent_weeks, price_days, AgentWeek, OutputWeights, PricedDay, UnpricedModel,
    UNASSIGNED_TEAM,
};

use polars::prelude::*;

use crate::normalize::calendar::{DAY, WEEK};
use crate::normalize::identities::{AgentKind, KIND as AGENT_KIND};
use crate::normalize::pricing::Tokens;
use crate::schema;

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
}

/// Distinct sessions per agent-week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekSessions {
    pub agent: String,
    pub week: i32,
    pub sessions: u64,
}

/// Delivered artifacts per (agent, week, kind).
#[derive(Debug, Clone, PartialEq)]
pub struct WeekOutputs {
    pub agent: String,
    pub week: i32,
    pub kind: String,
    /// Sum of `amount`, in millionths, so sums are exact.
    pub amount_micro: i64,
}

fn sum_u64(name: &str) -> Expr {
    col(name).cast(DataType::UInt64).sum().alias(name)
}

fn unbilled(name: &str) -> Expr {
    when(col(schema::COST_USD).is_null())
        .then(col(name).cast(DataType::UInt64))
        .otherwise(lit(0u64))
        .sum()
        .alias(format!("unbilled_{name}"))
}

/// The day-grain usage aggregate.
pub fn usage_days(usage: LazyFrame) -> LazyFrame {
    let mut aggs = vec![
        col(schema::TEAM).min(),
        col(AGENT_KIND).max(),
        sum_u64(schema::REQUESTS),
        (col(schema::COST_USD) * lit(1e6))
            .round(0, RoundMode::HalfAwayFromZero)
            .cast(DataType::Int64)
            .sum()
            .alias("billed_micro"),
    ];
    for class in schema::TOKEN_CLASSES {
        aggs.push(sum_u64(class));
        aggs.push(unbilled(class));
    }
    usage
        .group_by([
            col(schema::AGENT),
            col(DAY),
            col(schema::MODEL),
            col(schema::TIER),
        ])
        .agg(aggs)
}

/// Distinct sessions per agent-week.
pub fn usage_sessions(usage: LazyFrame) -> LazyFrame {
    usage
        .group_by([col(schema::AGENT), col(WEEK)])
        .agg([col(schema::SESSION_ID)
            .drop_nulls()
            .n_unique()
            .cast(DataType::UInt64)
            .alias("sessions")])
}

/// Outputs per agent-week and kind.
pub fn output_weeks(outputs: LazyFrame) -> LazyFrame {
    outputs
        .group_by([col(schema::AGENT), col(WEEK), col(schema::KIND)])
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

fn u64s(frame: &DataFrame, name: &str) -> PolarsResult<Vec<u64>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::UInt64)?
        .u64()?
        .iter()
        .map(|v| v.unwrap_or(0))
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

fn tokens(frame: &DataFrame, prefix: &str) -> PolarsResult<Vec<Tokens>> {
    let [input, output, cache_read, cache_write] =
        schema::TOKEN_CLASSES.map(|class| u64s(frame, &format!("{prefix}{class}")));
    let (input, output, cache_read, cache_write) = (input?, output?, cache_read?, cache_write?);
    Ok((0..frame.height())
        .map(|i| Tokens {
            input: input[i],
            output: output[i],
            cache_read: cache_read[i],
            cache_write: cache_write[i],
        })
        .collect())
}

/// The collected day-grain aggregate as plain rows.
pub fn read_usage_days(frame: &DataFrame) -> PolarsResult<Vec<DayUsage>> {
    let agents = strings(frame, schema::AGENT)?;
    let teams = strings(frame, schema::TEAM)?;
    let kinds = strings(frame, AGENT_KIND)?;
    let days = i64s(frame, DAY)?;
    let models = strings(frame, schema::MODEL)?;
    let tiers = strings(frame, schema::TIER)?;
    let totals = tokens(frame, "")?;
    let unbilled = tokens(frame, "unbilled_")?;
    let billed = i64s(frame, "billed_micro")?;
    let requests = u64s(frame, schema::REQUESTS)?;
    Ok((0..frame.height())
        .map(|i| DayUsage {
            agent: agents[i].clone().unwrap_or_default(),
            team: teams[i].clone(),
            kind: kinds[i]
                .as_deref()
                .and_then(AgentKind::parse)
                .unwrap_or(AgentKind::Human),
            day: days[i] as i32,
            model: models[i].clone().unwrap_or_default(),
            tier: tiers[i].clone().unwrap_or_default(),
            tokens: totals[i],
            unbilled: unbilled[i],
            billed_micro: billed[i],
            requests: requests[i],
        })
        .collect())
}

pub fn read_sessions(frame: &DataFrame) -> PolarsResult<Vec<WeekSessions>> {
    let agents = strings(frame, schema::AGENT)?;
    let weeks = i64s(frame, WEEK)?;
    let sessions = u64s(frame, "sessions")?;
    Ok((0..frame.height())
        .map(|i| WeekSessions {
            agent: agents[i].clone().unwrap_or_default(),
            week: weeks[i] as i32,
            sessions: sessions[i],
        })
        .collect())
}

pub fn read_outputs(frame: &DataFrame) -> PolarsResult<Vec<WeekOutputs>> {
    let agents = strings(frame, schema::AGENT)?;
    let weeks = i64s(frame, WEEK)?;
    let kinds = strings(frame, schema::KIND)?;
    let amounts = i64s(frame, "amount_micro")?;
    Ok((0..frame.height())
        .map(|i| WeekOutputs {
            agent: agents[i].clone().unwrap_or_default(),
            week: weeks[i] as i32,
            kind: kinds[i].clone().unwrap_or_default(),
            amount_micro: amounts[i],
        })
        .collect())
}
