//! The behaviour lens: fingerprints of deliberate burning in request-level logs.
//!
//! Each fingerprint is one number per agent over the period, computed from the aggregates the
//! lazy plan produced (`features::behavior`), and calibrated against the agents of the same kind
//! (people apart from service accounts; context size also by primary model) with a robust z
//! (median and 1.4826·MAD, Iglewicz & Hoaglin 1993) and a floor on the scale, so that a cohort
//! where nobody repeats a prompt does not turn one retry into a finding. A fingerprint also
//! needs a material effect (its gate) before it counts; the lens's p-value is the smallest
//! fingerprint p-value, Bonferroni-corrected over the fingerprints that passed their gates.
//!
//! | code  | fingerprint | statistic |
//! |-------|-------------|-----------|
//! | TA301 | fixed-cadence loop | index of dispersion of requests per active 10-minute bin (Cox & Lewis 1966): ≈1 for Poisson, >1 for bursty people, →0 for a fixed cadence |
//! | TA302 | repeated prompts | share of requests whose `prompt_hash` already occurred that week |
//! | TA303 | context stuffing | context tokens (input, cache reads and writes) per request against agents on the same model, raised by the rest of the agent's team's habit where that team sends 1.5x or more |
//! | TA304 | round-the-clock activity (people only) | share of requests in the quietest 8 hours of the day |
//! | TA305 | pre-snapshot bursts | share of requests in the hours before the weekly leaderboard snapshot |
//! | TA306 | parallel sessions | most sessions started within one 5-minute window, against a Poisson model of the agent's own session starts |
//! | TA307 | costly models for trivial turns | list-price cost per trivial turn (at most 100 output tokens) against agents of the same kind |
//!
//! What it cannot see: burning shaped exactly like the agent's real work (more of the same
//! sessions at the same hours: the efficiency lens), timing inside bucketed exports (cadence,
//! parallel sessions), and prompts in logs that do not carry `prompt_hash`.

use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

use super::calibration::{self, Check};
use super::codes::{
    CodeDoc, CADENCE, CONTEXT_STUFFING, PARALLEL_SESSIONS, PRE_SNAPSHOT, REPEATED_PROMPTS,
    ROUND_THE_CLOCK, TRIVIAL_TURNS,
};
use super::groups;
use super::quality::{Gate, Skip};
use super::stats::{median, normal_isf, normal_sf, poisson_sf, robust_scale};
use super::{AgentSummary, Assessment, Coverage, DetectConfig, Population, Reason};
use crate::features::behavior::{BehaviorWeek, HOURS, START_WINDOW_SECONDS};
use crate::normalize::identities::AgentKind;
use crate::units::{grouped, round_to};

/// A fingerprint's p-value at or below which it is named in the reasons and its share of spend
/// counts towards the dollars at stake.
const REPORT_P: f64 = 0.01;

/// Sessions started within one 5-minute window that the parallel fingerprint needs.
const MIN_PARALLEL_STARTS: u64 = 4;

pub const CODES: [CodeDoc; 7] = [
    CodeDoc {
        code: CADENCE,
        title: "Requests on a fixed cadence",
        lens: "behavior",
        what_it_means: "The agent's requests arrive at a steady rhythm: counted per 10-minute bin while active, they vary far less than a person's or a Poisson process's would (index of dispersion well below 1, where people's is above it). Without an identity map to say which agents are services, a cadence is automation's rhythm: it is reported only where the peer comparison also finds the agent's spend beyond its output (p at most 0.01), since a CI job that delivers in proportion keeps a cadence too.",
        why_it_matters: "A script that calls the model every minute or two for hours is the cheapest way to climb a usage leaderboard; real work comes in bursts of thought and review.",
        benign_explanations: &[
            "A scheduled job or polling integration run under a person's credentials.",
            "A legitimate batch task (bulk migration, evaluation run) driven by a script.",
            "A service account that is not marked as one in the identity map.",
        ],
        example: "requests per active 10-minute bin vary with dispersion 0.08 (people in the cohort: 1.9) over 1,240 bins",
    },
    CodeDoc {
        code: REPEATED_PROMPTS,
        title: "The same prompts sent again and again",
        lens: "behavior",
        what_it_means: "A large share of the agent's requests carry a prompt hash it already sent the same week.",
        why_it_matters: "Regenerating the same answer, or looping a fixed prompt, burns tokens without new work; real sessions rarely repeat a prompt verbatim.",
        benign_explanations: &[
            "Retries after errors or timeouts.",
            "Templated prompts from slash commands or CI integrations.",
            "A tool that hashes only a fixed system prompt rather than the user's message.",
        ],
        example: "84% of 9,800 prompted requests repeat a prompt sent earlier that week (cohort median 0%)",
    },
    CodeDoc {
        code: CONTEXT_STUFFING,
        title: "Far more context per request than peers",
        lens: "behavior",
        what_it_means: "The agent's requests carry several times the context (input, cache reads and cache writes) of agents on the same model and of the same kind.",
        why_it_matters: "Feeding whole codebases into every request multiplies tokens without multiplying the work; it raises a token count while each request does what a lean one would.",
        benign_explanations: &[
            "Work on a large monorepo or long documents that really need the context.",
            "A tool configuration that attaches more files by default.",
            "Long-running sessions that are not compacted.",
        ],
        example: "412,000 context tokens per request against 96,000 for agents on claude-sonnet-4-5 (4.3x)",
    },
    CodeDoc {
        code: ROUND_THE_CLOCK,
        title: "A person active around the clock",
        lens: "behavior",
        what_it_means: "Even the agent's quietest 8 hours of the day hold a large share of its requests; people sleep, so a person's quietest third of the day is nearly empty. It is not reported where the peer comparison finds the spend matched by output (peer p above 0.2), or, without an identity map, above 0.01 for an agent busy at all hours of every day of the week, as a service is.",
        why_it_matters: "Background agents left running overnight under a person's name are a common way to inflate usage.",
        benign_explanations: &[
            "On-call or incident duty.",
            "Work across time zones, or a schedule that shifts during the period.",
            "An automation account mapped to a person: mark it `service` in the identity map.",
        ],
        example: "29% of requests fall in the agent's quietest 8 hours of the day (people in the cohort: 1%)",
    },
    CodeDoc {
        code: PRE_SNAPSHOT,
        title: "Bursts before the leaderboard snapshot",
        lens: "behavior",
        what_it_means: "A large share of the agent's weekly requests fall in the hours just before the weekly usage snapshot (`[detect] snapshot`), week after week.",
        why_it_matters: "Spend timed to the scoreboard rather than to the work is the signature of a usage target being met on purpose (deadline effects under targets: Oyer 1998).",
        benign_explanations: &[
            "End-of-sprint or release crunch that falls on the same day (check output in the same window).",
            "A weekly job scheduled for that day.",
            "A part-time schedule concentrated on that day.",
        ],
        example: "71% of requests in the 12 hours before the Friday 17:00 UTC snapshot (cohort median 6%), in 8 of 8 weeks",
    },
    CodeDoc {
        code: PARALLEL_SESSIONS,
        title: "Many sessions started at once",
        lens: "behavior",
        what_it_means: "Several of the agent's sessions started within the same 5 minutes, more than its own rate of starting sessions makes plausible by chance (a Poisson model of its session starts, corrected for every window looked at).",
        why_it_matters: "Fanning out background sessions that nobody supervises multiplies spend without multiplying delivered work.",
        benign_explanations: &[
            "Sub-agents of one task logged as separate sessions.",
            "CI fan-out under a person's credentials.",
            "A deliberate parallel workflow (several worktrees) with matching output.",
        ],
        example: "7 sessions started within 5 minutes in the week of 2026-09-21; at its 14 sessions a week chance predicts at most 2",
    },
    CodeDoc {
        code: TRIVIAL_TURNS,
        title: "A costly model for trivial turns",
        lens: "behavior",
        what_it_means: "Many of the agent's turns are trivial (at most 100 output tokens on average: acknowledgements, \"continue\", one-line answers), and each costs several times, at list price, what the same kind of agent pays for such a turn. The excess is what those turns cost above the kind's median cost per trivial turn.",
        why_it_matters: "Sending every small turn to the most expensive model multiplies spend without changing what gets done; it is an easy way to climb a token or cost leaderboard, and the cheapest saving to make.",
        benign_explanations: &[
            "A team standard that pins the frontier model for every turn (a policy question, not the agent's).",
            "Small turns that carry a large context (the cost per turn follows the context, see TA303).",
            "A tool whose model routing the agent cannot change.",
        ],
        example: "1,240 of 5,300 turns are trivial and cost $0.084 each against $0.012 for people (7.0x): $89 above what such turns usually cost",
    },
];

