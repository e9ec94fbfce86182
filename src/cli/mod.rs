//! The command line: clap types for what the user typed, and [`resolve`], which merges them
//! with `--config` and the defaults into the plain settings of `audit`. The only module that
//! knows clap.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::audit::spend::SpendSettings;
use crate::audit::{AuditSettings, Command, InputSettings, Verbosity};
use crate::detect::DetectConfig;
use crate::features::{OutputWeights, SpendDim};
use crate::generate::{GenerateSettings, UsageFileFormat, UsageLayout, World, Worlds};
use crate::ingest::Format;
use crate::normalize::calendar::{Calendar, WeekStart};
use crate::report::{ReportFile, ReportFormat, SpendFormat};

#[derive(Debug, Parser)]
#[command(
    name = "tokenaudit",
    version,
    about = "Audit AI token consumption against delivered output and flag tokenmaxxing",
    after_help = "Start with `tokenaudit demo`. Exit codes: 0 ran clean, 1 a finding reached --fail-on, 2 could not run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
    /// Print nothing on stderr but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print stage timings on stderr.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
}

impl Cli {
    /// Whether the command asked to read its input with one decoding thread. The binary
    /// applies it before polars starts its threads, which is why it is read here and not from
    /// the resolved settings.
    pub fn low_memory(&self) -> bool {
        match &self.command {
            Commands::Audit(args) => args.input.low_memory,
            Commands::Spend(args) => args.input.low_memory,
            Commands::Ingest(args) => args.input.low_memory,
            _ => false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// The weekly audit: read usage and outputs, print the report.
    Audit(AuditArgs),
    /// Run the audit on fixtures embedded in the binary; no files needed.
    Demo(ReportArgs),
    /// Cost roll-ups by team, agent, model and week, for chargeback (and FOCUS for FinOps tools).
    Spend(SpendArgs),
    /// Normalize, deduplicate and price usage into canonical Parquet.
    Ingest(IngestArgs),
    /// Compute the stats contract (the heavy stage) into a folder, for `audit --stats DIR`.
    Stats(StatsArgs),
    /// Write the SQL that computes the stats contract in Spark, DuckDB, Trino or BigQuery.
    Sql(SqlArgs),
    /// Document a reason code (or list them all).
    Explain {
        /// A reason code such as TA101, or `all` for every code's doc as one Markdown page.
        code: Option<String>,
    },
    /// Write a synthetic company with planted inflators and a truth file.
    Generate(GenerateArgs),
    /// Audit a folder written by `generate` and score the findings against its truth.json.
    Eval {
        /// The folder `tokenaudit generate --out DIR` wrote.
        dir: PathBuf,
        /// Settings file (TOML) for the audit.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print the scores as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the canonical schemas.
    Schema,
    /// Keep decisions on findings in a review file meant for git.
    Review {
        #[command(subcommand)]
        action: ReviewAction,
        /// The review file.
        #[arg(long, value_name = "FILE", default_value = crate::reviews::DEFAULT_FILE, global = true)]
        reviews: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReviewAction {
    /// Record a decision on an agent's findings.
    Add {
        #[arg(long)]
        agent: String,
        /// Only findings with a reason of this code.
        #[arg(long, value_name = "CODE")]
        code: Option<String>,
        /// Only findings about one of these weeks (first days, comma-separated).
        #[arg(long, value_name = "DATES", value_delimiter = ',')]
        weeks: Vec<String>,
        /// expected and planned close the finding; unexpected confirms it.
        #[arg(long, value_parser = ["expected", "unexpected", "planned"])]
        verdict: String,
        /// What was decided and why ("migration week", "approved research spike").
        #[arg(long)]
        reason: String,
        /// The last day the review holds (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
        /// Who decided (default: $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// Print every review.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a review by id.
    Remove {
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct InputArgs {
    /// Usage files, directories or globs (CSV, Parquet, Arrow IPC, NDJSON).
    #[arg(long, num_args = 1.., required_unless_present = "stats", value_name = "PATH")]
    pub usage: Vec<String>,
    /// Instead of --usage: folders of the stats contract (`tokenaudit stats`, or the SQL of
    /// `tokenaudit sql` run by a query engine); several are shards to merge.
    #[arg(long, num_args = 1.., conflicts_with = "usage", value_name = "DIR")]
    pub stats: Vec<PathBuf>,
    /// Output files (commits, merged PRs, closed tickets, reviews), directories or globs.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub outputs: Vec<String>,
    /// Identity map CSV: alias,agent[,team][,kind].
    #[arg(long, value_name = "CSV")]
    pub identities: Option<PathBuf>,
    /// Read usage files as this format instead of detecting it.
    #[arg(long, value_name = "NAME")]
    pub usage_format: Option<String>,
    /// Read output files as this format instead of detecting it.
    #[arg(long, value_name = "NAME")]
    pub outputs_format: Option<String>,
    /// Write every rejected row (file, row, column, value, reason) to this CSV.
    #[arg(long, value_name = "FILE")]
    pub quarantine: Option<PathBuf>,
    /// Fail (exit 2) if any row is rejected.
    #[arg(long)]
    pub strict: bool,
    /// Request ids and prompt keys held in memory before they go to temporary files (the
    /// default, 8,388,608, is 64-128 MB); results do not depend on it.
    #[arg(long, value_name = "N", hide = true)]
    pub keys_in_memory: Option<usize>,
    /// Megabytes of rows parsed from vendor logs held in memory before they go to temporary
    /// files (default 32); results do not depend on it.
    #[arg(long, value_name = "MB", hide = true)]
    pub rows_in_memory_mb: Option<usize>,
    /// Decode the input on one thread: peak memory stays near the audit's own state (3.4 GB
    /// for 259M requests instead of 13 GB) for about 1.35x the time. Same results.
    #[arg(long)]
    pub low_memory: bool,
    #[command(flatten)]
    pub calendar: CalendarArgs,
}

#[derive(Debug, Args, Default)]
pub struct CalendarArgs {
    /// Time zone of week boundaries and active days (IANA name); default UTC.
    #[arg(long, value_name = "IANA")]
    pub tz: Option<String>,
    /// First day of the week.
    #[arg(long, value_name = "DAY", value_parser = ["monday", "sunday"])]
    pub week_start: Option<String>,
    /// First local date to audit (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Last local date to audit (YYYY-MM-DD), inclusive.
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Price table CSV that overrides or extends the embedded one.
    #[arg(long, value_name = "FILE")]
    pub pricing: Option<PathBuf>,
}

#[derive(Debug, Args, Default)]
pub struct ReportArgs {
    /// Format of the report on stdout: table, json, csv, markdown, html.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Also write the report as FORMAT to PATH (repeatable); parquet=DIR writes a directory.
    #[arg(long = "out", value_name = "FORMAT=PATH")]
    pub out: Vec<String>,
    /// Replace agent names with keyed hashes (key in TOKENAUDIT_PSEUDONYM_KEY).
    #[arg(long)]
    pub pseudonymize: bool,
    /// Settings file (TOML): [detect] thresholds, [output_index] weights, [audit] defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Exit 1 when a finding reaches this severity: never, low, medium, high.
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// With --fail-on, count only the findings new since the last run stored in --history.
    #[arg(long, requires = "history")]
    pub new_only: bool,
    /// Keep each whole week's stats and each run's findings in DIR, and audit the stored
    /// weeks together with the new input (see README, "History").
    #[arg(long, value_name = "DIR")]
    pub history: Option<PathBuf>,
    /// Decisions on findings (default: tokenaudit-reviews.toml, when it exists).
    #[arg(long, value_name = "FILE")]
    pub reviews: Option<PathBuf>,
    /// Audit the latest N weeks only (default: 12 with --history, every week without).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=5200))]
    pub weeks: Option<u32>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct SpendArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Roll up by these dimensions, in this order (comma-separated): team, agent, model, week.
    #[arg(long, value_name = "DIMS", default_value = "team,agent,model,week")]
    pub by: String,
    /// Format on stdout: table, json, csv, markdown, focus.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
    /// Also write FORMAT to PATH (repeatable), e.g. --out focus=ai-spend.csv.
    #[arg(long = "out", value_name = "FORMAT=PATH")]
    pub out: Vec<String>,
    /// Replace agent names with keyed hashes (key in TOKENAUDIT_PSEUDONYM_KEY).
    #[arg(long)]
    pub pseudonymize: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The folder to write the stats tables and their manifest (stats.json) to.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Settings file (TOML): [detect] says whether the behaviour fingerprints are computed
    /// and from which snapshot, [audit] gives the calendar defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The engine: duckdb, spark (Databricks), trino (Athena), bigquery.
    #[arg(long, value_name = "NAME")]
    pub dialect: String,
    /// The usage table, with the canonical usage columns (`tokenaudit schema`).
    #[arg(long, value_name = "NAME", required_unless_present = "parquet")]
    pub table: Option<String>,
    /// Instead of --table: a Parquet path the engine reads (DuckDB, Spark).
    #[arg(long, value_name = "PATH", conflicts_with = "table")]
    pub parquet: Option<String>,
    /// Optional usage columns the table lacks (comma-separated); they take their defaults.
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',')]
    pub absent: Vec<String>,
    /// Identity map CSV, inlined into the SQL.
    #[arg(long, value_name = "CSV")]
    pub identities: Option<PathBuf>,
    #[command(flatten)]
    pub calendar: CalendarArgs,
    /// Settings file (TOML): [detect] gives the behaviour snapshot, [audit] the calendar.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The folder for stats.sql and stats.json (and, by default, the tables).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Where the engine writes the tables instead (an object-store or cluster path).
    #[arg(long, value_name = "LOCATION")]
    pub tables_at: Option<String>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Where to write the canonical Parquet.
    #[arg(long, value_name = "FILE.parquet")]
    pub to: PathBuf,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 60)]
    pub agents: usize,
    #[arg(long, default_value_t = 8)]
    pub weeks: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Mean productive requests per active week of a typical agent.
    #[arg(long, default_value_t = 400.0)]
    pub requests_per_week: f64,
    /// Monday the first week starts on.
    #[arg(long, default_value = "2026-09-07")]
    pub start: String,
    /// Write usage in hourly buckets (a vendor-style export) instead of one row per request;
    /// the same as `--world hourly`.
    #[arg(long)]
    pub hourly: bool,
    /// Reshape the company the way real data differ from it (repeatable, or comma-separated):
    /// session-labels (session_id a label reused across days), no-sessions (session_id null),
    /// hourly (hourly buckets), global-time-zones (UTC offsets -11..+13), diverse-elasticity
    /// (elasticity per agent, wider appetite), power-users (5% honest users of 3-6 parallel
    /// worktree sessions), ci-accounts (3% CI service accounts on a fixed cadence, with
    /// output), review-heavy (few tickets, many reviews), squads (teams named as squads of
    /// 2-8), shared-repos (research and platform in one repository, a third of commits in a
    /// monorepo), model-prices (tokens, not dollars, buy work: Opus users pay 5x for the same
    /// output), model-migration (everyone on Opus from the middle week), holiday-week (a week
    /// of two working days under a change freeze), output-lag (artifacts land 1-9 days after
    /// the work), all (every world but hourly, no-sessions, squads, shared-repos, the two
    /// model worlds, holiday-week and output-lag). Default: none, the standard company. hourly and no-sessions exclude session-labels. truth.json
    /// records the worlds.
    #[arg(
        long = "world",
        value_name = "NAME",
        value_delimiter = ',',
        value_parser = clap::builder::PossibleValuesParser::new(crate::generate::WORLD_NAMES),
    )]
    pub worlds: Vec<String>,
    /// Plant no inflators: an all-honest company, to see what the detector flags by chance.
    #[arg(long)]
    pub no_inflators: bool,
    /// Usage file format: parquet, csv, or claude-code (session logs under claude-code/, for
    /// the vendor adapter's bench).
    #[arg(long, default_value = "parquet", value_parser = ["parquet", "csv", "claude-code"])]
    pub usage_format: String,
}

/// `tokenaudit.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    detect: Option<DetectConfig>,
    #[serde(default)]
    output_index: Option<OutputIndexConfig>,
    #[serde(default)]
    audit: Option<AuditDefaults>,
    #[serde(default)]
    history: Option<HistoryConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryConfig {
    /// Weeks the store keeps, counted back from the newest.
    keep_weeks: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputIndexConfig {
    /// Weight of kinds not listed in `weights`.
    default: Option<f64>,
    #[serde(default)]
    weights: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditDefaults {
    tz: Option<String>,
    week_start: Option<String>,
    fail_on: Option<String>,
    format: Option<String>,
}

fn verbosity(cli: &Cli) -> Verbosity {
    if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    }
}

fn parse_date(text: &str, flag: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("`{text}` is not a date for {flag}; expected YYYY-MM-DD"))
}

fn load_config(path: Option<&PathBuf>) -> Result<ConfigFile> {
    let Some(path) = path else {
        return Ok(ConfigFile::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Cannot read the config file `{}`", path.display()))?;
    toml::from_str(&text).with_context(|| format!("Invalid config file `{}`", path.display()))
}

fn calendar(args: &CalendarArgs, defaults: &AuditDefaults) -> Result<Calendar> {
    let tz_name = args
        .tz
        .as_deref()
        .or(defaults.tz.as_deref())
        .unwrap_or("UTC");
    let tz: chrono_tz::Tz = tz_name.parse().map_err(|_| {
        anyhow::anyhow!("`{tz_name}` is not an IANA time zone\n\nhint: use a name such as Europe/Berlin or America/New_York")
    })?;
    let week_start = match args
        .week_start
        .as_deref()
        .or(defaults.week_start.as_deref())
    {
        None | Some("monday") => WeekStart::Monday,
        Some("sunday") => WeekStart::Sunday,
        Some(other) => bail!("`{other}` is not a week start; expected monday or sunday"),
    };
    let since = args
        .since
        .as_deref()
        .map(|d| parse_date(d, "--since"))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|d| parse_date(d, "--until"))
        .transpose()?;
    if let (Some(since), Some(until)) = (since, until) {
        if since > until {
            bail!("--since {since} is after --until {until}");
        }
    }
    Ok(Calendar {
        tz,
        week_start,
        since,
        until,
    })
}

/// The memory budgets given on the command line, the defaults for the others.
fn limits(keys: Option<usize>, rows_mb: Option<usize>) -> crate::features::Limits {
    let defaults = crate::features::Limits::default();
    crate::features::Limits {
        keys_in_memory: keys.unwrap_or(defaults.keys_in_memory),
        bytes_in_memory: rows_mb.map_or(defaults.bytes_in_memory, |mb| mb << 20),
    }
}

fn input_settings(args: InputArgs, defaults: &AuditDefaults) -> Result<InputSettings> {
    let format = |name: Option<String>| -> Result<Option<Format>> {
        name.map(|n| Format::parse(&n))
            .transpose()
            .map_err(Into::into)
    };
    Ok(InputSettings {
        calendar: calendar(&args.calendar, defaults)?,
        usage: args.usage,
        stats: args.stats,
        outputs: args.outputs,
        identities: args.identities,
        usage_format: format(args.usage_format)?,
        outputs_format: format(args.outputs_format)?,
        pricing: args.calendar.pricing,
        quarantine: args.quarantine,
        strict: args.strict,
        display_names: Vec::new(),
        limits: limits(args.keys_in_memory, args.rows_in_memory_mb),
        skip_hashes: false,
    })
}

fn pseudonymizer(wanted: bool) -> Result<Option<crate::report::Pseudonymizer>> {
    if !wanted {
        return Ok(None);
    }
    crate::report::Pseudonymizer::from_env()
        .map(Some)
        .map_err(|message| anyhow::anyhow!(message))
}

/// Splits `--out FORMAT=PATH`.
fn out_spec(spec: &str) -> Result<(&str, PathBuf)> {
    let (format, path) = spec.split_once('=').with_context(|| {
        format!("`--out {spec}` needs FORMAT=PATH, for example --out json=report.json")
    })?;
    Ok((format, PathBuf::from(path)))
}

fn spend_format(name: &str) -> Result<SpendFormat> {
    SpendFormat::parse(name).with_context(|| {
        format!(
            "`{name}` is not a spend format; expected one of {}",
            SpendFormat::NAMES
        )
    })
}

fn spend_settings(args: SpendArgs, verbosity: Verbosity) -> Result<SpendSettings> {
    let by = args
        .by
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            SpendDim::parse(d).with_context(|| {
                format!(
                    "`{}` is not a spend dimension; expected some of {}",
                    d.trim(),
                    SpendDim::NAMES
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let out_files = args
        .out
        .iter()
        .map(|spec| {
            let (format, path) = out_spec(spec)?;
            Ok((spend_format(format)?, path))
        })
        .collect::<Result<Vec<_>>>()?;
    let stdout_format = spend_format(&args.format)?;
    // Only the JSON report lists the inputs with their hashes.
    let shows_hashes = std::iter::once(stdout_format)
        .chain(out_files.iter().map(|(format, _)| *format))
        .any(|format| format == SpendFormat::Json);
    Ok(SpendSettings {
        input: InputSettings {
            skip_hashes: !shows_hashes,
            ..input_settings(args.input, &AuditDefaults::default())?
        },
        by,
        stdout_format,
        out_files,
        verbosity,
        pseudonymizer: pseudonymizer(args.pseudonymize)?,
    })
}

fn report_format(name: &str) -> Result<ReportFormat> {
    ReportFormat::parse(name).with_context(|| {
        format!(
            "`{name}` is not a report format; expected one of {}",
            ReportFormat::NAMES
        )
    })
}

/// Builds the audit settings from report flags and the config file; input comes separately.
fn audit_settings(
    report: ReportArgs,
    config: ConfigFile,
    input: InputSettings,
    verbosity: Verbosity,
) -> Result<AuditSettings> {
    let defaults = config.audit.unwrap_or_default();
    let mut weights = OutputWeights::default();
    if let Some(index) = config.output_index {
        weights.weights.extend(index.weights);
        if let Some(default) = index.default {
            weights.default = default;
        }
    }
    let stdout_format = report_format(
        report
            .format
            .as_deref()
            .or(defaults.format.as_deref())
            .unwrap_or("table"),
    )?;
    if !stdout_format.is_stream() {
        bail!("parquet is a directory of files, not a stream for stdout\n\nhint: use --out parquet=DIR");
    }
    let out_files = report
        .out
        .iter()
        .map(|spec| {
            let (format, path) = out_spec(spec)?;
            Ok(ReportFile {
                format: report_format(format)?,
                path,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let fail_on_text = report
        .fail_on
        .as_deref()
        .or(defaults.fail_on.as_deref())
        .unwrap_or("never");
    let fail_on = crate::audit::parse_fail_on(fail_on_text).with_context(|| {
        format!("`{fail_on_text}` is not a --fail-on level; expected never, low, medium or high")
    })?;
    let pseudonymizer = pseudonymizer(report.pseudonymize)?;
    let keep_weeks = config
        .history
        .as_ref()
        .and_then(|h| h.keep_weeks)
        .unwrap_or(crate::audit::settings::DEFAULT_KEEP_WEEKS);
    if keep_weeks == 0 {
        bail!("[history] keep_weeks must be at least 1");
    }
    let history = report
        .history
        .map(|dir| crate::audit::settings::HistorySettings { dir, keep_weeks });
    Ok(AuditSettings {
        history,
        weeks: report.weeks.map(|n| n as usize),
        new_only: report.new_only,
        reviews: match report.reviews {
            Some(path) => crate::audit::review::ReviewSource {
                path,
                explicit: true,
            },
            None => Default::default(),
        },
        pseudonymizer,
        input,
        weights,
        detect: {
            let detect = config.detect.unwrap_or_default();
            if let Err(message) = detect.check() {
                bail!("{message}");
            }
            detect
        },
        fail_on,
        stdout_format,
        out_files,
        verbosity,
    })
}

/// The `[audit]` defaults of a settings file.
fn audit_defaults(config: &ConfigFile) -> AuditDefaults {
    config
        .audit
        .as_ref()
        .map_or_else(AuditDefaults::default, Clone::clone)
}

/// For commands that compute stats (`stats`, `sql`): the `[audit]` calendar defaults and the
/// `[detect]` settings (which say whether and from when the behaviour fingerprints count).
fn calendar_and_detect(path: Option<&PathBuf>) -> Result<(AuditDefaults, DetectConfig)> {
    let config = load_config(path)?;
    let defaults = audit_defaults(&config);
    let detect = config.detect.unwrap_or_default();
    if let Err(message) = detect.check() {
        bail!("{message}");
    }
    Ok((defaults, detect))
}

/// Turns what the user typed into a command with plain settings.
pub fn resolve(cli: Cli) -> Result<Command> {
    let verbosity = verbosity(&cli);
    Ok(match cli.command {
        Commands::Audit(args) => {
            let config = load_config(args.report.config.as_ref())?;
            let defaults = audit_defaults(&config);
            let input = input_settings(args.input, &defaults)?;
            Command::Audit(audit_settings(args.report, config, input, verbosity)?)
        }
        Commands::Demo(report) => {
            let config = load_config(report.config.as_ref())?;
            let defaults = audit_defaults(&config);
            let input = InputSettings {
                calendar: calendar(&CalendarArgs::default(), &defaults)?,
                ..InputSettings::default()
            };
            Command::Demo(audit_settings(report, config, input, verbosity)?)
        }
        Commands::Spend(args) => Command::Spend(spend_settings(args, verbosity)?),
        Commands::Ingest(args) => {
            if !args.input.stats.is_empty() {
                bail!("ingest writes usage rows; stats folders hold none\n\nhint: give the usage files with --usage");
            }
            Command::Ingest {
                // The Parquet file written does not name its inputs.
                input: InputSettings {
                    skip_hashes: true,
                    ..input_settings(args.input, &AuditDefaults::default())?
                },
                to: args.to,
                verbosity,
            }
        }
        Commands::Sql(args) => {
            use crate::contract::sql::{check_absent, Dialect, Source};
            let dialect = Dialect::parse(&args.dialect).with_context(|| {
                format!(
                    "`{}` is not an SQL dialect; expected one of {}",
                    args.dialect,
                    Dialect::NAMES
                )
            })?;
            let source = match (args.table, args.parquet) {
                (Some(table), _) => Source::Table(table),
                (None, Some(path)) => {
                    if matches!(dialect, Dialect::Trino | Dialect::BigQuery) {
                        bail!(
                            "{} reads tables, not paths\n\nhint: give the usage table with --table",
                            dialect.name()
                        );
                    }
                    Source::Parquet(path)
                }
                (None, None) => bail!("give the usage table with --table NAME or --parquet PATH"),
            };
            check_absent(&args.absent).map_err(|message| anyhow::anyhow!(message))?;
            let (defaults, detect) = calendar_and_detect(args.config.as_ref())?;
            Command::Sql(crate::audit::sql::SqlSettings {
                dialect,
                source,
                absent: args.absent,
                identities: args.identities,
                calendar: calendar(&args.calendar, &defaults)?,
                detect,
                to: args.to,
                tables_at: args.tables_at,
                verbosity,
            })
        }
        Commands::Stats(args) => {
            if !args.input.stats.is_empty() {
                bail!("stats computes stats from usage files; to merge stats folders, give them all to `tokenaudit audit --stats`");
            }
            let (defaults, detect) = calendar_and_detect(args.config.as_ref())?;
            Command::Stats(crate::audit::stats::StatsSettings {
                input: input_settings(args.input, &defaults)?,
                detect,
                to: args.to,
                verbosity,
            })
        }
        Commands::Explain { code } => Command::Explain { code },
        Commands::Schema => Command::Schema,
        Commands::Review { action, reviews } => {
            use crate::audit::review::ReviewCommand;
            Command::Review(match action {
                ReviewAction::Add {
                    agent,
                    code,
                    weeks,
                    verdict,
                    reason,
                    expires,
                    by,
                } => ReviewCommand::Add {
                    file: reviews,
                    review: crate::reviews::NewReview {
                        agent,
                        code,
                        weeks,
                        verdict: crate::reviews::Verdict::parse(&verdict)
                            .expect("clap checked the verdict"),
                        reason,
                        by: by
                            .or_else(|| std::env::var("USER").ok())
                            .unwrap_or_else(|| "unknown".to_string()),
                        expires,
                    },
                },
                ReviewAction::List { json } => ReviewCommand::List {
                    file: reviews,
                    json,
                },
                ReviewAction::Remove { id } => ReviewCommand::Remove { file: reviews, id },
            })
        }
        Commands::Eval { dir, config, json } => {
            let report = ReportArgs {
                config,
                ..ReportArgs::default()
            };
            let config = load_config(report.config.as_ref())?;
            let input = InputSettings::default();
            // The audit's own stderr notes would interleave with the scores.
            let verbosity = if verbosity == Verbosity::Verbose {
                verbosity
            } else {
                Verbosity::Quiet
            };
            Command::Eval {
                dir,
                settings: audit_settings(report, config, input, verbosity)?,
                json,
            }
        }
        Commands::Generate(args) => {
            let mut worlds = Worlds::parse(&args.worlds)?;
            if args.hourly {
                worlds = worlds.with(World::Hourly)?;
            }
            Command::Generate(GenerateSettings {
                agents: args.agents,
                weeks: args.weeks,
                seed: args.seed,
                out: args.out,
                requests_per_week: args.requests_per_week,
                inflators: !args.no_inflators,
                start: {
                    let start = parse_date(&args.start, "--start")?;
                    if start.format("%u").to_string() != "1" {
                        bail!("--start {start} is not a Monday");
                    }
                    start
                },
                layout: if worlds.contains(World::Hourly) {
                    UsageLayout::HourlyBuckets
                } else {
                    UsageLayout::Requests
                },
                worlds,
                format: match args.usage_format.as_str() {
                    "csv" => UsageFileFormat::Csv,
                    "claude-code" => UsageFileFormat::ClaudeCode,
                    _ => UsageFileFormat::Parquet,
                },
                verbosity,
            })
        }
    })
}
