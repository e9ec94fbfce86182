//! Behaviour features: request-level fingerprints reduced to small aggregates in the lazy plan.
//!
//! The valid usage rows (only the five [`COLUMNS`] are read, mapped to identities and put on
//! the calendar) are reduced once to integers: an agent-week hash, the request count, the
//! second, and u64 keys of (agent-week, prompt) and (agent-week, session). Three group-bys
//! share that one pass through a cache, each ending in a table of at most (agent, week, hour
//! of week) rows; the activity plan also names each agent-week hash:
//! - **activity**: requests per 10-minute bin, folded to the hour of the week counted from the
//!   leaderboard snapshot. It gives the hour-of-day profile (round-the-clock activity), the
//!   share before the snapshot, and the index of dispersion of requests per active bin (a loop
//!   on a fixed cadence fills every bin alike; people work in bursts).
//! - **prompts**: requests and distinct `prompt_hash` per agent-week (repeated prompts).
//! - **session starts**: sessions per agent-week and the most that started in one 5-minute
//!   window (background sessions fanned out in parallel).
//!
//! Rows that carry several requests (bucketed vendor exports) say nothing about timing within
//! the bucket; an agent-week with such rows is marked `bucketed` and its cadence is not judged.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::{i64s, strings, u64s};
use crate::normalize::calendar::WEEK;
use crate::schema;

/// Seconds in a week.
const WEEK_SECONDS: i64 = 7 * 86_400;
/// Width of the bins whose counts measure cadence.
pub const BIN_SECONDS: i64 = 600;
/// Width of the window in which parallel session starts are counted.
pub const START_WINDOW_SECONDS: i64 = 300;
/// Hours in a week.
pub const HOURS: usize = 168;

/// When the weekly leaderboard snapshot is taken, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Seconds from Monday 00:00 UTC.
    pub offset_seconds: i64,
    /// Hours before the snapshot that count as the pre-snapshot window.
    pub window_hours: u32,
}

impl Snapshot {
    /// Parses `"fri 17:00"` (weekday, then UTC time).
    pub fn parse(text: &str, window_hours: u32) -> Option<Snapshot> {
        let mut parts = text.split_whitespace();
        let day = parts.next()?.to_ascii_lowercase();
        let time = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let day_index = days.iter().position(|d| day.starts_with(d))? as i64;
        let (hour, minute) = time.split_once(':')?;
        let (hour, minute): (i64, i64) = (hour.parse().ok()?, minute.parse().ok()?);
        if !(0..24).contains(&hour) || !(0..60).contains(&minute) || window_hours == 0 {
            return None;
        }
        Some(Snapshot {
            offset_seconds: day_index * 86_400 + hour * 3_600 + minute * 60,
            window_hours: window_hours.min(167),
        })
    }

    /// An instant at which a snapshot was taken: 1970-01-05 was a Monday.
    fn anchor_seconds(&self) -> i64 {
        4 * 86_400 + self.offset_seconds
    }

    /// Whether an hour of the week (0 = the hour right after the snapshot) is inside the
    /// pre-snapshot window.
    pub fn in_window(&self, hour_of_week: usize) -> bool {
        hour_of_week >= HOURS - self.window_hours as usize
    }
}

/// One agent-week's fingerprints.
#[derive(Debug, Clone, PartialEq)]
pub struct BehaviorWeek {
    pub agent: String,
    /// First day of the week (day number).
    pub week: i32,
    /// Requests per hour of the week, counted from the snapshot (hour 0 starts at it).
    pub hours: BTreeMap<u8, u64>,
    /// Active 10-minute bins, and the sum and sum of squares of their request counts.
    pub bins: u64,
    pub bin_requests: u64,
    pub bin_squares: u64,
    /// Some rows carry several requests: timing within a bucket is unknown.
    pub bucketed: bool,
    /// Requests with a prompt hash, and distinct hashes among them.
    pub prompted: u64,
    pub distinct_prompts: u64,
    /// Distinct sessions, and the most that started in one 5-minute window.
    pub sessions: u64,
    pub max_simultaneous_starts: u64,
}

