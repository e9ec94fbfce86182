//! Behaviour features: request-level fingerprints reduced to small aggregates per agent-week.
//!
//! The usage fold ([`super::fold`]) keeps, per agent-week, an [`Activity`]: its active
//! 10-minute bins and sessions, and counts of its prompts. It ends in one [`BehaviorWeek`] per
//! agent-week:
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

use std::collections::BTreeMap;

use crate::normalize::pricing::Tokens;

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

type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// One session's extent within an agent-week.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    first: i64,
    last: i64,
    rows: u64,
    /// Tokens of its requests (duplicates once), for the root causes.
    tokens: Tokens,
}

/// How many of an agent-week's sessions the stats name (the largest by tokens); the rest are
/// one remainder in the root causes.
pub const TOP_SESSIONS: usize = 5;

/// What the fold has seen of one agent-week's requests: everything the fingerprints need, in
/// maps bounded by the week (at most 1,008 bins) and its sessions. Distinct prompts are
/// counted by the fold's spill and filled in before [`Activity::into_week`].
#[derive(Debug, Default)]
pub struct Activity {
    /// 10-minute bin → (requests, rows).
    bins: Map<i64, (u64, u64)>,
    /// Rows with a prompt hash, and the distinct hashes among them.
    pub prompted: u64,
    pub distinct_prompts: u64,
    /// Session key → its first and last second and its rows.
    pub sessions: Map<u64, Session>,
    /// Rows with a timestamp, and those exactly on the hour.
    pub rows: u64,
    rows_on_the_hour: u64,
    /// The sessions with the most tokens so far (at most [`TOP_SESSIONS`]), as (tokens, key).
    leaders: Vec<(u64, u64)>,
    /// The ids of every session that had at least as many tokens as the smallest leader when
    /// its tokens last grew: the final leaders are among them (a session's tokens only grow,
    /// and so does the smallest leader's), so their names are kept without keeping all.
    names: Map<u64, String>,
}

/// Adds requests and rows to a bin's or an hour's sums. Requests saturate: a bucketed export
/// can claim any count.
fn add_counts(sums: &mut (u64, u64), requests: u64, rows: u64) {
    sums.0 = sums.0.saturating_add(requests);
    sums.1 += rows;
}

impl Activity {
    /// One row at `second` standing for `requests` requests, in `session` if it names one.
    pub fn add(&mut self, second: i64, requests: u64, session: Option<u64>) {
        let bin = self.bins.entry(second.div_euclid(BIN_SECONDS)).or_default();
        add_counts(bin, requests, 1);
        self.rows += 1;
        self.rows_on_the_hour += u64::from(second.rem_euclid(3_600) == 0);
        if let Some(key) = session {
            self.sessions
                .entry(key)
                .and_modify(|known| {
                    known.first = known.first.min(second);
                    known.last = known.last.max(second);
                    known.rows += 1;
                })
                .or_insert(Session {
                    first: second,
                    last: second,
                    rows: 1,
                    tokens: Tokens::default(),
                });
        }
    }

