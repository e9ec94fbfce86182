//! `tokenaudit eval DIR`: audits a folder written by `tokenaudit generate` and scores the
//! findings against its `truth.json`: precision and recall over inflators, and how often each
//! archetype (inflators and honest look-alikes) was flagged.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{build_report, AuditError, AuditSettings};

#[derive(Debug, Deserialize)]
struct Truth {
    planted: Vec<PlantedAgent>,
}

#[derive(Debug, Deserialize)]
struct PlantedAgent {
    agent: String,
    archetype: String,
    inflator: bool,
    #[serde(default)]
    visible_to: Vec<String>,
    /// First inflated week, for inflators that began mid-period (all weeks otherwise).
    #[serde(default)]
    onset_week: Option<chrono::NaiveDate>,
}

/// How one archetype fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArchetypeScore {
    pub archetype: String,
    pub inflator: bool,
    /// The lenses that can see this archetype in principle (from the truth file).
    pub visible_to: Vec<String>,
    pub agents: usize,
    pub flagged: usize,
}

/// The score of one audit against its truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub flagged: usize,
    pub true_positives: usize,
    pub inflators: usize,
    pub precision: f64,
    pub recall: f64,
    pub archetypes: Vec<ArchetypeScore>,
    /// The severity of every finding, in report order.
    pub severities: Vec<String>,
    /// Over the flagged inflators: the share of the weeks their findings are about that were
    /// inflated (from the planted onset on), and the share of their inflated weeks with usage
    /// that the findings are about.
    pub week_precision: f64,
    pub week_recall: f64,
    /// Agents with a medium or high finding, and how many of them are planted inflators: what
    /// a gate at `--fail-on medium` would act on.
    pub serious_flagged: usize,
    pub serious_true_positives: usize,
}

/// Audits `dir` (usage.parquet or usage.csv, outputs.csv, identities.csv) and scores it.
pub fn evaluate(dir: &Path, mut settings: AuditSettings) -> Result<Evaluation, AuditError> {
    let read_err = |message: String| AuditError::Write {
        path: dir.join("truth.json"),
        source: std::io::Error::other(message),
    };
    let truth_text =
        std::fs::read_to_string(dir.join("truth.json")).map_err(|e| read_err(e.to_string()))?;
    let truth: Truth = serde_json::from_str(&truth_text).map_err(|e| read_err(e.to_string()))?;
    let usage = ["usage.parquet", "usage.csv"]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.exists())
        .unwrap_or_else(|| dir.join("usage.parquet"));
    settings.input.usage = vec![usage.display().to_string()];
    settings.input.outputs = vec![dir.join("outputs.csv").display().to_string()];
    // A folder without its identity map is audited as a user without one would be.
    let identities = dir.join("identities.csv");
    settings.input.identities = identities.exists().then_some(identities);
    let report = build_report(&settings)?;
    let flagged: BTreeSet<&str> = report.findings.iter().map(|f| f.agent.as_str()).collect();
    let mut evaluation = score(&truth.planted, &flagged);
    (evaluation.week_precision, evaluation.week_recall) = score_weeks(&truth.planted, &report);
    let serious: BTreeSet<&str> = report
        .findings
        .iter()
        .filter(|f| f.severity.name() != "low")
        .map(|f| f.agent.as_str())
        .collect();
    evaluation.serious_flagged = serious.len();
    evaluation.serious_true_positives = truth
        .planted
        .iter()
        .filter(|p| p.inflator && serious.contains(p.agent.as_str()))
        .count();
    evaluation.severities = report
        .findings
        .iter()
        .map(|f| f.severity.name().to_string())
        .collect();
    Ok(evaluation)
}

