//! Audit: wires the stages together and runs the commands.
//!
//! [`pipeline::sources`] checks every input; [`pipeline::collect`] runs the heavy stage
//! ([`crate::features::compute`], from canonical rows to the stats contract) and accounts for
//! every row; pricing, the agent-week table, `detect` and `report` then work on small, plain
//! data. Every
//! command of the binary is a [`Command`] executed here, so `main` only parses and exits.

pub mod demo;
pub mod eval;
mod export;
pub mod history;
pub mod pipeline;
mod progress;
pub mod review;
pub mod settings;
pub mod spend;
pub mod sql;
pub mod stats;

use std::io::Write;
use std::path::PathBuf;

use chrono::Duration;

pub use settings::{AuditSettings, InputSettings, Verbosity};

use crate::detect::{self, Detection, Severity};
use crate::features::{self, AgentWeek, UnpricedModel};
use crate::ingest::{self, IngestError};
use crate::normalize::pricing::PriceTable;
use crate::normalize::NormalizeError;
use crate::report::{
    self, AgentEntry, AuditReport, FindingEntry, Period, ReasonEntry, ToolInfo, Totals, WeekEntry,
};
use crate::units::round_to;
use progress::Progress;

/// Why a run could not complete (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Normalize(#[from] NormalizeError),
    #[error("No usage file was given")]
    NoUsage,
    #[error("The query engine failed: {0}")]
    Engine(String),
    #[error(
        "{count} rows failed validation and --strict is set\n  first: {first}\n\nhint: see every rejected row with --quarantine FILE, or drop --strict to audit the valid rows"
    )]
    Strict { count: u64, first: String },
    #[error("Cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Generate(#[from] crate::generate::GenerateError),
    #[error(transparent)]
    History(crate::history::HistoryError),
    #[error("--new-only compares with the last run stored in --history; give --history DIR")]
    NewOnlyWithoutHistory,
    #[error(transparent)]
    Review(crate::reviews::ReviewError),
    #[error(transparent)]
    Contract(#[from] crate::contract::ContractError),
    /// Rows or keys past the memory budgets could not be written to a temporary folder.
    #[error(
        "{0}\n\nhint: set TMPDIR to a writable folder with room, or hold more in memory with --rows-in-memory-mb"
    )]
    Scratch(String),
    #[error("Outputs were given twice: `{}` holds outputs, and --outputs gives more\n\nhint: drop --outputs, or compute the stats without outputs", .0.display())]
    OutputsTwice(PathBuf),
}

/// Exit status of a run that completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Nothing reached `--fail-on`.
    Clean,
    /// At least one finding reached `--fail-on`.
    Findings,
}

/// One invocation of the binary, resolved.
#[derive(Debug, Clone)]
pub enum Command {
    Audit(AuditSettings),
    Demo(AuditSettings),
    Ingest {
        input: InputSettings,
        to: PathBuf,
        verbosity: Verbosity,
    },
    Explain {
        code: Option<String>,
    },
    Schema,
    Review(review::ReviewCommand),
    Generate(crate::generate::GenerateSettings),
    Spend(spend::SpendSettings),
    /// Compute the stats contract and write it to a folder.
    Stats(stats::StatsSettings),
    /// Write the SQL that computes the stats contract in a query engine.
    Sql(sql::SqlSettings),
    /// Audit a generated folder and score it against its truth file.
    Eval {
        dir: PathBuf,
        settings: AuditSettings,
        json: bool,
    },
}

