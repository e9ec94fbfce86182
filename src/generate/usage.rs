//! Request-level usage and delivered outputs for each agent-week, streamed to disk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal, Poisson};

use super::population::{
    agent_rng, purpose, AgentProfile, Archetype, CiSchedule, SNAPSHOT_WEEKDAY_OFFSET_HOURS,
};
use super::world::{SessionSemantics, World};
use super::{GenerateError, GenerateSettings, UsageFileFormat, UsageLayout};
use crate::normalize::pricing::{PriceTable, Rates, Tokens};

/// The model menu (id as logged, tool that logs it). Index 0 is the workhorse.
pub const MODELS: [(&str, &str); 5] = [
    ("claude-sonnet-4-5-20250929", "claude-code"),
    ("gpt-5", "codex"),
    ("claude-opus-4-1-20250805", "claude-code"),
    ("gemini-2.5-pro", "gemini-cli"),
    ("claude-haiku-4-5-20251001", "cursor"),
];

/// Index into [`MODELS`] of Opus, the model world `model-migration` moves everyone to.
const OPUS: usize = 2;

/// Output index points a week for $1 of productive spend, before diminishing returns
/// (calibrated so a typical agent at ~$30 a week delivers ~15 points: six commits, a merged
/// PR or two, a ticket and a couple of reviews).
const OUTPUT_SCALE: f64 = 3.3;
/// Output elasticity of spend for honest work.
pub const ELASTICITY: f64 = 0.45;
/// Weekly productive spend at which an agent's own elasticity (world `diverse-elasticity`)
/// meets the shared curve, so that a typical agent (the ~$30 of `OUTPUT_SCALE`) delivers the
/// same whatever its elasticity.
const REFERENCE_SPEND_USD: f64 = 30.0;
const DUPLICATE_SHARE: f64 = 0.003;
const FLUSH_ROWS: usize = 500_000;

/// Mean output index a week for `productive_cost` dollars of productive spend, before skill,
/// team and noise.
fn output_curve(productive_cost: f64, elasticity: f64) -> f64 {
    if elasticity.to_bits() == ELASTICITY.to_bits() {
        // The default company's expression, kept so that its bytes do not move.
        OUTPUT_SCALE * productive_cost.powf(ELASTICITY)
    } else {
        OUTPUT_SCALE
            * REFERENCE_SPEND_USD.powf(ELASTICITY)
            * (productive_cost / REFERENCE_SPEND_USD).powf(elasticity)
    }
}

/// Shares of the output index by kind (commit, merged PR, closed ticket, review); each sums to
/// one, so the weighted index (commit 1, PR 4, ticket 3, review 1) has the same mean whatever
/// the mix.
#[derive(Debug, Clone, Copy)]
struct OutputMix {
    commit: f64,
    pr_merged: f64,
    ticket_closed: f64,
    review: f64,
}

const DEFAULT_MIX: OutputMix = OutputMix {
    commit: 0.35,
    pr_merged: 0.35,
    ticket_closed: 0.2,
    review: 0.1,
};

/// World `review-heavy`: reviews most of the index and by far the most frequent kind (0.57 per
/// index point against 0.25 commits, 0.04 PRs and 0.01 tickets).
const REVIEW_HEAVY_MIX: OutputMix = OutputMix {
    commit: 0.25,
    pr_merged: 0.15,
    ticket_closed: 0.03,
    review: 0.57,
};

/// The first inflated week of an onset inflater (0-based).
pub fn onset_week(weeks: u32) -> u32 {
    weeks / 2
}

/// World `holiday-week`: the holiday week (0-based).
pub fn holiday_week(weeks: u32) -> u32 {
    weeks * 2 / 3
}

/// World `holiday-week`: the days people work in the holiday week, from its Monday (UTC).
const HOLIDAY_WORKDAYS: i64 = 2;

/// World `holiday-week`: when what the freeze held back merges, seconds after it ends (the
/// Monday's working hours, UTC).
const FREEZE_THAW: std::ops::Range<i64> = 8 * 3_600..18 * 3_600;

/// World `output-lag`: the first pull request and ticket number of the work before the period.
const EARLIER_NUMBERS: u64 = 9_000;

/// World `output-lag`: how long after the work an artifact lands, seconds (1–9 days).
const LAG_SECONDS: std::ops::RangeInclusive<i64> = 86_400..=9 * 86_400;

/// Worlds `output-lag` and `holiday-week`: whether and when each of an agent's artifacts
/// lands, drawn from a stream of its own so that the default company's draws stay as they are.
struct Landing {
    rng: ChaCha8Rng,
    /// The export's period: an artifact moved past its end (by lag or a freeze) is not in it.
    period: std::ops::Range<i64>,
    /// Artifacts land 1–9 days after their work (`output-lag`).
    lagged: bool,
    /// The first day off (`holiday-week`): work from it on was not done, and its artifacts do
    /// not exist.
    worked_until: Option<i64>,
    /// The end of a change freeze (`holiday-week`): nothing merges or closes before it, and
    /// what would have lands on the working day after it.
    frozen_until: Option<i64>,
}

impl Landing {
    /// When an artifact of work at `ts` lands; `None` when its work was not done or it is
    /// not in the export.
    fn land(&mut self, ts: i64, merges: bool) -> Option<i64> {
        if self.worked_until.is_some_and(|day_off| ts >= day_off) {
            return None;
        }
        let mut landed = match self.frozen_until {
            Some(until) if merges && ts < until => until + self.rng.gen_range(FREEZE_THAW),
            _ => ts,
        };
        if self.lagged {
            landed += self.rng.gen_range(LAG_SECONDS);
        }
        (landed == ts || self.period.contains(&landed)).then_some(landed)
    }
}

