//! `tokenaudit generate`: a synthetic company with planted inflators and a truth file.
//!
//! Request-level usage follows human working hours in each agent's time zone (service accounts
//! run around the clock), in sessions, over several models and tools, with cache reads
//! dominating input as they do for coding agents. Output follows diminishing returns in the
//! list-price cost of the *productive* requests (elasticity 0.45); inflators add requests that
//! buy nothing. Some agents deliver under an email alias that only the identity map links.
//! A small share of rows is duplicated, as overlapping exports are. Same seed, same bytes.
//!
//! `--world NAME[,NAME…]` reshapes the company the way real data differ from it, so detection
//! can be tested on each ([`World`]; default none, the company above, byte for byte):
//! - `session-labels`: `session_id` is a label from a per-agent pool of 3–12, drawn per
//!   request, so one id recurs across hours and days.
//! - `no-sessions`: `session_id` null on every row.
//! - `hourly`: hourly buckets per (agent, hour, model), as `--hourly`.
//! - `global-time-zones`: UTC offsets from −11 to +13 in whole and half hours.
//! - `diverse-elasticity`: output elasticity per agent (0.25–0.65) and a wider appetite spread.
//! - `power-users`: ~5% honest power users, 3–6 parallel worktree sessions, output on the curve.
//! - `ci-accounts`: ~3% CI service accounts on a fixed cadence, with real output.
//! - `review-heavy`: few tickets, fewer PRs, many reviews; the same weighted index.
//! - `squads`, `shared-repos`: squads for teams; teams sharing repositories.
//! - `model-prices`: output follows the work's tokens, not the dollars paid for them.
//! - `model-migration`: every request on Opus from the middle week.
//! - `all`: all of the above but `hourly` and `no-sessions`, which exclude `session-labels`
//!   (combining those is refused), and the squads, shared repositories and model worlds, added
//!   after it and measured beside it.
//!
//! `truth.json` then records `worlds`, a `world_notes` sentence for each and the
//! `session_semantics` of the usage (`contiguous`, `labels`, `absent` or `bucketed`).

mod claude_code;
mod population;
mod usage;
mod world;

use std::io::Write;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

pub use population::{AgentProfile, Archetype};
pub use world::{SessionSemantics, World, Worlds, ALL_WORLDS, WORLDS, WORLD_NAMES};

use crate::audit::Verbosity;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("Cannot write `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Cannot write `{}`: {source}", path.display())]
    Polars {
        path: PathBuf,
        source: polars::prelude::PolarsError,
    },
    #[error("{0}")]
    Invalid(String),
}

/// How usage rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageLayout {
    /// One row per request, with request, session and prompt ids.
    Requests,
    /// One row per (agent, hour, model): a bucketed vendor-style export.
    HourlyBuckets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageFileFormat {
    Parquet,
    Csv,
    /// Claude Code session logs, one folder per agent, for the vendor adapter's bench.
    ClaudeCode,
}

#[derive(Debug, Clone)]
pub struct GenerateSettings {
    pub agents: usize,
    pub weeks: u32,
    pub seed: u64,
    pub out: PathBuf,
    /// Mean productive requests per active week of a typical agent.
    pub requests_per_week: f64,
    pub start: NaiveDate,
    pub layout: UsageLayout,
    pub format: UsageFileFormat,
    /// Plant inflators; off, the company is all honest (a null population).
    pub inflators: bool,
    /// How the company differs from the default one; `World::Hourly` and
    /// `UsageLayout::HourlyBuckets` each imply the other.
    pub worlds: Worlds,
    pub verbosity: Verbosity,
}

impl Default for GenerateSettings {
    fn default() -> Self {
        GenerateSettings {
            agents: 60,
            weeks: 8,
            seed: 1,
            out: PathBuf::from("generated"),
            requests_per_week: 400.0,
            start: NaiveDate::from_ymd_opt(2026, 9, 7).expect("valid date"),
            layout: UsageLayout::Requests,
            format: UsageFileFormat::Parquet,
            inflators: true,
            worlds: Worlds::default(),
            verbosity: Verbosity::Normal,
        }
    }
}