/// Runs a command, writing data to `stdout`.
pub fn execute(command: Command, stdout: &mut dyn Write) -> Result<Exit, AuditError> {
    let write_err = |source| AuditError::Write {
        path: PathBuf::from("<stdout>"),
        source,
    };
    match command {
        Command::Audit(settings) => audit(&settings, stdout),
        Command::Demo(settings) => demo::run(settings, stdout),
        Command::Spend(settings) => spend::run(&settings, stdout),
        Command::Stats(settings) => stats::run(&settings),
        Command::Sql(settings) => sql::run(&settings),
        Command::Review(command) => review::run(command, stdout),
        Command::Ingest {
            input,
            to,
            verbosity,
        } => {
            export::ingest_to_parquet(&input, &to, verbosity)?;
            Ok(Exit::Clean)
        }
        Command::Explain { code: Some(code) } if code.eq_ignore_ascii_case("all") => {
            stdout
                .write_all(detect::catalog::catalog().as_bytes())
                .map_err(write_err)?;
            Ok(Exit::Clean)
        }
        Command::Explain { code: Some(code) } => {
            let doc = detect::catalog::lookup(&code).ok_or_else(|| {
                AuditError::Engine(format!(
                    "Unknown reason code `{code}`\n\nhint: `tokenaudit explain` lists every code"
                ))
            })?;
            stdout
                .write_all(detect::catalog::render(doc).as_bytes())
                .map_err(write_err)?;
            Ok(Exit::Clean)
        }
        Command::Explain { code: None } => {
            for doc in detect::catalog::all() {
                writeln!(stdout, "{}  {} ({})", doc.code, doc.title, doc.lens)
                    .map_err(write_err)?;
            }
            Ok(Exit::Clean)
        }
        Command::Schema => {
            stdout
                .write_all(crate::schema::describe().as_bytes())
                .map_err(write_err)?;
            Ok(Exit::Clean)
        }
        Command::Eval {
            dir,
            settings,
            json,
        } => {
            let evaluation = eval::evaluate(&dir, settings)?;
            if json {
                serde_json::to_writer_pretty(&mut *stdout, &evaluation)
                    .map_err(|e| write_err(e.into()))?;
                writeln!(stdout).map_err(write_err)?;
            } else {
                eval::render_table(&evaluation, stdout).map_err(write_err)?;
            }
            Ok(Exit::Clean)
        }
        Command::Generate(settings) => {
            let summary = crate::generate::write(&settings)?;
            if !matches!(settings.verbosity, Verbosity::Quiet) {
                eprintln!("{summary}");
            }
            Ok(Exit::Clean)
        }
    }
}