#[derive(Debug, Clone, Copy)]
struct Request {
    /// Seconds since the epoch, UTC.
    ts: i64,
    model: usize,
    tokens: Tokens,
    session: u32,
    prompt: u64,
}

pub struct Written {
    pub usage_rows: u64,
    pub requests: u64,
    pub output_rows: u64,
}

fn iso(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .expect("timestamp in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    LogNormal::new(median.ln(), sigma)
        .expect("valid")
        .sample(rng)
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean).expect("positive mean").sample(rng) as u64
}

/// Tokens of one coding-agent turn: cache reads dominate, output is small. `context` scales
/// the context an agent habitually sends (input, cache reads and writes).
fn turn_tokens(rng: &mut ChaCha8Rng, context: f64) -> Tokens {
    Tokens {
        input: (lognormal(rng, 3_000.0, 0.8) * context) as u64,
        output: lognormal(rng, 1_200.0, 0.7) as u64,
        cache_read: (lognormal(rng, 90_000.0, 0.6) * context) as u64,
        cache_write: if rng.gen_bool(0.3) {
            (lognormal(rng, 12_000.0, 0.9) * context) as u64
        } else {
            0
        },
    }
}

/// The context an agent's work needs: its habit, without a context stuffer's padding.
fn needed_context(profile: &AgentProfile) -> f64 {
    if profile.archetype == Archetype::ContextStuffer {
        profile.context / profile.burn
    } else {
        profile.context
    }
}

/// Session start in UTC seconds: a weekday at working hours local time, or anywhere in the
/// week for service accounts.
///
/// Draws outside the working day or the UTC week are drawn again rather than clamped: a clamp
/// would pile every such session onto one instant (07:00 sharp, or the week's edge), and a
/// heavy user's pile reads as sessions started together on purpose.
fn session_start(rng: &mut ChaCha8Rng, profile: &AgentProfile, week_start: i64) -> i64 {
    if profile.archetype.is_service() {
        return week_start + rng.gen_range(0..7 * 86_400);
    }
    let hours = Normal::new(13.5_f64, 2.5).expect("valid");
    // Keep the week's work inside its UTC week, so generated weeks line up with audit weeks.
    let latest = week_start + 7 * 86_400 - 6 * 3_600;
    let drawn = loop {
        let day = if rng.gen_bool(0.97) {
            rng.gen_range(0..5)
        } else {
            rng.gen_range(5..7)
        };
        let hour = hours.sample(rng);
        if !(7.0..=21.0).contains(&hour) {
            continue;
        }
        let ts = week_start + day * 86_400 + ((hour - profile.drawn_offset_hours) * 3_600.0) as i64;
        if (week_start..=latest).contains(&ts) {
            break ts;
        }
    };
    // The same local hour where the agent really works; a Monday morning that falls in the
    // previous UTC week moves a day on, a late Sunday a day back (offsets differ by less than
    // a day), as worktree mornings do.
    let moved = drawn + ((profile.drawn_offset_hours - profile.utc_offset_hours) * 3_600.0) as i64;
    if moved < week_start {
        moved + 86_400
    } else if moved > latest {
        moved - 86_400
    } else {
        moved
    }
}

/// Where a burst of sessions starts.
#[derive(Clone, Copy)]
enum Starts {
    /// The agent's working hours (around the clock for service accounts).
    Working,
    /// Anywhere in `[from, from + seconds)`.
    Within { from: i64, seconds: i64 },
}

/// `count` requests in human-sized sessions.
fn sessions(
    rng: &mut ChaCha8Rng,
    profile: &AgentProfile,
    week_start: i64,
    count: u64,
    first_session: u32,
    starts: Starts,
    out: &mut Vec<Request>,
) -> u32 {
    let mut remaining = count;
    let mut session = first_session;
    let gap = Exp::new(1.0 / 75.0).expect("valid");
    while remaining > 0 {
        let size = (1 + poisson(rng, 14.0)).min(remaining);
        remaining -= size;
        let ts = match starts {
            Starts::Working => session_start(rng, profile, week_start),
            Starts::Within { from, seconds } => from + rng.gen_range(0..seconds.max(1)),
        };
        human_run(rng, profile, ts, size, session, &gap, out);
        session += 1;
    }
    session
}

/// One session of `size` human-paced requests from `ts`: mostly on the agent's primary model,
/// with a think-and-review gap between turns.
fn human_run(
    rng: &mut ChaCha8Rng,
    profile: &AgentProfile,
    mut ts: i64,
    size: u64,
    session: u32,
    gap: &Exp<f64>,
    out: &mut Vec<Request>,
) {
    for _ in 0..size {
        let model = if rng.gen_bool(0.85) {
            profile.primary_model
        } else {
            MODELS.len() - 1
        };
        out.push(Request {
            ts,
            model,
            tokens: turn_tokens(rng, profile.context),
            session,
            prompt: rng.gen(),
        });
        ts += 3 + gap.sample(rng) as i64;
    }
}