/// One agent's fingerprints over the period.
#[derive(Debug, Default)]
struct Profile {
    hours: Vec<u64>,
    requests: u64,
    bins: u64,
    bin_requests: u64,
    bin_squares: u64,
    bucketed: bool,
    prompted: u64,
    repeats: u64,
    /// Share of each week's requests before the snapshot.
    snapshot_shares: Vec<(chrono::NaiveDate, f64)>,
    snapshot_requests: u64,
    /// (p-value, starts, sessions, week) of the most surprising week of session starts.
    parallel: Option<(f64, u64, u64, chrono::NaiveDate)>,
    /// Weeks whose own session starts clear the bars the reported week clears.
    parallel_weeks: std::collections::BTreeSet<chrono::NaiveDate>,
    /// What the data-quality gates read: sessions, sessioned rows, rows in day-long session
    /// ids, single-row sessions, timed rows and rows exactly on the hour.
    sessions: u64,
    session_rows: u64,
    long_session_rows: u64,
    single_row_sessions: u64,
    rows: u64,
    rows_on_the_hour: u64,
}

impl Profile {
    /// An empty profile with a count for every hour of the week.
    fn with_hours() -> Profile {
        Profile {
            hours: vec![0; HOURS],
            ..Profile::default()
        }
    }

    /// Adds a week's requests by hour of the week, its timing bins and the counts the
    /// data-quality gates read: what the rhythm of work (cadence, hours) is read from.
    fn add_rhythm(&mut self, week: &BehaviorWeek) {
        for (hour, n) in &week.hours {
            // Hours of the week run 0..168; a caller's out-of-range hour wraps, never panics.
            self.hours[usize::from(*hour) % HOURS] += n;
        }
        self.requests += week.requests();
        self.bins += week.bins;
        self.bin_requests += week.bin_requests;
        self.bin_squares += week.bin_squares;
        self.add_gate_counts(week);
    }

    /// Adds a week's counts that the data-quality gates read.
    fn add_gate_counts(&mut self, week: &BehaviorWeek) {
        self.bucketed |= week.bucketed;
        self.sessions += week.sessions;
        self.session_rows += week.session_rows;
        self.long_session_rows += week.long_session_rows;
        self.single_row_sessions += week.single_row_sessions;
        self.rows += week.rows;
        self.rows_on_the_hour += week.rows_on_the_hour;
    }

    fn dispersion(&self) -> Option<f64> {
        if self.bucketed || self.bins < MIN_BINS || self.bin_requests == 0 {
            return None;
        }
        let n = self.bins as f64;
        let mean = self.bin_requests as f64 / n;
        let variance = (self.bin_squares as f64 / n - mean * mean).max(0.0);
        Some(variance / mean)
    }

    fn repeat_share(&self) -> Option<f64> {
        (self.prompted >= MIN_PROMPTED).then(|| self.repeats as f64 / self.prompted as f64)
    }

    /// Share of requests in the quietest 8 consecutive hours of the day (UTC; the window is
    /// circular, so the agent's own time zone does not matter).
    fn quiet_share(&self) -> Option<f64> {
        if self.requests < MIN_REQUESTS_FOR_HOURS {
            return None;
        }
        let mut day = [0u64; 24];
        for (h, n) in self.hours.iter().enumerate() {
            day[h % 24] += n;
        }
        let quietest = (0..24)
            .map(|start| (0..8).map(|i| day[(start + i) % 24]).sum::<u64>())
            .min()?;
        Some(quietest as f64 / self.requests as f64)
    }

    /// Whether the agent rests one day in the week as people do: its quietest 48 consecutive
    /// hours of the week hold less than half of their even share (48 of 168 hours). A service
    /// or a job runs all week; a person, even one whose agents work at all hours, keeps a
    /// weekend, in whatever time zone. Judged from [`MIN_REQUESTS_FOR_HOURS`]; below it, yes.
    fn rests_weekly(&self) -> bool {
        const REST_HOURS: usize = 48;
        if self.requests < MIN_REQUESTS_FOR_HOURS || self.hours.len() < HOURS {
            return true;
        }
        let quietest = (0..HOURS)
            .map(|start| {
                (0..REST_HOURS)
                    .map(|i| self.hours[(start + i) % HOURS])
                    .sum::<u64>()
            })
            .min()
            .unwrap_or(0);
        let even_share = REST_HOURS as f64 / HOURS as f64;
        (quietest as f64) < 0.5 * even_share * self.requests as f64
    }

    fn snapshot_share(&self) -> Option<f64> {
        (self.requests >= MIN_REQUESTS_FOR_HOURS)
            .then(|| self.snapshot_requests as f64 / self.requests as f64)
    }
}

/// Share of requests in the quietest 8 hours of the day from which an agent works at all
/// hours: where [`ROUND_THE_CLOCK`] begins to read a person.
const ALL_HOURS_SHARE: f64 = 0.1;

/// Dispersion of requests per active 10-minute bin below which an agent keeps a fixed
/// cadence: where [`CADENCE`] begins to read one (a person's bursts are above 1).
const CADENCE_DISPERSION: f64 = 0.5;

/// The agents whose requests over the period keep automation's rhythm: a fixed cadence
/// ([`CADENCE_DISPERSION`]) or work at all hours ([`ALL_HOURS_SHARE`] of their requests or more
/// in the quietest 8 hours of the day). Services, CI jobs and loops, and people who leave
/// agents running overnight. Where timing is unknown (bucketed rows) only the hours count.
pub fn like_automation(weeks: &[BehaviorWeek]) -> BTreeSet<&str> {
    let mut by_agent: BTreeMap<&str, Profile> = BTreeMap::new();
    for week in weeks {
        by_agent
            .entry(week.agent.as_str())
            .or_insert_with(Profile::with_hours)
            .add_rhythm(week);
    }
    by_agent
        .into_iter()
        .filter(|(_, profile)| {
            let cadence = timing_gate(profile).is_none()
                && profile.dispersion().is_some_and(|d| d < CADENCE_DISPERSION);
            let all_hours = profile
                .quiet_share()
                .is_some_and(|share| share >= ALL_HOURS_SHARE);
            cadence || all_hours
        })
        .map(|(agent, _)| agent)
        .collect()
}

