//! The usage fold: every valid usage row, reduced in one streaming pass to the stats contract's
//! usage parts (day-grain sums, weekly sessions, behaviour fingerprints).
//!
//! The lazy plan ([`narrow`]) reduces each row to integers: a hash of its group (agent name as
//! the logs give it, local day, model, tier, team), the duplicate mark, the token counts, the
//! billed micro-dollars, the second, and u64 hashes of the prompt and the session. A callback
//! sink hands those rows, batch by batch, to [`Fold`], which reads a group's strings only the
//! first time it meets it, maps the name through the identity map then, and from there on
//! updates integers:
//! - **day usage** per (agent, local day, model, tier): sums of tokens, requests, trivial turns,
//!   unpriced tokens and billed cost. A request seen more than once (its id hash is in the
//!   duplicates from the first pass) counts once, at the largest counts of its copies, in the
//!   day group of its earliest copy, even when its copies fall on several days (streamed chunks
//!   straddle midnight); every other row is summed.
//! - **agent-week activity** ([`super::behavior::Activity`]): 10-minute bins, sessions, prompt
//!   counts, timestamps on the hour. Duplicates are not collapsed here: fingerprints count what
//!   the logs show.
//!
//! Distinct prompts go to a [`Spill`], so that memory is bounded by the agent-weeks (bins and
//! sessions) and the spill's budget, not by the requests. Rows outside `--since/--until` are
//! counted and otherwise left out. Every sum is an integer and every choice (the smallest team,
//! the largest kind) is independent of row order, so shuffled input gives the same stats.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::behavior::{Activity, BehaviorWeek, Snapshot};
use super::spill::Spill;
use super::{
    DayUsage, WeekPart, WeekSessions, PART_DIMENSIONS, SESSION_DIMENSION, TRIVIAL_OUTPUT_TOKENS,
};
use crate::normalize::calendar::{Calendar, DAY};
use crate::normalize::dedup::request_key;
use crate::normalize::identities::{AgentKind, IdentityMap};
use crate::normalize::pricing::Tokens;
use crate::schema;

type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

const GROUP: &str = "_group";
const REQUEST_KEY: &str = "_request_key";
const BILLED: &str = "_billed_micro";
const SECONDS: &str = "_seconds";
const PROMPT_KEY: &str = "_prompt_key";
const SESSION_KEY: &str = "_session_key";
const TOOL_KEY: &str = "_tool_key";
const REPO_KEY: &str = "_repo_key";

/// The canonical usage columns the fold reads.
pub const COLUMNS: [&str; 16] = [
    schema::TS,
    schema::AGENT,
    schema::MODEL,
    schema::TIER,
    schema::TEAM,
    schema::INPUT_TOKENS,
    schema::OUTPUT_TOKENS,
    schema::CACHE_READ_TOKENS,
    schema::CACHE_WRITE_TOKENS,
    schema::REQUESTS,
    schema::COST_USD,
    schema::SESSION_ID,
    schema::PROMPT_HASH,
    schema::REQUEST_ID,
    schema::TOOL,
    schema::REPO,
];

const SESSION_SEEDS: [u64; 4] = [0x5e55, 0x10, 0x4b, 0x1d];
const PROMPT_SEEDS: [u64; 4] = [0x9e37, 0x79b9, 0x7f4a, 0x7c15];
const GROUP_SEEDS: [u64; 4] = [0x6a09, 0xe667, 0xbb67, 0xae85];
const PART_SEEDS: [u64; 4] = [0x3c6e, 0xf372, 0xa54f, 0xf53a];

/// The hash of a text column, null where the column is null.
fn keyed(column: &str, seeds: [u64; 4]) -> Expr {
    when(col(column).is_not_null())
        .then(col(column).hash(seeds[0], seeds[1], seeds[2], seeds[3]))
        .otherwise(lit(NULL).cast(DataType::UInt64))
}

/// One integer row per usage row. `usage` has [`COLUMNS`] and [`DAY`]; `request_keys` says
/// whether to hash the request ids (only needed when some id was seen more than once).
///
/// The membership test against the duplicated ids is the fold's, in Rust: polars plans an
/// `is_in` as a node of its own whose result is zipped back to the other columns, and the
/// buffer in front of that zip grew with the input (42 bytes a request, 8 GB at 259M).
///
/// Keys are compared only within their scope (a group, an agent-week, a day), so two are merged
/// by a hash collision with a chance of about n² / 2⁶⁵ for n keys in one scope: 10⁻¹³ for the
/// 2,000 prompts of an agent-week.
pub fn narrow(usage: LazyFrame, request_keys: bool) -> LazyFrame {
    let group = as_struct(vec![
        col(schema::AGENT),
        col(DAY),
        col(schema::MODEL),
        col(schema::TIER),
        col(schema::TEAM),
    ])
    .hash(
        GROUP_SEEDS[0],
        GROUP_SEEDS[1],
        GROUP_SEEDS[2],
        GROUP_SEEDS[3],
    );
    let request = if request_keys {
        request_key(col(schema::REQUEST_ID))
    } else {
        lit(NULL).cast(DataType::UInt64)
    };
    let mut columns = vec![
        group.alias(GROUP),
        col(schema::AGENT),
        col(schema::MODEL),
        col(schema::TIER),
        col(schema::TEAM),
        col(DAY).cast(DataType::Int32),
        request.alias(REQUEST_KEY),
        col(schema::REQUESTS).cast(DataType::UInt64),
        (col(schema::COST_USD) * lit(1e6))
            .round(0, RoundMode::HalfAwayFromZero)
            .cast(DataType::Int64)
            .alias(BILLED),
        col(schema::TS)
            .cast(DataType::Int64)
            .floor_div(lit(1_000_000i64))
            .alias(SECONDS),
        keyed(schema::PROMPT_HASH, PROMPT_SEEDS).alias(PROMPT_KEY),
        keyed(schema::SESSION_ID, SESSION_SEEDS).alias(SESSION_KEY),
        keyed(schema::TOOL, PART_SEEDS).alias(TOOL_KEY),
        keyed(schema::REPO, PART_SEEDS).alias(REPO_KEY),
        col(schema::TOOL),
        col(schema::REPO),
        col(schema::SESSION_ID),
    ];
    for class in schema::TOKEN_CLASSES {
        columns.push(col(class).cast(DataType::UInt64));
    }
    usage.select(columns)
}

/// A row's tool and repository keys (see [`super::PART_DIMENSIONS`]).
type PartKeys = [Option<u64>; 2];

/// A session by its week slot and key.
type WeekSession = (u32, u64);

