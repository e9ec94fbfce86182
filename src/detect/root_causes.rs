//! Where a finding's excess went: its spend broken down by model, each part's contribution to
//! the excess in dollars and percent, the largest first (AWS Cost Anomaly Detection's
//! `RootCauses[].Impact.Contribution` is the model).
//!
//! The agent's spend in the finding's weeks is split by model; what it would have spent is the
//! finding's actual spend less its excess, split by the agent's own mix of models in its other
//! weeks (or, without other weeks, by the mix of the finding's weeks). A part's contribution is
//! its actual spend less its expected spend, so the contributions add up to the excess: a move
//! to a dearer model shows as that model's contribution, more of the same model as its share.
//!
//! Sessions are another matter: one session lives in one week, so there is no mix of other
//! weeks to compare with. The excess is split over the finding's weeks' sessions in proportion
//! to their spend, the largest [`TOP_SESSIONS`] named and the rest (smaller sessions and rows
//! without a session) one remainder, [`OTHER_SESSIONS`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

pub use crate::features::behavior::TOP_SESSIONS;
pub use crate::features::{OTHER_SESSIONS, SESSION_DIMENSION};

/// One row of an agent's spend: a week, a dimension (`model`, `tool`, `repo`) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Spend<'a> {
    pub week: NaiveDate,
    pub dimension: &'a str,
    pub value: &'a str,
    pub cost_usd: f64,
}

/// One part of a finding's excess.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RootCause {
    /// What the spend is split by: `model`, `tool` or `repo`.
    pub dimension: String,
    pub value: String,
    /// The part's spend in the finding's weeks.
    pub cost_usd: f64,
    /// Its share of the excess, in dollars and in percent of the excess.
    pub contribution_usd: f64,
    pub contribution_pct: f64,
}

/// The root causes of an excess of `excess_usd` in the `weeks` (all weeks when empty) of an
/// agent whose spend is `spend`: per dimension, in the order met, largest contribution first.
/// Empty when there is no excess or no spend.
pub fn explain(spend: &[Spend], weeks: &BTreeSet<NaiveDate>, excess_usd: f64) -> Vec<RootCause> {
    let mut dimensions: Vec<&str> = Vec::new();
    for row in spend {
        if !dimensions.contains(&row.dimension) {
            dimensions.push(row.dimension);
        }
    }
    dimensions
        .into_iter()
        .flat_map(|dimension| {
            let rows: Vec<&Spend> = spend
                .iter()
                .filter(|r| r.dimension == dimension)
                .filter(|r| {
                    dimension != SESSION_DIMENSION || weeks.is_empty() || weeks.contains(&r.week)
                })
                .collect();
            let causes = decompose(dimension, &rows, weeks, excess_usd);
            if dimension == SESSION_DIMENSION {
                largest_sessions(causes)
            } else {
                causes
            }
        })
        .collect()
}

/// The [`TOP_SESSIONS`] largest session contributions, the rest added to the remainder.
fn largest_sessions(causes: Vec<RootCause>) -> Vec<RootCause> {
    let (mut named, rest): (Vec<RootCause>, Vec<RootCause>) =
        causes.into_iter().partition(|c| c.value != OTHER_SESSIONS);
    let mut other = RootCause {
        dimension: SESSION_DIMENSION.to_string(),
        value: OTHER_SESSIONS.to_string(),
        cost_usd: 0.0,
        contribution_usd: 0.0,
        contribution_pct: 0.0,
    };
    for cause in rest
        .into_iter()
        .chain(named.drain(TOP_SESSIONS.min(named.len())..))
    {
        other.cost_usd += cause.cost_usd;
        other.contribution_usd += cause.contribution_usd;
        other.contribution_pct += cause.contribution_pct;
    }
    if other.cost_usd != 0.0 || other.contribution_usd != 0.0 {
        other.cost_usd = crate::units::round_to(other.cost_usd, 2);
        other.contribution_usd = crate::units::round_to(other.contribution_usd, 2);
        other.contribution_pct = crate::units::round_to(other.contribution_pct, 1);
        named.push(other);
    }
    named
}