/// `count` requests of a power user: on most weekdays 3–6 worktree sessions started within
/// minutes of each other in the morning, each a human-paced run; every request is productive.
fn worktree_sessions(
    rng: &mut ChaCha8Rng,
    profile: &AgentProfile,
    week_start: i64,
    count: u64,
    first_session: u32,
    out: &mut Vec<Request>,
) -> u32 {
    let days: Vec<i64> = (0..5).filter(|_| rng.gen_bool(0.85)).collect();
    if days.is_empty() {
        return sessions(
            rng,
            profile,
            week_start,
            count,
            first_session,
            Starts::Working,
            out,
        );
    }
    let gap = Exp::new(1.0 / 75.0).expect("valid");
    let latest = week_start + 7 * 86_400 - 6 * 3_600;
    let share = |total: u64, i: usize, parts: usize| {
        total * (i as u64 + 1) / parts as u64 - total * i as u64 / parts as u64
    };
    let mut session = first_session;
    for (i, day) in days.iter().enumerate() {
        let day_count = share(count, i, days.len());
        let lanes = rng.gen_range(3..=6usize);
        let hour = rng.gen_range(8.5..11.0) - profile.utc_offset_hours;
        let mut start = week_start + day * 86_400 + (hour * 3_600.0) as i64;
        // Far time zones put a Monday morning in the previous UTC week: move it by a day.
        if start < week_start {
            start += 86_400;
        } else if start > latest {
            start -= 86_400;
        }
        for lane in 0..lanes {
            let ts = start + rng.gen_range(0..300);
            human_run(
                rng,
                profile,
                ts,
                share(day_count, lane, lanes),
                session,
                &gap,
                out,
            );
            session += 1;
        }
    }
    session
}

/// A CI account's week: one request every `cadence_seconds` (a few percent of jitter), round
/// the clock or in its nightly window, one session a day; each request a real task.
fn ci_requests(
    rng: &mut ChaCha8Rng,
    profile: &AgentProfile,
    schedule: CiSchedule,
    week_start: i64,
    out: &mut Vec<Request>,
) -> u32 {
    let cadence = schedule.cadence_seconds;
    let jitter = (cadence / 30).max(1);
    let week_end = week_start + 7 * 86_400;
    for day in 0..7i64 {
        let (from, hours) = match schedule.nightly {
            Some((hour, hours)) => (week_start + day * 86_400 + (hour * 3_600.0) as i64, hours),
            None => (week_start + day * 86_400, 24.0),
        };
        let end = (from + (hours * 3_600.0) as i64).min(week_end);
        let mut ts = from + rng.gen_range(0..cadence);
        while ts < end {
            out.push(Request {
                ts,
                model: profile.primary_model,
                tokens: turn_tokens(rng, profile.context),
                session: day as u32,
                prompt: rng.gen(),
            });
            ts += cadence + rng.gen_range(-jitter..=jitter);
        }
    }
    7
}

/// A fixed-cadence loop on most weekdays: same small set of prompts, same context size.
fn loop_requests(
    rng: &mut ChaCha8Rng,
    profile: &AgentProfile,
    week_start: i64,
    first_session: u32,
    out: &mut Vec<Request>,
) {
    let mut loop_rng = agent_rng(profile.index as u64, 0, 7);
    let cadence = loop_rng.gen_range(60..120);
    let context = lognormal(&mut loop_rng, 150_000.0, 0.2) as u64;
    let prompts: [u64; 3] = [loop_rng.gen(), loop_rng.gen(), loop_rng.gen()];
    for day in 0..5i64 {
        if !rng.gen_bool(0.9) {
            continue;
        }
        // Loops start on the working day's morning, expressed in UTC hours of that day.
        let start_hour = (rng.gen_range(8.0..10.0) - profile.utc_offset_hours).rem_euclid(24.0);
        let hours = rng.gen_range(6.0..9.0);
        let mut ts = week_start + day * 86_400 + (start_hour * 3_600.0) as i64;
        let end = ts + (hours * 3_600.0) as i64;
        let mut i = 0usize;
        while ts < end {
            out.push(Request {
                ts,
                model: profile.primary_model,
                tokens: Tokens {
                    input: 800 + rng.gen_range(0..50),
                    output: 300 + rng.gen_range(0..30),
                    cache_read: context + rng.gen_range(0..500),
                    cache_write: 0,
                },
                session: first_session + day as u32,
                prompt: prompts[i % prompts.len()],
            });
            ts += cadence + rng.gen_range(-2..=2);
            i += 1;
        }
    }
}

/// `count` requests in 4–8 background sessions running side by side on each weekday, started
/// at any hour and left running for 6–14 hours.
fn parallel_requests(
    rng: &mut ChaCha8Rng,
    profile: &AgentProfile,
    week_start: i64,
    count: u64,
    first_session: u32,
    out: &mut Vec<Request>,
) {
    let lanes = 4 + (profile.index % 5) as u64;
    let per_lane = (count / (5 * lanes)).max(1);
    let mut session = first_session;
    for day in 0..5i64 {
        let start = week_start + day * 86_400 + rng.gen_range(0..86_400);
        let span = rng.gen_range(6.0..14.0) * 3_600.0;
        let gap = Exp::new(per_lane as f64 / span).expect("positive rate");
        for _ in 0..lanes {
            let mut ts = start + rng.gen_range(0..300);
            for _ in 0..per_lane {
                out.push(Request {
                    ts,
                    model: profile.primary_model,
                    tokens: turn_tokens(rng, profile.context),
                    session,
                    prompt: rng.gen(),
                });
                ts += 1 + gap.sample(rng) as i64;
            }
            session += 1;
        }
    }
}

/// Hours before the snapshot in which a snapshot spiker burns.
const SPIKE_HOURS: i64 = 10;

/// The weeks a vacation look-alike is away: two or three in a row from a third of the way in.
fn vacation_weeks(profile: &AgentProfile, weeks: u32, rng: &mut ChaCha8Rng) -> Vec<u32> {
    if profile.archetype != Archetype::Vacation || weeks < 5 {
        return Vec::new();
    }
    let first = weeks / 3;
    let length = rng.gen_range(2..=3).min(weeks - first - 1);
    (first..first + length).collect()
}