impl BehaviorWeek {
    fn new(agent: String, week: i32) -> BehaviorWeek {
        BehaviorWeek {
            agent,
            week,
            hours: BTreeMap::new(),
            bins: 0,
            bin_requests: 0,
            bin_squares: 0,
            bucketed: false,
            prompted: 0,
            distinct_prompts: 0,
            sessions: 0,
            max_simultaneous_starts: 0,
        }
    }

    pub fn requests(&self) -> u64 {
        self.hours.values().sum()
    }
}

/// The canonical usage columns the behaviour plans read.
pub const COLUMNS: [&str; 5] = [
    schema::AGENT,
    schema::TS,
    schema::REQUESTS,
    schema::PROMPT_HASH,
    schema::SESSION_ID,
];

const BIN: &str = "_bin";
const HOUR: &str = "_hour_of_week";
const COUNT: &str = "_count";
const ROWS: &str = "_rows";
const SQUARES: &str = "_squares";
const BINS: &str = "_bins";
const START: &str = "_start";

fn epoch_seconds() -> Expr {
    col(schema::TS)
        .cast(DataType::Int64)
        .floor_div(lit(1_000_000i64))
}

fn requests() -> Expr {
    col(schema::REQUESTS).cast(DataType::UInt64)
}

/// An agent-week as one u64: the later group-bys key on it instead of a string and an integer,
/// and [`fold`] names it again from the activity plan, which keeps the agent and the week.
fn agent_week() -> Expr {
    as_struct(vec![col(schema::AGENT), col(WEEK)])
        .hash(0x51, 0x7e, 0x3a, 0x90)
        .alias(AGENT_WEEK)
}

/// Requests per (agent, week, hour of the week from the snapshot), with the dispersion of
/// 10-minute bin counts inside each hour.
pub fn activity(usage: LazyFrame, snapshot: Snapshot) -> LazyFrame {
    let anchor_bin = snapshot.anchor_seconds().div_euclid(BIN_SECONDS);
    let bins_per_week = WEEK_SECONDS / BIN_SECONDS;
    let bins_per_hour = 3_600 / BIN_SECONDS;
    let hour = ((col(BIN) - lit(anchor_bin)) % lit(bins_per_week) + lit(bins_per_week))
        % lit(bins_per_week);
    usage
        .select([
            col(AGENT_WEEK),
            col(schema::AGENT),
            col(WEEK),
            col(schema::REQUESTS),
            col(SECONDS).floor_div(lit(BIN_SECONDS)).alias(BIN),
        ])
        .group_by([col(AGENT_WEEK), col(BIN)])
        .agg([
            col(schema::REQUESTS).sum().alias(COUNT),
            len().cast(DataType::UInt64).alias(ROWS),
            col(schema::AGENT).first(),
            col(WEEK).first(),
        ])
        .with_column(hour.floor_div(lit(bins_per_hour)).alias(HOUR))
        .group_by([col(AGENT_WEEK), col(HOUR)])
        .agg([
            col(COUNT).sum(),
            (col(COUNT) * col(COUNT)).sum().alias(SQUARES),
            len().cast(DataType::UInt64).alias(BINS),
            col(ROWS).sum(),
            col(schema::AGENT).first(),
            col(WEEK).first(),
        ])
}

/// Requests with a prompt hash and distinct hashes, per agent-week.
pub fn prompts(usage: LazyFrame) -> LazyFrame {
    usage
        .filter(col(PROMPT_KEY).is_not_null())
        .group_by([col(PROMPT_KEY)])
        .agg([
            len().cast(DataType::UInt64).alias(COUNT),
            col(AGENT_WEEK).first(),
        ])
        .group_by([col(AGENT_WEEK)])
        .agg([
            col(COUNT).sum(),
            len().cast(DataType::UInt64).alias("_distinct"),
        ])
}

