//! Behaviour features: request-level fingerprints reduced to small aggregates per agent-week.
//!
//! The valid usage rows (only the five [`COLUMNS`] are read, and put on the calendar) are
//! reduced in the lazy plan to integers: a hash of the agent's name and the week, the request
//! count, the second, and u64 hashes of the prompt and the session. A callback sink hands those
//! rows, batch by batch, to a fold in Rust that keeps, per agent-week, its active 10-minute
//! bins, prompt keys and sessions, maps each name through the identity map once, and ends in
//! one [`BehaviorWeek`] per agent-week:
//! - **activity**: requests per 10-minute bin, folded to the hour of the week counted from the
//!   leaderboard snapshot. It gives the hour-of-day profile (round-the-clock activity), the
//!   share before the snapshot, and the index of dispersion of requests per active bin (a loop
//!   on a fixed cadence fills every bin alike; people work in bursts).
//! - **prompts**: requests and distinct `prompt_hash` per agent-week (repeated prompts).
//! - **session starts**: sessions per agent-week and the most that started in one 5-minute
//!   window (background sessions fanned out in parallel).
//! - **what the columns mean** (data-quality gates the lens checks before reading them): how
//!   many sessions hold a single request and how many requests sit in sessions whose requests
//!   span more than a day (a `session_id` that is a label reused for days is no session), and how
//!   many rows sit exactly on the hour (timestamps that are bucket starts, not request times).
//!
//! Rows that carry several requests (bucketed vendor exports) say nothing about timing within
//! the bucket; an agent-week with such rows is marked `bucketed` and its cadence is not judged.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use polars::prelude::*;

use crate::normalize::calendar::WEEK;
use crate::schema;

/// Seconds in a week.
const WEEK_SECONDS: i64 = 7 * 86_400;
/// Width of the bins whose counts measure cadence.
pub const BIN_SECONDS: i64 = 600;
/// Width of the window in which parallel session starts are counted.
pub const START_WINDOW_SECONDS: i64 = 300;
/// A session whose rows span more than this within one week is a label, not a run of work:
/// people do resume a session the next morning, but a day and more of one id is a gateway's
/// or a proxy's label (the data-quality gate of the parallel-sessions fingerprint).
pub const LABEL_SPAN_SECONDS: i64 = 86_400;
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
    /// Rows with a session id; of them, rows in sessions whose rows span more than
    /// [`LABEL_SPAN_SECONDS`] within the week; sessions of one row.
    pub session_rows: u64,
    pub long_session_rows: u64,
    pub single_row_sessions: u64,
    /// Rows with a timestamp, and those exactly on the hour (chance: 1 in 3,600).
    pub rows: u64,
    pub rows_on_the_hour: u64,
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
            session_rows: 0,
            long_session_rows: 0,
            single_row_sessions: 0,
            rows: 0,
            rows_on_the_hour: 0,
        }
    }

    pub fn requests(&self) -> u64 {
        self.hours.values().sum()
    }
}

/// The canonical usage columns the behaviour plan reads.
pub const COLUMNS: [&str; 5] = [
    schema::AGENT,
    schema::TS,
    schema::REQUESTS,
    schema::PROMPT_HASH,
    schema::SESSION_ID,
];

fn epoch_seconds() -> Expr {
    col(schema::TS)
        .cast(DataType::Int64)
        .floor_div(lit(1_000_000i64))
}

fn requests() -> Expr {
    col(schema::REQUESTS).cast(DataType::UInt64)
}

/// An agent-week as one u64, of the agent's name as the logs give it (before the identity
/// map, which the fold applies once per name): the fold's index, which reads the name and the
/// week only the first time it meets one.
fn agent_week() -> Expr {
    as_struct(vec![col(schema::AGENT), col(WEEK)])
        .hash(0x51, 0x7e, 0x3a, 0x90)
        .alias(AGENT_WEEK)
}