/// Smallest spread of ln(context per request) a calibration group is credited with: agents on
/// one model differ by about a quarter in the context they habitually send (repository size,
/// tool settings), and a small group can understate that.
const CONTEXT_SCALE_FLOOR: f64 = 0.2;

/// Context per request, as a multiple of the calibration group's median, from which stuffing
/// is worth reporting (honest habits reach 2x now and then; padding every request costs more).
const MIN_CONTEXT_RATIO: f64 = 2.5;

/// Trivial turns an agent needs before its cost per trivial turn is judged.
const MIN_TRIVIAL_TURNS: u64 = 50;
/// Share of an agent's turns that must be trivial for the habit to be worth reporting.
const MIN_TRIVIAL_SHARE: f64 = 0.1;
/// Cost per trivial turn, as a multiple of the kind's median, from which it is reported: a
/// premium model costs about 5x a workhorse one, and a turn's context alone varies about 2x.
const MIN_TRIVIAL_RATIO: f64 = 3.0;
/// Smallest spread of ln(cost per trivial turn) a group is credited with.
const TRIVIAL_SCALE_FLOOR: f64 = 0.3;

/// Active 10-minute bins needed to judge cadence.
const MIN_BINS: u64 = 30;
/// Prompted requests needed to judge repetition.
const MIN_PROMPTED: u64 = 50;
/// Requests needed to judge the hours of the day and the snapshot window.
const MIN_REQUESTS_FOR_HOURS: u64 = 100;

fn profiles(
    population: &Population,
    weeks: &BTreeMap<&str, Vec<&BehaviorWeek>>,
) -> BTreeMap<String, Profile> {
    let snapshot = population.snapshot;
    let mut out = BTreeMap::new();
    for agent in population.agents.iter().filter(|a| a.eligible) {
        let Some(agent_weeks) = weeks.get(agent.agent.as_str()) else {
            continue;
        };
        let mut profile = Profile::with_hours();
        for week in agent_weeks {
            profile.add_rhythm(week);
            let in_window: u64 = week
                .hours
                .iter()
                .filter(|(hour, _)| snapshot.in_window(usize::from(**hour) % HOURS))
                .map(|(_, n)| n)
                .sum();
            let requests = week.requests();
            let date = crate::normalize::calendar::from_day_number(week.week);
            profile.snapshot_requests += in_window;
            if requests > 0 {
                profile
                    .snapshot_shares
                    .push((date, in_window as f64 / requests as f64));
            }
            profile.prompted += week.prompted;
            profile.repeats += week.prompted - week.distinct_prompts.min(week.prompted);
            // Parallel starts: the chance that some 5-minute window of the agent's active
            // hours holds this many starts, at its own rate of starting sessions in its
            // busiest hour (sessions spread in proportion to requests).
            let active_hours = week.hours.len() as f64;
            let windows = active_hours * (3_600 / START_WINDOW_SECONDS) as f64;
            let busiest = week.hours.values().copied().max().unwrap_or(0) as f64;
            if week.sessions > 0 && windows > 0.0 && week.max_simultaneous_starts >= 2 {
                let per_window = (START_WINDOW_SECONDS as f64 / 3_600.0).min(1.0);
                let lambda = week.sessions as f64 * busiest / requests.max(1) as f64 * per_window;
                let p = (windows * poisson_sf(week.max_simultaneous_starts, lambda)).min(1.0);
                if week.max_simultaneous_starts >= MIN_PARALLEL_STARTS
                    && p * agent_weeks.len() as f64 <= REPORT_P
                {
                    profile.parallel_weeks.insert(date);
                }
                if profile.parallel.is_none_or(|(best, ..)| p < best) {
                    profile.parallel = Some((p, week.max_simultaneous_starts, week.sessions, date));
                }
            }
        }
        // A minimum p over the weeks: Bonferroni over them.
        if let Some(parallel) = &mut profile.parallel {
            parallel.0 = (parallel.0 * agent_weeks.len() as f64).min(1.0);
        }
        out.insert(agent.agent.clone(), profile);
    }
    out
}

/// Median and robust scale (floored) of a fingerprint over a calibration group.
#[derive(Debug, Clone, Copy)]
struct Calibration {
    median: f64,
    scale: f64,
}

fn calibrate(values: &[f64], floor: f64, min_agents: usize) -> Option<Calibration> {
    if values.len() < min_agents {
        return None;
    }
    Some(Calibration {
        median: median(values)?,
        scale: robust_scale(values)?.max(floor),
    })
}

/// One fingerprint's verdict on one agent.
struct Signal {
    p: f64,
    /// The weeks it is about.
    covers: Coverage,
    /// Estimated share of the agent's spend the fingerprint accounts for.
    share: f64,
    reason: Reason,
}

/// What one fingerprint read of the population.
struct Reading {
    code: &'static str,
    /// Every agent its statistic was computed for: its calibration group and its p-value (1
    /// where it had nothing to report). The empirical null is fitted over these.
    judged: BTreeMap<String, (String, f64)>,
    /// The agents whose effect is material, with what the fingerprint says of them.
    signals: BTreeMap<String, Signal>,
    /// Agents its data-quality gates kept out, by gate.
    gated: BTreeMap<Gate, usize>,
}

impl Reading {
    fn new(code: &'static str) -> Reading {
        Reading {
            code,
            judged: BTreeMap::new(),
            signals: BTreeMap::new(),
            gated: BTreeMap::new(),
        }
    }

    fn gate(&mut self, gate: Gate) {
        *self.gated.entry(gate).or_default() += 1;
    }

    /// Checks the p-values against the population, group by group ([`calibration`]): where
    /// the model's were too small for it, each agent keeps the larger of the model's and the
    /// empirical null's. Then a trait shown by more than [`HABIT_SHARE`] of a group is the
    /// group's habit and is dropped for it. Returns the calibration row.
    fn calibrate(&mut self) -> Check {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (agent, (group, _)) in &self.judged {
            groups.entry(group).or_default().push(agent);
        }
        let mut nulls = Vec::new();
        let mut adjusted: BTreeMap<String, f64> = BTreeMap::new();
        let mut habits: Vec<String> = Vec::new();
        for members in groups.values() {
            let p: Vec<f64> = members.iter().map(|a| self.judged[*a].1).collect();
            let null = calibration::fit(&p);
            let mut shown = Vec::new();
            for agent in members {
                let p = null.map_or(self.judged[*agent].1, |n| n.adjust(self.judged[*agent].1));
                adjusted.insert(agent.to_string(), p);
                if let Some(signal) = self.signals.get_mut(*agent) {
                    signal.p = null.map_or(signal.p, |n| n.adjust(signal.p));
                    if signal.p <= REPORT_P {
                        shown.push(agent.to_string());
                    }
                }
            }
            nulls.extend(null);
            if shown.len() >= MIN_HABIT_AGENTS
                && shown.len() as f64 > HABIT_SHARE * members.len() as f64
            {
                habits.extend(members.iter().map(|a| a.to_string()));
                *self.gated.entry(Gate::PopulationHabit).or_default() += shown.len();
            }
        }
        for agent in &habits {
            self.signals.remove(agent);
            adjusted.insert(agent.clone(), 1.0);
        }
        let p: Vec<f64> = adjusted.into_values().collect();
        Check::new(self.code, &p, &nulls)
    }
}

/// Share of a calibration group that may show a trait before it is the group's habit rather
/// than evidence: a planted company of our generator has about 2% of each inflating
/// archetype, and a trait a quarter of a company shares says how that company works.
const HABIT_SHARE: f64 = 0.25;
/// Agents that must show a trait before the habit rule applies (two burners in a team of six
/// are two burners).
const MIN_HABIT_AGENTS: usize = 3;

