//! The report as data, in exactly the shape of the JSON report (schema_version 1).

use serde::Serialize;

use crate::detect::calibration::{Check, Status};
use crate::detect::quality::DataQuality;
use crate::detect::{AgentStatus, Curve, Severity};
use crate::features::{AgentWeek, SpendRow, UnpricedModel};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReport {
    pub schema_version: u32,
    pub tool: ToolInfo,
    pub period: Period,
    pub inputs: Vec<InputSummary>,
    pub ingest: IngestSummary,
    pub totals: Totals,
    pub agents: Vec<AgentEntry>,
    pub findings: Vec<FindingEntry>,
    /// Models with usage the price table does not know; their tokens are not in any cost.
    pub unpriced_models: Vec<UnpricedModel>,
    /// What the lenses could not read, for whom and why: "no findings" never reads as
    /// "nothing to find".
    pub data_quality: DataQuality,
    /// Each lens's and fingerprint's p-values against the population they judged.
    pub calibration: Vec<Check>,
    /// With `--history`: where the weeks came from, and what changed since the last stored run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryEntry>,
    /// When a review file was read: reviews that expired or no longer fit any agent or code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviews: Option<ReviewsEntry>,
    /// What the HTML charts and the Parquet files draw on; not part of the JSON report.
    #[serde(skip)]
    pub detail: Detail,
}