impl GenerateSettings {
    /// The settings with the hourly layout and the `hourly` world in step, checked: `--hourly`
    /// is the `hourly` world.
    fn in_step(&self) -> Result<GenerateSettings, GenerateError> {
        let mut settings = self.clone();
        if settings.layout == UsageLayout::HourlyBuckets {
            settings.worlds = settings.worlds.with(World::Hourly)?;
        }
        if settings.worlds.contains(World::Hourly) {
            settings.layout = UsageLayout::HourlyBuckets;
        }
        if settings.format == UsageFileFormat::ClaudeCode
            && matches!(
                settings.worlds.session_semantics(),
                SessionSemantics::Labels | SessionSemantics::Absent
            )
        {
            return Err(GenerateError::Invalid(
                "--usage-format claude-code writes session logs, whose requests always run in sessions; drop the world session-labels or no-sessions".into(),
            ));
        }
        Ok(settings)
    }
}

/// One planted agent in `truth.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Planted {
    pub agent: String,
    pub team: String,
    pub archetype: Archetype,
    pub inflator: bool,
    pub visible_to: &'static [&'static str],
    /// Total spend ÷ productive spend at full burn (1 for look-alikes).
    pub burn_factor: f64,
    /// First day of the first inflated week, for inflators that start mid-period.
    pub onset_week: Option<String>,
    /// Whether the agent's outputs are recorded under an email alias.
    pub output_alias: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    pub seed: u64,
    pub agents: usize,
    pub weeks: u32,
    pub start: String,
    pub requests: u64,
    /// The worlds of `--world` (absent for the default company, whose bytes stay as they were).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub worlds: Vec<&'static str>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub world_notes: std::collections::BTreeMap<&'static str, &'static str>,
    /// `contiguous`, `labels`, `absent` or `bucketed`; absent with no world (contiguous).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_semantics: Option<&'static str>,
    pub archetypes: std::collections::BTreeMap<&'static str, &'static str>,
    pub planted: Vec<Planted>,
}

/// Writes `usage.parquet` (or `usage.csv`), `outputs.csv`, `identities.csv` and `truth.json`
/// into `settings.out`, and returns a one-line summary.
pub fn write(settings: &GenerateSettings) -> Result<String, GenerateError> {
    if settings.agents == 0 || settings.weeks == 0 {
        return Err(GenerateError::Invalid(
            "--agents and --weeks must be at least 1".into(),
        ));
    }
    let settings = &settings.in_step()?;
    let io = |path: PathBuf| move |source| GenerateError::Io { path, source };
    std::fs::create_dir_all(&settings.out).map_err(io(settings.out.clone()))?;
    let profiles = population::draw(
        settings.agents,
        settings.requests_per_week,
        settings.seed,
        usage::MODELS.len(),
        settings.inflators,
        &settings.worlds,
    );
    let written = usage::write_all(settings, &profiles)?;

    let identities_path = settings.out.join("identities.csv");
    let mut identities = String::from("alias,agent,team,kind\n");
    for p in &profiles {
        let kind = if p.archetype.is_service() {
            "service"
        } else {
            "human"
        };
        identities.push_str(&format!(
            "{},{},{},{kind}\n",
            p.login, p.login, p.team_label
        ));
        if p.output_name != p.login {
            identities.push_str(&format!(
                "{},{},{},{kind}\n",
                p.output_name, p.login, p.team_label
            ));
        }
    }
    std::fs::write(&identities_path, identities).map_err(io(identities_path.clone()))?;

    let onset = usage::onset_week(settings.weeks);
    let truth = Truth {
        seed: settings.seed,
        agents: settings.agents,
        weeks: settings.weeks,
        start: settings.start.to_string(),
        requests: written.requests,
        worlds: settings.worlds.iter().map(World::name).collect(),
        world_notes: settings
            .worlds
            .iter()
            .map(|w| (w.name(), w.note()))
            .collect(),
        session_semantics: (!settings.worlds.is_empty())
            .then(|| settings.worlds.session_semantics().name()),
        archetypes: population::ALL
            .into_iter()
            .filter(|a| a.drawn_in(&settings.worlds))
            .map(|a| (archetype_name(a), a.description()))
            .collect(),
        planted: profiles
            .iter()
            .filter(|p| p.archetype != Archetype::Regular)
            .map(|p| Planted {
                agent: p.login.clone(),
                team: p.team_label.clone(),
                archetype: p.archetype,
                inflator: p.archetype.is_inflator(),
                visible_to: p.archetype.visible_in(settings.worlds.session_semantics()),
                burn_factor: crate::units::round_to(
                    if p.archetype == Archetype::SlowDrifter {
                        p.growth.powi(settings.weeks as i32 - 1)
                    } else {
                        p.burn
                    },
                    3,
                ),
                onset_week: match p.archetype {
                    Archetype::OnsetInflater => Some(onset),
                    Archetype::SlowDrifter => Some(1.min(settings.weeks - 1)),
                    _ => None,
                }
                .map(|week| {
                    (settings.start + chrono::Duration::weeks(i64::from(week))).to_string()
                }),
                output_alias: (p.output_name != p.login).then(|| p.output_name.clone()),
            })
            .collect(),
    };
    let truth_path = settings.out.join("truth.json");
    let mut file = std::fs::File::create(&truth_path).map_err(io(truth_path.clone()))?;
    serde_json::to_writer_pretty(&mut file, &truth).map_err(|e| GenerateError::Io {
        path: truth_path.clone(),
        source: e.into(),
    })?;
    writeln!(file).map_err(io(truth_path))?;

    Ok(format!(
        "generated {} agents x {} weeks: {} usage rows ({} requests), {} output rows, {} planted ({} inflators) in {}",
        settings.agents,
        settings.weeks,
        written.usage_rows,
        written.requests,
        written.output_rows,
        truth.planted.len(),
        truth.planted.iter().filter(|p| p.inflator).count(),
        settings.out.display()
    ))
}