/// Calibrates `extract` within each group of agents: the robust z of each agent's value, its
/// value and its group's calibration, by agent.
fn z_scores(
    cx: &Context,
    group: impl Fn(&AgentSummary) -> String,
    extract: impl Fn(&Profile, &AgentSummary) -> Option<f64>,
    floor: f64,
) -> BTreeMap<String, (String, f64, f64, Calibration)> {
    let mut groups: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (name, profile) in cx.profiles {
        let agent = cx.agents[name.as_str()];
        if let Some(value) = extract(profile, agent) {
            groups
                .entry(group(agent))
                .or_default()
                .push((name.clone(), value));
        }
    }
    let mut out = BTreeMap::new();
    for (label, members) in &groups {
        let values: Vec<f64> = members.iter().map(|(_, v)| *v).collect();
        let Some(calibration) = calibrate(&values, floor, cx.min_agents) else {
            continue;
        };
        for (name, value) in members {
            let z = (value - calibration.median) / calibration.scale;
            out.insert(name.clone(), (label.clone(), z, *value, calibration));
        }
    }
    out
}

/// A robust-z fingerprint's reading: every calibrated agent judged at p = Φ̄(z), and a signal
/// where `signal` finds the effect material.
fn robust_reading(
    code: &'static str,
    scores: BTreeMap<String, (String, f64, f64, Calibration)>,
    mut signal: impl FnMut(&str, f64, f64, Calibration) -> Option<Signal>,
) -> Reading {
    let mut reading = Reading::new(code);
    for (name, (group, z, value, c)) in scores {
        let p = normal_sf(z);
        reading.judged.insert(name.clone(), (group, p));
        if let Some(s) = signal(&name, p, value, c) {
            reading.signals.insert(name, s);
        }
    }
    reading
}

fn kind_group(agent: &AgentSummary) -> String {
    agent.kind.name().to_string()
}

/// What every fingerprint reads.
struct Context<'a> {
    profiles: &'a BTreeMap<String, Profile>,
    agents: BTreeMap<&'a str, &'a AgentSummary>,
    min_agents: usize,
    snapshot_window_hours: u32,
    snapshot_label: &'a str,
}

/// Share of an agent's rows on the hour from which its timestamps are bucket starts (chance
/// puts 1 in 3,600 there).
const MAX_HOUR_SHARE: f64 = 0.5;
/// Share of an agent's sessioned rows in day-long session ids from which the ids are labels.
const MAX_LABEL_SHARE: f64 = 0.5;
/// Share of single-request sessions from which ids name requests, once there are
/// [`MIN_SESSIONS_FOR_SHAPE`] sessions to tell.
const MAX_SINGLE_SHARE: f64 = 0.9;
const MIN_SESSIONS_FOR_SHAPE: u64 = 20;
/// Median repeat share of a kind from which its prompt hashes are not of prompts.
const MAX_MEDIAN_REPEAT_SHARE: f64 = 0.5;

/// The timing gate: `None` when the agent's rows carry request times.
fn timing_gate(profile: &Profile) -> Option<Gate> {
    if profile.bucketed {
        Some(Gate::Bucketed)
    } else if profile.rows > 0
        && profile.rows_on_the_hour as f64 > MAX_HOUR_SHARE * profile.rows as f64
    {
        Some(Gate::HourTimestamps)
    } else {
        None
    }
}

/// The session gate: `None` when the agent's session ids are runs of work.
fn session_gate(profile: &Profile) -> Option<Gate> {
    timing_gate(profile).or(if profile.session_rows == 0 {
        Some(Gate::NoSessions)
    } else if profile.long_session_rows as f64 > MAX_LABEL_SHARE * profile.session_rows as f64 {
        Some(Gate::SessionLabels)
    } else if profile.sessions >= MIN_SESSIONS_FOR_SHAPE
        && profile.single_row_sessions as f64 > MAX_SINGLE_SHARE * profile.sessions as f64
    {
        Some(Gate::SessionPerRequest)
    } else {
        None
    })
}

/// The agents whose session ids are runs of work ([`session_gate`] passes over all their
/// weeks): where the root causes may name sessions.
pub fn agents_with_real_sessions(weeks: &[BehaviorWeek]) -> std::collections::BTreeSet<&str> {
    let mut profiles: BTreeMap<&str, Profile> = BTreeMap::new();
    for week in weeks {
        let profile = profiles.entry(week.agent.as_str()).or_default();
        profile.add_gate_counts(week);
    }
    profiles
        .into_iter()
        .filter(|(_, profile)| session_gate(profile).is_none())
        .map(|(agent, _)| agent)
        .collect()
}

/// TA301: requests per active 10-minute bin that vary far less than people's (lower
/// dispersion is more regular: z of −ln dispersion). Null: the kind's robust centre and scale
/// of that statistic (Iglewicz & Hoaglin 1993), floored at 0.1.
fn cadence(cx: &Context) -> Reading {
    let mut gated = BTreeMap::new();
    for profile in cx.profiles.values() {
        if let Some(gate) = timing_gate(profile) {
            *gated.entry(gate).or_default() += 1;
        }
    }
    let scores = z_scores(
        cx,
        kind_group,
        |p, _| {
            if timing_gate(p).is_some() {
                return None;
            }
            p.dispersion().map(|d| -(d.max(0.01)).ln())
        },
        0.1,
    );
    let mut reading = robust_reading(CADENCE, scores, |name, p, value, c| {
        let dispersion = (-value).exp();
        (dispersion < CADENCE_DISPERSION).then(|| Signal {
            p,
            covers: Coverage::Period,
            share: (1.0 - dispersion).clamp(0.0, 1.0),
            reason: Reason {
                code: CADENCE,
                message: format!(
                    "requests per active 10-minute bin vary with dispersion {:.2} (agents of its kind: {:.2}) over {} bins",
                    dispersion,
                    (-c.median).exp(),
                    grouped(cx.profiles[name].bins)
                ),
                observed: round_to(dispersion, 3),
                expected: round_to((-c.median).exp(), 3),
            },
        })
    });
    reading.gated = gated;
    reading
}

/// TA302: the share of requests whose prompt hash already occurred that week. Null: the kind's
/// robust centre and scale, floored at 0.05. Gate: a kind whose median agent repeats half its
/// prompts has hashes that are not of prompts (a fixed system prompt hashed), and is skipped.
fn repeated_prompts(cx: &Context) -> Reading {
    let mut scores = z_scores(cx, kind_group, |p, _| p.repeat_share(), 0.05);
    let mut gated = BTreeMap::new();
    let constant: Vec<String> = scores
        .values()
        .filter(|(_, _, _, c)| c.median >= MAX_MEDIAN_REPEAT_SHARE)
        .map(|(group, ..)| group.clone())
        .collect();
    scores.retain(|_, (group, ..)| {
        let keep = !constant.contains(group);
        if !keep {
            *gated.entry(Gate::ConstantPrompts).or_default() += 1;
        }
        keep
    });
    let mut reading = robust_reading(REPEATED_PROMPTS, scores, |name, p, share, c| {
        (share >= 0.3).then(|| Signal {
            p,
            covers: Coverage::Period,
            share,
            reason: Reason {
                code: REPEATED_PROMPTS,
                message: format!(
                    "{:.0}% of {} prompted requests repeat a prompt sent earlier that week (median of its kind {:.0}%)",
                    share * 100.0,
                    grouped(cx.profiles[name].prompted),
                    c.median * 100.0
                ),
                observed: round_to(share, 4),
                expected: round_to(c.median, 4),
            },
        })
    });
    reading.gated = gated;
    reading
}