/// The copies of one duplicated request, wherever they fall: they count once, at the largest
/// counts of any copy, under the smallest tool and repository names, in the day group and
/// session of the earliest copy (ties: the smallest agent, day, model, tier, then session, a
/// copy without one last). Streamed chunks of one message straddle midnight, and a request
/// must not count twice because its copies fall on two days.
#[derive(Debug, Clone, Copy)]
struct Duplicate {
    counted: Counted,
    parts: PartKeys,
    first: Sighting,
    /// Copies met so far: at the count the first pass found, the request is settled and its
    /// entry dropped (streamed chunks follow each other, so entries live briefly).
    seen: u32,
}

/// Where one copy of a request fell.
#[derive(Debug, Clone, Copy)]
struct Sighting {
    second: i64,
    slot: Slot,
    session: Option<WeekSession>,
}

/// What orders and merges the copies of a request: the names behind their keys.
struct CopiesOf<'a> {
    part_names: &'a Map<(u8, u64), String>,
    weeks: &'a [(String, i32, Activity)],
    days: &'a [DayUsage],
}

impl CopiesOf<'_> {
    /// The order of copies: time, then the day group's names, then the session's name (none
    /// last).
    #[allow(clippy::type_complexity)]
    fn order<'s>(
        &'s self,
        c: &Sighting,
    ) -> (i64, &'s str, i32, &'s str, &'s str, bool, Option<&'s str>) {
        let day = &self.days[c.slot.day as usize];
        let session = c
            .session
            .map(|(week, key)| self.weeks[week as usize].2.session_name(key));
        (
            c.second,
            &day.agent,
            day.day,
            &day.model,
            &day.tier,
            session.is_none(),
            session.flatten(),
        )
    }

    /// Adds `other`'s copies to `known`: the largest counts, the smallest tool and repository
    /// names (the same rule as the SQL of `tokenaudit sql`), the earliest sighting.
    fn merge(&self, known: &mut Duplicate, other: &Duplicate) {
        known.counted.max(&other.counted);
        for (dimension, (k, new)) in known.parts.iter_mut().zip(other.parts).enumerate() {
            *k = smallest(*k, new, |key| {
                self.part_names
                    .get(&(dimension as u8, key))
                    .map(String::as_str)
            });
        }
        if self.order(&other.first) < self.order(&known.first) {
            known.first = other.first;
        }
        known.seen += other.seen;
    }
}

/// Bytes a request waiting for copies takes in memory, about: its entry in the map, with the
/// map's room to grow.
pub const DUPLICATE_BYTES: usize = 2 * std::mem::size_of::<(u64, Duplicate)>();

/// Requests waiting for copies held in memory at most, unless the caller sets another number
/// (the rows budget's worth).
const DUPLICATES_IN_MEMORY: usize = crate::ingest::held::DEFAULT_BYTES_IN_MEMORY / DUPLICATE_BYTES;

/// Bytes of a [`Packed`] duplicate.
const PACKED: usize = 181;

/// A request waiting for copies, as written to disk: its key first, big-endian, so that the
/// bytes sort by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Packed([u8; PACKED]);

impl Packed {
    fn of(key: u64, d: &Duplicate) -> Packed {
        let mut out = Vec::with_capacity(PACKED);
        out.extend_from_slice(&key.to_be_bytes());
        let c = &d.counted;
        for tokens in [&c.tokens, &c.trivial, &c.unbilled] {
            for n in [
                tokens.input,
                tokens.output,
                tokens.cache_read,
                tokens.cache_write,
            ] {
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
        let optional = |out: &mut Vec<u8>, value: Option<u64>| {
            out.push(u8::from(value.is_some()));
            out.extend_from_slice(&value.unwrap_or(0).to_le_bytes());
        };
        optional(&mut out, c.billed_micro.map(|b| b as u64));
        out.extend_from_slice(&c.requests.to_le_bytes());
        out.extend_from_slice(&c.trivial_requests.to_le_bytes());
        optional(&mut out, d.parts[0]);
        optional(&mut out, d.parts[1]);
        let first = &d.first;
        out.extend_from_slice(&first.second.to_le_bytes());
        out.extend_from_slice(&first.slot.day.to_le_bytes());
        out.extend_from_slice(&first.slot.week.to_le_bytes());
        out.push(u8::from(first.slot.in_window));
        out.extend_from_slice(&first.session.map_or(0, |s| s.0).to_le_bytes());
        optional(&mut out, first.session.map(|s| s.1));
        out.extend_from_slice(&d.seen.to_le_bytes());
        Packed(out.try_into().expect("a packed duplicate's size"))
    }

    fn key(&self) -> u64 {
        u64::from_be_bytes(self.0[..8].try_into().expect("8 bytes"))
    }

    fn duplicate(&self) -> Duplicate {
        let mut r = Reader {
            bytes: &self.0,
            at: 8,
        };
        let counted = Counted {
            tokens: r.tokens(),
            trivial: r.tokens(),
            unbilled: r.tokens(),
            billed_micro: r.optional().map(|b| b as i64),
            requests: r.u64(),
            trivial_requests: r.u64(),
        };
        let parts = [r.optional(), r.optional()];
        let second = r.u64() as i64;
        let slot = Slot {
            day: r.u32(),
            week: r.u32(),
            in_window: r.flag(),
        };
        let session_week = r.u32();
        let session = r.optional().map(|key| (session_week, key));
        Duplicate {
            counted,
            parts,
            first: Sighting {
                second,
                slot,
                session,
            },
            seen: r.u32(),
        }
    }
}

/// Reads a [`Packed`] duplicate's fields in the order [`Packed::of`] wrote them.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let bytes = self.bytes[self.at..self.at + N]
            .try_into()
            .expect("a field within the record");
        self.at += N;
        bytes
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn flag(&mut self) -> bool {
        self.take::<1>()[0] == 1
    }
    fn optional(&mut self) -> Option<u64> {
        let present = self.flag();
        let value = self.u64();
        present.then_some(value)
    }
    fn tokens(&mut self) -> Tokens {
        Tokens {
            input: self.u64(),
            output: self.u64(),
            cache_read: self.u64(),
            cache_write: self.u64(),
        }
    }
}

impl super::spill::Key for Packed {
    const BYTES: usize = PACKED;
    fn partition(&self) -> usize {
        self.0[0] as usize % super::spill::PARTITIONS
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn read(bytes: &[u8]) -> Packed {
        Packed(bytes.try_into().expect("a packed duplicate"))
    }
}

/// What one row of a duplicated request adds, kept at the largest of its copies.
#[derive(Debug, Clone, Copy, Default)]
struct Counted {
    tokens: Tokens,
    trivial: Tokens,
    unbilled: Tokens,
    billed_micro: Option<i64>,
    requests: u64,
    trivial_requests: u64,
}

impl Counted {
    fn of(tokens: Tokens, requests: u64, billed_micro: Option<i64>) -> Counted {
        let trivial = tokens.output <= requests * TRIVIAL_OUTPUT_TOKENS;
        Counted {
            tokens,
            trivial: if trivial { tokens } else { Tokens::default() },
            unbilled: if billed_micro.is_none() {
                tokens
            } else {
                Tokens::default()
            },
            billed_micro,
            requests,
            trivial_requests: if trivial { requests } else { 0 },
        }
    }

