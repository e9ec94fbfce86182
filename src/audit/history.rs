//! `--history` and `--weeks` in an audit: which weeks come from the store, the findings'
//! states against the last stored run, and the store's write once the report is out.

use std::collections::BTreeSet;

use super::{AuditError, AuditSettings};
use crate::features::{Snapshot, Stats};
use crate::history::{Combined, Coverage, History, StoreSettings, StoredFinding};
use crate::normalize::calendar::{from_day_number, to_day_number, Calendar, WeekStart};
use crate::report::{AuditReport, FindingState, HistoryEntry, ResolvedEntry};

impl From<crate::history::HistoryError> for AuditError {
    fn from(e: crate::history::HistoryError) -> Self {
        AuditError::History(e)
    }
}

/// The store opened for this run, and what the run will write to it.
pub struct Run {
    store: History,
    week_start: WeekStart,
    combined: Combined,
    previous: Vec<StoredFinding>,
    keep_weeks: usize,
}

/// Opens the store `settings` names, if any.
pub fn open(
    settings: &AuditSettings,
    snapshot: Option<Snapshot>,
) -> Result<Option<History>, AuditError> {
    let Some(history) = &settings.history else {
        return Ok(None);
    };
    let parameters = crate::contract::Parameters::of(&settings.input.calendar, snapshot);
    let store_settings = StoreSettings {
        tz: parameters.tz,
        week_start: parameters.week_start,
        snapshot: parameters.snapshot,
    };
    Ok(Some(History::open(&history.dir, store_settings)?))
}

/// The weeks a run audits: with a store, its weeks and the input's, each from one source;
/// without, the input's. `--weeks` keeps the latest.
pub fn combine(
    settings: &AuditSettings,
    store: Option<History>,
    input: Stats,
) -> Result<(Stats, Option<Run>), AuditError> {
    let calendar = &settings.input.calendar;
    let week_start = calendar.week_start;
    let Some(store) = store else {
        let Some(n) = settings.weeks else {
            return Ok((input, None));
        };
        let weeks = input.weeks(week_start);
        let first = weeks.iter().rev().nth(n - 1).copied().unwrap_or(i32::MIN);
        let (kept, _) = input.partition(week_start, |w| w >= first);
        return Ok((kept, None));
    };
    let window = settings
        .weeks
        .unwrap_or(super::settings::DEFAULT_HISTORY_WEEKS);
    let coverage = coverage(calendar, &input);
    let mut combined = store.combine(input, week_start, coverage, Some(window))?;
    let previous = store.previous_findings()?;
    let stats = std::mem::take(&mut combined.stats);
    let keep_weeks = settings.history.as_ref().map_or(1, |h| h.keep_weeks);
    Ok((
        stats,
        Some(Run {
            store,
            week_start,
            combined,
            previous,
            keep_weeks,
        }),
    ))
}

/// What the input covers: the period `--since`/`--until` declare, else its days with usage.
fn coverage(calendar: &Calendar, input: &Stats) -> Coverage {
    Coverage {
        since: calendar.since.map(to_day_number),
        until: calendar.until.map(to_day_number),
        days: input.days.iter().map(|d| d.day).collect(),
        today: to_day_number(chrono::Utc::now().with_timezone(&calendar.tz).date_naive()),
    }
}

fn names(weeks: &BTreeSet<i32>) -> Vec<String> {
    weeks
        .iter()
        .map(|w| from_day_number(*w).to_string())
        .collect()
}

impl Run {
    /// Marks each finding new or ongoing and lists what stopped.
    pub fn annotate(&self, report: &mut AuditReport) {
        let previous: std::collections::BTreeMap<&str, crate::detect::Severity> = self
            .previous
            .iter()
            .map(|f| (f.id.as_str(), f.severity))
            .collect();
        let current: BTreeSet<String> = report.findings.iter().map(|f| f.id.clone()).collect();
        for finding in &mut report.findings {
            finding.previous_severity = previous.get(finding.id.as_str()).copied();
            finding.state = Some(if finding.previous_severity.is_some() {
                FindingState::Ongoing
            } else {
                FindingState::New
            });
        }
        let stored = self.combined.to_store.weeks(self.week_start);
        report.history = Some(HistoryEntry {
            run: self.store.next_run(),
            previous_run: self.store.last_run().map(|r| r.run),
            weeks_from_history: names(&self.combined.from_history),
            weeks_stored: names(&stored),
            weeks_partial: names(&self.combined.partial),
            weeks_superseded: names(&self.combined.superseded),
            resolved: self
                .previous
                .iter()
                .filter(|f| !current.contains(&f.id))
                .map(|f| ResolvedEntry {
                    id: f.id.clone(),
                    agent: f.agent.clone(),
                    team: f.team.clone(),
                    detector: f.detector.clone(),
                    severity: f.severity,
                    excess_cost_usd: f.excess_cost_usd,
                })
                .collect(),
        });
    }

    /// What the store keeps of the report: its findings and audited weeks, read before any
    /// pseudonymisation so that the store always names agents as the logs do.
    pub fn pending(self, report: &AuditReport) -> Pending {
        let findings = report
            .findings
            .iter()
            .map(|f| StoredFinding {
                id: f.id.clone(),
                agent: f.agent.clone(),
                team: f.team.clone(),
                detector: f.detector.to_string(),
                severity: f.severity,
                week: f.week.clone(),
                excess_cost_usd: f.excess_cost_usd,
            })
            .collect();
        let audited = report
            .detail
            .weeks
            .iter()
            .map(|w| to_day_number(w.week))
            .collect();
        Pending {
            run: self,
            findings,
            audited,
        }
    }
}

/// A run's write to the store, made once its report is out.
pub struct Pending {
    run: Run,
    findings: Vec<StoredFinding>,
    audited: BTreeSet<i32>,
}

impl Pending {
    /// Stores the run's whole weeks and findings. Returns the run's number.
    pub fn commit(self) -> Result<u64, AuditError> {
        let run = self.run;
        Ok(run.store.write(
            &run.combined.to_store,
            run.week_start,
            &self.audited,
            &self.findings,
            run.keep_weeks,
        )?)
    }
}