/// One row per usage row, everything the fold keys on reduced to integers in the plan: the
/// agent-week, and u64 hashes of the prompt and the session (null where the row has none).
/// Keys are only compared within one agent-week, so two prompts are merged by a collision with
/// a chance of about n² / 2⁶⁵ for an agent-week of n prompts: 10⁻¹³ for 2,000.
fn narrow(usage: LazyFrame) -> LazyFrame {
    let keyed = |column: &str, seeds: [u64; 4]| {
        when(col(column).is_not_null())
            .then(col(column).hash(seeds[0], seeds[1], seeds[2], seeds[3]))
            .otherwise(lit(NULL).cast(DataType::UInt64))
    };
    usage.select([
        col(schema::AGENT),
        col(WEEK).cast(DataType::Int32),
        agent_week(),
        requests().alias(schema::REQUESTS),
        epoch_seconds().alias(SECONDS),
        keyed(schema::PROMPT_HASH, [0x9e37, 0x79b9, 0x7f4a, 0x7c15]).alias(PROMPT_KEY),
        keyed(schema::SESSION_ID, [0x5e55, 0x10, 0x4b, 0x1d]).alias(SESSION_KEY),
    ])
}

const SECONDS: &str = "_seconds";
const PROMPT_KEY: &str = "_prompt_key";
const SESSION_KEY: &str = "_session_key";
const AGENT_WEEK: &str = "_agent_week";

type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// Unsorted prompt keys an agent-week holds, at least, before it sorts them and drops repeats.
/// Compacting when the unsorted tail reaches max(this, the sorted part) costs O(log n) per key
/// and holds at most max(2d, d + 256) keys for d distinct prompts: a loop that repeats a few
/// prompts all week holds a few hundred, not one per request.
const COMPACT_AT: usize = 256;

/// What the fold has seen of one agent-week, under one name as the logs give it. Everything is
/// kept per agent-week, so that the maps stay small enough to be cheap to update, and so that
/// two names of one agent can be merged exactly once the identity map has spoken.
#[derive(Debug)]
struct NameWeek {
    name: String,
    week: i32,
    /// 10-minute bin → (requests, rows).
    bins: Map<i64, (u64, u64)>,
    /// Rows with a prompt hash.
    prompted: u64,
    /// Prompt keys, sorted and without repeats up to `sorted`, then as they came.
    prompts: Vec<u64>,
    sorted: usize,
    /// Session key → its first and last second and its rows.
    sessions: Map<u64, Session>,
    /// Rows with a timestamp, and those exactly on the hour.
    rows: u64,
    rows_on_the_hour: u64,
}

/// One session's extent within an agent-week.
#[derive(Debug, Clone, Copy)]
struct Session {
    first: i64,
    last: i64,
    rows: u64,
}

impl Session {
    fn at(second: i64) -> Session {
        Session {
            first: second,
            last: second,
            rows: 1,
        }
    }

    fn merge(&mut self, other: Session) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.rows += other.rows;
    }
}

impl NameWeek {
    fn new(name: String, week: i32) -> NameWeek {
        NameWeek {
            name,
            week,
            bins: Map::default(),
            prompted: 0,
            prompts: Vec::new(),
            sorted: 0,
            sessions: Map::default(),
            rows: 0,
            rows_on_the_hour: 0,
        }
    }

    /// Sorts the prompt keys and drops repeats, so that they take the room of the distinct
    /// prompts, not of the rows.
    fn compact(&mut self) {
        self.prompts.sort_unstable();
        self.prompts.dedup();
        self.sorted = self.prompts.len();
    }

    fn absorb(&mut self, other: NameWeek) {
        for (bin, (count, rows)) in other.bins {
            add_counts(self.bins.entry(bin).or_default(), count, rows);
        }
        self.prompted += other.prompted;
        self.prompts.extend(other.prompts);
        for (key, session) in other.sessions {
            add_session(&mut self.sessions, key, session);
        }
        self.rows += other.rows;
        self.rows_on_the_hour += other.rows_on_the_hour;
    }