/// Other members of a team from whom the team's own context habit is read.
const MIN_TEAM_NORM_OTHERS: usize = 4;

/// How far above its models' medians the rest of a team must send context before that is the
/// team's habit: agents on one model differ by about a quarter ([`CONTEXT_SCALE_FLOOR`]), and
/// so do teams; a team at 1.2x that moved every member's reference lost a planted stuffer in
/// the robustness matrix.
const MIN_TEAM_HABIT_RATIO: f64 = 1.5;

/// How far above its calibration group's median the rest of each agent's team sends context
/// (the median of their ln ratios, so members on different models count together), where at
/// least [`MIN_TEAM_NORM_OTHERS`] others were judged: a team whose work needs more context (a
/// monorepo) sends it on every request, and a whole team above the model's median is how that
/// team works, not each member stuffing. One member well above the rest of the team is still
/// read.
fn team_norms(
    cx: &Context,
    scores: &BTreeMap<String, (String, f64, f64, Calibration)>,
) -> BTreeMap<String, f64> {
    let mut teams: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
    for (name, (_, _, value, c)) in scores {
        let team = cx.agents[name.as_str()].team.as_str();
        teams
            .entry(team)
            .or_default()
            .push((name.as_str(), value - c.median));
    }
    let mut norms = BTreeMap::new();
    for members in teams.values().filter(|m| m.len() > MIN_TEAM_NORM_OTHERS) {
        for (name, _) in members {
            let others: Vec<f64> = members
                .iter()
                .filter(|(other, _)| other != name)
                .map(|(_, above)| *above)
                .collect();
            if let Some(norm) = median(&others) {
                norms.insert(name.to_string(), norm);
            }
        }
    }
    norms
}

/// TA303: context tokens per request, against agents of the kind on the same primary model
/// where enough share it, raised by as much as the rest of the agent's team sends above theirs
/// ([`team_norms`]). Null: that group's robust centre and scale of ln(context), floored at
/// [`CONTEXT_SCALE_FLOOR`], the centre moved up by the team's habit.
fn context_stuffing(cx: &Context) -> Reading {
    let mut per_model: BTreeMap<String, usize> = BTreeMap::new();
    for agent in cx.agents.values().filter(|a| a.eligible) {
        *per_model.entry(model_group(agent)).or_default() += 1;
    }
    let scores = z_scores(
        cx,
        |agent| {
            let model = model_group(agent);
            if per_model.get(&model).copied().unwrap_or(0) >= 2 * cx.min_agents {
                format!("{} on {model}", agent.kind.name())
            } else {
                kind_group(agent)
            }
        },
        |_, agent| context_per_request(agent).map(f64::ln),
        CONTEXT_SCALE_FLOOR,
    );
    let norms = team_norms(cx, &scores);
    let mut by_team = BTreeSet::new();
    let scores = scores
        .into_iter()
        .map(|(name, (label, z, value, c))| match norms.get(&name) {
            Some(norm) if *norm >= MIN_TEAM_HABIT_RATIO.ln() => {
                by_team.insert(name.clone());
                let c = Calibration {
                    median: c.median + norm,
                    scale: c.scale,
                };
                (name, (label, (value - c.median) / c.scale, value, c))
            }
            _ => (name, (label, z, value, c)),
        })
        .collect();
    robust_reading(CONTEXT_STUFFING, scores, |name, p, value, c| {
        let ratio = (value - c.median).exp();
        let against = if by_team.contains(name) {
            format!("the rest of team {}", cx.agents[name].team)
        } else {
            "agents".to_string()
        };
        (ratio >= MIN_CONTEXT_RATIO).then(|| Signal {
            p,
            covers: Coverage::Period,
            share: 1.0 - 1.0 / ratio,
            reason: Reason {
                code: CONTEXT_STUFFING,
                message: format!(
                    "{} context tokens per request against {} for {against} on {} ({:.1}x)",
                    grouped(value.exp().round() as u64),
                    grouped(c.median.exp().round() as u64),
                    model_group(cx.agents[name]),
                    ratio
                ),
                observed: value.exp().round(),
                expected: c.median.exp().round(),
            },
        })
    })
}

/// TA304 (people only): the share of requests in the quietest 8 hours of the day. Null: the
/// robust centre and scale over people, floored at 0.02.
fn round_the_clock(cx: &Context) -> Reading {
    let scores = z_scores(
        cx,
        kind_group,
        |p, agent| {
            if agent.kind == AgentKind::Human {
                p.quiet_share()
            } else {
                None
            }
        },
        0.02,
    );
    robust_reading(ROUND_THE_CLOCK, scores, |_, p, share, c| {
        (share >= ALL_HOURS_SHARE).then(|| Signal {
            p,
            covers: Coverage::Period,
            share,
            reason: Reason {
                code: ROUND_THE_CLOCK,
                message: format!(
                    "{:.0}% of requests fall in its quietest 8 hours of the day (people in the cohort: {:.0}%)",
                    share * 100.0,
                    c.median * 100.0
                ),
                observed: round_to(share, 4),
                expected: round_to(c.median, 4),
            },
        })
    })
}

/// TA305: the share of requests in the hours before the weekly leaderboard snapshot, in at
/// least half the weeks. Null: the kind's robust centre and scale, floored at 0.03.
fn pre_snapshot(cx: &Context) -> Reading {
    let scores = z_scores(cx, kind_group, |p, _| p.snapshot_share(), 0.03);
    robust_reading(PRE_SNAPSHOT, scores, |name, p, share, c| {
        let profile = &cx.profiles[name];
        let high: std::collections::BTreeSet<chrono::NaiveDate> = profile
            .snapshot_shares
            .iter()
            .filter(|(_, s)| *s >= 2.0 * c.median)
            .map(|(week, _)| *week)
            .collect();
        let high_weeks = high.len();
        let repeated = 2 * high_weeks >= profile.snapshot_shares.len();
        (share >= 0.25 && share >= 2.0 * c.median && repeated).then(|| Signal {
            p,
            covers: Coverage::Weeks(high),
            share: ((share - c.median) / (1.0 - c.median)).clamp(0.0, 1.0),
            reason: Reason {
                code: PRE_SNAPSHOT,
                message: format!(
                    "{:.0}% of requests in the {} hours before the weekly snapshot ({}) against a median of {:.0}%, in {} of {} weeks",
                    share * 100.0,
                    cx.snapshot_window_hours,
                    cx.snapshot_label,
                    c.median * 100.0,
                    high_weeks,
                    profile.snapshot_shares.len()
                ),
                observed: round_to(share, 4),
                expected: round_to(c.median, 4),
            },
        })
    })
}

/// TA306: the most sessions started within one 5-minute window. Null: a Poisson model of the
/// agent's own session starts (Bonferroni over the windows and weeks looked at), checked
/// against the empirical null of its kind ([`Reading::calibrate`]). Gates: timestamps that are
/// request times and session ids that are runs of work ([`session_gate`]).
fn parallel_sessions(cx: &Context) -> Reading {
    let mut reading = Reading::new(PARALLEL_SESSIONS);
    for (name, profile) in cx.profiles {
        if let Some(gate) = session_gate(profile) {
            reading.gate(gate);
            continue;
        }
        let agent = cx.agents[name.as_str()];
        let p = profile.parallel.map_or(1.0, |(p, ..)| p);
        reading.judged.insert(name.clone(), (kind_group(agent), p));
        let Some((p, starts, sessions, week)) = profile.parallel else {
            continue;
        };
        if starts >= MIN_PARALLEL_STARTS {
            reading.signals.insert(
                name.clone(),
                Signal {
                    p,
                    covers: Coverage::Weeks(profile.parallel_weeks.clone()),
                    share: 1.0 - 1.0 / starts as f64,
                    reason: Reason {
                        code: PARALLEL_SESSIONS,
                        message: format!(
                            "{starts} sessions started within 5 minutes in the week of {week}; at its {sessions} sessions that week, chance alone rarely starts more than 2 together"
                        ),
                        observed: starts as f64,
                        expected: 1.0,
                    },
                },
            );
        }
    }
    reading
}

