//! Features: the lazy plan from normalized rows to a small aggregate, and the agent-week table
//! built from it once collected.
//!
//! The plan groups usage by (agent, local day, model, tier, session) plus the duplicate key:
//! the grain fine enough to price exactly, count active days and distinct sessions, and still
//! small (agents × days × sessions). A request seen more than once forms its own group and is
//! collapsed with `max`; every other group is summed. All sums are integers (tokens,
//! micro-dollars, micro-units of output), so they are exact and do not depend on row order:
//! shuffled input gives the same bytes. Outputs are summed per (agent, week, kind).

pub mod behavior;
pub mod spend;
mod table;

pub use behavior::{BehaviorWeek, Snapshot};
pub use spend::{roll_up, spend_rows, SpendDim, SpendGroup, SpendRow};
pub use table::{
    build_agent_weeks, price_days, AgentWeek, OutputWeights, PricedDay, UnpricedModel,
    UNASSIGNED_TEAM,
};

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;

use crate::normalize::calendar::{Calendar, WeekStart, DAY, WEEK};
use crate::normalize::dedup::KEY as DUPLICATE_KEY;
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

/// Delivered artifacts per (agent, week, kind).
#[derive(Debug, Clone, PartialEq)]
pub struct WeekOutputs {
    pub agent: String,
    pub week: i32,
    pub kind: String,
    /// Sum of `amount`, in millionths, so sums are exact.
    pub amount_micro: i64,
}

const SESSION_KEY: &str = "_session_key";
const ROWS: &str = "_rows";
const BILLED_MICRO: &str = "billed_micro";
const TRIVIAL: &str = "trivial_";

/// The summed columns of the usage aggregate.
fn measures() -> Vec<(String, Expr)> {
    let mut measures = vec![
        (
            schema::REQUESTS.to_string(),
            col(schema::REQUESTS).cast(DataType::UInt64),
        ),
        (
            BILLED_MICRO.to_string(),
            (col(schema::COST_USD) * lit(1e6))
                .round(0, RoundMode::HalfAwayFromZero)
                .cast(DataType::Int64),
        ),
    ];
    let trivial = col(schema::OUTPUT_TOKENS)
        .cast(DataType::UInt64)
        .lt_eq(col(schema::REQUESTS).cast(DataType::UInt64) * lit(TRIVIAL_OUTPUT_TOKENS));
    measures.push((
        format!("{TRIVIAL}{}", schema::REQUESTS),
        when(trivial.clone())
            .then(col(schema::REQUESTS).cast(DataType::UInt64))
            .otherwise(lit(0u64)),
    ));
    for class in schema::TOKEN_CLASSES {
        measures.push((class.to_string(), col(class).cast(DataType::UInt64)));
        measures.push((
            format!("{TRIVIAL}{class}"),
            when(trivial.clone())
                .then(col(class).cast(DataType::UInt64))
                .otherwise(lit(0u64)),
        ));
        measures.push((
            format!("unbilled_{class}"),
            when(col(schema::COST_USD).is_null())
                .then(col(class).cast(DataType::UInt64))
                .otherwise(lit(0u64)),
        ));
    }
    measures
}