    fn into_week(mut self, agent: String, snapshot: Snapshot) -> BehaviorWeek {
        let anchor_bin = snapshot.anchor_seconds().div_euclid(BIN_SECONDS);
        let bins_per_week = WEEK_SECONDS / BIN_SECONDS;
        let bins_per_hour = 3_600 / BIN_SECONDS;
        let mut week = BehaviorWeek::new(agent, self.week);
        // Hour → requests and rows, to tell buckets from single requests. Sums saturate: a
        // bucketed export can claim any count, and its cadence is not judged anyway.
        let mut by_hour: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
        for (bin, (count, bin_rows)) in &self.bins {
            // In 0..168: rem_euclid is non-negative and below the bins of a week.
            let hour = ((bin - anchor_bin).rem_euclid(bins_per_week) / bins_per_hour) as u8;
            add_counts(by_hour.entry(hour).or_default(), *count, *bin_rows);
            week.bins += 1;
            week.bin_requests = week.bin_requests.saturating_add(*count);
            week.bin_squares = week
                .bin_squares
                .saturating_add(count.saturating_mul(*count));
        }
        for (hour, (count, bin_rows)) in by_hour {
            week.hours.insert(hour, count);
            week.bucketed |= count > bin_rows;
        }
        self.compact();
        week.prompted = self.prompted;
        week.distinct_prompts = self.prompts.len() as u64;
        let mut starts: Map<i64, u64> = Map::default();
        for session in self.sessions.values() {
            *starts
                .entry(session.first.div_euclid(START_WINDOW_SECONDS))
                .or_default() += 1;
            week.session_rows += session.rows;
            if session.last - session.first > LABEL_SPAN_SECONDS {
                week.long_session_rows += session.rows;
            }
            week.single_row_sessions += u64::from(session.rows == 1);
        }
        week.sessions = self.sessions.len() as u64;
        week.max_simultaneous_starts = starts.values().copied().max().unwrap_or(0);
        week.rows = self.rows;
        week.rows_on_the_hour = self.rows_on_the_hour;
        week
    }
}

/// Adds requests and rows to a bin's or an hour's sums. Requests saturate: a bucketed export
/// can claim any count.
fn add_counts(sums: &mut (u64, u64), requests: u64, rows: u64) {
    sums.0 = sums.0.saturating_add(requests);
    sums.1 += rows;
}

/// Adds what is known of one session to an agent-week's sessions.
fn add_session(sessions: &mut Map<u64, Session>, key: u64, session: Session) {
    sessions
        .entry(key)
        .and_modify(|known| known.merge(session))
        .or_insert(session);
}

/// The running state of the fold.
#[derive(Debug, Default)]
struct Accumulator {
    /// Agent-week key → its slot in `weeks`.
    index: Map<u64, usize>,
    weeks: Vec<NameWeek>,
    /// The last agent-week looked up: logs tend to come in runs of one agent.
    last: Option<(u64, usize)>,
}

