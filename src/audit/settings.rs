//! Plain settings for a run, resolved by `cli` from flags, `tokenaudit.toml` and defaults.
//! Nothing here knows about clap.

use std::path::PathBuf;

use crate::detect::{DetectConfig, Severity};
use crate::features::OutputWeights;
use crate::ingest::Format;
use crate::normalize::calendar::Calendar;
use crate::report::{ReportFile, ReportFormat};

/// How much to say on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

/// Where the data comes from and how it is read.
#[derive(Debug, Clone, Default)]
pub struct InputSettings {
    pub usage: Vec<String>,
    /// Folders of the stats contract, read instead of usage files.
    pub stats: Vec<PathBuf>,
    pub outputs: Vec<String>,
    pub identities: Option<PathBuf>,
    pub usage_format: Option<Format>,
    pub outputs_format: Option<Format>,
    pub calendar: Calendar,
    pub pricing: Option<PathBuf>,
    pub quarantine: Option<PathBuf>,
    /// Any quarantined row fails the run (exit 2).
    pub strict: bool,
    /// Shown instead of real paths in reports (the demo's embedded fixtures).
    pub display_names: Vec<(PathBuf, String)>,
    /// How many keys (request ids, prompts) the heavy stage holds in memory before it writes
    /// them to temporary files.
    pub limits: crate::features::Limits,
    /// No output of the run shows `inputs[].sha256` (`spend` as a table, CSV, Markdown or
    /// FOCUS; `ingest`): the files are not hashed, a fifth of the time on a folder of logs.
    pub skip_hashes: bool,
}

/// Everything `audit` needs.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub input: InputSettings,
    pub weights: OutputWeights,
    pub detect: DetectConfig,
    /// Exit 1 when a finding reaches this severity; `None` never fails.
    pub fail_on: Option<Severity>,
    pub stdout_format: ReportFormat,
    pub out_files: Vec<ReportFile>,
    pub verbosity: Verbosity,
    /// Agent names replaced by keyed hashes in every output.
    pub pseudonymizer: Option<crate::report::Pseudonymizer>,
    /// Keep weekly stats and findings between runs (`--history`).
    pub history: Option<HistorySettings>,
    /// Audit only the latest this many weeks (`--weeks`; 12 with `--history` by default).
    pub weeks: Option<usize>,
    /// `--fail-on` counts only the findings new since the last stored run.
    pub new_only: bool,
    /// The review file (`--reviews`, else `tokenaudit-reviews.toml` when it exists).
    pub reviews: super::review::ReviewSource,
}

/// Where the history store is and how much it keeps.
#[derive(Debug, Clone)]
pub struct HistorySettings {
    pub dir: PathBuf,
    /// Weeks kept, counted back from the newest (`[history] keep_weeks`).
    pub keep_weeks: usize,
}

/// Weeks audited with `--history` when `--weeks` is not given.
pub const DEFAULT_HISTORY_WEEKS: usize = 12;
/// Weeks a store keeps when `[history] keep_weeks` is not set.
pub const DEFAULT_KEEP_WEEKS: usize = 104;

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            input: InputSettings::default(),
            weights: OutputWeights::default(),
            detect: DetectConfig::default(),
            fail_on: None,
            stdout_format: ReportFormat::Table,
            out_files: Vec::new(),
            verbosity: Verbosity::Normal,
            pseudonymizer: None,
            history: None,
            weeks: None,
            new_only: false,
            reviews: Default::default(),
        }
    }
}