fn score(planted: &[PlantedAgent], flagged: &BTreeSet<&str>) -> Evaluation {
    let by_agent: BTreeMap<&str, &PlantedAgent> =
        planted.iter().map(|p| (p.agent.as_str(), p)).collect();
    let mut archetypes: BTreeMap<String, ArchetypeScore> = BTreeMap::new();
    for p in planted {
        let entry = archetypes
            .entry(p.archetype.clone())
            .or_insert_with(|| ArchetypeScore {
                archetype: p.archetype.clone(),
                inflator: p.inflator,
                visible_to: p.visible_to.clone(),
                agents: 0,
                flagged: 0,
            });
        entry.agents += 1;
        entry.flagged += usize::from(flagged.contains(p.agent.as_str()));
    }
    let regular_flagged = flagged
        .iter()
        .filter(|a| !by_agent.contains_key(**a))
        .count();
    if regular_flagged > 0 {
        archetypes.insert(
            "regular".into(),
            ArchetypeScore {
                archetype: "regular".into(),
                inflator: false,
                visible_to: Vec::new(),
                agents: 0,
                flagged: regular_flagged,
            },
        );
    }
    let inflators = planted.iter().filter(|p| p.inflator).count();
    let true_positives = planted
        .iter()
        .filter(|p| p.inflator && flagged.contains(p.agent.as_str()))
        .count();
    Evaluation {
        flagged: flagged.len(),
        true_positives,
        inflators,
        precision: if flagged.is_empty() {
            1.0
        } else {
            true_positives as f64 / flagged.len() as f64
        },
        recall: if inflators == 0 {
            1.0
        } else {
            true_positives as f64 / inflators as f64
        },
        archetypes: archetypes.into_values().collect(),
        severities: Vec::new(),
        week_precision: 1.0,
        week_recall: 1.0,
        serious_flagged: 0,
        serious_true_positives: 0,
    }
}

/// Week precision and recall over the flagged inflators (1 when there is nothing to score).
fn score_weeks(planted: &[PlantedAgent], report: &crate::report::AuditReport) -> (f64, f64) {
    let inflators: BTreeMap<&str, &PlantedAgent> = planted
        .iter()
        .filter(|p| p.inflator)
        .map(|p| (p.agent.as_str(), p))
        .collect();
    let (mut named, mut named_inflated, mut inflated, mut inflated_named) = (0, 0, 0, 0);
    for finding in &report.findings {
        let Some(truth) = inflators.get(finding.agent.as_str()) else {
            continue;
        };
        let is_inflated = |week: chrono::NaiveDate| truth.onset_week.is_none_or(|o| week >= o);
        let about: BTreeSet<chrono::NaiveDate> = finding
            .weeks
            .iter()
            .filter_map(|w| w.week.parse().ok())
            .collect();
        named += about.len();
        named_inflated += about.iter().filter(|w| is_inflated(**w)).count();
        for week in report
            .detail
            .weeks
            .iter()
            .filter(|w| w.agent == finding.agent && w.requests > 0 && is_inflated(w.week))
        {
            inflated += 1;
            inflated_named += usize::from(about.contains(&week.week));
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    (
        ratio(named_inflated, named),
        ratio(inflated_named, inflated),
    )
}

/// The evaluation as a table (regular agents are not planted, so only their flags are counted).
pub fn render_table(evaluation: &Evaluation, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "precision {:.2} ({}/{} flagged agents are planted inflators), recall {:.2} ({}/{} inflators flagged)\n",
        evaluation.precision,
        evaluation.true_positives,
        evaluation.flagged,
        evaluation.recall,
        evaluation.true_positives,
        evaluation.inflators
    )?;
    writeln!(
        out,
        "weeks of the flagged inflators' findings: precision {:.2} (share of the weeks named that were inflated), recall {:.2} (share of inflated weeks named)\n",
        evaluation.week_precision, evaluation.week_recall
    )?;
    writeln!(
        out,
        "{:<20} {:<10} {:>7} {:>8}",
        "ARCHETYPE", "ROLE", "AGENTS", "FLAGGED"
    )?;
    for a in &evaluation.archetypes {
        let role = if a.inflator { "inflator" } else { "honest" };
        let agents = if a.archetype == "regular" {
            "-".to_string()
        } else {
            a.agents.to_string()
        };
        writeln!(
            out,
            "{:<20} {:<10} {:>7} {:>8}",
            a.archetype, role, agents, a.flagged
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planted(agent: &str, archetype: &str, inflator: bool) -> PlantedAgent {
        PlantedAgent {
            agent: agent.into(),
            archetype: archetype.into(),
            inflator,
            visible_to: Vec::new(),
            onset_week: None,
        }
    }

    #[test]
    fn precision_and_recall_count_agents_once() {
        let truth = [
            planted("a", "loop_bot", true),
            planted("b", "constant_inflater", true),
            planted("c", "heavy_productive", false),
        ];
        let flagged: BTreeSet<&str> = ["a", "c", "zed"].into_iter().collect();
        let e = score(&truth, &flagged);
        assert_eq!((e.true_positives, e.flagged, e.inflators), (1, 3, 2));
        assert!((e.precision - 1.0 / 3.0).abs() < 1e-12);
        assert!((e.recall - 0.5).abs() < 1e-12);
        let regular = e
            .archetypes
            .iter()
            .find(|a| a.archetype == "regular")
            .unwrap();
        assert_eq!(regular.flagged, 1);
    }
}
