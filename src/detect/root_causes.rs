//! Where a finding's excess went: its spend broken down by model, each part's contribution to
//! the excess in dollars and percent, the largest first (AWS Cost Anomaly Detection's
//! `RootCauses[].Impact.Contribution` is the model).
//!
//! The agent's spend in the finding's weeks is split by model; what it would have spent is the
//! finding's actual spend less its excess, split by the agent's own mix of models in its other
//! weeks (or, without other weeks, by the mix of the finding's weeks). A part's contribution is
//! its actual spend less its expected spend, so the contributions add up to the excess: a move
//! to a dearer model shows as that model's contribution, more of the same model as its share.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::features::PricedDay;
use crate::normalize::calendar::{from_day_number, WeekStart};

/// One part of a finding's excess.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RootCause {
    /// What the spend is split by: `model`.
    pub dimension: &'static str,
    pub value: String,
    /// The part's spend in the finding's weeks.
    pub cost_usd: f64,
    /// Its share of the excess, in dollars and in percent of the excess.
    pub contribution_usd: f64,
    pub contribution_pct: f64,
}

/// The root causes of an excess of `excess_usd` in `agent`'s `weeks` (all its weeks when
/// empty), largest contribution first; empty when there is no excess or no spend.
pub fn by_model(
    priced: &[PricedDay],
    week_start: WeekStart,
    agent: &str,
    weeks: &BTreeSet<NaiveDate>,
    excess_usd: f64,
) -> Vec<RootCause> {
    if excess_usd <= 0.0 {
        return Vec::new();
    }
    let mut actual: BTreeMap<&str, f64> = BTreeMap::new();
    let mut baseline: BTreeMap<&str, f64> = BTreeMap::new();
    for day in priced.iter().filter(|d| d.usage.agent == agent) {
        let week = from_day_number(week_start.week_of_day(day.usage.day));
        let cost = day.cost_micro as f64 / 1e6;
        let side = if weeks.is_empty() || weeks.contains(&week) {
            &mut actual
        } else {
            &mut baseline
        };
        *side.entry(day.usage.model.as_str()).or_default() += cost;
    }
    let total: f64 = actual.values().sum();
    if total <= 0.0 {
        return Vec::new();
    }
    let expected_total = (total - excess_usd).max(0.0);
    let base_total: f64 = baseline.values().sum();
    let mix = |model: &str| {
        if base_total > 0.0 {
            baseline.get(model).copied().unwrap_or(0.0) / base_total
        } else {
            actual.get(model).copied().unwrap_or(0.0) / total
        }
    };
    let models: BTreeSet<&str> = actual.keys().chain(baseline.keys()).copied().collect();
    let raw: Vec<(&str, f64, f64)> = models
        .into_iter()
        .map(|m| {
            let cost = actual.get(m).copied().unwrap_or(0.0);
            (m, cost, cost - expected_total * mix(m))
        })
        .collect();
    // The finding's excess may be measured on another basis than these weeks' spend (a lens's
    // own expectation): scale so that the parts add up to it exactly.
    let sum: f64 = raw.iter().map(|(_, _, c)| c).sum();
    let scale = if sum.abs() > 1e-9 {
        excess_usd / sum
    } else {
        0.0
    };
    let mut causes: Vec<RootCause> = raw
        .into_iter()
        .map(|(model, cost, contribution)| {
            let contribution = if scale == 0.0 {
                excess_usd * cost / total
            } else {
                contribution * scale
            };
            RootCause {
                dimension: "model",
                value: model.to_string(),
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
    use crate::features::DayUsage;
    use crate::normalize::calendar::to_day_number;
    use crate::normalize::identities::AgentKind;
    use crate::normalize::pricing::Tokens;

    fn day(date: &str, model: &str, cost_usd: f64) -> PricedDay {
        PricedDay {
            usage: DayUsage {
                agent: "a".into(),
                team: None,
                kind: AgentKind::Human,
                day: to_day_number(date.parse().unwrap()),
                model: model.into(),
                tier: "estimated".into(),
                tokens: Tokens::default(),
                unbilled: Tokens::default(),
                billed_micro: 0,
                requests: 1,
                trivial: Tokens::default(),
                trivial_requests: 0,
            },
            cost_micro: (cost_usd * 1e6) as i64,
            unpriced: None,
            list_micro: None,
            provider: None,
            trivial_micro: 0,
        }
    }

    #[test]
    fn a_move_to_a_dearer_model_is_that_models_contribution() {
        // Two baseline weeks on sonnet ($100 a week); in the flagged week $100 of sonnet and
        // $400 of opus, with an excess of $400 against a $100 expectation.
        let priced = vec![
            day("2026-09-07", "sonnet", 100.0),
            day("2026-09-14", "sonnet", 100.0),
            day("2026-09-21", "sonnet", 100.0),
            day("2026-09-22", "opus", 400.0),
        ];
        let weeks: BTreeSet<NaiveDate> = ["2026-09-21".parse().unwrap()].into();
        let causes = by_model(&priced, WeekStart::Monday, "a", &weeks, 400.0);
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0].value, "opus");
        assert_eq!(causes[0].contribution_usd, 400.0);
        assert_eq!(causes[0].contribution_pct, 100.0);
        assert_eq!(causes[1].value, "sonnet");
        assert_eq!(causes[1].contribution_usd, 0.0);
        let sum: f64 = causes.iter().map(|c| c.contribution_usd).sum();
        assert!((sum - 400.0).abs() < 0.01);
    }

    #[test]
    fn more_of_the_same_mix_is_split_by_its_shares() {
        // No other weeks: the excess is split as the spend is, 3:1.
        let priced = vec![
            day("2026-09-07", "opus", 300.0),
            day("2026-09-08", "sonnet", 100.0),
        ];
        let causes = by_model(&priced, WeekStart::Monday, "a", &BTreeSet::new(), 200.0);
        assert_eq!(causes[0].value, "opus");
        assert_eq!(causes[0].contribution_usd, 150.0);
        assert_eq!(causes[1].contribution_usd, 50.0);
        assert_eq!(causes[1].contribution_pct, 25.0);
        assert!(by_model(&priced, WeekStart::Monday, "a", &BTreeSet::new(), 0.0).is_empty());
        assert!(by_model(&priced, WeekStart::Monday, "b", &BTreeSet::new(), 10.0).is_empty());
    }
}