/// Sessions per agent-week and the most that started within one 5-minute window.
pub fn session_starts(usage: LazyFrame) -> LazyFrame {
    usage
        .filter(col(SESSION_KEY).is_not_null())
        .group_by([col(SESSION_KEY)])
        .agg([col(SECONDS).min().alias(START), col(AGENT_WEEK).first()])
        .with_column(col(START).floor_div(lit(START_WINDOW_SECONDS)))
        .group_by([col(AGENT_WEEK), col(START)])
        .agg([len().cast(DataType::UInt64).alias(COUNT)])
        .group_by([col(AGENT_WEEK)])
        .agg([
            col(COUNT).sum().alias("_sessions"),
            col(COUNT).max().alias("_max_starts"),
        ])
}

/// One row per usage row, everything the plans group on reduced to integers in one pass: the
/// agent-week, and per-row keys for the prompt and the session. One u64 per (agent, week,
/// prompt) groups faster than a string and two integers (8.9 s to 3.1 s at 11.6M requests,
/// BENCHMARKS.md); two of 11.6M keys colliding has a chance of about 4 in a million and would
/// merge two prompts.
fn narrow(usage: LazyFrame) -> LazyFrame {
    let keyed = |column: &str, seeds: [u64; 4]| {
        when(col(column).is_not_null())
            .then(
                as_struct(vec![col(AGENT_WEEK), col(column)])
                    .hash(seeds[0], seeds[1], seeds[2], seeds[3]),
            )
            .otherwise(lit(NULL).cast(DataType::UInt64))
    };
    usage
        .select([
            col(schema::AGENT),
            col(WEEK),
            agent_week(),
            requests().alias(schema::REQUESTS),
            epoch_seconds().alias(SECONDS),
            col(schema::PROMPT_HASH),
            col(schema::SESSION_ID),
        ])
        .select([
            col(schema::AGENT),
            col(WEEK),
            col(AGENT_WEEK),
            col(schema::REQUESTS),
            col(SECONDS),
            keyed(schema::PROMPT_HASH, [0x9e37, 0x79b9, 0x7f4a, 0x7c15]).alias(PROMPT_KEY),
            keyed(schema::SESSION_ID, [0x5e55, 0x10, 0x4b, 0x1d]).alias(SESSION_KEY),
        ])
}

const SECONDS: &str = "_seconds";
const PROMPT_KEY: &str = "_prompt_key";
const SESSION_KEY: &str = "_session_key";
const AGENT_WEEK: &str = "_agent_week";

/// The three plans, in the order [`fold`] reads their results.
pub fn plans(usage: LazyFrame, snapshot: Snapshot) -> Vec<LazyFrame> {
    let usage = narrow(usage).cache();
    vec![
        activity(usage.clone(), snapshot),
        prompts(usage.clone()),
        session_starts(usage),
    ]
}