/// The week-level data behind the charts and the Parquet outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detail {
    /// The agent-week table the detectors read, sorted by agent, then week.
    pub weeks: Vec<AgentWeek>,
    /// Priced usage per day, team, agent, model and tier.
    pub spend: Vec<SpendRow>,
    /// The efficiency lens's peer curves.
    pub curves: Vec<Curve>,
    /// q of each judged agent-week, from the weekly families (`detect::Detection::weekly`).
    pub weekly_q: std::collections::BTreeMap<String, Vec<crate::detect::WeekQ>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolInfo {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for ToolInfo {
    fn default() -> Self {
        ToolInfo {
            name: "tokenaudit",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// First day of the first week (YYYY-MM-DD), null when there was no usage.
    pub start: Option<String>,
    /// Last day of the last week.
    pub end: Option<String>,
    pub weeks: u32,
    pub tz: String,
    pub week_start: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct InputSummary {
    pub path: String,
    pub format: String,
    pub rows: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IngestSummary {
    pub rows_read: u64,
    pub rows_valid: u64,
    pub rows_quarantined: u64,
    pub duplicates_removed: u64,
    /// Records vendor adapters skipped on purpose (synthetic messages, API errors), by
    /// "format: reason"; absent when none were.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub records_skipped: std::collections::BTreeMap<String, u64>,
}

impl IngestSummary {
    /// Adds another reader's accounting (a shard, the outputs beside stats).
    pub fn add(&mut self, other: IngestSummary) {
        self.rows_read += other.rows_read;
        self.rows_valid += other.rows_valid;
        self.rows_quarantined += other.rows_quarantined;
        self.duplicates_removed += other.duplicates_removed;
        for (reason, n) in other.records_skipped {
            *self.records_skipped.entry(reason).or_default() += n;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub agents: usize,
    pub tokens: u64,
    pub cost_usd: f64,
    pub excess_cost_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentEntry {
    pub agent: String,
    pub team: String,
    pub tokens: u64,
    pub cost_usd: f64,
    pub output_index: f64,
    pub weeks_active: u32,
    pub status: AgentStatus,
    /// Combined q-value over the lenses that judged the agent (null when none could).
    pub q_value: Option<f64>,
    /// Each lens's one-sided p-value for the agent.
    pub lens_p_values: std::collections::BTreeMap<&'static str, f64>,
}

/// A finding's identity across runs: one agent judged by one lens. Findings of the same lens
/// about the same agent in consecutive runs are the same finding, whatever weeks they name.
/// A pseudonymised report computes it from the pseudonym (see `Pseudonymizer::apply`), so
/// that it never confirms a guessed name.
pub fn finding_id(agent: &str, detector: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{agent}\u{0}{detector}").as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("F-{hex}")
}

/// Links [`AuditReport::limits`] shows by name.
const LINKS_SHOWN: usize = 3;

/// The sentence of [`AuditReport::limits`] on emails credited by the name before their `@`.
fn linked_by_email_line(links: &[(String, String)]) -> Option<String> {
    let shown: Vec<String> = links
        .iter()
        .take(LINKS_SHOWN)
        .map(|(name, agent)| format!("{name} → {agent}"))
        .collect();
    let more = if links.len() > LINKS_SHOWN {
        ", …"
    } else {
        ""
    };
    (!links.is_empty()).then(|| {
        format!(
            "The output of {} email address{} that no identity map named was credited to the \
             agent named before the @ ({}{more}); an --identities file that names them decides \
             instead.",
            links.len(),
            if links.len() == 1 { "" } else { "es" },
            shown.join(", ")
        )
    })
}

/// The sentence of [`AuditReport::limits`] on output credited to names without usage.
fn unmatched_outputs_line(unmatched: &crate::detect::quality::UnmatchedOutputs) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let more = if unmatched.names > unmatched.examples.len() {
        ", …"
    } else {
        ""
    };
    let without = match unmatched.agents_without_output {
        0 => String::new(),
        n => format!(
            ", and {} with usage {} no output at all",
            plural(n, "agent", "agents"),
            if n == 1 { "has" } else { "have" }
        ),
    };
    format!(
        "{} in the outputs {} no agent with usage ({}{more}): their output ({}) is \
         credited to no one{without}. If some are the same people under other handles (a git \
         login for an email), map them with --identities; until then those people are judged \
         as if they delivered nothing.",
        plural(unmatched.names, "name", "names"),
        if unmatched.names == 1 {
            "matches"
        } else {
            "match"
        },
        unmatched.examples.join(", "),
        plural(unmatched.output_weeks, "agent-week", "agent-weeks"),
    )
}

/// Root causes a text report shows per dimension (the JSON has them all).
const ROOT_CAUSES_SHOWN: usize = 3;

/// Findings of one state, numbered as in the report.
#[derive(Debug)]
pub struct FindingGroup<'a> {
    pub state: Option<FindingState>,
    pub findings: Vec<(usize, &'a FindingEntry)>,
    titled: bool,
}

impl FindingGroup<'_> {
    /// "New since the last stored run (2)", or nothing for the one group of a run without
    /// states.
    pub fn title(&self) -> Option<String> {
        if !self.titled {
            return None;
        }
        let name = match self.state {
            Some(FindingState::New) => "New since the last stored run",
            Some(FindingState::Ongoing) => "Ongoing: the last stored run raised them too",
            Some(FindingState::Reviewed) => "Reviewed",
            None => "Not reviewed",
        };
        Some(format!("{name} ({})", self.findings.len()))
    }
}

/// A finding's place across runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingState {
    New,
    Ongoing,
    /// A live review matches it (see `review`).
    Reviewed,
}

impl FindingState {
    pub fn name(self) -> &'static str {
        match self {
            FindingState::New => "new",
            FindingState::Ongoing => "ongoing",
            FindingState::Reviewed => "reviewed",
        }
    }
}

/// A review as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewEntry {
    pub id: String,
    pub agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub verdict: crate::reviews::Verdict,
    pub reason: String,
    pub by: String,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl From<&crate::reviews::Review> for ReviewEntry {
    fn from(r: &crate::reviews::Review) -> Self {
        ReviewEntry {
            id: r.id.clone(),
            agent: r.agent.clone(),
            code: r.code.clone(),
            verdict: r.verdict,
            reason: r.reason.clone(),
            by: r.by.clone(),
            at: r.at.clone(),
            expires: r.expires.clone(),
        }
    }
}

/// What the review file said about this run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewsEntry {
    /// Reviews in the file.
    pub reviews: usize,
    /// Findings a live review matches.
    pub matched: usize,
    /// Reviews that would match a finding but have expired: the finding is open again.
    pub expired: Vec<ReviewEntry>,
    /// Reviews of an agent not in this audit, or of a code tokenaudit does not know.
    pub stale: Vec<StaleReview>,
}

/// A review that fits nothing in this audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaleReview {
    pub id: String,
    pub agent: String,
    pub why: String,
}

/// What `--history` added to a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// This run's number in the store.
    pub run: u64,
    /// The last stored run before this one, whose findings `state` compares with.
    pub previous_run: Option<u64>,
    /// Audited weeks read from the store (first days).
    pub weeks_from_history: Vec<String>,
    /// The input's whole weeks, stored by this run.
    pub weeks_stored: Vec<String>,
    /// Input weeks audited but not stored, being partial.
    pub weeks_partial: Vec<String>,
    /// Partial input weeks the store holds whole: the input's rows of them were left out.
    pub weeks_superseded: Vec<String>,
    /// Findings of the previous run that this run no longer raises.
    pub resolved: Vec<ResolvedEntry>,
}

/// A finding of the previous run that stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedEntry {
    pub id: String,
    pub agent: String,
    pub team: String,
    pub detector: String,
    pub severity: Severity,
    pub excess_cost_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingEntry {
    /// The finding's identity across runs: the same agent judged by the same lens.
    pub id: String,
    /// With `--history`: new, or ongoing (the last stored run raised it too); reviewed when
    /// a live review matches it, with or without `--history`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<FindingState>,
    /// With `--history`, an ongoing finding's severity in the last stored run: `--new-only`
    /// gates on one that has newly reached `--fail-on` as on a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_severity: Option<Severity>,
    /// The live review that matches it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewEntry>,
    pub agent: String,
    pub team: String,
    /// First day of the week, or null for a finding about the whole period.
    pub week: Option<String>,
    pub severity: Severity,
    pub detector: &'static str,
    pub score: f64,
    pub q_value: f64,
    pub excess_cost_usd: f64,
    /// First day of the week the inflation began, when the change lens dated it.
    pub onset_week: Option<String>,
    /// The weeks the finding is about: the agent's weeks whose own q, across the agents of
    /// that week, is at most the FDR level.
    pub weeks: Vec<WeekEntry>,
    pub reasons: Vec<ReasonEntry>,
    /// Where the excess went: the finding's spend by model, each part's contribution.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub root_causes: Vec<crate::detect::root_causes::RootCause>,
}

impl FindingEntry {
    /// The root causes in one line, the largest few of each dimension: "model claude-opus 82%
    /// ($1,234), claude-sonnet 18% ($271); tool claude-code 100% ($1,505)".
    pub fn root_causes_text(&self) -> Option<String> {
        let mut dimensions: Vec<(&str, Vec<String>)> = Vec::new();
        for c in self.root_causes.iter().filter(|c| c.contribution_usd > 0.0) {
            let at = match dimensions.iter().position(|(d, _)| *d == c.dimension) {
                Some(at) => at,
                None => {
                    dimensions.push((&c.dimension, Vec::new()));
                    dimensions.len() - 1
                }
            };
            let parts = &mut dimensions[at].1;
            if parts.len() < ROOT_CAUSES_SHOWN {
                parts.push(format!(
                    "{} {:.0}% ({})",
                    c.value,
                    c.contribution_pct,
                    crate::units::usd(c.contribution_usd)
                ));
            }
        }
        (!dimensions.is_empty()).then(|| {
            dimensions
                .into_iter()
                .map(|(dimension, parts)| format!("{dimension} {}", parts.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// The weeks the finding is about, runs of consecutive weeks as ranges:
    /// "2026-09-07 to 2026-09-21, 2026-10-12 (4 weeks)"; `None` when no week is.
    pub fn weeks_text(&self) -> Option<String> {
        let dates: Vec<chrono::NaiveDate> = self
            .weeks
            .iter()
            .filter_map(|w| w.week.parse().ok())
            .collect();
        let mut runs: Vec<(chrono::NaiveDate, chrono::NaiveDate)> = Vec::new();
        for date in dates {
            match runs.last_mut() {
                Some((_, end)) if (date - *end).num_days() == 7 => *end = date,
                _ => runs.push((date, date)),
            }
        }
        if runs.is_empty() {
            return None;
        }
        let text: Vec<String> = runs
            .iter()
            .map(|(start, end)| {
                if start == end {
                    start.to_string()
                } else {
                    format!("{start} to {end}")
                }
            })
            .collect();
        let n = self.weeks.len();
        Some(format!(
            "{} ({n} week{})",
            text.join(", "),
            if n == 1 { "" } else { "s" }
        ))
    }
}

/// One week a finding is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekEntry {
    /// First day of the week.
    pub week: String,
    pub q_value: f64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasonEntry {
    pub code: &'static str,
    pub message: String,
    pub observed: f64,
    pub expected: f64,
}

impl Period {
    /// "2026-09-07 to 2026-11-01 (8 weeks, UTC, weeks start monday)".
    pub fn line(&self) -> String {
        match (&self.start, &self.end) {
            (Some(start), Some(end)) => format!(
                "{start} to {end} ({} weeks, {}, weeks start {})",
                self.weeks, self.tz, self.week_start
            ),
            _ => format!("no usage in the period ({})", self.tz),
        }
    }
}

impl AuditReport {
    /// "2026-09-07 to 2026-11-01 (8 weeks, UTC, weeks start monday)".
    pub fn period_line(&self) -> String {
        self.period.line()
    }

    /// What was read, and that nothing was lost.
    pub fn ingest_line(&self) -> String {
        use crate::units::grouped;
        let i = &self.ingest;
        let mut line = format!(
            "Read {} rows from {} data files: {} valid, {} quarantined, {} duplicates removed.",
            grouped(i.rows_read),
            // Identity map and price files are listed as inputs but hold no usage or output rows.
            self.inputs
                .iter()
                .filter(|input| !matches!(input.format.as_str(), "identities-csv" | "prices-csv"))
                .count(),
            grouped(i.rows_valid),
            grouped(i.rows_quarantined),
            grouped(i.duplicates_removed)
        );
        if !i.records_skipped.is_empty() {
            let parts: Vec<String> = i
                .records_skipped
                .iter()
                .map(|(reason, n)| format!("{} {reason}", grouped(*n)))
                .collect();
            line.push_str(&format!(" Skipped on purpose: {}.", parts.join(", ")));
        }
        line
    }

    /// Spend, flags and money at stake.
    pub fn outcome_line(&self) -> String {
        use crate::units::{compact, usd};
        let flagged = self
            .agents
            .iter()
            .filter(|a| a.status == AgentStatus::Flagged)
            .count();
        let insufficient = self
            .agents
            .iter()
            .filter(|a| a.status == AgentStatus::InsufficientData)
            .count();
        format!(
            "Audited {} agents ({} with too little data to judge): {} tokens, {} spent; {} flagged with {} at stake.",
            self.totals.agents,
            insufficient,
            compact(self.totals.tokens),
            usd(self.totals.cost_usd),
            flagged,
            usd(self.totals.excess_cost_usd)
        )
    }

    /// Warning about tokens no price covers, if any.
    pub fn unpriced_line(&self) -> Option<String> {
        if self.unpriced_models.is_empty() {
            return None;
        }
        let models: Vec<String> = self
            .unpriced_models
            .iter()
            .map(|m| {
                format!(
                    "{} ({} tokens, {} agents)",
                    m.model,
                    crate::units::compact(m.tokens),
                    m.agents
                )
            })
            .collect();
        Some(format!(
            "Unpriced models, not included in any cost: {}. Add their prices with --pricing FILE.",
            models.join(", ")
        ))
    }

    /// What this audit could not see, a sentence each: lenses that judged fewer agents than
    /// passed the minimum-data gates and why, fingerprints skipped for some agents and why, and
    /// lenses or fingerprints whose p-values were not calibrated on this data. Empty when the
    /// audit read everything it looks at.
    pub fn limits(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for lens in &self.data_quality.lenses {
            if let Some(note) = &lens.note {
                lines.push(format!(
                    "{} judged {} of {} eligible agents: {note}.",
                    lens.lens, lens.judged, lens.eligible
                ));
            }
        }
        for skip in &self.data_quality.skipped {
            let title = crate::detect::catalog::lookup(skip.code).map_or("", |d| d.title);
            lines.push(format!(
                "{} ({}) not read for {} agent{}: {}.",
                skip.code,
                title.to_lowercase(),
                skip.agents,
                if skip.agents == 1 { "" } else { "s" },
                skip.reason
            ));
        }
        if let Some(line) = linked_by_email_line(&self.data_quality.linked_by_email) {
            lines.push(line);
        }
        if let Some(unmatched) = &self.data_quality.unmatched_outputs {
            lines.push(unmatched_outputs_line(unmatched));
        }
        for step in &self.data_quality.shared_steps {
            const NAMED: usize = 8;
            let mut names = step.agents[..step.agents.len().min(NAMED)].join(", ");
            if step.agents.len() > NAMED {
                names.push_str(&format!(" and {} more", step.agents.len() - NAMED));
            }
            lines.push(format!(
                "{} agents at least doubled their spend from the week of {} and together \
                 delivered less for it than the agents whose spend held steady ({:.1} standard \
                 errors): one by one each may be within chance, and a step this many share reads \
                 as the company's norm to the per-agent comparison. Look at them together: {names}.",
                step.agents.len(),
                step.week,
                step.z
            ));
        }
        for team in &self.data_quality.teams_without_output {
            lines.push(format!(
                "None of the {} agents of team {} has any output in the period: its outputs are \
                 most likely not in the input (a repository or tracker not exported), so the peer \
                 comparison cannot tell its burn from its work.",
                team.agents, team.team
            ));
        }
        let quality = &self.data_quality;
        if crate::detect::quality::peers_judged(&quality.lenses) && quality.agents_without_team > 0
        {
            let by_repository = quality.agents_by_repository;
            lines.push(if quality.agents_without_team == quality.agents_eligible {
                if by_repository > 0 {
                    format!(
                        "No agent has a team (no --identities file with teams, no team column in \
                         the usage). {by_repository} of {} agents were compared with the others \
                         whose work is mostly in the same repository, the rest with one another \
                         across whatever teams they belong to. Teams that share a repository, \
                         and more so a company, differ in how many countable artifacts a dollar \
                         buys (research, SRE leave fewer), so findings that rest on that \
                         comparison alone stay low.",
                        quality.agents_eligible
                    )
                } else {
                    "No agent has a team (no --identities file with teams, no team column in the \
                     usage): everyone is compared with the whole company rather than their own \
                     team, so a team whose work leaves fewer countable artifacts (research, SRE) \
                     looks costlier than it is; findings that rest on that comparison alone stay \
                     low."
                        .to_string()
                }
            } else if by_repository > 0 {
                format!(
                    "{} of {} agents have no team (neither --identities nor the usage names \
                     one): {by_repository} of them were compared with the others whose work is \
                     mostly in the same repository, the rest with one another across whatever \
                     teams they belong to, and findings about them that rest on that comparison \
                     alone stay low.",
                    quality.agents_without_team, quality.agents_eligible
                )
            } else {
                format!(
                    "{} of {} agents have no team (neither --identities nor the usage names \
                     one): they are compared with one another across whatever teams they \
                     belong to, and findings about them that rest on that comparison alone stay low.",
                    quality.agents_without_team, quality.agents_eligible
                )
            });
        }
        for check in &self.calibration {
            if let (Status::Discounted, Some(note)) = (check.status, &check.note) {
                lines.push(format!(
                    "{} is not calibrated on this data: {note}.",
                    check.scope
                ));
            }
        }
        lines
    }

    /// The findings as the reports show them, each with its number (its place in
    /// `findings`, from 1): with a state (`--history` or reviews), new, ongoing and reviewed
    /// apart, empty groups left out; without, one group.
    pub fn finding_groups(&self) -> Vec<FindingGroup<'_>> {
        let numbered = || self.findings.iter().enumerate().map(|(i, f)| (i + 1, f));
        if self.findings.iter().all(|f| f.state.is_none()) {
            return vec![FindingGroup {
                state: None,
                findings: numbered().collect(),
                titled: false,
            }];
        }
        // Without `--history`, only reviewed findings have a state: the rest are one group.
        [
            Some(FindingState::New),
            Some(FindingState::Ongoing),
            None,
            Some(FindingState::Reviewed),
        ]
        .into_iter()
        .map(|state| FindingGroup {
            state,
            findings: numbered().filter(|(_, f)| f.state == state).collect(),
            titled: true,
        })
        .filter(|g| !g.findings.is_empty())
        .collect()
    }

    /// With `--history`: where the weeks came from and what changed since the last stored
    /// run, one line each, then one line per resolved finding; then what the review file said.
    pub fn history_lines(&self) -> Vec<String> {
        let mut lines = self.store_lines();
        if let Some(r) = &self.reviews {
            lines.push(format!(
                "Reviews: {} in the file, {} findings matched by a live review",
                r.reviews, r.matched
            ));
            for e in &r.expired {
                lines.push(format!(
                    "expired review {} of {} ({}, until {}): its findings are open again",
                    e.id,
                    e.agent,
                    e.verdict.name(),
                    e.expires.as_deref().unwrap_or("?")
                ));
            }
            for s in &r.stale {
                lines.push(format!("stale review {} of {}: {}", s.id, s.agent, s.why));
            }
        }
        lines
    }

    fn store_lines(&self) -> Vec<String> {
        let Some(h) = &self.history else {
            return Vec::new();
        };
        let count = |state: FindingState| {
            self.findings
                .iter()
                .filter(|f| f.state == Some(state))
                .count()
        };
        let mut lines = vec![
            format!(
                "History: run {}{}; {} weeks from the store, {} stored by this run{}{}",
                h.run,
                h.previous_run.map_or_else(
                    || " (the first)".to_string(),
                    |p| format!(" (previous {p})")
                ),
                h.weeks_from_history.len(),
                h.weeks_stored.len(),
                if h.weeks_partial.is_empty() {
                    String::new()
                } else {
                    format!(", partial and not stored: {}", h.weeks_partial.join(", "))
                },
                if h.weeks_superseded.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", input rows left out for the stored whole weeks {}",
                        h.weeks_superseded.join(", ")
                    )
                },
            ),
            format!(
                "Findings: {} new, {} ongoing, {} resolved since the previous run",
                count(FindingState::New),
                count(FindingState::Ongoing),
                h.resolved.len()
            ),
        ];
        for r in &h.resolved {
            lines.push(format!(
                "resolved: {} ({}), {} {}, was {} with ${:.2} excess",
                r.agent,
                r.team,
                r.detector,
                r.id,
                r.severity.name(),
                r.excess_cost_usd
            ));
        }
        lines
    }

    /// How the lenses read this data where it was not the plain reading: spend as tokens
    /// rather than dollars, output as partly the week before's work. A line of its own, for it
    /// is how the audit judged, not something it could not see.
    pub fn reading_line(&self) -> Option<String> {
        let tokens = crate::detect::efficiency::Reading::Tokens.name();
        let mut sentences = Vec::new();
        if self.data_quality.spend_compared_as == Some(tokens) {
            sentences.push(
                "The peer comparison read spend as tokens, weighed at the ratios of list prices: \
                 peers at the same output agreed on tokens more than on dollars, so the models' \
                 prices differ more than the work does. The dollars at stake are each agent's own."
                    .to_string(),
            );
        }
        if !self.data_quality.output_lag.is_empty() {
            let shares: Vec<String> = self
                .data_quality
                .output_lag
                .iter()
                .map(|lag| format!("{:.0}% for {} agents", lag.share * 100.0, lag.kind.name()))
                .collect();
            sentences.push(format!(
                "The history lens read each week's output as partly the work of the week before \
                 ({}): output followed last week's spend more closely than its own week's, as \
                 where artifacts land days after the work.",
                shares.join(", ")
            ));
        }
        (!sentences.is_empty()).then(|| sentences.join(" "))
    }

    /// The calibration check in one line: per lens, the judged agents at p ≤ 0.01 and at
    /// p ≤ 0.001, which chance puts at about 1% and 0.1% when few inflate.
    pub fn calibration_line(&self) -> Option<String> {
        let lenses: Vec<String> = self
            .calibration
            .iter()
            .filter(|c| crate::detect::codes::LENS_NAMES.contains(&c.scope.as_str()))
            .map(|c| {
                format!(
                    "{} {} and {} of {} ({})",
                    c.scope,
                    c.p_01,
                    c.p_001,
                    c.judged,
                    c.status.name()
                )
            })
            .collect();
        (!lenses.is_empty()).then(|| {
            format!(
                "Calibration, agents at p ≤ 0.01 and p ≤ 0.001 (chance: about 1% and 0.1% of those judged): {}.",
                lenses.join("; ")
            )
        })
    }
}