    fn max(&mut self, other: &Counted) {
        let max = |a: &mut Tokens, b: &Tokens| {
            a.input = a.input.max(b.input);
            a.output = a.output.max(b.output);
            a.cache_read = a.cache_read.max(b.cache_read);
            a.cache_write = a.cache_write.max(b.cache_write);
        };
        max(&mut self.tokens, &other.tokens);
        max(&mut self.trivial, &other.trivial);
        max(&mut self.unbilled, &other.unbilled);
        self.billed_micro = match (self.billed_micro, other.billed_micro) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.requests = self.requests.max(other.requests);
        self.trivial_requests = self.trivial_requests.max(other.trivial_requests);
    }

    fn plus(&mut self, other: &Counted) {
        self.tokens.add(&other.tokens);
        self.trivial.add(&other.trivial);
        self.unbilled.add(&other.unbilled);
        self.billed_micro = match (self.billed_micro, other.billed_micro) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self.requests += other.requests;
        self.trivial_requests += other.trivial_requests;
    }

    fn add_to(&self, day: &mut DayUsage) {
        day.tokens.add(&self.tokens);
        day.trivial.add(&self.trivial);
        day.unbilled.add(&self.unbilled);
        day.billed_micro += self.billed_micro.unwrap_or(0);
        day.requests += self.requests;
        day.trivial_requests += self.trivial_requests;
    }
}

/// Where a raw group's rows go.
#[derive(Debug, Clone, Copy)]
struct Slot {
    day: u32,
    week: u32,
    in_window: bool,
}

/// The usage stats of one run, and the accounting of the rows behind them.
#[derive(Debug, Default)]
pub struct Folded {
    pub days: Vec<DayUsage>,
    pub sessions: Vec<WeekSessions>,
    pub behavior: Vec<BehaviorWeek>,
    pub parts: Vec<WeekPart>,
    /// Valid usage rows once duplicates are collapsed, window or not.
    pub rows_deduplicated: u64,
    /// Of those, the rows outside `--since/--until`.
    pub rows_outside_window: u64,
    /// Prompt keys written to disk because they did not fit the budget.
    pub keys_spilled: u64,
}

/// The running state of the fold.
#[derive(Debug)]
pub struct Fold {
    calendar: Calendar,
    identities: IdentityMap,
    snapshot: Option<Snapshot>,
    groups: Map<u64, Slot>,
    last: Option<(u64, Slot)>,
    days: Vec<DayUsage>,
    /// Whether any request counts in each day group: a group whose rows are all copies of
    /// requests counted elsewhere holds none, and is left out.
    credited: Vec<bool>,
    day_index: Map<(String, i32, String, String), u32>,
    weeks: Vec<(String, i32, Activity)>,
    week_index: Map<(String, i32), u32>,
    /// The hashes of the request ids seen more than once, with how many rows carry each.
    duplicated: super::spill::Repeated,
    /// Request hash → what its copies add up to (see [`Duplicate`]).
    duplicates: Map<u64, Duplicate>,
    /// Past this many, the requests waiting for copies go to disk ([`Fold::send_far`]).
    duplicates_in_memory: usize,
    far: Spill<Packed>,
    /// (day slot, part dimension, value key) → sums; the value of each key.
    parts: Map<(u32, u8, u64), Counted>,
    part_names: Map<(u8, u64), String>,
    prompts: Spill<(u32, u64)>,
    rows_deduplicated: u64,
    rows_outside_window: u64,
}

impl Fold {
    pub fn new(
        calendar: &Calendar,
        identities: &IdentityMap,
        snapshot: Option<Snapshot>,
        keys_in_memory: usize,
    ) -> Fold {
        Fold {
            calendar: calendar.clone(),
            identities: identities.clone(),
            snapshot,
            groups: Map::default(),
            last: None,
            days: Vec::new(),
            credited: Vec::new(),
            day_index: Map::default(),
            weeks: Vec::new(),
            week_index: Map::default(),
            duplicated: Default::default(),
            duplicates: Map::default(),
            duplicates_in_memory: DUPLICATES_IN_MEMORY,
            far: Spill::all(DUPLICATES_IN_MEMORY),
            parts: Map::default(),
            part_names: Map::default(),
            prompts: Spill::distinct(keys_in_memory),
            rows_deduplicated: 0,
            rows_outside_window: 0,
        }
    }

    /// Collapses the copies of the requests whose id hashes are `keys` (see [`narrow`]), each
    /// with the number of rows that carry it. A request is settled when that many copies were
    /// met, and at the end otherwise (a copy quarantined), with the same result either way:
    /// only memory differs, which then holds the requests whose copies are still to come, not
    /// every duplicated request.
    pub fn collapsing(mut self, keys: super::spill::Repeated) -> Fold {
        self.duplicated = keys;
        self
    }

    /// Holds at most `max` requests waiting for more copies in memory (the rest on disk).
    pub fn holding_duplicates(mut self, max: usize) -> Fold {
        self.duplicates_in_memory = max.max(1);
        self.far = Spill::all(self.duplicates_in_memory);
        self
    }

    /// Sends every request waiting for copies to disk. Copies far apart (two overlapping
    /// exports, one read after the other) would otherwise each wait here until the other
    /// export comes. A request's later copies start a new entry, which cannot settle early (the
    /// copies on disk are not counted in it) and meets the rest at the end ([`Fold::finish`]).
    fn send_far(&mut self) -> std::io::Result<()> {
        for (key, duplicate) in self.duplicates.drain() {
            self.far.push(Packed::of(key, &duplicate))?;
        }
        Ok(())
    }