/// Folds the collected plans into agent-weeks, sorted by agent then week. Weeks outside the
/// calendar window are dropped by the caller's filter on the usage rows.
pub fn fold(frames: &[DataFrame]) -> PolarsResult<Vec<BehaviorWeek>> {
    let mut weeks: BTreeMap<(String, i32), BehaviorWeek> = BTreeMap::new();
    let entry = |agent: &Option<String>, week: i64| {
        let agent = agent.clone().unwrap_or_default();
        let week = week as i32;
        (agent, week)
    };
    let activity = &frames[0];
    let (agents, week_days, hours) = (
        strings(activity, schema::AGENT)?,
        i64s(activity, WEEK)?,
        i64s(activity, HOUR)?,
    );
    let (counts, squares, bins, rows) = (
        u64s(activity, COUNT)?,
        u64s(activity, SQUARES)?,
        u64s(activity, BINS)?,
        u64s(activity, ROWS)?,
    );
    // The later plans name agent-weeks by their hash; the activity plan has every agent-week.
    let mut named: std::collections::HashMap<u64, (String, i32)> = Default::default();
    let keys = u64s(activity, AGENT_WEEK)?;
    for i in 0..activity.height() {
        let key = entry(&agents[i], week_days[i]);
        named.insert(keys[i], key.clone());
        let week = weeks
            .entry(key.clone())
            .or_insert_with(|| BehaviorWeek::new(key.0, key.1));
        *week.hours.entry(hours[i] as u8).or_default() += counts[i];
        week.bins += bins[i];
        week.bin_requests += counts[i];
        week.bin_squares += squares[i];
        week.bucketed |= counts[i] > rows[i];
    }
    let prompts = &frames[1];
    let keys = u64s(prompts, AGENT_WEEK)?;
    let (prompted, distinct) = (u64s(prompts, COUNT)?, u64s(prompts, "_distinct")?);
    for i in 0..prompts.height() {
        if let Some(week) = named.get(&keys[i]).and_then(|key| weeks.get_mut(key)) {
            week.prompted += prompted[i];
            week.distinct_prompts += distinct[i];
        }
    }
    let starts = &frames[2];
    let keys = u64s(starts, AGENT_WEEK)?;
    let (sessions, max_starts) = (u64s(starts, "_sessions")?, u64s(starts, "_max_starts")?);
    for i in 0..starts.height() {
        if let Some(week) = named.get(&keys[i]).and_then(|key| weeks.get_mut(key)) {
            week.sessions += sessions[i];
            week.max_simultaneous_starts = week.max_simultaneous_starts.max(max_starts[i]);
        }
    }
    Ok(weeks.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_parses_weekday_and_time() {
        let s = Snapshot::parse("Fri 17:00", 12).unwrap();
        assert_eq!(s.offset_seconds, 4 * 86_400 + 17 * 3_600);
        assert!(s.in_window(167) && s.in_window(156) && !s.in_window(155));
        assert!(Snapshot::parse("fri", 12).is_none());
        assert!(Snapshot::parse("fri 25:00", 12).is_none());
        assert!(Snapshot::parse("someday 10:00", 12).is_none());
    }

    #[test]
    fn activity_counts_hours_from_the_snapshot_and_bin_dispersion() {
        // Two requests in one bin at Friday 16:05 UTC (the last hour before a Friday 17:00
        // snapshot) and one on Saturday 17:30 (hour 24 after it).
        let friday = 1_789_747_200i64; // 2026-09-18T16:00:00Z
        let ts: Vec<i64> = vec![friday + 300, friday + 310, friday + 25 * 3_600 + 1_800];
        let ts = Series::new(
            schema::TS.into(),
            ts.iter().map(|s| s * 1_000_000).collect::<Vec<_>>(),
        )
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))
        .unwrap();
        let frame = DataFrame::new_infer_height(vec![
            Column::from(ts),
            Column::new(schema::AGENT.into(), ["a", "a", "a"]),
            Column::new(WEEK.into(), [0i32, 0, 0]),
            Column::new(schema::REQUESTS.into(), [1u64, 1, 1]),
            Column::new(schema::PROMPT_HASH.into(), [Some("p"), Some("p"), None]),
            Column::new(
                schema::SESSION_ID.into(),
                [Some("s1"), Some("s2"), Some("s3")],
            ),
        ])
        .unwrap();
        let chrono_time = chrono::DateTime::from_timestamp(friday, 0).unwrap();
        assert_eq!(chrono_time.format("%a %H:%M").to_string(), "Fri 16:00");
        let snapshot = Snapshot::parse("fri 17:00", 12).unwrap();
        let frames: Vec<DataFrame> = plans(frame.lazy(), snapshot)
            .into_iter()
            .map(|p| p.collect().unwrap())
            .collect();
        let weeks = fold(&frames).unwrap();
        assert_eq!(weeks.len(), 1);
        let week = &weeks[0];
        assert_eq!(week.hours.get(&167), Some(&2));
        assert_eq!(week.hours.get(&24), Some(&1));
        assert_eq!((week.bins, week.bin_requests, week.bin_squares), (2, 3, 5));
        assert_eq!((week.prompted, week.distinct_prompts), (2, 1));
        assert_eq!((week.sessions, week.max_simultaneous_starts), (3, 2));
        assert!(!week.bucketed);
    }
}