fn decompose(
    dimension: &str,
    spend: &[&Spend],
    weeks: &BTreeSet<NaiveDate>,
    excess_usd: f64,
) -> Vec<RootCause> {
    if excess_usd <= 0.0 {
        return Vec::new();
    }
    let mut actual: BTreeMap<&str, f64> = BTreeMap::new();
    let mut baseline: BTreeMap<&str, f64> = BTreeMap::new();
    for row in spend {
        let side = if weeks.is_empty() || weeks.contains(&row.week) {
            &mut actual
        } else {
            &mut baseline
        };
        *side.entry(row.value).or_default() += row.cost_usd;
    }
    let total: f64 = actual.values().sum();
    if total <= 0.0 {
        return Vec::new();
    }
    let expected_total = (total - excess_usd).max(0.0);
    let base_total: f64 = baseline.values().sum();
    let mix = |value: &str| {
        if base_total > 0.0 {
            baseline.get(value).copied().unwrap_or(0.0) / base_total
        } else {
            actual.get(value).copied().unwrap_or(0.0) / total
        }
    };
    let values: BTreeSet<&str> = actual.keys().chain(baseline.keys()).copied().collect();
    let raw: Vec<(&str, f64, f64)> = values
        .into_iter()
        .map(|v| {
            let cost = actual.get(v).copied().unwrap_or(0.0);
            (v, cost, cost - expected_total * mix(v))
        })
        .collect();
    // The finding's excess may be measured on another basis than these weeks' spend (a lens's
    // own expectation), and a tool or repository split may cover only part of the spend:
    // scale so that the parts add up to the excess exactly.
    let sum: f64 = raw.iter().map(|(_, _, c)| c).sum();
    let scale = if sum.abs() > 1e-9 {
        excess_usd / sum
    } else {
        0.0
    };
    let mut causes: Vec<RootCause> = raw
        .into_iter()
        .map(|(value, cost, contribution)| {
            let contribution = if scale == 0.0 {
                excess_usd * cost / total
            } else {
                contribution * scale
            };
            RootCause {
                dimension: dimension.to_string(),
                value: value.to_string(),
                cost_usd: crate::units::round_to(cost, 2),
                contribution_usd: crate::units::round_to(contribution, 2),
                contribution_pct: crate::units::round_to(100.0 * contribution / excess_usd, 1),
            }
        })
        .filter(|c| c.cost_usd != 0.0 || c.contribution_usd != 0.0)
        .collect();
    causes.sort_by(|a, b| {
        b.contribution_usd
            .total_cmp(&a.contribution_usd)
            .then_with(|| a.value.cmp(&b.value))
    });
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(week: &str, dimension: &'a str, value: &'a str, cost_usd: f64) -> Spend<'a> {
        Spend {
            week: week.parse().unwrap(),
            dimension,
            value,
            cost_usd,
        }
    }

    #[test]
    fn a_move_to_a_dearer_model_is_that_models_contribution() {
        // Two baseline weeks on sonnet ($100 a week); in the flagged week $100 of sonnet and
        // $400 of opus, with an excess of $400 against a $100 expectation.
        let spend = vec![
            row("2026-09-07", "model", "sonnet", 100.0),
            row("2026-09-14", "model", "sonnet", 100.0),
            row("2026-09-21", "model", "sonnet", 100.0),
            row("2026-09-21", "model", "opus", 400.0),
        ];
        let weeks: BTreeSet<NaiveDate> = ["2026-09-21".parse().unwrap()].into();
        let causes = explain(&spend, &weeks, 400.0);
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0].value, "opus");
        assert_eq!(causes[0].contribution_usd, 400.0);
        assert_eq!(causes[0].contribution_pct, 100.0);
        assert_eq!(causes[1].value, "sonnet");
        assert_eq!(causes[1].contribution_usd, 0.0);
    }

    #[test]
    fn more_of_the_same_mix_is_split_by_its_shares_in_each_dimension() {
        // No other weeks: the excess is split as the spend is, 3:1 by model; by tool, the one
        // tool that covers part of the spend takes all of it.
        let spend = vec![
            row("2026-09-07", "model", "opus", 300.0),
            row("2026-09-07", "model", "sonnet", 100.0),
            row("2026-09-07", "tool", "claude-code", 120.0),
        ];
        let causes = explain(&spend, &BTreeSet::new(), 200.0);
        let by = |dimension: &str| -> Vec<(String, f64)> {
            causes
                .iter()
                .filter(|c| c.dimension == dimension)
                .map(|c| (c.value.clone(), c.contribution_usd))
                .collect()
        };
        assert_eq!(
            by("model"),
            [("opus".to_string(), 150.0), ("sonnet".to_string(), 50.0)]
        );
        assert_eq!(by("tool"), [("claude-code".to_string(), 200.0)]);
        assert!(explain(&spend, &BTreeSet::new(), 0.0).is_empty());
        assert!(explain(&[], &BTreeSet::new(), 10.0).is_empty());
    }

    #[test]
    fn sessions_split_the_excess_by_their_spend_in_the_findings_weeks() {
        // Week one's session is not compared with: sessions live in one week. In week two,
        // seven sessions and a remainder: the five largest are named, the rest join it.
        let mut spend = vec![row("2026-09-07", "session", "old", 500.0)];
        let names = ["a", "b", "c", "d", "e", "f", "g"];
        for (i, name) in names.iter().enumerate() {
            spend.push(row("2026-09-14", "session", name, 100.0 - 10.0 * i as f64));
        }
        spend.push(row("2026-09-14", "session", OTHER_SESSIONS, 70.0));
        let weeks: BTreeSet<NaiveDate> = ["2026-09-14".parse().unwrap()].into();
        // Spend in week two: 100+90+...+40 = 490, plus 70: 560; an excess of 280 is half.
        let causes = explain(&spend, &weeks, 280.0);
        let split: Vec<(&str, f64)> = causes
            .iter()
            .map(|c| (c.value.as_str(), c.contribution_usd))
            .collect();
        assert_eq!(
            split,
            [
                ("a", 50.0),
                ("b", 45.0),
                ("c", 40.0),
                ("d", 35.0),
                ("e", 30.0),
                (OTHER_SESSIONS, 80.0)
            ]
        );
        let total: f64 = causes.iter().map(|c| c.contribution_usd).sum();
        assert!((total - 280.0).abs() < 1e-9);
        assert_eq!(causes[5].cost_usd, 160.0);
    }
}