/// Accumulates usage rows and writes them in batches.
struct UsageSink {
    path: PathBuf,
    layout: UsageLayout,
    target: SinkTarget,
    ts: Vec<i64>,
    agent: Vec<String>,
    model: Vec<&'static str>,
    tokens: [Vec<u64>; 4],
    requests: Vec<u32>,
    tool: Vec<&'static str>,
    session: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
    prompt: Vec<Option<String>>,
    rows: u64,
}

enum SinkTarget {
    Parquet(Box<polars::io::parquet::write::BatchedWriter<File>>),
    Csv(BufWriter<File>),
    /// `claude-code/<agent>/.claude/projects/…`, as Claude Code writes its logs
    /// ([`super::claude_code`]).
    ClaudeCode(super::claude_code::Sessions),
}

impl UsageSink {
    fn new(settings: &GenerateSettings) -> Result<UsageSink, GenerateError> {
        let (name, format) = match settings.format {
            UsageFileFormat::Parquet => ("usage.parquet", UsageFileFormat::Parquet),
            UsageFileFormat::Csv => ("usage.csv", UsageFileFormat::Csv),
            UsageFileFormat::ClaudeCode => ("claude-code", UsageFileFormat::ClaudeCode),
        };
        let path = settings.out.join(name);
        let target = UsageSink::target(&path, format, settings.layout)?;
        Ok(UsageSink {
            path,
            layout: settings.layout,
            target,
            ts: Vec::new(),
            agent: Vec::new(),
            model: Vec::new(),
            tokens: Default::default(),
            requests: Vec::new(),
            tool: Vec::new(),
            session: Vec::new(),
            request_id: Vec::new(),
            prompt: Vec::new(),
            rows: 0,
        })
    }