/// TA307: the list-price cost per trivial turn. Null: the kind's robust centre and scale of
/// its logarithm, floored at [`TRIVIAL_SCALE_FLOOR`].
fn trivial_turns(cx: &Context) -> Reading {
    let scores = z_scores(
        cx,
        kind_group,
        |_, agent| trivial_turn_cost(agent).map(f64::ln),
        TRIVIAL_SCALE_FLOOR,
    );
    robust_reading(TRIVIAL_TURNS, scores, |name, p, value, c| {
        let agent = cx.agents[name];
        let ratio = (value - c.median).exp();
        let share = agent.trivial_requests as f64 / agent.requests.max(1) as f64;
        if ratio < MIN_TRIVIAL_RATIO || share < MIN_TRIVIAL_SHARE {
            return None;
        }
        let usual = c.median.exp();
        let excess = agent.trivial_cost_usd - agent.trivial_requests as f64 * usual;
        Some(Signal {
            p,
            covers: Coverage::Period,
            share: (excess / agent.cost_usd).clamp(0.0, 1.0),
            reason: Reason {
                code: TRIVIAL_TURNS,
                message: format!(
                    "{} of {} turns are trivial and cost {} each at list price against {} for agents of its kind ({:.1}x): {} above what such turns usually cost",
                    grouped(agent.trivial_requests),
                    grouped(agent.requests),
                    per_turn(value.exp()),
                    per_turn(usual),
                    ratio,
                    crate::units::usd(excess.max(0.0))
                ),
                observed: round_to(value.exp(), 5),
                expected: round_to(usual, 5),
            },
        })
    })
}

/// The lens's verdicts, and the fingerprints of the agents whose fingerprints are clear (lens p
/// at most [`super::efficiency::SUSPECT_P`]), for [`groups`]: a weak fingerprint next to a
/// strong one would chain an agent with a passing habit into a group of burners.
#[derive(Debug, Default)]
pub struct Judgement {
    pub assessments: Vec<Assessment>,
    pub fingerprints: BTreeMap<String, groups::Fingerprint>,
    /// Each fingerprint's calibration against the population, in code order.
    pub checks: Vec<Check>,
    /// Fingerprints skipped for some agents, and why.
    pub skipped: Vec<Skip>,
    /// The [`WORKFLOW`] fingerprints reported, as (agent, code), with their levels
    /// ([`workflow_level`]).
    pub reported_workflow: BTreeMap<(String, &'static str), f64>,
}

impl Judgement {
    /// The lens's calibration row: its agents' p-values, and the worst status of its
    /// fingerprints', naming those judged against the population.
    pub fn lens_check(&self) -> Check {
        let p: Vec<f64> = self.assessments.iter().map(|a| a.p_value).collect();
        let mut check = Check::new(super::codes::BEHAVIOR, &p, &[]);
        check.status = self
            .checks
            .iter()
            .map(|c| c.status)
            .fold(calibration::Status::NotChecked, calibration::Status::worst);
        let discounted: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| c.status == calibration::Status::Discounted)
            .map(|c| c.scope.as_str())
            .collect();
        if !discounted.is_empty() {
            check.note = Some(format!(
                "judged against the population where its model's p-values were too small for it: {}",
                discounted.join(", ")
            ));
        }
        check
    }
}

/// Fingerprints of a way of working rather than of waste: a fixed cadence (a CI job, a
/// scheduled agent), sessions side by side (worktrees), work at all hours (on-call, time
/// zones, a service). They are evidence of burning only where the spend is not matched by
/// output, so they are not reported for an agent whose peer-comparison p is above the
/// fingerprint's level ([`workflow_level`]): the peer comparison found no sign that it spends
/// more than its output needs. Context stuffing is not among them: padding every request
/// multiplies spend whatever the output, and where elasticities differ by person the peer
/// comparison misses stuffers it should corroborate (two of six in the `all` world). Nor are a
/// loop's repeated prompts (TA302).
pub const WORKFLOW: [&str; 3] = [CADENCE, PARALLEL_SESSIONS, ROUND_THE_CLOCK];

/// Peer-comparison p for a person's way of working, above which its spend is taken as matched
/// by its output: honest power users who run several worktrees and deliver in proportion sit
/// anywhere in the peers' spread (p 0.28 and 0.57 on the `power-users` world's seeds 1 and 2),
/// a burner with sessions side by side above it, though not always far (p 0.04 in seeds 3 and
/// 6 of the default company, and of the worlds that reshape it; 0.07 and 0.09 when the
/// `global-time-zones` world drew those companies anew): the peer comparison need only lean
/// towards excess, not prove it.
const PERSON_WORKFLOW_P: f64 = 0.2;

/// The level of [`WORKFLOW`] fingerprint `code` for an agent: its peer-comparison p above
/// which the fingerprint is not reported. `kinds` says whether an identity map names which
/// agents are services.
///
/// With a map, a person's rhythm (sessions side by side; all hours) keeps
/// [`PERSON_WORKFLOW_P`], and a fixed cadence under a person's name is always reported: the map
/// says it is a person, and services are judged among services.
///
/// Without one, every agent is judged among people, and automation's rhythm (a fixed cadence;
/// all hours on every day of the week) takes the fingerprints' own reporting level,
/// [`REPORT_P`]. A CI account or a service exceeds people's spend many times, and its peer p
/// scatters: 0.04–0.12 for the honest CI and service accounts the `all` world flagged without
/// a map on seeds 304–316. A loop that delivers nothing sits far below (p at most 2e-5 over
/// the planted loops of that world, seeds 1–6), and its repeated prompts are read apart.
fn workflow_level(code: &str, profile: &Profile, kinds: Kinds) -> Option<f64> {
    let automation = kinds == Kinds::Unknown;
    match code {
        CADENCE if automation => Some(REPORT_P),
        ROUND_THE_CLOCK if automation && !profile.rests_weekly() => Some(REPORT_P),
        PARALLEL_SESSIONS | ROUND_THE_CLOCK => Some(PERSON_WORKFLOW_P),
        _ => None,
    }
}

/// Whether an identity map says which agents are services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    Mapped,
    Unknown,
}

/// Whether any reported workflow fingerprint of `judged` is matched by output, by the
/// peer-comparison p-values `peer_p`: then the lens must judge again ([`assess`]).
pub fn explains_any(judged: &Judgement, peer_p: &BTreeMap<String, f64>) -> bool {
    judged
        .reported_workflow
        .iter()
        .any(|((agent, _), level)| peer_p.get(agent).is_some_and(|p| p > level))
}