    /// The slot of a group met for the first time: its strings read, its name mapped.
    fn open(&mut self, batch: &Batch, row: usize) -> Slot {
        let name = batch.agents.get(row).unwrap_or_default();
        let day = batch.days.get(row).unwrap_or(0);
        let model = batch.models.get(row).unwrap_or_default().to_string();
        let tier = batch.tiers.get(row).unwrap_or_default().to_string();
        let row_team = batch.teams.get(row);
        let identity = self.identities.resolve(name);
        let agent = self.identities.canonical(name);
        let team = identity
            .and_then(|i| i.team.clone())
            .or_else(|| row_team.map(String::from));
        let kind = identity.map_or(AgentKind::Human, |i| i.kind);
        let week = crate::normalize::calendar::to_day_number(
            self.calendar
                .week_start
                .week_of(crate::normalize::calendar::from_day_number(day)),
        );
        let next = self.days.len() as u32;
        let day_slot = *self
            .day_index
            .entry((agent.clone(), day, model.clone(), tier.clone()))
            .or_insert(next);
        if day_slot == next {
            self.credited.push(false);
            self.days.push(DayUsage {
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
        }
        let entry = &mut self.days[day_slot as usize];
        entry.kind = entry.kind.max(kind);
        // The smallest team name, so the choice does not depend on row order.
        if let Some(team) = team {
            if entry.team.as_ref().is_none_or(|t| &team < t) {
                entry.team = Some(team);
            }
        }
        let next = self.weeks.len() as u32;
        let week_slot = *self.week_index.entry((agent.clone(), week)).or_insert(next);
        if week_slot == next {
            self.weeks.push((agent, week, Activity::default()));
        }
        Slot {
            day: day_slot,
            week: week_slot,
            in_window: self.calendar.contains(day),
        }
    }

    /// Adds one batch of [`narrow`] rows. The first pass's checks rejected rows without a
    /// timestamp, an agent or a model, and filled missing counts, so the defaults below are for
    /// library callers only.
    pub fn add(&mut self, frame: &DataFrame) -> PolarsResult<()> {
        let batch = Batch::of(frame)?;
        let tokens = |row: usize| Tokens {
            input: batch.tokens[0][row].unwrap_or(0),
            output: batch.tokens[1][row].unwrap_or(0),
            cache_read: batch.tokens[2][row].unwrap_or(0),
            cache_write: batch.tokens[3][row].unwrap_or(0),
        };
        for row in 0..frame.height() {
            let group = batch.groups[row].unwrap_or(0);
            let slot = match self.last {
                Some((key, slot)) if key == group => slot,
                _ => {
                    let slot = match self.groups.get(&group) {
                        Some(slot) => *slot,
                        None => {
                            let slot = self.open(&batch, row);
                            self.groups.insert(group, slot);
                            slot
                        }
                    };
                    self.last = Some((group, slot));
                    slot
                }
            };
            let requests = batch.requests[row].unwrap_or(0);
            let counted = Counted::of(tokens(row), requests, batch.billed[row]);
            let part_keys = [batch.tool_keys[row], batch.repo_keys[row]];
            let session = batch.sessions[row].filter(|_| batch.seconds[row].is_some());
            let duplicate =
                batch.requests_keys[row].and_then(|key| Some((key, self.duplicated.copies(key)?)));
            // A request whose last copy this row is, settled once the row's session is known.
            let mut settled = None;
            match duplicate {
                Some((key, copies)) => {
                    // Copies that disagree on a tool or repository take the smallest name,
                    // whatever their order: the same rule as the SQL of `tokenaudit sql`.
                    self.name_parts(&batch, row, part_keys);
                    let in_session = session.map(|s| (slot.week, s));
                    if let (Some((week, s)), true) = (in_session, slot.in_window) {
                        self.weeks[week as usize].2.name(s, || {
                            batch.session_names.get(row).unwrap_or_default().to_string()
                        });
                    }
                    let copy = Sighting {
                        second: batch.seconds[row].unwrap_or(i64::MIN),
                        slot,
                        session: in_session,
                    };
                    let copy = Duplicate {
                        counted,
                        parts: part_keys,
                        first: copy,
                        seen: 1,
                    };
                    let copies_of = CopiesOf {
                        part_names: &self.part_names,
                        weeks: &self.weeks,
                        days: &self.days,
                    };
                    let known = match self.duplicates.entry(key) {
                        std::collections::hash_map::Entry::Occupied(known) => {
                            let known = known.into_mut();
                            copies_of.merge(known, &copy);
                            known
                        }
                        std::collections::hash_map::Entry::Vacant(new) => new.insert(copy),
                    };
                    if known.seen >= copies {
                        settled = self.duplicates.remove(&key);
                    } else if self.duplicates.len() > self.duplicates_in_memory {
                        self.send_far()?;
                    }
                }
                None => {
                    self.rows_deduplicated += 1;
                    if slot.in_window {
                        counted.add_to(&mut self.days[slot.day as usize]);
                        self.credited[slot.day as usize] = true;
                        for (dimension, key) in part_keys.into_iter().enumerate() {
                            let Some(key) = key else { continue };
                            match self.parts.entry((slot.day, dimension as u8, key)) {
                                std::collections::hash_map::Entry::Occupied(mut sums) => {
                                    sums.get_mut().plus(&counted)
                                }
                                std::collections::hash_map::Entry::Vacant(new) => {
                                    new.insert(counted);
                                    let names = [batch.tools, batch.repos];
                                    self.part_names
                                        .entry((dimension as u8, key))
                                        .or_insert_with(|| {
                                            names[dimension]
                                                .get(row)
                                                .unwrap_or_default()
                                                .to_string()
                                        });
                                }
                            }
                        }
                    } else {
                        self.rows_outside_window += 1;
                    }
                }
            }
            if slot.in_window {
                let activity = &mut self.weeks[slot.week as usize].2;
                if let Some(prompt) = batch.prompts[row] {
                    activity.prompted += 1;
                    if self.snapshot.is_some() {
                        self.prompts.push((slot.week, prompt))?;
                    }
                }
                if let Some(second) = batch.seconds[row] {
                    activity.add(second, requests, batch.sessions[row]);
                }
                // A copy of a duplicated request was named above and is credited when the
                // request settles.
                if let (Some(key), None) = (session, duplicate) {
                    activity.credit(key, &counted.tokens, || {
                        batch.session_names.get(row).unwrap_or_default().to_string()
                    });
                }
            }
            if let Some(settled) = settled {
                self.settle(settled);
            }
        }
        Ok(())
    }

    /// Counts a duplicated request once, where its earliest copy fell (see [`Duplicate`]).
    fn settle(&mut self, duplicate: Duplicate) {
        let Duplicate {
            counted,
            parts,
            first,
            seen: _,
        } = duplicate;
        let day = first.slot.day;
        self.rows_deduplicated += 1;
        if first.slot.in_window {
            counted.add_to(&mut self.days[day as usize]);
            self.credited[day as usize] = true;
            add_parts(&mut self.parts, day, parts, &counted);
            if let Some((week, key)) = first.session {
                self.weeks[week as usize]
                    .2
                    .credit_late(key, &counted.tokens);
            }
        } else {
            self.rows_outside_window += 1;
        }
    }

    /// The usage stats; weeks sorted by (agent, week), days in the order they were met
    /// ([`super::Stats::sort`] puts them in the contract's order).
    pub fn finish(mut self) -> PolarsResult<Folded> {
        // The requests sent to disk, with the copies of each met since; then those whose
        // copies were not all met (a copy quarantined).
        // One partition of the disk's requests in memory at a time.
        let far = std::mem::replace(&mut self.far, Spill::all(1));
        let mut waiting = std::mem::take(&mut self.duplicates);
        far.finish(|run| {
            let mut settled = Vec::new();
            let copies_of = CopiesOf {
                part_names: &self.part_names,
                weeks: &self.weeks,
                days: &self.days,
            };
            for parts in run.chunk_by(|a, b| a.key() == b.key()) {
                let key = parts[0].key();
                let (mut merged, rest) = match waiting.remove(&key) {
                    Some(known) => (known, parts),
                    None => (parts[0].duplicate(), &parts[1..]),
                };
                for part in rest {
                    copies_of.merge(&mut merged, &part.duplicate());
                }
                settled.push(merged);
            }
            for duplicate in settled {
                self.settle(duplicate);
            }
        })?;
        for duplicate in waiting.into_values() {
            self.settle(duplicate);
        }
        let mut folded = Folded {
            rows_deduplicated: self.rows_deduplicated,
            rows_outside_window: self.rows_outside_window,
            ..Folded::default()
        };
        folded.parts = self.week_parts();
        folded.keys_spilled = self.prompts.spilled;
        let mut distinct = vec![0u64; self.weeks.len()];
        self.prompts.finish(|run| {
            for (week, _) in run {
                distinct[*week as usize] += 1;
            }
        })?;
        let calendar = &self.calendar;
        folded.days = self
            .days
            .into_iter()
            .zip(self.credited)
            .filter(|(d, credited)| *credited && calendar.contains(d.day))
            .map(|(d, _)| d)
            .collect();
        let mut weeks: BTreeMap<(String, i32), Activity> = BTreeMap::new();
        for ((agent, week, activity), prompts) in self.weeks.into_iter().zip(distinct) {
            // Weeks met only outside the window.
            if activity.rows == 0 {
                continue;
            }
            let mut activity = activity;
            activity.distinct_prompts = prompts;
            weeks.insert((agent, week), activity);
        }
        for ((agent, week), activity) in weeks {
            folded.sessions.push(WeekSessions {
                agent: agent.clone(),
                week,
                sessions: activity.sessions.len() as u64,
            });
            for (value, tokens, rows) in activity.top_sessions() {
                folded.parts.push(WeekPart {
                    agent: agent.clone(),
                    week,
                    dimension: SESSION_DIMENSION.to_string(),
                    value,
                    model: String::new(),
                    tier: String::new(),
                    tokens,
                    unbilled: Tokens::default(),
                    billed_micro: 0,
                    requests: rows,
                });
            }
            if let Some(snapshot) = self.snapshot {
                folded
                    .behavior
                    .push(activity.into_week(agent, week, snapshot));
            }
        }
        Ok(folded)
    }
}

/// Of two optional keys, the one whose name is smaller (then the smaller key); either when
/// the other is absent.
fn smallest<'a, K: Copy + Ord>(
    a: Option<K>,
    b: Option<K>,
    name: impl Fn(K) -> Option<&'a str>,
) -> Option<K> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (name(b), b) < (name(a), a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn add_parts(
    parts: &mut Map<(u32, u8, u64), Counted>,
    day: u32,
    keys: PartKeys,
    counted: &Counted,
) {
    for (dimension, key) in keys.into_iter().enumerate() {
        if let Some(key) = key {
            parts
                .entry((day, dimension as u8, key))
                .or_default()
                .plus(counted);
        }
    }
}

impl Fold {
    /// Remembers the tool and repository names of a row whose sums are kept elsewhere.
    fn name_parts(&mut self, batch: &Batch, row: usize, keys: PartKeys) {
        let names = [batch.tools, batch.repos];
        for (dimension, key) in keys.into_iter().enumerate() {
            if let Some(key) = key {
                self.part_names
                    .entry((dimension as u8, key))
                    .or_insert_with(|| names[dimension].get(row).unwrap_or_default().to_string());
            }
        }
    }

    /// The parts summed per (agent, week, dimension, value, model, tier).
    fn week_parts(&mut self) -> Vec<WeekPart> {
        let mut sums: BTreeMap<(String, i32, u8, String, String, String), Counted> =
            BTreeMap::new();
        for ((slot, dimension, key), counted) in std::mem::take(&mut self.parts) {
            let day = &self.days[slot as usize];
            let value = self
                .part_names
                .get(&(dimension, key))
                .cloned()
                .unwrap_or_default();
            let week = self.calendar.week_start.week_of_day(day.day);
            sums.entry((
                day.agent.clone(),
                week,
                dimension,
                value,
                day.model.clone(),
                day.tier.clone(),
            ))
            .or_default()
            .plus(&counted);
        }
        sums.into_iter()
            .map(
                |((agent, week, dimension, value, model, tier), c)| WeekPart {
                    agent,
                    week,
                    dimension: PART_DIMENSIONS[dimension as usize].to_string(),
                    value,
                    model,
                    tier,
                    tokens: c.tokens,
                    unbilled: c.unbilled,
                    billed_micro: c.billed_micro.unwrap_or(0),
                    requests: c.requests,
                },
            )
            .collect()
    }
}

/// A batch's columns: the strings as they are (read once per group), the numbers copied out
/// (indexing a chunked array row by row looks up its chunk every time).
struct Batch<'a> {
    agents: &'a StringChunked,
    models: &'a StringChunked,
    tiers: &'a StringChunked,
    teams: &'a StringChunked,
    days: &'a Int32Chunked,
    groups: Vec<Option<u64>>,
    requests_keys: Vec<Option<u64>>,
    requests: Vec<Option<u64>>,
    billed: Vec<Option<i64>>,
    seconds: Vec<Option<i64>>,
    prompts: Vec<Option<u64>>,
    sessions: Vec<Option<u64>>,
    session_names: &'a StringChunked,
    tokens: [Vec<Option<u64>>; 4],
    tools: &'a StringChunked,
    repos: &'a StringChunked,
    tool_keys: Vec<Option<u64>>,
    repo_keys: Vec<Option<u64>>,
}

impl<'a> Batch<'a> {
    fn of(frame: &'a DataFrame) -> PolarsResult<Batch<'a>> {
        // A column without nulls is copied without looking at its validity, which is most of
        // the cost of copying row by row.
        let u64s = |name: &str| -> PolarsResult<Vec<Option<u64>>> {
            let ca = frame.column(name)?.u64()?;
            Ok(if ca.null_count() == 0 {
                ca.into_no_null_iter().map(Some).collect()
            } else {
                ca.iter().collect()
            })
        };
        let i64s = |name: &str| -> PolarsResult<Vec<Option<i64>>> {
            let ca = frame.column(name)?.i64()?;
            Ok(if ca.null_count() == 0 {
                ca.into_no_null_iter().map(Some).collect()
            } else {
                ca.iter().collect()
            })
        };
        let [input, output, cache_read, cache_write] = schema::TOKEN_CLASSES.map(u64s);
        Ok(Batch {
            agents: frame.column(schema::AGENT)?.str()?,
            models: frame.column(schema::MODEL)?.str()?,
            tiers: frame.column(schema::TIER)?.str()?,
            teams: frame.column(schema::TEAM)?.str()?,
            days: frame.column(DAY)?.i32()?,
            groups: u64s(GROUP)?,
            requests_keys: u64s(REQUEST_KEY)?,
            requests: u64s(schema::REQUESTS)?,
            billed: i64s(BILLED)?,
            seconds: i64s(SECONDS)?,
            prompts: u64s(PROMPT_KEY)?,
            sessions: u64s(SESSION_KEY)?,
            session_names: frame.column(schema::SESSION_ID)?.str()?,
            tokens: [input?, output?, cache_read?, cache_write?],
            tools: frame.column(schema::TOOL)?.str()?,
            repos: frame.column(schema::REPO)?.str()?,
            tool_keys: u64s(TOOL_KEY)?,
            repo_keys: u64s(REPO_KEY)?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::features::spill::Repeated;

    /// A `ts` column of the canonical type from Unix seconds.
    pub(crate) fn utc_times(seconds: &[i64]) -> Series {
        Series::new(
            schema::TS.into(),
            seconds.iter().map(|s| s * 1_000_000).collect::<Vec<_>>(),
        )
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))
        .unwrap()
    }
    use crate::normalize::calendar;

    /// `frame` (at least `ts`, `agent`) with the fold's other columns filled with defaults.
    pub(crate) fn usage_frame(frame: DataFrame) -> LazyFrame {
        let mut lazy = frame.lazy();
        let present = lazy.collect_schema().unwrap();
        let defaults: Vec<(&str, Expr)> = vec![
            (schema::MODEL, lit("m")),
            (schema::TIER, lit("estimated")),
            (schema::TEAM, lit(NULL).cast(DataType::String)),
            (schema::INPUT_TOKENS, lit(10u64)),
            (schema::OUTPUT_TOKENS, lit(500u64)),
            (schema::CACHE_READ_TOKENS, lit(0u64)),
            (schema::CACHE_WRITE_TOKENS, lit(0u64)),
            (schema::REQUESTS, lit(1u32)),
            (schema::COST_USD, lit(NULL).cast(DataType::Float64)),
            (schema::SESSION_ID, lit(NULL).cast(DataType::String)),
            (schema::PROMPT_HASH, lit(NULL).cast(DataType::String)),
            (schema::REQUEST_ID, lit(NULL).cast(DataType::String)),
            (schema::TOOL, lit(NULL).cast(DataType::String)),
            (schema::REPO, lit(NULL).cast(DataType::String)),
        ];
        for (name, value) in defaults {
            if present.get(name).is_none() {
                lazy = lazy.with_column(value.alias(name));
            }
        }
        calendar::apply(lazy, &Calendar::default())
    }

    /// Folds `frame` (see [`usage_frame`]) in one batch, without duplicates.
    pub(crate) fn fold_frame(
        frame: DataFrame,
        identities: &IdentityMap,
        snapshot: Snapshot,
        keys_in_memory: usize,
    ) -> Folded {
        let narrowed = narrow(usage_frame(frame), false).collect().unwrap();
        let mut fold = Fold::new(
            &Calendar::default(),
            identities,
            Some(snapshot),
            keys_in_memory,
        );
        fold.add(&narrowed).unwrap();
        fold.finish().unwrap()
    }

    fn seconds_frame(agents: &[&str], seconds: &[i64], prompts: &[String]) -> DataFrame {
        let seconds: Vec<i64> = seconds.iter().map(|s| 1_789_747_200 + s).collect();
        let ts = utc_times(&seconds);
        DataFrame::new_infer_height(vec![
            Column::from(ts),
            Column::new(schema::AGENT.into(), agents),
            Column::new(schema::PROMPT_HASH.into(), prompts),
            Column::new(
                schema::SESSION_ID.into(),
                (0..agents.len())
                    .map(|i| format!("s{}", i % 40))
                    .collect::<Vec<_>>(),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn batches_and_a_small_key_budget_fold_as_one_frame_does() {
        // The sink hands the fold many batches; the last group and the prompt keys carry over
        // from one to the next, and a budget of 50 keys sends the prompts through the disk.
        let n = 3_000usize;
        let agents: Vec<&str> = (0..n).map(|i| ["a", "b"][(i / 7) % 2]).collect();
        let seconds: Vec<i64> = (0..n).map(|i| i as i64 * 53).collect();
        let prompts: Vec<String> = (0..n).map(|i| format!("p{}", i % 700)).collect();
        let narrowed = narrow(
            usage_frame(seconds_frame(&agents, &seconds, &prompts)),
            false,
        )
        .collect()
        .unwrap();
        let snapshot = Snapshot::parse("fri 17:00", 12).unwrap();
        let fold = |keys: usize| {
            Fold::new(
                &Calendar::default(),
                &IdentityMap::default(),
                Some(snapshot),
                keys,
            )
        };
        let mut whole = fold(usize::MAX);
        whole.add(&narrowed).unwrap();
        let mut batched = fold(50);
        let mut offset = 0;
        for size in [1, 6, 250, 1_000, 1_743] {
            batched.add(&narrowed.slice(offset, size)).unwrap();
            offset += size as i64;
        }
        assert_eq!(offset as usize, n);
        let whole = whole.finish().unwrap();
        let batched = batched.finish().unwrap();
        assert_eq!(whole.keys_spilled, 0);
        assert!(batched.keys_spilled > 0);
        assert_eq!(whole.behavior, batched.behavior);
        assert_eq!(whole.days, batched.days);
        assert_eq!(whole.sessions, batched.sessions);
        assert_eq!(whole.behavior.len(), 2);
        // Blocks of seven rows alternate between the agents, and a prompt returns every 700
        // rows (a hundred blocks), always to the same agent.
        for (week, agent) in whole.behavior.iter().zip(["a", "b"]) {
            let rows = agents.iter().filter(|a| **a == agent).count() as u64;
            assert_eq!((week.prompted, week.distinct_prompts), (rows, 350));
        }
    }

    /// `frame` with every row at one instant.
    fn at_one_instant(mut frame: DataFrame) -> DataFrame {
        let ts = utc_times(&vec![1_789_747_200i64; frame.height()]);
        frame.with_column(Column::from(ts)).unwrap();
        frame
    }

    /// The hash the plan gives a request id.
    fn request_hash(id: &str) -> u64 {
        df![schema::REQUEST_ID => [id]]
            .unwrap()
            .lazy()
            .select([request_key(col(schema::REQUEST_ID))])
            .collect()
            .unwrap()
            .column(schema::REQUEST_ID)
            .unwrap()
            .u64()
            .unwrap()
            .get(0)
            .unwrap()
    }

    /// Folds `frame` in one batch, collapsing the copies of request `r1`.
    fn fold_with_r1_duplicated(frame: DataFrame) -> Folded {
        fold_r1(frame, None)
    }

    /// [`fold_with_r1_duplicated`] with the behaviour fingerprints (and so sessions) counted.
    fn fold_r1(frame: DataFrame, snapshot: Option<Snapshot>) -> Folded {
        let copies = frame
            .column(schema::REQUEST_ID)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .filter(|id| *id == Some("r1"))
            .count() as u32;
        let narrowed = narrow(usage_frame(at_one_instant(frame)), true)
            .collect()
            .unwrap();
        let fold = |copies: u32| {
            let mut fold = Fold::new(&Calendar::default(), &IdentityMap::default(), snapshot, 10)
                .collapsing(Repeated::from_pairs([(request_hash("r1"), copies)]));
            fold.add(&narrowed).unwrap();
            fold.finish().unwrap()
        };
        // Settled when its last copy is met, or at the end (a copy never came): the same stats.
        let settled = fold(copies);
        assert_eq!(format!("{settled:?}"), format!("{:?}", fold(u32::MAX)));
        settled
    }

    #[test]
    fn a_duplicated_request_counts_once_at_its_largest_counts() {
        // Three copies of one streamed request (cumulative output counts) and one other
        // request, on one day.
        let frame = df![
            schema::AGENT => ["a", "a", "a", "a"],
            schema::REQUEST_ID => [Some("r1"), Some("r1"), Some("r1"), Some("r2")],
            schema::OUTPUT_TOKENS => [100u64, 400, 900, 50],
        ]
        .unwrap();
        let folded = fold_with_r1_duplicated(frame);
        assert_eq!(folded.rows_deduplicated, 2);
        assert_eq!(folded.days.len(), 1);
        let day = &folded.days[0];
        assert_eq!((day.requests, day.tokens.output), (2, 950));
        // Each column takes the largest of the copies' values, the derived ones too: r1's first
        // copy was a trivial turn of 100 output tokens, and r2 is one of 50.
        assert_eq!((day.trivial_requests, day.trivial.output), (2, 150));
        assert!(folded.behavior.is_empty());
        assert_eq!(folded.sessions.len(), 1);
    }

    #[test]
    fn parts_split_the_days_usage_by_tool_and_repository() {
        // Three copies of one request (tool a), one request of tool b in repo r, one of neither.
        let frame = df![
            schema::AGENT => ["a", "a", "a", "a", "a"],
            schema::REQUEST_ID => [Some("r1"), Some("r1"), Some("r1"), Some("r2"), Some("r3")],
            schema::OUTPUT_TOKENS => [100u64, 400, 900, 50, 7],
            schema::TOOL => [Some("a"), Some("a"), Some("a"), Some("b"), None],
            schema::REPO => [None, None, None, Some("r"), None],
        ]
        .unwrap();
        let folded = fold_with_r1_duplicated(frame);
        let parts: Vec<(&str, &str, u64, u64)> = folded
            .parts
            .iter()
            .map(|p| {
                (
                    p.dimension.as_str(),
                    p.value.as_str(),
                    p.requests,
                    p.tokens.output,
                )
            })
            .collect();
        // The duplicated request counts once, at its largest counts, under its tool.
        assert_eq!(
            parts,
            [
                ("tool", "a", 1, 900),
                ("tool", "b", 1, 50),
                ("repo", "r", 1, 50)
            ]
        );
        assert_eq!(folded.days[0].tokens.output, 957);
    }

    #[test]
    fn top_sessions_are_the_largest_whatever_the_row_order_and_batching() {
        // 80 sessions of varied size in shuffled rows, folded in batches of 97 rows: the named
        // sessions are the five largest by tokens, ties by id, as a full count finds them.
        let n = 3_000usize;
        let mut state = 17u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state >> 33
        };
        let mut rows: Vec<(String, u64)> = (0..n)
            .map(|i| (format!("s{}", (i * i) % 80), 100 + next() % 5_000))
            .collect();
        // Two sessions tied at the top, so that the tie-break by id decides.
        rows.push(("tie-b".into(), 1_000_000));
        rows.push(("tie-a".into(), 1_000_000));
        for i in (1..rows.len()).rev() {
            rows.swap(i, next() as usize % (i + 1));
        }
        let seconds: Vec<i64> = (0..rows.len() as i64).map(|i| i * 3).collect();
        let mut frame = seconds_frame(
            &vec!["a"; rows.len()],
            &seconds,
            &vec![String::from("p"); rows.len()],
        );
        frame
            .with_column(Column::new(
                schema::SESSION_ID.into(),
                rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            ))
            .unwrap();
        frame
            .with_column(Column::new(
                schema::OUTPUT_TOKENS.into(),
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            ))
            .unwrap();
        let narrowed = narrow(usage_frame(frame), false).collect().unwrap();
        let mut fold = Fold::new(
            &Calendar::default(),
            &IdentityMap::default(),
            Some(Snapshot::parse("fri 17:00", 12).unwrap()),
            100,
        );
        let mut offset = 0;
        while offset < narrowed.height() {
            fold.add(&narrowed.slice(offset as i64, 97)).unwrap();
            offset += 97;
        }
        let folded = fold.finish().unwrap();
        let mut expected: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (session, output) in &rows {
            let e = expected.entry(session.as_str()).or_default();
            e.0 += output + 10;
            e.1 += 1;
        }
        let mut expected: Vec<(String, u64, u64)> = expected
            .into_iter()
            .map(|(s, (t, r))| (s.to_string(), t, r))
            .collect();
        expected.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let found: Vec<(String, u64, u64)> = folded
            .parts
            .iter()
            .filter(|p| p.dimension == SESSION_DIMENSION)
            .map(|p| (p.value.clone(), p.tokens.total(), p.requests))
            .collect();
        let weeks = folded.sessions.len();
        assert_eq!(weeks, 1, "one week of rows");
        assert_eq!(found[0].0, "tie-a");
        assert_eq!(found, expected[..5]);
    }

    #[test]
    fn a_duplicated_request_counts_once_in_its_session() {
        // r1 is streamed three times in session big; session small has two other requests.
        let frame = df![
            schema::AGENT => ["a", "a", "a", "a", "a"],
            schema::REQUEST_ID => [Some("r1"), Some("r1"), Some("r1"), Some("r2"), Some("r3")],
            schema::SESSION_ID => ["big", "big", "big", "small", "small"],
            schema::OUTPUT_TOKENS => [100u64, 400, 900, 50, 70],
        ]
        .unwrap();
        let folded = fold_r1(frame, Snapshot::parse("fri 17:00", 12));
        let sessions: Vec<(&str, u64, u64)> = folded
            .parts
            .iter()
            .filter(|p| p.dimension == SESSION_DIMENSION)
            .map(|p| (p.value.as_str(), p.tokens.output, p.requests))
            .collect();
        assert_eq!(sessions, [("big", 900, 3), ("small", 120, 2)]);
    }

    #[test]
    fn copies_that_disagree_on_a_tool_or_session_take_the_smallest_name_in_any_order() {
        for order in [[0usize, 1], [1, 0]] {
            let tools = ["zed", "aider"];
            let sessions = ["s-z", "s-a"];
            let frame = df![
                schema::AGENT => ["a", "a"],
                schema::REQUEST_ID => ["r1", "r1"],
                schema::TOOL => order.map(|i| tools[i]),
                schema::SESSION_ID => order.map(|i| sessions[i]),
            ]
            .unwrap();
            let folded = fold_r1(frame, Snapshot::parse("fri 17:00", 12));
            let named: Vec<(&str, &str, u64)> = folded
                .parts
                .iter()
                .map(|p| (p.dimension.as_str(), p.value.as_str(), p.tokens.output))
                .collect();
            // The request counts once, under the smallest names; the other session has its
            // row but no tokens.
            assert_eq!(
                named,
                [
                    ("tool", "aider", 500),
                    ("session", "s-a", 500),
                    ("session", "s-z", 0)
                ],
                "{order:?}"
            );
        }
    }

    #[test]
    fn copies_of_a_request_on_both_sides_of_midnight_count_once_on_the_first_day() {
        // A streamed message: its first chunk at 23:59:58 UTC, the final one two seconds
        // later, the next day; and a request of its own on the second day.
        let seconds = [1_789_775_998i64, 1_789_776_000, 1_789_776_100];
        let ts = utc_times(&seconds);
        let mut frame = df![
            schema::AGENT => ["a", "a", "a"],
            schema::REQUEST_ID => ["r1", "r1", "r2"],
            schema::OUTPUT_TOKENS => [300u64, 900, 50],
        ]
        .unwrap();
        frame.with_column(Column::from(ts)).unwrap();
        for order in [[0usize, 1, 2], [2, 1, 0]] {
            let rows = frame
                .take(&IdxCa::new("".into(), order.map(|i| i as IdxSize)))
                .unwrap();
            let narrowed = narrow(usage_frame(rows), true).collect().unwrap();
            let fold = |copies: u32| {
                let mut fold = Fold::new(&Calendar::default(), &IdentityMap::default(), None, 10)
                    .collapsing(Repeated::from_pairs([(request_hash("r1"), copies)]));
                fold.add(&narrowed).unwrap();
                fold.finish().unwrap()
            };
            let mut folded = fold(2);
            assert_eq!(format!("{folded:?}"), format!("{:?}", fold(u32::MAX)));
            folded.days.sort_by_key(|d| d.day);
            let days: Vec<(i32, u64, u64)> = folded
                .days
                .iter()
                .map(|d| (d.day, d.requests, d.tokens.output))
                .collect();
            let first = (seconds[0] / 86_400) as i32;
            assert_eq!(
                days,
                [(first, 1, 900), (first + 1, 1, 50)],
                "in the order {order:?}"
            );
            assert_eq!(folded.rows_deduplicated, 2);
        }
    }

    /// Copies far apart (one export, then an overlapping one): requests sent to disk past the
    /// budget and merged with their later copies at the end give the stats of holding them all,
    /// copies disagreeing on tools, sessions and counts included.
    #[test]
    fn requests_waiting_on_disk_give_the_stats_of_requests_held() {
        let n = 60usize;
        let start = 1_789_775_000i64;
        let seconds: Vec<i64> = (0..2 * n)
            .map(|i| start + (i % n) as i64 * 97 + if i < n { 0 } else { 5_000 })
            .collect();
        let ts = utc_times(&seconds);
        let ids: Vec<String> = (0..2 * n).map(|i| format!("r{}", i % n)).collect();
        let tools: Vec<&str> = (0..2 * n)
            .map(|i| if (i < n) == (i % 2 == 0) { "a" } else { "b" })
            .collect();
        let sessions: Vec<String> = (0..2 * n).map(|i| format!("s{}", i % 7)).collect();
        let outputs: Vec<u64> = (0..2 * n as u64).map(|i| 100 + (i * 37) % 500).collect();
        let mut frame = df![
            schema::AGENT => (0..2 * n).map(|i| ["a", "b", "c"][i % n % 3]).collect::<Vec<_>>(),
            schema::REQUEST_ID => ids,
            schema::TOOL => tools,
            schema::SESSION_ID => sessions,
            schema::OUTPUT_TOKENS => outputs,
        ]
        .unwrap();
        frame.with_column(Column::from(ts)).unwrap();
        let narrowed = narrow(usage_frame(frame), true).collect().unwrap();
        let copies = Repeated::from_pairs((0..n).map(|i| (request_hash(&format!("r{i}")), 2)));
        let snapshot = Snapshot::parse("fri 17:00", 12).unwrap();
        let fold = |held: Option<usize>| {
            let mut fold = Fold::new(
                &Calendar::default(),
                &IdentityMap::default(),
                Some(snapshot),
                10,
            )
            .collapsing(Repeated::from_pairs(
                (0..n).map(|i| (request_hash(&format!("r{i}")), 2)),
            ));
            if let Some(held) = held {
                fold = fold.holding_duplicates(held);
            }
            // In batches, as a plan hands them over.
            for at in (0..narrowed.height()).step_by(16) {
                fold.add(&narrowed.slice(at as i64, 16)).unwrap();
            }
            fold.finish().unwrap()
        };
        assert_eq!(copies.len(), n);
        let held = format!("{:?}", fold(None));
        assert_eq!(format!("{:?}", fold(Some(1))), held);
        assert_eq!(format!("{:?}", fold(Some(7))), held);
    }

    #[test]
    fn a_packed_duplicate_reads_back_as_written() {
        let tokens = |k: u64| Tokens {
            input: k,
            output: k + 1,
            cache_read: u64::MAX - k,
            cache_write: 0,
        };
        for (billed, parts, session, in_window) in [
            (
                Some(-5i64),
                [Some(3u64), None],
                Some((4u32, u64::MAX)),
                true,
            ),
            (None, [None, Some(9)], None, false),
        ] {
            let duplicate = Duplicate {
                counted: Counted {
                    tokens: tokens(1),
                    trivial: tokens(2),
                    unbilled: tokens(3),
                    billed_micro: billed,
                    requests: 7,
                    trivial_requests: 2,
                },
                parts,
                first: Sighting {
                    second: -12,
                    slot: Slot {
                        day: 5,
                        week: 6,
                        in_window,
                    },
                    session,
                },
                seen: 3,
            };
            let packed = Packed::of(0xfeed_0000_0000_beef, &duplicate);
            assert_eq!(packed.key(), 0xfeed_0000_0000_beef);
            assert_eq!(
                format!("{:?}", packed.duplicate()),
                format!("{duplicate:?}")
            );
        }
    }
}
