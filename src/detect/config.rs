//! The detection engine's settings (`[detect]` in `tokenaudit.toml`) and severity tiers.

use serde::{Deserialize, Serialize};

use super::codes::LENS_NAMES;
use crate::features::Snapshot;

/// Thresholds of the detection engine; every one is settable in `tokenaudit.toml` `[detect]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Benjamini–Hochberg level: a finding needs q ≤ this. 0.10 reports "alerts" (low
    /// severity) as the funnel-plot literature does; medium and high need q ≤ 0.01.
    pub fdr_q: f64,
    /// q at or below which a finding is at least `medium`.
    pub medium_q: f64,
    /// q at or below which a finding with a large excess factor is `high`.
    pub high_q: f64,
    /// Excess factor (actual ÷ expected spend) a `high` finding also needs.
    pub high_excess_factor: f64,
    /// Dollars at stake below which nothing is reported, however unusual.
    pub materiality_usd: f64,
    /// Minimum weeks with usage for an agent to be judged.
    pub min_weeks: u32,
    /// Minimum requests over the period.
    pub min_requests: u64,
    /// Minimum distinct active days over the period.
    pub min_active_days: u32,
    /// Minimum judged agents in a team cohort; smaller teams are pooled with their kind.
    pub min_cohort_agents: usize,
    /// Share of two teams' output delivered to the same repositories from which the peer
    /// comparison treats them as one area (one cohort; see `detect/areas.rs`). Above 1, every
    /// team is its own.
    pub area_overlap: f64,
    /// Upper bound on pairwise slopes per Theil–Sen fit (a seeded sample beyond it).
    pub max_pairs: usize,
    /// Weeks with usage the change lens needs to compare an agent with its own history.
    pub min_change_weeks: u32,
    /// When the usage leaderboard takes its weekly snapshot: weekday and UTC time.
    pub snapshot: String,
    /// Hours before the snapshot that count as the pre-snapshot window.
    pub snapshot_window_hours: u32,
    /// The lenses to run. Leaving out `behavior` also skips computing its request-level
    /// features, which saves a third of the second streaming pass.
    pub lenses: Vec<String>,
}

impl DetectConfig {
    /// The snapshot setting, parsed; `None` when it is not "weekday HH:MM".
    pub fn snapshot(&self) -> Option<Snapshot> {
        Snapshot::parse(&self.snapshot, self.snapshot_window_hours)
    }

    pub fn runs(&self, lens: &str) -> bool {
        self.lenses.iter().any(|l| l == lens)
    }
}

impl DetectConfig {
    /// A setting that cannot work, as a message naming it.
    pub fn check(&self) -> Result<(), String> {
        if self.snapshot().is_none() {
            return Err(format!(
                "[detect] snapshot = \"{}\" with snapshot_window_hours = {}: expected a weekday and a UTC time such as \"fri 17:00\", and a window of at least one hour",
                self.snapshot, self.snapshot_window_hours
            ));
        }
        if !(self.area_overlap.is_finite() && self.area_overlap > 0.0) {
            return Err(format!(
                "[detect] area_overlap = {}: expected a share above 0 (0.5 by default; above 1, every team is its own area)",
                self.area_overlap
            ));
        }
        if let Some(unknown) = self
            .lenses
            .iter()
            .find(|l| !LENS_NAMES.contains(&l.as_str()))
        {
            return Err(format!(
                "[detect] lenses names `{unknown}`; the lenses are {}",
                LENS_NAMES.join(", ")
            ));
        }
        Ok(())
    }
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            fdr_q: 0.10,
            medium_q: 0.01,
            high_q: 0.001,
            high_excess_factor: 3.0,
            materiality_usd: 250.0,
            min_weeks: 2,
            min_requests: 50,
            min_active_days: 3,
            min_cohort_agents: 6,
            area_overlap: 0.5,
            max_pairs: 2_000_000,
            min_change_weeks: 4,
            snapshot: "fri 17:00".to_string(),
            snapshot_window_hours: 12,
            lenses: LENS_NAMES.iter().map(|n| n.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }
}