/// Judges every eligible agent with request-level fingerprints. `peer_p` holds the
/// peer-comparison p-values of agents with a reported workflow fingerprint (`detect::run`):
/// a [`WORKFLOW`] fingerprint that their output matches is not reported.
pub fn assess(
    population: &Population,
    config: &DetectConfig,
    kinds: Kinds,
    peer_p: &BTreeMap<String, f64>,
) -> Judgement {
    // Grouped by runs of one agent: one lookup per agent when the weeks come sorted.
    let mut weeks: BTreeMap<&str, Vec<&BehaviorWeek>> = BTreeMap::new();
    for run in population.behavior.chunk_by(|a, b| a.agent == b.agent) {
        weeks.entry(&run[0].agent).or_default().extend(run);
    }
    let profiles = profiles(population, &weeks);
    if profiles.is_empty() {
        return Judgement::default();
    }
    let cx = Context {
        profiles: &profiles,
        agents: population
            .agents
            .iter()
            .map(|a| (a.agent.as_str(), a))
            .collect(),
        min_agents: config.min_cohort_agents,
        snapshot_window_hours: population.snapshot.window_hours,
        snapshot_label: &config.snapshot,
    };
    // Each fingerprint reads the profiles alone: read and calibrated in parallel, kept in
    // this order.
    let fingerprints: [fn(&Context) -> Reading; 7] = [
        cadence,
        repeated_prompts,
        context_stuffing,
        round_the_clock,
        pre_snapshot,
        parallel_sessions,
        trivial_turns,
    ];
    let (mut readings, checks): (Vec<Reading>, Vec<Check>) = fingerprints
        .par_iter()
        .map(|read| {
            let mut reading = read(&cx);
            let check = reading.calibrate();
            (reading, check)
        })
        .unzip();
    let level = |code: &str, name: &str| workflow_level(code, &profiles[name], kinds);
    for reading in readings.iter_mut() {
        let explained: Vec<String> = reading
            .signals
            .iter()
            .filter(|(name, s)| {
                s.p <= REPORT_P
                    && peer_p
                        .get(*name)
                        .is_some_and(|p| level(reading.code, name).is_some_and(|level| *p > level))
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in explained {
            reading.signals.remove(&name);
            reading.gate(Gate::DeliversInProportion);
        }
    }
    let skipped = readings
        .iter()
        .flat_map(|r| super::quality::skips(r.code, &r.gated))
        .collect();
    let reported_workflow = readings
        .iter()
        .flat_map(|r| r.signals.iter().map(move |(name, s)| (name, s, r.code)))
        .filter(|(_, s, _)| s.p <= REPORT_P)
        .filter_map(|(name, _, code)| Some(((name.clone(), code), level(code, name)?)))
        .collect();

    let mut assessments = Vec::new();
    let mut fingerprints = BTreeMap::new();
    for name in profiles.keys() {
        let agent = cx.agents[name.as_str()];
        let signals: Vec<Signal> = readings
            .iter_mut()
            .filter_map(|r| r.signals.remove(name))
            .collect();
        let mut print = [0.0; groups::TRAITS.len()];
        for signal in signals.iter().filter(|s| s.p <= REPORT_P) {
            if let Some(j) = groups::trait_index(signal.reason.code) {
                print[j] = normal_isf(signal.p).max(0.0);
            }
        }
        let assessment = combine(agent, signals);
        // Only clear fingerprints are grouped (see `Judgement::fingerprints`).
        if assessment.p_value <= super::efficiency::SUSPECT_P {
            fingerprints.insert(name.clone(), print);
        }
        assessments.push(assessment);
    }
    Judgement {
        assessments,
        fingerprints,
        checks,
        skipped,
        reported_workflow,
    }
}

/// The lens's verdict: the strongest fingerprint, Bonferroni-corrected over those that passed
/// their gates; the dollars at stake are the largest share of spend a reported one explains.
fn combine(agent: &AgentSummary, mut signals: Vec<Signal>) -> Assessment {
    signals.sort_by(|a, b| a.p.total_cmp(&b.p));
    let p_value = signals
        .first()
        .map_or(1.0, |s| (s.p * signals.len() as f64).min(1.0));
    let reported: Vec<&Signal> = signals.iter().filter(|s| s.p <= REPORT_P).collect();
    let share = reported.iter().map(|s| s.share).fold(0.0, f64::max);
    let excess = agent.cost_usd * share;
    Assessment {
        agent: agent.agent.clone(),
        // The lens's p is the strongest fingerprint's: so are the weeks it is about.
        covers: signals
            .first()
            .map_or(Coverage::Period, |s| s.covers.clone()),
        onset_week: None,
        p_value,
        score: super::stats::normal_isf(p_value),
        excess_cost_usd: excess,
        excess_factor: 1.0 / (1.0 - share).max(0.01),
        reasons: reported.into_iter().map(|s| s.reason.clone()).collect(),
    }
}

/// List-price cost per trivial turn, for agents with enough of them.
fn trivial_turn_cost(agent: &AgentSummary) -> Option<f64> {
    (agent.trivial_requests >= MIN_TRIVIAL_TURNS && agent.trivial_cost_usd > 0.0)
        .then(|| agent.trivial_cost_usd / agent.trivial_requests as f64)
}

/// Dollars per turn, to a tenth of a cent.
fn per_turn(usd: f64) -> String {
    format!("${usd:.3}")
}

fn context_per_request(agent: &AgentSummary) -> Option<f64> {
    let context = agent.tokens.input + agent.tokens.cache_read + agent.tokens.cache_write;
    (agent.requests > 0 && context > 0).then(|| context as f64 / agent.requests as f64)
}

fn model_group(agent: &AgentSummary) -> String {
    agent
        .primary_model
        .clone()
        .unwrap_or_else(|| "any model".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispersion_of_a_fixed_cadence_is_near_zero_and_of_bursts_above_one() {
        let steady = Profile {
            bins: 100,
            bin_requests: 600,
            bin_squares: 100 * 36 + 10,
            ..Profile::default()
        };
        assert!(steady.dispersion().unwrap() < 0.05);
        // Half the bins hold 1 request, half hold 11: mean 6, variance 25.
        let bursty = Profile {
            bins: 100,
            bin_requests: 50 + 550,
            bin_squares: 50 + 50 * 121,
            ..Profile::default()
        };
        assert!((bursty.dispersion().unwrap() - 25.0 / 6.0).abs() < 1e-9);
        let bucketed = Profile {
            bucketed: true,
            ..steady
        };
        assert!(bucketed.dispersion().is_none());
    }

    fn summary(name: &str, trivial: u64, per_turn: f64) -> AgentSummary {
        AgentSummary {
            agent: name.into(),
            team: "payments".into(),
            kind: AgentKind::Human,
            tokens: crate::normalize::pricing::Tokens::default(),
            requests: 1_000,
            cost_usd: 400.0,
            output_index: 80.0,
            weeks_active: 4,
            active_days: 20,
            eligible: true,
            primary_model: Some("claude-sonnet-4-5".into()),
            trivial_requests: trivial,
            trivial_cost_usd: trivial as f64 * per_turn,
            active_output: 80.0,
            active_output_squares: 4.0 * 20.0 * 20.0,
            area: "payments".into(),
            judged_cost_usd: 400.0,
        }
    }

    fn judge_trivial(agents: Vec<AgentSummary>) -> Vec<Assessment> {
        judge_trivial_with_hour(agents, 10)
    }

    fn judge_trivial_with_hour(agents: Vec<AgentSummary>, hour: u8) -> Vec<Assessment> {
        let behavior: Vec<BehaviorWeek> = agents
            .iter()
            .map(|a| BehaviorWeek {
                agent: a.agent.clone(),
                week: 20_500,
                hours: BTreeMap::from([(hour, 500), (11, 500)]),
                bins: 0,
                bin_requests: 0,
                bin_squares: 0,
                bucketed: true,
                prompted: 0,
                distinct_prompts: 0,
                sessions: 0,
                max_simultaneous_starts: 0,
                session_rows: 0,
                long_session_rows: 0,
                single_row_sessions: 0,
                rows: 2,
                rows_on_the_hour: 0,
            })
            .collect();
        let population = Population {
            weeks: &[],
            agents,
            behavior: &behavior,
            snapshot: crate::detect::DEFAULT_SNAPSHOT,
            reading: Default::default(),
        };
        assess(
            &population,
            &DetectConfig::default(),
            Kinds::Mapped,
            &BTreeMap::new(),
        )
        .assessments
    }

    /// A person of `team` sending `context` tokens per request on one model.
    fn sending(name: &str, team: &str, context: f64) -> AgentSummary {
        let mut agent = summary(name, 0, 0.0);
        agent.team = team.into();
        agent.tokens.input = (context * agent.requests as f64) as u64;
        agent
    }

    fn context_reason(results: &[Assessment], agent: &str) -> Option<String> {
        results
            .iter()
            .find(|a| a.agent == agent)?
            .reasons
            .iter()
            .find(|r| r.code == CONTEXT_STUFFING)
            .map(|r| r.message.clone())
    }

    #[test]
    fn a_team_that_needs_more_context_is_its_habit_and_its_outlier_is_still_read() {
        // Sixteen people at about 100K tokens of context a request, one of them stuffing at
        // 400K; a monorepo team of six at about 300K, one of them at 1.2M (4x the team).
        let mut agents: Vec<AgentSummary> = (0..16)
            .map(|i| {
                sending(
                    &format!("p{i:02}"),
                    "payments",
                    1e5 * (1.0 + 0.02 * i as f64),
                )
            })
            .collect();
        agents.extend(
            (0..6).map(|i| sending(&format!("m{i}"), "monorepo", 3e5 * (1.0 + 0.02 * i as f64))),
        );
        agents.push(sending("stuffer", "payments", 4e5));
        agents.push(sending("monorepo-stuffer", "monorepo", 1.2e6));
        let results = judge_trivial(agents);
        for i in 0..6 {
            let member = format!("m{i}");
            assert_eq!(context_reason(&results, &member), None, "{member}");
        }
        assert!(context_reason(&results, "stuffer")
            .expect("the payments stuffer is read")
            .contains("for agents on"));
        assert!(context_reason(&results, "monorepo-stuffer")
            .expect("the monorepo's outlier is read")
            .contains("for the rest of team monorepo on"));
    }

    /// Twelve people with 300 trivial turns each, at a cent to about a cent and a half.
    fn cent_per_trivial_turn() -> Vec<AgentSummary> {
        (0..12)
            .map(|i| summary(&format!("p{i:02}"), 300, 0.010 * (1.0 + 0.04 * i as f64)))
            .collect()
    }

    #[test]
    fn trivial_turns_on_a_costly_model_are_found_and_priced() {
        // Twelve people whose 300 trivial turns cost about a cent each; one whose cost 8 cents.
        let mut agents = cent_per_trivial_turn();
        agents.push(summary("premium", 300, 0.08));
        // A premium-model user with only a few trivial turns is not judged on them.
        agents.push(summary("rare", 20, 0.08));
        let results = judge_trivial(agents);
        let premium = results.iter().find(|a| a.agent == "premium").unwrap();
        assert!(premium.p_value < 1e-4, "{premium:?}");
        let reason = premium
            .reasons
            .iter()
            .find(|r| r.code == TRIVIAL_TURNS)
            .expect("TA307 reported");
        assert_eq!(reason.observed, 0.08);
        // 300 turns at 8 cents against the median of about 1.2 cents: about $20 excess.
        assert!(
            (premium.excess_cost_usd - 300.0 * (0.08 - 0.0122)).abs() < 1.0,
            "{premium:?}"
        );
        for honest in results.iter().filter(|a| a.agent != "premium") {
            assert_eq!(honest.p_value, 1.0, "{honest:?}");
        }
    }

    #[test]
    fn a_costly_model_for_a_few_trivial_turns_is_not_a_habit() {
        // Costly per turn, but trivial turns are 5% of the agent's requests: below the gate.
        let mut agents = cent_per_trivial_turn();
        agents.push(summary("premium", 50, 0.08));
        let results = judge_trivial(agents);
        let premium = results.iter().find(|a| a.agent == "premium").unwrap();
        assert_eq!(premium.p_value, 1.0, "{premium:?}");
    }

    #[test]
    fn an_hour_past_the_week_wraps_instead_of_panicking() {
        let mut agents: Vec<AgentSummary> = (0..8)
            .map(|i| summary(&format!("p{i:02}"), 0, 0.0))
            .collect();
        agents[0].requests = 2;
        let results = judge_trivial_with_hour(agents, 200);
        assert_eq!(results.len(), 8);
    }

    #[test]
    fn the_quietest_third_of_a_persons_day_is_empty() {
        let mut hours = vec![0u64; HOURS];
        for day in 0..5 {
            for hour in 9..18 {
                hours[day * 24 + hour] = 10;
            }
        }
        let person = Profile {
            requests: hours.iter().sum(),
            hours: hours.clone(),
            ..Profile::default()
        };
        assert_eq!(person.quiet_share(), Some(0.0));
        let around_the_clock = Profile {
            requests: 168 * 10,
            hours: vec![10; HOURS],
            ..Profile::default()
        };
        assert!((around_the_clock.quiet_share().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_person_rests_one_day_in_the_week_and_a_service_does_not() {
        let profile = |hours: Vec<u64>| Profile {
            requests: hours.iter().sum(),
            hours,
            ..Profile::default()
        };
        // A burner whose agents run at all hours on weekdays, in a time zone where the weekend
        // straddles the week's first and last day.
        let mut burner = vec![30u64; HOURS];
        burner[36..84].fill(2);
        assert!(profile(burner.clone()).rests_weekly());
        // A service at all hours of every day, busier on some: no rest.
        let service: Vec<u64> = (0..HOURS as u64).map(|h| 20 + (h * 7) % 13).collect();
        assert!(!profile(service.clone()).rests_weekly());
        // Without a map, round the clock weighs as a person's way of working only for the
        // burner, and a fixed cadence is automation's rhythm in both.
        let level =
            |code, hours: &Vec<u64>, kinds| workflow_level(code, &profile(hours.clone()), kinds);
        use Kinds::{Mapped, Unknown};
        assert_eq!(
            level(ROUND_THE_CLOCK, &burner, Unknown),
            Some(PERSON_WORKFLOW_P)
        );
        assert_eq!(level(ROUND_THE_CLOCK, &service, Unknown), Some(REPORT_P));
        assert_eq!(level(CADENCE, &burner, Unknown), Some(REPORT_P));
        assert_eq!(
            level(PARALLEL_SESSIONS, &service, Unknown),
            Some(PERSON_WORKFLOW_P)
        );
        // A map says who is a person: their hours weigh as a person's, and their cadence is
        // always read.
        assert_eq!(
            level(ROUND_THE_CLOCK, &service, Mapped),
            Some(PERSON_WORKFLOW_P)
        );
        assert_eq!(level(CADENCE, &service, Mapped), None);
        // Context stuffing is no way of working.
        assert_eq!(level(CONTEXT_STUFFING, &service, Unknown), None);
        // Too few requests to tell: taken as a person's.
        assert!(profile(vec![0; HOURS]).rests_weekly());
    }
}