/// Writes one output file whole or not at all; an error names it.
fn write_atomically(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), AuditError> {
    report::write_atomically(path, write).map_err(|source| AuditError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads the price table: the embedded one, overridden by `--pricing`; and how many price
/// periods the override file had.
pub fn prices(input: &InputSettings) -> Result<(PriceTable, usize), AuditError> {
    let embedded = PriceTable::embedded();
    Ok(match &input.pricing {
        Some(path) => {
            let overrides = PriceTable::load(path)?;
            let rows = overrides.len();
            (embedded.overridden_by(overrides), rows)
        }
        None => (embedded, 0),
    })
}

/// The audit itself: the report to stdout and to every `--out` file, and the exit status.
pub fn audit(settings: &AuditSettings, stdout: &mut dyn Write) -> Result<Exit, AuditError> {
    let (mut report, run) = build(settings)?;
    // The store names agents as the logs do, whatever the report shows.
    let pending = run.map(|run| run.pending(&report));
    if let Some(pseudonymizer) = &settings.pseudonymizer {
        pseudonymizer.apply(&mut report);
    }
    report::write_files(&report, &settings.out_files)
        .map_err(|(path, source)| AuditError::Write { path, source })?;
    report::render(settings.stdout_format, &report, stdout).map_err(|source| {
        AuditError::Write {
            path: PathBuf::from("<stdout>"),
            source,
        }
    })?;
    if let Some(pending) = pending {
        pending.commit()?;
    }
    // A finding closed by a review (expected, planned) never counts; with --new-only, only
    // the findings new since the last stored run do, and those that have newly reached the
    // threshold (a low lead last week, high now).
    let failed = settings.fail_on.is_some_and(|threshold| {
        let counted = |f: &&FindingEntry| {
            let closed = f.review.as_ref().is_some_and(|r| r.verdict.closes());
            let fresh = f.state == Some(report::FindingState::New)
                || f.previous_severity.is_some_and(|before| before < threshold);
            !closed && (!settings.new_only || fresh)
        };
        report
            .findings
            .iter()
            .filter(counted)
            .any(|f| f.severity >= threshold)
    });
    Ok(if failed { Exit::Findings } else { Exit::Clean })
}

/// Each agent's model with the most requests (ties to the smaller name).
fn primary_models(days: &[features::DayUsage]) -> std::collections::BTreeMap<String, String> {
    let mut requests: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for day in days {
        *requests.entry((&day.agent, &day.model)).or_default() += day.requests;
    }
    let mut best: std::collections::BTreeMap<String, (u64, String)> = Default::default();
    for ((agent, model), n) in requests {
        let entry = best.entry(agent.to_string()).or_insert((0, String::new()));
        if n > entry.0 {
            *entry = (n, model.to_string());
        }
    }
    best.into_iter()
        .map(|(agent, (_, model))| (agent, model))
        .collect()
}

/// What the reading stages produced: the collected aggregates, priced.
pub(crate) struct Loaded {
    pub collected: pipeline::Collected,
    pub identities: crate::normalize::identities::IdentityMap,
    pub priced: Vec<features::PricedDay>,
    /// The week parts (tool, repository, session) with their cost, micro-dollars.
    pub parts: Vec<(features::WeekPart, i64)>,
    pub unpriced: Vec<UnpricedModel>,
    pub primary_models: std::collections::BTreeMap<String, String>,
    /// Formats read together that count the same spend twice, one warning each.
    pub overlaps: Vec<String>,
}

/// The snapshot the behaviour fingerprints count hours from; `None` when the behaviour lens
/// is off (request-level fingerprints are computed only for it).
fn behavior_snapshot(detect: &detect::DetectConfig) -> Option<features::Snapshot> {
    detect
        .runs("behavior")
        .then(|| detect.snapshot().unwrap_or(crate::detect::DEFAULT_SNAPSHOT))
}

/// Reads the inputs (usage files or stats folders, output files) in one streaming pass,
/// names and hashes what was read, writes the quarantine file and enforces `--strict`: the
/// heavy stage, before pricing. Also what `tokenaudit stats` writes.
pub(crate) fn read(
    input: &InputSettings,
    snapshot: Option<features::Snapshot>,
    progress: &mut Progress,
) -> Result<(pipeline::Sources, pipeline::Collected, Vec<String>), AuditError> {
    progress.stage(
        "reading",
        &format!(
            "{} usage and {} output inputs",
            input.usage.len(),
            input.outputs.len()
        ),
    );
    let sources = pipeline::sources(input)?;
    let overlaps = ingest::overlap_warnings(&sources.files);
    let hashes = (!input.skip_hashes).then(|| hash_in_background(&sources.files, &sources.hashes));
    // A `stat` per file, of tens of thousands: only when the line is shown.
    let detail = if progress.shows_stages() {
        let bytes: u64 = sources
            .files
            .iter()
            .filter_map(|f| std::fs::metadata(&f.path).ok())
            .map(|m| m.len())
            .sum();
        format!(
            "{} files ({:.1} MB) in one streaming pass",
            sources.files.len(),
            bytes as f64 / 1e6
        )
    } else {
        String::new()
    };
    progress.stage("aggregating", &detail);
    let mut collected = pipeline::collect(&sources, &input.calendar, snapshot, input.limits)?;
    if let Some(hashes) = hashes {
        let hashes = join_hashes(hashes, sources.files.len(), &sources.hashes)?;
        for (summary, hash) in collected.inputs.iter_mut().zip(hashes) {
            summary.sha256 = hash;
        }
    }
    progress.note(&format!(
        "read {} rows ({} valid, {} quarantined)",
        crate::units::grouped(collected.ingest.rows_read),
        crate::units::grouped(collected.ingest.rows_valid),
        crate::units::grouped(collected.ingest.rows_quarantined)
    ));
    if !input.stats.is_empty() {
        pipeline::add_stats(&mut collected, &input.stats, &input.calendar, snapshot)?;
    }
    keep_quarantine(
        input,
        &collected.quarantined,
        collected.ingest.rows_quarantined,
    )?;
    Ok((sources, collected, overlaps))
}

/// Writes the quarantine file (`--quarantine`) and fails on any quarantined row (`--strict`),
/// counting `count` of them (stats folders count theirs without listing them).
pub(crate) fn keep_quarantine(
    input: &InputSettings,
    quarantined: &[ingest::quarantine::QuarantinedRow],
    count: u64,
) -> Result<(), AuditError> {
    if let Some(path) = &input.quarantine {
        ingest::quarantine::write_file(quarantined, path).map_err(|source| AuditError::Write {
            path: path.clone(),
            source,
        })?;
    }
    if input.strict {
        if let Some(first) = quarantined.first() {
            return Err(AuditError::Strict {
                count,
                first: format!(
                    "{} row {}, column `{}`: `{}` ({})",
                    first.file, first.row, first.column, first.value, first.reason
                ),
            });
        }
    }
    Ok(())
}

/// Reads every input in one streaming pass, names and hashes what was read, writes the
/// quarantine file, enforces `--strict`, and prices the day-grain usage.
pub(crate) fn load(
    input: &InputSettings,
    snapshot: Option<features::Snapshot>,
    progress: &mut Progress,
    combine: impl FnOnce(features::Stats) -> Result<features::Stats, AuditError>,
) -> Result<Loaded, AuditError> {
    let (prices, price_overrides) = prices(input)?;
    let (sources, mut collected, overlaps) = read(input, snapshot, progress)?;
    // The reference files are part of what the audit read: named and hashed too.
    if let Some(path) = &input.identities {
        collected.inputs.push(reference_input(
            path,
            input,
            "identities-csv",
            sources.identities.rows(),
        )?);
    }
    if let Some(path) = &input.pricing {
        collected
            .inputs
            .push(reference_input(path, input, "prices-csv", price_overrides)?);
    }
    collected.stats = combine(std::mem::take(&mut collected.stats))?;
    let primary_models = primary_models(&collected.stats.days);
    let (priced, unpriced) =
        features::price_days(std::mem::take(&mut collected.stats.days), &prices);
    let parts = features::price_parts(
        std::mem::take(&mut collected.stats.parts),
        &priced,
        &prices,
        input.calendar.week_start,
    );
    Ok(Loaded {
        collected,
        identities: sources.identities,
        priced,
        parts,
        unpriced,
        primary_models,
        overlaps,
    })
}

/// Runs the stages and assembles the report (a store given with `--history` is read, not
/// written).
pub fn build_report(settings: &AuditSettings) -> Result<AuditReport, AuditError> {
    Ok(build(settings)?.0)
}

/// The report, and the run's write to the history store when there is one.
fn build(settings: &AuditSettings) -> Result<(AuditReport, Option<history::Run>), AuditError> {
    if settings.new_only && settings.history.is_none() {
        return Err(AuditError::NewOnlyWithoutHistory);
    }
    let input = &settings.input;
    let mut progress = Progress::new(settings.verbosity);
    let snapshot = behavior_snapshot(&settings.detect);
    let reviews = review::load(&settings.reviews)?;
    let store = history::open(settings, snapshot)?;
    let mut run = None;
    let mut loaded = load(input, snapshot, &mut progress, |stats| {
        let (stats, opened) = history::combine(settings, store, stats)?;
        run = opened;
        Ok(stats)
    })?;
    let usage_agents: std::collections::BTreeSet<&str> = loaded
        .priced
        .iter()
        .map(|d| d.usage.agent.as_str())
        .collect();
    // Names the identity map gives are its decision, linked or not.
    let mapped: std::collections::BTreeSet<&str> = loaded
        .identities
        .entries()
        .map(|(_, identity)| identity.agent.as_str())
        .collect();
    let linked = features::link_emails(&mut loaded.collected.stats.outputs, &usage_agents, &mapped);
    let collected = &loaded.collected;

    progress.stage("detecting", "agent-weeks, lenses");
    let weeks = features::build_agent_weeks(
        &loaded.priced,
        &collected.stats.sessions,
        &collected.stats.outputs,
        &settings.weights,
        input.calendar.week_start,
    );
    let repositories = features::output_by_repository(&collected.stats.outputs, &settings.weights);
    let evidence = detect::Evidence {
        behavior: &collected.stats.behavior,
        primary_models: &loaded.primary_models,
        repositories: &repositories,
    };
    let usage_weeks: std::collections::BTreeSet<i32> = weeks
        .iter()
        .filter(|w| w.requests > 0 || w.cost_usd > 0.0)
        .map(|w| crate::normalize::calendar::to_day_number(w.week))
        .collect();
    let join = detect::quality::OutputJoin {
        linked_by_email: linked,
        unmatched: detect::quality::unmatched_outputs(
            &usage_agents,
            &usage_weeks,
            collected
                .stats
                .outputs
                .iter()
                .map(|o| (o.agent.as_str(), o.week)),
        ),
        identity_map: !loaded.identities.is_empty(),
    };
    let detection = detect::run(&weeks, evidence, join, &settings.detect);
    let spend = features::spend_rows(&loaded.priced, &weeks, input.calendar.week_start);
    let mut report = assemble(
        settings,
        collected,
        weeks,
        spend,
        detection,
        loaded.unpriced.clone(),
    );
    let spend = spend_by_agent(&loaded, input.calendar.week_start);
    for finding in &mut report.findings {
        let weeks = finding
            .weeks
            .iter()
            .filter_map(|w| w.week.parse().ok())
            .collect();
        finding.root_causes = detect::root_causes::explain(
            spend
                .get(finding.agent.as_str())
                .map_or(&[][..], Vec::as_slice),
            &weeks,
            finding.excess_cost_usd,
        );
    }
    if let Some(run) = &run {
        run.annotate(&mut report);
    }
    if let Some(reviews) = reviews {
        let today = chrono::Utc::now()
            .with_timezone(&input.calendar.tz)
            .date_naive();
        review::apply(&mut report, &reviews, today);
    }
    progress.done();
    if settings.verbosity != Verbosity::Quiet {
        warn(&report, &loaded, input);
    }
    Ok((report, run))
}

/// Each agent's spend by week and model, tool, repository and (where its session ids are runs
/// of work) session, for the root causes.
fn spend_by_agent(
    loaded: &Loaded,
    week_start: crate::normalize::calendar::WeekStart,
) -> std::collections::BTreeMap<&str, Vec<detect::root_causes::Spend<'_>>> {
    use crate::normalize::calendar::from_day_number;
    use detect::root_causes::{Spend, SESSION_DIMENSION};
    let mut spend: std::collections::BTreeMap<&str, Vec<Spend>> = Default::default();
    for day in &loaded.priced {
        spend
            .entry(day.usage.agent.as_str())
            .or_default()
            .push(Spend {
                week: from_day_number(week_start.week_of_day(day.usage.day)),
                dimension: "model",
                value: &day.usage.model,
                cost_usd: day.cost_micro as f64 / 1e6,
            });
    }
    let real_sessions =
        detect::behavior::agents_with_real_sessions(&loaded.collected.stats.behavior);
    for (part, cost_micro) in &loaded.parts {
        if part.dimension == SESSION_DIMENSION && !real_sessions.contains(part.agent.as_str()) {
            continue;
        }
        spend.entry(part.agent.as_str()).or_default().push(Spend {
            week: from_day_number(part.week),
            dimension: &part.dimension,
            value: &part.value,
            cost_usd: *cost_micro as f64 / 1e6,
        });
    }
    spend
}

fn reference_input(
    path: &std::path::Path,
    input: &InputSettings,
    format: &str,
    rows: usize,
) -> Result<report::InputSummary, AuditError> {
    let display = input
        .display_names
        .iter()
        .find(|(p, _)| p == path)
        .map_or_else(|| path.display().to_string(), |(_, name)| name.clone());
    Ok(report::InputSummary {
        path: display,
        format: format.to_string(),
        rows: rows as u64,
        sha256: ingest::sha256_file(path)?,
    })
}

type HashJob = std::thread::JoinHandle<Result<Vec<(u32, String)>, IngestError>>;

/// Input hashes are computed on another thread while the query runs, but for files an adapter
/// hashed as it read them (`known`, by file index in increasing order).
fn hash_in_background(files: &[ingest::InputFile], known: &[(u32, ingest::Sha256)]) -> HashJob {
    let todo: Vec<(u32, PathBuf)> = files
        .iter()
        .enumerate()
        .filter(|(i, _)| known.binary_search_by_key(&(*i as u32), |k| k.0).is_err())
        .map(|(i, f)| (i as u32, f.path.clone()))
        .collect();
    std::thread::spawn(move || {
        todo.into_iter()
            .map(|(i, path)| Ok((i, ingest::sha256_file(&path)?)))
            .collect()
    })
}

/// The hash of every input, in file order: the adapters' and the background job's.
fn join_hashes(
    job: HashJob,
    files: usize,
    known: &[(u32, ingest::Sha256)],
) -> Result<Vec<String>, AuditError> {
    let hashed = match job.join() {
        Ok(result) => result?,
        Err(_) => return Err(AuditError::Engine("hashing the inputs panicked".into())),
    };
    let mut hashes = vec![String::new(); files];
    for (i, digest) in known {
        hashes[*i as usize] = ingest::hex(digest);
    }
    for (i, hash) in hashed {
        hashes[i as usize] = hash;
    }
    Ok(hashes)
}

fn warn(report: &AuditReport, loaded: &Loaded, input: &InputSettings) {
    let (collected, identities) = (&loaded.collected, &loaded.identities);
    for line in &loaded.overlaps {
        eprintln!("warning: {line}");
    }
    let ingest = &report.ingest;
    if ingest.rows_quarantined > 0 {
        let first = &collected.quarantined[0];
        let hint = match &input.quarantine {
            Some(path) => format!("every rejected row is in `{}`", path.display()),
            None => "write every rejected row with --quarantine FILE".to_string(),
        };
        eprintln!(
            "warning: {} rows quarantined (first: {} row {}, column `{}`: `{}`); {hint}",
            ingest.rows_quarantined, first.file, first.row, first.column, first.value
        );
    }
    if let Some(line) = report.unpriced_line() {
        eprintln!("warning: {line}");
    }
    if collected.rows_outside_window > 0 {
        eprintln!(
            "note: {} valid usage rows fall outside --since/--until and are not audited",
            collected.rows_outside_window
        );
    }
    if !identities.is_empty() {
        let unmapped: Vec<&str> = report
            .agents
            .iter()
            .filter(|a| identities.resolve(&a.agent).is_none())
            .map(|a| a.agent.as_str())
            .collect();
        if !unmapped.is_empty() {
            let shown: Vec<&str> = unmapped.iter().take(5).copied().collect();
            eprintln!(
                "note: {} agents are not in the identity map and are audited under the name their usage gives (e.g. {})",
                unmapped.len(),
                shown.join(", ")
            );
        }
    }
}

/// The period the given week starts cover.
pub(crate) fn period(
    weeks: impl Iterator<Item = chrono::NaiveDate> + Clone,
    calendar: &crate::normalize::calendar::Calendar,
) -> Period {
    let first = weeks.clone().min();
    let last = weeks.max();
    Period {
        start: first.map(|d| d.to_string()),
        end: last.map(|d| (d + Duration::days(6)).to_string()),
        weeks: match (first, last) {
            (Some(a), Some(b)) => ((b - a).num_days() / 7 + 1) as u32,
            _ => 0,
        },
        tz: calendar.tz.name().to_string(),
        week_start: calendar.week_start.name(),
    }
}

/// The report, which keeps the agent-week table and the spend rows for its charts and Parquet.
fn assemble(
    settings: &AuditSettings,
    collected: &pipeline::Collected,
    weeks: Vec<AgentWeek>,
    spend: Vec<features::SpendRow>,
    detection: Detection,
    unpriced: Vec<UnpricedModel>,
) -> AuditReport {
    let period = period(weeks.iter().map(|w| w.week), &settings.input.calendar);
    let agents: Vec<AgentEntry> = detection
        .agents
        .iter()
        .map(|(summary, status)| AgentEntry {
            agent: summary.agent.clone(),
            team: summary.team.clone(),
            tokens: summary.tokens.total(),
            cost_usd: round_to(summary.cost_usd, 2),
            output_index: round_to(summary.output_index, 3),
            weeks_active: summary.weeks_active,
            status: *status,
            q_value: detection
                .verdicts
                .get(&summary.agent)
                .map(|v| significant(v.q_value)),
            lens_p_values: detection
                .verdicts
                .get(&summary.agent)
                .map(|v| {
                    v.p_values
                        .iter()
                        .map(|(lens, p)| (*lens, significant(*p)))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let findings: Vec<FindingEntry> = detection
        .findings
        .iter()
        .map(|f| FindingEntry {
            id: report::finding_id(&f.agent, f.detector),
            state: None,
            previous_severity: None,
            review: None,
            root_causes: Vec::new(),
            agent: f.agent.clone(),
            team: f.team.clone(),
            week: f.week.map(|w| w.to_string()),
            severity: f.severity,
            detector: f.detector,
            score: f.score,
            q_value: significant(f.q_value),
            excess_cost_usd: f.excess_cost_usd,
            onset_week: f.onset_week.map(|w| w.to_string()),
            weeks: f
                .weeks
                .iter()
                .map(|w| WeekEntry {
                    week: w.week.to_string(),
                    q_value: significant(w.q_value),
                    cost_usd: round_to(w.cost_usd, 2),
                })
                .collect(),
            reasons: f
                .reasons
                .iter()
                .map(|r| ReasonEntry {
                    code: r.code,
                    message: r.message.clone(),
                    observed: r.observed,
                    expected: r.expected,
                })
                .collect(),
        })
        .collect();
    // One agent's excess counts once, under its largest finding.
    let mut excess_by_agent: std::collections::BTreeMap<&str, f64> = Default::default();
    for f in &findings {
        let entry = excess_by_agent.entry(&f.agent).or_default();
        *entry = entry.max(f.excess_cost_usd);
    }
    let totals = Totals {
        agents: agents.len(),
        tokens: agents.iter().map(|a| a.tokens).sum(),
        cost_usd: round_to(weeks.iter().map(|w| w.cost_usd).sum(), 2),
        excess_cost_usd: round_to(excess_by_agent.values().sum(), 2),
    };
    AuditReport {
        schema_version: report::SCHEMA_VERSION,
        tool: ToolInfo::default(),
        period,
        inputs: collected.inputs.clone(),
        ingest: collected.ingest.clone(),
        totals,
        agents,
        findings,
        unpriced_models: unpriced,
        data_quality: detection.quality,
        calibration: detection.calibration,
        history: None,
        reviews: None,
        detail: report::Detail {
            weeks,
            spend,
            curves: detection.curves,
            weekly_q: detection.weekly,
        },
    }
}

/// Four significant digits: q-values span many orders of magnitude.
fn significant(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    format!("{value:.3e}").parse().unwrap_or(value)
}

/// Whether a severity threshold name is valid for `--fail-on` (`never` maps to `None`).
pub fn parse_fail_on(text: &str) -> Option<Option<Severity>> {
    match text {
        "never" => Some(None),
        other => Severity::parse(other).map(Some),
    }
}