    /// Credits `tokens` to the session `key` met in [`Activity::add`]; `name` gives its id
    /// when it has to be kept.
    pub fn credit(&mut self, key: u64, tokens: &Tokens, name: impl FnOnce() -> String) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        session.tokens.add(tokens);
        let total = session.tokens.total();
        match self.leaders.iter().position(|(_, k)| *k == key) {
            Some(at) => self.leaders[at].0 = total,
            None if self.leaders.len() < TOP_SESSIONS => self.leaders.push((total, key)),
            None => {
                let (smallest, at) = self
                    .leaders
                    .iter()
                    .enumerate()
                    .map(|(at, (t, _))| (*t, at))
                    .min()
                    .expect("full");
                if total < smallest {
                    return;
                }
                if total > smallest {
                    self.leaders[at] = (total, key);
                }
            }
        }
        self.names.entry(key).or_insert_with(name);
    }

    /// Keeps the id of session `key` whatever its tokens: its tokens grow after the rows are
    /// read (a duplicated request, counted once at the end).
    pub fn name(&mut self, key: u64, name: impl FnOnce() -> String) {
        self.names.entry(key).or_insert_with(name);
    }

    /// The id of session `key`, when it was kept.
    pub fn session_name(&self, key: u64) -> Option<&str> {
        self.names.get(&key).map(String::as_str)
    }

    /// Adds tokens to a session after the rows are read, without tracking leaders (its name is
    /// kept by [`Activity::name`]).
    pub fn credit_late(&mut self, key: u64, tokens: &Tokens) {
        if let Some(session) = self.sessions.get_mut(&key) {
            session.tokens.add(tokens);
        }
    }

    /// The week's [`TOP_SESSIONS`] largest sessions by tokens (ties by id), as (id, tokens,
    /// rows).
    pub fn top_sessions(&self) -> Vec<(String, Tokens, u64)> {
        let mut named: Vec<(String, Tokens, u64)> = self
            .names
            .iter()
            .filter_map(|(key, name)| {
                let s = self.sessions.get(key)?;
                Some((name.clone(), s.tokens, s.rows))
            })
            .collect();
        named.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then_with(|| a.0.cmp(&b.0)));
        named.truncate(TOP_SESSIONS);
        named
    }

    /// The agent-week's fingerprints, hours counted from `snapshot`.
    pub fn into_week(self, agent: String, week_day: i32, snapshot: Snapshot) -> BehaviorWeek {
        let anchor_bin = snapshot.anchor_seconds().div_euclid(BIN_SECONDS);
        let bins_per_week = WEEK_SECONDS / BIN_SECONDS;
        let bins_per_hour = 3_600 / BIN_SECONDS;
        let mut week = BehaviorWeek::new(agent, week_day);
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
        week.prompted = self.prompted;
        week.distinct_prompts = self.distinct_prompts;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::fold::tests::fold_frame;
    use crate::normalize::identities::IdentityMap;
    use crate::schema;
    use polars::prelude::*;

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
        let ts = crate::features::fold::tests::utc_times(&[
            friday + 300,
            friday + 310,
            friday + 25 * 3_600 + 1_800,
        ]);
        let frame = DataFrame::new_infer_height(vec![
            Column::from(ts),
            Column::new(schema::AGENT.into(), ["a", "a", "a"]),
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
        let weeks = fold_frame(frame, &IdentityMap::default(), snapshot, usize::MAX).behavior;
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
        let weeks = folded(frame, &IdentityMap::default());
        let week = &weeks[0];
        assert_eq!(week.sessions, 2);
        assert_eq!((week.session_rows, week.long_session_rows), (5, 3));
        assert_eq!(week.single_row_sessions, 0);
        assert_eq!((week.rows, week.rows_on_the_hour), (5, 1));
    }

    /// Usage rows at `seconds` after 2026-09-18T16:00:00Z, all in week 0.
    fn rows(agents: &[&str], seconds: &[i64], prompts: &[Option<&str>]) -> DataFrame {
        let friday = 1_789_747_200i64;
        let seconds: Vec<i64> = seconds.iter().map(|s| friday + s).collect();
        let ts = crate::features::fold::tests::utc_times(&seconds);
        let n = agents.len();
        DataFrame::new_infer_height(vec![
            Column::from(ts),
            Column::new(schema::AGENT.into(), agents),
            Column::new(schema::REQUESTS.into(), vec![1u64; n]),
            Column::new(schema::PROMPT_HASH.into(), prompts),
            Column::new(
                schema::SESSION_ID.into(),
                (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>(),
            ),
        ])
        .unwrap()
    }

    fn folded(frame: DataFrame, identities: &IdentityMap) -> Vec<BehaviorWeek> {
        let snapshot = Snapshot::parse("fri 17:00", 12).unwrap();
        fold_frame(frame, identities, snapshot, usize::MAX).behavior
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
        let identities = IdentityMap::for_tests(&[("Dana", "dana"), ("dana@corp", "dana")]);
        let weeks = folded(frame, &identities);
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
        let interleaved = folded(
            rows(&agents, &seconds, &prompt_refs),
            &IdentityMap::default(),
        );
        let order: Vec<usize> = (0..2 * n).step_by(2).chain((1..2 * n).step_by(2)).collect();
        let sorted = folded(
            rows(
                &order.iter().map(|i| agents[*i]).collect::<Vec<_>>(),
                &order.iter().map(|i| seconds[*i]).collect::<Vec<_>>(),
                &order.iter().map(|i| prompt_refs[*i]).collect::<Vec<_>>(),
            ),
            &IdentityMap::default(),
        );
        assert_eq!(interleaved, sorted);
        assert_eq!(interleaved.len(), 2);
        for week in &interleaved {
            assert_eq!((week.prompted, week.distinct_prompts), (n as u64, 9_000));
            assert_eq!(week.requests(), n as u64);
        }
    }
}