/// The usage aggregate: one row per (agent, day, model, tier) for requests seen once, and one
/// row per duplicated request, with the distinct sessions of each row as a list of hashes.
pub fn usage_groups(usage: LazyFrame) -> LazyFrame {
    let session_key = when(col(schema::SESSION_ID).is_null())
        .then(lit(NULL).cast(DataType::UInt64))
        .otherwise(col(schema::SESSION_ID).hash(0x5e55, 0x10, 0x4b, 0x1d))
        .alias(SESSION_KEY);
    let measures = measures();
    // Team and kind follow from the agent; they are carried, not grouped on.
    let mut aggs = vec![
        len().cast(DataType::UInt64).alias(ROWS),
        col(schema::TEAM).min(),
        col(AGENT_KIND).max(),
        col(SESSION_KEY).drop_nulls().unique().alias(SESSION_KEY),
    ];
    for (name, expr) in &measures {
        aggs.push(expr.clone().sum().alias(format!("{name}_sum")));
        aggs.push(expr.clone().max().alias(format!("{name}_max")));
    }
    // A duplicated request counts once, at its largest counts; everything else is summed.
    let is_duplicate = col(DUPLICATE_KEY).is_not_null();
    let mut keep = vec![
        col(schema::AGENT),
        col(DAY),
        col(schema::MODEL),
        col(schema::TIER),
        col(schema::TEAM),
        col(AGENT_KIND),
        col(SESSION_KEY),
        when(is_duplicate.clone())
            .then(lit(1u64))
            .otherwise(col(ROWS))
            .alias(ROWS),
    ];
    for (name, _) in &measures {
        keep.push(
            when(is_duplicate.clone())
                .then(col(format!("{name}_max")))
                .otherwise(col(format!("{name}_sum")))
                .alias(name.as_str()),
        );
    }
    usage
        .with_column(session_key)
        .group_by([
            col(schema::AGENT),
            col(DAY),
            col(schema::MODEL),
            col(schema::TIER),
            col(DUPLICATE_KEY),
        ])
        .agg(aggs)
        .select(keep)
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

/// The usage aggregate folded to days and weekly sessions, inside the calendar window.
#[derive(Debug, Clone, Default)]
pub struct UsageFold {
    pub days: Vec<DayUsage>,
    pub sessions: Vec<WeekSessions>,
    /// Valid usage rows once duplicates are collapsed, window or not.
    pub rows_deduplicated: u64,
    /// Of those, the rows outside `--since/--until`.
    pub rows_outside_window: u64,
}

/// Folds the collected usage aggregate into day-grain usage and weekly distinct sessions.
pub fn fold_usage(frame: &DataFrame, calendar: &Calendar) -> PolarsResult<UsageFold> {
    let agents = strings(frame, schema::AGENT)?;
    let teams = strings(frame, schema::TEAM)?;
    let kinds = strings(frame, AGENT_KIND)?;
    let days = i64s(frame, DAY)?;
    let models = strings(frame, schema::MODEL)?;
    let tiers = strings(frame, schema::TIER)?;
    let session_lists = frame.column(SESSION_KEY)?.list()?.clone();
    let totals = tokens(frame, "")?;
    let unbilled = tokens(frame, "unbilled_")?;
    let trivial = tokens(frame, TRIVIAL)?;
    let trivial_requests = u64s(frame, &format!("{TRIVIAL}{}", schema::REQUESTS))?;
    let billed = i64s(frame, BILLED_MICRO)?;
    let requests = u64s(frame, schema::REQUESTS)?;
    let rows = u64s(frame, ROWS)?;

    let mut fold = UsageFold::default();
    let mut by_day: BTreeMap<(String, i32, String, String), DayUsage> = BTreeMap::new();
    let mut sessions: BTreeMap<(String, i32), BTreeSet<u64>> = BTreeMap::new();
    for i in 0..frame.height() {
        fold.rows_deduplicated += rows[i];
        let day = days[i] as i32;
        if !calendar.contains(day) {
            fold.rows_outside_window += rows[i];
            continue;
        }
        let agent = agents[i].clone().unwrap_or_default();
        let kind = kinds[i]
            .as_deref()
            .and_then(AgentKind::parse)
            .unwrap_or(AgentKind::Human);
        let model = models[i].clone().unwrap_or_default();
        let tier = tiers[i].clone().unwrap_or_default();
        let entry = by_day
            .entry((agent.clone(), day, model.clone(), tier.clone()))
            .or_insert_with(|| DayUsage {
                agent: agent.clone(),
                team: None,
                kind,
                day,
                model,
                tier,
                tokens: Tokens::default(),
                unbilled: Tokens::default(),
                billed_micro: 0,
                requests: 0,
                trivial: Tokens::default(),
                trivial_requests: 0,
            });
        entry.tokens.add(&totals[i]);
        entry.trivial.add(&trivial[i]);
        entry.trivial_requests += trivial_requests[i];
        entry.unbilled.add(&unbilled[i]);
        entry.billed_micro += billed[i];
        entry.requests += requests[i];
        entry.kind = entry.kind.max(kind);
        // The smallest team name, so the choice does not depend on row order.
        if let Some(team) = &teams[i] {
            if entry.team.as_ref().is_none_or(|t| team < t) {
                entry.team = Some(team.clone());
            }
        }
        if let Some(list) = session_lists.get_as_series(i) {
            let keys = sessions
                .entry((agent, week_of_day(day, calendar.week_start)))
                .or_default();
            keys.extend(list.u64()?.iter().flatten());
        }
    }
    fold.days = by_day.into_values().collect();
    fold.sessions = sessions
        .into_iter()
        .map(|((agent, week), keys)| WeekSessions {
            agent,
            week,
            sessions: keys.len() as u64,
        })
        .collect();
    Ok(fold)
}

/// The day number of the first day of `day`'s week.
fn week_of_day(day: i32, week_start: WeekStart) -> i32 {
    use crate::normalize::calendar::{from_day_number, to_day_number};
    to_day_number(week_start.week_of(from_day_number(day)))
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