pub fn archetype_name(archetype: Archetype) -> &'static str {
    match archetype {
        Archetype::Regular => "regular",
        Archetype::ConstantInflater => "constant_inflater",
        Archetype::LoopBot => "loop_bot",
        Archetype::OnsetInflater => "onset_inflater",
        Archetype::HeavyProductive => "heavy_productive",
        Archetype::Tiny => "tiny",
        Archetype::Service => "service",
        Archetype::ContextStuffer => "context_stuffer",
        Archetype::SnapshotSpiker => "snapshot_spiker",
        Archetype::SlowDrifter => "slow_drifter",
        Archetype::ParallelBurner => "parallel_burner",
        Archetype::HonestRampUp => "honest_ramp_up",
        Archetype::Vacation => "vacation",
        Archetype::FewArtifacts => "few_artifacts",
        Archetype::Aliased => "aliased",
        Archetype::PowerUser => "power_user",
        Archetype::CiAccount => "ci_account",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// A small company of `worlds` with CSV usage, written to a temporary folder.
    fn company(worlds: &[&str], inflators: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(&GenerateSettings {
            agents: 40,
            weeks: 4,
            seed: 5,
            out: dir.path().to_path_buf(),
            requests_per_week: 60.0,
            format: UsageFileFormat::Csv,
            inflators,
            worlds: Worlds::parse(worlds).unwrap(),
            verbosity: Verbosity::Quiet,
            ..GenerateSettings::default()
        })
        .unwrap();
        dir
    }

    /// The rows of a CSV file the generator wrote (no quoting needed), as column → value.
    fn rows(dir: &tempfile::TempDir, file: &str) -> Vec<BTreeMap<String, String>> {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        lines
            .map(|line| {
                header
                    .iter()
                    .zip(line.split(','))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    fn truth(dir: &tempfile::TempDir) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).unwrap()).unwrap()
    }

    /// Agents of one archetype in the truth file.
    fn planted(truth: &serde_json::Value, archetype: &str) -> BTreeSet<String> {
        truth["planted"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["archetype"] == archetype)
            .map(|p| p["agent"].as_str().unwrap().to_string())
            .collect()
    }

    fn seconds(ts: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(ts)
            .unwrap()
            .timestamp()
    }

    /// Output index (commit 1, PR 4, ticket 3, review 1) and list-price spend of each agent.
    fn index_and_spend(dir: &tempfile::TempDir) -> BTreeMap<String, (f64, f64)> {
        let prices = crate::normalize::pricing::PriceTable::embedded();
        let mut totals: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        // Some agents deliver under an email alias that only the identity map links.
        let agent_of: BTreeMap<String, String> = rows(dir, "identities.csv")
            .into_iter()
            .map(|row| (row["alias"].clone(), row["agent"].clone()))
            .collect();
        for row in rows(dir, "outputs.csv") {
            let weight = match row["kind"].as_str() {
                "commit" | "review" => 1.0,
                "pr_merged" => 4.0,
                "ticket_closed" => 3.0,
                _ => 0.0,
            };
            totals.entry(agent_of[&row["agent"]].clone()).or_default().0 += weight;
        }
        let start = GenerateSettings::default().start;
        for row in rows(dir, "usage.csv") {
            let rates = prices.resolve(&row["model"], start).unwrap().rates;
            let token = |column: &str| row[column].parse::<u64>().unwrap();
            let tokens = crate::normalize::pricing::Tokens {
                input: token("input_tokens"),
                output: token("output_tokens"),
                cache_read: token("cache_read_tokens"),
                cache_write: token("cache_write_tokens"),
            };
            totals.entry(row["agent"].clone()).or_default().1 +=
                rates.cost_micro(&tokens) as f64 / 1e6;
        }
        totals
    }

    #[test]
    fn without_worlds_the_truth_file_names_none() {
        let dir = company(&[], true);
        let truth = truth(&dir);
        for key in ["worlds", "world_notes", "session_semantics"] {
            assert!(truth.get(key).is_none(), "{key}");
        }
        let archetypes = truth["archetypes"].as_object().unwrap();
        assert!(!archetypes.contains_key("power_user") && !archetypes.contains_key("ci_account"));
    }

    #[test]
    fn squads_cut_each_team_into_squads_and_change_nothing_else() {
        let (default, squads) = (company(&[], true), company(&["squads"], true));
        for file in ["usage.csv", "outputs.csv"] {
            let read = |dir: &tempfile::TempDir| std::fs::read(dir.path().join(file)).unwrap();
            assert_eq!(read(&default), read(&squads), "{file}");
        }
        let team_of = |dir: &tempfile::TempDir| -> BTreeMap<String, String> {
            rows(dir, "identities.csv")
                .into_iter()
                .map(|r| (r["agent"].clone(), r["team"].clone()))
                .collect()
        };
        let (teams, named) = (team_of(&default), team_of(&squads));
        assert_eq!(teams.len(), named.len());
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for (agent, squad) in &named {
            if *squad == teams[agent] {
                continue; // a team of one keeps its name
            }
            // A squad of the agent's own team.
            let (team, number) = squad.rsplit_once('-').unwrap();
            assert_eq!(team, teams[agent], "{agent}: {squad}");
            assert!(number.parse::<u32>().unwrap() >= 1, "{squad}");
            *sizes.entry(squad).or_default() += 1;
        }
        // Squads of 2 to 8, and more of them than teams.
        assert!(sizes.values().all(|n| (2..=8).contains(n)), "{sizes:?}");
        let team_count = teams.values().collect::<BTreeSet<_>>().len();
        assert!(sizes.len() > team_count, "{sizes:?}");
    }

    /// Seconds since the epoch of the Monday that starts 0-based `week` of the generated period.
    fn week_start(week: i64) -> i64 {
        let start = GenerateSettings::default().start;
        start.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() + week * 7 * 86_400
    }

    #[test]
    fn a_holiday_week_is_two_days_of_work_under_a_change_freeze() {
        let (default, holiday) = (company(&[], true), company(&["holiday-week"], true));
        // Four weeks: the holiday is week 2, and its freeze ends on the Monday of week 3.
        let (monday, wednesday, thaw) = (week_start(2), week_start(2) + 2 * 86_400, week_start(3));
        let in_week = |row: &BTreeMap<String, String>, from: i64, to: i64| {
            (from..to).contains(&seconds(&row["ts"]))
        };
        let merges = |row: &BTreeMap<String, String>| {
            matches!(row["kind"].as_str(), "pr_merged" | "ticket_closed")
        };
        // Every week but the holiday is the default company's, row for row, but for what the
        // freeze held back, which lands in the working hours of the Monday after.
        let outside = |dir, file| -> Vec<BTreeMap<String, String>> {
            let mut rows: Vec<_> = rows(dir, file)
                .into_iter()
                .filter(|r| !in_week(r, monday, thaw))
                .collect();
            rows.sort();
            rows
        };
        assert_eq!(
            outside(&default, "usage.csv"),
            outside(&holiday, "usage.csv")
        );
        let before = outside(&default, "outputs.csv");
        let mut held = 0;
        for row in outside(&holiday, "outputs.csv") {
            if !before.contains(&row) {
                assert!(merges(&row), "{row:?}");
                assert!(
                    in_week(&row, thaw + 8 * 3_600, thaw + 18 * 3_600),
                    "{row:?}"
                );
                held += 1;
            }
        }
        assert_eq!(
            before.len() + held,
            outside(&holiday, "outputs.csv").len(),
            "a default row is missing"
        );
        // People work Monday and Tuesday; only service accounts work, and deliver, after.
        let truth = truth(&holiday);
        let services: BTreeSet<String> = planted(&truth, "service");
        let (mut worked, mut off) = (0, 0);
        for row in rows(&holiday, "usage.csv")
            .iter()
            .filter(|r| in_week(r, monday, thaw) && !services.contains(&r["agent"]))
        {
            if in_week(row, monday, wednesday) {
                worked += 1;
            } else {
                off += 1;
            }
        }
        assert!(
            worked > 100 && off == 0,
            "{worked} requests Monday-Tuesday, {off} after"
        );
        for row in rows(&holiday, "outputs.csv") {
            if in_week(&row, wednesday, thaw) {
                assert!(services.contains(&row["agent"]) && !merges(&row), "{row:?}");
            }
        }
        // Nothing merges or closes in the holiday week.
        let merged = |dir| {
            rows(dir, "outputs.csv")
                .iter()
                .filter(|r| merges(r) && in_week(r, monday, thaw))
                .count()
        };
        assert_eq!(merged(&holiday), 0);
        assert!(merged(&default) > 0 && held > 0);
        assert_eq!(truth["worlds"], serde_json::json!(["holiday-week"]));
        // With session labels, too, the weeks after are the default's: the days off draw
        // their labels.
        let (labelled, both) = (
            company(&["session-labels"], true),
            company(&["session-labels", "holiday-week"], true),
        );
        let after = |dir| -> Vec<BTreeMap<String, String>> {
            rows(dir, "usage.csv")
                .into_iter()
                .filter(|r| seconds(&r["ts"]) >= thaw)
                .collect()
        };
        assert_eq!(after(&labelled), after(&both));
    }

    #[test]
    fn output_lag_lands_every_artifact_days_after_its_work() {
        let (default, lagged) = (company(&[], true), company(&["output-lag"], true));
        assert_eq!(
            std::fs::read(default.path().join("usage.csv")).unwrap(),
            std::fs::read(lagged.path().join("usage.csv")).unwrap()
        );
        // Commits are named by their hash, drawn as in the default company.
        let commits = |dir| -> BTreeMap<String, Vec<i64>> {
            let mut by_sha: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for row in rows(dir, "outputs.csv") {
                if row["kind"] == "commit" {
                    by_sha
                        .entry(row["ref"].clone())
                        .or_default()
                        .push(seconds(&row["ts"]));
                }
            }
            by_sha
        };
        let (before, after) = (commits(&default), commits(&lagged));
        let (start, end) = (week_start(0), week_start(4));
        let (mut moved, mut lost, mut earlier) = (0, 0, 0);
        for (sha, times) in &before {
            match after.get(sha) {
                Some(landed) => {
                    let delay = landed[0] - times[0];
                    assert!((86_400..=9 * 86_400).contains(&delay), "{sha}: {delay} s");
                    moved += 1;
                }
                // Only work of the last nine days can land after the export's end.
                None => {
                    assert!(times[0] >= end - 9 * 86_400, "{sha} lost");
                    lost += 1;
                }
            }
        }
        for (sha, landed) in &after {
            assert!(
                (start..end).contains(&landed[0]),
                "{sha} outside the period"
            );
            if !before.contains_key(sha) {
                // Work of the week before the period, landing in its first nine days.
                assert!(landed[0] < start + 9 * 86_400, "{sha}");
                earlier += 1;
            }
        }
        assert!(
            moved > 100 && lost > 10 && earlier > 10,
            "{moved} {lost} {earlier}"
        );
    }

    #[test]
    fn session_labels_recur_across_days_interleaved_and_change_nothing_else() {
        let (default, labelled) = (company(&[], true), company(&["session-labels"], true));
        let (before, after) = (rows(&default, "usage.csv"), rows(&labelled, "usage.csv"));
        assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            for column in [
                "ts",
                "agent",
                "request_id",
                "prompt_hash",
                "cache_read_tokens",
            ] {
                assert_eq!(b[column], a[column], "{column}");
            }
        }
        let mut span: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for row in &after {
            let ts = seconds(&row["ts"]);
            let entry = span.entry(&row["session_id"]).or_insert((ts, ts));
            *entry = (entry.0.min(ts), entry.1.max(ts));
        }
        assert!(span.values().any(|(first, last)| last - first > 86_400));
        // Some agent's requests go label A, then B, then A again.
        let mut interleaved = false;
        let mut by_agent: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
        for row in &after {
            by_agent
                .entry(&row["agent"])
                .or_default()
                .push((seconds(&row["ts"]), &row["session_id"]));
        }
        for requests in by_agent.values_mut() {
            requests.sort();
            interleaved |= requests
                .windows(3)
                .any(|w| w[0].1 == w[2].1 && w[0].1 != w[1].1);
        }
        assert!(interleaved);
        assert_eq!(truth(&labelled)["session_semantics"], "labels");
    }

    #[test]
    fn no_sessions_leaves_every_session_id_null() {
        let dir = tempfile::tempdir().unwrap();
        write(&GenerateSettings {
            agents: 40,
            weeks: 2,
            seed: 5,
            out: dir.path().to_path_buf(),
            requests_per_week: 40.0,
            worlds: Worlds::parse(&["no-sessions"]).unwrap(),
            verbosity: Verbosity::Quiet,
            ..GenerateSettings::default()
        })
        .unwrap();
        use polars::prelude::{ParquetReader, SerReader};
        let file = std::fs::File::open(dir.path().join("usage.parquet")).unwrap();
        let usage = ParquetReader::new(file).finish().unwrap();
        let sessions = usage.column("session_id").unwrap();
        assert!(usage.height() > 0);
        assert_eq!(sessions.null_count(), usage.height());
        assert_eq!(usage.column("request_id").unwrap().null_count(), 0);
    }

    #[test]
    fn power_users_run_parallel_worktrees_and_deliver_on_the_curve() {
        let dir = company(&["power-users"], true);
        let truth = truth(&dir);
        let power_users = planted(&truth, "power_user");
        assert_eq!(power_users.len(), 2);
        let mut session_starts: BTreeMap<(String, String), i64> = BTreeMap::new();
        for row in rows(&dir, "usage.csv") {
            if power_users.contains(&row["agent"]) {
                let ts = seconds(&row["ts"]);
                let start = session_starts
                    .entry((row["agent"].clone(), row["session_id"].clone()))
                    .or_insert(ts);
                *start = (*start).min(ts);
            }
        }
        let mut starts: Vec<i64> = session_starts.into_values().collect();
        starts.sort_unstable();
        assert!(
            starts.windows(3).any(|w| w[2] - w[0] <= 600),
            "no three sessions started within ten minutes"
        );

        // ln(index) - 0.45 ln(spend) of power users against regulars': all their requests
        // are productive, so they sit on the same curve (within skill and team noise), well
        // short of the 0.55 ln(4.5) ≈ 0.8 a linear return would put them above it.
        let everyone = index_and_spend(&dir);
        let planted_agents: BTreeSet<&str> = truth["planted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["agent"].as_str().unwrap())
            .collect();
        let residual = |(index, spend): (f64, f64)| index.ln() - 0.45 * spend.ln();
        let mut regulars: Vec<f64> = everyone
            .iter()
            .filter(|(agent, _)| !planted_agents.contains(agent.as_str()))
            .map(|(_, totals)| residual(*totals))
            .collect();
        regulars.sort_by(f64::total_cmp);
        let median = regulars[regulars.len() / 2];
        let regular_spend = {
            let mut spend: Vec<f64> = everyone
                .iter()
                .filter(|(agent, _)| !planted_agents.contains(agent.as_str()))
                .map(|(_, totals)| totals.1)
                .collect();
            spend.sort_by(f64::total_cmp);
            spend[spend.len() / 2]
        };
        for agent in &power_users {
            let totals = everyone[agent];
            assert!(
                totals.1 > 2.0 * regular_spend,
                "{agent} spends {}",
                totals.1
            );
            let off_curve = residual(totals) - median;
            assert!(
                off_curve.abs() < 0.5,
                "{agent} is {off_curve:.2} off the curve"
            );
        }
    }

    #[test]
    fn ci_accounts_are_services_on_a_cadence_with_real_output() {
        let dir = company(&["ci-accounts"], true);
        let ci = planted(&truth(&dir), "ci_account");
        assert_eq!(ci.len(), 1);
        let identities = std::fs::read_to_string(dir.path().join("identities.csv")).unwrap();
        for agent in &ci {
            assert!(identities
                .lines()
                .any(|line| line.starts_with(&format!("{agent},")) && line.ends_with(",service")));
            let mut ts: Vec<i64> = rows(&dir, "usage.csv")
                .iter()
                .filter(|row| &row["agent"] == agent)
                .map(|row| seconds(&row["ts"]))
                .collect();
            ts.sort_unstable();
            ts.dedup();
            let mut gaps: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
            gaps.sort_unstable();
            let median = gaps[gaps.len() / 2];
            assert!((110..=620).contains(&median), "cadence {median}s");
            let near = gaps.iter().filter(|&&g| (g - median).abs() * 10 <= median);
            assert!(near.count() * 10 >= gaps.len() * 9, "cadence not fixed");
            let delivered = rows(&dir, "outputs.csv")
                .iter()
                .filter(|row| &row["agent"] == agent && row["kind"] != "loc_added")
                .count();
            assert!(delivered > 0);
        }
    }

    #[test]
    fn review_heavy_makes_reviews_the_most_frequent_output() {
        let dir = company(&["review-heavy"], true);
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for row in rows(&dir, "outputs.csv") {
            *kinds.entry(row["kind"].clone()).or_default() += 1;
        }
        let most = kinds.iter().max_by_key(|(_, n)| **n).unwrap().0;
        assert_eq!(most, "review", "{kinds:?}");
        assert!(kinds["ticket_closed"] * 10 < kinds["pr_merged"] * 10 + kinds["review"]);
    }

    #[test]
    fn all_worlds_keep_every_inflator_and_record_themselves() {
        for inflators in [true, false] {
            let dir = company(&["all"], inflators);
            let truth = truth(&dir);
            let names: Vec<&str> = truth["worlds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            assert_eq!(
                names,
                ALL_WORLDS.iter().map(|w| w.name()).collect::<Vec<_>>()
            );
            assert_eq!(truth["world_notes"].as_object().unwrap().len(), names.len());
            let planted_archetypes: BTreeSet<&str> = truth["planted"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["inflator"] == true)
                .map(|p| p["archetype"].as_str().unwrap())
                .collect();
            assert_eq!(planted_archetypes.len(), if inflators { 7 } else { 0 });
            for look_alike in ["power_user", "ci_account"] {
                assert!(!planted(&truth, look_alike).is_empty(), "{look_alike}");
                assert!(truth["archetypes"][look_alike].is_string());
            }
        }
    }

    #[test]
    fn hourly_is_the_hourly_layout() {
        let dir = tempfile::tempdir().unwrap();
        let settings = GenerateSettings {
            agents: 20,
            weeks: 1,
            out: dir.path().to_path_buf(),
            requests_per_week: 20.0,
            format: UsageFileFormat::Csv,
            worlds: Worlds::parse(&["hourly"]).unwrap(),
            verbosity: Verbosity::Quiet,
            ..GenerateSettings::default()
        };
        write(&settings).unwrap();
        let header = std::fs::read_to_string(dir.path().join("usage.csv")).unwrap();
        assert!(header.lines().next().unwrap().contains("requests"));
        assert_eq!(truth(&dir)["session_semantics"], "bucketed");
        let refused = GenerateSettings {
            worlds: Worlds::parse(&["session-labels"]).unwrap(),
            layout: UsageLayout::HourlyBuckets,
            ..settings
        };
        assert!(write(&refused).is_err());
    }
}