    /// Creates the file (or, for Claude Code logs, the folder) the rows go to.
    fn target(
        path: &Path,
        format: UsageFileFormat,
        layout: UsageLayout,
    ) -> Result<SinkTarget, GenerateError> {
        let io = |source| GenerateError::Io {
            path: path.to_path_buf(),
            source,
        };
        if format == UsageFileFormat::ClaudeCode {
            return Ok(SinkTarget::ClaudeCode(
                super::claude_code::Sessions::new(path).map_err(io)?,
            ));
        }
        let file = File::create(path).map_err(io)?;
        let empty = UsageSink::frame_of(path, layout, Default::default())?;
        Ok(match format {
            UsageFileFormat::Parquet => SinkTarget::Parquet(Box::new(
                ParquetWriter::new(file)
                    .batched(empty.schema())
                    .map_err(|source| GenerateError::Polars {
                        path: path.to_path_buf(),
                        source,
                    })?,
            )),
            UsageFileFormat::ClaudeCode => unreachable!("returned above"),
            UsageFileFormat::Csv => {
                let mut out = BufWriter::new(file);
                let header = empty
                    .get_column_names()
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(",");
                writeln!(out, "{header}").map_err(io)?;
                SinkTarget::Csv(out)
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        ts: i64,
        agent: &str,
        model: usize,
        tokens: Tokens,
        requests: u32,
        session: Option<String>,
        request_id: Option<String>,
        prompt: Option<String>,
    ) -> Result<(), GenerateError> {
        self.ts.push(ts);
        self.agent.push(agent.to_string());
        self.model.push(MODELS[model].0);
        self.tool.push(MODELS[model].1);
        for (column, value) in self.tokens.iter_mut().zip([
            tokens.input,
            tokens.output,
            tokens.cache_read,
            tokens.cache_write,
        ]) {
            column.push(value);
        }
        self.requests.push(requests);
        self.session.push(session);
        self.request_id.push(request_id);
        self.prompt.push(prompt);
        self.rows += 1;
        if self.ts.len() >= FLUSH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn frame_of(
        path: &Path,
        layout: UsageLayout,
        columns: Buffers,
    ) -> Result<DataFrame, GenerateError> {
        let err = |source| GenerateError::Polars {
            path: path.to_path_buf(),
            source,
        };
        let ts = Series::new(
            "ts".into(),
            columns
                .ts
                .iter()
                .map(|s| s * 1_000_000)
                .collect::<Vec<i64>>(),
        )
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))
        .map_err(err)?;
        let [input, output, cache_read, cache_write] = columns.tokens;
        let mut frame = vec![
            Column::from(ts),
            Column::new("agent".into(), columns.agent),
            Column::new("model".into(), columns.model),
            Column::new("input_tokens".into(), input),
            Column::new("output_tokens".into(), output),
            Column::new("cache_read_tokens".into(), cache_read),
            Column::new("cache_write_tokens".into(), cache_write),
        ];
        match layout {
            UsageLayout::Requests => {
                frame.push(Column::new("tool".into(), columns.tool));
                frame.push(Column::new("session_id".into(), columns.session));
                frame.push(Column::new("request_id".into(), columns.request_id));
                frame.push(Column::new("prompt_hash".into(), columns.prompt));
            }
            UsageLayout::HourlyBuckets => {
                frame.push(Column::new("requests".into(), columns.requests));
                frame.push(Column::new("tool".into(), columns.tool));
            }
        }
        DataFrame::new_infer_height(frame).map_err(err)
    }

    fn flush(&mut self) -> Result<(), GenerateError> {
        if self.ts.is_empty() {
            return Ok(());
        }
        let io = |path: PathBuf| move |source| GenerateError::Io { path, source };
        let columns = Buffers {
            ts: std::mem::take(&mut self.ts),
            agent: std::mem::take(&mut self.agent),
            model: std::mem::take(&mut self.model),
            tokens: std::mem::take(&mut self.tokens),
            requests: std::mem::take(&mut self.requests),
            tool: std::mem::take(&mut self.tool),
            session: std::mem::take(&mut self.session),
            request_id: std::mem::take(&mut self.request_id),
            prompt: std::mem::take(&mut self.prompt),
        };
        match &mut self.target {
            SinkTarget::ClaudeCode(sessions) => {
                for i in 0..columns.ts.len() {
                    let name = columns.agent[i].as_str();
                    let t = &columns.tokens;
                    let request = columns.request_id[i]
                        .clone()
                        .unwrap_or_else(|| format!("{name}-{}", self.rows + i as u64));
                    sessions
                        .write(&super::claude_code::Request {
                            agent: name,
                            ts: columns.ts[i],
                            model: columns.model[i],
                            tokens: [t[0][i], t[1][i], t[2][i], t[3][i]],
                            session: columns.session[i].as_deref().unwrap_or("session"),
                            request_id: &request,
                        })
                        .map_err(|(path, source)| GenerateError::Io { path, source })?;
                }
            }
            SinkTarget::Parquet(writer) => {
                let frame = UsageSink::frame_of(&self.path, self.layout, columns)?;
                writer
                    .write_batch(&frame)
                    .map_err(|source| GenerateError::Polars {
                        path: self.path.clone(),
                        source,
                    })?;
            }
            SinkTarget::Csv(out) => {
                let opt = |v: &Option<String>| v.clone().unwrap_or_default();
                for i in 0..columns.ts.len() {
                    let t = &columns.tokens;
                    let tail = match self.layout {
                        UsageLayout::Requests => format!(
                            "{},{},{},{}",
                            columns.tool[i],
                            opt(&columns.session[i]),
                            opt(&columns.request_id[i]),
                            opt(&columns.prompt[i])
                        ),
                        UsageLayout::HourlyBuckets => {
                            format!("{},{}", columns.requests[i], columns.tool[i])
                        }
                    };
                    writeln!(
                        out,
                        "{},{},{},{},{},{},{},{tail}",
                        iso(columns.ts[i]),
                        columns.agent[i],
                        columns.model[i],
                        t[0][i],
                        t[1][i],
                        t[2][i],
                        t[3][i]
                    )
                    .map_err(io(self.path.clone()))?;
                }
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<u64, GenerateError> {
        self.flush()?;
        let path = self.path.clone();
        match self.target {
            SinkTarget::Parquet(writer) => {
                writer
                    .finish()
                    .map_err(|source| GenerateError::Polars { path, source })?;
            }
            SinkTarget::Csv(mut out) => {
                out.flush()
                    .map_err(|source| GenerateError::Io { path, source })?;
            }
            SinkTarget::ClaudeCode(mut sessions) => sessions
                .close()
                .map_err(|(path, source)| GenerateError::Io { path, source })?,
        }
        Ok(self.rows)
    }
}

#[derive(Default)]
struct Buffers {
    ts: Vec<i64>,
    agent: Vec<String>,
    model: Vec<&'static str>,
    tokens: [Vec<u64>; 4],
    requests: Vec<u32>,
    tool: Vec<&'static str>,
    session: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
    prompt: Vec<Option<String>>,
}

/// Writes usage and outputs for every agent and week.
pub fn write_all(
    settings: &GenerateSettings,
    profiles: &[AgentProfile],
) -> Result<Written, GenerateError> {
    let prices = PriceTable::embedded();
    let rates: Vec<Rates> = MODELS
        .iter()
        .map(|(model, _)| {
            prices
                .resolve(model, settings.start)
                .expect("generator models are priced")
                .rates
        })
        .collect();
    let mut team_rng = agent_rng(settings.seed, u64::MAX, 3);
    let team_factor: BTreeMap<&str, f64> = super::population::TEAMS
        .iter()
        .map(|team| (*team, lognormal(&mut team_rng, 1.0, 0.3)))
        .collect();

    let mut usage = UsageSink::new(settings)?;
    let outputs_path = settings.out.join("outputs.csv");
    let io = |path: PathBuf| move |source| GenerateError::Io { path, source };
    let mut outputs =
        BufWriter::new(File::create(&outputs_path).map_err(io(outputs_path.clone()))?);
    writeln!(outputs, "ts,agent,kind,amount,ref,repo").map_err(io(outputs_path.clone()))?;
    let (mut requests_written, mut output_rows) = (0u64, 0u64);
    let epoch_start = settings
        .start
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp();

    let semantics = settings.worlds.session_semantics();
    let review_heavy = settings.worlds.contains(World::ReviewHeavy);
    let shared_repos = settings.worlds.contains(World::SharedRepos);
    let model_prices = settings.worlds.contains(World::ModelPrices);
    let migrated_from = settings
        .worlds
        .contains(World::ModelMigration)
        .then_some(settings.weeks / 2);
    let holiday = settings
        .worlds
        .contains(World::HolidayWeek)
        .then(|| holiday_week(settings.weeks));
    let period = epoch_start..epoch_start + i64::from(settings.weeks) * 7 * 86_400;
    for profile in profiles {
        let repos = Repos::new(profile, shared_repos);
        let lagged = settings.worlds.contains(World::OutputLag);
        let mut landing = (lagged || holiday.is_some()).then(|| Landing {
            rng: agent_rng(settings.seed, profile.index as u64, purpose::LANDING),
            period: period.clone(),
            lagged,
            worked_until: None,
            frozen_until: None,
        });
        let mut rng = agent_rng(settings.seed, profile.index as u64, 1);
        // A world's output mix is drawn from a stream of its own.
        let mut own_mix = review_heavy.then(|| {
            let stream = agent_rng(settings.seed, profile.index as u64, purpose::OUTPUT_MIX);
            (REVIEW_HEAVY_MIX, stream)
        });
        let mut labels = (semantics == SessionSemantics::Labels)
            .then(|| SessionLabels::new(settings.seed, profile.index));
        let mut seq = 0u64;
        let mut pr_number = 0u64;
        let away = vacation_weeks(profile, settings.weeks, &mut rng);
        for week in 0..settings.weeks {
            let week_start = epoch_start + i64::from(week) * 7 * 86_400;
            let on_vacation = !profile.archetype.is_service() && rng.gen_bool(0.06);
            if on_vacation || away.contains(&week) {
                continue;
            }
            let weekly = lognormal(&mut rng, 1.0, 0.25);
            let ramp = if profile.archetype == Archetype::HonestRampUp {
                profile.growth.powi(week as i32)
            } else {
                1.0
            };
            let productive = poisson(&mut rng, profile.rate * weekly * ramp);
            let mut week_requests = Vec::new();
            let next = match (profile.archetype, profile.ci) {
                (Archetype::PowerUser, _) => worktree_sessions(
                    &mut rng,
                    profile,
                    week_start,
                    productive,
                    0,
                    &mut week_requests,
                ),
                (Archetype::CiAccount, Some(schedule)) => {
                    ci_requests(&mut rng, profile, schedule, week_start, &mut week_requests)
                }
                _ => sessions(
                    &mut rng,
                    profile,
                    week_start,
                    productive,
                    0,
                    Starts::Working,
                    &mut week_requests,
                ),
            };
            // What the work cost at the context it needed: a context stuffer's padding buys
            // nothing.
            let padding = profile.context / needed_context(profile);
            // World `model-prices`: the work's tokens at the workhorse's rates, whatever was paid.
            let productive_cost: f64 = week_requests
                .iter()
                .map(|r| {
                    rates[if model_prices { 0 } else { r.model }].cost_micro(&r.tokens) as f64 / 1e6
                })
                .sum::<f64>()
                / padding;
            let burn = match profile.archetype {
                Archetype::ConstantInflater
                | Archetype::SnapshotSpiker
                | Archetype::ParallelBurner => profile.burn,
                Archetype::OnsetInflater if week >= onset_week(settings.weeks) => {
                    let ramp = f64::from(week - onset_week(settings.weeks) + 1) / 3.0;
                    1.0 + (profile.burn - 1.0) * ramp.min(1.0)
                }
                Archetype::SlowDrifter => profile.growth.powi(week as i32),
                _ => 1.0,
            };
            let extra = (productive as f64 * (burn - 1.0)).round() as u64;
            if profile.archetype == Archetype::ParallelBurner {
                parallel_requests(
                    &mut rng,
                    profile,
                    week_start,
                    extra,
                    next,
                    &mut week_requests,
                );
            } else if extra > 0 {
                let starts = if profile.archetype == Archetype::SnapshotSpiker {
                    let snapshot = week_start + SNAPSHOT_WEEKDAY_OFFSET_HOURS * 3_600;
                    let window = SPIKE_HOURS * 3_600;
                    // Sessions run ~20 minutes: start early enough to end in the window.
                    Starts::Within {
                        from: snapshot - window,
                        seconds: window - 1_800,
                    }
                } else {
                    Starts::Working
                };
                sessions(
                    &mut rng,
                    profile,
                    week_start,
                    extra,
                    next,
                    starts,
                    &mut week_requests,
                );
            }
            if profile.archetype == Archetype::LoopBot {
                loop_requests(
                    &mut rng,
                    profile,
                    week_start,
                    next + 1000,
                    &mut week_requests,
                );
            }
            week_requests.sort_by_key(|r| r.ts);
            if migrated_from.is_some_and(|from| week >= from) {
                for request in &mut week_requests {
                    request.model = OPUS;
                }
            }
            // World `holiday-week`: the days off hold no work, and deliver nothing. Their
            // requests are drawn and dropped (their copies and session labels too, below), and
            // the artifacts of their work left out ([`Landing`]), so the weeks after it are the
            // default company's, seed for seed.
            let mut dropped = 0;
            let on_holiday = holiday == Some(week);
            let days_off = week_start + HOLIDAY_WORKDAYS * 86_400;
            let takes_holiday = on_holiday && !profile.archetype.is_service();
            if takes_holiday {
                let planned = week_requests.len();
                week_requests.retain(|r| r.ts < days_off);
                dropped = planned - week_requests.len();
            }
            if let Some(landing) = landing.as_mut() {
                landing.worked_until = takes_holiday.then_some(days_off);
                landing.frozen_until = on_holiday.then_some(week_start + 7 * 86_400);
            }
            requests_written += week_requests.len() as u64;
            emit_usage(
                &mut usage,
                settings,
                profile,
                week,
                &week_requests,
                &mut seq,
                &mut rng,
                labels.as_mut(),
            )?;
            for _ in 0..dropped {
                seq += 1;
                if let Some(labels) = labels.as_mut() {
                    labels.draw();
                }
                rng.gen_bool(DUPLICATE_SHARE);
            }

            let delivers = profile.archetype != Archetype::LoopBot;
            let mean_index = if delivers && productive_cost > 0.0 {
                output_curve(productive_cost, profile.elasticity)
                    * profile.skill
                    * team_factor
                        .get(profile.team.as_str())
                        .copied()
                        .unwrap_or(1.0)
                    * profile.output_factor
                    * lognormal(&mut rng, 1.0, 0.2)
            } else {
                0.0
            };
            let (mix, stream) = match own_mix.as_mut() {
                Some((mix, stream)) => {
                    // The default company's outputs, drawn and dropped, so that every later
                    // draw is the default company's too, seed for seed.
                    let mut pr_dropped = pr_number;
                    emit_outputs(
                        &mut std::io::sink(),
                        &outputs_path,
                        &mut rng,
                        profile,
                        week_start,
                        mean_index,
                        DEFAULT_MIX,
                        &repos,
                        &mut pr_dropped,
                        None,
                    )?;
                    (*mix, stream)
                }
                None => (DEFAULT_MIX, &mut rng),
            };
            output_rows += emit_outputs(
                &mut outputs,
                &outputs_path,
                stream,
                profile,
                week_start,
                mean_index,
                mix,
                &repos,
                &mut pr_number,
                landing.as_mut(),
            )?;
            // World `output-lag`: the work of the week before the period, at the first week's
            // level, lands in its first days.
            // Numbered apart (an agent's own numbers stay under 9000), so that every later
            // pull request and ticket keeps the default company's number.
            if let (0, true, Some(landing)) = (week, lagged, landing.as_mut()) {
                landing.worked_until = None;
                landing.frozen_until = None;
                let mut earlier =
                    agent_rng(settings.seed, profile.index as u64, purpose::EARLIER_WORK);
                let mut earlier_numbers = EARLIER_NUMBERS;
                output_rows += emit_outputs(
                    &mut outputs,
                    &outputs_path,
                    &mut earlier,
                    profile,
                    week_start - 7 * 86_400,
                    mean_index,
                    mix,
                    &repos,
                    &mut earlier_numbers,
                    Some(landing),
                )?;
            }
        }
    }
    outputs.flush().map_err(io(outputs_path))?;
    let usage_rows = usage.finish()?;
    Ok(Written {
        usage_rows,
        requests: requests_written,
        output_rows,
    })
}

/// World `session-labels`: an agent's pool of 3–12 session labels, and a stream of its own
/// drawing one for each request, so the default streams are left as they are.
struct SessionLabels {
    pool: Vec<String>,
    rng: ChaCha8Rng,
}

impl SessionLabels {
    fn new(seed: u64, agent: usize) -> SessionLabels {
        let mut rng = agent_rng(seed, agent as u64, purpose::SESSION_LABELS);
        let size = rng.gen_range(3..=12);
        let pool = (0..size)
            .map(|_| format!("ses_{agent:05}_{:012x}", rng.gen::<u64>() >> 16))
            .collect();
        SessionLabels { pool, rng }
    }

    fn draw(&mut self) -> String {
        self.pool[self.rng.gen_range(0..self.pool.len())].clone()
    }
}

#[allow(clippy::too_many_arguments)]
fn emit_usage(
    usage: &mut UsageSink,
    settings: &GenerateSettings,
    profile: &AgentProfile,
    week: u32,
    requests: &[Request],
    seq: &mut u64,
    rng: &mut ChaCha8Rng,
    mut labels: Option<&mut SessionLabels>,
) -> Result<(), GenerateError> {
    let no_sessions = settings.worlds.contains(World::NoSessions);
    match settings.layout {
        UsageLayout::Requests => {
            for request in requests {
                *seq += 1;
                let id = format!("req_{:05}_{:08}", profile.index, seq);
                let session = match labels.as_deref_mut() {
                    _ if no_sessions => None,
                    Some(labels) => Some(labels.draw()),
                    None => Some(format!(
                        "ses_{:05}_{week:03}_{:04}",
                        profile.index, request.session
                    )),
                };
                let copies = if rng.gen_bool(DUPLICATE_SHARE) { 2 } else { 1 };
                for _ in 0..copies {
                    usage.push(
                        request.ts,
                        &profile.login,
                        request.model,
                        request.tokens,
                        1,
                        session.clone(),
                        Some(id.clone()),
                        Some(format!("{:016x}", request.prompt)),
                    )?;
                }
            }
        }
        UsageLayout::HourlyBuckets => {
            // The copies the request layout draws, drawn and dropped (a bucketed export has
            // none), so the rest of the company is the default one's, seed for seed.
            for _ in requests {
                rng.gen_bool(DUPLICATE_SHARE);
            }
            let mut buckets: BTreeMap<(i64, usize), (Tokens, u32)> = BTreeMap::new();
            for request in requests {
                let bucket = buckets
                    .entry((request.ts - request.ts.rem_euclid(3_600), request.model))
                    .or_default();
                bucket.0.add(&request.tokens);
                bucket.1 += 1;
            }
            for ((hour, model), (tokens, count)) in buckets {
                usage.push(hour, &profile.login, model, tokens, count, None, None, None)?;
            }
        }
    }
    Ok(())
}

/// Where an agent's artifacts go: its team's repository (`payments-service`); in world
/// `shared-repos`, research's and platform's to one repository (`shared-service`), and every
/// team's commits whose hash starts with 0-4 (5 in 16) to `monorepo`. Decided by the hash, not
/// drawn, so that every draw is the default company's.
pub(crate) struct Repos {
    team: String,
    monorepo: bool,
}

/// The teams that share one repository in world `shared-repos`: the two whose output per
/// dollar differs most (research delivers at a quarter of the company's level).
pub const SHARED_REPO_TEAMS: [&str; 2] = ["research", "platform"];

impl Repos {
    fn new(profile: &AgentProfile, shared: bool) -> Repos {
        let team = if shared && SHARED_REPO_TEAMS.contains(&profile.team.as_str()) {
            "shared-service".to_string()
        } else {
            format!("{}-service", profile.team)
        };
        Repos {
            team,
            monorepo: shared,
        }
    }

    fn of_commit(&self, sha: &str) -> &str {
        if self.monorepo && sha.as_bytes()[0] < b'5' {
            "monorepo"
        } else {
            &self.team
        }
    }
}

/// Artifacts whose weighted sum has mean `mean_index` (commit 1, PR 4, ticket 3, review 1), in
/// the shares of `mix`, each at the time of its work or, with a `landing`, when it lands (and
/// left out when that is outside the export).
#[allow(clippy::too_many_arguments)]
fn emit_outputs(
    out: &mut impl Write,
    path: &Path,
    rng: &mut ChaCha8Rng,
    profile: &AgentProfile,
    week_start: i64,
    mean_index: f64,
    mix: OutputMix,
    repos: &Repos,
    pr_number: &mut u64,
    mut landing: Option<&mut Landing>,
) -> Result<u64, GenerateError> {
    let io = |source| GenerateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let repo = &repos.team;
    let mut rows = 0u64;
    let worked =
        |rng: &mut ChaCha8Rng| session_start(rng, profile, week_start) + rng.gen_range(0..7_200);
    // `merges`: a merged pull request or a closed ticket, which a change freeze holds back.
    let mut when = |rng: &mut ChaCha8Rng, merges: bool| {
        let ts = worked(rng);
        match landing.as_mut() {
            Some(landing) => landing.land(ts, merges),
            None => Some(ts),
        }
    };
    for _ in 0..poisson(rng, mix.commit * mean_index) {
        let sha: String = (0..5)
            .map(|_| format!("{:08x}", rng.gen::<u32>()))
            .collect();
        let ts = when(rng, false);
        let lines = lognormal(rng, 60.0, 0.8).round();
        let copies = if rng.gen_bool(0.01) { 2 } else { 1 };
        let repo = repos.of_commit(&sha);
        let Some(ts) = ts else { continue };
        for _ in 0..copies {
            writeln!(
                out,
                "{},{},commit,1,{sha},{repo}",
                iso(ts),
                profile.output_name
            )
            .map_err(io)?;
            writeln!(
                out,
                "{},{},loc_added,{lines},{sha},{repo}",
                iso(ts),
                profile.output_name
            )
            .map_err(io)?;
            rows += 2;
        }
    }
    for _ in 0..poisson(rng, mix.pr_merged * mean_index / 4.0) {
        *pr_number += 1;
        let url = format!(
            "https://git.corp.example/{repo}/pull/{}{:04}",
            profile.index, pr_number
        );
        let Some(ts) = when(rng, true) else { continue };
        writeln!(
            out,
            "{},{},pr_merged,1,{url},{repo}",
            iso(ts),
            profile.output_name
        )
        .map_err(io)?;
        rows += 1;
    }
    for _ in 0..poisson(rng, mix.ticket_closed * mean_index / 3.0) {
        *pr_number += 1;
        let key = format!(
            "{}-{}{:04}",
            profile.team.to_uppercase(),
            profile.index,
            pr_number
        );
        let Some(ts) = when(rng, true) else { continue };
        writeln!(
            out,
            "{},{},ticket_closed,1,{key},{repo}",
            iso(ts),
            profile.output_name
        )
        .map_err(io)?;
        rows += 1;
    }
    for _ in 0..poisson(rng, mix.review * mean_index) {
        let reference = format!("review-{}-{}", profile.index, rng.gen::<u32>());
        let Some(ts) = when(rng, false) else { continue };
        writeln!(
            out,
            "{},{},review,1,{reference},{repo}",
            iso(ts),
            profile.output_name
        )
        .map_err(io)?;
        rows += 1;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean weighted index (commit 1, PR 4, ticket 3, review 1) of the artifacts drawn for a
    /// mean index of one.
    fn weighted_index(mix: OutputMix) -> f64 {
        mix.commit + mix.pr_merged / 4.0 * 4.0 + mix.ticket_closed / 3.0 * 3.0 + mix.review
    }

    #[test]
    fn every_output_mix_keeps_the_weighted_index() {
        for mix in [DEFAULT_MIX, REVIEW_HEAVY_MIX] {
            assert!((weighted_index(mix) - 1.0).abs() < 1e-12, "{mix:?}");
        }
        let m = REVIEW_HEAVY_MIX;
        assert!(m.review > m.commit && m.review > m.pr_merged / 4.0);
    }

    #[test]
    fn an_own_elasticity_meets_the_shared_curve_at_the_reference_spend() {
        let shared = output_curve(REFERENCE_SPEND_USD, ELASTICITY);
        for elasticity in [0.25, 0.4, 0.65] {
            let own = output_curve(REFERENCE_SPEND_USD, elasticity);
            assert!((own / shared - 1.0).abs() < 1e-9, "{elasticity}");
        }
        // Steeper above the pivot, flatter below it.
        assert!(output_curve(300.0, 0.65) > output_curve(300.0, ELASTICITY));
        assert!(output_curve(3.0, 0.65) < output_curve(3.0, ELASTICITY));
    }

    #[test]
    fn session_labels_are_a_small_pool_drawn_per_request() {
        let mut labels = SessionLabels::new(3, 7);
        assert!((3..=12).contains(&labels.pool.len()));
        let drawn: std::collections::BTreeSet<String> = (0..500).map(|_| labels.draw()).collect();
        assert_eq!(drawn.len(), labels.pool.len());
    }
}