impl Accumulator {
    /// Adds one batch of [`narrow`] rows. The first pass's checks have rejected rows without a
    /// timestamp or an agent and filled missing request counts with 1, so the `None` arms below
    /// are for library callers only.
    fn add(&mut self, batch: &DataFrame) -> PolarsResult<()> {
        let agent_weeks = batch.column(AGENT_WEEK)?.u64()?;
        let requests = batch.column(schema::REQUESTS)?.u64()?;
        let seconds = batch.column(SECONDS)?.i64()?;
        let prompts = batch.column(PROMPT_KEY)?.u64()?;
        let sessions = batch.column(SESSION_KEY)?.u64()?;
        let names = batch.column(schema::AGENT)?.str()?;
        let week_days = batch.column(WEEK)?.i32()?;
        let rows = agent_weeks
            .iter()
            .zip(requests.iter())
            .zip(seconds.iter())
            .zip(prompts.iter().zip(sessions.iter()));
        for (row, (((agent_week, requests), second), (prompt, session))) in rows.enumerate() {
            let agent_week = agent_week.unwrap_or(0);
            let slot = match self.last {
                Some((key, slot)) if key == agent_week => slot,
                _ => {
                    let next = self.weeks.len();
                    let slot = *self.index.entry(agent_week).or_insert(next);
                    if slot == next {
                        self.weeks.push(NameWeek::new(
                            names.get(row).unwrap_or_default().to_string(),
                            week_days.get(row).unwrap_or(0),
                        ));
                    }
                    self.last = Some((agent_week, slot));
                    slot
                }
            };
            let week = &mut self.weeks[slot];
            if let Some(prompt) = prompt {
                week.prompted += 1;
                week.prompts.push(prompt);
                if week.prompts.len() - week.sorted >= COMPACT_AT.max(week.sorted) {
                    week.compact();
                }
            }
            let Some(second) = second else { continue };
            let bin = week.bins.entry(second.div_euclid(BIN_SECONDS)).or_default();
            add_counts(bin, requests.unwrap_or(0), 1);
            week.rows += 1;
            week.rows_on_the_hour += u64::from(second.rem_euclid(3_600) == 0);
            if let Some(session) = session {
                add_session(&mut week.sessions, session, Session::at(second));
            }
        }
        Ok(())
    }

    /// The agent-weeks, under their canonical names, sorted by agent then week. Names the logs
    /// spell differently for one agent are merged here, once per name rather than once per row.
    fn finish(self, canonical: impl Fn(&str) -> String, snapshot: Snapshot) -> Vec<BehaviorWeek> {
        let mut names: Map<String, String> = Map::default();
        let mut merged: BTreeMap<(String, i32), NameWeek> = BTreeMap::new();
        for week in self.weeks {
            let agent = names
                .entry(week.name.clone())
                .or_insert_with(|| canonical(&week.name))
                .clone();
            match merged.entry((agent, week.week)) {
                Entry::Vacant(slot) => {
                    slot.insert(week);
                }
                Entry::Occupied(mut slot) => slot.get_mut().absorb(week),
            }
        }
        merged
            .into_iter()
            .map(|((agent, _), week)| week.into_week(agent, snapshot))
            .collect()
    }
}

/// The behaviour features of one run: filled batch by batch while the plan from [`plan`]
/// streams, read once it has run. The sink calls back one batch at a time; the mutex is there
/// because a callback must be `Sync`, not for contention.
#[derive(Debug)]
pub struct Collector {
    state: Arc<Mutex<Accumulator>>,
    snapshot: Snapshot,
}

impl Collector {
    /// The agent-weeks the plan streamed through, each name mapped by `canonical` (the
    /// identity map), sorted by agent then week. Weeks outside the calendar window are dropped
    /// by the caller's filter on the usage rows. Call it once the plan has been collected: a
    /// plan that failed never gets here (its error ends the run).
    pub fn finish(self, canonical: impl Fn(&str) -> String) -> Vec<BehaviorWeek> {
        let state = std::mem::take(&mut *self.state.lock().expect("the behaviour fold panicked"));
        state.finish(canonical, self.snapshot)
    }
}

/// The behaviour plan: `usage` (agent names as the logs give them, on the calendar) reduced to
/// integer keys in the lazy plan, then streamed into a fold in Rust, batch by batch, through a
/// callback sink. Collect the plan (alone or with others), then call [`Collector::finish`].
///
/// The fold replaced three streaming group-bys (10-minute bins, prompts, session starts) and
/// the identity join on every row: per row, one lookup of the agent-week (mostly the last
/// one) and updates to its own small maps, where a group-by hashes into one table over every
/// row (BENCHMARKS.md). Memory is an entry per active 10-minute bin and session and about one
/// per distinct prompt (at most twice the distinct prompts, plus 256, per agent-week).
pub fn plan(usage: LazyFrame, snapshot: Snapshot) -> PolarsResult<(LazyFrame, Collector)> {
    let collector = Collector {
        state: Default::default(),
        snapshot,
    };
    let state = collector.state.clone();
    let sink = narrow(usage).sink_batches(
        PlanCallback::new(move |batch: DataFrame| {
            let mut state = state.lock().expect("the behaviour fold panicked");
            state.add(&batch)?;
            Ok(false)
        }),
        false,
        None,
    )?;
    Ok((sink, collector))
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
        let (plan, collector) = plan(frame.lazy(), snapshot).unwrap();
        plan.collect().unwrap();
        let weeks = collector.finish(str::to_string);
        assert_eq!(weeks.len(), 1);
        let week = &weeks[0];
        assert_eq!(week.hours.get(&167), Some(&2));
        assert_eq!(week.hours.get(&24), Some(&1));
        assert_eq!((week.bins, week.bin_requests, week.bin_squares), (2, 3, 5));
        assert_eq!((week.prompted, week.distinct_prompts), (2, 1));
        assert_eq!((week.sessions, week.max_simultaneous_starts), (3, 2));
        assert_eq!((week.session_rows, week.single_row_sessions), (3, 3));
        assert_eq!((week.long_session_rows, week.rows_on_the_hour), (0, 0));
        assert!(!week.bucketed);
    }

    #[test]
    fn a_session_id_reused_for_days_is_told_from_a_run_of_work() {
        // "lbl" is reused from Friday afternoon to Sunday evening (a gateway's label), "run"
        // is a morning's work; one row sits exactly on the hour.
        let day = 86_400;
        let mut frame = rows(
            &["a"; 5],
            &[5, 60, day + 7, 2 * day + 7_200, 300],
            &[None; 5],
        );
        frame
            .with_column(Column::new(
                schema::SESSION_ID.into(),
                ["lbl", "run", "lbl", "lbl", "run"],
            ))
            .unwrap();
        let weeks = folded(frame, str::to_string);
        let week = &weeks[0];
        assert_eq!(week.sessions, 2);
        assert_eq!((week.session_rows, week.long_session_rows), (5, 3));
        assert_eq!(week.single_row_sessions, 0);
        assert_eq!((week.rows, week.rows_on_the_hour), (5, 1));
    }

    /// Usage rows at `seconds` after 2026-09-18T16:00:00Z, all in week 0.
    fn rows(agents: &[&str], seconds: &[i64], prompts: &[Option<&str>]) -> DataFrame {
        let friday = 1_789_747_200i64;
        let ts = Series::new(
            schema::TS.into(),
            seconds
                .iter()
                .map(|s| (friday + s) * 1_000_000)
                .collect::<Vec<_>>(),
        )
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))
        .unwrap();
        let n = agents.len();
        DataFrame::new_infer_height(vec![
            Column::from(ts),
            Column::new(schema::AGENT.into(), agents),
            Column::new(WEEK.into(), vec![0i32; n]),
            Column::new(schema::REQUESTS.into(), vec![1u64; n]),
            Column::new(schema::PROMPT_HASH.into(), prompts),
            Column::new(
                schema::SESSION_ID.into(),
                (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>(),
            ),
        ])
        .unwrap()
    }

    fn folded(frame: DataFrame, canonical: impl Fn(&str) -> String) -> Vec<BehaviorWeek> {
        let snapshot = Snapshot::parse("fri 17:00", 12).unwrap();
        let (plan, collector) = plan(frame.lazy(), snapshot).unwrap();
        plan.collect().unwrap();
        collector.finish(canonical)
    }

    #[test]
    fn two_names_of_one_agent_are_one_agent_week_counted_exactly() {
        // "Dana" and "dana@corp" are one agent. Their requests share a 10-minute bin, which
        // counts 2 (squares 4, not 1 + 1), and one prompt, which counts once.
        let frame = rows(
            &["Dana", "dana@corp", "dana@corp"],
            &[60, 120, 7_200],
            &[Some("p"), Some("p"), Some("q")],
        );
        let weeks = folded(frame, |name| {
            if name.starts_with("dana") || name == "Dana" {
                "dana".to_string()
            } else {
                name.to_string()
            }
        });
        assert_eq!(weeks.len(), 1);
        let week = &weeks[0];
        assert_eq!(week.agent, "dana");
        assert_eq!((week.bins, week.bin_requests, week.bin_squares), (2, 3, 5));
        assert_eq!((week.prompted, week.distinct_prompts), (3, 2));
        assert_eq!((week.sessions, week.max_simultaneous_starts), (3, 2));
    }

    #[test]
    fn interleaved_rows_fold_as_sorted_ones_do() {
        // 10,000 requests of two agents, 9,000 distinct prompts each: past the point where the
        // fold compacts its prompt keys, and in both orders.
        let n = 10_000usize;
        let mut agents = Vec::new();
        let mut seconds = Vec::new();
        let mut prompts = Vec::new();
        for i in 0..n {
            for agent in ["a", "b"] {
                agents.push(agent);
                seconds.push((i as i64 * 37) % 200_000);
                prompts.push(format!("{agent}{}", i % 9_000));
            }
        }
        let prompt_refs: Vec<Option<&str>> = prompts.iter().map(|p| Some(p.as_str())).collect();
        let interleaved = folded(rows(&agents, &seconds, &prompt_refs), str::to_string);
        let order: Vec<usize> = (0..2 * n).step_by(2).chain((1..2 * n).step_by(2)).collect();
        let sorted = folded(
            rows(
                &order.iter().map(|i| agents[*i]).collect::<Vec<_>>(),
                &order.iter().map(|i| seconds[*i]).collect::<Vec<_>>(),
                &order.iter().map(|i| prompt_refs[*i]).collect::<Vec<_>>(),
            ),
            str::to_string,
        );
        assert_eq!(interleaved, sorted);
        assert_eq!(interleaved.len(), 2);
        for week in &interleaved {
            assert_eq!((week.prompted, week.distinct_prompts), (n as u64, 9_000));
            assert_eq!(week.requests(), n as u64);
        }
    }

    #[test]
    fn batches_fold_as_one_frame_does() {
        // The sink hands the fold many batches, and the last agent-week and the unsorted
        // prompt keys carry over from one to the next.
        let n = 3_000usize;
        let agents: Vec<&str> = (0..n).map(|i| ["a", "b"][(i / 7) % 2]).collect();
        let seconds: Vec<i64> = (0..n).map(|i| i as i64 * 53).collect();
        let prompts: Vec<String> = (0..n).map(|i| format!("p{}", i % 700)).collect();
        let prompt_refs: Vec<Option<&str>> = prompts.iter().map(|p| Some(p.as_str())).collect();
        let narrowed = narrow(rows(&agents, &seconds, &prompt_refs).lazy())
            .collect()
            .unwrap();
        let snapshot = Snapshot::parse("fri 17:00", 12).unwrap();
        let mut whole = Accumulator::default();
        whole.add(&narrowed).unwrap();
        let mut batched = Accumulator::default();
        let mut offset = 0;
        for size in [1, 6, 250, 1_000, 1_743] {
            batched.add(&narrowed.slice(offset, size)).unwrap();
            offset += size as i64;
        }
        assert_eq!(offset as usize, n);
        let whole = whole.finish(str::to_string, snapshot);
        assert_eq!(whole, batched.finish(str::to_string, snapshot));
        assert_eq!(whole.len(), 2);
        // Blocks of seven rows alternate between the agents, and a prompt returns every 700
        // rows (a hundred blocks), always to the same agent.
        for (week, agent) in whole.iter().zip(["a", "b"]) {
            let rows = agents.iter().filter(|a| **a == agent).count() as u64;
            assert_eq!((week.prompted, week.distinct_prompts), (rows, 350));
        }
    }
}
